"""Teacher-forced forward passes of the token-level analysis (tensor code, no I/O).

A batch is laid out so that every prompt ends in the same column: prompts left-padded, answers
right-padded after them, position ids restarting after the padding.  One forward pass then
gives the logits that predict each answer token.

Example::

    batch = encode(tok, ["Alice was born in"], ["Paris"])
    logits = answer_logits(model, batch.ids, batch.mask, batch.prompt_len)   # [1, A, V]
    logp = answer_logprob(logits, batch.answer, batch.answer_mask)          # [1]
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from sftlens.errors import SftlensError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class Encoded:
    """Prompts followed by their answers: ``ids, mask [B, P+A]``, ``answer, answer_mask [B, A]``;
    every prompt ends at column ``prompt_len - 1``."""

    ids: torch.Tensor
    mask: torch.Tensor
    answer: torch.Tensor
    answer_mask: torch.Tensor
    prompt_len: int


def encode(tok: PreTrainedTokenizerBase, prompts: Sequence[str], answers: Sequence[str]) -> Encoded:
    """Tokenise prompts (with the tokenizer's special tokens) and answers ``" " + answer`` (without),
    exactly as fine-tuning builds its targets, into one left/right-padded batch."""
    p_ids = tok(list(prompts), add_special_tokens=True)["input_ids"]
    a_ids = tok([" " + a for a in answers], add_special_tokens=False)["input_ids"]
    if any(not a for a in a_ids):
        raise SftlensError("an answer tokenizes to no tokens")
    P, A = max(map(len, p_ids)), max(map(len, a_ids))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    ids = torch.full((len(prompts), P + A), pad, dtype=torch.long)  # [B, P+A]
    mask = torch.zeros_like(ids)  # [B, P+A]
    ans = torch.full((len(prompts), A), pad, dtype=torch.long)  # [B, A]
    for b, (p, a) in enumerate(zip(p_ids, a_ids, strict=True)):
        ids[b, P - len(p) : P] = torch.tensor(p)
        ids[b, P : P + len(a)] = torch.tensor(a)
        mask[b, P - len(p) : P + len(a)] = 1
        ans[b, : len(a)] = torch.tensor(a)
    return Encoded(ids, mask, ans, mask[:, P:], P)


def _keep_kwargs(model: PreTrainedModel, n: int) -> dict[str, int]:
    """Ask the model for the last ``n`` positions' logits only, when it supports that."""
    params = inspect.signature(model.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            return {name: n}
    return {}


@torch.inference_mode()
def answer_logits(
    model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor, P: int
) -> torch.Tensor:
    """Logits at the positions that predict the answer tokens: ``[B, P+A] -> [B, A, V]``."""
    device = next(model.parameters()).device
    ids, mask = ids.to(device), mask.to(device)
    pos = (mask.cumsum(-1) - 1).clamp_min(0)  # [B, T]: positions restart after left padding
    A = ids.shape[1] - P
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=pos,
        use_cache=False,
        **_keep_kwargs(model, A + 1),
    )
    logits = out.logits  # [B, A+1, V] or [B, T, V]
    return logits[:, logits.shape[1] - (A + 1) : logits.shape[1] - 1, :]  # [B, A, V]


def answer_logprob(logits: torch.Tensor, ans: torch.Tensor, ans_mask: torch.Tensor) -> torch.Tensor:
    """Teacher-forced log-probability of each answer: ``[B, A, V], [B, A], [B, A] -> [B]``."""
    logits = logits.float()
    ans, ans_mask = ans.to(logits.device), ans_mask.to(logits.device)
    token = logits.gather(-1, ans.unsqueeze(-1)).squeeze(-1)  # [B, A]
    lp = token - torch.logsumexp(logits, dim=-1)  # [B, A]
    return (lp * ans_mask).sum(-1)  # [B]
