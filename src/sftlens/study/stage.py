"""``sftlens study CONFIG --out RUN_DIR``: run (or resume) the whole grid, then write the report.

Example::

    sftlens study configs/demo-tiny.yaml --out runs/demo      # rerun the same line to resume
    sftlens study configs/world-gpu.yaml --out runs/gpu --workers 4   # 4 processes
"""

from __future__ import annotations

import logging
from pathlib import Path

from sftlens.outdir import check_out_dir, discard_if_new, input_paths
from sftlens.runstore import RunDir
from sftlens.study.assemble import StudyResult
from sftlens.study.checks import (
    check_device_and_model,
    check_model_layout,
    check_prompt_format,
    check_stage_sections,
)
from sftlens.study.config import StudyConfig
from sftlens.study.parallel import Comm, run_ranked

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
        return run_sequential(cfg, out, force)


def run_sequential(cfg: StudyConfig, out: Path, force: bool) -> StudyResult:
    """The study in this process: the parallel runner with one rank and an in-memory store."""
    from torch.distributed import HashStore

    return run_ranked(cfg, out, Comm(HashStore(), rank=0, world=1), force=force)
