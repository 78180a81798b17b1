"""The answer rules on text (``answer_line``, ``answer_text``, ``token_role``) and per token
(``StopRule``), with the tiny Llama's byte-level tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from sftlens.generation.stops import stop_rule, token_roles
from sftlens.newline_rule import (
    TokenRole,
    answer_line,
    answer_text,
    ends_at_newline,
    stops_at_newline,
    token_role,
)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (" Paris\nBerlin", " Paris"),  # the paper's case: the first newline
        ("Paris", "Paris"),
        ("\n Paris\nBerlin", " Paris"),  # an instruct model's leading newline
        ("\n\n \t\n  Paris. \nx", "  Paris. "),
        (" \n", ""),
        ("   ", "   "),
        ("", ""),
        ("\nParis", "Paris"),
    ],
)
def test_answer_line(text: str, line: str) -> None:
    assert answer_line(text) == line


def test_answer_line_is_the_first_line_when_the_text_does_not_open_with_a_blank_line() -> None:
    for text in (" Paris\n\nx", "a\nb", " x y \n", "Rome"):
        assert answer_line(text) == text.split("\n", 1)[0]


PREAMBLE = "Sure! Here is the answer:\nThe capital of Chandauli district is Lucknow.\n"


@pytest.mark.parametrize(
    ("text", "first_line", "full"),
    [
        ("\n\n Paris\nBerlin", " Paris", "Paris\nBerlin"),  # leading newlines
        (PREAMBLE, "Sure! Here is the answer:", PREAMBLE.strip()),  # a preamble line first
        (" Lucknow.", " Lucknow.", "Lucknow."),  # ended by EOS: nothing to cut
        ("\n \n", "", ""),
    ],
)
def test_answer_text_under_each_span(text: str, first_line: str, full: str) -> None:
    assert answer_text(text, "first_line") == first_line == answer_line(text)
    assert answer_text(text, "full") == full


def test_only_the_first_line_span_stops_at_a_newline() -> None:
    assert stops_at_newline("first_line") and not stops_at_newline("full")
    with pytest.raises(ValueError, match="unknown answer_span 'line'; choose first_line or full"):
        stops_at_newline("line")
    assert ends_at_newline(" Paris\nx") and not ends_at_newline("\n\n Paris")


def test_token_role() -> None:
    assert token_role("\n") == TokenRole(text=False, newline=True, ends=False)
    assert token_role(" ") == TokenRole(text=False, newline=False, ends=False)
    assert token_role(" Paris") == TokenRole(text=True, newline=False, ends=False)
    assert token_role("\nParis") == TokenRole(text=True, newline=True, ends=False)
    assert token_role("Paris\n") == TokenRole(text=True, newline=True, ends=True)
    assert token_role(" \n\n") == TokenRole(text=False, newline=True, ends=False)


@pytest.fixture(scope="module")
def tok(tiny_llama_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama_dir)


def ids_of(tok: Any, *pieces: str) -> list[int]:
    """One id per piece (each piece one token of the byte-level tokenizer)."""
    out = []
    for piece in pieces:
        (tid,) = tok(piece, add_special_tokens=False)["input_ids"]
        out.append(tid)
    return out


def test_roles_of_a_tokenizer(tok: Any) -> None:
    roles = token_roles(tok)
    (newline,) = ids_of(tok, "\n")
    (space,) = ids_of(tok, " ")
    assert newline in roles.newline and newline in roles.blank and space in roles.blank
    assert set(tok.all_special_ids) <= set(roles.blank)  # dropped when decoded
    assert ids_of(tok, "P")[0] not in roles.blank
    assert token_roles(tok) is roles  # cached on the tokenizer


def test_a_row_ends_at_the_first_newline_after_answer_text(tok: Any) -> None:
    rule = stop_rule(tok, None, stop_at_newline=True)
    nl, sp, p, a = ids_of(tok, "\n", " ", "P", "a")
    eos = tok.eos_token_id
    assert rule.cut([nl, sp, nl, p, a, nl, p, nl]) == [nl, sp, nl, p, a, nl]
    assert rule.cut([p, nl, nl]) == [p, nl]  # the paper's case: cut at the first newline
    assert rule.cut([nl, nl, eos, p]) == [nl, nl]
    assert rule.cut([nl, sp, nl]) == [nl, sp, nl]  # no answer text: the token cap ends it
    assert rule.cut([eos, nl, tok.bos_token_id, nl, p, nl]) == []
    assert rule.cut([tok.bos_token_id, nl, p, nl]) == [tok.bos_token_id, nl, p, nl]
    plain = stop_rule(tok, None, stop_at_newline=False)
    assert plain.cut([nl, p, nl, p, eos, a]) == [nl, p, nl, p]


def test_tables_mark_the_same_tokens(tok: Any) -> None:
    rule = stop_rule(tok, None, stop_at_newline=True)
    tables = rule.tables(len(tok) + 4, torch.device("cpu"))  # a head wider than the tokenizer
    nl, p = ids_of(tok, "\n", "P")
    assert tables.ends.shape == (len(tok) + 4,) and tables.ends.dtype == torch.bool
    assert bool(tables.ends[tok.eos_token_id]) and not bool(tables.ends[nl])
    assert bool(tables.newline[nl]) and not bool(tables.text[nl]) and bool(tables.text[p])
    assert bool(tables.text[len(tok) + 1]) and not bool(tables.newline[len(tok) + 1])
    plain = stop_rule(tok, None, stop_at_newline=False).tables(len(tok), torch.device("cpu"))
    assert not plain.newline.any() and int(plain.ends.sum()) == 1


def test_the_full_span_stops_only_at_eos(tok: Any) -> None:
    rule = stop_rule(tok, None, stop_at_newline=stops_at_newline("full"))
    nl, p, a = ids_of(tok, "\n", "P", "a")
    eos = tok.eos_token_id
    assert rule.end([p, nl, a, nl, p]) is None  # no newline ends a row: the cap does
    assert rule.cut([nl, p, nl, a, eos, p]) == [nl, p, nl, a]
    assert rule.end([p, nl, eos]) == 2
    tables = rule.tables(len(tok), torch.device("cpu"))
    assert not tables.newline.any() and not bool(tables.ends[nl]) and bool(tables.ends[eos])
    paper = stop_rule(tok, None, stop_at_newline=stops_at_newline("first_line"))
    assert paper.end([p, nl, a]) == 2 and paper.end([p, a]) is None
