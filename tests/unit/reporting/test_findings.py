"""The four findings: each verdict follows the numbers, and spread makes them inconclusive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sftlens.reporting.config import ReportConfig
from sftlens.reporting.findings import HOLDS, INCONCLUSIVE, NOT, judge, verdict

from .conftest import synthetic_rows


def frames(**kw):
    t = synthetic_rows(**kw)
    return pd.DataFrame(t["accuracy"]), pd.DataFrame(t["kl"])


def test_verdict_rules():
    assert verdict(np.array([3.0, 3.1, 2.9]), 1.0, 1.0) == HOLDS
    assert verdict(np.array([-3.0, -3.1, -2.9]), 0.0, 1.0) == NOT
    assert verdict(np.array([1.0, -1.0, 0.5]), 0.0, 1.0) == INCONCLUSIVE
    assert verdict(np.array([5.0]), 0.0, 1.0) == INCONCLUSIVE  # one seed: spread unknown


def test_all_four_hold_on_the_papers_shape():
    acc, kl = frames()
    found = judge(acc, kl, ReportConfig(swing_points=5))
    assert [f.verdict for f in found] == [HOLDS] * 4
    assert "n=240" in found[0].evidence and "pts" in found[0].evidence


def test_peak_at_largest_size_does_not_hold():
    acc, kl = frames(peak_at=960)
    assert judge(acc, kl, ReportConfig())[0].verdict == NOT


def test_swing_threshold_decides():
    acc, kl = frames(swing=0.02)
    assert judge(acc, kl, ReportConfig(swing_points=5))[1].verdict == NOT
    assert judge(acc, kl, ReportConfig(swing_points=1))[1].verdict == HOLDS


def test_monotone_kl_does_not_hold():
    acc, kl = frames(kl_shape="falling")
    assert judge(acc, kl, ReportConfig())[2].verdict == NOT


def test_restoration_that_hurts_does_not_hold():
    acc, kl = frames(gain=-0.05)
    assert judge(acc, kl, ReportConfig())[3].verdict == NOT


@pytest.mark.parametrize("claim", [0, 1, 3])
def test_small_effects_under_large_spread_never_hold(claim):
    acc, kl = frames(noise=0.2, swing=0.06, gain=0.02)
    found = judge(acc, kl, ReportConfig(swing_points=5, spread_sigmas=1.0))[claim]
    assert found.verdict != HOLDS
    assert "±" in found.evidence


def test_missing_kl_and_restoration_are_inconclusive():
    acc, _ = frames()
    acc = acc[acc["restore_k"] == 0]
    found = judge(acc, None, ReportConfig())
    assert found[2].verdict == INCONCLUSIVE and found[3].verdict == INCONCLUSIVE
