"""The streaming engine: validated pairs of sources, chunked passes, histograms and cuts.

A pass walks the tensors in canonical order (natural name order), fetching the
next pair in a background thread while the current one is processed, and cuts
every tensor into flat chunks of at most ``chunk`` elements (< 2^31) on the
compute device.  Nothing ever holds more than two stored tensors, their
prefetched successors and a few float32 chunks (plus, in the restore pass, the
candidates of the threshold bins, at most ``Engine.candidate_bytes``).

Every call of :meth:`Engine.fetch` is one read pass; ``Engine.passes`` lists them.

Example::

    pair = check_pair(source_from_dir(b), source_from_dir(t), "transformer")
    eng = Engine.create("auto")
    stats = histogram_pass(pair, "top", seed=0, engine=eng)
    plan = two_pass_cuts(pair, stats, [1, 10], "top", 0, eng)  # Cut or Pending per k
    cuts = exact_cuts(pair, stats.hist, [1, 10], "top", 0, eng)  # always exact: one more pass
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import torch
from tqdm.auto import tqdm

from sftlens.errors import SftlensError
from sftlens.restoration.engine_stats import RestoreStats
from sftlens.restoration.exact_cut import (
    EPS,
    MAX_KEY,
    N_HI,
    Cut,
    Pending,
    candidate_bytes,
    coarse_cut,
    cut_from_hists,
    hi_bin_for,
    hist_hi,
    hist_lo,
    keys_for,
    relative_update,
    select_count,
    tensor_salt,
)
from sftlens.restoration.io.sources import TensorSource
from sftlens.restoration.regions import select_names

log = logging.getLogger(__name__)
T = TypeVar("T")

CPU_CHUNK = 1 << 25
GPU_CHUNK = 1 << 28
MAX_CHUNK = (1 << 31) - 1
CANDIDATE_BYTES = 1 << 30  # threshold-bin candidates held in the restore pass (then: refine pass)


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
    """Where and in what chunk size passes compute; what they did.

    ``candidate_bytes`` bounds the threshold-bin candidates a restore pass may hold
    (beyond it the bin is refined by an extra pass).  ``pool`` fetches the next
    tensors while the current ones are processed; ``readers`` reads a base tensor
    while the tuned one is read.  ``peak_chunk`` is the largest chunk; every other count
    goes into ``stats`` (:class:`RestoreStats`: read passes and their wall times, threshold-bin
    candidates held, bins refined, bytes patched, patch time).
    """

    device: torch.device
    chunk: int
    progress: bool = True
    peak_chunk: int = 0
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=1))
    readers: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=1))
    candidate_bytes: int = CANDIDATE_BYTES
    stats: RestoreStats = field(default_factory=lambda: RestoreStats())
    r_dtype: str = "float32"  # "model": r in the checkpoints' dtype (select.relative_update)
    r_eps: float = EPS  # the epsilon of r's denominator (select.relative_update)

    @classmethod
    def create(
        cls,
        device: str = "auto",
        chunk: int = 0,
        progress: bool = True,
        candidate_bytes: int = CANDIDATE_BYTES,
        stats: RestoreStats | None = None,
        r_dtype: str = "float32",
        r_eps: float = EPS,
    ) -> Engine:
        from sftlens.models import resolve_device

        dev = torch.device(resolve_device(device))
        size = chunk_size(dev, chunk)
        return cls(
            dev, size, progress, candidate_bytes=candidate_bytes,
            stats=stats or RestoreStats(), r_dtype=r_dtype, r_eps=r_eps,
        )  # fmt: skip

    def close(self) -> None:
        """Shut down the engine's fetch and read threads (waits for running reads)."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.readers.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def held(self, count: int, nbytes: int) -> None:
        """Record candidates held at once (the peak is kept)."""
        self.stats.candidates = max(self.stats.candidates, count)
        self.stats.candidate_nbytes = max(self.stats.candidate_nbytes, nbytes)

    def fetch(
        self, names: Sequence[str], get: Callable[[str], T], desc: str
    ) -> Iterator[tuple[str, T]]:
        """Yield ``(name, get(name))`` in order, fetching the next one in the background.

        Each call is one read pass (recorded in ``passes``, its wall time in ``pass_seconds``).
        """
        self.stats.passes.append(desc)
        start = time.perf_counter()
        ahead: Future[T] | None = None
        bar = tqdm(names, desc=desc, unit="tensor", disable=not self.progress or None, leave=False)
        for i, name in enumerate(bar):
            current = ahead.result() if ahead is not None else get(name)
            ahead = self.pool.submit(get, names[i + 1]) if i + 1 < len(names) else None
            yield name, current
        self.stats.pass_seconds.append(time.perf_counter() - start)

    def both(
        self, pair: Pair, base_names: Collection[str] | None = None
    ) -> Callable[[str], tuple[torch.Tensor | None, torch.Tensor]]:
        """A getter of ``(base, tuned)`` tensors, the two read at the same time.

        The base tensor is read only for names in ``base_names`` (all when None),
        else it is None.
        """

        def get(name: str) -> tuple[torch.Tensor | None, torch.Tensor]:
            if base_names is not None and name not in base_names:
                return None, pair.tuned.get(name)
            base = self.readers.submit(pair.base.get, name)
            tuned = pair.tuned.get(name)
            return base.result(), tuned

        return get

    def chunks(self, *tensors: torch.Tensor) -> Iterator[tuple[int, tuple[torch.Tensor, ...]]]:
        """Flat chunks of the same range of each tensor, on the device.  -> (offset, ([m], ...))"""
        flat = [t.reshape(-1) for t in tensors]
        total = flat[0].numel()
        for start in range(0, total, self.chunk):
            stop = min(start + self.chunk, total)
            self.peak_chunk = max(self.peak_chunk, stop - start)
            yield start, tuple(f[start:stop].to(self.device, non_blocking=True) for f in flat)


def chunk_size(device: torch.device, chunk: int = 0) -> int:
    """Elements per chunk: ``chunk``, or the device's default (2^25 CPU, 2^28 GPU); capped."""
    size = chunk or (GPU_CHUNK if device.type == "cuda" else CPU_CHUNK)
    return min(size, MAX_CHUNK)


def chunk_keys(
    strategy: str,
    b: torch.Tensor,
    t: torch.Tensor,
    salt: int,
    offset: int,
    r_dtype: str = "float32",
    r_eps: float = EPS,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(keys, r) of one chunk; r is None for ``random``."""
    if strategy == "random":
        return keys_for("random", None, salt, offset, numel=b.numel(), device=b.device), None
    r = relative_update(b, t, r_dtype, r_eps)
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


def zero_key(strategy: str) -> int | None:
    """The key of r = 0 (unchanged elements, often a large tie), or None for ``random``."""
    return {"top": 0, "bottom": MAX_KEY}.get(strategy)


@dataclass
class PassStats:
    """What pass 1 learns: the key histogram and per-tensor sums of r."""

    hist: torch.Tensor  # [65536] int64, high bits of keys over the region
    exact: dict[int, int] = field(default_factory=dict)  # key -> count (the r = 0 key)
    sum_r: dict[str, float] = field(default_factory=dict)
    tensor_hists: dict[str, torch.Tensor] = field(default_factory=dict)
    bin_sum_r: torch.Tensor | None = None  # [65536] float64 (top strategy, stats only)
    zero_base_hist: torch.Tensor | None = None  # [65536] int64, keys where base = 0 (stats)
    mass_r: float = 0.0  # Σr over the region
    near_zero_mass_r: float = 0.0  # Σr over elements whose |base| <= r_eps

    def near_zero_share(self) -> float:
        """Share of Σr held by near-zero base weights (|b| <= r_eps, where eps sets r)."""
        return self.near_zero_mass_r / self.mass_r if self.mass_r > 0 else 0.0


def histogram_pass(
    pair: Pair,
    strategy: str,
    seed: int,
    engine: Engine,
    *,
    check_all: bool = True,
    per_tensor: bool = False,
) -> PassStats:
    """Pass 1: key histogram over the region; also checks every tensor for NaN/Inf.

    Also counts the keys of r = 0 exactly, so that a threshold bin made only of
    unchanged elements needs no refinement.
    """
    region = set(pair.region)
    names = pair.names if check_all else pair.region
    hist = torch.zeros(N_HI, dtype=torch.int64, device=engine.device)
    zk = zero_key(strategy)
    zeros = torch.zeros((), dtype=torch.int64, device=engine.device)
    mass = torch.zeros(2, dtype=torch.float64, device=engine.device)  # [Σr, Σr on |b| <= eps]
    stats = PassStats(hist)
    if per_tensor:
        stats.bin_sum_r = torch.zeros(N_HI, dtype=torch.float64, device=engine.device)
        stats.zero_base_hist = torch.zeros(N_HI, dtype=torch.int64, device=engine.device)
    for name, (b, t) in engine.fetch(names, engine.both(pair), "pass 1: histogram"):
        assert b is not None
        if name not in region:
            for _, (bb, tt) in engine.chunks(b, t):
                check_finite(name, bb, tt)
            continue
        salt = tensor_salt(seed, name)
        th = torch.zeros(N_HI, dtype=torch.int64, device=engine.device) if per_tensor else None
        total = 0.0
        for off, (bb, tt) in engine.chunks(b, t):
            r = relative_update(bb, tt, engine.r_dtype, engine.r_eps)
            check_finite(name, bb, tt, r)
            keys = keys_for(strategy, r, salt, off)
            hist_hi(keys, hist)
            mass[0] += r.sum(dtype=torch.float64)
            mass[1] += r[bb.abs() <= engine.r_eps].sum(dtype=torch.float64)
            if zk is not None:
                zeros += torch.count_nonzero(keys == zk)
            if th is not None and stats.bin_sum_r is not None:
                hist_hi(keys, th)
                assert stats.zero_base_hist is not None
                hist_hi(keys[bb == 0], stats.zero_base_hist)  # r = |t|/1e-8: huge when t moved
                hi = (r.view(torch.int32) >> 15).long()
                stats.bin_sum_r.index_add_(0, hi, r.double())
            if per_tensor:
                total += float(r.sum(dtype=torch.float64))
        stats.sum_r[name] = total
        if th is not None:
            stats.tensor_hists[name] = th.cpu()
    stats.hist = hist.cpu()
    stats.mass_r, stats.near_zero_mass_r = (float(x) for x in mass.cpu())
    if stats.zero_base_hist is not None:
        stats.zero_base_hist = stats.zero_base_hist.cpu()
    if zk is not None:
        stats.exact[zk] = int(zeros)
    return stats


def refine_pass(
    pair: Pair, strategy: str, seed: int, engine: Engine, bins: set[int]
) -> dict[int, torch.Tensor]:
    """Pass 1b: low-bits histograms inside each of ``bins``."""
    out = {b: torch.zeros(1 << 15, dtype=torch.int64, device=engine.device) for b in bins}
    for name, (b, t) in engine.fetch(pair.region, engine.both(pair), "pass 1b: refine"):
        assert b is not None
        salt = tensor_salt(seed, name)
        for off, (bb, tt) in engine.chunks(b, t):
            keys, _ = chunk_keys(strategy, bb, tt, salt, off, engine.r_dtype, engine.r_eps)
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


def two_pass_cuts(
    pair: Pair,
    stats: PassStats,
    ks: Sequence[float],
    strategy: str,
    seed: int,
    engine: Engine,
    *,
    one_k_per_pass: bool = False,
    refine_all: bool = False,
) -> dict[float, Cut | Pending]:
    """Each k's cut after pass 1: exact where the histogram decides it, else :class:`Pending`.

    A pending cut is resolved in the restore pass from its bin's candidates, which
    cost ``candidate_bytes(itemsize)`` each; the bins are kept smallest first while
    their sum fits in ``engine.candidate_bytes`` (each bin alone with
    ``one_k_per_pass``, when every k has its own restore pass).  Bins that do not
    fit are refined by one extra read pass (the fallback), which makes their cuts exact;
    ``refine_all`` refines every pending bin that way (when the pass reads a device cache).
    """
    needs = {k: select_count(pair.n, k) for k in ks}
    plan = {k: coarse_cut(stats.hist, needs[k], stats.exact) for k in ks}
    sizes = {p.bin: p.size for p in plan.values() if isinstance(p, Pending)}
    itemsize = max((pair.base.dtype(n).itemsize for n in pair.region), default=4)
    per = candidate_bytes(itemsize)
    over, used = set(), 0
    for b, size in sorted(sizes.items(), key=lambda kv: (kv[1], kv[0])):
        cost = size * per
        if refine_all or cost + (0 if one_k_per_pass else used) > engine.candidate_bytes:
            over.add(b)
        else:
            used += cost
    if over and not refine_all:
        log.info(
            "threshold bin(s) too large to hold (%s elements, limit %d bytes): refining in an extra pass",
            ", ".join(f"{sizes[b]:,}" for b in sorted(over)),
            engine.candidate_bytes,
        )
    if over:
        lo = refine_pass(pair, strategy, seed, engine, over)
        engine.stats.refined_bins += len(over)
        for k, p in plan.items():
            if isinstance(p, Pending) and p.bin in over:
                plan[k] = p.resolve(lo[p.bin])
    return plan
