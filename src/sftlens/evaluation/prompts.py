"""The paper's QA prompt format, shared by evaluation and token-level analysis.

Example::

    qa_prompt("Where was Alice born?")   # '<|question|> Where was Alice born? <|answer|>'
"""

from __future__ import annotations

QA_TEMPLATE = "<|question|> {question} <|answer|>"


def qa_prompt(question: str) -> str:
    """The SFT/evaluation prompt for ``question``; the answer follows as `` {answer}``."""
    return QA_TEMPLATE.replace("{question}", question)
