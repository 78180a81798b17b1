"""Answer matching: contains (paper), token (DPR-style), exact (SQuAD-style)."""

from __future__ import annotations

import pytest

from sftlens.data import MATCHERS, get_matcher
from sftlens.data.matching import answer_spans, normalize_squad, normalize_tokens, tokens
from sftlens.errors import SftlensError

contains = get_matcher("contains")
token = get_matcher("token")
exact = get_matcher("exact")


def test_registry_lists_modes_and_suggests() -> None:
    assert MATCHERS.names() == ["contains", "exact", "token"]
    with pytest.raises(SftlensError, match="did you mean 'contains'"):
        get_matcher("contain")


def test_returns_first_matching_alias_in_given_order() -> None:
    accepted = ["United States of America", "USA", "United States"]
    assert contains(" the USA, in the United States", accepted) == "USA"
    assert token(" the USA, in the United States", accepted) == "USA"
    assert contains(" Canada", accepted) is None


def test_alias_inside_longer_word_contains_yes_token_no() -> None:
    out = " Iranian parents raised him"
    assert contains(out, ["Iran"]) == "Iran"
    assert token(out, ["Iran"]) is None
    assert exact(out, ["Iran"]) is None


def test_case_and_whitespace() -> None:
    for m in (contains, token, exact):
        assert m("  PARIS\t", ["paris"]) == "paris"


def test_unicode_composed_vs_decomposed_matches_everywhere() -> None:
    composed, decomposed = "Zürich", "Zu\u0308rich"
    for m in (contains, token, exact):
        assert m(decomposed, [composed]) == composed


def test_accents_only_token_strips_them() -> None:
    assert token(" Sao Paulo, Brazil", ["São Paulo"]) == "São Paulo"
    assert contains(" Sao Paulo, Brazil", ["São Paulo"]) is None
    assert token(" Université de Paris", ["Universite de Paris"]) == "Universite de Paris"


def test_typographic_apostrophe_normalised_for_contains() -> None:
    assert contains(" People\u2019s Republic of China", ["People's Republic of China"])


def test_punctuation() -> None:
    # token: punctuation is a word break, on both sides
    assert token(" Washington D.C.", ["Washington, D.C."]) == "Washington, D.C."
    assert token(" comedy-drama film", ["comedy drama"]) == "comedy drama"
    # contains keeps punctuation (the paper's plain substring rule)
    assert contains(" Washington D.C.", ["Washington, D.C."]) is None
    assert contains(" St. Petersburg!", ["St. Petersburg"]) == "St. Petersburg"
    # exact drops punctuation like SQuAD
    assert exact("Washington, D.C.", ["Washington DC"]) == "Washington DC"


def test_articles_only_exact_drops_them() -> None:
    assert exact(" the Netherlands", ["Netherlands"]) == "Netherlands"
    assert exact(" Emirates", ["The Emirates"]) == "The Emirates"
    assert token(" Emirates", ["The Emirates"]) is None
    assert contains(" Emirates", ["The Emirates"]) is None


def test_exact_span_stops_at_newline_and_period() -> None:
    assert exact(" Paris. It is the capital of France.", ["Paris"]) == "Paris"
    assert exact(" Paris\nLondon", ["London"]) is None
    assert exact(" Paris is the capital", ["Paris"]) is None
    # abbreviations survive because every period is tried as the span's end
    assert exact(" St. Petersburg. A city in Russia.", ["St. Petersburg"]) == "St. Petersburg"
    assert answer_spans(" a. b\nc") == [" a", " a. b"]


RUN_ONS = [
    # ~16-32 tokens of a base model continuing past the answer
    " Paris, France. He spent his early years there before moving to London, where he studied "
    "law at King's College and later",
    " the city of Buenos Aires in Argentina, and he moved to Madrid when he was seventeen years old "
    "to join the academy",
    " 1987 in Springfield, Illinois, to a family of farmers; his father worked at the local mill "
    "and his mother taught school",
]


def test_run_on_outputs_16_to_32_tokens() -> None:
    for out in RUN_ONS:
        assert 16 <= len(tokens(out)) <= 32
    assert contains(RUN_ONS[0], ["London"]) == "London"  # paper rule: anywhere in the output
    assert token(RUN_ONS[0], ["King's College"]) == "King's College"
    assert exact(RUN_ONS[0], ["London"]) is None  # not the answer span
    assert exact(RUN_ONS[0], ["Paris, France"]) == "Paris, France"
    assert token(RUN_ONS[1], ["Baires", "Buenos Aires"]) == "Buenos Aires"
    assert token(RUN_ONS[2], ["Springfield Illinois"]) == "Springfield Illinois"
    for m in (contains, token, exact):
        assert m(RUN_ONS[2], ["Chicago"]) is None


def test_empty_and_punctuation_only_aliases_never_match() -> None:
    for m in (contains, token, exact):
        assert m(" anything at all.", ["", " ", "..."]) is None
        assert m("", ["Paris"]) is None


def test_normalisers_examples() -> None:
    assert normalize_tokens("  Émile-Zola's  HOUSE ") == "emile zola s house"
    assert normalize_squad("The Émile Zola's house!") == "émile zolas house"
