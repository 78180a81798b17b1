"""The newline rule: where a generated answer's line begins and ends (the one owner).

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
    token_role("\\n")                      # TokenRole(text=False, newline=True, ends=False)
"""

from __future__ import annotations

from dataclasses import dataclass


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
    return TokenRole(text=bool(text.strip()), newline="\n" in text, ends="\n" in text.lstrip())
