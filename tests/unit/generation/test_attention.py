"""The packed-GQA decode attention equals HF's sdpa and is switched on only inside its block."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from sftlens.generation import attention
from sftlens.generation.attention import NAME, gqa_decode_attention, gqa_sdpa


def _decode_logits(model: Any, tok: Any) -> torch.Tensor:
    """Logits of one decode step for two left-padded prompts (so a padding mask is present)."""
    from transformers import DynamicCache

    enc = tok(["Alice was born in", "x"], return_tensors="pt", padding=True, padding_side="left")
    mask = enc["attention_mask"]
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    with torch.inference_mode():
        out = model(input_ids=enc["input_ids"], attention_mask=mask, position_ids=pos,
                    past_key_values=cache, use_cache=True)  # fmt: skip
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)  # (2, 1)
        mask = torch.cat([mask, torch.ones_like(nxt)], dim=1)
        step = model(input_ids=nxt, attention_mask=mask, position_ids=pos[:, -1:] + 1,
                     past_key_values=cache, use_cache=True)  # fmt: skip
    return step.logits[:, -1]  # (2, V)


def test_decode_step_equals_sdpa_and_config_is_restored(model_tok: tuple[Any, Any]) -> None:
    model, tok = model_tok
    assert model.config._attn_implementation == "sdpa"
    assert model.config.num_attention_heads > model.config.num_key_value_heads  # GQA
    want = _decode_logits(model, tok)
    with gqa_decode_attention(model):
        assert model.config._attn_implementation == NAME
        got = _decode_logits(model, tok)
    assert model.config._attn_implementation == "sdpa"
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel", ["matmul", "sdpa", "sdpa-efficient"])
def test_packed_path_matches_repeated_heads(kernel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """(B, H, 1, D) query against (B, KVH, L, D) keys: same as repeating each kv head."""
    monkeypatch.setattr(attention, "DECODE_KERNEL", kernel)
    torch.manual_seed(0)
    b, kvh, groups, length, dim = 3, 2, 4, 7, 8
    q = torch.randn(b, kvh * groups, 1, dim, dtype=torch.float64)
    k, v = (torch.randn(b, kvh, length, dim, dtype=torch.float64) for _ in range(2))
    mask = torch.ones(b, 1, 1, length, dtype=torch.bool)
    mask[0, ..., :3] = False  # a left-padded row
    module = torch.nn.Module()
    module.num_key_value_groups = groups  # type: ignore[assignment]
    got, _ = gqa_sdpa(module, q, k, v, mask, scaling=0.5)
    rep_k, rep_v = (t.repeat_interleave(groups, dim=1) for t in (k, v))
    want = torch.nn.functional.scaled_dot_product_attention(
        q, rep_k, rep_v, attn_mask=mask, scale=0.5
    )
    assert got.shape == (b, 1, kvh * groups, dim)
    torch.testing.assert_close(got, want.transpose(1, 2))


@pytest.mark.parametrize(
    ("groups", "on_cuda", "kernel", "packs"),
    [
        (4, False, "matmul", True),
        (4, True, "sdpa", True),
        (1, True, "matmul", True),  # SDPA's one-row kernel is slow on CUDA
        (1, False, "matmul", False),  # CPU keeps SDPA, and its numerics
        (1, True, "sdpa", False),
    ],
)
def test_which_decode_steps_skip_hf_sdpa(
    groups: int, on_cuda: bool, kernel: str, packs: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attention, "DECODE_KERNEL", kernel)
    assert attention.packs_heads(groups, on_cuda) is packs


def test_matmul_kernel_equals_sdpa_without_grouped_heads() -> None:
    """One kv head per query head (the CUDA path of such models): SDPA's attention (float64)."""
    torch.manual_seed(0)
    b, heads, length, dim = 3, 4, 7, 8
    q = torch.randn(b, heads, 1, dim, dtype=torch.float64)  # (B, H, 1, D)
    k, v = (torch.randn(b, heads, length, dim, dtype=torch.float64) for _ in range(2))
    mask = torch.ones(b, 1, 1, length, dtype=torch.bool)
    mask[1, ..., :4] = False  # a left-padded row
    packed = q.reshape(b, heads, 1, dim)  # (B, KVH, G=1, D)
    got = attention.matmul_attention(packed, k, v, mask, 0.5)
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.5)
    torch.testing.assert_close(got, want)


def test_other_implementations_are_left_alone(model_tok: tuple[Any, Any]) -> None:
    model, _ = model_tok
    model.config._attn_implementation = "eager"
    try:
        with gqa_decode_attention(model):
            assert model.config._attn_implementation == "eager"
    finally:
        model.config._attn_implementation = "sdpa"


def test_models_outside_hf_attention_registry_are_left_alone(model_tok: tuple[Any, Any]) -> None:
    """Models that test for the literal name "sdpa" (e.g. Falcon) must keep it."""
    model, _ = model_tok
    model._supports_attention_backend = False
    try:
        with gqa_decode_attention(model):
            assert model.config._attn_implementation == "sdpa"
    finally:
        del model._supports_attention_backend


def test_sub_configs_are_switched_selectively_and_restored_exactly() -> None:
    from types import SimpleNamespace

    from transformers import Gemma3Config

    config = Gemma3Config()
    config._attn_implementation = {"": "sdpa", "text_config": "sdpa", "vision_config": "eager"}
    model = SimpleNamespace(config=config, _supports_attention_backend=True)

    def impls() -> tuple[str, str, str]:
        return (config._attn_implementation, config.text_config._attn_implementation,
                config.vision_config._attn_implementation)  # fmt: skip

    try:
        with gqa_decode_attention(model):
            assert impls() == (NAME, NAME, "eager")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert impls() == ("sdpa", "sdpa", "eager")


def test_matmul_attention_takes_additive_masks_and_low_precision() -> None:
    torch.manual_seed(1)
    q = torch.randn(2, 2, 4, 16)
    k, v = torch.randn(2, 2, 9, 16), torch.randn(2, 2, 9, 16)
    keep = torch.ones(2, 1, 1, 9, dtype=torch.bool)
    keep[1, ..., :4] = False
    additive = torch.zeros(2, 1, 1, 9).masked_fill(~keep, float("-inf"))
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    torch.testing.assert_close(attention.matmul_attention(q, k, v, additive, None), want)
    got16 = attention.matmul_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), keep, None)
    assert got16.dtype == torch.bfloat16
    torch.testing.assert_close(got16.float(), want, atol=3e-2, rtol=3e-2)


def test_mask_builder_never_tests_whether_to_skip() -> None:
    """The registered mask function forces ``allow_is_causal_skip=False`` (no per-step sync)."""
    seen: list[Any] = []

    def fake_sdpa_mask(batch_size: int, allow_is_causal_skip: bool = True, **kw: Any) -> str:
        seen.append(allow_is_causal_skip)
        return "mask"

    build = attention.mask_without_sync(fake_sdpa_mask)
    assert build(2, allow_is_causal_skip=True, q_length=1) == "mask"
    assert build(2) == "mask"
    assert seen == [False, False]

    def old_sdpa_mask(batch_size: int, **kw: Any) -> str:  # a version without the switch
        return "mask"

    assert attention.mask_without_sync(old_sdpa_mask) is old_sdpa_mask


def test_decode_mask_is_built_without_asking_the_device(model_tok: tuple[Any, Any]) -> None:
    """Inside the block a full padding mask is still materialised (no ``.all()`` shortcut)."""
    import transformers.masking_utils as mu

    model, tok = model_tok
    calls: list[int] = []
    original = mu._ignore_causal_mask_sdpa

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    mu._ignore_causal_mask_sdpa = spy
    try:
        with gqa_decode_attention(model):
            _decode_logits(model, tok)
        assert calls == []
        _decode_logits(model, tok)  # plain sdpa does ask
        assert calls
    finally:
        mu._ignore_causal_mask_sdpa = original
