"""The paper's reported figures (the one place they live) and the "paper vs this run" table.

Only figures the paper reports for LLaMA-3-8B are here, each with its source; a finding
whose figure is not listed shows "—".  This run's column is the same finding's evidence, its
"95% interval" column the headline contrast with its interval over seeds and test questions;
the per-level rows show the same quantity at this run's largest SFT size (mean ± spread).

Example::

    table = paper_vs_run(results.accuracy, judge(results, cfg), cfg.domain)
    print(markdown_table(table))
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from sftlens.evaluation import MACRO_LEVEL
from sftlens.reporting.findings import Finding
from sftlens.reporting.tables import fmt, mean_spread, plain

PAPER = "Ye et al., 2025"
PAPER_MODEL = "LLaMA-3-8B"
MISSING = "—"


@dataclass(frozen=True)
class PaperFigure:
    """One figure the paper reports (``value`` as printed there) and where."""

    quantity: str
    value: str
    source: str


#: per-level quantities of the paper's Table 2 (LLaMA-3-8B, 1,920 training samples)
LEVEL_FIGURES: dict[str, PaperFigure] = {
    "test_level_0": PaperFigure(
        "test-level-0 accuracy, each training level", "0.6–1.8%", "Table 2, n=1,920"
    ),
    "test_level_4": PaperFigure(
        "test-level-4 accuracy, each training level", "83–93%", "Table 2, n=1,920"
    ),
    "macro_train_0": PaperFigure("macro accuracy, training on level 0", "45.5", "Table 2, n=1,920"),
    "macro_train_2": PaperFigure("macro accuracy, training on level 2", "57.5", "Table 2, n=1,920"),
}
#: finding number → the paper's figure for it (findings not listed: not known here)
FINDING_FIGURES: dict[int, PaperFigure] = {
    2: PaperFigure(
        "training-level swing", "≥ 12.0 pts (level 2: 57.5 vs level 0: 45.5)", "Table 2, n=1,920"
    ),
}
COLUMNS = ["quantity", f"paper ({PAPER_MODEL})", "source", "this run", "95% interval", "verdict"]


def _seeds(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


def _level_range(rows: pd.DataFrame, test_level: int) -> str:
    """``"min–max% (L0 a ± s, L2 b ± s; N seeds)"`` over training levels at one test level."""
    part = rows[rows["test_level"] == test_level].dropna(subset=["accuracy"])
    if part.empty:
        return MISSING
    stats = mean_spread(part, ["train_level"], "accuracy")
    lo, hi = stats["mean"].min() * 100, stats["mean"].max() * 100
    each = ", ".join(
        f"L{lv} {fmt(m, s)}"
        for lv, m, s in zip(stats["train_level"], stats["mean"], stats["spread"], strict=True)
    )
    return f"{lo:.1f}–{hi:.1f}% ({each}; {_seeds(int(stats['seeds'].max()))})"


def _macro_of(rows: pd.DataFrame, train_level: str) -> str:
    """``"a ± s (N seeds)"``: the macro accuracy of one training level."""
    part = rows[
        (rows["test_level"] == MACRO_LEVEL) & (rows["train_level"].astype(str) == train_level)
    ]
    part = part.dropna(subset=["accuracy"])
    if part.empty:
        return MISSING
    stats = mean_spread(part, ["train_level"], "accuracy").iloc[0]
    return f"{fmt(stats['mean'], stats['spread'])} ({_seeds(int(stats['seeds']))})"


def level_values(acc: pd.DataFrame, domain: str) -> tuple[int, dict[str, str]]:
    """This run's values of :data:`LEVEL_FIGURES` at its largest size (mean ± spread over seeds)."""
    rows = plain(acc)
    rows = rows[rows["domain"] == domain]
    if rows.empty:
        return 0, dict.fromkeys(LEVEL_FIGURES, MISSING)
    size = int(rows["size"].max())
    rows = rows[rows["size"] == size]
    return size, {
        "test_level_0": _level_range(rows, 0),
        "test_level_4": _level_range(rows, 4),
        "macro_train_0": _macro_of(rows, "0"),
        "macro_train_2": _macro_of(rows, "2"),
    }


def paper_vs_run(acc: pd.DataFrame, findings: list[Finding], domain: str = "in") -> pd.DataFrame:
    """One row per finding, then the paper's per-level figures beside this run's."""
    rows = []
    for f in findings:
        fig = FINDING_FIGURES.get(f.number)
        rows.append([f"{f.number}. {f.claim}", fig.value if fig else MISSING,
                     fig.source if fig else MISSING, f.evidence, f.interval or MISSING,
                     f.verdict])  # fmt: skip
    size, values = level_values(acc, domain)
    for key, fig in LEVEL_FIGURES.items():
        rows.append([f"{fig.quantity} (this run: n={size}, domain {domain})", fig.value,
                     fig.source, values[key], "", ""])  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of ``df`` (no index); ``|`` in cells escaped."""

    def cell(x: object) -> str:
        return str(x).replace("|", "\\|")

    head = "| " + " | ".join(cell(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])
