"""The end of a study run: assemble the result tables from the per-unit files (so a resumed
run gives the same tables), write the report, and say what was done (:class:`StudyResult`).

Example::

    paths = assemble(RunDir("runs/x"), build_units(ctx))   # results/accuracy.parquet, ...
    result = finish(cfg, run_dir, units, executed, start)  # tables + report
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftlens.runstore import RunDir
from sftlens.study.config import StudyConfig
from sftlens.study.scheduler import Unit
from sftlens.tableio import read_table, write_table

ACCURACY_KEYS = (
    "train_level",
    "size",
    "seed",
    "restore_k",
    "strategy",
    "region",
    "test_set",
    "domain",
    "test_level",
)
CELL_KEYS = ("train_level", "size", "seed")
#: results file → (unit file, sort keys)
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "accuracy": ("accuracy.parquet", ACCURACY_KEYS),
    "kl": ("kl.parquet", (*CELL_KEYS, "test_level")),
    "diff_stats": ("diff_stats.parquet", (*CELL_KEYS, "top_pct")),
    "diff_groups": ("diff_groups.parquet", (*CELL_KEYS, "kind", "group")),
    "base_accuracy": ("base_accuracy.parquet", ("test_set", "domain", "test_level")),
    "calibration": ("calibration.parquet", ("lr",)),
    "answers": ("answers.parquet", ACCURACY_KEYS[:7]),
    "base_answers": ("base_answers.parquet", ("test_set",)),
    "questions": ("questions.parquet", ("test_set", "position")),
    "kl_facts": ("kl_facts.parquet", (*CELL_KEYS, "id")),
    "controls": ("controls.parquet", ("control", *ACCURACY_KEYS)),
}


def _sort_key(keys: Sequence[str]) -> Any:
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            (0, row[k]) if isinstance(row.get(k), (int, float)) else (1, str(row.get(k)))
            for k in keys
        )

    return key


def assemble(
    run_dir: RunDir, units: Sequence[Unit], min_per_level: int | None = None
) -> dict[str, Path]:
    """Concatenate each planned unit's rows into ``results/*.parquet`` (+ accuracy CSV).

    With ``min_per_level`` the accuracy tables get ``low_n``: a level with fewer questions,
    and the macro over one (:func:`sftlens.evaluation.scoring.flag_low_n`).
    """
    results = run_dir.path / "results"
    written: dict[str, Path] = {}
    for table, (filename, keys) in TABLES.items():
        rows: list[dict[str, Any]] = []
        for unit in units:
            path = run_dir.unit_dir(unit.name) / filename
            if not unit.memory and path.is_file():
                rows.extend(read_table(path))
        if not rows:
            continue
        rows.sort(key=_sort_key([k for k in keys if k in rows[0]]))
        if min_per_level is not None and table in ("accuracy", "base_accuracy"):
            from sftlens.evaluation import flag_low_n

            rows = flag_low_n(rows, min_per_level)
        written[table] = write_table(results / f"{table}.parquet", rows)
        if table == "accuracy":
            write_table(results / "accuracy.csv", rows)
    mastery = run_dir.unit_dir("probe") / "mastery.parquet"
    if mastery.is_file():
        shutil.copyfile(mastery, results / ".mastery.tmp")
        (results / ".mastery.tmp").replace(results / "mastery.parquet")
        written["mastery"] = results / "mastery.parquet"
    return written


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


def finish(
    cfg: StudyConfig, run_dir: RunDir, units: Sequence[Unit], executed: list[str], start: float
) -> StudyResult:
    """Assemble results/ from the units' files and (optionally) write the report."""
    tables = assemble(run_dir, units, cfg.evaluate.min_per_level)
    total = sum(not u.memory for u in units)
    result = StudyResult(run_dir.path, total, executed, time.monotonic() - start, tables)
    if cfg.report:
        from sftlens.reporting import ReportConfig, run_report

        result.report = run_report(ReportConfig(), run_dir.path, force=True).index
    return result
