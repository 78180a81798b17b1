"""``sftlens study CONFIG --out RUN_DIR``: run (or resume) the whole grid, then write the report.

Example::

    sftlens study configs/demo-tiny.yaml --out runs/demo      # rerun the same line to resume
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from sftlens.config import dump_config
from sftlens.runstore import RunDir, check_out_dir, ensure_out_dir
from sftlens.study.assemble import assemble
from sftlens.study.config import StudyConfig, check_stage_sections
from sftlens.study.scheduler import Scheduler
from sftlens.study.units import StudyContext, build_units

log = logging.getLogger(__name__)


@dataclass
class StudyResult:
    """What one ``sftlens study`` call did."""

    run_dir: Path
    total: int
    executed: list[str]
    seconds: float
    tables: dict[str, Path] = field(default_factory=dict)
    report: Path | None = None

    def summary(self) -> str:
        lines = [
            f"study {self.run_dir}: {self.total} units, ran {len(self.executed)} "
            f"(others were finished) in {self.seconds:.0f}s"
        ]
        lines += [f"{name}: {path}" for name, path in self.tables.items()]
        if self.report is not None:
            lines.append(f"report: {self.report}")
        return "\n".join(lines)


def run(cfg: StudyConfig, out: Path, *, force: bool = False) -> StudyResult:
    """Validate, then run every unfinished unit, assemble results/ and (optionally) the report."""
    check_stage_sections(cfg)  # before any work: stage sections against the stage configs
    check_out_dir(out, force, marker=RunDir.MANIFEST)
    start = time.monotonic()
    ctx = StudyContext(cfg, RunDir(out))
    units = build_units(ctx)  # checks the world and the grid; writes nothing
    ensure_out_dir(out, force=force, marker=RunDir.MANIFEST)
    run_dir = RunDir.create(out, config=dump_config(cfg))
    scheduler = Scheduler(run_dir)
    progress = scheduler.run(units)
    tables = assemble(run_dir, units)
    result = StudyResult(out, progress.total, scheduler.executed, time.monotonic() - start, tables)
    if cfg.report:
        from sftlens.reporting.config import ReportConfig
        from sftlens.reporting.stage import run as run_report

        result.report = run_report(ReportConfig(), out, force=True).index
    return result
