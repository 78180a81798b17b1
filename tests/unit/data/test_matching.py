"""Answer matching: contains (paper), words (lenient tokens), exact (SQuAD-style)."""

from __future__ import annotations

import pytest

from sftlens.data import MATCHERS, get_matcher
from sftlens.data.matching import answer_spans, normalize_squad, normalize_tokens, tokens
from sftlens.errors import SftlensError

contains = get_matcher("contains")
words = get_matcher("words")
exact = get_matcher("exact")


def test_registry_lists_modes_and_suggests() -> None:
    assert MATCHERS.names() == [
        "contains",
        "contains-no-echo",
        "dpr",
        "entityquestions",
        "exact",
        "words",
    ]
    with pytest.raises(SftlensError, match="did you mean 'contains'"):
        get_matcher("contain")


def test_returns_first_matching_alias_in_given_order() -> None:
    accepted = ["United States of America", "USA", "United States"]
    assert contains(" the USA, in the United States", accepted) == "USA"
    assert words(" the USA, in the United States", accepted) == "USA"
    assert contains(" Canada", accepted) is None


def test_alias_inside_longer_word_contains_yes_words_no() -> None:
    out = " Iranian parents raised him"
    assert contains(out, ["Iran"]) == "Iran"
    assert words(out, ["Iran"]) is None
    assert exact(out, ["Iran"]) is None


def test_case_and_whitespace() -> None:
    for m in (contains, words, exact):
        assert m("  PARIS\t", ["paris"]) == "paris"


def test_unicode_composed_vs_decomposed_matches_everywhere() -> None:
    composed, decomposed = "Zürich", "Zu\u0308rich"
    for m in (contains, words, exact):
        assert m(decomposed, [composed]) == composed


def test_accents_only_words_strips_them() -> None:
    assert words(" Sao Paulo, Brazil", ["São Paulo"]) == "São Paulo"
    assert contains(" Sao Paulo, Brazil", ["São Paulo"]) is None
    assert words(" Université de Paris", ["Universite de Paris"]) == "Universite de Paris"


def test_typographic_apostrophe_normalised_for_contains() -> None:
    assert contains(" People\u2019s Republic of China", ["People's Republic of China"])


def test_punctuation() -> None:
    # words: punctuation is a word break, on both sides
    assert words(" Washington D.C.", ["Washington, D.C."]) == "Washington, D.C."
    assert words(" comedy-drama film", ["comedy drama"]) == "comedy drama"
    # contains keeps punctuation (the paper's plain substring rule)
    assert contains(" Washington D.C.", ["Washington, D.C."]) is None
    assert contains(" St. Petersburg!", ["St. Petersburg"]) == "St. Petersburg"
    # exact drops punctuation like SQuAD
    assert exact("Washington, D.C.", ["Washington DC"]) == "Washington DC"


def test_articles_only_exact_drops_them() -> None:
    assert exact(" the Netherlands", ["Netherlands"]) == "Netherlands"
    assert exact(" Emirates", ["The Emirates"]) == "The Emirates"
    assert words(" Emirates", ["The Emirates"]) is None
    assert contains(" Emirates", ["The Emirates"]) is None


def test_exact_span_stops_at_newline_and_period() -> None:
    assert exact(" Paris. It is the capital of France.", ["Paris"]) == "Paris"
    assert exact(" Paris\nLondon", ["London"]) is None
    assert exact(" Paris is the capital", ["Paris"]) is None
    # abbreviations survive because every period is tried as the span's end
    assert exact(" St. Petersburg. A city in Russia.", ["St. Petersburg"]) == "St. Petersburg"
    assert answer_spans(" a. b\nc") == [" a", " a. b"]
    # blank lines before the answer are skipped (the newline rule of generation)
    assert exact("\n\n Paris\nLondon", ["Paris"]) == "Paris"
    assert exact("\n\n Paris\nLondon", ["London"]) is None


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
    assert words(RUN_ONS[0], ["King's College"]) == "King's College"
    assert exact(RUN_ONS[0], ["London"]) is None  # not the answer span
    assert exact(RUN_ONS[0], ["Paris, France"]) == "Paris, France"
    assert words(RUN_ONS[1], ["Baires", "Buenos Aires"]) == "Buenos Aires"
    assert words(RUN_ONS[2], ["Springfield Illinois"]) == "Springfield Illinois"
    for m in (contains, words, exact):
        assert m(RUN_ONS[2], ["Chicago"]) is None


def test_empty_and_punctuation_only_aliases_never_match() -> None:
    for m in (contains, words, exact):
        assert m(" anything at all.", ["", " ", "..."]) is None
        assert m("", ["Paris"]) is None


def test_normalisers_examples() -> None:
    assert normalize_tokens("  Émile-Zola's  HOUSE ") == "emile zola s house"
    assert normalize_squad("The Émile Zola's house!") == "émile zolas house"
