"""The four findings: verdicts follow the per-question results through their intervals."""

from __future__ import annotations

import pandas as pd
import pytest

from sftlens.reporting.config import ReportConfig
from sftlens.reporting.findings import HOLDS, INCONCLUSIVE, NOT, TWO_SEEDS_NOTE, judge
from sftlens.reporting.tables import Results

from .conftest import synthetic_rows


def results(**kw) -> Results:
    t = synthetic_rows(**kw)
    acc = pd.DataFrame(t["accuracy"])
    acc["train_level"] = acc["train_level"].astype(str)
    frames = {name: pd.DataFrame(t[name]) for name in ("answers", "questions", "kl_facts")}
    return Results(acc, pd.DataFrame(t["kl"]), **frames)


def test_all_four_hold_on_the_papers_shape():
    found = judge(results(), ReportConfig(swing_points=5))
    assert [f.verdict for f in found] == [HOLDS] * 4
    assert "n=240" in found[0].evidence and "95% interval" in found[0].evidence
    assert all("95% interval" in f.interval for f in found)


def test_same_results_same_intervals():
    assert judge(results(), ReportConfig()) == judge(results(), ReportConfig())


def test_peak_at_largest_size_does_not_hold():
    assert judge(results(peak_at=960), ReportConfig())[0].verdict == NOT


def test_swing_threshold_decides():
    assert judge(results(swing=0.0), ReportConfig(swing_points=5))[1].verdict == NOT
    assert judge(results(), ReportConfig(swing_points=1))[1].verdict == HOLDS
    assert judge(results(), ReportConfig(swing_points=30))[1].verdict == NOT


def test_monotone_kl_does_not_hold():
    assert judge(results(kl_shape="falling"), ReportConfig())[2].verdict == NOT


def test_restoration_that_hurts_does_not_hold():
    assert judge(results(gain=-0.05), ReportConfig())[3].verdict == NOT


def test_no_restoration_effect_is_not_a_gain():
    assert judge(results(gain=0.0), ReportConfig())[3].verdict != HOLDS


@pytest.mark.parametrize("claim", [1, 3])
def test_small_effects_under_large_seed_noise_never_hold(claim):
    found = judge(results(noise=0.2, swing=0.06, gain=0.02), ReportConfig(swing_points=5))[claim]
    assert found.verdict == INCONCLUSIVE
    assert "95% interval" in found.evidence


def test_one_seed_is_inconclusive():
    assert {f.verdict for f in judge(results(seeds=1), ReportConfig())} == {INCONCLUSIVE}


def test_two_seeds_are_flagged_and_three_are_not():
    two = judge(results(seeds=2), ReportConfig())
    three = judge(results(seeds=3), ReportConfig())
    assert all(TWO_SEEDS_NOTE in f.evidence for f in two)
    assert not any(TWO_SEEDS_NOTE in f.evidence for f in three)


def test_missing_per_question_results_are_inconclusive():
    res = results()
    res.answers = None
    res.kl_facts = None
    found = judge(res, ReportConfig())
    assert {f.verdict for f in found} == {INCONCLUSIVE}
    assert "answers.parquet" in found[0].evidence


def test_sets_smaller_than_their_size_are_named_and_change_no_verdict():
    plain_res = results()
    acc = plain_res.accuracy.copy()
    acc["n_train"] = acc["size"]
    largest = int(acc["size"].max())
    short = (acc["train_level"] == "0") & (acc["size"] == largest)
    acc.loc[short, "n_train"] = 123
    res = Results(acc, plain_res.kl, answers=plain_res.answers,
                  questions=plain_res.questions, kl_facts=plain_res.kl_facts)  # fmt: skip
    found = judge(res, ReportConfig(swing_points=5))
    assert [f.verdict for f in found] == [
        f.verdict for f in judge(plain_res, ReportConfig(swing_points=5))
    ]
    note = f"level 0 at n={largest} (123 facts)"
    assert all(note in f.evidence for f in found)
    acc["n_train"] = acc["size"]
    full = judge(Results(acc, plain_res.kl, answers=plain_res.answers, questions=plain_res.questions,
                         kl_facts=plain_res.kl_facts), ReportConfig())  # fmt: skip
    assert not any("smaller than their size" in f.evidence for f in full)


def test_a_restoration_that_hurts_is_the_headline_of_its_verdict() -> None:
    """Finding 4 that does not hold because one k hurts shows that k, not the k that helps most."""
    t = synthetic_rows(gain=0.03)
    for row in t["answers"]:
        if row["restore_k"] == 20.0:  # k=20 loses a quarter of its correct answers
            row["correct"] = "".join(
                "0" if c == "1" and i % 4 == 0 else c for i, c in enumerate(row["correct"])
            )
    acc = pd.DataFrame(t["accuracy"])
    acc["train_level"] = acc["train_level"].astype(str)
    frames = {name: pd.DataFrame(t[name]) for name in ("answers", "questions", "kl_facts")}
    restore = judge(Results(acc, pd.DataFrame(t["kl"]), **frames), ReportConfig())[3]
    assert restore.verdict == NOT
    assert "k=1%: +" in restore.evidence  # a k that helps is still listed
    assert restore.interval.startswith("k=20%: -"), restore.interval
