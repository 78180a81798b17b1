"""Checkpoints by hub id: one resolver (HF cache, offline mode) for every stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftlens.errors import SftlensError
from sftlens.models import resolve_checkpoint


def _fake_cache(root: Path, repo: str) -> Path:
    """The HF cache layout of one downloaded snapshot (refs/main → snapshots/<rev>/)."""
    rev = "0" * 40
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(rev)
    snap = folder / "snapshots" / rev
    snap.mkdir(parents=True)
    (snap / "config.json").write_text('{"model_type": "llama"}')
    return snap


def test_local_dirs_are_absolute_and_missing_ones_fail(tmp_path: Path) -> None:
    assert resolve_checkpoint(tmp_path) == tmp_path.resolve()
    with pytest.raises(SftlensError, match="checkpoint dir not found: ./nope"):
        resolve_checkpoint("./nope")


def test_hub_ids_resolve_from_the_cache_offline(tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub import constants

    snap = _fake_cache(tmp_path, "org/tiny")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_checkpoint("org/tiny") == snap
    with pytest.raises(
        SftlensError,
        match=r"'org/absent' is neither a local dir nor found in the local HF cache \(offline",
    ):
        resolve_checkpoint("org/absent")
