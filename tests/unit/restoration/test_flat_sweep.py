"""FlatRegion: k% restores from flat buffers, ties to the earliest elements in canonical order."""

from __future__ import annotations

import torch

from sftlens.restoration.exact_cut import hist_hi
from sftlens.restoration.flat_sweep import FlatRegion, flat_bytes


def _region(live: dict[str, torch.Tensor], base: dict[str, torch.Tensor]) -> FlatRegion:
    def keys_of(name: str, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (t - b).abs().to(torch.int32)  # the update itself: integer keys with ties

    return FlatRegion.build(list(live), live, base.__getitem__, keys_of)


def test_restore_takes_the_largest_keys_and_the_earliest_ties() -> None:
    live = {"a": torch.tensor([[5.0, 1.0], [3.0, 3.0]]), "b": torch.tensor([3.0, 9.0, 0.0])}
    base = {"a": torch.zeros(2, 2), "b": torch.zeros(3)}  # keys: a 5 1 3 3, b 3 9 0
    region = _region(live, base)
    hist = hist_hi(region.keys)
    cut = region.restore(50.0, hist, live)  # floor(7 * 0.5) = 3: keys 9, 5 and the first 3
    assert cut.count == 3
    assert live["a"].tolist() == [[0.0, 1.0], [0.0, 3.0]]
    assert live["b"].tolist() == [3.0, 0.0, 0.0]
    region.restore(0.0, hist, live)  # nothing restored: back to the tuned values
    assert live["a"].tolist() == [[5.0, 1.0], [3.0, 3.0]]
    assert live["b"].tolist() == [3.0, 9.0, 0.0]


def test_snapshot_views_the_tuned_buffer() -> None:
    live = {"w": torch.arange(6.0).view(2, 3)}
    region = _region(live, {"w": torch.zeros(2, 3)})
    snap = region.snapshot(live)
    assert snap["w"].shape == (2, 3) and torch.equal(snap["w"], live["w"])
    region.restore(100.0, hist_hi(region.keys), live)
    assert torch.equal(live["w"], torch.zeros(2, 3)) and torch.equal(
        snap["w"], torch.arange(6.0).view(2, 3)
    )


def test_flat_bytes() -> None:
    assert flat_bytes(1000, 2) == 1000 * 11
