"""The mastery table's reader: ``{fact id: level}`` from the rows ``sftlens probe`` writes,
checked (columns, levels 0..4, coverage of the facts a stage reads).  The probe owns the table,
so every stage reads it here.

Example::

    levels = read_levels("runs/probe/mastery.parquet")          # {fact id: level}
    levels = levels_for(test_facts, read_table("runs/probe/mastery.parquet"), "mastery.parquet")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sftlens.data.records import Fact
from sftlens.errors import DataError


def _as_level(value: Any) -> int | None:
    """``value`` as a level 0..4 (ints, integral floats, digit strings), else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and 0 <= number <= 4 else None


#: the columns every mastery table needs (``sftlens probe`` writes more)
REQUIRED_COLUMNS = ("id", "level")


def levels_from_rows(
    rows: Iterable[Mapping[str, Any]], source: str = "mastery table"
) -> dict[str, int]:
    """``{id: level}`` from mastery rows; missing columns or a bad level are an error."""
    levels: dict[str, int] = {}
    for n, row in enumerate(rows, start=1):
        missing = [c for c in REQUIRED_COLUMNS if c not in row]
        if missing:
            raise DataError(
                f"{source}: not a mastery table: missing column(s) {', '.join(missing)} "
                f"(row {n} has: {', '.join(map(str, row)) or 'nothing'})"
            )
        level = _as_level(row["level"])
        if level is None:
            raise DataError(
                f"{source}: fact {row['id']!r} has level {row['level']!r}, expected 0..4 (row {n})"
            )
        levels[str(row["id"])] = level
    return levels


def read_levels(path: str | Path) -> dict[str, int]:
    """``{id: level}`` of the mastery table file at ``path`` (checked as :func:`levels_from_rows`;
    an empty table is an error too)."""
    from sftlens.tableio import read_table

    rows = read_table(path)
    if not rows:
        raise DataError(f"{path}: the mastery table is empty")
    return levels_from_rows(rows, str(path))


def levels_for(
    facts: Sequence[Fact], rows: Iterable[Mapping[str, Any]], source: str = "mastery table"
) -> dict[str, int]:
    """Levels of ``facts`` from mastery ``rows``.

    Raises:
        DataError: some fact ids are not in the table (a mastery table of another
            dataset or split); the message says how many are missing.
    """
    table = levels_from_rows(rows, source)
    check_covered(facts, table, source)
    return {f.id: table[f.id] for f in facts}


def check_same_data(
    table: Mapping[str, int], facts: Sequence[Fact], mastery: str, data: str
) -> None:
    """Raise a one-line ``DataError`` when the table holds ids that ``facts`` (the whole data,
    before any ``limit``) lacks: a mastery table of other data."""
    known = {f.id for f in facts}
    unknown = [i for i in table if i not in known]
    if unknown:
        raise DataError(
            f"{mastery}: {len(unknown)} of {len(table)} fact ids are unknown to {data} "
            f"(first: {unknown[0]!r}); is it the mastery table of this data?"
        )


def check_covered(facts: Sequence[Fact], levels: Mapping[str, int], source: str = "levels") -> None:
    """Raise a one-line ``DataError`` when ``levels`` lacks some of the facts' ids."""
    missing = [f.id for f in facts if f.id not in levels]
    if missing:
        raise DataError(
            f"{source}: {len(missing)} of {len(facts)} fact ids are missing (first: {missing[0]!r}); "
            "is it the base model's mastery table for this dataset and split?"
        )
