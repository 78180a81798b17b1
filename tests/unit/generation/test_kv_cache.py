"""The preallocated KV cache gives the same logits as HF's DynamicCache, step by step."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from sftlens.generation.kv_cache import new_cache, preallocated_layer


def _run(model: Any, tok: Any, cache: Any, steps: int) -> list[torch.Tensor]:
    """Prefill two left-padded prompts, repeat rows 3x, decode ``steps``, dropping a row midway."""
    enc = tok(["Alice was born in", "x"], return_tensors="pt", padding=True, padding_side="left")
    mask, ids = enc["attention_mask"], enc["input_ids"]
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    outs = []
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos,
                       past_key_values=cache, use_cache=True).logits[:, -1]  # fmt: skip
        cache.batch_repeat_interleave(3)
        logits, mask = logits.repeat_interleave(3, 0), mask.repeat_interleave(3, 0)
        nxt_pos = pos[:, -1:].repeat_interleave(3, 0) + 1  # (6, 1)
        for t in range(steps):
            outs.append(logits)
            nxt = (logits + torch.arange(logits.shape[0])[:, None]).argmax(-1, keepdim=True)
            if t == 2:  # a finished row leaves the batch
                keep = torch.tensor([0, 1, 3, 4, 5])
                cache.batch_select_indices(keep)
                nxt, mask, nxt_pos = nxt[keep], mask[keep], nxt_pos[keep]
            mask = torch.cat([mask, torch.ones_like(nxt)], dim=1)
            logits = model(input_ids=nxt, attention_mask=mask, position_ids=nxt_pos,
                           past_key_values=cache, use_cache=True).logits[:, -1]  # fmt: skip
            nxt_pos = nxt_pos + 1
    return outs


def test_preallocated_cache_equals_dynamic_cache(model_tok: tuple[Any, Any]) -> None:
    from transformers import DynamicCache

    model, tok = model_tok
    want = _run(model, tok, DynamicCache(config=model.config), steps=6)
    width = tok(["Alice was born in"], return_tensors="pt")["input_ids"].shape[1]
    cache = new_cache(model, capacity=width + 6)
    assert all(type(layer).__name__ == "PreallocatedLayer" for layer in cache.layers)
    got = _run(model, tok, cache, steps=6)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)
    assert cache.get_seq_length() == width + 6


def test_too_small_capacity_grows_and_stays_exact(model_tok: tuple[Any, Any]) -> None:
    from transformers import DynamicCache

    model, tok = model_tok
    want = _run(model, tok, DynamicCache(config=model.config), steps=5)
    got = _run(model, tok, new_cache(model, capacity=2), steps=5)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


def test_layer_writes_in_place_and_exposes_views() -> None:
    layer = preallocated_layer(capacity=5)
    k = torch.arange(2 * 1 * 3 * 2, dtype=torch.float32).reshape(2, 1, 3, 2)  # (B, H, 3, D)
    keys, _ = layer.update(k, k + 100)
    buffer = layer._k
    assert keys.shape == (2, 1, 3, 2) and layer.get_seq_length() == 3
    keys, values = layer.update(k[:, :, :1] * -1, k[:, :, :1])
    assert layer._k is buffer  # no reallocation within capacity
    assert keys.shape == (2, 1, 4, 2) and keys.data_ptr() == buffer.data_ptr()
    torch.testing.assert_close(keys[:, :, 3], -k[:, :, 0])
    torch.testing.assert_close(values[:, :, :3], k + 100)
    layer.crop(-2)
    assert layer.get_seq_length() == 2 and layer.keys.shape[2] == 2


def test_sliding_layer_stays_inside_its_window() -> None:
    layer = preallocated_layer(capacity=3, sliding_window=5)
    assert layer.is_sliding and layer.sliding_window == 5
    k = torch.zeros(1, 1, 3, 2)  # (B, H, 3, D)
    layer.update(k, k)
    layer.update(k[:, :, :1], k[:, :, :1])  # 4 tokens: grows, still inside the window
    assert layer.get_seq_length() == 4
    with pytest.raises(RuntimeError, match="cannot hold 5 tokens"):
        layer.update(k[:, :, :1], k[:, :, :1])
    with pytest.raises(ValueError, match="does not fit a window of 5"):
        preallocated_layer(capacity=5, sliding_window=5)
