"""Zero-valued base weights (r = |t| / 1e-8) are counted in the top k% and warned about."""

from __future__ import annotations

import torch

from sftlens.restoration import diff_stats
from sftlens.restoration.io import DictSource


def _pair(zero_bias: bool) -> tuple[DictSource, DictSource]:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, 16, generator=g)
    b = torch.zeros(16) if zero_bias else torch.randn(16, generator=g)
    base = {"model.layers.0.mlp.down_proj.weight": w, "model.layers.0.mlp.down_proj.bias": b}
    tuned = {k: v + 0.01 * torch.randn(v.shape, generator=g) for k, v in base.items()}
    return DictSource(base, "llama"), DictSource(tuned, "llama")


def test_zero_base_elements_dominate_the_top_and_are_reported() -> None:
    stats = diff_stats(
        *_pair(True), "transformer", top_pcts=(1.0, 5.0, 50.0), device="cpu", progress=False
    )
    rows = {r["top_pct"]: r for r in stats.zero_base_rows()}
    assert rows[1.0]["n"] == 2 and rows[1.0]["zero_base"] == 2  # 1% of 272 elements: both base 0
    assert rows[5.0]["zero_base"] == 13 and rows[50.0]["zero_base"] == 16  # all 16 zero biases
    assert "have base value 0" in stats.summary()


def test_no_warning_without_zero_base_values() -> None:
    stats = diff_stats(
        *_pair(False), "transformer", top_pcts=(1.0, 5.0), device="cpu", progress=False
    )
    assert all(r["zero_base"] == 0 for r in stats.zero_base_rows())
    assert stats.zero_base_warning() is None and "base value 0" not in stats.summary()


def test_the_report_says_how_much_of_the_top_is_base_zero() -> None:
    import pandas as pd

    from sftlens.reporting.stage import zero_base_note
    from sftlens.study.units import diff_tables

    stats = diff_stats(
        *_pair(True), "transformer", top_pcts=(1.0, 50.0), device="cpu", progress=False
    )
    shares, _ = diff_tables(stats)
    assert [r["zero_base_share"] for r in shares] == [1.0, 16 / 136]
    assert "make up 100% of the top 1%" in zero_base_note(pd.DataFrame(shares))
    assert zero_base_note(pd.DataFrame([{"top_pct": 1.0, "share": 0.5}])) == ""
