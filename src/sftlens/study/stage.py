"""``sftlens study CONFIG --out RUN_DIR``: run (or resume) the whole grid, then write the report.

Example::

    sftlens study configs/demo-tiny.yaml --out runs/demo      # rerun the same line to resume
    sftlens study configs/world-gpu.yaml --out runs/gpu --workers 4   # 4 processes
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sftlens.config import dump_config
from sftlens.outdir import check_out_dir, discard_if_new, ensure_out_dir, input_paths
from sftlens.runstore import RunDir
from sftlens.study.assemble import StudyResult, finish
from sftlens.study.checks import (
    check_device_and_model,
    check_model_layout,
    check_prompt_format,
    check_stage_sections,
)
from sftlens.study.config import StudyConfig
from sftlens.study.context import StudyContext
from sftlens.study.graph import grid_cells, pregrid_waves
from sftlens.study.scheduler import Scheduler

log = logging.getLogger(__name__)


def run(cfg: StudyConfig, out: Path, *, force: bool = False) -> StudyResult:
    """Validate, then run every unfinished unit, assemble results/ and (optionally) the report.

    Under ``torchrun`` every rank takes a share of the units; with ``workers`` > 1 (or
    ``workers_per_gpu`` > 1 on GPUs) this process starts that many workers that do.
    """
    check_stage_sections(cfg)  # before any work: stage sections against the stage configs
    inputs = input_paths(cfg)
    check_out_dir(out, force, marker=RunDir.MANIFEST, inputs=inputs)
    check_prompt_format(cfg)  # the base tokenizer can render the study's prompt format
    check_model_layout(cfg)  # the weight-level stages can find the model's layers
    check_device_and_model(cfg)  # a bad device or model fails before --out or workers exist
    from sftlens.study import launch

    with discard_if_new(out, setup=(RunDir.MANIFEST,)):  # a failed first run leaves no --out
        if launch.under_torchrun() or launch.worker_count(cfg) > 1:
            return launch.run_parallel(cfg, out, force=force)
        return run_sequential(cfg, out, force, inputs)


def run_sequential(cfg: StudyConfig, out: Path, force: bool, inputs: list[Path]) -> StudyResult:
    """The study in this process: pre-grid units, then every cell, then results/."""
    start = time.monotonic()
    ctx = StudyContext(cfg, RunDir(out))
    units = [u for wave in pregrid_waves(ctx) for u in wave]  # checks the data; writes nothing
    ensure_out_dir(out, force=force, marker=RunDir.MANIFEST, inputs=inputs)
    run_dir = RunDir.create(out, config=dump_config(cfg))
    ctx.run_dir = run_dir
    scheduler = Scheduler(run_dir)
    scheduler.run(units)
    cells = [u for c in grid_cells(ctx) for u in c.units]  # built after the pre-grid phase
    scheduler.run(cells)
    return finish(cfg, run_dir, units + cells, scheduler.executed, start)
