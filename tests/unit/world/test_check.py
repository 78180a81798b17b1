"""Pure scoring of `sftlens world check`: Spearman, exposure bins, requirements."""

from __future__ import annotations

import math

from sftlens.world.check import exposure_table, format_report, rank, score, spearman
from sftlens.world.config import WorldCheckConfig


def test_rank_averages_ties():
    assert rank([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_spearman_monotone_and_constant():
    assert spearman([1, 2, 3, 4], [0.1, 0.2, 0.9, 1.0]) == 1.0
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert math.isnan(spearman([1, 2, 3], [0.5, 0.5, 0.5]))


def test_exposure_table_bins():
    rows = exposure_table([0, 0, 2, 5, 12, 30], [0.0, 0.2, 0.5, 0.8, 1.0, 0.9])
    assert [r["exposure"] for r in rows] == ["0", "1-3", "4-10", ">10"]
    assert [r["n"] for r in rows] == [2, 1, 1, 2]
    assert abs(rows[0]["accuracy"] - 0.1) < 1e-9 and abs(rows[3]["accuracy"] - 0.95) < 1e-9


def test_score_requirements_pass_and_fail():
    cfg = WorldCheckConfig()
    exposure = [0] * 10 + [2] * 10 + [12] * 10
    good = score(
        exposure,
        [0.0] * 10 + [0.5] * 10 + [1.0] * 10,
        [0.05] * 30,
        [0] * 10 + [1, 2, 3] * 3 + [4] * 11,
        cfg,
    )
    assert good.passed and good.spearman > 0.9
    bad = score(exposure, [0.5] * 30, [0.05] * 30, [0] * 30, cfg)
    failed = {r.name for r in bad.requirements if not r.passed}
    assert "accuracy at exposure 0" in failed and "smallest mastery-level share" in failed
    text = format_report(bad)
    assert "[FAIL]" in text and "world check: FAIL" in text
