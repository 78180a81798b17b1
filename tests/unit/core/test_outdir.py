"""The ``--out`` guard: every input a config names, overlaps, and a failed first run's cleanup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sftlens.atomic import atomic_path, base_name, remove_stale_temps
from sftlens.config import StageConfig
from sftlens.errors import SftlensError
from sftlens.outdir import (
    check_out_dir,
    discard_if_new,
    input_paths,
    overlap,
    spec_path,
    staged_out_dir,
)


class Nested(StageConfig):
    model: str | None = None
    world: str | None = None


class Fake(StageConfig):
    model: str | None = None
    data: str | None = None
    mastery: str | None = None
    aliases: list[str] = []
    device: str = "cpu"
    section: dict = {}
    nested: Nested = Nested()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_spec_path() -> None:
    assert spec_path("world:runs/w") == "runs/w"
    assert spec_path("jsonl:/a/b.jsonl") == "/a/b.jsonl"
    assert spec_path("entityquestions") is None


def test_input_paths_names_every_local_input(tmp_path: Path) -> None:
    for name in ("model", "w", "m.parquet", "alias.yaml", "facts.jsonl", "inner"):
        (tmp_path / name).mkdir() if "." not in name else (tmp_path / name).write_text("x")
    cfg = Fake(
        model=str(tmp_path / "model"),
        data=f"jsonl:{tmp_path / 'facts.jsonl'}",
        mastery=str(tmp_path / "m.parquet"),
        aliases=["paper-2025", str(tmp_path / "alias.yaml")],
        device=str(tmp_path / "w"),  # not an input key: never an input
        section={"world": str(tmp_path / "w")},
        nested=Nested(model=str(tmp_path / "inner")),
    )
    found = {p.name for p in input_paths(cfg, tmp_path / "model", None)}
    assert found == {"model", "facts.jsonl", "m.parquet", "alias.yaml", "w", "inner"}


def test_hub_ids_are_not_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert input_paths(Fake(model="org/some-model", data="world:nowhere")) == []


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("shape", ["equal", "inside", "containing"])
def test_out_overlapping_an_input_is_refused(tmp_path: Path, shape: str, force: bool) -> None:
    model = tmp_path / "run" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    out = {"equal": model, "inside": model / "sub", "containing": tmp_path / "run"}[shape]
    words = {"equal": "same path as input", "inside": "inside input", "containing": "contains"}
    with pytest.raises(SftlensError, match=words[shape]) as err:
        check_out_dir(out, force, inputs=[model])
    assert str(model) in str(err.value)
    with pytest.raises(SftlensError), staged_out_dir(out, force, [model]):
        pass
    assert (model / "config.json").read_text() == "{}"
    assert sorted(p.name for p in model.parent.iterdir()) == ["model"]


def test_symlinks_are_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert overlap(link, [real]) is not None
    assert overlap(real / "x", [link]) is not None
    assert overlap(tmp_path / "other", [link]) is None


@pytest.mark.parametrize("out", ["", ".", "/"])
def test_out_naming_no_directory_is_refused(out: str) -> None:
    with pytest.raises(SftlensError, match="names no directory"):
        check_out_dir(out, force=True)


def test_discard_if_new_removes_only_a_new_dir_without_work(tmp_path: Path) -> None:
    out = tmp_path / "o"
    with pytest.raises(RuntimeError), discard_if_new(out, setup=("manifest.json",)):
        out.mkdir()
        (out / "manifest.json").write_text("{}")
        raise RuntimeError("boom")
    assert not out.exists()
    with pytest.raises(RuntimeError), discard_if_new(out, setup=("manifest.json",)):
        (out / "chunks").mkdir(parents=True)
        (out / "chunks" / "chunk-0.parquet").write_text("work")
        raise RuntimeError("boom")
    assert (out / "chunks" / "chunk-0.parquet").is_file()  # finished work is kept
    (out / "chunks" / "chunk-0.parquet").unlink()
    with pytest.raises(RuntimeError), discard_if_new(out):
        raise RuntimeError("boom")
    assert out.is_dir()  # it existed before: not ours to remove


def test_nested_temp_names_are_stale_debris_of_their_out(tmp_path: Path) -> None:
    pid = dead_pid()
    out = tmp_path / "R"
    nested = tmp_path / f"..R.tmp-{pid}-1.tmp-{pid}-2"
    nested.mkdir()
    (nested / "model.safetensors").write_text("16 GB of weights")
    live = tmp_path / f"..R.tmp-{os.getpid()}-1.tmp-{os.getpid()}-2"
    live.mkdir()
    other = tmp_path / f"..S.tmp-{pid}-1.tmp-{pid}-2"
    other.mkdir()
    assert base_name(nested.name) == "R"
    assert remove_stale_temps(out) == [nested]
    assert live.is_dir() and other.is_dir() and not nested.exists()


def test_atomic_path_inside_a_staged_dir_adds_no_temp_level(tmp_path: Path) -> None:
    out = tmp_path / "R"
    with staged_out_dir(out) as staged:
        with atomic_path(staged) as inner:
            assert inner == staged  # the staged dir itself: one temp level
            (inner / "w.bin").write_text("w")
        assert [p.name for p in tmp_path.iterdir()] == [staged.name]
    assert (out / "w.bin").read_text() == "w"
    assert [p.name for p in tmp_path.iterdir()] == ["R"]
