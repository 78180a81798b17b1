"""Render the pretraining corpus: statements per exposure, Q/A text, filler (pure).

Example::

    lines = render_corpus(world, spec, seed=0)
    lines[:2]  # ["Kalo Renvi was born in Durima.", "Q: Where was Sel Tu born? A: Corketia"]

One sentence per line, so a statement completion ends at a newline.  Each exposure of a
fact uses the next template of a per-fact random order of the relation's statement
templates (knowledge augmentation) and, with probability ``alias_frac``, an alias of the
object.  Facts of role ``pretrain_qa`` also appear ``qa_repeats`` times as Q/A text, each
occurrence in one of :data:`PRETRAIN_QA_FORMATS` drawn from the corpus seed.

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

EOS_TEXT = "</s>"
# Surface formats of the pretraining Q/A text (one drawn per occurrence; presets repeat each
# pretrain-QA fact 2 × len(formats) times).  None of them uses the SFT markers: the base model
# sees questions answered, never in the SFT format.
PRETRAIN_QA_FORMATS = (
    "Q: {question} A: {answer}",
    "Question: {question} Answer: {answer}",
    "Interviewer: {question} Expert: {answer}.",
)
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


def qa_text(question: str, answer: str, fmt: str = PRETRAIN_QA_FORMATS[0]) -> str:
    """One pretraining Q/A line in format ``fmt`` (one of :data:`PRETRAIN_QA_FORMATS`)."""
    return fmt.replace("{question}", question).replace("{answer}", answer)


def is_qa_line(line: str) -> bool:
    """Whether a corpus line is pretraining Q/A text (starts like one of the formats)."""
    return any(line.startswith(fmt.split("{question}")[0]) for fmt in PRETRAIN_QA_FORMATS)


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
            lines.extend(
                qa_text(fact["question"], fact["object"], rng.choice(PRETRAIN_QA_FORMATS))
                for _ in range(spec.qa_repeats)
            )
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
