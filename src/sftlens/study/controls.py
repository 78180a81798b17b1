"""Controls the paper lacks, run beside the grid and reported apart (``results/controls``).

Example (a study config)::

    controls:
      steps_matched: true          # the smallest size, trained for as many steps as the largest
      lr_sensitivity: [1.0e-5]     # the grid again at these lrs (first seed), beside the grid's lr

* ``steps_matched``: for every level and seed, the grid's smallest size is fine-tuned for
  ``epochs × ceil(largest / batch) / ceil(smallest / batch)`` epochs, so that it takes as many
  optimizer steps as the largest size (finding 1 compares sizes at a fixed epoch count, so the
  small sets also take fewer steps).  Control name ``steps-matched``.
* ``lr_sensitivity``: every level × size of ``lr_sensitivity_seeds`` (default: the grid's first
  seed) is fine-tuned at each listed lr.  Control name ``lr=<lr>``.

A control cell reuses the grid cell's SFT set (same level, size, seed) and is evaluated like
it; its rows carry a ``control`` column and go to ``results/controls.parquet`` only, never to
``results/accuracy.parquet``, so no finding mixes them with the paper's cells.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sftlens.runstore import content_hash
from sftlens.study.scheduler import Unit
from sftlens.study.sections import ControlsConfig
from sftlens.tableio import write_table

if TYPE_CHECKING:
    from sftlens.study.config import StudyConfig
    from sftlens.study.context import Cell, StudyContext

STEPS_MATCHED = "steps-matched"


@dataclass(frozen=True)
class ControlCell:
    """A grid cell trained with other fine-tune settings (``changes``) under ``control``."""

    control: str
    cell: Cell
    changes: dict[str, Any]

    @property
    def name(self) -> str:
        return f"controls/{self.control}/{self.cell.name}"


def steps_matched_epochs(epochs: int, batch: int, smallest: int, largest: int) -> int:
    """Epochs that give the smallest size as many optimizer steps as the largest at ``epochs``."""
    steps_large = epochs * math.ceil(largest / batch)
    return max(epochs, round(steps_large / math.ceil(smallest / batch)))


def control_cells(cfg: StudyConfig, finetune: dict[str, Any]) -> list[ControlCell]:
    """Every control cell of ``cfg`` (``finetune``: the grid's resolved finetune section)."""
    from sftlens.finetuning import FinetuneConfig
    from sftlens.study.context import Cell

    ctl: ControlsConfig = cfg.controls
    out: list[ControlCell] = []
    sizes = [s for s in cfg.grid.sizes if isinstance(s, int)]
    if ctl.steps_matched and len(sizes) > 1:
        ft = FinetuneConfig.model_validate({"model": "-", "train": "-", **finetune})
        batch = ft.batch_size * ft.grad_accum
        epochs = steps_matched_epochs(ft.epochs, batch, min(sizes), max(sizes))
        out += [
            ControlCell(STEPS_MATCHED, Cell(lv, min(sizes), seed), {"epochs": epochs})
            for lv in cfg.grid.levels
            for seed in cfg.grid.seeds
        ]
    seeds = ctl.lr_sensitivity_seeds or cfg.grid.seeds[:1]
    for lr in ctl.lr_sensitivity:
        out += [
            ControlCell(f"lr={lr:g}", Cell(lv, size, seed), {"lr": lr})
            for lv in cfg.grid.levels
            for size in cfg.grid.sizes
            for seed in seeds
        ]
    return out


def control_units(ctx: StudyContext, set_key: str) -> list[tuple[ControlCell, list[Unit]]]:
    """Fine-tune + evaluate units of every control cell (no restore, KL or diff)."""
    from sftlens.study.lr_calibration import chosen_lr

    section = ctx.cfg.finetune.given()
    if ctx.cfg.lr_auto():  # the grid's calibrated lr, as the grid's cells hash it
        section["lr"] = chosen_lr(ctx)
    groups = []
    for cc in control_cells(ctx.cfg, section):
        changed = {**section, **cc.changes}
        ft, ft_key = f"{cc.name}/finetune", content_hash({"sets": set_key, "cell": cc.cell.name,
                                                          "finetune": changed})  # fmt: skip
        ev_key = content_hash({"ft": ft_key, "evaluate": ctx.cfg.evaluate.given(),
                               "sets": ctx.cfg.eval_sets, "control": cc.control})  # fmt: skip
        units = [
            Unit(ft, ft_key, _finetune_body(ctx, cc, changed), memory=True),
            Unit(f"{cc.name}/eval", ev_key, _eval_body(ctx, cc, ft, changed), needs=(ft,)),
        ]
        groups.append((cc, units))
    return groups


def _finetune_config(ctx: StudyContext, cc: ControlCell, changed: dict[str, Any]) -> Any:
    """The stage config of a control cell: the grid's finetune section with its changes."""
    section = type(ctx.cfg.finetune).model_validate(changed)
    study = ctx.cfg
    return section.config(**ctx.common(), model=study.base_model(), seed=cc.cell.seed)


def _finetune_body(ctx: StudyContext, cc: ControlCell, changed: dict[str, Any]) -> Any:
    def body(out: Path, _: dict[str, Any]) -> Any:
        from sftlens.finetuning import finetune

        cfg = _finetune_config(ctx, cc, changed)
        model = copy.deepcopy(ctx.base())
        result = finetune(model, ctx.tokenizer(), ctx.set_examples(cc.cell), cfg, progress=True)
        result.model.eval()
        write_table(out / "log.jsonl", result.log)
        return result.model

    return body


def _eval_body(ctx: StudyContext, cc: ControlCell, ft: str, changed: dict[str, Any]) -> Any:
    def body(out: Path, values: dict[str, Any]) -> dict[str, Any]:
        from sftlens.study.units import cell_accuracy_rows

        ft_cfg = _finetune_config(ctx, cc, changed)
        size = len(ctx.set_examples(cc.cell))
        rows, _ = cell_accuracy_rows(ctx, values[ft], cc.cell, size, (0.0, "none", "none"))
        extra = {"control": cc.control, "lr": float(ft_cfg.lr), "epochs": int(ft_cfg.epochs)}
        write_table(out / "controls.parquet", [{**extra, **r} for r in rows])
        return {"rows": len(rows)}

    return body
