"""Test-fact levels from the base model's mastery table (pure, no I/O).

Example::

    levels = levels_for(test_facts, read_table("runs/probe/mastery.parquet"), "mastery.parquet")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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


def levels_from_rows(
    rows: Iterable[Mapping[str, Any]], source: str = "mastery table"
) -> dict[str, int]:
    """``{id: level}`` from mastery rows; a row without id/level or with a bad level is an error."""
    levels: dict[str, int] = {}
    for n, row in enumerate(rows, start=1):
        if "id" not in row or "level" not in row:
            raise DataError(f"{source}: row {n} has no 'id' or 'level' column")
        level = _as_level(row["level"])
        if level is None:
            raise DataError(
                f"{source}: fact {row['id']!r} has level {row['level']!r}, expected 0..4 (row {n})"
            )
        levels[str(row["id"])] = level
    return levels


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


def check_covered(facts: Sequence[Fact], levels: Mapping[str, int], source: str = "levels") -> None:
    """Raise a one-line ``DataError`` when ``levels`` lacks some of the facts' ids."""
    missing = [f.id for f in facts if f.id not in levels]
    if missing:
        raise DataError(
            f"{source}: {len(missing)} of {len(facts)} fact ids are missing (first: {missing[0]!r}); "
            "is it the base model's mastery table for this dataset and split?"
        )
