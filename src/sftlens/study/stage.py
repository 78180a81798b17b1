"""``sftlens study CONFIG --out RUN_DIR``: run (or resume) the whole grid, then write the report.

Example::

    sftlens study configs/demo-tiny.yaml --out runs/demo      # rerun the same line to resume
    sftlens study configs/world-gpu.yaml --out runs/gpu --workers 4   # 4 processes
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftlens.config import dump_config
from sftlens.outdir import check_out_dir, discard_if_new, ensure_out_dir, input_paths
from sftlens.runstore import RunDir
from sftlens.study.assemble import assemble
from sftlens.study.checks import (
    check_device_and_model,
    check_model_layout,
    check_prompt_format,
    check_stage_sections,
)
from sftlens.study.config import StudyConfig
from sftlens.study.graph import grid_cells, pregrid_waves
from sftlens.study.scheduler import Scheduler, Unit
from sftlens.study.units import StudyContext

log = logging.getLogger(__name__)


@dataclass
class StudyResult:
    """What one ``sftlens study`` call did (``rank`` > 0: one worker's share of it)."""

    run_dir: Path
    total: int
    executed: list[str]
    seconds: float
    tables: dict[str, Path] = field(default_factory=dict)
    report: Path | None = None
    rank: int = 0

    def summary(self) -> str:
        if self.rank:
            return f"study {self.run_dir}: rank {self.rank} ran {len(self.executed)} units"
        lines = [
            f"study {self.run_dir}: {self.total} units, ran {len(self.executed)} "
            f"(others were finished) in {self.seconds:.0f}s"
        ]
        lines += [f"{name}: {path}" for name, path in self.tables.items()]
        if self.report is not None:
            lines.append(f"report: {self.report}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir), "total": self.total, "executed": self.executed,
            "seconds": self.seconds, "tables": {k: str(v) for k, v in self.tables.items()},
            "report": None if self.report is None else str(self.report),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudyResult:
        tables = {k: Path(v) for k, v in data["tables"].items()}
        report = None if data["report"] is None else Path(data["report"])
        return cls(
            Path(data["run_dir"]), data["total"], data["executed"], data["seconds"], tables, report
        )


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


def finish(
    cfg: StudyConfig, run_dir: RunDir, units: Sequence[Unit], executed: list[str], start: float
) -> StudyResult:
    """Assemble results/ from the units' files and (optionally) write the report."""
    from sftlens.evaluation.config import EvaluateConfig

    least = EvaluateConfig.model_validate(cfg.evaluate).min_per_level
    tables = assemble(run_dir, units, least)
    total = sum(not u.memory for u in units)
    result = StudyResult(run_dir.path, total, executed, time.monotonic() - start, tables)
    if cfg.report:
        from sftlens.reporting.config import ReportConfig
        from sftlens.reporting.stage import run as run_report

        result.report = run_report(ReportConfig(), run_dir.path, force=True).index
    return result
