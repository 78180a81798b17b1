"""A sweep's restores from one flat copy of the region on the device: a few kernels per k.

The streaming restore recomputes every tensor's keys for every k (about ten kernels per
tensor).  When the region fits on the device several times over, a sweep can instead keep
three flat buffers in canonical order (tensors in the region's order, then flat index):
the keys (int32, computed once), the base values and the tuned values (both in the live
dtype).  Each k is then a cut from the pass-1 histogram (refined on the flat keys), one
mask, one ``where`` and one multi-tensor copy into the live parameters.  The selection is
the same as the streaming path's (same keys, same count, ties to the earliest elements),
so the restored values are bit for bit the same.

Memory: ``flat_bytes(n, itemsize)``: about 11 bytes per element for bf16 (keys 4, mask 1,
base, tuned and output 2 each); the tuned buffer doubles as the sweep's snapshot.

Example::

    region = FlatRegion.build(names, live, base_of, keys_of)
    cut = region.restore(10.0, hist, live)   # live now holds the 10% restore
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from sftlens.restoration.exact_cut import (
    Cut,
    apply_cut,
    cut_from_hists,
    hi_bin_for,
    hist_lo,
    select_count,
)

#: share of the device's free memory the flat buffers may take
FLAT_MEMORY_SHARE = 0.25


def flat_bytes(n: int, itemsize: int) -> int:
    """Device bytes of the flat buffers for ``n`` elements of ``itemsize`` bytes."""
    return n * (4 + 1 + 3 * itemsize)


class FlatRegion:
    """Keys, base and tuned values of a region as flat device buffers (canonical order)."""

    def __init__(
        self, names: Sequence[str], sizes: Sequence[int], keys: torch.Tensor, base: torch.Tensor,
        tuned: torch.Tensor,
    ) -> None:  # fmt: skip
        self.names, self.sizes = list(names), list(sizes)
        self.keys = keys  # (n,) int32
        self.base = base  # (n,) live dtype
        self.tuned = tuned  # (n,) live dtype: the sweep's snapshot
        self.out = torch.empty_like(tuned)  # (n,)

    @property
    def n(self) -> int:
        return self.keys.numel()

    @classmethod
    def build(
        cls,
        names: Sequence[str],
        live: Mapping[str, torch.Tensor],
        base_of: Callable[[str], torch.Tensor],
        keys_of: Callable[[str, torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> FlatRegion:
        """Copy the live (tuned) values, read each base tensor once and compute its keys.

        ``keys_of(name, base (m,), tuned (m,))`` gives the tensor's int32 keys (m,).
        """
        sizes = [live[n].numel() for n in names]
        tuned = torch.cat([live[n].detach().reshape(-1) for n in names])  # (n,)
        keys, base = [], []
        for name, t in zip(names, tuned.split(sizes), strict=True):
            b = base_of(name).reshape(-1).to(t.device)  # (m,)
            keys.append(keys_of(name, b, t))
            base.append(b.to(t.dtype))
        return cls(names, sizes, torch.cat(keys), torch.cat(base), tuned)

    def snapshot(self, live: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Views of the tuned buffer shaped like the live tensors (for the undo)."""
        parts = self.tuned.split(self.sizes)
        return {n: p.view(live[n].shape) for n, p in zip(self.names, parts, strict=True)}

    def cut(self, k: float, hist: torch.Tensor) -> Cut:
        """The exact cut of k% from the pass-1 high-bits histogram and the flat keys."""
        need = select_count(self.n, k)
        hi = hi_bin_for(hist, need)
        lows = {} if hi is None else {hi: hist_lo(self.keys, hi)}
        return cut_from_hists(hist, lows, need)

    def restore(self, k: float, hist: torch.Tensor, live: Mapping[str, torch.Tensor]) -> Cut:
        """Set the live tensors to where(selected, base, tuned) for k%; the cut taken."""
        cut = self.cut(k, hist)
        mask, ties = apply_cut(self.keys, cut, 0)  # (n,) bool
        if ties != cut.ties:
            raise RuntimeError(f"restore: took {ties} ties, expected {cut.ties}")
        torch.where(mask, self.base, self.tuned, out=self.out)
        dst = [live[n].view(-1) for n in self.names]
        torch._foreach_copy_(dst, list(self.out.split(self.sizes)))
        return cut
