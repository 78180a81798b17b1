"""What every source needs while loading: preset, templates, aliases, bad-row policy.

Example::

    python -m sftlens.data world:runs/world
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sftlens.data.alias_tables import AliasTable
from sftlens.data.invalid import Problems
from sftlens.data.records import Domain, Relation
from sftlens.data.relation_templates import TemplateSpec
from sftlens.data.splits import SplitPreset
from sftlens.errors import DataError

DOMAINS = ("in", "ood")
SPLITS = ("train", "dev", "test", "pretrain")  # pretrain: world Q/A facts no stage selects


@dataclass
class LoadContext:
    """Settings and counters shared by one ``load_dataset`` call."""

    spec: str
    preset: SplitPreset
    templates_path: str | Path | None
    aliases: AliasTable
    problems: Problems
    n_templates: int | None = None
    dropped: Counter[str] = field(default_factory=Counter)
    filtered: Counter[str] = field(default_factory=Counter)  # relation -> facts a source left out

    def relation(self, rel: str, spec: TemplateSpec, domain: Domain) -> Relation:
        """Build a :class:`Relation`, keeping the first ``n_templates`` statements."""
        statements = tuple(spec["statements"])
        if self.n_templates is not None:
            if len(statements) < self.n_templates:
                raise DataError(
                    f"relation {rel}: {len(statements)} statement templates, "
                    f"{self.n_templates} requested (add some with a templates file)"
                )
            statements = statements[: self.n_templates]
        return Relation(
            id=rel,
            name=spec["name"],
            question_template=spec["question"],
            statement_templates=statements,
            domain=domain,
        )
