"""Answer matching: is a model output correct, and which accepted name did it hit?

Six modes live in :data:`MATCHERS` (a registry with did-you-mean errors):

- ``contains`` (the paper's rule, default): some accepted name is a substring of
  the output, after light normalisation of both (Unicode NFKC, case folding,
  typographic quotes/dashes to ASCII, whitespace collapsed).  An alias inside a
  longer word counts ("Iran" in "Iranian").
- ``dpr``: DPR's ``has_answer`` (string mode).  Both texts are NFD-normalised and
  split by DPR's SimpleTokenizer (runs of letters, digits and marks, or any other
  single non-space character: each punctuation mark is its own token), lower-cased
  with ``str.lower``; the name's token sequence must appear contiguously in the
  output's.  "Iran" does not match "Iranian"; "Washington DC" does not match
  "Washington, D.C."; "Sao Paulo" does not match "São Paulo"; "ß" is not "ss".
- ``entityquestions``: the EntityQuestions repository's copy of that rule
  (``string_match``), which NFD-normalises only the accepted name, not the output:
  a precomposed accented letter in the output never matches an accented name.
- ``words``: a lenient token rule: casefold, accents stripped, punctuation turned
  into word breaks on both sides, then word-sequence containment ("Washington DC"
  matches "Washington, D.C."; "Sao Paulo" matches "São Paulo").  Formerly ``token``.
- ``exact``: SQuAD-style exact match (lower-case, punctuation and articles removed)
  of the answer span: the output's answer line (blank lines before it skipped, up to the
  next newline: :mod:`sftlens.newline_rule`), then up to a period.
  Every period is tried as the span's end, so "St. Petersburg." still matches.

``contains-no-echo`` (opt-in) is ``contains`` on the output with the fact's question and
subject cut out first: an answer found only inside the echoed question or subject
("The capital of Chandauli district is Lahore." for Chandauli) is not credited.
:func:`answer_in_text` is the one test of "an accepted name occurs in this text" (the
echo count of ``sftlens data`` and the ``geo:`` filter).

Every matcher is ``(output, accepted) -> matched name or None``; the name returned
is the first accepted string (in the given order) that matches.  A name with no
tokens (empty or blank) never matches.

Example::

    python -c "from sftlens.data import get_matcher; print(get_matcher('dpr')(' Paris, France', ['Paris']))"
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

import regex

from sftlens.data.records import Fact
from sftlens.errors import SftlensError
from sftlens.newline_rule import answer_line
from sftlens.registry import Registry

Matcher = Callable[[str, Sequence[str]], "str | None"]

MATCHERS: Registry[Matcher] = Registry("matching mode")

_ASCII_PUNCT = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
}  # fmt: skip
_ASCII_TABLE = str.maketrans(_ASCII_PUNCT)
_WS = re.compile(r"\s+")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _fixpoint(func: Callable[[str], str], text: str) -> str:
    """Apply ``func`` until the text stops changing (Unicode casing and compatibility
    forms can interact, e.g. a compatibility letter that decomposes to upper case).
    ASCII input needs one pass: the result is already stable."""
    if text.isascii():
        return func(text)
    for _ in range(4):
        nxt = func(text)
        if nxt == text:
            return nxt
        text = nxt
    return text


def _light(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_ASCII_TABLE)
    return _WS.sub(" ", text).strip()


def normalize_light(text: str) -> str:
    """The ``contains`` normalisation: NFKC, casefold, ASCII quotes/dashes, collapsed spaces."""
    return _fixpoint(_light, text)


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


class _TokenChars(dict):  # type: ignore[type-arg]
    """``str.translate`` table, filled lazily: accents dropped, punctuation → space."""

    def __missing__(self, code: int) -> str | None:
        ch = chr(code)
        value = None if unicodedata.combining(ch) else " " if _is_punct(ch) else ch
        self[code] = value
        return value


_TOKEN_TABLE = _TokenChars()


def _token(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold()).translate(_TOKEN_TABLE)
    return _WS.sub(" ", text).strip()


def normalize_tokens(text: str) -> str:
    """The ``words`` normalisation (DPR-style): casefold, strip accents, punctuation
    becomes a word break, words joined by single spaces."""
    return _fixpoint(_token, text)


def tokens(text: str) -> tuple[str, ...]:
    """Words of :func:`normalize_tokens`."""
    norm = normalize_tokens(text)
    return tuple(norm.split(" ")) if norm else ()


def _squad(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_ASCII_TABLE)
    text = "".join(c for c in text if c not in string.punctuation and not _is_punct(c))
    text = _ARTICLES.sub(" ", text)
    return _WS.sub(" ", text).strip()


def normalize_squad(text: str) -> str:
    """SQuAD ``normalize_answer``: lower-case, drop punctuation and articles, fix spaces
    (plus NFKC, so composed and decomposed accents compare equal)."""
    return _fixpoint(_squad, text)


@lru_cache(maxsize=65536)
def _light_cached(text: str) -> str:
    return normalize_light(text)


@lru_cache(maxsize=65536)
def _tokens_cached(text: str) -> tuple[str, ...]:
    return tokens(text)


@lru_cache(maxsize=65536)
def _squad_cached(text: str) -> str:
    return normalize_squad(text)


@MATCHERS.register("contains")
def match_contains(output: str, accepted: Sequence[str]) -> str | None:
    """The paper's rule: an accepted name is a substring of the normalised output."""
    out = normalize_light(output)
    for name in accepted:
        norm = _light_cached(name)
        if norm and norm in out:
            return name
    return None


def match_contains_no_echo(
    output: str, accepted: Sequence[str], echo: Sequence[str] = ()
) -> str | None:
    """``contains`` after removing each ``echo`` text (the question, the subject) from
    the normalised output; callers pass ``echo`` through :func:`match_fact`."""
    out = normalize_light(output)
    for text in sorted({_light_cached(e) for e in echo}, key=len, reverse=True):
        if text:
            out = out.replace(text, " | ")
    for name in accepted:
        norm = _light_cached(name)
        if norm and norm in out:
            return name
    return None


MATCHERS.add("contains-no-echo", match_contains_no_echo)


def match_fact(matcher: Matcher, output: str, fact: Fact) -> str | None:
    """``matcher(output, fact.accepted)``, giving an echo-aware matcher the fact's
    question and subject to ignore."""
    if matcher is match_contains_no_echo:
        return match_contains_no_echo(output, fact.accepted, (fact.question, fact.subject))
    return matcher(output, fact.accepted)


def answer_in_text(accepted: Sequence[str], text: str) -> bool:
    """Whether some accepted name occurs in ``text`` (``contains`` normalisation)."""
    return match_contains(text, accepted) is not None


def _contains_seq(hay: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    first = needle[0]
    return any(hay[i] == first and hay[i : i + n] == needle for i in range(len(hay) - n + 1))


@MATCHERS.register("words")
def match_words(output: str, accepted: Sequence[str]) -> str | None:
    """Lenient word-sequence containment (casefold, no accents, punctuation = space)."""
    out = tokens(output)
    for name in accepted:
        needle = _tokens_cached(name)
        if needle and _contains_seq(out, needle):
            return name
    return None


# DPR's SimpleTokenizer: a run of letters, digits and combining marks, or one other
# character that is neither a separator (Z) nor a control/format/unassigned one (C).
_DPR_TOKEN = regex.compile(
    r"[\p{L}\p{N}\p{M}]+|[^\p{Z}\p{C}]", flags=regex.IGNORECASE | regex.UNICODE | regex.MULTILINE
)


def dpr_tokens(text: str) -> tuple[str, ...]:
    """DPR SimpleTokenizer tokens of ``text``, lower-cased with ``str.lower`` (no other
    normalisation: callers NFD-normalise first where the rule says so)."""
    return tuple(m.group().lower() for m in _DPR_TOKEN.finditer(text))


@lru_cache(maxsize=65536)
def _dpr_name_tokens(name: str) -> tuple[str, ...]:
    return dpr_tokens(unicodedata.normalize("NFD", name))


def _match_dpr(output_tokens: tuple[str, ...], accepted: Sequence[str]) -> str | None:
    for name in accepted:
        needle = _dpr_name_tokens(name)
        if needle and _contains_seq(output_tokens, needle):
            return name
    return None


@MATCHERS.register("dpr")
def match_dpr(output: str, accepted: Sequence[str]) -> str | None:
    """DPR ``has_answer`` (string mode): NFD both, SimpleTokenizer, lower, contiguous."""
    return _match_dpr(dpr_tokens(unicodedata.normalize("NFD", output)), accepted)


@MATCHERS.register("entityquestions")
def match_entityquestions(output: str, accepted: Sequence[str]) -> str | None:
    """EntityQuestions' ``string_match``: as ``dpr`` but only the name is NFD-normalised."""
    return _match_dpr(dpr_tokens(output), accepted)


def answer_spans(output: str) -> list[str]:
    """Candidate answer spans: the answer's line (:func:`sftlens.newline_rule.answer_line`:
    blank lines before it skipped), cut at each of its periods (and whole)."""
    line = answer_line(output)
    cuts = [i for i, c in enumerate(line) if c == "."]
    return [line[:i] for i in cuts] + [line]


@MATCHERS.register("exact")
def match_exact(output: str, accepted: Sequence[str]) -> str | None:
    """SQuAD exact match of the answer span (first line, up to a period)."""
    spans = {normalize_squad(s) for s in answer_spans(output)}
    spans.discard("")
    for name in accepted:
        if _squad_cached(name) in spans:
            return name
    return None


RENAMED = {
    "token": "matching mode 'token' was renamed: use 'words' for the same lenient rule, "
    "or 'dpr' / 'entityquestions' for the official DPR / EntityQuestions has_answer"
}


def get_matcher(name: str) -> Matcher:
    """The matcher registered as ``name`` (``contains``, ``contains-no-echo``, ``dpr``,
    ``entityquestions``, ``words``, ``exact``); unknown names raise a one-line did-you-mean error."""
    if name in RENAMED:
        raise SftlensError(RENAMED[name])
    return MATCHERS.get(name)
