"""Pure summaries of mastery rows: level counts per split and domain (the paper's Table 1).

Example::

    summarize(rows, scheme="paper")["levels"]["train"]["in"]   # {"0": 812, "1": 95, ...}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sftlens.probing.mastery import SCHEMES


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
    return "\n".join(lines)
