"""``r_dtype=model``: r in the checkpoints' dtype, checked against a plain reimplementation
of the paper's selection on bf16 pairs (r in bf16, one global sort, top k%)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from restoration_fixtures import perturb, save_dir, tiny_state

from sftlens.cli import main
from sftlens.config import load_config
from sftlens.errors import ConfigError, SftlensError
from sftlens.restoration import EngineSettings, restore_many, source_from_dir
from sftlens.restoration.config import DiffStatsConfig, RestoreConfig
from sftlens.restoration.exact_cut import relative_update

KS = (1, 3, 5, 10, 20, 40, 60)


def _natural(name: str) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def paper_restore(
    base: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], k: float
) -> dict[str, torch.Tensor]:
    """The paper's rule written out: r = |s-p| / (|p| + 1e-8) in the model dtype over the
    transformer blocks (norms excluded), one global descending sort (stable: equal r keep
    tensor-then-index order), the first floor(n*k/100) elements take the base value."""
    names = sorted((n for n in base if ".layers." in n and "norm" not in n), key=_natural)
    r = torch.cat([(torch.abs(tuned[n] - base[n]) / (torch.abs(base[n]) + 1e-8)).reshape(-1)
                   for n in names])  # fmt: skip
    assert r.dtype == base[names[0]].dtype  # computed in the model dtype, never widened
    count = math.floor(r.numel() * k / 100)
    chosen = torch.zeros(r.numel(), dtype=torch.bool)
    chosen[torch.sort(r, descending=True, stable=True).indices[:count]] = True
    out = dict(tuned)
    offset = 0
    for n in names:
        m = chosen[offset : offset + base[n].numel()].reshape(base[n].shape)
        out[n] = torch.where(m, base[n], tuned[n])
        offset += base[n].numel()
    return out


@pytest.fixture
def bf16_pair(
    tmp_path: Path,
) -> tuple[Path, Path, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    base = tiny_state(layers=3, hidden=24, dtype=torch.bfloat16, seed=5)
    tuned = perturb(base, seed=6)
    return save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t", shards=2), base, tuned


def _same(got: torch.Tensor, want: torch.Tensor) -> bool:
    return torch.equal(got.view(torch.int16), want.view(torch.int16))


def test_model_dtype_restore_equals_the_paper_reference_at_every_k(bf16_pair, tmp_path) -> None:
    b, t, base, tuned = bf16_pair
    outs = {k: tmp_path / f"m{k}" for k in KS}
    restore_many(
        b,
        t,
        outs,
        "top",
        "transformer",
        settings=EngineSettings(chunk_elems=97, progress=False, r_dtype="model"),
    )
    fp32 = {k: tmp_path / f"f{k}" for k in KS}
    restore_many(
        b, t, fp32, "top", "transformer", settings=EngineSettings(chunk_elems=97, progress=False)
    )
    n_differ = 0
    for k in KS:
        want = paper_restore(base, tuned, k)
        got, got32 = source_from_dir(outs[k]), source_from_dir(fp32[k])
        for name in base:
            assert _same(got.get(name), want[name]), (k, name)
            n_differ += int((got32.get(name) != want[name]).sum())
    assert n_differ > 0  # float32 r breaks some bf16 ties differently on this pair


def test_cli_restore_r_dtype_model(bf16_pair, tmp_path) -> None:
    b, t, base, tuned = bf16_pair
    out = tmp_path / "cli"
    argv = ["restore", "--base", str(b), "--tuned", str(t), "--out", str(out), "--k", "10"]
    assert main([*argv, "--r-dtype", "model"]) == 0
    want = paper_restore(base, tuned, 10)
    got = source_from_dir(out)
    assert all(_same(got.get(n), want[n]) for n in base)
    assert (
        main([*argv[:-4], "--out", str(tmp_path / "bad"), "--k", "10", "--r-dtype", "modle"]) == 2
    )


def test_r_dtype_values_and_errors() -> None:
    b = torch.tensor([1.0, 3.0, 0.0, -2.0], dtype=torch.bfloat16)
    t = torch.tensor([1.0, 3.015625, 0.5, -2.0], dtype=torch.bfloat16)
    r32 = relative_update(b, t)
    rm = relative_update(b, t, "model")
    assert r32.dtype == rm.dtype == torch.float32
    want = (torch.abs(t - b) / (torch.abs(b) + 1e-8)).float()
    assert torch.equal(rm, want) and rm[1] != r32[1]  # 0.015625/3 is rounded to bf16 in model mode
    f32 = torch.randn(64)
    assert torch.equal(relative_update(f32, f32 * 1.1, "model"), relative_update(f32, f32 * 1.1))
    assert load_config(RestoreConfig, values={}).r_dtype == "float32"
    assert load_config(DiffStatsConfig, values={"r_dtype": "model"}).r_dtype == "model"
    with pytest.raises(ConfigError, match="unknown r_dtype 'bf16'"):
        load_config(RestoreConfig, values={"r_dtype": "bf16"})
    with pytest.raises(ConfigError, match="did you mean 'model'"):
        load_config(RestoreConfig, values={"r_dtype": "modle"})
    with pytest.raises(SftlensError, match="unknown r dtype 'fp32'"):
        restore_many("a", "b", {}, settings=EngineSettings(r_dtype="fp32"))
