"""The answer rules: which text of a completion is its answer (the one owner).

Two answer spans (``answer_span``, a setting of evaluation and probing):

- ``first_line`` (the paper's format, the default): the newline rule below.
- ``full`` (opt-in, for instruct and chat models that answer in full sentences, or open
  with a preamble line): a completion ends only at EOS or ``max_new_tokens``, and its
  answer is the whole completion, leading and trailing whitespace stripped
  (:func:`answer_text`).

The newline rule:

Instruct models often open an answer with a newline.  An answer's line therefore starts
after any blank lines (whitespace holding a newline) before the first non-space
character, and ends at the first newline AFTER that character.  The engine stops a row
there (:func:`token_role` of each vocabulary token, ``sftlens.generation.stops``), and
:func:`answer_line` cuts the decoded text the same way (generation, both backends, and the
``exact`` matcher's answer span).  A completion that starts with its answer is cut where a
plain "first newline" rule cuts it.

Example::

    answer_line("\\n\\n Paris\\nBerlin")   # ' Paris'
    answer_line(" Paris\\n")               # ' Paris'
    answer_text("Sure!\\nParis.\\n", "full")   # 'Sure!\\nParis.'
    stops_at_newline("full")                # False: only EOS and the cap end a row
    token_role("\\n")                      # TokenRole(text=False, newline=True, ends=False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

#: the answer spans: ``first_line`` (the paper's newline rule) or ``full`` (whole completion)
AnswerSpan = Literal["first_line", "full"]
ANSWER_SPANS: tuple[str, ...] = get_args(AnswerSpan)
DEFAULT_ANSWER_SPAN: AnswerSpan = "first_line"


def check_answer_span(span: str) -> str:
    """``span`` if it is an answer span, else a one-line ``ValueError`` naming the choices."""
    if span not in ANSWER_SPANS:
        raise ValueError(f"unknown answer_span '{span}'; choose {' or '.join(ANSWER_SPANS)}")
    return span


def stops_at_newline(span: str) -> bool:
    """Whether a newline after answer text ends a row under ``span`` (``first_line`` only)."""
    return check_answer_span(span) == "first_line"


def answer_text(text: str, span: str) -> str:
    """The answer of a completion ``text`` under ``span``: its answer line (``first_line``,
    :func:`answer_line`) or the whole text stripped of surrounding whitespace (``full``)."""
    return answer_line(text) if stops_at_newline(span) else text.strip()


def ends_at_newline(text: str) -> bool:
    """Whether ``text`` holds a newline after answer text (the newline rule ended it)."""
    return "\n" in text.lstrip()


def answer_line(text: str) -> str:
    """``text`` from after its leading blank lines up to the first newline after answer text.

    Whitespace on the answer's own line before the answer (``" Paris"``) is kept; text that
    is all whitespace without a newline is returned as it is.
    """
    start = len(text) - len(text.lstrip())  # first non-space character (len(text) if none)
    line_start = text.rfind("\n", 0, start) + 1  # after the last leading newline
    end = text.find("\n", start)
    return text[line_start : end if end >= 0 else len(text)]


@dataclass(frozen=True)
class TokenRole:
    """What one token's text (decoded alone) does to a row under the newline rule.

    Attributes:
        text: holds a non-space character: the answer has begun once it is generated.
        newline: holds a newline: ends a row whose answer has begun before this token.
        ends: holds a newline after a non-space character of its own (``"Paris\\n"``):
            ends the row whatever came before.
    """

    text: bool
    newline: bool
    ends: bool


def token_role(text: str) -> TokenRole:
    """The :class:`TokenRole` of a token whose text (decoded alone) is ``text``."""
    return TokenRole(text=bool(text.strip()), newline="\n" in text, ends=ends_at_newline(text))
