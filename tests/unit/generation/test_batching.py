"""Batch planning: length order and the batch size rule."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from sftlens.generation.batching import CPU_ROWS, _bytes_per_row, auto_batch_size, length_batches


def test_length_batches_cover_every_prompt_longest_first() -> None:
    lengths = [3, 9, 1, 9, 5, 2, 7]
    batches = length_batches(lengths, 3)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    assert [len(b) for b in batches] == [3, 2, 2]  # evened out, at most 3
    assert length_batches([], 4) == []
    assert [len(b) for b in length_batches([1] * 8, 4)] == [4, 4]


def test_cpu_batch_is_a_multiple_of_samples() -> None:
    cpu = torch.device("cpu")
    assert auto_batch_size(None, 10, 32, 10, cpu) == CPU_ROWS // 10 * 10
    assert auto_batch_size(None, 10, 32, CPU_ROWS + 1, cpu) == CPU_ROWS + 1  # one prompt at least


def test_row_memory_grows_with_length_and_shrinks_with_shared_prefill() -> None:
    cfg = SimpleNamespace(num_attention_heads=32, num_key_value_heads=8, hidden_size=4096,
                          num_hidden_layers=32, intermediate_size=14336, vocab_size=128256)  # fmt: skip
    model = SimpleNamespace(
        config=cfg, parameters=lambda: iter([torch.zeros(1, dtype=torch.bfloat16)])
    )
    short, long = _bytes_per_row(model, 16, 32, 10), _bytes_per_row(model, 64, 32, 10)
    assert long > short
    assert _bytes_per_row(model, 16, 32, 1) > short  # one sample carries its whole prefill
    assert 8e6 < short < 3e7  # 8B shape: ~12 MiB of KV (x2) + sampling buffers per row
