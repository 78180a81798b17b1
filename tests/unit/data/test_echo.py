"""Echoed answers: ``answer_in_text``, the opt-in ``contains-no-echo`` matcher (through
``match_fact`` in evaluation scoring and probing) and the echo count of a dataset."""

from __future__ import annotations

from sftlens.data import Dataset, Fact, answer_in_text, get_matcher, match_fact
from sftlens.evaluation import score_outputs

ECHO = Fact(
    "P36/test/0", "P36", "Chandauli district", "What is the capital of Chandauli district?",
    ("Chandauli",), split="test",
)  # fmt: skip
PLAIN = Fact(
    "P36/test/1", "P36", "France", "What is the capital of France?", ("Paris",), split="test"
)


def test_answer_in_text_uses_contains_normalisation() -> None:
    assert answer_in_text(ECHO.accepted, ECHO.question)
    assert answer_in_text(["Zürich"], "  the ZÜRICH  area")
    assert not answer_in_text(PLAIN.accepted, PLAIN.question)


def test_no_echo_does_not_credit_an_answer_only_inside_the_subject() -> None:
    out = " The capital of Chandauli district is Lahore."
    contains, no_echo = get_matcher("contains"), get_matcher("contains-no-echo")
    assert match_fact(contains, out, ECHO) == "Chandauli"  # the paper's rule credits the echo
    assert match_fact(no_echo, out, ECHO) is None
    assert match_fact(no_echo, " Chandauli, of course", ECHO) == "Chandauli"
    assert match_fact(no_echo, " The capital of France is Paris.", PLAIN) == "Paris"
    assert no_echo(" Chandauli district", ["Chandauli"]) == "Chandauli"  # no fact: as contains


def test_scoring_passes_the_fact_to_an_echo_aware_matcher() -> None:
    out = " The capital of Chandauli district is Lahore."
    levels = {ECHO.id: 0}
    plain = score_outputs([ECHO], ["q"], [out], levels, get_matcher("contains"))
    strict = score_outputs([ECHO], ["q"], [out], levels, get_matcher("contains-no-echo"))
    assert plain[0]["correct"] and not strict[0]["correct"]


def test_dataset_counts_test_questions_holding_their_answer() -> None:
    ood = Fact("x", "P38", "Euro area", "What currency is used in the Euro area?", ("Euro",),
               domain="ood", split="test")  # fmt: skip
    train = Fact("y", "P36", "Kuwait", "What is the capital of Kuwait?", ("Kuwait City",))
    ds = Dataset([ECHO, PLAIN, ood, train], {}, spec="mini")
    assert ds.answer_in_question("test") == {"in": 1, "ood": 1}
    assert ds.answer_in_question("train") == {}
    assert "test questions containing an accepted answer: 2 (in 1, ood 1)" in ds.summary()
