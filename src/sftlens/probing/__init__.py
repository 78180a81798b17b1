"""Knowledge-mastery probing: how well a model knows each fact (paper scheme or SliCK).

Example::

    sftlens probe --model runs/world/model --data world:runs/world --out runs/probe

In-process: ``probe_facts(model, tok, facts, relations, ProbeConfig(...))`` → mastery rows;
``level_of(r)`` → level.  Importing this package does not import torch until
``probe_facts`` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sftlens.probing.config import ProbeConfig, SlickConfig
from sftlens.probing.mastery import SCHEMES, level_from_counts, level_of

if TYPE_CHECKING:
    from sftlens.probing.probe import probe_facts

__all__ = ["SCHEMES", "ProbeConfig", "SlickConfig", "level_from_counts", "level_of", "probe_facts"]


def __getattr__(name: str) -> Any:
    if name == "probe_facts":
        from sftlens.probing.probe import probe_facts

        return probe_facts
    raise AttributeError(f"module 'sftlens.probing' has no attribute {name!r}")
