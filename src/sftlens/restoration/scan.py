"""The streaming engine: validated pairs of sources, chunked passes, histograms and cuts.

A pass walks the tensors in canonical order (natural name order), fetching the
next pair in a background thread while the current one is processed, and cuts
every tensor into flat chunks of at most ``chunk`` elements (< 2^31) on the
compute device.  Nothing ever holds more than two stored tensors, their
prefetched successors and a few float32 chunks.

Example::

    pair = check_pair(source_from_dir(b), source_from_dir(t), "transformer")
    eng = Engine.create("auto")
    stats = histogram_pass(pair, "top", seed=0, engine=eng)
    cuts = exact_cuts(pair, stats.hist, [1, 10], "top", 0, eng)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from sftlens.errors import SftlensError
from sftlens.restoration.regions import select_names
from sftlens.restoration.select import (
    N_HI,
    Cut,
    cut_from_hists,
    hi_bin_for,
    hist_hi,
    hist_lo,
    keys_for,
    relative_update,
    select_count,
    tensor_salt,
)
from sftlens.restoration.tensors import TensorSource

log = logging.getLogger(__name__)

CPU_CHUNK = 1 << 25
GPU_CHUNK = 1 << 28
MAX_CHUNK = (1 << 31) - 1


@dataclass
class Pair:
    """Base and tuned sources checked to match, with the region's tensor names."""

    base: TensorSource
    tuned: TensorSource
    names: list[str]  # every tensor, canonical order
    region: list[str]  # the region's tensors, canonical order
    n: int  # elements in the region

    def numel(self, name: str) -> int:
        return self.tuned.numel(name)


def check_pair(
    base: TensorSource, tuned: TensorSource, region: str, *, same_dtypes: bool = True
) -> Pair:
    """Check names, shapes (and dtypes) agree; resolve the region.  One-line errors."""
    bn, tn = base.names(), tuned.names()
    if set(bn) != set(tn):
        only_b = sorted(set(bn) - set(tn))
        only_t = sorted(set(tn) - set(bn))
        what = f"only in base: {only_b[0]}" if only_b else f"only in tuned: {only_t[0]}"
        n_diff = len(only_b) + len(only_t)
        raise SftlensError(f"base and tuned have different tensor names ({n_diff} differ; {what})")
    for name in tn:
        if base.shape(name) != tuned.shape(name):
            raise SftlensError(
                f"tensor {name}: shape {list(base.shape(name))} in base, {list(tuned.shape(name))} in tuned"
            )
        if same_dtypes and base.dtype(name) != tuned.dtype(name):
            raise SftlensError(
                f"tensor {name}: dtype {base.dtype(name)} in base, {tuned.dtype(name)} in tuned"
            )
    names = tuned.names()
    chosen = select_names(names, region, arch=tuned.arch or base.arch)
    n = sum(tuned.numel(x) for x in chosen)
    return Pair(base, tuned, names, chosen, n)


@dataclass
class Engine:
    """Where and in what chunk size passes compute; counts the largest chunk seen."""

    device: torch.device
    chunk: int
    progress: bool = True
    peak_chunk: int = 0
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=1))

    @classmethod
    def create(cls, device: str = "auto", chunk: int = 0, progress: bool = True) -> Engine:
        from sftlens.models import resolve_device

        dev = torch.device(resolve_device(device))
        size = chunk or (GPU_CHUNK if dev.type == "cuda" else CPU_CHUNK)
        return cls(dev, min(size, MAX_CHUNK), progress)

    def fetch(
        self, names: Sequence[str], get: Callable[[str], tuple[torch.Tensor, ...]], desc: str
    ) -> Iterator[tuple[str, tuple[torch.Tensor, ...]]]:
        """Yield ``(name, get(name))`` in order, fetching the next one in the background."""
        ahead: Future[tuple[torch.Tensor, ...]] | None = None
        bar = tqdm(names, desc=desc, unit="tensor", disable=not self.progress, leave=False)
        for i, name in enumerate(bar):
            current = ahead.result() if ahead is not None else get(name)
            ahead = self.pool.submit(get, names[i + 1]) if i + 1 < len(names) else None
            yield name, current

    def chunks(self, *tensors: torch.Tensor) -> Iterator[tuple[int, tuple[torch.Tensor, ...]]]:
        """Flat chunks of the same range of each tensor, on the device.  -> (offset, ([m], ...))"""
        flat = [t.reshape(-1) for t in tensors]
        total = flat[0].numel()
        for start in range(0, total, self.chunk):
            stop = min(start + self.chunk, total)
            self.peak_chunk = max(self.peak_chunk, stop - start)
            yield start, tuple(f[start:stop].to(self.device, non_blocking=True) for f in flat)


def chunk_keys(
    strategy: str, b: torch.Tensor, t: torch.Tensor, salt: int, offset: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(keys, r) of one chunk; r is None for ``random``."""
    if strategy == "random":
        return keys_for("random", None, salt, offset, numel=b.numel(), device=b.device), None
    r = relative_update(b, t)
    return keys_for(strategy, r, salt, offset), r


def check_finite(
    name: str, b: torch.Tensor, t: torch.Tensor, r: torch.Tensor | None = None
) -> None:
    """NaN/Inf in either model → error naming the tensor (r may overflow legitimately)."""
    if r is not None and bool(torch.isfinite(r).all()):
        return
    for label, x in (("base", b), ("tuned", t)):
        if x.is_floating_point() and not bool(torch.isfinite(x).all()):
            raise SftlensError(f"tensor {name} has NaN or Inf values in the {label} model")


@dataclass
class PassStats:
    """What pass 1 learns: the key histogram and per-tensor sums of r."""

    hist: torch.Tensor  # [65536] int64, high bits of keys over the region
    sum_r: dict[str, float] = field(default_factory=dict)
    tensor_hists: dict[str, torch.Tensor] = field(default_factory=dict)
    bin_sum_r: torch.Tensor | None = None  # [65536] float64 (top strategy, stats only)


def histogram_pass(
    pair: Pair,
    strategy: str,
    seed: int,
    engine: Engine,
    *,
    check_all: bool = True,
    per_tensor: bool = False,
) -> PassStats:
    """Pass 1: key histogram over the region; also checks every tensor for NaN/Inf."""
    region = set(pair.region)
    names = pair.names if check_all else pair.region
    hist = torch.zeros(N_HI, dtype=torch.int64, device=engine.device)
    stats = PassStats(hist)
    if per_tensor:
        stats.bin_sum_r = torch.zeros(N_HI, dtype=torch.float64, device=engine.device)
    get = lambda n: (pair.base.get(n), pair.tuned.get(n))  # noqa: E731
    for name, (b, t) in engine.fetch(names, get, "pass 1: histogram"):
        if name not in region:
            for _, (bb, tt) in engine.chunks(b, t):
                check_finite(name, bb, tt)
            continue
        salt = tensor_salt(seed, name)
        th = torch.zeros(N_HI, dtype=torch.int64, device=engine.device) if per_tensor else None
        total = 0.0
        for off, (bb, tt) in engine.chunks(b, t):
            r = relative_update(bb, tt)
            check_finite(name, bb, tt, r)
            keys = keys_for(strategy, r, salt, off)
            hist_hi(keys, hist)
            if th is not None and stats.bin_sum_r is not None:
                hist_hi(keys, th)
                hi = (r.view(torch.int32) >> 15).long()
                stats.bin_sum_r.index_add_(0, hi, r.double())
            if per_tensor:
                total += float(r.sum(dtype=torch.float64))
        stats.sum_r[name] = total
        if th is not None:
            stats.tensor_hists[name] = th.cpu()
    stats.hist = hist.cpu()
    return stats


def refine_pass(
    pair: Pair, strategy: str, seed: int, engine: Engine, bins: set[int]
) -> dict[int, torch.Tensor]:
    """Pass 1b: low-bits histograms inside each of ``bins``."""
    out = {b: torch.zeros(1 << 15, dtype=torch.int64, device=engine.device) for b in bins}
    get = lambda n: (pair.base.get(n), pair.tuned.get(n))  # noqa: E731
    for name, (b, t) in engine.fetch(pair.region, get, "pass 1b: refine"):
        salt = tensor_salt(seed, name)
        for off, (bb, tt) in engine.chunks(b, t):
            keys, _ = chunk_keys(strategy, bb, tt, salt, off)
            for hb, acc in out.items():
                hist_lo(keys, hb, acc)
    return {b: h.cpu() for b, h in out.items()}


def exact_cuts(
    pair: Pair, hist: torch.Tensor, ks: Sequence[float], strategy: str, seed: int, engine: Engine
) -> dict[float, Cut]:
    """The exact cut of every k, refining all thresholds in one extra pass."""
    needs = {k: select_count(pair.n, k) for k in ks}
    bins = {b for k in ks if (b := hi_bin_for(hist, needs[k])) is not None}
    lo = refine_pass(pair, strategy, seed, engine, bins) if bins else {}
    return {k: cut_from_hists(hist, lo, needs[k]) for k in ks}
