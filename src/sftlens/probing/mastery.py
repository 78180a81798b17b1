"""Pure mastery arithmetic: correct counts → R → level, and the scheme registry.

Levels (paper): 0 if R = 0, else i for R in ((i-1)/4, i/4].
SliCK (Gekhman et al. 2024): from P_correct(greedy) and P_correct(sampled).

Example::

    level_of(0.25)   # 1
    level_of(0.26)   # 2
    SCHEMES.get("slick").classify(greedy_correct=3, greedy_total=10, sampled_correct=9, sampled_total=160)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sftlens.registry import Registry

N_LEVELS = 5
SLICK_CATEGORIES = ("Unknown", "WeaklyKnown", "MaybeKnown", "HighlyKnown")  # level = index


def level_of(r: float) -> int:
    """The paper's level of a fact with share correct ``r`` in [0, 1]."""
    if not 0.0 <= r <= 1.0 or math.isnan(r):
        raise ValueError(f"R must be in [0, 1], got {r}")
    if r == 0.0:
        return 0
    return min(4, max(1, math.ceil(r * 4 - 1e-9)))


def level_from_counts(correct: int, total: int) -> int:
    """:func:`level_of` in exact integer arithmetic: ceil(4 * correct / total)."""
    if total <= 0 or not 0 <= correct <= total:
        raise ValueError(f"need 0 <= correct <= total and total > 0, got {correct}/{total}")
    return -(-4 * correct // total)


def slick_category(greedy_correct: int, greedy_total: int, sampled_correct: int) -> int:
    """SliCK level: 3 HighlyKnown (greedy always right), 2 MaybeKnown (sometimes),
    1 WeaklyKnown (greedy never, sampling sometimes), 0 Unknown (never)."""
    if greedy_correct == greedy_total and greedy_total > 0:
        return 3
    if greedy_correct > 0:
        return 2
    return 1 if sampled_correct > 0 else 0


def score_paper(per_template_correct: Sequence[int], samples: int) -> dict[str, Any]:
    """Mastery of one fact under the paper's scheme (``samples`` completions per template)."""
    total = len(per_template_correct) * samples
    correct = int(sum(per_template_correct))
    return {
        "n_correct": correct,
        "n_total": total,
        "R": correct / total,
        "level": level_from_counts(correct, total),
    }


def score_slick(
    greedy_per_set: Sequence[int], sampled_per_set: Sequence[int], samples: int
) -> dict[str, Any]:
    """Mastery of one fact under SliCK: R = P_correct(greedy); level = category index."""
    sets = len(greedy_per_set)
    greedy = int(sum(greedy_per_set))
    sampled = int(sum(sampled_per_set))
    level = slick_category(greedy, sets, sampled)
    return {
        "n_correct": greedy,
        "n_total": sets,
        "R": greedy / sets,
        "p_sampled": sampled / (sets * samples),
        "level": level,
        "category": SLICK_CATEGORIES[level],
    }


@dataclass(frozen=True)
class Scheme:
    """A mastery scheme: how many levels, their names, how prompts are built (protocols.py)."""

    name: str
    level_names: tuple[str, ...]
    describe: str


SCHEMES: Registry[Scheme] = Registry("mastery scheme")
SCHEMES.add(
    "paper",
    Scheme(
        "paper",
        ("L0", "L1", "L2", "L3", "L4"),
        "R = correct / (templates x samples) over statement templates; level by quarter",
    ),
)
SCHEMES.add(
    "slick",
    Scheme(
        "slick",
        SLICK_CATEGORIES,
        "SliCK: few-shot greedy and T=0.5 sampled answers over exemplar sets",
    ),
)
