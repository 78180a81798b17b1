"""Divergences between two next-token distributions (pure tensor math, no I/O).

All functions take raw logits of shape ``[B, V]`` (one row per fact) and return ``[B]``;
they compute in float32 (or the input's precision if higher).

Example::

    kl = topk_kl(tuned_logits, base_logits, k=10)   # the paper's measure
    fwd = full_kl(tuned_logits, base_logits)        # KL(tuned || base) over the vocabulary
"""

from __future__ import annotations

import torch


def _float(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def kl_from_logits(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(p) || softmax(q)) along the last dim: ``[B, N], [B, N] -> [B]``."""
    log_p = torch.log_softmax(_float(p_logits), dim=-1)  # [B, N]
    log_q = torch.log_softmax(_float(q_logits), dim=-1)  # [B, N]
    kl = (log_p.exp() * (log_p - log_q)).sum(dim=-1)  # [B]
    return kl.clamp_min(0.0)  # rounding can give -1e-9


def topk_kl(tuned: torch.Tensor, base: torch.Tensor, k: int = 10) -> torch.Tensor:
    """The paper's KL: over the tuned model's top-``k`` token ids, each side renormalised.

    Takes the tuned model's ``k`` largest logits and the base model's logits at the same
    token ids, applies softmax to each set of ``k``, and returns KL(tuned || base).
    ``[B, V], [B, V] -> [B]``.
    """
    idx = tuned.topk(k, dim=-1).indices  # [B, k]
    return kl_from_logits(tuned.gather(-1, idx), base.gather(-1, idx))


def full_kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """KL(p || q) over the full vocabulary, ``[B, V], [B, V] -> [B]``."""
    return kl_from_logits(p_logits, q_logits)


def rank_of(logits: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    """1-based rank of ``token[b]`` in ``logits[b]`` (1 = the top token; ties rank high).

    ``[B, V], [B] -> [B]`` (int64).
    """
    value = logits.gather(-1, token.unsqueeze(-1))  # [B, 1]
    return (logits > value).sum(dim=-1) + 1  # [B]
