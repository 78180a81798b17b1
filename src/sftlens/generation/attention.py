"""Grouped-query decode attention without ``repeat_kv``, for the generation engine.

HF's ``sdpa`` attention (before transformers 5.2x) copies every key/value head
``num_key_value_groups`` times when a padding mask is present (``repeat_kv``): for a
Llama-3-8B decode step that copy and the 4x larger attention cost more GPU time than
the matmuls (measured with ``bench/profile_gpu.py``).  For one query token the copy is
not needed: the query's heads are regrouped as (kv heads, group) and SDPA attends each
kv head once, the group acting as query rows.  Prefill and training use HF's
``sdpa`` unchanged.

``gqa_decode_attention(model)`` switches a model that uses ``sdpa`` to this function
for the duration of a ``with`` block (other implementations are left alone).

Example::

    with gqa_decode_attention(model):
        logits = model(input_ids=ids, attention_mask=mask, past_key_values=cache).logits
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

NAME = "sftlens_sdpa"


def gqa_sdpa(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """HF attention-interface function: packed GQA for one query token, else HF's sdpa.

    Shapes: query (B, H, Q, D); key, value (B, KVH, L, D); mask (B, 1, Q, L) or None.
    Returns (B, Q, H, D).
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = int(getattr(module, "num_key_value_groups", 1))
    b, heads, q_len, dim = query.shape
    plain = kwargs.get("position_bias") is None and kwargs.get("softcap") is None
    mask_ok = attention_mask is None or attention_mask.shape[1] == 1
    if q_len != 1 or groups == 1 or not plain or not mask_ok or value.shape[-1] != dim:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout, scaling, is_causal, **kwargs
        )
    packed = query.reshape(b, heads // groups, groups, dim)  # (B, KVH, G, D): G acts as Q
    out = F.scaled_dot_product_attention(
        packed, key, value, attn_mask=attention_mask, scale=scaling
    )
    return out.reshape(b, 1, heads, dim), None  # (B, KVH, G, D) → (B, 1, H, D)


def _register() -> None:
    """Add ``NAME`` to HF's attention and mask registries (once; ``sdpa``'s mask)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    if NAME not in AttentionInterface():
        AttentionInterface.register(NAME, gqa_sdpa)
        ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)


@contextlib.contextmanager
def gqa_decode_attention(model: Any) -> Iterator[None]:
    """Use :func:`gqa_sdpa` in ``model`` inside the block when it runs plain ``sdpa``."""
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa":
        yield
        return
    try:
        _register()
    except ImportError:  # transformers without attention registries: stay on sdpa
        yield
        return
    config._attn_implementation = NAME  # type: ignore[union-attr]
    try:
        yield
    finally:
        config._attn_implementation = "sdpa"  # type: ignore[union-attr]
