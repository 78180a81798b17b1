"""Bucketed prefill: the chunking rule, and the same token ids as one padded prefill."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch

from sftlens.errors import ConfigError
from sftlens.generation import GenerationConfig, engine, generate, kv_cache
from sftlens.generation.batching import prefill_chunks
from support.arch_models import MIXED_PROMPTS, build_tiny_arch

MIXED = MIXED_PROMPTS


def test_chunks_keep_lengths_together_and_respect_the_minimum() -> None:
    lengths = [5, 9, 5, 2, 9, 7, 2, 2, 5, 9]
    chunks = prefill_chunks(lengths, min_rows=3)
    flat = [i for c in chunks for i in c]
    assert sorted(flat) == list(range(len(lengths)))  # every row once: order restorable
    assert all(c == sorted(c) for c in chunks)  # batch order within a chunk
    assert all(len(c) >= 3 for c in chunks)
    assert [sorted({lengths[i] for i in c}) for c in chunks] == [[9], [5, 7], [2]]
    assert prefill_chunks(lengths, min_rows=4) == [[1, 4, 5, 9], [0, 2, 3, 6, 7, 8]]  # rest merged
    assert prefill_chunks(lengths, min_rows=100) == [list(range(10))]  # small batch: one chunk
    assert prefill_chunks([3, 3, 3], min_rows=1) == [[0, 1, 2]]  # equal lengths never split


def test_left_pad_right_aligns_every_row() -> None:
    ids, mask = engine._left_pad(
        [[1, 2, 3], [4], [5, 6]], pad=0, extra=2, device=torch.device("cpu")
    )
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4], [0, 5, 6]]
    assert mask.tolist() == [[1, 1, 1, 0, 0], [0, 0, 1, 0, 0], [0, 1, 1, 0, 0]]
    assert ids.dtype == mask.dtype == torch.long


def test_small_models_prefill_in_at_most_four_wide_chunks_on_cuda() -> None:
    cuda, cpu, small, large = torch.device("cuda"), torch.device("cpu"), 268_000_000, 8_000_000_000
    assert engine.prefill_min_rows(4096, cuda, small) == 1024  # 4 chunks, not 16 of 256
    assert engine.prefill_min_rows(300, cuda, small) == engine.CUDA_PREFILL_MIN_ROWS
    assert engine.prefill_min_rows(4096, cuda, large) == engine.CUDA_PREFILL_MIN_ROWS  # GPU-bound
    assert engine.prefill_min_rows(4096, cpu, small) == engine.CPU_PREFILL_MIN_ROWS
    lengths = [n % 37 + 4 for n in range(4096)]
    assert len(prefill_chunks(lengths, engine.prefill_min_rows(4096, cuda, small))) <= 4


def test_prefill_field_is_validated() -> None:
    assert GenerationConfig().prefill == "bucketed"
    with pytest.raises(ConfigError, match="unknown prefill 'ragged'"):
        GenerationConfig(prefill="ragged")


@pytest.fixture(scope="module")
def arch_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Any]]:
    """qwen3 (all layers full attention); gemma2 and gemma3_text (sliding-window layers, a
    window of 64: wider than these batches)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = {}
    for arch in ("qwen3", "gemma2", "gemma3_text"):
        path = build_tiny_arch(arch, tmp_path_factory.mktemp(arch))
        model = AutoModelForCausalLM.from_pretrained(path).eval()
        out[arch] = model, AutoTokenizer.from_pretrained(path)
    return out


def _compare(model: Any, tok: Any, monkeypatch: pytest.MonkeyPatch, chunked: bool) -> None:
    """Greedy and sampled ids are the same bucketed, padded and through HF's own cache; chunks
    ran iff ``chunked``."""
    monkeypatch.setattr(engine, "CPU_PREFILL_MIN_ROWS", 2)
    calls: list[int] = []
    place = kv_cache.place_prefill
    monkeypatch.setattr(
        engine,
        "place_prefill",
        lambda c, p, rows, *a: calls.append(len(rows)) or place(c, p, rows, *a),
    )
    greedy = GenerationConfig(max_new_tokens=5, answer_span="full", ignore_eos=True)
    sampled = dataclasses.replace(greedy, n_samples=3, temperature=1.0)
    for cfg in (greedy, sampled):
        calls.clear()
        got = generate(model, tok, MIXED, cfg)
        assert (len(calls) > 1) == chunked and sum(calls) == (len(MIXED) if chunked else 0)
        assert got == generate(model, tok, MIXED, dataclasses.replace(cfg, prefill="padded"))
        assert got == generate(model, tok, MIXED, dataclasses.replace(cfg, kv_cache="dynamic"))


def test_llama_bucketed_equals_padded(model_tok: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _compare(*model_tok, monkeypatch, chunked=True)


def test_qwen3_bucketed_equals_padded(arch_models: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _compare(*arch_models["qwen3"], monkeypatch, chunked=True)


@pytest.mark.parametrize("arch", ["gemma2", "gemma3_text"])
def test_sliding_window_wider_than_the_batch_is_preallocated(
    arch_models: Any, arch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _compare(*arch_models[arch], monkeypatch, chunked=True)


def test_sliding_window_narrower_than_the_batch_falls_back(
    arch_models: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, tok = arch_models["gemma3_text"]
    monkeypatch.setattr(model.config, "sliding_window", 6)  # prompts of up to 12 tokens + 5 new
    cache = kv_cache.new_cache(model, capacity=17)
    assert not kv_cache.is_preallocated(cache)
    assert type(cache.layers[0]).__name__ == "DynamicSlidingWindowLayer"
    _compare(model, tok, monkeypatch, chunked=False)


def test_dynamic_cache_falls_back(model_tok: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model, tok = model_tok
    monkeypatch.setattr(engine, "place_prefill", lambda *a: pytest.fail("chunked a dynamic cache"))
    cfg = GenerationConfig(max_new_tokens=3, answer_span="full", kv_cache="dynamic")
    assert len(generate(model, tok, MIXED, cfg)) == len(MIXED)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # past_key_values kwarg
def test_placed_rows_are_right_aligned_with_zero_padding(model_tok: Any) -> None:
    model, _ = model_tok
    big, part = kv_cache.new_cache(model, capacity=6), kv_cache.new_cache(model, capacity=2)
    ids = torch.tensor([[5, 6], [7, 8]])  # (2, 2)
    with torch.inference_mode():
        model(input_ids=ids, past_key_values=part, use_cache=True)
        kv_cache.place_prefill(big, part, torch.tensor([2, 0]), width=4, batch=3)
    layer, small = big.layers[0], part.layers[0]
    assert big.get_seq_length() == 4 and layer.keys.shape[:3] == (3, small.keys.shape[1], 4)
    torch.testing.assert_close(layer.keys[2, :, 2:4], small.keys[0])
    torch.testing.assert_close(layer.values[0, :, 2:4], small.values[1])
    assert not layer.keys[1].any() and not layer.keys[:, :, :2].any()  # unfilled: zeros
