"""Pure mastery arithmetic: levels, their partition of [0, 1], SliCK categories, summaries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sftlens.errors import SftlensError
from sftlens.probing import SCHEMES, level_from_counts, level_of
from sftlens.probing.mastery import score_paper, score_slick, slick_category
from sftlens.probing.summary import summarize


@pytest.mark.parametrize(
    ("r", "level"),
    [
        (0.0, 0),
        (1e-9, 1),
        (0.25, 1),
        (0.2501, 2),
        (0.5, 2),
        (0.51, 3),
        (0.75, 3),
        (0.76, 4),
        (1.0, 4),
    ],
)
def test_level_boundaries(r: float, level: int) -> None:
    assert level_of(r) == level


@given(st.integers(1, 300).flatmap(lambda t: st.tuples(st.integers(0, t), st.just(t))))
def test_levels_partition_counts(ct: tuple[int, int]) -> None:
    correct, total = ct
    level = level_from_counts(correct, total)
    assert level == level_of(correct / total)
    r = correct / total
    if level == 0:
        assert r == 0
    else:
        assert (level - 1) / 4 < r <= level / 4


def test_bad_r_rejected() -> None:
    with pytest.raises(ValueError):
        level_of(1.5)
    with pytest.raises(ValueError):
        level_from_counts(3, 2)


def test_score_paper_and_slick() -> None:
    row = score_paper([2, 0, 1], samples=2)
    assert row == {"n_correct": 3, "n_total": 6, "R": 0.5, "level": 2}
    assert score_slick([1] * 10, [0] * 10, 16)["category"] == "HighlyKnown"
    assert score_slick([1] + [0] * 9, [0] * 10, 16)["category"] == "MaybeKnown"
    assert score_slick([0] * 10, [0] * 9 + [1], 16)["category"] == "WeaklyKnown"
    unknown = score_slick([0] * 10, [0] * 10, 16)
    assert (unknown["category"], unknown["level"], unknown["R"]) == ("Unknown", 0, 0.0)
    assert slick_category(0, 0, 0) == 0


def test_scheme_registry_suggests() -> None:
    assert SCHEMES.names() == ["paper", "slick"]
    with pytest.raises(SftlensError, match="did you mean 'slick'"):
        SCHEMES.get("slik")


def test_summary_counts_every_fact_once() -> None:
    rows = [
        {"split": s, "domain": d, "level": lv, "R": lv / 4}
        for s, d, lv in [
            ("train", "in", 0),
            ("train", "in", 4),
            ("test", "ood", 2),
            ("train", "in", 4),
        ]
    ]
    summary = summarize(rows, "paper")
    assert summary["levels"]["train"]["in"] == {"0": 1, "1": 0, "2": 0, "3": 0, "4": 2}
    assert summary["levels"]["test"]["ood"]["2"] == 1
    assert sum(summary["total"].values()) == len(rows)
    assert summary["mean_R"]["4"] == 1.0
