"""The out-dir guard, staged outputs swapped into place, and stale temp cleanup."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sftlens.atomic import atomic_write_text, remove_stale_temps, swap_into_place
from sftlens.errors import SftlensError
from sftlens.outdir import check_out_dir, ensure_out_dir, staged_out_dir


def dead_pid() -> int:
    """The pid of a process that has exited (reaped, so it is gone)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_guard_refuses_non_empty_without_force(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "x").write_text("1")
    with pytest.raises(SftlensError, match="is not empty; pass --force"):
        check_out_dir(out)
    assert check_out_dir(out, force=True) == out
    (out / "m.json").write_text("{}")
    assert check_out_dir(out, marker="m.json") == out


def test_guard_file_and_under_file_and_inputs(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(SftlensError, match="exists and is not a directory"):
        check_out_dir(f)
    with pytest.raises(SftlensError, match="is a file, not a directory"):
        check_out_dir(f / "a" / "b")
    with pytest.raises(SftlensError, match="is inside input"):
        check_out_dir(tmp_path / "in" / "o", inputs=[tmp_path / "in"])
    with pytest.raises(SftlensError, match="same path as input"):
        check_out_dir(tmp_path / "in", inputs=[tmp_path / "in"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_guard_read_only_parent(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(SftlensError, match="cannot write in"):
            check_out_dir(ro / "o")
    finally:
        ro.chmod(0o700)


def test_staged_out_dir_failure_leaves_old_untouched(tmp_path):
    out = tmp_path / "o"
    with staged_out_dir(out) as tmp:
        (tmp / "a").write_text("old")
    with pytest.raises(RuntimeError), staged_out_dir(out, force=True) as tmp:
        (tmp / "a").write_text("new")
        raise RuntimeError("boom")
    assert (out / "a").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]
    with staged_out_dir(out, force=True) as tmp:
        (tmp / "b").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_staged_out_dir_fresh_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), staged_out_dir(tmp_path / "o") as tmp:
        (tmp / "a").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_swap_into_place_replaces_a_dir(tmp_path):
    old, new = tmp_path / "d", tmp_path / "n"
    old.mkdir()
    new.mkdir()
    (old / "x").write_text("old")
    (new / "x").write_text("new")
    swap_into_place(new, old)
    assert (old / "x").read_text() == "new"


def test_stale_temps_removed_live_ones_kept(tmp_path, caplog):
    out = tmp_path / "R"
    out.mkdir()
    pid = dead_pid()
    stale_dir = tmp_path / f".R.tmp-{pid}-123"
    stale_dir.mkdir()
    (stale_dir / "model.safetensors").write_bytes(b"x")
    stale_file = out / f".manifest.json.tmp-{pid}-5"
    stale_file.write_text("{")
    live = out / f".a.json.tmp-{os.getpid()}-7"
    live.write_text("mine")
    other = tmp_path / f".S.tmp-{pid}-9"  # another output's debris: not ours to remove
    other.mkdir()
    with caplog.at_level("INFO", logger="sftlens.atomic"):
        removed = remove_stale_temps(out)
    assert set(removed) == {stale_dir, stale_file}
    assert live.exists() and other.exists()
    assert "killed process" in caplog.text


def test_interrupted_replacement_is_put_back(tmp_path):
    old = tmp_path / f".R.old-{dead_pid()}-1"
    old.mkdir()
    (old / "x").write_text("old")
    remove_stale_temps(tmp_path / "R")
    assert (tmp_path / "R" / "x").read_text() == "old"


def test_ensure_out_dir_ignores_stale_debris(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / f".x.tmp-{dead_pid()}-1").write_text("debris")
    ensure_out_dir(out)  # stale debris does not make --out "not empty"
    assert list(out.iterdir()) == []


def test_pause_hook_announces_writes(tmp_path, monkeypatch):
    import sftlens.atomic
    from hooks.sitecustomize import pause_env, pausing

    signals = tmp_path / "sig"
    for key, value in pause_env(signals, seconds=0).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sftlens.atomic, "swap_into_place", pausing(sftlens.atomic.swap_into_place))
    atomic_write_text(tmp_path / "a.txt", "x")
    (hit,) = signals.iterdir()
    assert hit.read_text() == str(tmp_path / "a.txt")
