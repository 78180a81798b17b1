"""A .gguf base: restore and diff-stats compare its dequantized checkpoint and name it in the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from restoration_fixtures import perturb, save_dir, tiny_state

pytest.importorskip("gguf")

from sftlens.cli import main
from sftlens.gguf_source import cache
from support.gguf_files import write_tiny_gguf


@pytest.fixture
def gguf_base(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """(a .gguf whose 'dequantization' is a tiny Llama state, a tuned dir of that state)."""
    monkeypatch.setenv("SFTLENS_CACHE", str(tmp_path / "cache"))
    base = tiny_state(layers=2, hidden=16)
    monkeypatch.setattr(
        cache, "_dequantize_into", lambda path, out, add_bos=False: save_dir(base, out)
    )
    (tmp_path / "g").mkdir()
    return write_tiny_gguf(tmp_path / "g" / "base.gguf"), save_dir(perturb(base), tmp_path / "t")


def test_manifests_name_the_gguf_source(gguf_base, tmp_path) -> None:
    gguf, tuned = gguf_base
    pair = ["--base", str(gguf), "--tuned", str(tuned), "device=cpu"]
    assert main(["-q", "restore", *pair, "--k", "10", "--out", str(tmp_path / "r")]) == 0
    assert main(["-q", "diff-stats", *pair, "--out", str(tmp_path / "d")]) == 0
    for manifest in (tmp_path / "r" / "restore.json", tmp_path / "d" / "diff_stats.json"):
        sources = json.loads(manifest.read_text())["sources"]
        assert set(sources) == {"base"}
        base = sources["base"]
        assert base["gguf"] == str(gguf.resolve()) and base["dtype"] == "float32"
        assert Path(base["cache_dir"]).name == base["sha256"] and len(base["sha256"]) == 64
        assert base["compared_as"] == "dequantized float32 checkpoint"
