"""The study's ``calibrate`` unit (``finetune.lr: auto``): choose the grid's lr on dev facts.

It runs after ``probe`` and ``select`` and before any grid fine-tune.  The grid's
fine-tune units exist only once it is done: the graph reads the chosen lr once
(:func:`chosen_lr`, from ``units/calibrate/choice.json``) and the fine-tune keys hash it,
so a finished calibration is reused on resume, and a change of the lr grid re-trains
whatever the new choice changes.

Example::

    unit = calibrate_unit(ctx, probe_key)            # Unit("calibrate", key, run_calibrate)
    lr = chosen_lr(ctx)                              # 1e-4, once calibrated
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sftlens.errors import SftlensError
from sftlens.runstore import content_hash
from sftlens.study.scheduler import Unit

if TYPE_CHECKING:
    from sftlens.study.context import StudyContext

CALIBRATE = "calibrate"
CHOICE = "choice.json"


def calibrate_key(ctx: StudyContext, probe_key: str) -> str:
    """Everything the choice depends on: mastery, lr grid, set, training and evaluation settings."""
    cfg = ctx.cfg
    return content_hash(
        {"probe": probe_key, "calibrate": cfg.calibrate.given(), "size": cfg.calibration_size(),
         "select": cfg.select.given(), "finetune": cfg.finetune.given(),
         "evaluate": cfg.evaluate.given()}
    )  # fmt: skip


def calibrate_unit(ctx: StudyContext, probe_key: str) -> Unit:
    """The pre-grid unit; checks up front that the data has a dev split."""
    from sftlens.calibration import check_dev_split

    check_dev_split(ctx.dataset().facts, ctx.cfg.data_spec())
    return Unit(CALIBRATE, calibrate_key(ctx, probe_key), lambda out, _: run_calibrate(ctx, out))


def calibrated(ctx: StudyContext, probe_key: str) -> bool:
    """Whether the calibration with the current settings is finished."""
    return ctx.run_dir.unit_done(CALIBRATE, calibrate_key(ctx, probe_key))


def chosen_lr(ctx: StudyContext) -> float:
    """The lr of the finished calibration (read lazily, so any worker process can call it)."""
    from sftlens.calibration import read_choice

    path = ctx.run_dir.unit_dir(CALIBRATE)
    if not (path / CHOICE).is_file():
        raise SftlensError(f"{path / CHOICE} not found: the calibrate unit must run first")
    return read_choice(path)


def run_calibrate(ctx: StudyContext, out: Path) -> dict[str, Any]:
    """Fine-tune a mixed set of the grid's middle size once per lr; score on dev; write the choice."""
    from sftlens.calibration import calibrate_lr, write_calibration

    cfg = ctx.cfg
    size = cfg.calibration_size()
    allow_smaller = cfg.select.allow_smaller
    common = ctx.common()
    section = cfg.calibrate.config(**common, size=size, allow_smaller=allow_smaller)
    finetune_cfg = cfg.finetune.config(**common, model=cfg.base_model())  # lr: one per grid lr
    pool = [f for f in ctx.probed_facts() if f.domain == "in" and f.split == "train"]
    cal = calibrate_lr(
        ctx.base(), ctx.tokenizer(), pool, ctx.eval_facts("dev"), ctx.levels(),
        lrs=section.lrs, size=None if size == "all" else int(size), seed=section.seed,
        finetune_cfg=finetune_cfg, evaluate_cfg=cfg.evaluate.config(**common, split="dev"),
        allow_smaller=allow_smaller,
    )  # fmt: skip
    write_calibration(cal, out, {"lrs": section.lrs, "size": size, "seed": section.seed})
    return {"lr": cal.lr, "n_train": cal.n_train}
