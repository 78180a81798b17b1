"""Knowledge-mastery probing: how well a model knows each fact (paper scheme or SliCK).

Example::

    sftlens probe --model runs/world/model --data world:runs/world --out runs/probe

In-process: ``probe_facts(model, tok, facts, relations, ProbeConfig(...))`` → mastery rows;
``level_of(r)`` → level.  Importing this package does not import torch until
``probe_facts`` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sftlens.probing.config import ProbeConfig, ProbeSettings, SlickConfig
from sftlens.probing.mastery import SCHEMES, level_from_counts, level_of
from sftlens.probing.protocols import paper_prompts
from sftlens.probing.table import (
    check_covered,
    check_same_data,
    levels_for,
    levels_from_rows,
    read_levels,
)

if TYPE_CHECKING:
    from sftlens.probing.probe import complete, count_correct, probe_facts, warn_cap_hits

__all__ = [
    "SCHEMES", "ProbeConfig", "ProbeSettings", "SlickConfig", "check_covered", "check_same_data",
    "complete", "count_correct", "level_from_counts", "level_of", "levels_for", "levels_from_rows",
    "paper_prompts", "probe_facts", "read_levels", "warn_cap_hits",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in ("probe_facts", "complete", "count_correct", "warn_cap_hits"):
        from sftlens.probing import probe

        return getattr(probe, name)
    raise AttributeError(f"module 'sftlens.probing' has no attribute {name!r}")
