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
    with pytest.raises(SftlensError, match="cannot load './nope': checkpoint dir not found"):
        resolve_checkpoint("./nope")


def test_hub_ids_resolve_from_the_cache_offline(tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub import constants

    snap = _fake_cache(tmp_path, "org/tiny")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_checkpoint("org/tiny", weights=False) == snap
    with pytest.raises(
        SftlensError,
        match=r"cannot load 'org/absent': neither a local dir nor found in the local HF cache \(offline",
    ):
        resolve_checkpoint("org/absent")


def test_models_load_by_hub_id_and_keep_the_id(
    tmp_path: Path, tiny_llama_dir: Path, monkeypatch
) -> None:
    import shutil

    from huggingface_hub import constants

    from sftlens.models import load_model, load_tokenizer
    from sftlens.restoration import source_from_dir

    snap = _fake_cache(tmp_path, "org/tiny")
    for f in tiny_llama_dir.iterdir():
        shutil.copy(f, snap / f.name)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    model = load_model("org/tiny", dtype="float32", device="cpu")
    assert model.name_or_path == "org/tiny"  # adapters record the hub id, not the cache path
    assert load_tokenizer("org/tiny").pad_token is not None
    assert source_from_dir("org/tiny").names() == source_from_dir(tiny_llama_dir).names()
    local = load_model(tiny_llama_dir, dtype="float32", device="cpu")
    assert local.name_or_path == str(tiny_llama_dir.resolve())
