"""Probing protocols: build each scheme's prompts, generate, match, score.

- ``paper``: every statement template of the fact's relation with the subject
  filled in (``"Alice was born in"``), ``samples`` completions each.
- ``slick``: ``exemplar_sets`` four-shot prompts (``Q: ...\\nA: ...`` exemplars from the
  same relation's dev split, else its other train facts), one greedy answer and
  ``slick.samples`` answers at T=0.5, top-40 per set.

Identical prompts are generated once (a completion depends only on seed, prompt
and sample index, so this changes nothing but the time).

Example::

    rows = probe_facts(model, tok, ds.facts, ds.relations, ProbeConfig(model="m", data="world:W"))
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sftlens.data.records import Fact, Relation
from sftlens.errors import DataError
from sftlens.probing.config import ProbeConfig
from sftlens.runstore import content_hash


def check_inputs(
    facts: Sequence[Fact], relations: Mapping[str, Relation], n_templates: int | None
) -> None:
    """One-line ``DataError`` for facts whose relation is unknown or has no templates."""
    for rel_id in dict.fromkeys(f.relation for f in facts):
        rel = relations.get(rel_id)
        if rel is None:
            fact = next(f for f in facts if f.relation == rel_id)
            raise DataError(f"fact {fact.id}: relation {rel_id} is not among the loaded relations")
        if not rel.statement_templates:
            raise DataError(
                f"relation {rel_id} ({rel.name}) has no statement templates to probe with"
            )
        if n_templates is not None and n_templates > len(rel.statement_templates):
            raise DataError(
                f"relation {rel_id} has {len(rel.statement_templates)} statement templates, "
                f"fewer than templates={n_templates}"
            )


def paper_prompts(
    facts: Sequence[Fact], relations: Mapping[str, Relation], n_templates: int | None
) -> list[list[str]]:
    """Per fact, one prompt per statement template (the first ``n_templates``, or all)."""
    out = []
    for fact in facts:
        rel = relations[fact.relation]
        count = len(rel.statement_templates) if n_templates is None else n_templates
        out.append([rel.statement(fact.subject, i) for i in range(count)])
    return out


def exemplar_sets(
    fact: Fact,
    by_relation: Mapping[tuple[str, str], Sequence[Fact]],
    sets: int,
    shots: int,
    seed: int,
) -> list[list[Fact]]:
    """``sets`` exemplar sets of ``shots`` facts of the same relation (dev split first).

    Deterministic per (seed, fact id), so chunking does not change them.
    """
    dev = [f for f in by_relation.get((fact.relation, "dev"), ()) if f.id != fact.id]
    candidates = (
        dev
        if len(dev) >= shots
        else [f for f in by_relation.get((fact.relation, "train"), ()) if f.id != fact.id]
    )
    if len(candidates) < shots:
        raise DataError(
            f"fact {fact.id}: relation {fact.relation} has {len(candidates)} dev/train facts, "
            f"fewer than the {shots} SliCK exemplars needed"
        )
    rng = random.Random(content_hash([seed, fact.id]))
    return [rng.sample(candidates, shots) for _ in range(sets)]


def slick_prompt(fact: Fact, exemplars: Sequence[Fact]) -> str:
    """Few-shot closed-book QA prompt in SliCK's ``Q: ...\\nA: ...`` format."""
    shots = "".join(f"Q: {e.question}\nA: {e.object}\n\n" for e in exemplars)
    return f"{shots}Q: {fact.question}\nA:"


def slick_prompts(facts: Sequence[Fact], pool: Sequence[Fact], cfg: ProbeConfig) -> list[list[str]]:
    """Per fact, one prompt per exemplar set."""
    by_relation: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    for f in pool:
        by_relation[(f.relation, f.split)].append(f)
    s = cfg.slick
    return [
        [
            slick_prompt(fact, ex)
            for ex in exemplar_sets(fact, by_relation, s.exemplar_sets, s.shots, cfg.seed)
        ]
        for fact in facts
    ]


def base_row(fact: Fact, scheme: str) -> dict[str, Any]:
    """The identifying columns of a mastery row."""
    return {
        "id": fact.id,
        "relation": fact.relation,
        "domain": fact.domain,
        "split": fact.split,
        "scheme": scheme,
        "exposure": fact.exposure,
    }
