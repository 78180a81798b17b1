"""Which prompt each model sees in the token-level analysis (pure, no I/O).

``qa``: the SFT prompt in the study's prompt format (``sftlens.prompts``; the paper's
``<|question|> {question} <|answer|>`` by default).
``statement``: the relation's best statement template *for the base model*, i.e. the
template with the most correct probe completions summed over the relation's facts in the
base model's mastery table (ties: the lower index).  A probe that used the first ``n``
templates gives ``n`` counts per fact; the choice is among those ``n``.

Example::

    best = best_templates(mastery_rows, relations)      # {"P19": 3, ...}
    prompt = prompt_for(fact, "statement", relations, best)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sftlens.data.records import Fact, Relation
from sftlens.errors import DataError
from sftlens.prompts import DEFAULT_FORMAT, get_format

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from sftlens.analysis.config import TokenKLConfig


def best_templates(
    rows: Iterable[Mapping[str, Any]],
    relations: Mapping[str, Relation],
    source: str = "mastery table",
) -> dict[str, int]:
    """Index of each relation's best statement template from ``per_template_correct`` sums."""
    sums: dict[str, list[float]] = {}
    for row in rows:
        counts = row.get("per_template_correct")
        rel = row.get("relation")
        if counts is None or rel is None or row.get("scheme", "paper") != "paper":
            raise DataError(
                f"{source}: fact {row.get('id')!r} has no per-template counts of the paper's "
                "statement-template probe; use base_prompt=qa"
            )
        if rel not in relations:
            continue
        n_templates = len(relations[rel].statement_templates)
        if not 0 < len(counts) <= n_templates:  # the probe may use the first n templates
            raise DataError(
                f"{source}: fact {row.get('id')!r} has {len(counts)} per-template counts, "
                f"relation {rel} has {n_templates} statement templates"
            )
        acc = sums.setdefault(rel, [0.0] * len(counts))
        if len(acc) != len(counts):
            raise DataError(
                f"{source}: fact {row.get('id')!r}: relation {rel} rows disagree on the template count"
            )
        for i, c in enumerate(counts):
            acc[i] += float(c)
    return {rel: argmax_first(s) for rel, s in sums.items()}


def argmax_first(values: list[float]) -> int:
    """Index of the largest value; the first one on ties."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def prompt_for(
    fact: Fact,
    kind: str,
    relations: Mapping[str, Relation],
    best: Mapping[str, int],
    fmt: str = DEFAULT_FORMAT,
    tok: PreTrainedTokenizerBase | None = None,
) -> str:
    """The prompt of ``kind`` (``qa`` in prompt format ``fmt``, or ``statement``) for ``fact``."""
    if kind == "qa":
        return get_format(fmt).prompt(tok, fact.question)
    if fact.relation not in best:
        raise DataError(
            f"fact {fact.id!r}: no best statement template for relation {fact.relation}"
        )
    return relations[fact.relation].statement(fact.subject, best[fact.relation])


def kl_prompts(
    facts: Sequence[Fact],
    relations: Mapping[str, Relation],
    mastery_rows: Iterable[Mapping[str, Any]],
    cfg: TokenKLConfig,
    tok: PreTrainedTokenizerBase | None = None,
) -> tuple[list[str], list[str]]:
    """The base model's and the tuned model's prompt for every fact (``cfg``'s kinds and format)."""
    needs_best = "statement" in (cfg.base_prompt, cfg.tuned_prompt)
    best = best_templates(mastery_rows, relations) if needs_best else {}
    base, tuned = (
        [prompt_for(f, kind, relations, best, cfg.prompt_format, tok) for f in facts]
        for kind in (cfg.base_prompt, cfg.tuned_prompt)
    )
    return base, tuned
