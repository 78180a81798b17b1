"""Levels of test facts come from the base model's mastery table; mismatches are one-line errors."""

from __future__ import annotations

import pytest

from sftlens.data.records import Fact
from sftlens.errors import DataError
from sftlens.probing import levels_for, levels_from_rows

FACTS = [
    Fact(f"t{i}", "P19", f"S{i}", f"Where was S{i} born?", ("X",), split="test") for i in range(4)
]


def test_levels_taken_from_mastery_rows() -> None:
    rows = [{"id": f"t{i}", "level": i, "R": i / 4} for i in range(4)] + [
        {"id": "other", "level": 4}
    ]
    assert levels_for(FACTS, rows) == {"t0": 0, "t1": 1, "t2": 2, "t3": 3}


def test_missing_ids_name_how_many() -> None:
    rows = [{"id": "t0", "level": 1}, {"id": "P19/test/9", "level": 2}]
    with pytest.raises(
        DataError, match=r"mastery.parquet: 3 of 4 fact ids are missing \(first: 't1'\)"
    ):
        levels_for(FACTS, rows, "mastery.parquet")


def test_bad_rows() -> None:
    with pytest.raises(DataError, match=r"missing column\(s\) level \(row 2 has: id\)"):
        levels_from_rows([{"id": "a", "level": 0}, {"id": "b"}])
    with pytest.raises(
        DataError, match=r"t.parquet: not a mastery table: missing column\(s\) id, level"
    ):
        levels_from_rows([{"fact": "a", "R": 0.5}], "t.parquet")


def test_a_table_of_other_data_is_refused() -> None:
    from sftlens.probing import check_same_data

    table = {"t0": 0, "t1": 1, "zz/1": 2, "zz/2": 3}
    with pytest.raises(DataError, match=r"m.parquet: 2 of 4 fact ids are unknown to jsonl:d"):
        check_same_data(table, FACTS, "m.parquet", "jsonl:d")
    check_same_data({"t0": 0}, FACTS, "m.parquet", "jsonl:d")  # a subset is fine
    with pytest.raises(DataError, match="fact 'a' has level 7"):
        levels_from_rows([{"id": "a", "level": 7}])
