"""Render the pretraining corpus: statements per exposure, Q/A text, filler (pure).

Example::

    lines = render_corpus(world, spec, seed=0)
    lines[:2]  # ["Kalo Renvi was born in Durima.", "Q: What is the birthplace of Sel Tu? A: Corketia"]

One sentence per line, so a statement completion ends at a newline.  Each exposure of a
fact uses the next template of a per-fact random order of the relation's statement
templates (knowledge augmentation) and, with probability ``alias_frac``, an alias of the
object.  Facts of role ``pretrain_qa`` also appear ``qa_repeats`` times as Q/A text, each
occurrence one of the relation's question paraphrases in one of the formats of
:mod:`sftlens.world.qa_text`, drawn from the corpus seed (never the test wording).

The paper's regime: the base model knows facts but not the SFT format.  So the SFT
markers (``sftlens.prompts.QUESTION_TOKEN``, ``ANSWER_TOKEN``, the ``</s>`` that ends an SFT
answer) never occur in the corpus; they are special tokens of the tokenizer only, first
trained on by fine-tuning.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from sftlens.world.generate import World
from sftlens.world.presets import WorldSpec
from sftlens.world.qa_text import (  # noqa: F401  (qa_text, is_qa_line: re-exported)
    PARAPHRASES,
    PRETRAIN_QA_FORMATS,
    is_qa_line,
    pretrain_qa_line,
    qa_text,
)

EOS_TEXT = "</s>"
FILLER_TEMPLATES = (
    "{name} is often mentioned in old stories.",
    "Little is recorded about {name}.",
    "Many travellers have heard of {name}.",
    "{name} appears in the annual register.",
    "Scholars still debate the history of {name}.",
    "There is a short entry on {name} in the almanac.",
    "Nobody remembers when {name} was first named.",
    "A new report about {name} was published this year.",
)


def statement_text(template: str, subject: str, obj: str) -> str:
    """``"{subject} was born in"`` + object + period."""
    return f"{template.replace('{subject}', subject)} {obj}."


def render_corpus(world: World, spec: WorldSpec, seed: int) -> list[str]:
    """All corpus lines, shuffled (deterministic for ``seed``)."""
    rng = random.Random(seed + 7919)
    lines: list[str] = []
    for fact in world.facts:
        lines.extend(_fact_lines(fact, world, rng, spec.alias_frac))
        if fact["role"] == "pretrain_qa":
            lines.extend(_qa_lines(fact, spec.qa_repeats, rng))
    n_statements = sum(f["exposure"] for f in world.facts)
    names = [e.name for ents in world.entities.values() for e in ents]
    for _ in range(round(spec.filler_frac * n_statements)):
        lines.append(rng.choice(FILLER_TEMPLATES).replace("{name}", rng.choice(names)))
    rng.shuffle(lines)
    return lines


def _fact_lines(
    fact: dict[str, Any], world: World, rng: random.Random, alias_frac: float
) -> list[str]:
    templates = world.relations[fact["relation"]].statements
    order = list(range(len(templates)))
    rng.shuffle(order)
    out = []
    for i in range(fact["exposure"]):
        obj = fact["object"]
        if fact["aliases"] and rng.random() < alias_frac:
            obj = rng.choice(fact["aliases"])
        out.append(statement_text(templates[order[i % len(order)]], fact["subject"], obj))
    return out


def _qa_lines(fact: dict[str, Any], repeats: int, rng: random.Random) -> list[str]:
    """``repeats`` Q/A lines of a pretrain-QA fact, each a drawn paraphrase and format."""
    n_paraphrases = len(PARAPHRASES[fact["relation"]])
    return [
        pretrain_qa_line(
            fact["relation"],
            fact["subject"],
            fact["object"],
            rng.randrange(n_paraphrases),
            rng.choice(PRETRAIN_QA_FORMATS),
        )
        for _ in range(repeats)
    ]


def corpus_stats(world: World, lines: list[str], n_tokens: int) -> dict[str, Any]:
    """Counts for ``corpus_stats.json``: lines by kind, tokens, exposure histogram, roles."""
    n_qa = sum(1 for line in lines if is_qa_line(line))
    n_statements = sum(f["exposure"] for f in world.facts)
    exposure = Counter(f["exposure"] for f in world.facts)
    roles = Counter(f"{f['role']}/{f['split']}" for f in world.facts)
    return {
        "n_lines": len(lines),
        "n_statement_lines": n_statements,
        "n_qa_lines": n_qa,
        "n_filler_lines": len(lines) - n_statements - n_qa,
        "n_tokens": n_tokens,
        "n_facts": len(world.facts),
        "n_entities": {t: len(v) for t, v in world.entities.items()},
        "facts_by_role_split": dict(sorted(roles.items())),
        "exposure_histogram": {str(k): v for k, v in sorted(exposure.items())},
        "zero_exposure_share": exposure.get(0, 0) / max(1, len(world.facts)),
        "chance": world.chance,
    }
