"""The official token rules: ``dpr`` (DPR has_answer) and ``entityquestions`` (EQ string_match).

Each vector is (output, accepted name, dpr result, entityquestions result), checked by hand
against the rule: SimpleTokenizer tokens (letter/digit/mark runs, or one other non-space
character), ``str.lower``, NFD (both texts for dpr, the name only for entityquestions),
contiguous token subsequence.
"""

from __future__ import annotations

import pytest

from sftlens.data import get_matcher
from sftlens.data.matching import dpr_tokens
from sftlens.errors import SftlensError

dpr = get_matcher("dpr")
eq = get_matcher("entityquestions")

COMPOSED, DECOMPOSED = "Z\u00fcrich", "Zu\u0308rich"

VECTORS = [
    # ASCII words: whole tokens only, contiguous
    (" Paris, France", "Paris", True, True),
    (" Paris, France", "France", True, True),
    (" Parisian food", "Paris", False, False),
    (" the Iranian border", "Iran", False, False),
    (" New York City", "New York", True, True),
    (" New Jersey, York", "New York", False, False),
    (" born in 1987 in Ohio", "1987", True, True),
    (" born in 19870", "1987", False, False),
    # punctuation: every mark is its own token, on both sides
    (" Washington, D.C.", "Washington, D.C.", True, True),
    (" Washington D.C.", "Washington, D.C.", False, False),
    (" Washington, D.C.", "Washington DC", False, False),
    (" St. Petersburg", "St Petersburg", False, False),
    (" St. Petersburg!", "St. Petersburg", True, True),
    (" comedy-drama film", "comedy drama", False, False),
    (" comedy-drama film", "comedy-drama", True, True),
    (" People's Republic", "People's Republic", True, True),
    (" People\u2019s Republic", "People's Republic", False, False),  # ’ is not '
    (" Harvard University.", "Harvard University", True, True),
    # accents: never stripped; NFD makes composed and decomposed equal (dpr only on the output)
    (" Sao Paulo", "S\u00e3o Paulo", False, False),
    (" S\u00e3o Paulo", "Sao Paulo", False, False),
    (" " + COMPOSED, COMPOSED, True, False),
    (" " + DECOMPOSED, COMPOSED, True, True),
    (" " + COMPOSED, DECOMPOSED, True, False),
    (" " + DECOMPOSED, DECOMPOSED, True, True),
    # case: str.lower on both
    ("  PARIS\t", "paris", True, True),
    (" paris", "PARIS", True, True),
    (" \u00c9MILE ZOLA", "\u00e9mile zola", True, False),  # composed É vs NFD é
    # sharp s: str.lower keeps ß (casefold would give ss)
    (" Stra\u00dfe", "Strasse", False, False),
    (" STRASSE", "Stra\u00dfe", False, False),
    (" Stra\u00dfe", "STRA\u00dfE", True, True),
    (" Gro\u00dfglockner", "Gro\u00dfglockner", True, True),
    # empty names never match
    (" anything", "", False, False),
    (" anything", "   ", False, False),
]


@pytest.mark.parametrize("output,name,want_dpr,want_eq", VECTORS)
def test_vectors(output: str, name: str, want_dpr: bool, want_eq: bool) -> None:
    assert (dpr(output, [name]) == name) is want_dpr
    assert (eq(output, [name]) == name) is want_eq


def test_simple_tokenizer_classes() -> None:
    assert dpr_tokens("Washington, D.C.") == ("washington", ",", "d", ".", "c", ".")
    assert dpr_tokens(" A\u00a0b\tc\n") == ("a", "b", "c")  # Z and C classes separate
    assert dpr_tokens("it's 3.5%") == ("it", "'", "s", "3", ".", "5", "%")
    assert dpr_tokens("Zu\u0308rich") == ("zu\u0308rich",)  # a mark stays in its word
    assert dpr_tokens("\u00c9COLE") == ("\u00e9cole",)
    assert dpr_tokens("STRA\u00dfE") == ("stra\u00dfe",)
    assert dpr_tokens("") == ()


def test_first_accepted_name_in_order_is_returned() -> None:
    accepted = ["United States of America", "USA", "United States"]
    assert dpr(" the USA, in the United States", accepted) == "USA"
    assert eq(" Canada", accepted) is None


def test_old_token_name_points_to_the_new_names() -> None:
    with pytest.raises(SftlensError, match="'token' was renamed: use 'words'.*'dpr'"):
        get_matcher("token")
    with pytest.raises(SftlensError, match="did you mean 'dpr'"):
        get_matcher("dprr")
