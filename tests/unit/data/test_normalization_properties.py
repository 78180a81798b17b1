"""Property tests: every normalisation is idempotent, and matching is consistent with it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sftlens.data import get_matcher
from sftlens.data.matching import normalize_light, normalize_squad, normalize_tokens

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["Zu\u0308rich", "ℌello", "İstanbul", "ǅemal", "ﬁnance", "The U.S.A."]
)

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True)


@SETTINGS
@given(TEXT)
def test_light_idempotent(text: str) -> None:
    once = normalize_light(text)
    assert normalize_light(once) == once


@SETTINGS
@given(TEXT)
def test_tokens_idempotent(text: str) -> None:
    once = normalize_tokens(text)
    assert normalize_tokens(once) == once
    assert "  " not in once and once == once.strip()


@SETTINGS
@given(TEXT)
def test_squad_idempotent(text: str) -> None:
    once = normalize_squad(text)
    assert normalize_squad(once) == once


@SETTINGS
@given(TEXT, TEXT, TEXT)
def test_alias_embedded_in_output_is_found(before: str, alias: str, after: str) -> None:
    """contains and words find an alias placed verbatim, as a word, in the output."""
    output = before + " " + alias + " " + after
    if normalize_light(alias):
        assert get_matcher("contains")(output, [alias]) == alias
    if normalize_tokens(alias):
        assert get_matcher("words")(output, [alias]) == alias


@SETTINGS
@given(TEXT)
def test_output_matches_itself_under_exact_when_single_line(text: str) -> None:
    line = text.replace("\n", " ").replace("\r", " ")
    if normalize_squad(line):
        assert get_matcher("exact")(line, [line]) == line
