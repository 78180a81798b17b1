"""The study's unit graph: the pre-grid waves (probe, select, base-eval), then one group per cell.

The pre-grid phase is a list of *waves*: the units of one wave are independent of each
other and may run on any process; a wave starts when the previous one is finished.  The
cells (fine-tune + every unit that needs the tuned model in memory) are built only after
the pre-grid phase, so their keys may depend on its outputs.  :func:`build_units` is the
whole graph in sequential order.

Example::

    ctx = StudyContext(cfg, RunDir("runs/x"))
    Scheduler(ctx.run_dir).run(build_units(ctx))
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from sftlens.config import dump_config
from sftlens.restoration import EPS
from sftlens.runstore import content_hash, file_hash
from sftlens.study.config import StudyConfig
from sftlens.study.context import SCHEMA_VERSION, Cell, StudyContext, model_fingerprint
from sftlens.study.controls import control_units
from sftlens.study.lr_calibration import CALIBRATE, calibrate_unit, calibrated, chosen_lr
from sftlens.study.scheduler import Unit
from sftlens.study.units import (
    probe_chunks,
    run_base_eval,
    run_diff,
    run_eval,
    run_finetune,
    run_kl,
    run_probe_chunk,
    run_probe_merge,
    run_restore,
    run_select,
)

CHUNK_PREFIX = "probe/chunk-"


@dataclass(frozen=True)
class CellUnits:
    """One cell of the grid and its units (the fine-tune first)."""

    cell: Cell
    units: list[Unit]
    restored: bool


def cells_of(cfg: StudyConfig) -> list[Cell]:
    return [
        Cell(lv, size, seed)
        for lv in cfg.grid.levels
        for size in cfg.grid.sizes
        for seed in cfg.grid.seeds
    ]


def probe_key(cfg: StudyConfig) -> str:
    """Key of the probe: base model files, data spec, split preset, probe section."""
    probe_inputs = {"v": SCHEMA_VERSION, "model": model_fingerprint(cfg.base_model()), "data": cfg.data_spec(),
                    "preset": cfg.split_preset, "eval_sets": cfg.eval_sets, "probe": cfg.probe.given(), "dtype": cfg.dtype,
                    "test_per_relation": cfg.test_per_relation}  # fmt: skip
    if cfg.backend != "hf":  # another engine samples differently (the default is left out)
        probe_inputs["backend"] = cfg.backend
    if cfg.deterministic:  # other kernels, other numbers on CUDA (every key hangs off this one)
        probe_inputs["deterministic"] = True
    files = [f for f in (cfg.relations, *cfg.aliases) if f and Path(f).is_file()]
    if files or cfg.aliases or cfg.limit:  # only when set, like the backend
        probe_inputs["data_options"] = {"limit": cfg.limit, "aliases": cfg.aliases,
                                        "files": {f: file_hash(f) for f in files}}  # fmt: skip
    if cfg.lr_auto():  # the dev facts are probed too
        probe_inputs["calibrate_dev"] = True
    return content_hash(probe_inputs)


def set_key(cfg: StudyConfig) -> str:
    """A set is a pure function of (mastery, select settings, its cell), not of the rest of the
    grid: fine-tunes key on this, so growing the grid re-trains only the new cells."""
    return content_hash({"probe": probe_key(cfg), "select": cfg.select.given()})


def pregrid_waves(ctx: StudyContext) -> list[list[Unit]]:
    """The units before the grid, in waves of mutually independent units."""
    cfg = ctx.cfg
    cells = cells_of(cfg)
    pkey = probe_key(cfg)
    select_key = content_hash(
        {"probe": pkey, "grid": dump_config(cfg.grid), "select": cfg.select.given()}
    )
    base_key = content_hash({"probe": pkey, "evaluate": cfg.evaluate.given(), "sets": cfg.eval_sets,
                             "per_question": True})  # fmt: skip
    chunks = probe_units(ctx, pkey)
    waves = [
        chunks[:-1],
        chunks[-1:],
        [
            Unit("select", select_key, lambda out, _: run_select(ctx, cells, out)),
            Unit("base/eval", base_key, lambda out, _: run_base_eval(ctx, out)),
        ],
    ]
    if cfg.lr_auto():  # the grid's fine-tunes key on the lr it chooses (checks the dev split now)
        waves.append([calibrate_unit(ctx, pkey)])
    return waves


def grid_cells(ctx: StudyContext) -> list[CellUnits]:
    """Every cell of the grid with its units, in grid order, then the control cells
    (:mod:`sftlens.study.controls`; their rows go to ``results/controls`` only)."""
    cfg = ctx.cfg
    skey = set_key(cfg)
    restored = {str(s) for s in cfg.restored_sizes()}
    cells = [
        CellUnits(cell, cell_units(ctx, cell, skey, str(cell.size) in restored), str(cell.size) in restored)
        for cell in cells_of(cfg)
    ]  # fmt: skip
    return cells + [CellUnits(cc.cell, units, False) for cc, units in control_units(ctx, skey)]


def build_units(ctx: StudyContext) -> list[Unit]:
    """Every unit of the study in sequential execution order; keys chain through their inputs."""
    units = [u for wave in pregrid_waves(ctx) for u in wave]
    if ctx.cfg.lr_auto() and not calibrated(ctx, probe_key(ctx.cfg)):
        return units  # the cells' keys need the calibrated lr
    return units + [u for c in grid_cells(ctx) for u in c.units]


def _chunk_body(
    ctx: StudyContext, chunk: list[Any], out: Path, _: dict[str, Any]
) -> dict[str, Any]:
    return run_probe_chunk(ctx, chunk, out)


def _tuned_body(
    run: Any, ctx: StudyContext, cell: Cell, ft: str, out: Path, v: dict[str, Any]
) -> dict[str, Any]:
    return run(ctx, cell, v[ft], out)  # type: ignore[no-any-return]


def _restore_body(
    ctx: StudyContext, cell: Cell, ft: str, strategy: str, region: str, out: Path, v: dict[str, Any]
) -> dict[str, Any]:
    return run_restore(ctx, cell, v[ft], strategy, region, out)


def probe_units(ctx: StudyContext, probe_key: str) -> list[Unit]:
    """One unit per chunk of facts (so a long probe resumes), then ``probe`` merges them."""
    chunks = probe_chunks(ctx)
    units, names = [], []
    for i, chunk in enumerate(chunks):
        name = f"{CHUNK_PREFIX}{i:04d}"
        key = content_hash({"probe": probe_key, "ids": [f.id for f in chunk]})
        body = partial(_chunk_body, ctx, chunk)
        units.append(Unit(name, key, body))
        names.append(name)
    units.append(Unit("probe", probe_key, lambda out, _: run_probe_merge(ctx, names, out)))
    return units


def r_eps_key(cfg: StudyConfig) -> dict[str, float]:
    """``restore.r_eps`` in the keys of the units that rank by r, when it is not the paper's."""
    return {} if cfg.restore.r_eps == EPS else {"r_eps": cfg.restore.r_eps}


def cell_units(ctx: StudyContext, cell: Cell, set_key: str, restore: bool) -> list[Unit]:
    """The cell's fine-tune, then the units that read the tuned model in memory."""
    cfg = ctx.cfg
    ft = f"{cell.name}/finetune"
    section = cfg.finetune.given()
    lr: float | None = None
    if cfg.lr_auto():  # resolved here, once, to the calibrated lr (which the key hashes)
        lr = section["lr"] = chosen_lr(ctx)
    ft_key = content_hash({"sets": set_key, "cell": cell.name, "finetune": section})
    ev_key = content_hash({"ft": ft_key, "evaluate": cfg.evaluate.given(), "sets": cfg.eval_sets,
                           "per_question": True})  # fmt: skip
    units = [
        Unit(ft, ft_key, lambda out, _: run_finetune(ctx, cell, out, lr), memory=True),
        Unit(f"{cell.name}/eval", ev_key, lambda out, v: run_eval(ctx, cell, v[ft], out), needs=(ft,)),
    ]  # fmt: skip
    if cfg.kl_enabled:
        key = content_hash({"ft": ft_key, "kl": cfg.token_kl.given(), "sets": cfg.eval_sets,
                            "per_fact": True})  # fmt: skip
        body = partial(_tuned_body, run_kl, ctx, cell, ft)
        units.append(Unit(f"{cell.name}/kl", key, body, needs=(ft,)))
    if cfg.diff_stats.enabled:
        key = content_hash({"ft": ft_key, "diff": dump_config(cfg.diff_stats), **r_eps_key(cfg)})
        body = partial(_tuned_body, run_diff, ctx, cell, ft)
        units.append(Unit(f"{cell.name}/diff", key, body, needs=(ft,)))
    return units + (restore_units(ctx, cell, ft, ev_key) if restore else [])


def restore_units(ctx: StudyContext, cell: Cell, ft: str, ev_key: str) -> list[Unit]:
    """One restore sweep (every k, evaluated) per strategy and region of the cell's fine-tune."""
    cfg = ctx.cfg.restore
    units = []
    for strategy in cfg.strategies:
        for region in cfg.regions:
            key = content_hash({"ev": ev_key, "ks": cfg.ks, "strategy": strategy, "region": region,
                                "seed": cfg.seed, **r_eps_key(ctx.cfg)})  # fmt: skip
            name = f"{cell.name}/restore-{strategy}-{region}".replace("=", "").replace("*", "x")
            body = partial(_restore_body, ctx, cell, ft, strategy, region)
            units.append(Unit(name, key, body, needs=(ft,)))
    return units


#: the kinds of unit the graph builds, in execution order
UNIT_KINDS = (
    "probe chunk", "probe merge", "select", "base eval", "calibrate",
    "finetune", "eval", "kl", "diff", "restore sweep",
)  # fmt: skip
_FIXED_KINDS = {"probe": "probe merge", "select": "select", "base/eval": "base eval",
                CALIBRATE: "calibrate"}  # fmt: skip


def unit_kind(name: str) -> str:
    """The kind (:data:`UNIT_KINDS`) of the unit called ``name``; ``other`` for a name the graph
    does not build."""
    if name.startswith(CHUNK_PREFIX):
        return "probe chunk"
    if name in _FIXED_KINDS:
        return _FIXED_KINDS[name]
    cell, _, unit = name.partition("/")
    if not cell.startswith("L") or not unit:
        return "other"
    if unit.startswith("restore-"):
        return "restore sweep"
    return unit if unit in ("finetune", "eval", "kl", "diff") else "other"
