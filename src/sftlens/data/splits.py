"""Split presets: which relations are in-domain and which out-of-domain.

A preset assigns each relation id a domain (``in`` / ``ood``).  Relations a preset
does not list are dropped from EntityQuestions and JSONL data (logged, and counted
in ``Dataset.dropped``); world facts keep their own domain.

Example::

    python -m sftlens.data entityquestions:../shared/data/entityquestions --split-preset slick-2024
"""

from __future__ import annotations

from dataclasses import dataclass

from sftlens.data.records import Domain
from sftlens.registry import Registry


@dataclass(frozen=True)
class SplitPreset:
    """A named in-domain / out-of-domain assignment of relation ids."""

    name: str
    in_domain: tuple[str, ...]
    ood: tuple[str, ...]
    description: str = ""

    def domain_of(self, relation: str) -> Domain | None:
        """``in``, ``ood``, or ``None`` when the preset does not list the relation."""
        if relation in self.in_domain:
            return "in"
        if relation in self.ood:
            return "ood"
        return None

    @property
    def relations(self) -> tuple[str, ...]:
        return self.in_domain + self.ood


SPLIT_PRESETS: Registry[SplitPreset] = Registry("split preset")

SPLIT_PRESETS.add(
    "paper-2025",
    SplitPreset(
        "paper-2025",
        in_domain=("P17", "P19", "P20", "P36", "P69", "P131", "P159", "P276", "P495", "P740"),
        ood=(
            "P26",
            "P40",
            "P50",
            "P106",
            "P112",
            "P127",
            "P136",
            "P170",
            "P175",
            "P176",
            "P264",
            "P407",
            "P413",
            "P800",
        ),
        description="Ye et al. 2025: the 10 location relations in-domain, the other 14 OOD",
    ),
)
SPLIT_PRESETS.add(
    "slick-2024",
    SplitPreset(
        "slick-2024",
        in_domain=(
            "P131",
            "P136",
            "P17",
            "P19",
            "P26",
            "P264",
            "P36",
            "P40",
            "P495",
            "P69",
            "P740",
            "P800",
        ),
        ood=("P127", "P50", "P407", "P176", "P170", "P175", "P112"),
        description="Gekhman et al. 2024 (SliCK): 12 in-distribution, 7 out-of-distribution",
    ),
)


def get_split_preset(name: str) -> SplitPreset:
    """The preset registered as ``name`` (did-you-mean error otherwise)."""
    return SPLIT_PRESETS.get(name)
