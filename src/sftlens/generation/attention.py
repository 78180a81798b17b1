"""Decode attention as two batched matmuls (grouped-query without ``repeat_kv``), for the engine.

HF's ``sdpa`` attention in transformers 5.17 copies every
key/value head ``num_key_value_groups`` times when a padding mask is present
(``repeat_kv``): for a Llama-3-8B decode step that copy and the 4x larger attention cost
more GPU time than the matmuls (measured with ``bench/profile_gpu.py``).  Newer releases
(5.24 here) pack GQA for one-token decode themselves; there this module changes nothing
but the name of the function that does the same work.  For one query token the copy is
not needed: the query's heads are regrouped as (kv heads, group) and each kv head is
attended once, the group acting as query rows, by two batched matmuls
(``DECODE_KERNEL``; ``"sdpa"`` uses SDPA instead).  Models without grouped heads take the
same matmuls under ``"matmul"`` on CUDA (group of one): for fp32 SDPA picks its
memory-efficient kernel there, whose query tiles are nearly empty for one decode row (on an
H200 it took two thirds of a 97.5M model's decode time; docs/benchmarks/restore_sweep.md).
On CPU they keep SDPA.  Prefill and training use HF's ``sdpa`` unchanged.

``gqa_decode_attention(model)`` switches a model that uses ``sdpa`` to this function
for the duration of a ``with`` block (other implementations are left alone).  Its
mask builder never asks the GPU whether the mask could be skipped
(:func:`mask_without_sync`), so decode steps queue up without a sync each.

Example::

    with gqa_decode_attention(model):
        logits = model(input_ids=ids, attention_mask=mask, past_key_values=cache).logits
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

NAME = "sftlens_sdpa"
# How one decode token attends: "matmul" (two batched matmuls, :func:`matmul_attention`),
# "sdpa" (``F.scaled_dot_product_attention``: on an H100 it picks cuDNN's flash kernel,
# whose 64+-row query tiles are mostly empty for the 4 rows of a GQA group) or
# "sdpa-efficient" (SDPA's memory-efficient kernel, CUDA only; elsewhere plain "sdpa").
DECODE_KERNEL = "matmul"


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
    packable = q_len == 1 and plain and mask_ok and value.shape[-1] == dim
    if not packable or not packs_heads(groups, query.is_cuda):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout, scaling, is_causal, **kwargs
        )
    packed = query.reshape(b, heads // groups, groups, dim)  # (B, KVH, G, D): G acts as Q
    if DECODE_KERNEL == "matmul" and dropout == 0.0:
        out = matmul_attention(packed, key, value, attention_mask, scaling)
    elif DECODE_KERNEL == "sdpa-efficient" and query.is_cuda:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]):
            out = F.scaled_dot_product_attention(
                packed, key, value, attn_mask=attention_mask, scale=scaling
            )
    else:
        out = F.scaled_dot_product_attention(
            packed, key, value, attn_mask=attention_mask, scale=scaling
        )
    return out.reshape(b, 1, heads, dim), None  # (B, KVH, G, D) → (B, 1, H, D)


def packs_heads(groups: int, on_cuda: bool) -> bool:
    """Whether a one-token decode step skips HF's sdpa: always for grouped heads; without
    grouped heads only under the ``"matmul"`` kernel on CUDA, where SDPA's kernel for one
    query row is slow (on CPU SDPA stays, and with it the numerics of CPU runs)."""
    return groups > 1 or (DECODE_KERNEL == "matmul" and on_cuda)


def matmul_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    scaling: float | None,
) -> torch.Tensor:
    """Attention of a few query rows per kv head as two batched matmuls (HF "eager" numerics).

    Scores are computed in the model's dtype, softmax in (at least) float32, as HF's eager
    attention does.  Memory-bound on reading the keys and values once.
    Shapes: query (B, KVH, G, D); key, value (B, KVH, L, D); mask broadcastable to
    (B, KVH, G, L), bool (True = attend) or additive.  Returns (B, KVH, G, D).
    """
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    scores = torch.matmul(query, key.transpose(-1, -2))  # (B, KVH, G, L)
    scores = scores.to(torch.promote_types(scores.dtype, torch.float32)) * scale
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    probs = torch.softmax(scores, dim=-1).to(value.dtype)  # (B, KVH, G, L)
    return torch.matmul(probs, value)  # (B, KVH, G, D)


def mask_without_sync(sdpa_mask: Callable[..., Any]) -> Callable[..., Any]:
    """HF's ``sdpa_mask`` that always builds the mask instead of testing whether it may skip it.

    The test (``_ignore_causal_mask_sdpa``) calls ``padding_mask.all()`` on every
    forward pass with one query token: a host-device sync per decode step.  A
    (rows, 1, 1, L) boolean mask costs next to nothing to build.  Measured at 8B
    shape on an H100 the sync cost nothing visible (807 vs 803 completions/s: the
    host stays ahead of the GPU there); it matters where the host is the bottleneck.
    """
    if "allow_is_causal_skip" not in inspect.signature(sdpa_mask).parameters:
        return sdpa_mask

    def build(*args: Any, **kwargs: Any) -> Any:
        kwargs["allow_is_causal_skip"] = False
        return sdpa_mask(*args, **kwargs)

    return build


def _register() -> None:
    """Add ``NAME`` to HF's attention and mask registries (once; ``sdpa``'s mask, never skipped)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    if NAME not in AttentionInterface():
        AttentionInterface.register(NAME, gqa_sdpa)
        ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, mask_without_sync(sdpa_mask))


def _implementations(config: Any) -> dict[str, Any]:
    """The attention implementation of ``config`` ("") and of each of its sub-configs."""
    found = {"": getattr(config, "_attn_implementation", None)}
    for key in getattr(config, "sub_configs", None) or {}:
        sub = getattr(config, key, None)
        if sub is not None:
            found[key] = getattr(sub, "_attn_implementation", None)
    return found


def _set(config: Any, impls: dict[str, Any]) -> None:
    """Set the implementations exactly (a plain string when there are no sub-configs)."""
    config._attn_implementation = impls[""] if len(impls) == 1 else dict(impls)
    for key, value in impls.items():  # setters of some versions overwrite sub-configs: re-pin
        if key:
            getattr(config, key)._attn_implementation = value


@contextlib.contextmanager
def _decode_settings(kernel: str, mask_sync: bool) -> Iterator[None]:
    """``DECODE_KERNEL`` and the mask builder of ``NAME`` for one block (restored after)."""
    global DECODE_KERNEL
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    saved = DECODE_KERNEL, ALL_MASK_ATTENTION_FUNCTIONS[NAME]
    DECODE_KERNEL = kernel
    if mask_sync:
        ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)
    try:
        yield
    finally:
        DECODE_KERNEL = saved[0]
        ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, saved[1])


@contextlib.contextmanager
def gqa_decode_attention(
    model: Any, kernel: str | None = None, mask_sync: bool = False
) -> Iterator[None]:
    """Use :func:`gqa_sdpa` inside the block where ``model`` (or a sub-model) runs plain ``sdpa``.

    ``kernel`` (``GenerationConfig.decode_kernel``; default: ``DECODE_KERNEL``) picks how a
    decode token attends; ``mask_sync`` uses HF's mask builder (a sync per decode step).

    Only models that dispatch attention through HF's registry are switched
    (``_supports_attention_backend``); others (e.g. Falcon) test for the literal name
    ``"sdpa"`` and would take a wrong branch.  Every (sub-)config's implementation is
    restored exactly, also when the block raises.
    """
    config = getattr(model, "config", None)
    before = _implementations(config) if config is not None else {}
    switch = {k: NAME if v == "sdpa" else v for k, v in before.items()}
    if switch == before or not getattr(model, "_supports_attention_backend", False):
        yield
        return
    try:
        _register()
    except ImportError:  # transformers without attention registries: stay on sdpa
        yield
        return
    _set(config, switch)
    try:
        with _decode_settings(kernel or DECODE_KERNEL, mask_sync):
            yield
    finally:
        _set(config, before)
