"""Which prompt each model sees: best statement template per relation from mastery rows."""

from __future__ import annotations

import pytest

from sftlens.analysis.prompts import best_templates, prompt_for
from sftlens.data.records import Fact, Relation
from sftlens.errors import DataError

REL = {
    "P19": Relation(
        "P19",
        "place of birth",
        "Where was {subject} born?",
        ("{subject} was born in", "{subject} comes from", "{subject}'s birthplace is"),
    ),
    "P36": Relation(
        "P36",
        "capital",
        "What is the capital of {subject}?",
        ("The capital of {subject} is", "{subject}'s capital is"),
    ),
}


def test_best_template_sums_over_facts_of_the_relation() -> None:
    rows = [
        {"id": "a", "relation": "P19", "per_template_correct": [3, 0, 4]},  # alone: index 2 wins
        {"id": "b", "relation": "P19", "per_template_correct": [5, 1, 0]},  # sum: [8, 1, 4] -> 0
        {"id": "c", "relation": "P36", "per_template_correct": [2, 2]},  # tie -> lower index
    ]
    assert best_templates(rows, REL) == {"P19": 0, "P36": 0}
    rows.append({"id": "d", "relation": "P36", "per_template_correct": [0, 1]})
    assert best_templates(rows, REL)["P36"] == 1


def test_prompt_kinds() -> None:
    fact = Fact("f1", "P19", "Alice", "Where was Alice born?", ("Paris",))
    assert prompt_for(fact, "qa", REL, {}) == "<|question|> Where was Alice born? <|answer|>"
    assert prompt_for(fact, "statement", REL, {"P19": 1}) == "Alice comes from"
    with pytest.raises(DataError, match="no best statement template"):
        prompt_for(fact, "statement", REL, {})


def test_template_count_mismatch_and_missing_counts_are_errors() -> None:
    with pytest.raises(DataError, match="4 per-template counts, relation P19 has 3"):
        best_templates([{"id": "a", "relation": "P19", "per_template_correct": [1, 2, 0, 0]}], REL)
    with pytest.raises(DataError, match="base_prompt=qa"):
        best_templates([{"id": "a", "relation": "P19"}], REL)
    slick = {"id": "a", "relation": "P19", "scheme": "slick", "per_template_correct": [1, 0, 0]}
    with pytest.raises(DataError, match="base_prompt=qa"):
        best_templates([slick], REL)


def test_probe_with_the_first_n_templates() -> None:
    rows = [{"id": "a", "relation": "P19", "scheme": "paper", "per_template_correct": [0, 2]}]
    assert best_templates(rows, REL) == {"P19": 1}
    with pytest.raises(DataError, match="disagree on the template count"):
        best_templates(
            [*rows, {"id": "b", "relation": "P19", "per_template_correct": [1, 2, 3]}], REL
        )
