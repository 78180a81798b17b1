"""The one record type for closed-book QA facts, and the relation (template) type.

Every source (EntityQuestions, the knowledge world, generic JSONL) yields
:class:`Fact` records and :class:`Relation` templates; every stage reads them.
Templates use ``{subject}`` as the placeholder.

Example::

    fact = Fact("P19/test/7", "P19", "Ada Lovelace", "Where was Ada Lovelace born?",
                ("London",), aliases=("London, England",), split="test")
    fact.accepted     # ('London', 'London, England')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Domain = Literal["in", "ood"]
Split = Literal["train", "dev", "test", "pretrain"]


@dataclass(frozen=True)
class Fact:
    """One closed-book QA fact.

    Attributes:
        id: unique, stable id (e.g. ``P19/train/123`` or ``world/R03/417``).
        relation: relation id (``P19``, ``born_in``).
        subject: the subject entity, filled into statement templates.
        question: the natural question.
        answers: accepted answers; ``answers[0]`` is the canonical object.
        aliases: extra accepted names (from alias tables), beyond ``answers``.
        domain: ``in`` (in-domain / location relations) or ``ood``.
        split: ``train``, ``dev``, ``test`` or ``pretrain`` (world Q/A facts seen in
            pretraining; no stage selects them).
        source: ``entityquestions``, ``world`` or ``jsonl``.
        exposure: world facts only: how often pretraining saw the fact.
        role: world facts only: ``pool`` or ``pretrain_qa`` (split ``pretrain``; never
            used for SFT, dev or test).
    """

    id: str
    relation: str
    subject: str
    question: str
    answers: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    domain: Domain = "in"
    split: Split = "train"
    source: str = "jsonl"
    exposure: int | None = None
    role: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def object(self) -> str:
        return self.answers[0]

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every string that counts as a correct answer (answers, then aliases)."""
        seen: dict[str, None] = dict.fromkeys(self.answers)
        seen.update(dict.fromkeys(self.aliases))
        return tuple(seen)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["answers"] = list(self.answers)
        row["aliases"] = list(self.aliases)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Fact:
        data = dict(row)
        data["answers"] = tuple(data.get("answers") or ())
        data["aliases"] = tuple(data.get("aliases") or ())
        data.setdefault("meta", {})
        data["meta"] = data["meta"] or {}
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Relation:
    """A relation and its templates.

    Attributes:
        id: relation id.
        name: human-readable name ("place of birth").
        question_template: natural question with ``{subject}``.
        statement_templates: mapping templates ending where the object goes,
            e.g. ``"{subject} was born in"``.
        domain: ``in`` or ``ood`` under the active split preset.
    """

    id: str
    name: str
    question_template: str
    statement_templates: tuple[str, ...]
    domain: Domain = "in"

    def question(self, subject: str) -> str:
        return self.question_template.replace("{subject}", subject)

    def statement(self, subject: str, index: int) -> str:
        return self.statement_templates[index].replace("{subject}", subject)
