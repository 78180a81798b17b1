"""Which prompt each model sees in the token-level analysis (pure, no I/O).

``qa``: the SFT prompt ``<|question|> {question} <|answer|>``.
``statement``: the relation's best statement template *for the base model*, i.e. the
template with the most correct probe completions summed over the relation's facts in the
base model's mastery table (ties: the lower index).

Example::

    best = best_templates(mastery_rows, relations)      # {"P19": 3, ...}
    prompt = prompt_for(fact, "statement", relations, best)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sftlens.data.records import Fact, Relation
from sftlens.errors import DataError
from sftlens.evaluation import qa_prompt


def best_templates(
    rows: Iterable[Mapping[str, Any]], relations: Mapping[str, Relation], source: str = "mastery table"
) -> dict[str, int]:
    """Index of each relation's best statement template from ``per_template_correct`` sums."""
    sums: dict[str, list[float]] = {}
    for row in rows:
        counts = row.get("per_template_correct")
        rel = row.get("relation")
        if counts is None or rel is None:
            raise DataError(
                f"{source}: fact {row.get('id')!r} has no per_template_correct/relation; "
                "use base_prompt=qa or a mastery table of the statement-template probe"
            )
        if rel not in relations:
            continue
        n_templates = len(relations[rel].statement_templates)
        if len(counts) != n_templates:
            raise DataError(
                f"{source}: fact {row.get('id')!r} has {len(counts)} per-template counts, "
                f"relation {rel} has {n_templates} statement templates"
            )
        acc = sums.setdefault(rel, [0.0] * n_templates)
        for i, c in enumerate(counts):
            acc[i] += float(c)
    return {rel: max(range(len(s)), key=lambda i, s=s: (s[i], -i)) for rel, s in sums.items()}


def prompt_for(fact: Fact, kind: str, relations: Mapping[str, Relation], best: Mapping[str, int]) -> str:
    """The prompt of ``kind`` (``qa`` or ``statement``) for ``fact``."""
    if kind == "qa":
        return qa_prompt(fact.question)
    if fact.relation not in best:
        raise DataError(f"fact {fact.id!r}: no best statement template for relation {fact.relation}")
    return relations[fact.relation].statement(fact.subject, best[fact.relation])
