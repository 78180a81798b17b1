"""The world check's pure rules: requirements from per-fact numbers, and the printed report
(numbers in, :class:`CheckMetrics` out; the model runs in :mod:`sftlens.world.check`).

Example::

    m = score(exposure, acc, chance, levels, WorldCheckConfig(), sft=SftFormat(correct, domains))
    print(format_report(m))

Requirements: Spearman(exposure, accuracy) ≥ 0.6; zero-exposure accuracy ≤ chance + 0.05
(chance = always answering the relation's most frequent object); accuracy at ≥ 10 exposures
≥ 0.8; every mastery level (paper probe) holds ≥ 5% of the facts; Spearman(exposure, probe R)
≥ 0.7; the paper's regime (the base model's SFT-format macro accuracy ≤ 5%, in-domain and
out-of-domain); the answer space (≥ 80% of relations within 2× of EntityQuestions on both
figures); optionally the held-out Q/A format accuracy at ≥ 10 exposures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from sftlens.correlation import rank, spearman  # noqa: F401  (rank: re-exported)
from sftlens.world.config import WorldCheckConfig

EXPOSURE_BINS = ((0, 0), (1, 3), (4, 10), (11, 10**9))


def bin_label(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else (f">{lo - 1}" if hi >= 10**9 else f"{lo}-{hi}")


def exposure_table(exposure: ArrayLike, acc: ArrayLike) -> list[dict[str, Any]]:
    """Mean accuracy per exposure bin (0, 1-3, 4-10, >10)."""
    e, a = np.asarray(exposure), np.asarray(acc, dtype=float)
    rows = []
    for lo, hi in EXPOSURE_BINS:
        mask = (e >= lo) & (e <= hi)
        n = int(mask.sum())
        rows.append(
            {
                "exposure": bin_label(lo, hi),
                "n": n,
                "accuracy": float(a[mask].mean()) if n else float("nan"),
            }
        )
    return rows


@dataclass
class Requirement:
    name: str
    value: float
    target: str
    passed: bool


@dataclass
class CheckMetrics:
    """Numbers behind ``sftlens world check``."""

    n_facts: int
    spearman: float
    zero_accuracy: float
    chance: float
    high_accuracy: float
    table: list[dict[str, Any]]
    level_shares: dict[int, float] = field(default_factory=dict)
    spearman_r: float = float("nan")  # Spearman(exposure, probe R); NaN without the probe
    sft_format_macro: dict[str, float] = field(default_factory=dict)  # domain -> macro accuracy
    heldout_table: list[dict[str, Any]] = field(default_factory=list)  # held-out Q/A per bin
    heldout_high_accuracy: float = float("nan")  # held-out Q/A accuracy at >= high_exposure
    answer_space: list[dict[str, Any]] = field(default_factory=list)  # per relation vs EQ
    answer_space_share: float = float("nan")  # share of relations within 2x on both figures
    requirements: list[Requirement] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.requirements)


def macro_accuracy(correct: Sequence[bool], levels: Sequence[int] | None) -> float:
    """Mean of the per-level accuracies (levels present only); plain accuracy without levels."""
    c = np.asarray(correct, dtype=float)
    if not len(c):
        return float("nan")
    if levels is None:
        return float(c.mean())
    lv = np.asarray(levels, dtype=int)
    from sftlens.evaluation import macro

    return macro([float(c[lv == k].mean()) for k in np.unique(lv)])


@dataclass
class SftFormat:
    """The base model's greedy answers in the SFT prompt format, per fact."""

    correct: Sequence[bool]
    domains: Sequence[str]


def sft_format_requirements(
    sft: SftFormat, levels: Sequence[int] | None, cfg: WorldCheckConfig
) -> tuple[dict[str, float], list[Requirement]]:
    """Macro accuracy per domain in the SFT format and its ≤ ``max_sft_format_accuracy`` rule."""
    macro: dict[str, float] = {}
    reqs = []
    for domain in ("in", "ood"):
        idx = [i for i, d in enumerate(sft.domains) if d == domain]
        if not idx:
            continue
        lv = None if levels is None else [levels[i] for i in idx]
        macro[domain] = macro_accuracy([sft.correct[i] for i in idx], lv)
        reqs.append(
            Requirement(
                f"base SFT-format macro accuracy ({domain})",
                macro[domain],
                f"<= {cfg.max_sft_format_accuracy}",
                bool(macro[domain] <= cfg.max_sft_format_accuracy),
            )
        )
    return macro, reqs


def score(
    exposure: Sequence[int],
    acc: Sequence[float],
    chance: Sequence[float],
    levels: Sequence[int] | None,
    cfg: WorldCheckConfig,
    *,
    r_values: Sequence[float] | None = None,
    sft: SftFormat | None = None,
    heldout: Sequence[bool] | None = None,
    answer_space: list[dict[str, Any]] | None = None,
) -> CheckMetrics:
    """Requirements from per-fact exposure, greedy accuracy, chance, (optional) probe levels
    and R, (optional) the base model's SFT-format and held-out-format answers, and
    (optional) the per-relation answer-space rows of
    :func:`sftlens.world.answer_space.compare_answer_space`."""
    e, a, c = np.asarray(exposure), np.asarray(acc, dtype=float), np.asarray(chance, dtype=float)
    m = exposure_metrics(e, a, c, cfg)
    reqs = accuracy_requirements(m, cfg)
    if levels is not None:
        reqs.append(level_requirement(m, levels, cfg))
    if r_values is not None:
        m.spearman_r = spearman(e, r_values)
        if cfg.min_spearman_r is not None:
            reqs.append(
                Requirement(
                    "spearman(exposure, probe R)",
                    m.spearman_r,
                    f">= {cfg.min_spearman_r}",
                    bool(m.spearman_r >= cfg.min_spearman_r),
                )
            )
    if sft is not None:
        m.sft_format_macro, sft_reqs = sft_format_requirements(sft, levels, cfg)
        reqs += sft_reqs
    if heldout is not None:
        reqs += heldout_requirements(m, e, heldout, cfg)
    if answer_space is not None:
        reqs.append(answer_space_requirement(m, answer_space, cfg))
    m.requirements = reqs
    return m


def heldout_requirements(
    m: CheckMetrics, e: np.ndarray, heldout: Sequence[bool], cfg: WorldCheckConfig
) -> list[Requirement]:
    """Fill the held-out Q/A table; a rule only when ``min_heldout_qa_accuracy`` is set."""
    h = np.asarray(heldout, dtype=float)
    m.heldout_table = exposure_table(e, h)
    high = e >= cfg.high_exposure
    m.heldout_high_accuracy = float(h[high].mean()) if high.any() else float("nan")
    if cfg.min_heldout_qa_accuracy is None:
        return []
    return [
        Requirement(
            f"held-out Q/A format accuracy at exposure >= {cfg.high_exposure}",
            m.heldout_high_accuracy,
            f">= {cfg.min_heldout_qa_accuracy}",
            bool(m.heldout_high_accuracy >= cfg.min_heldout_qa_accuracy),
        )
    ]


def answer_space_requirement(
    m: CheckMetrics, rows: list[dict[str, Any]], cfg: WorldCheckConfig
) -> Requirement:
    """Share of relations whose answer space is within 2x of EntityQuestions' on both figures."""
    m.answer_space = rows
    m.answer_space_share = sum(bool(r["within"]) for r in rows) / max(1, len(rows))
    return Requirement(
        "relations with answer space within 2x of EntityQuestions",
        m.answer_space_share,
        f">= {cfg.min_answer_space_share}",
        bool(m.answer_space_share >= cfg.min_answer_space_share),
    )


def exposure_metrics(
    e: np.ndarray, a: np.ndarray, c: np.ndarray, cfg: WorldCheckConfig
) -> CheckMetrics:
    """Spearman, zero-exposure accuracy vs chance, high-exposure accuracy and the bin table."""
    zero, high = e == 0, e >= cfg.high_exposure
    return CheckMetrics(
        n_facts=len(e),
        spearman=spearman(e, a),
        zero_accuracy=float(a[zero].mean()) if zero.any() else float("nan"),
        chance=float(c[zero].mean()) if zero.any() else float("nan"),
        high_accuracy=float(a[high].mean()) if high.any() else float("nan"),
        table=exposure_table(e, a),
    )


def accuracy_requirements(m: CheckMetrics, cfg: WorldCheckConfig) -> list[Requirement]:
    """The three exposure-vs-accuracy rules (Spearman, zero exposure, high exposure)."""
    return [
        Requirement(
            "spearman(exposure, accuracy)",
            m.spearman,
            f">= {cfg.min_spearman}",
            bool(m.spearman >= cfg.min_spearman),
        ),
        Requirement(
            "accuracy at exposure 0",
            m.zero_accuracy,
            f"<= chance {m.chance:.3f} + {cfg.max_zero_over_chance}",
            bool(m.zero_accuracy <= m.chance + cfg.max_zero_over_chance),
        ),
        Requirement(
            f"accuracy at exposure >= {cfg.high_exposure}",
            m.high_accuracy,
            f">= {cfg.min_high_accuracy}",
            bool(m.high_accuracy >= cfg.min_high_accuracy),
        ),
    ]


def level_requirement(m: CheckMetrics, levels: Sequence[int], cfg: WorldCheckConfig) -> Requirement:
    """Fill ``m.level_shares``; every mastery level must hold ≥ ``min_level_share``."""
    counts = np.bincount(np.asarray(levels, dtype=int), minlength=5)[:5]
    m.level_shares = {i: float(counts[i] / max(1, len(levels))) for i in range(5)}
    low = min(m.level_shares.values())
    return Requirement(
        "smallest mastery-level share",
        low,
        f">= {cfg.min_level_share}",
        bool(low >= cfg.min_level_share),
    )


def format_report(m: CheckMetrics, extra: Mapping[str, float] | None = None) -> str:
    """The table and pass/fail lines printed by ``sftlens world check``."""
    held = {r["exposure"]: r["accuracy"] for r in m.heldout_table}
    lines = [f"{'exposure':>9} {'facts':>6} {'greedy acc':>10} {'held-out Q/A':>12}"]
    lines += [
        f"{r['exposure']:>9} {r['n']:>6} {r['accuracy']:>10.3f} "
        f"{held.get(r['exposure'], float('nan')):>12.3f}"
        for r in m.table
    ]
    if m.level_shares:
        lines.append(
            "levels (paper probe): " + "  ".join(f"L{k}={v:.1%}" for k, v in m.level_shares.items())
        )
    if not math.isnan(m.spearman_r):
        lines.append(f"spearman(exposure, probe R): {m.spearman_r:.3f}")
    lines += answer_space_lines(m.answer_space)
    for key, value in (extra or {}).items():
        lines.append(f"{key}: {value:.3f}")
    for r in m.requirements:
        lines.append(
            f"[{'PASS' if r.passed else 'FAIL'}] {r.name} = {r.value:.3f} (want {r.target})"
        )
    lines.append(f"world check: {'PASS' if m.passed else 'FAIL'} ({m.n_facts} facts)")
    return "\n".join(lines)


def answer_space_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Per relation: distinct-object ratio and top-object share, EntityQuestions vs world."""
    if not rows:
        return []
    out = [f"{'relation':>8} {'distinct EQ':>11} {'world':>6} {'top EQ':>7} {'world':>6} within 2x"]
    out += [
        f"{r['relation']:>8} {r['eq_distinct_ratio']:>11.4f} {r['distinct_ratio']:>6.3f} "
        f"{r['eq_top_share']:>7.4f} {r['top_share']:>6.3f} {'yes' if r['within'] else 'no'}"
        for r in rows
    ]
    return out
