"""The scorer against hand-checked predictions, and the macro/micro aggregation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sftlens.data import get_matcher
from sftlens.data.records import Fact
from sftlens.evaluation import (
    accuracy_rows,
    format_table,
    macro,
    score_outputs,
    summarize,
)
from sftlens.prompts import qa_prompt

# (fact, output, hand-checked matched alias under `contains`, under `token`)
CASES = [
    (
        Fact("a", "P19", "Alice", "Where was Alice born?", ("Paris",), domain="in"),
        " Paris, France. She",
        "Paris",
        "Paris",
    ),
    (
        Fact("b", "P19", "Bob", "Where was Bob born?", ("Berlin",), domain="in"),
        " Munich",
        None,
        None,
    ),
    (
        Fact("c", "P131", "Bronx", "Where is Bronx?", ("New York City",), ("NYC",), domain="in"),
        " the NYC borough",
        "NYC",
        "NYC",
    ),
    (
        Fact("d", "P17", "Tabriz", "Which country is Tabriz in?", ("Iran",), domain="in"),
        " Iranian Azerbaijan",
        "Iran",
        None,
    ),
    (
        Fact("e", "P50", "Emma", "Who wrote Emma?", ("Jane Austen",), domain="ood"),
        " JANE  Austen wrote it",
        "Jane Austen",
        "Jane Austen",
    ),
    (
        Fact("f", "P50", "Ulysses", "Who wrote Ulysses?", ("James Joyce",), domain="ood"),
        " Homer",
        None,
        None,
    ),
    (
        Fact("g", "P36", "France", "What is the capital of France?", ("Paris",), domain="ood"),
        "",
        None,
        None,
    ),
]
LEVELS = {"a": 4, "b": 4, "c": 2, "d": 0, "e": 3, "f": 3, "g": 1}


@pytest.mark.parametrize("mode,column", [("contains", 2), ("words", 3)])
def test_matched_alias_is_the_hand_checked_one(mode: str, column: int) -> None:
    facts = [c[0] for c in CASES]
    prompts = [qa_prompt(f.question) for f in facts]
    preds = score_outputs(facts, prompts, [c[1] for c in CASES], LEVELS, get_matcher(mode))
    assert [p["matched"] for p in preds] == [c[column] for c in CASES]
    assert [p["correct"] for p in preds] == [c[column] is not None for c in CASES]
    assert preds[0]["prompt"] == "<|question|> Where was Alice born? <|answer|>"
    assert [p["level"] for p in preds] == [LEVELS[f.id] for f in facts]


def test_per_level_rows_macro_and_micro_by_hand() -> None:
    facts = [c[0] for c in CASES]
    preds = score_outputs(
        facts, [""] * len(facts), [c[1] for c in CASES], LEVELS, get_matcher("contains")
    )
    rows = {(r["domain"], r["test_level"]): r for r in accuracy_rows(preds, ["in", "ood"])}
    # in-domain: L0 d correct (1/1), L2 c correct (1/1), L4 a right b wrong (1/2); L1, L3 empty
    assert (rows[("in", 4)]["n"], rows[("in", 4)]["correct"]) == (2, 1)
    assert rows[("in", 1)]["n"] == 0 and math.isnan(rows[("in", 1)]["accuracy"])
    assert rows[("in", -1)]["accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert (rows[("in", -1)]["n"], rows[("in", -1)]["correct"]) == (4, 3)
    # ood: L1 g wrong (0/1), L3 e right f wrong (1/2)
    assert rows[("ood", -1)]["accuracy"] == pytest.approx((0 + 0.5) / 2)
    metrics = summarize(preds, ["in", "ood"], "contains")
    assert metrics["domains"]["in"]["micro"] == pytest.approx(3 / 4)
    assert metrics["domains"]["ood"]["micro"] == pytest.approx(1 / 3)
    assert metrics["domains"]["ood"]["macro"] == rows[("ood", -1)]["accuracy"]
    assert metrics["domains"]["in"]["relations"]["P19"] == {"n": 2, "correct": 1, "accuracy": 0.5}
    table = format_table(metrics)
    assert "83.3" in table and "75.0" in table  # in: macro 83.3, micro 75.0


pred_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "domain": st.sampled_from(["in", "ood"]),
            "level": st.integers(0, 4),
            "correct": st.booleans(),
            "relation": st.just("P19"),
        }
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(pred_strategy)
def test_macro_is_the_mean_of_the_level_accuracies(preds: list[dict]) -> None:
    rows = accuracy_rows(preds, ["in", "ood"])
    for domain in ("in", "ood"):
        levels = [r for r in rows if r["domain"] == domain and r["test_level"] >= 0]
        assert [r["test_level"] for r in levels] == [0, 1, 2, 3, 4]
        accs = [r["correct"] / r["n"] for r in levels if r["n"]]
        got = next(r for r in rows if r["domain"] == domain and r["test_level"] == -1)
        if accs:
            assert got["accuracy"] == pytest.approx(sum(accs) / len(accs))
        else:
            assert math.isnan(got["accuracy"])
        assert got["n"] == sum(r["n"] for r in levels)
        assert got["correct"] == sum(r["correct"] for r in levels)


def test_macro_helper_skips_empty_levels() -> None:
    assert macro([1.0, math.nan, 0.0, 0.5, math.nan]) == pytest.approx(0.5)
    assert math.isnan(macro([math.nan] * 5))


def test_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="1 facts, 0 prompts"):
        score_outputs([CASES[0][0]], [], [], LEVELS, get_matcher("contains"))
