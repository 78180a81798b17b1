"""``sftlens calibrate``: choose the fine-tuning lr on dev facts; write the table and the choice.

Example::

    sftlens calibrate --model runs/world/model --data world:runs/world \
        --mastery runs/probe/mastery.parquet --out runs/calib size=120

Writes ``calibration.parquet`` / ``calibration.csv`` (one row per lr: dev macro accuracy
in-domain and OOD, per-level accuracies, ``chosen``), ``choice.json`` and ``manifest.json``.
The data and the mastery table are checked before anything is written or trained.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftlens.calibration.calibrate import (
    MIXED_LEVEL,
    Calibration,
    calibrate_lr,
    check_dev_split,
    dev_facts,
)
from sftlens.calibration.config import CalibrateConfig
from sftlens.calibration.rule import SCORE
from sftlens.config import dump_config, require_keys
from sftlens.outdir import check_out_dir, discard_if_new, ensure_out_dir, input_paths
from sftlens.runstore import RunDir, atomic_write_json
from sftlens.tableio import write_table

log = logging.getLogger(__name__)
RULE = (
    "best dev macro accuracy in-domain (mean of the five per-level accuracies); "
    "ties -> the smaller lr"
)


@dataclass
class CalibrateResult:
    """The calibration and where it was written."""

    out: Path
    calibration: Calibration
    files: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> str:
        return "\n".join(
            [format_calibration(self.calibration), *(f"{k}: {v}" for k, v in self.files.items())]
        )


def _pct(x: float) -> str:
    return "    -" if math.isnan(x) else f"{100 * x:5.1f}"


def format_calibration(cal: Calibration) -> str:
    """Plain-text table: lr, dev macro in / OOD, in-domain per-level accuracies (%), choice."""
    head = f"{'lr':>9} {'macro in':>9} {'macro ood':>9}  " + " ".join(
        f"{'L' + str(i):>5}" for i in range(5)
    )
    lines = [
        f"calibration on {cal.n_train} mixed samples; dev accuracy (%), levels in-domain",
        head,
    ]
    for r in cal.rows:
        levels = " ".join(_pct(float(r[f"in_L{i}"])) for i in range(5))
        mark = "  <- chosen" if r["chosen"] else ""
        lines.append(
            f"{r['lr']:>9.2g} {_pct(r[SCORE]):>9} {_pct(r['dev_macro_ood']):>9}  {levels}{mark}"
        )
    lines.append(f"chosen lr: {cal.lr:g} ({RULE})")
    return "\n".join(lines)


def write_calibration(cal: Calibration, out: Path, settings: dict[str, Any]) -> dict[str, Path]:
    """Write ``calibration.parquet``, ``calibration.csv`` and ``choice.json`` atomically."""
    choice = {"lr": cal.lr, "rule": RULE, "n_train": cal.n_train, "level": MIXED_LEVEL, **settings}
    return {
        "table": write_table(out / "calibration.parquet", cal.rows),
        "csv": write_table(out / "calibration.csv", cal.rows),
        "choice": atomic_write_json(out / "choice.json", choice),
    }


def read_choice(out: Path) -> float:
    """The chosen lr from a calibration's ``choice.json``."""
    return float(json.loads((out / "choice.json").read_text())["lr"])


def run(cfg: CalibrateConfig, out: Path, *, force: bool = False) -> CalibrateResult:
    """Check the inputs, then fine-tune once per lr and write the table and the choice."""
    from sftlens.data import load_dataset
    from sftlens.models import load_model, load_tokenizer
    from sftlens.probing import check_covered, read_levels

    require_keys(cfg, "model", "data", "mastery")
    assert cfg.model is not None and cfg.data is not None and cfg.mastery is not None
    inputs = input_paths(cfg)
    check_out_dir(out, force, inputs=inputs)  # an --out overlapping an input fails first
    dataset = load_dataset(cfg.data, split_preset=cfg.split_preset)
    check_dev_split(dataset.facts, cfg.data)
    dev = dev_facts(dataset.facts)
    levels = read_levels(cfg.mastery)
    check_covered(dev, levels, cfg.mastery)
    common = {"device": cfg.device, "dtype": cfg.dtype}
    ft_cfg = cfg.finetune.model_copy(update={**common, "model": cfg.model})
    ev_cfg = cfg.evaluate.model_copy(update={**common, "split": "dev", "model": cfg.model})
    tok = load_tokenizer(cfg.model)  # model, tokenizer and device fail before --out is made
    model = load_model(cfg.model, dtype=cfg.dtype, device=cfg.device, check_finite=True)
    with discard_if_new(out, setup=(RunDir.MANIFEST,)):
        ensure_out_dir(out, force=force, inputs=inputs)
        RunDir.create(out, config=dump_config(cfg))
        cal = calibrate_lr(
            model, tok, dataset.facts, dev, levels,
            lrs=cfg.lrs, size=None if cfg.size == "all" else int(cfg.size), seed=cfg.seed,
            finetune_cfg=ft_cfg, evaluate_cfg=ev_cfg, allow_smaller=cfg.allow_smaller,
        )  # fmt: skip
        settings = {"lrs": cfg.lrs, "size": cfg.size, "seed": cfg.seed}
        return CalibrateResult(out, cal, write_calibration(cal, out, settings))
