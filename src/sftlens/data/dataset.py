"""The loaded data: facts plus their relations, with filtering by split/domain/role.

Example::

    ds = load_dataset("entityquestions:../shared/data/entityquestions")
    train_in = ds.select(split="train", domain="in")
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sftlens.data.context import DOMAINS, SPLITS
from sftlens.data.matching import answer_in_text
from sftlens.data.records import Fact, Relation
from sftlens.errors import SftlensError
from sftlens.registry import suggest


def _wanted(
    value: str | Iterable[str] | None, allowed: tuple[str, ...] | None, what: str
) -> set[str] | None:
    if value is None:
        return None
    values = {value} if isinstance(value, str) else set(value)
    for v in values:
        if allowed is not None and v not in allowed:
            raise SftlensError(f"unknown {what} '{v}'{suggest(v, list(allowed))}")
    return values


@dataclass
class Dataset:
    """Facts and relations from one data spec.

    Attributes:
        facts: the records, in a stable order.
        relations: relation id → :class:`Relation` (templates, domain).
        n_skipped: invalid records skipped under ``skip_invalid``.
        skipped: the first skipped records' messages.
        dropped: relation id → records dropped because the split preset omits it.
        spec: the data spec this came from.
        alias_table: the alias table answers are matched with, in words.
        filtered: relation id → facts the source left out because an accepted answer
            occurs in the question (``geo:``).
    """

    facts: list[Fact]
    relations: dict[str, Relation]
    n_skipped: int = 0
    skipped: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    spec: str = ""
    alias_table: str = ""
    filtered: dict[str, int] = field(default_factory=dict)

    def select(
        self,
        split: str | Iterable[str] | None = None,
        domain: str | Iterable[str] | None = None,
        role: str | Iterable[str] | None = None,
    ) -> Dataset:
        """A new Dataset with the facts matching every given filter (str or several)."""
        splits = _wanted(split, SPLITS, "split")
        domains = _wanted(domain, DOMAINS, "domain")
        roles = _wanted(role, None, "role")
        facts = [
            f
            for f in self.facts
            if (splits is None or f.split in splits)
            and (domains is None or f.domain in domains)
            and (roles is None or f.role in roles)
        ]
        return Dataset(
            facts, self.relations, self.n_skipped, self.skipped, self.dropped, self.spec,
            self.alias_table, self.filtered,
        )  # fmt: skip

    def by_id(self) -> dict[str, Fact]:
        return {f.id: f for f in self.facts}

    def counts(self) -> Counter[tuple[str, str]]:
        """Number of facts per ``(relation, split)``."""
        return Counter((f.relation, f.split) for f in self.facts)

    def answer_in_question(self, split: str = "test") -> Counter[str]:
        """Questions of ``split`` per domain that contain one of their accepted answers
        (``contains`` normalisation): ``contains`` may credit an output that echoes them."""
        return Counter(
            f.domain
            for f in self.facts
            if f.split == split and answer_in_text(f.accepted, f.question)
        )

    def summary(self) -> str:
        per: Counter[tuple[str, str]] = Counter((f.split, f.domain) for f in self.facts)
        parts = [f"{s}/{d} {per[s, d]}" for s in SPLITS for d in DOMAINS if per[s, d]]
        text = f"{self.spec or 'dataset'}: {len(self.facts)} facts, {len(self.relations)} relations"
        text += f" ({', '.join(parts)})" if parts else ""
        echoed = self.answer_in_question("test")
        text += f"; test questions containing an accepted answer: {sum(echoed.values())}"
        text += f" ({', '.join(f'{d} {n}' for d, n in sorted(echoed.items()))})" if echoed else ""
        if self.filtered:
            text += (
                f"; left out {sum(self.filtered.values())} facts whose answer is in the question"
            )
        if self.n_skipped:
            text += f"; skipped {self.n_skipped} invalid"
        if self.dropped:
            text += f"; dropped {sum(self.dropped.values())} of relations outside the preset ({', '.join(sorted(self.dropped))})"
        if self.alias_table:
            text += f"; alias table: {self.alias_table}"
        return text

    def __len__(self) -> int:
        return len(self.facts)

    def __iter__(self) -> Iterator[Fact]:
        return iter(self.facts)
