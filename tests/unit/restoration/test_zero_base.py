"""Near-zero base weights: r = |Δ| / (|b| + r_eps) explodes there; the warning is judged by
their share of the relative-update mass Σr, and ``r_eps`` is a setting (paper: 1e-8)."""

from __future__ import annotations

import logging

import pytest
import torch
from restoration_fixtures import save_dir

from sftlens.restoration import EngineSettings, diff_stats, restore_many
from sftlens.restoration.config import DiffStatsConfig
from sftlens.restoration.engine_stats import NEAR_ZERO_WARN_SHARE, near_zero_warning
from sftlens.restoration.exact_cut import EPS, relative_update
from sftlens.restoration.io import DictSource

WEIGHT, BIAS = "model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.down_proj.bias"


def _dicts(zero_bias: bool, bias_moves: bool = True) -> tuple[dict, dict]:  # type: ignore[type-arg]
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, 16, generator=g)
    b = torch.zeros(16) if zero_bias else torch.randn(16, generator=g)
    base = {WEIGHT: w, BIAS: b}
    tuned = {k: v + 0.01 * torch.randn(v.shape, generator=g) for k, v in base.items()}
    if not bias_moves:
        tuned[BIAS] = b.clone()
    return base, tuned


def _pair(zero_bias: bool, bias_moves: bool = True) -> tuple[DictSource, DictSource]:
    base, tuned = _dicts(zero_bias, bias_moves)
    return DictSource(base, "llama"), DictSource(tuned, "llama")


def _stats(pair: tuple[DictSource, DictSource], r_eps: float = 1e-8, **kw: object):  # type: ignore[no-untyped-def]
    settings = EngineSettings(device="cpu", progress=False, r_eps=r_eps)
    return diff_stats(*pair, "transformer", settings=settings, **kw)  # type: ignore[arg-type]


def test_zero_base_elements_dominate_the_top_and_are_reported() -> None:
    stats = _stats(_pair(True), top_pcts=(1.0, 5.0, 50.0))
    rows = {r["top_pct"]: r for r in stats.zero_base_rows()}
    assert rows[1.0]["n"] == 2 and rows[1.0]["zero_base"] == 2  # 1% of 272 elements: both base 0
    assert rows[5.0]["zero_base"] == 13 and rows[50.0]["zero_base"] == 16  # all 16 zero biases
    assert stats.near_zero_share > 0.999  # 16 of 272 elements hold almost all of Σr
    assert "near-zero base weights" in stats.summary()


def test_the_warning_follows_the_mass_not_the_count_in_the_top() -> None:
    """Zeros are only 16/136 of the top 50%, yet hold nearly all of Σr: warned."""
    stats = _stats(_pair(True), top_pcts=(50.0,))
    assert stats.zero_base_rows()[0]["zero_base_share"] < 0.5
    assert stats.zero_base_warning() is not None


def test_unmoved_zero_weights_hold_no_mass_and_give_no_warning() -> None:
    stats = _stats(_pair(True, bias_moves=False), top_pcts=(1.0,))
    assert stats.near_zero_share == 0.0 and stats.zero_base_warning() is None


def test_no_warning_without_zero_base_values() -> None:
    stats = _stats(_pair(False), top_pcts=(1.0, 5.0))
    assert all(r["zero_base"] == 0 for r in stats.zero_base_rows())
    assert stats.zero_base_warning() is None and "near-zero" not in stats.summary()


def test_r_eps_bounds_r_on_zero_weights_and_defaults_to_the_paper() -> None:
    b, t = torch.tensor([0.0, 1.0]), torch.tensor([0.01, 1.01])
    assert relative_update(b, t)[0].item() == pytest.approx(0.01 / EPS, rel=1e-5)
    assert relative_update(b, t, eps=1e-2)[0].item() == pytest.approx(1.0, rel=1e-5)
    assert DiffStatsConfig().r_eps == 1e-8 == EPS
    with pytest.raises(ValueError):
        DiffStatsConfig(r_eps=0)
    large = _stats(_pair(True), top_pcts=(1.0,), r_eps=1e-1)
    assert large.near_zero_share < _stats(_pair(True), top_pcts=(1.0,)).near_zero_share


def test_warning_threshold() -> None:
    assert near_zero_warning(NEAR_ZERO_WARN_SHARE / 2, EPS) is None
    line = near_zero_warning(0.999, EPS)
    assert line is not None and "99.9%" in line and "r_eps" in line


def test_restore_warns_and_records_the_share(tmp_path, caplog) -> None:
    base, tuned = _dicts(True)
    b, t = save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t")

    with caplog.at_level(logging.WARNING, logger="sftlens.restoration"):
        res = restore_many(
            b, t, {10.0: tmp_path / "o"}, "top", "transformer",
            settings=EngineSettings(progress=False, device="cpu"),
        )  # fmt: skip
    assert res.stats.near_zero_share > 0.999
    assert any("near-zero base weights" in r.getMessage() for r in caplog.records)


def test_the_report_says_how_much_of_the_top_is_base_zero() -> None:
    import pandas as pd

    from sftlens.reporting.stage import zero_base_note
    from sftlens.study.units import diff_tables

    stats = _stats(_pair(True), top_pcts=(1.0, 50.0))
    shares, _ = diff_tables(stats)
    assert [r["zero_base_share"] for r in shares] == [1.0, 16 / 136]
    assert "make up 100% of the top 1%" in zero_base_note(pd.DataFrame(shares))
    assert zero_base_note(pd.DataFrame([{"top_pct": 1.0, "share": 0.5}])) == ""
