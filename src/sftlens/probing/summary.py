"""Pure summaries of mastery rows: level counts per split and domain (the paper's Table 1),
and Spearman(exposure, R) per domain for facts that carry an exposure (world facts; the
subject's population for ``geo:`` facts).

Example::

    summarize(rows, scheme="paper")["levels"]["train"]["in"]   # {"0": 812, "1": 95, ...}
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sftlens.correlation import spearman
from sftlens.probing.mastery import SCHEMES


def exposure_spearman(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Spearman(exposure, R) per domain over rows with an exposure (empty when none has;
    None when exposure or R is constant)."""
    out: dict[str, float | None] = {}
    for domain in sorted({r["domain"] for r in rows}):
        pairs = [(r["exposure"], r["R"]) for r in rows
                 if r["domain"] == domain and r.get("exposure") is not None]  # fmt: skip
        if pairs:
            rho = spearman([e for e, _ in pairs], [r for _, r in pairs])
            out[domain] = None if math.isnan(rho) else rho
    return out


def summarize(rows: Sequence[dict[str, Any]], scheme: str) -> dict[str, Any]:
    """Level counts per split x domain, totals per level, and mean R per level."""
    names = SCHEMES.get(scheme).level_names
    levels = [str(i) for i in range(len(names))]
    counts: Counter[tuple[str, str, str]] = Counter(
        (r["split"], r["domain"], str(r["level"])) for r in rows
    )
    table: dict[str, dict[str, dict[str, int]]] = {}
    for split, domain in sorted({(r["split"], r["domain"]) for r in rows}):
        table.setdefault(split, {})[domain] = {lv: counts[split, domain, lv] for lv in levels}
    per_level = Counter(str(r["level"]) for r in rows)
    r_sum: Counter[str] = Counter()
    for r in rows:
        r_sum[str(r["level"])] += r["R"]
    return {
        "scheme": scheme,
        "level_names": dict(zip(levels, names, strict=True)),
        "n_facts": len(rows),
        "levels": table,
        "total": {lv: per_level[lv] for lv in levels},
        "mean_R": {lv: (r_sum[lv] / per_level[lv] if per_level[lv] else None) for lv in levels},
        "spearman_exposure_R": exposure_spearman(rows),
    }


def format_table(summary: dict[str, Any]) -> str:
    """A text rendering of the Table 1 counts."""
    levels = list(summary["level_names"])
    head = "split/domain  " + " ".join(f"{summary['level_names'][lv]:>12}" for lv in levels)
    lines = [head]
    for split, domains in summary["levels"].items():
        for domain, counts in domains.items():
            cells = " ".join(f"{counts[lv]:>12}" for lv in levels)
            lines.append(f"{split + '/' + domain:<13} {cells}")
    for domain, rho in summary.get("spearman_exposure_R", {}).items():
        lines.append(f"spearman(exposure, R) {domain}: " + ("-" if rho is None else f"{rho:.3f}"))
    return "\n".join(lines)
