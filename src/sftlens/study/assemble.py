"""Assemble the study's result tables from the per-unit files (so a resumed run gives the same tables).

Example::

    paths = assemble(RunDir("runs/x"), build_units(ctx))   # results/accuracy.parquet, ...
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sftlens.runstore import RunDir
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
            from sftlens.evaluation.scoring import flag_low_n

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
