"""diff_stats: concentration curve and per-tensor/layer/module tables vs brute force."""

from __future__ import annotations

import pytest
import torch
from restoration_fixtures import perturb, tiny_state

from sftlens.restoration import EngineSettings, diff_stats
from sftlens.restoration.exact_cut import relative_update
from sftlens.restoration.io import DictSource
from sftlens.restoration.regions import select_names


def test_concentration_and_means_match_brute_force() -> None:
    base = tiny_state(layers=3, hidden=16)
    tuned = perturb(base)
    g = torch.Generator().manual_seed(0)
    # make the update heavy-tailed so the curve is informative
    tuned = {
        n: (v + torch.randn(v.shape, generator=g) ** 3 * 0.1) if ".layers." in n else v
        for n, v in tuned.items()
    }
    stats = diff_stats(
        DictSource(base, "llama"),
        DictSource(tuned, "llama"),
        "transformer",
        top_pcts=[1, 10, 50, 100],
        location_ks=[10],
        settings=EngineSettings(chunk_elems=300, progress=False),
    )
    names = select_names(sorted(base), "transformer", "llama")
    r = torch.cat(
        [relative_update(base[n].reshape(-1), tuned[n].reshape(-1)) for n in names]
    ).double()
    srt = torch.sort(r, descending=True).values
    for p, share in stats.concentration:
        count = int(r.numel() * p / 100)
        assert share == pytest.approx(float(srt[:count].sum() / r.sum()), rel=5e-3)
    assert stats.concentration[-1][1] == pytest.approx(1.0)
    by_name = {row["name"]: row for row in stats.tensor_rows()}
    for n in names:
        exact = float(relative_update(base[n], tuned[n]).double().mean())
        assert by_name[n]["mean_r"] == pytest.approx(exact, rel=1e-6)
    layers = stats.layer_rows()
    assert [row["layer"] for row in layers] == [0, 1, 2]
    assert sum(row["sel_k10"] for row in layers) == pytest.approx(int(r.numel() * 0.1), abs=1e-6)
    assert sum(row["share_sel_k10"] for row in stats.module_rows()) == pytest.approx(1.0)
    assert {row["module"] for row in stats.module_rows()} == {
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    }
    assert stats.rows()[0] == {"top_pct": 1.0, "share": stats.concentration[0][1]}
