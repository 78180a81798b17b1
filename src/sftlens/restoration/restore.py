"""Restore the top/bottom/random k% of updated weights to their base values, streaming.

``restore_checkpoint`` reads both checkpoints tensor by tensor three times
(histogram, threshold refinement, write) and writes a sharded safetensors
checkpoint where the selected elements take the base value and every other
element keeps the tuned value bit for bit.  ``restore_many`` does the same for
several k with one set of passes.  ``sweep_inplace`` restores into a live model
for each k, calls back, and undoes exactly.

Example::

    restore_checkpoint("runs/base", "runs/ft", "runs/ft-r10", k=10, strategy="top")
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from sftlens.errors import SftlensError
from sftlens.restoration.scan import (
    Engine,
    Pair,
    check_pair,
    chunk_keys,
    exact_cuts,
    histogram_pass,
)
from sftlens.restoration.select import STRATEGIES, Cut, apply_cut, tensor_salt
from sftlens.restoration.tensors import (
    ShardedWriter,
    TensorSource,
    copy_aux_files,
    source_from_dir,
    source_from_model,
)
from sftlens.runstore import atomic_path

log = logging.getLogger(__name__)
T = TypeVar("T")


def check_k(k: float) -> float:
    if not 0 < float(k) <= 100:
        raise SftlensError(f"k={k} is outside (0, 100]")
    return float(k)


def check_out(out: Path, inputs: Sequence[Path], force: bool) -> Path:
    """``--out`` must differ from the inputs and be empty unless ``force``."""
    out = Path(out)
    for p in inputs:
        if out.resolve() == Path(p).resolve():
            raise SftlensError(f"--out {out} is the same directory as input {p}")
        if Path(p).resolve() in out.resolve().parents:
            raise SftlensError(f"--out {out} is inside input {p}")
    if out.exists() and not out.is_dir():
        raise SftlensError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise SftlensError(f"--out {out} is not empty; pass --force to replace it")
    return out


def open_pair(base_dir: str | Path, tuned_dir: str | Path, region: str) -> Pair:
    """Open both checkpoint dirs lazily and check that they match."""
    return check_pair(source_from_dir(base_dir), source_from_dir(tuned_dir), region)


def plan_cuts(
    pair: Pair, ks: Sequence[float], strategy: str, seed: int, engine: Engine
) -> dict[float, Cut]:
    """Pass 1 (histogram + NaN/Inf checks) and the refinement pass: exact cuts of every k."""
    STRATEGIES.get(strategy)
    stats = histogram_pass(pair, strategy, seed, engine)
    return exact_cuts(pair, stats.hist, ks, strategy, seed, engine)


def _restored(
    name: str,
    b: torch.Tensor,
    t: torch.Tensor,
    cuts: Mapping[float, Cut],
    ties: dict[float, int],
    strategy: str,
    seed: int,
    engine: Engine,
) -> dict[float, torch.Tensor]:
    """Restored copies of one tensor for every k (CPU, stored dtype)."""
    outs = {k: torch.empty_like(t, device="cpu") for k in cuts}
    salt = tensor_salt(seed, name)
    for off, (bb, tt) in engine.chunks(b, t):
        keys, _ = chunk_keys(strategy, bb, tt, salt, off)
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
    cuts: Mapping[float, Cut],
    outs: Mapping[float, Path],
    strategy: str,
    seed: int,
    engine: Engine,
    max_shard_bytes: int,
) -> None:
    """Pass 2: stream both models once and write one checkpoint per k."""
    plan = [(n, pair.tuned.dtype(n), pair.tuned.shape(n)) for n in pair.names]
    writers = {k: ShardedWriter(outs[k], plan, max_shard_bytes) for k in cuts}
    region = set(pair.region)
    ties = dict.fromkeys(cuts, 0)
    get = lambda n: (pair.base.get(n), pair.tuned.get(n))  # noqa: E731
    for name, (b, t) in engine.fetch(pair.names, get, "pass 2: restore"):
        if name not in region:
            for w in writers.values():
                w.write(name, t)
            continue
        for k, res in _restored(name, b, t, cuts, ties, strategy, seed, engine).items():
            writers[k].write(name, res)
    for k, w in writers.items():
        if ties[k] != cuts[k].ties:
            raise RuntimeError(f"k={k}: took {ties[k]} ties, expected {cuts[k].ties}")
        w.finish()


def restore_many(
    base_dir: str | Path,
    tuned_dir: str | Path,
    outs: Mapping[float, str | Path],
    strategy: str = "top",
    region: str = "transformer",
    seed: int = 0,
    *,
    force: bool = False,
    device: str = "auto",
    chunk_elems: int = 0,
    max_shard_bytes: int = 2_000_000_000,
    progress: bool = True,
) -> dict[float, Path]:
    """Restore for several k with shared passes; ``outs`` maps k to its output dir."""
    ks = [check_k(k) for k in outs]
    paths = {
        float(k): check_out(Path(p), [Path(base_dir), Path(tuned_dir)], force)
        for k, p in outs.items()
    }
    pair = open_pair(base_dir, tuned_dir, region)
    engine = Engine.create(device, chunk_elems, progress)
    cuts = plan_cuts(pair, ks, strategy, seed, engine)
    with _atomic_dirs(list(paths.values())) as tmps:
        tmp_of = dict(zip(paths, tmps, strict=True))
        write_restored(pair, cuts, tmp_of, strategy, seed, engine, max_shard_bytes)
        for tmp in tmps:
            copy_aux_files([Path(base_dir), Path(tuned_dir)], tmp)
    for k, cut in cuts.items():
        log.info(
            "k=%g: restored %d of %d elements (%s, %s) -> %s",
            k,
            cut.count,
            pair.n,
            strategy,
            region,
            paths[k],
        )
    return paths


class _atomic_dirs:
    """Several ``atomic_path`` contexts at once (all renamed on success, none on failure)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._ctx = [atomic_path(p) for p in paths]

    def __enter__(self) -> list[Path]:
        return [c.__enter__() for c in self._ctx]

    def __exit__(self, *exc: Any) -> None:
        for c in reversed(self._ctx):
            c.__exit__(*exc)


def restore_checkpoint(
    base_dir: str | Path,
    tuned_dir: str | Path,
    out: str | Path,
    k: float,
    strategy: str = "top",
    region: str = "transformer",
    seed: int = 0,
    **kwargs: Any,
) -> Path:
    """Write ``out``: the tuned checkpoint with k% of the region's elements set to base.

    Keyword options: ``force``, ``device``, ``chunk_elems``, ``max_shard_bytes``, ``progress``.
    """
    return restore_many(base_dir, tuned_dir, {check_k(k): out}, strategy, region, seed, **kwargs)[
        float(k)
    ]


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
    return check_pair(_Cached(base, names), live, region, same_dtypes=False)


class _Cached(TensorSource):
    """``base`` restricted to ``keep`` names, optionally kept on a device after first use."""

    def __init__(self, base: TensorSource, keep: set[str]) -> None:
        self._base = base
        self._names = [n for n in base.names() if n in keep]
        self.arch = base.arch
        self.cache: dict[str, torch.Tensor] | None = None
        self.device: torch.device | None = None

    def names(self) -> list[str]:
        return list(self._names)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._base.shape(name)

    def dtype(self, name: str) -> torch.dtype:
        return self._base.dtype(name)

    def get(self, name: str) -> torch.Tensor:
        if self.cache is not None and name in self.cache:
            return self.cache[name]
        t = self._base.get(name)
        if self.cache is not None and self.device is not None:
            t = t.to(self.device, copy=True)
            self.cache[name] = t
        return t


def _free_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    import os

    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError):
        return 0


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
    chunk_elems: int = 0,
    cache_base: bool | None = None,
    progress: bool = True,
) -> dict[float, T]:
    """For each k (ascending): restore k% into ``model`` in place, call back, then undo.

    The model's current values are the tuned ones.  Statistics are computed once
    for all k; the region's tuned values are kept in a copy on the model's device
    and written back bit for bit at the end (also when the callback raises).
    ``cache_base=None`` keeps base tensors on the device when they fit in 40% of
    its free memory.
    """
    ks = sorted({check_k(k) for k in ks})
    STRATEGIES.get(strategy)
    pair = _live_pair(model, base, region)
    engine = Engine(_model_device(model), 0, progress)
    engine.chunk = Engine.create(engine.device.type, chunk_elems).chunk
    cached = pair.base
    assert isinstance(cached, _Cached)
    region_bytes = sum(base.nbytes(n) for n in pair.region)
    if cache_base is None:
        cache_base = region_bytes < 0.4 * _free_bytes(engine.device)
    if cache_base:
        cached.cache, cached.device = {}, engine.device
    live = {n: pair.tuned.get(n) for n in pair.region}
    snapshot = {n: p.detach().clone() for n, p in live.items()}
    results: dict[float, T] = {}
    try:
        stats = histogram_pass(pair, strategy, seed, engine, check_all=False)
        cuts = exact_cuts(pair, stats.hist, ks, strategy, seed, engine)
        for k in ks:
            _apply_live(pair, live, snapshot, cuts[k], strategy, seed, engine)
            results[k] = callback(k, model)
    finally:
        for n, p in live.items():
            p.copy_(snapshot[n])
    return results


def _apply_live(
    pair: Pair,
    live: Mapping[str, torch.Tensor],
    snapshot: Mapping[str, torch.Tensor],
    cut: Cut,
    strategy: str,
    seed: int,
    engine: Engine,
) -> None:
    """Set every live region tensor to where(selected, base, tuned snapshot)."""
    ties = 0
    get = lambda n: (pair.base.get(n),)  # noqa: E731
    for name, (b,) in engine.fetch(pair.region, get, f"restore k={cut.count}"):
        salt = tensor_salt(seed, name)
        dst = live[name].view(-1)
        for off, (bb, tt) in engine.chunks(b, snapshot[name]):
            keys, _ = chunk_keys(strategy, bb, tt, salt, off)
            mask, ties = apply_cut(keys, cut, ties)
            dst[off : off + bb.numel()].copy_(torch.where(mask, bb.to(tt.dtype), tt))
