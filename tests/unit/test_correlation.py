"""Spearman's rho (one owner) and the probe summary's Spearman(exposure, R)."""

from __future__ import annotations

import math

from sftlens.correlation import spearman
from sftlens.probing.summary import exposure_spearman, format_table, summarize


def test_spearman_is_rank_based() -> None:
    assert spearman([1, 2, 3], [10, 30, 20]) == 0.5
    assert spearman([1, 10, 1000], [0.1, 0.2, 0.3]) == 1.0
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def row(i: int, domain: str, exposure: int | None, r: float) -> dict:
    return {"id": str(i), "split": "train", "domain": domain, "level": 0 if r == 0 else 4,
            "R": r, "exposure": exposure}  # fmt: skip


def test_probe_summary_reports_spearman_per_domain() -> None:
    rows = [row(0, "in", 10, 0.0), row(1, "in", 1000, 1.0), row(2, "in", 100, 0.5),
            row(3, "ood", 5, 0.0), row(4, "ood", 6, 0.0)]  # fmt: skip
    assert exposure_spearman(rows) == {"in": 1.0, "ood": None}  # constant R: None, not NaN
    summary = summarize(rows, "paper")
    assert summary["spearman_exposure_R"]["in"] == 1.0
    assert "spearman(exposure, R) in: 1.000" in format_table(summary)
    assert exposure_spearman([row(0, "in", None, 1.0)]) == {}  # no exposure (EntityQuestions)
