"""CLI entries of the restoration stages: ``restore``, ``restore-sweep``, ``sparsify``
(``diff-stats``: :mod:`sftlens.restoration.stats_stage`).

Example::

    sftlens restore --base runs/base --tuned runs/ft --out runs/r10 --k 10 --strategy top
    sftlens restore-sweep --base runs/base --tuned runs/ft --out runs/sweep --k 1,3,5,10,20,40,60 \\
        --data world:runs/world --mastery runs/probe/mastery.parquet
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sftlens.config import dump_config
from sftlens.errors import ConfigError
from sftlens.outdir import check_out_dir, input_paths, staged_out_dir
from sftlens.restoration.config import (
    EngineConfig,
    RestoreConfig,
    SparsifyConfig,
    SweepConfig,
)
from sftlens.restoration.settings import EngineSettings
from sftlens.runstore import atomic_write_json
from sftlens.tableio import write_table

log = logging.getLogger(__name__)
C = TypeVar("C", bound=EngineConfig)


def _need_inputs(cfg: C) -> tuple[C, dict[str, Any]]:
    """``cfg`` with ``base`` and ``tuned`` resolved to local dirs (hub ids via the HF cache,
    GGUF files via their dequantized cache), and the GGUF sources for the manifest."""
    from sftlens.gguf_source import gguf_provenance
    from sftlens.models import resolve_checkpoint

    for key in ("base", "tuned"):
        if not getattr(cfg, key):
            raise ConfigError(f"--{key} is required (the {key} checkpoint dir)")
    sources: dict[str, Any] = {}
    for key in ("base", "tuned"):
        record = gguf_provenance(getattr(cfg, key))
        if record is not None:
            sources[key] = {**record, "compared_as": f"dequantized {record['dtype']} checkpoint"}
            log.info("%s model: the dequantized %s checkpoint of %s", key, record["dtype"],
                     record["gguf"])  # fmt: skip
    dirs = {key: str(resolve_checkpoint(getattr(cfg, key))) for key in ("base", "tuned")}
    return cfg.model_copy(update=dirs), sources


@dataclass
class RestoreResult:
    out: Path
    k: float
    strategy: str
    region: str
    count: int
    n: int
    seconds: float

    def summary(self) -> str:
        return (
            f"restored {self.count:,} of {self.n:,} elements ({self.k:g}% {self.strategy}, "
            f"region {self.region}) in {self.seconds:.1f}s -> {self.out}"
        )


def run_restore(cfg: RestoreConfig, out: Path, *, force: bool = False) -> RestoreResult:
    """``sftlens restore``: write one restored checkpoint to ``out``."""
    from sftlens.restoration.restore import restore_many

    cfg, sources = _need_inputs(cfg)
    start = time.perf_counter()
    inputs = input_paths(cfg)
    check_out_dir(out, force, inputs=inputs)
    with staged_out_dir(out, force, inputs) as tmp:  # restore.json lands with the weights
        stats = restore_many(
            cfg.base,
            cfg.tuned,
            {cfg.k: tmp},
            cfg.strategy,
            cfg.region,
            cfg.seed,
            force=True,
            settings=EngineSettings.from_config(cfg),
        ).stats
        n = stats.n  # the engine's count: the checkpoints are not opened again
        result = RestoreResult(
            Path(out),
            cfg.k,
            cfg.strategy,
            cfg.region,
            stats.cuts[float(cfg.k)].count,
            n,
            time.perf_counter() - start,
        )
        atomic_write_json(
            tmp / "restore.json",
            {
                "config": dump_config(cfg),
                "sources": sources,
                "count": result.count,
                "n": n,
                "seconds": result.seconds,
                "io": stats.as_dict(),
            },
        )
    return result


@dataclass
class SweepResult:
    out: Path
    mode: str  # "evaluate" or "checkpoints"
    runs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        what = "evaluated in memory" if self.mode == "evaluate" else "checkpoints written"
        lines = [
            f"restore-sweep: {len(self.runs)} (strategy, k) {what} in {self.seconds:.1f}s -> {self.out}"
        ]
        for r in self.runs:
            acc = "".join(
                f" {name} macro {r[key]:.3f}"
                for key, name in (("macro_in", "in-domain"), ("macro_ood", "OOD"))
                if r.get(key) is not None
            )
            lines.append(f"  {r['strategy']:>6} k={r['restore_k']:g}%{acc}")
        return "\n".join(lines)


def run_sweep(cfg: SweepConfig, out: Path, *, force: bool = False) -> SweepResult:
    """``sftlens restore-sweep``: evaluate each k in memory, or write one checkpoint per k."""
    from sftlens.restoration.restore import restore_many

    cfg, sources = _need_inputs(cfg)
    if bool(cfg.data) != bool(cfg.mastery):
        raise ConfigError(
            "restore-sweep evaluates with both --data and --mastery; give both or neither"
        )
    inputs = input_paths(cfg)
    out = check_out_dir(Path(out), force, inputs=inputs)
    start = time.perf_counter()
    with staged_out_dir(out, force, inputs) as tmp:
        if cfg.data:
            result = SweepResult(out, "evaluate", _sweep_evaluate(cfg, tmp, sources))
        else:
            result = SweepResult(out, "checkpoints")
            settings = EngineSettings.from_config(cfg)
            for strategy in cfg.strategies:
                names = {k: f"{strategy}-k{k:g}" for k in cfg.ks}
                restore_many(
                    cfg.base,
                    cfg.tuned,
                    {k: tmp / name for k, name in names.items()},
                    strategy,
                    cfg.region,
                    cfg.seed,
                    force=True,
                    settings=settings,
                )
                result.runs += [
                    {"strategy": strategy, "restore_k": k, "path": str(out / name)}
                    for k, name in names.items()
                ]
            write_table(tmp / "sweep.csv", result.runs)
            manifest = {"config": dump_config(cfg), "sources": sources, "runs": result.runs}
            atomic_write_json(tmp / "sweep.json", manifest)
    result.seconds = time.perf_counter() - start
    return result


def _sweep_evaluate(cfg: SweepConfig, out: Path, sources: dict[str, Any]) -> list[dict[str, Any]]:
    """Prepare the evaluation once; restore each k into the live tuned model, evaluate, undo."""
    from sftlens.config import build_config
    from sftlens.data import load_dataset
    from sftlens.evaluation import MACRO_LEVEL, EvaluateConfig, prepare_evaluation
    from sftlens.models import load_model, load_tokenizer
    from sftlens.probing import read_levels
    from sftlens.restoration.io import source_from_dir
    from sftlens.restoration.sweep import sweep_evaluate

    eval_cfg = build_config(EvaluateConfig, dict(cfg.evaluation), source="evaluation")
    levels = read_levels(str(cfg.mastery))
    dataset = load_dataset(
        str(cfg.data), **{**eval_cfg.data_options(), "split_preset": cfg.split_preset}
    )
    facts = [f for f in dataset.select(split="test") if f.id in levels]
    model = load_model(cfg.tuned, dtype="auto", device=cfg.device, check_finite=True)
    plans = {"test": prepare_evaluation(load_tokenizer(cfg.tuned), facts, levels, eval_cfg)}
    base = source_from_dir(cfg.base)
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    settings = EngineSettings.from_config(cfg)
    for strategy in cfg.strategies:
        results = sweep_evaluate(
            model, base, cfg.ks, strategy, cfg.region, cfg.seed, plans, settings=settings
        )
        for k, found in results.items():
            res = found["test"]
            tag = {"restore_k": k, "strategy": strategy, "region": cfg.region}
            rows += [{**tag, **row} for row in res.rows]
            macro = {
                r["domain"]: r["accuracy"] for r in res.rows if r.get("test_level") == MACRO_LEVEL
            }
            runs.append(
                {
                    **tag,
                    "accuracy": macro.get("in"),
                    "macro_in": macro.get("in"),
                    "macro_ood": macro.get("ood"),
                }
            )
    write_table(out / "sweep.parquet", rows)
    write_table(out / "sweep.csv", rows)
    manifest = {"config": dump_config(cfg), "sources": sources, "runs": runs}
    atomic_write_json(out / "sweep.json", manifest)
    return runs


@dataclass
class SparsifyResult:
    out: Path
    method: str
    amount: float
    seconds: float

    def summary(self) -> str:
        return f"{self.method}({self.amount:g}) written in {self.seconds:.1f}s -> {self.out}"


def run_sparsify(cfg: SparsifyConfig, out: Path, *, force: bool = False) -> SparsifyResult:
    """``sftlens sparsify``: write the tuned checkpoint with its delta sparsified."""
    from sftlens.restoration.sparsify import sparsify_checkpoint

    cfg, _ = _need_inputs(cfg)
    start = time.perf_counter()
    path = sparsify_checkpoint(
        cfg.base,
        cfg.tuned,
        out,
        cfg.method,
        cfg.amount,
        cfg.region,
        cfg.seed,
        force=force,
        settings=EngineSettings.from_config(cfg),
    )
    return SparsifyResult(path, cfg.method, cfg.amount, time.perf_counter() - start)
