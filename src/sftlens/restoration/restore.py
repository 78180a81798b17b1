"""Restore the top/bottom/random k% of updated weights to their base values, streaming.

``restore_checkpoint`` reads both checkpoints tensor by tensor twice (pass 1:
histogram; pass 2: restore and write, collecting the elements of the one
histogram bin that holds the threshold, whose exact cut is then patched into the
written files) and writes a sharded safetensors checkpoint where the selected
elements take the base value and every other element keeps the tuned value bit
for bit.  When a threshold bin holds more candidates than ``candidate_bytes``
allows, one extra pass refines it first (three passes in all).  On a GPU
with room for the pair, pass 1 keeps the tensors on the device, so the later
passes read no disk and the threshold bins are refined instead of patched.
``restore_many`` does the same for several k with one set of passes
(``sweep.sweep_inplace`` restores into a live model instead).  Checkpoint I/O
lives in ``restoration/io/``.

Example::

    restore_checkpoint("runs/base", "runs/ft", "runs/ft-r10", k=10, strategy="top",
                       settings=EngineSettings(device="cpu"))
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from sftlens.outdir import check_out_dir
from sftlens.restoration.config import check_k
from sftlens.restoration.engine_stats import near_zero_warning
from sftlens.restoration.exact_cut import (
    STRATEGIES,
    BinCandidates,
    Cut,
    Pending,
    apply_cut,
    tensor_salt,
)
from sftlens.restoration.io import (
    CacheBudget,
    CachedSource,
    ShardedWriter,
    atomic_dirs,
    copy_aux_files,
    source_from_dir,
)
from sftlens.restoration.settings import DEFAULT_SETTINGS, EngineSettings
from sftlens.restoration.streaming import (
    Engine,
    Pair,
    RestoreStats,
    check_pair,
    chunk_keys,
    histogram_pass,
    two_pass_cuts,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def open_pair(base_dir: str | Path, tuned_dir: str | Path, region: str) -> Pair:
    """Open both checkpoint dirs lazily and check that they match."""
    return check_pair(source_from_dir(base_dir), source_from_dir(tuned_dir), region)


def plan_cuts(
    pair: Pair, ks: Sequence[float], strategy: str, seed: int, engine: Engine
) -> dict[float, Cut | Pending]:
    """Pass 1 (histogram + NaN/Inf checks): each k's cut, exact or pending on one bin.

    Pending bins too large for ``engine.candidate_bytes`` are refined here by one
    extra pass (the fallback), so that only bins that fit are left pending.  When
    the whole region sits in a device cache after pass 1, every bin is refined that
    way (a pass over GPU memory), and the restore pass writes exact values: no patching.
    """
    STRATEGIES.get(strategy)
    stats = histogram_pass(pair, strategy, seed, engine)
    engine.stats.near_zero_share = stats.near_zero_share()
    if warning := near_zero_warning(stats.near_zero_share(), engine.r_eps):
        log.warning("%s", warning)
    # refining a cached region reads device memory, not disk: cheaper than patching the files
    refine_all = _region_cached(pair)
    return two_pass_cuts(pair, stats, ks, strategy, seed, engine, refine_all=refine_all)


def _region_cached(pair: Pair) -> bool:
    """Whether both sources hold every region tensor in a device cache."""
    return all(
        isinstance(src, CachedSource)
        and src.device is not None
        and set(pair.region) <= src.cached.keys()
        for src in (pair.base, pair.tuned)
    )


def _restored(
    name: str,
    b: torch.Tensor,
    t: torch.Tensor,
    cuts: Mapping[float, Cut],
    ties: dict[float, int],
    strategy: str,
    seed: int,
    engine: Engine,
    candidates: Sequence[BinCandidates] = (),
) -> dict[float, torch.Tensor]:
    """Restored copies of one tensor for every k (CPU, stored dtype); threshold-bin elements kept."""
    outs = {k: torch.empty_like(t, device="cpu") for k in cuts}
    salt = tensor_salt(seed, name)
    for off, (bb, tt) in engine.chunks(b, t):
        keys, _ = chunk_keys(strategy, bb, tt, salt, off, engine.r_dtype, engine.r_eps)
        for cand in candidates:
            cand.add(name, off, keys, bb)
        for k, cut in cuts.items():
            mask, ties[k] = apply_cut(keys, cut, ties[k])
            dst = outs[k].view(-1)[off : off + bb.numel()]
            if engine.device.type == "cpu":
                torch.where(mask, bb, tt, out=dst)
            else:
                dst.copy_(torch.where(mask, bb, tt), non_blocking=False)
    return outs


def write_restored(
    pair: Pair,
    cuts: Mapping[float, Cut | Pending],
    outs: Mapping[float, Path],
    strategy: str,
    seed: int,
    engine: Engine,
    max_shard_bytes: int,
) -> dict[float, Cut]:
    """Pass 2: stream both models once and write one checkpoint per k; the exact cuts.

    For a pending cut the pass writes the elements above its bin restored and
    collects the bin's elements; afterwards their low bits give the exact cut and
    the chosen ones are patched into the written files (``ShardedWriter.patch``).
    """
    layout = [(n, pair.tuned.dtype(n), pair.tuned.shape(n)) for n in pair.names]
    writers = {k: ShardedWriter(outs[k], layout, max_shard_bytes) for k in cuts}
    sure = {k: c.sure if isinstance(c, Pending) else c for k, c in cuts.items()}
    bins = {
        c.bin: BinCandidates(c.bin, engine.device) for c in cuts.values() if isinstance(c, Pending)
    }
    region = set(pair.region)
    ties = dict.fromkeys(cuts, 0)
    get = engine.both(pair, base_names=region)
    with _Background(depth=2) as later:  # files are written while the next tensors compute
        for name, (b, t) in engine.fetch(pair.names, get, "pass 2: restore"):
            if b is None:
                for w in writers.values():
                    later.run(w.write, name, t)
                continue
            restored = _restored(
                name, b, t, sure, ties, strategy, seed, engine, list(bins.values())
            )
            for k, res in restored.items():
                later.run(writers[k].write, name, res)
            engine.held(sum(c.count for c in bins.values()), sum(c.nbytes for c in bins.values()))
    for k, w in writers.items():
        if ties[k] != sure[k].ties:
            raise RuntimeError(f"k={k}: took {ties[k]} ties, expected {sure[k].ties}")
        w.finish()
    return _patch_exact(cuts, bins, writers, engine)


def _patch_exact(
    cuts: Mapping[float, Cut | Pending],
    bins: Mapping[int, BinCandidates],
    writers: Mapping[float, ShardedWriter],
    engine: Engine,
) -> dict[float, Cut]:
    """The exact cut of each k; a pending one is resolved from its bin's candidates and the
    chosen elements are patched into the written files."""
    exact: dict[float, Cut] = {}
    t0 = time.perf_counter()
    for k, c in cuts.items():
        if isinstance(c, Pending):
            cand = bins[c.bin]
            exact[k] = cand.resolve(c)
            for name, idx, vals in cand.chosen(exact[k]):
                writers[k].patch(name, idx, vals)
        else:
            exact[k] = c
    engine.stats.patch_seconds += time.perf_counter() - t0
    engine.stats.bytes_patched += sum(w.bytes_patched for w in writers.values())
    return exact


class _Background:
    """Run calls in order on one worker thread, at most ``depth`` waiting; errors re-raised.

    Leaving the ``with`` block waits for every call (and raises the first error).
    """

    def __init__(self, depth: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._waiting: deque[Future[Any]] = deque()
        self._depth = depth

    def run(self, fn: Callable[..., Any], *args: Any) -> None:
        self._waiting.append(self._pool.submit(fn, *args))
        while len(self._waiting) > self._depth:
            self._waiting.popleft().result()

    def __enter__(self) -> _Background:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            while self._waiting:
                future = self._waiting.popleft()
                if exc[0] is None:
                    future.result()
                else:  # already failing: later calls' errors are consequences, not the cause
                    future.cancel() or future.exception()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


def cache_on_device(pair: Pair, device: torch.device, budget: int | None = None) -> Pair:
    """The pair with pass-2 tensors kept on ``device`` after pass 1 (base: region; tuned: all).

    ``budget`` defaults to 85% of the device's free memory less 8 GiB for the passes'
    working chunks; tensors beyond it are read again in pass 2.
    """
    if budget is None:
        budget = max(0, int(0.85 * _free_bytes(device)) - (8 << 30))
    shared = CacheBudget(budget)
    base = CachedSource(pair.base, device=device, cache=pair.region, budget=shared)
    tuned = CachedSource(pair.tuned, device=device, cache=pair.names, budget=shared)
    return Pair(base, tuned, pair.names, pair.region, pair.n)


@dataclass(frozen=True)
class Restored:
    """What ``restore_many`` wrote: each k's output dir, and the engine's stats (counts, cuts)."""

    paths: dict[float, Path]
    stats: RestoreStats


def restore_many(
    base_dir: str | Path,
    tuned_dir: str | Path,
    outs: Mapping[float, str | Path],
    strategy: str = "top",
    region: str = "transformer",
    seed: int = 0,
    *,
    force: bool = False,
    settings: EngineSettings = DEFAULT_SETTINGS,
    stats: RestoreStats | None = None,
) -> Restored:
    """Restore for several k with shared passes; ``outs`` maps k to its output dir.

    ``settings`` holds the engine's options (:class:`EngineSettings`); ``stats``, when
    given, is the engine's stats object (it counts into it).  With a device cache
    (default: on for CUDA) pass 2 reads nothing from disk (:func:`cache_on_device`)
    and the threshold bins are refined in device memory instead of patched into the files.
    The returned :class:`Restored` carries the stats: region size and each k's cut.
    """
    ks = [check_k(k) for k in outs]
    paths = {
        float(k): check_out_dir(Path(p), force, inputs=[Path(base_dir), Path(tuned_dir)])
        for k, p in outs.items()
    }
    pair = open_pair(base_dir, tuned_dir, region)
    engine = settings.engine(stats)
    with engine:
        cache = settings.device_cache
        if cache if cache is not None else engine.device.type == "cuda":
            pair = cache_on_device(pair, engine.device)
        plan = plan_cuts(pair, ks, strategy, seed, engine)
        with atomic_dirs(list(paths.values())) as tmps:
            tmp_of = dict(zip(paths, tmps, strict=True))
            cuts = write_restored(
                pair, plan, tmp_of, strategy, seed, engine, settings.max_shard_bytes
            )
            for tmp in tmps:
                copy_aux_files([Path(base_dir), Path(tuned_dir)], tmp)
    finish_stats(engine.stats, pair, cuts)
    for src in (pair.base, pair.tuned):
        if isinstance(src, CachedSource):
            src.drop()
    for k, cut in cuts.items():
        log.info(
            "k=%g: restored %d of %d elements (%s, %s) -> %s",
            *(k, cut.count, pair.n, strategy, region, paths[k]),
        )
    return Restored(paths, engine.stats)


def finish_stats(stats: RestoreStats, pair: Pair, cuts: Mapping[float, Cut]) -> None:
    """Add what the sources read and cached, the cuts and the region size to the engine's stats."""
    stats.n = pair.n
    stats.bytes_read = sum(int(getattr(s, "bytes_read", 0)) for s in (pair.base, pair.tuned))
    stats.device_cached_bytes = sum(
        s.cached_bytes for s in (pair.base, pair.tuned) if isinstance(s, CachedSource)
    )
    stats.cuts = dict(cuts)


def restore_checkpoint(
    base_dir: str | Path,
    tuned_dir: str | Path,
    out: str | Path,
    k: float,
    strategy: str = "top",
    region: str = "transformer",
    seed: int = 0,
    *,
    force: bool = False,
    settings: EngineSettings = DEFAULT_SETTINGS,
    stats: RestoreStats | None = None,
) -> Path:
    """Write ``out``: the tuned checkpoint with k% of the region's elements set to base.

    ``settings`` and ``stats`` as in :func:`restore_many`.
    """
    done = restore_many(
        base_dir, tuned_dir, {float(k): out}, strategy, region, seed,
        force=force, settings=settings, stats=stats,
    )  # fmt: skip
    return done.paths[float(k)]


def _free_bytes(device: torch.device) -> int:
    """Bytes this process may still use: on CUDA within its share of the GPU (several study
    workers on one GPU each have one), else the host's available memory (Linux's
    ``MemAvailable``, which counts the reclaimable page cache; elsewhere the free pages)."""
    if device.type == "cuda":
        from sftlens.generation import plannable_memory

        return plannable_memory(device)
    import os

    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError):
        return 0
