"""A device cache over a tensor source: tensors kept on the GPU after their first read.

A restore reads every tensor twice (histogram pass, restore pass); with room on the
device, :class:`CachedSource` keeps them after pass 1 so pass 2 reads nothing from disk.
Several cached sources share one :class:`CacheBudget` of bytes.

Example::

    budget = CacheBudget(8 << 30)
    base = CachedSource(source_from_dir("runs/base"), device=torch.device("cuda"),
                        cache=region_names, budget=budget)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from sftlens.restoration.io.sources import TensorSource


@dataclass
class CacheBudget:
    """Bytes that cached sources may still keep on their device (shared between sources)."""

    left: int

    def take(self, nbytes: int) -> bool:
        if nbytes > self.left:
            return False
        self.left -= nbytes
        return True


class CachedSource(TensorSource):
    """``inner`` restricted to ``names``, keeping chosen tensors on ``device`` after their first read.

    A restore reads every tensor twice (histogram pass, restore pass); on a GPU
    with room for the pair, caching them in pass 1 makes pass 2 read nothing from
    disk.  Tensors in ``cache`` are kept while ``budget`` (which sources may
    share) has room; the others are read again each time.
    """

    def __init__(
        self,
        inner: TensorSource,
        names: Iterable[str] | None = None,
        device: torch.device | str | None = None,
        cache: Iterable[str] = (),
        budget: CacheBudget | None = None,
    ) -> None:
        self._inner = inner
        keep = set(names) if names is not None else None
        self._names = [n for n in inner.names() if keep is None or n in keep]
        self.arch = inner.arch
        self.device = torch.device(device) if device is not None else None
        self.cacheable = set(cache)
        self.budget = budget or CacheBudget(0)
        self.cached: dict[str, torch.Tensor] = {}
        self.cached_bytes = 0

    @property
    def bytes_read(self) -> int:
        """Bytes the inner source read (0 for in-memory sources)."""
        return int(getattr(self._inner, "bytes_read", 0))

    def names(self) -> list[str]:
        return list(self._names)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._inner.shape(name)

    def dtype(self, name: str) -> torch.dtype:
        return self._inner.dtype(name)

    def get(self, name: str) -> torch.Tensor:
        hit = self.cached.get(name)
        if hit is not None:
            return hit
        t = self._inner.get(name)
        size = self.nbytes(name)
        if self.device is not None and name in self.cacheable and self.budget.take(size):
            t = t.to(self.device, copy=True)
            self.cached[name] = t
            self.cached_bytes += size
        return t

    def drop(self) -> None:
        """Free every cached tensor (their bytes go back to the budget)."""
        self.budget.left += self.cached_bytes
        self.cached.clear()
        self.cached_bytes = 0
