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


def _pred(domain: str, level: int, correct: bool) -> dict:
    return {"id": "x", "relation": "P19", "domain": domain, "level": level, "correct": correct}


def test_small_levels_are_flagged_in_rows_metrics_and_table() -> None:
    from sftlens.evaluation.scoring import accuracy_rows, format_table, summarize

    preds = [_pred("in", 0, True)] * 25 + [_pred("in", 4, False)] * 2
    rows = {r["test_level"]: r for r in accuracy_rows(preds, ["in"], min_per_level=20)}
    assert not rows[0]["low_n"] and rows[4]["low_n"] and not rows[2]["low_n"]  # empty: not small
    assert rows[-1]["low_n"]  # the macro averages a level of 2 questions
    metrics = summarize(preds, ["in"], "contains", min_per_level=20)
    assert metrics["domains"]["in"]["macro_low_n"] is True
    assert "warning: macro over levels with fewer than 20 questions: in L4 (n=2)" in format_table(
        metrics
    )
    big = summarize(preds, ["in"], "contains", min_per_level=2)
    assert "warning" not in format_table(big)


def test_study_rows_are_flagged_per_group() -> None:
    from sftlens.evaluation.scoring import flag_low_n

    rows = [
        {"seed": s, "domain": "in", "test_level": lv, "n": n}
        for s, sizes in ((0, (30, 3)), (1, (30, 30)))
        for lv, n in ((0, sizes[0]), (1, sizes[1]), (-1, sum(sizes)))
    ]
    flags = {(r["seed"], r["test_level"]): r["low_n"] for r in flag_low_n(rows, 20)}
    assert flags == {(0, 0): False, (0, 1): True, (0, -1): True,
                     (1, 0): False, (1, 1): False, (1, -1): False}  # fmt: skip


def test_without_levels_rows_are_per_relation() -> None:
    from sftlens.evaluation.scoring import accuracy_rows

    preds = [{**_pred("in", 0, True), "level": None, "relation": r} for r in ("P19", "P19", "P17")]
    rows = accuracy_rows(preds, ["in"])
    assert [(r["relation"], r["n"]) for r in rows] == [("all", 3), ("P17", 1), ("P19", 2)]
