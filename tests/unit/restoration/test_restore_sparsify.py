"""DARE and TIES-style trim in the streaming engine."""

from __future__ import annotations

import pytest
import torch
from restoration_fixtures import perturb, save_dir, tiny_state

from sftlens.errors import SftlensError
from sftlens.restoration import EngineSettings, source_from_dir, sparsify_checkpoint


@pytest.fixture
def dirs(tmp_path):
    base = tiny_state(layers=2, hidden=16)
    tuned = perturb(base)
    return save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t"), base, tuned


def test_dare_drops_and_rescales(dirs, tmp_path) -> None:
    b, t, base, tuned = dirs
    out = sparsify_checkpoint(
        b,
        t,
        tmp_path / "dare",
        "dare",
        0.7,
        seed=1,
        settings=EngineSettings(chunk_elems=100, progress=False),
    )
    src = source_from_dir(out)
    dropped = total = 0
    for n in base:
        got = src.get(n)
        if ".layers." not in n or "norm" in n:
            assert torch.equal(got, tuned[n])
            continue
        kept = got != base[n]
        expected = base[n] + (tuned[n] - base[n]) / 0.3
        assert torch.allclose(got[kept], expected[kept], rtol=1e-5, atol=1e-6)
        dropped += int((~kept).sum())
        total += got.numel()
    assert 0.65 < dropped / total < 0.75


def test_ties_keeps_top_k_per_tensor(dirs, tmp_path) -> None:
    b, t, base, tuned = dirs
    out = sparsify_checkpoint(
        b,
        t,
        tmp_path / "ties",
        "ties",
        20,
        region="mlp",
        settings=EngineSettings(chunk_elems=64, progress=False),
    )
    src = source_from_dir(out)
    for n in base:
        got = src.get(n)
        if ".mlp." not in n:
            assert torch.equal(got, tuned[n])
            continue
        delta = (tuned[n] - base[n]).abs().reshape(-1)
        count = int(delta.numel() * 20 / 100)
        order = sorted(range(delta.numel()), key=lambda i: (-float(delta[i]), i))
        keep = torch.zeros(delta.numel(), dtype=torch.bool)
        keep[order[:count]] = True
        expected = torch.where(keep, tuned[n].reshape(-1), base[n].reshape(-1))
        assert torch.equal(got.reshape(-1), expected)


def test_bad_amounts_and_method(dirs, tmp_path) -> None:
    b, t, _, _ = dirs
    with pytest.raises(SftlensError, match="must be in"):
        sparsify_checkpoint(b, t, tmp_path / "x", "dare", 1.0)
    with pytest.raises(SftlensError, match="outside"):
        sparsify_checkpoint(b, t, tmp_path / "x", "ties", 0)
    with pytest.raises(SftlensError, match="did you mean 'dare'"):
        sparsify_checkpoint(b, t, tmp_path / "x", "dar", 0.5)
    assert not (tmp_path / "x").exists()
