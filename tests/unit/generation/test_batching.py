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


def test_row_cap_scales_with_the_model() -> None:
    from sftlens.generation.batching import MAX_ROW_CAP, MIN_ROW_CAP, row_cap

    assert row_cap(8_000_000_000) == 4096  # 8B: the work of 4096 rows
    assert row_cap(2_000_000_000) == 16384
    assert row_cap(97_500_000) == MAX_ROW_CAP  # small model: launches dominate, more rows
    assert row_cap(70_000_000_000) == MIN_ROW_CAP


class _FakeCuda:
    """torch.cuda for planning: 80 GiB total, 60 free; this process reserves 10, allocates 6."""

    GiB = 2**30

    def __init__(self, fraction: float | None) -> None:
        self.fraction = fraction
        if fraction is not None:
            self.get_per_process_memory_fraction = lambda device: self.fraction

    def mem_get_info(self, device: object) -> tuple[int, int]:
        return 60 * self.GiB, 80 * self.GiB

    def memory_reserved(self, device: object) -> int:
        return 10 * self.GiB

    def memory_allocated(self, device: object) -> int:
        return 6 * self.GiB


def test_planning_respects_the_per_process_fraction(monkeypatch) -> None:
    from sftlens.generation import batching

    gib, dev = 2**30, torch.device("cuda", 0)
    monkeypatch.delenv(batching.FRACTION_ENV, raising=False)
    monkeypatch.setattr(batching.torch, "cuda", _FakeCuda(1.0))
    assert batching.plannable_memory(dev) == 64 * gib  # free 60 + cached 4
    monkeypatch.setattr(batching.torch, "cuda", _FakeCuda(0.25))
    assert batching.plannable_memory(dev) == 14 * gib  # 0.25 x 80 - 6 allocated
    monkeypatch.setattr(batching.torch, "cuda", _FakeCuda(None))  # torch without the getter
    assert batching.plannable_memory(dev) == 64 * gib
    monkeypatch.setenv(batching.FRACTION_ENV, "0.125")
    assert batching.plannable_memory(dev) == 4 * gib  # 0.125 x 80 - 6
    monkeypatch.setenv(batching.FRACTION_ENV, "0.05")
    assert batching.plannable_memory(dev) == 0  # already over its share


def test_auto_batch_size_plans_from_the_share(monkeypatch) -> None:
    from sftlens.generation import batching

    dev = torch.device("cuda", 0)
    model = SimpleNamespace(parameters=lambda: iter([torch.zeros(1000)]))
    monkeypatch.delenv(batching.FRACTION_ENV, raising=False)
    monkeypatch.setattr(batching, "_bytes_per_row", lambda *a: 2**16)  # 64 KiB per row
    monkeypatch.setattr(batching.torch, "cuda", _FakeCuda(0.25))
    assert auto_batch_size(model, 16, 32, 8, dev) == batching.MAX_ROW_CAP  # tiny model: cap
    monkeypatch.setattr(batching, "_bytes_per_row", lambda *a: 2**30)  # 1 GiB per row
    assert auto_batch_size(model, 16, 32, 1, dev) == int(14 * 0.7)  # 0.7 of the 14 GiB share
