"""Restore into a live model for each k, call back, undo exactly (no checkpoint written).

Statistics are computed once for all k (pass 1 over the base source and the live
model); each k then restores its selection in place, calls back (e.g. to evaluate
the restored model) and writes the tuned values back bit for bit.

Example::

    accs = sweep_inplace(model, source_from_dir("runs/base"), [1, 10], "top", "transformer",
                         seed=0, callback=lambda k, m: evaluate(m))
    plans = {"test": prepare_evaluation(tok, facts, levels, EvaluateConfig())}
    found = sweep_evaluate(model, source_from_dir("runs/base"), [1, 10], "top", "transformer",
                           0, plans)   # {k: {"test": EvalResult}}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import torch

from sftlens.errors import SftlensError
from sftlens.restoration import restore
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
from sftlens.restoration.flat_sweep import FLAT_MEMORY_SHARE, FlatRegion, flat_bytes
from sftlens.restoration.io import CacheBudget, CachedSource, TensorSource, source_from_model
from sftlens.restoration.restore import finish_stats
from sftlens.restoration.settings import DEFAULT_SETTINGS, EngineSettings
from sftlens.restoration.streaming import (
    Engine,
    Pair,
    RestoreStats,
    check_pair,
    chunk_keys,
    chunk_size,
    histogram_pass,
    two_pass_cuts,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def _live_pair(model: Any, base: TensorSource, region: str) -> Pair:
    """Pair a base source with a live model (names matched; tied aliases skipped)."""
    live = source_from_model(model, prefer=base.names())
    names = set(live.names())
    missing = [n for n in base.names() if n not in names and n not in live.aliases]
    if missing:
        raise SftlensError(
            f"base tensor {missing[0]} has no parameter in the model ({len(missing)} unmatched)"
        )
    skipped = [n for n in base.names() if n in live.aliases]
    if skipped:
        log.info("tied in the model, restored through their primary: %s", ", ".join(skipped))
    return check_pair(CachedSource(base, names), live, region, same_dtypes=False)


def _model_device(model: Any) -> torch.device:
    if isinstance(model, Mapping):
        return next(iter(model.values())).device
    return next(model.parameters()).device


@torch.no_grad()
def sweep_inplace(
    model: Any,
    base: TensorSource,
    ks: Sequence[float],
    strategy: str,
    region: str,
    seed: int,
    callback: Callable[[float, Any], T],
    *,
    settings: EngineSettings = DEFAULT_SETTINGS,
    cache_base: bool | None = None,
    stats: RestoreStats | None = None,
    flat: bool | None = None,
) -> dict[float, T]:
    """For each k (ascending): restore k% into ``model`` in place, call back, then undo.

    The model's current values are the tuned ones.  Statistics are computed once
    for all k; the region's tuned values are kept in a copy on the model's device
    and written back bit for bit at the end (also when the callback raises).
    ``cache_base=None`` keeps base tensors on the device when they fit in 40% of
    the memory this process may use there.  Each k's threshold bin is resolved during its own restore
    pass (``settings.candidate_bytes`` each; larger bins are refined once, for all k,
    after pass 1).  ``stats``, when given, is filled in (passes over the base source).
    ``settings`` gives chunk size, progress, ``candidate_bytes``, ``r_dtype`` and ``r_eps``; the
    passes run on the model's device (``settings.device`` is not used).  ``flat`` restores each
    k from flat device buffers (:mod:`sftlens.restoration.flat_sweep`; the same values, a few
    kernels per k); ``None`` does so on CUDA when they fit in a quarter of the memory this
    process may use there.
    """
    ks = sorted({check_k(k) for k in ks})
    STRATEGIES.get(strategy)
    pair = _live_pair(model, base, region)
    engine = _live_engine(model, settings, stats or RestoreStats())
    _cache_base(pair, base, engine, cache_base)
    live = {n: pair.tuned.get(n) for n in pair.region}
    flat_region = _flat_region(pair, live, strategy, seed, engine, flat)
    snapshot = flat_region.snapshot(live) if flat_region else _clones(live)
    results: dict[float, T] = {}
    cuts: dict[float, Cut] = {}
    try:
        pass1 = histogram_pass(pair, strategy, seed, engine, check_all=False)
        if warning := near_zero_warning(pass1.near_zero_share(), engine.r_eps):
            log.warning("%s", warning)
        plan = {}
        if flat_region is None:
            plan = two_pass_cuts(pair, pass1, ks, strategy, seed, engine, one_k_per_pass=True)
        else:  # the flat buffers hold the base: its device cache would idle through every k
            _cached_base(pair).drop()
        for k in ks:
            if flat_region is not None:
                cuts[k] = flat_region.restore(k, pass1.hist, live)
            else:
                cuts[k] = _apply_live(pair, live, snapshot, plan[k], strategy, seed, engine)
            results[k] = callback(k, model)
    finally:
        for n, p in live.items():
            p.copy_(snapshot[n])
        engine.close()
    finish_stats(engine.stats, pair, cuts)
    return results


def _flat_wanted(flat: bool | None, pair: Pair, live: Mapping[str, torch.Tensor]) -> bool:
    """Whether the sweep restores from flat buffers: ``flat`` when given, else on CUDA when the
    region has one dtype and the buffers fit in a share of the free memory."""
    dtypes = {t.dtype for t in live.values()}
    if flat is not None:
        if flat and len(dtypes) > 1:
            raise SftlensError(
                f"flat restore needs one dtype in the region, found {sorted(map(str, dtypes))}"
            )
        return flat
    device = _model_device(live)
    if device.type != "cuda" or len(dtypes) != 1:
        return False
    need = flat_bytes(pair.n, next(iter(dtypes)).itemsize)
    return need < FLAT_MEMORY_SHARE * restore._free_bytes(device)


def _cached_base(pair: Pair) -> CachedSource:
    """The pair's base source: always the cache :func:`_live_pair` wrapped it in."""
    cached = pair.base
    assert isinstance(cached, CachedSource)
    return cached


def _clones(live: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in live.items()}


def _flat_region(
    pair: Pair,
    live: Mapping[str, torch.Tensor],
    strategy: str,
    seed: int,
    engine: Engine,
    flat: bool | None,
) -> FlatRegion | None:
    """The region's keys, base and tuned values as flat buffers on the live tensors' device, or
    None for the streaming path (:func:`_flat_wanted`)."""
    if not _flat_wanted(flat, pair, live):
        return None

    def keys_of(name: str, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        salt = tensor_salt(seed, name)
        return chunk_keys(strategy, b, t, salt, 0, engine.r_dtype, engine.r_eps)[0]

    engine.stats.passes.append("flat: keys, base and tuned values in device memory")
    return FlatRegion.build(pair.region, live, pair.base.get, keys_of)


def _live_engine(model: Any, settings: EngineSettings, stats: RestoreStats) -> Engine:
    """The engine of the passes, on the model's device."""
    dev = _model_device(model)
    return Engine(
        dev, chunk_size(dev, settings.chunk_elems), settings.progress,
        candidate_bytes=settings.candidate_bytes, stats=stats, r_dtype=settings.r_dtype,
        r_eps=settings.r_eps,
    )  # fmt: skip


def _cache_base(pair: Pair, base: TensorSource, engine: Engine, cache: bool | None) -> None:
    """Keep the region's base tensors on the engine's device (``None``: when they fit in 40% of
    its free memory)."""
    cached = _cached_base(pair)
    region_bytes = sum(base.nbytes(n) for n in pair.region)
    if cache is None:
        cache = region_bytes < 0.4 * restore._free_bytes(engine.device)
    if cache:
        cached.device, cached.cacheable = engine.device, set(pair.region)
        cached.budget = CacheBudget(region_bytes)


def _apply_live(
    pair: Pair,
    live: Mapping[str, torch.Tensor],
    snapshot: Mapping[str, torch.Tensor],
    planned: Cut | Pending,
    strategy: str,
    seed: int,
    engine: Engine,
) -> Cut:
    """Set every live region tensor to where(selected, base, tuned snapshot); the exact cut.

    A pending cut restores the elements above its bin in the pass, then patches in
    the chosen elements of the bin.
    """
    pending, cand = None, None
    if isinstance(planned, Pending):
        pending, cut = planned, planned.sure
        cand = BinCandidates(planned.bin, engine.device)
    else:
        cut = planned
    ties = 0
    get = lambda n: (pair.base.get(n),)  # noqa: E731
    for name, (b,) in engine.fetch(pair.region, get, f"restore k={planned.count}"):
        salt = tensor_salt(seed, name)
        dst = live[name].view(-1)
        for off, (bb, tt) in engine.chunks(b, snapshot[name]):
            keys, _ = chunk_keys(strategy, bb, tt, salt, off, engine.r_dtype, engine.r_eps)
            if cand is not None:
                cand.add(name, off, keys, bb)
            mask, ties = apply_cut(keys, cut, ties)
            dst[off : off + bb.numel()].copy_(torch.where(mask, bb.to(tt.dtype), tt))
    if ties != cut.ties:
        raise RuntimeError(f"restore: took {ties} ties, expected {cut.ties}")
    if pending is None or cand is None:
        return cut
    engine.held(cand.count, cand.nbytes)
    t0 = time.perf_counter()
    exact = cand.resolve(pending)
    for name, idx, vals in cand.chosen(exact):
        dst = live[name].view(-1)
        dst[idx.to(dst.device)] = vals.to(dst.device, dst.dtype)
    engine.stats.patch_seconds += time.perf_counter() - t0
    return exact


def sweep_evaluate(
    model: Any,
    base: TensorSource,
    ks: Sequence[float],
    strategy: str,
    region: str,
    seed: int,
    evaluations: Mapping[str, Any],
    *,
    settings: EngineSettings = DEFAULT_SETTINGS,
    timing: dict[str, float] | None = None,
    flat: bool | None = None,
) -> dict[float, dict[str, Any]]:
    """Evaluate the restored model of every k on prepared evaluations: ``{k: {name: EvalResult}}``.

    ``evaluations`` maps a name to a :class:`sftlens.evaluation.PreparedEvaluation` (facts
    chosen, prompts formatted and tokenised once for all k).  Each k's restored values are
    swapped into ``model`` in place (:func:`sweep_inplace`), so every k is evaluated by the
    same model object with the same batch plan: the results equal those of evaluating each
    restored checkpoint on its own.  ``timing``, when given, receives ``evaluate`` (seconds
    spent evaluating) and ``restore`` (the rest of the sweep); ``flat`` as in
    :func:`sweep_inplace`.
    """
    spent = {"evaluate": 0.0}
    dev = _model_device(model)

    def evaluate(k: float, live: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        found = {name: prepared.run(live) for name, prepared in evaluations.items()}
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        spent["evaluate"] += time.perf_counter() - t0
        return found

    t0 = time.perf_counter()
    found = sweep_inplace(
        model, base, ks, strategy, region, seed, evaluate, settings=settings, flat=flat
    )
    if timing is not None:
        timing["evaluate"] = spent["evaluate"]
        timing["restore"] = time.perf_counter() - t0 - spent["evaluate"]
    return found
