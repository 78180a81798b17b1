"""``--force`` replaces an output atomically: a failure or SIGKILL leaves the old run, consistent.

A fine-tune on set A is replaced by one on set B with ``--force``; a restore with k=5 by
one with k=50.  The replacement fails (a full disk) or is SIGKILLed inside its atomic
writes (the pause hook of ``tests/hooks/sitecustomize.py``); the directory
must still hold the old run with a manifest that matches its weights, and the next run
removes the killed run's temp dir.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hooks.sitecustomize import pause_env
from sftlens.cli import main
from sftlens.runstore import file_hash
from sftlens.tableio import write_table

pytestmark = pytest.mark.slow

QA = [
    ("Where was Alice born?", "Paris"),
    ("Where was Bob born?", "Berlin"),
    ("Where was Carol born?", "Rome"),
    ("Where was Dave born?", "Madrid"),
]


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("sets")
    a, b = root / "L0-n2-s0.jsonl", root / "L4-n4-s0.jsonl"
    write_table(a, [{"question": q, "answer": x} for q, x in QA[:2]])
    write_table(b, [{"question": q, "answer": x} for q, x in QA])
    return a, b


def finetune_argv(model: Path, train: Path, out: Path, *extra: str) -> list[str]:
    return [
        "-q", "finetune", "--model", str(model), "--train", str(train), "--out", str(out),
        "--device", "cpu", "epochs=1", "batch_size=2", "lr=1e-3", *extra,
    ]  # fmt: skip


def label(out: Path) -> tuple[str, str]:
    """(train file named by the manifest, hash of the weights)."""
    manifest = json.loads((out / "manifest.json").read_text())
    return Path(manifest["config"]["train"]).name, file_hash(out / "model" / "model.safetensors")


def temps_beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def kill_inside_write(argv: list[str], signals: Path, name: str) -> None:
    """Run the CLI in a subprocess; SIGKILL it while it writes a file or dir called ``name``."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **pause_env(signals, name)}
    proc = subprocess.Popen([sys.executable, "-m", "sftlens", *argv], env=env)
    deadline = time.monotonic() + 300
    while not (signals.is_dir() and any(signals.iterdir())):
        assert proc.poll() is None, "finished without reaching the write"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for hit in signals.iterdir():
        hit.unlink()


def test_force_finetune_failure_and_kill_keep_the_old_run(
    tiny_llama_dir: Path,
    sets: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_a, set_b = sets
    out = tmp_path / "F"
    assert main(finetune_argv(tiny_llama_dir, set_a, out)) == 0
    old = label(out)
    assert old[0] == set_a.name

    import sftlens.models

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "model"))

    with monkeypatch.context() as m:  # a failure while saving the new weights
        m.setattr(sftlens.models, "save_model", full_disk)
        capsys.readouterr()
        assert main(finetune_argv(tiny_llama_dir, set_b, out, "--force")) == 2
        assert "no space left on device" in capsys.readouterr().err
    assert label(out) == old and temps_beside(out) == []

    signals = tmp_path / "signals"
    for name in ("model", "F"):  # inside the weights' write, then inside the final swap
        kill_inside_write(finetune_argv(tiny_llama_dir, set_b, out, "--force"), signals, name)
        assert label(out) == old, f"killed inside the write of {name}"
    assert temps_beside(out), "a killed run leaves its temp dir (removed by the next run)"

    assert main(finetune_argv(tiny_llama_dir, set_b, out, "--force")) == 0
    new = label(out)
    assert new[0] == set_b.name and new[1] != old[1]
    assert temps_beside(out) == []


def test_force_restore_kill_keeps_the_old_checkpoint(
    tiny_llama_dir: Path, sets: tuple[Path, Path], tmp_path: Path
) -> None:
    tuned = tmp_path / "T"
    assert main(finetune_argv(tiny_llama_dir, sets[1], tuned)) == 0
    out = tmp_path / "R"

    def restore(k: str, *extra: str) -> list[str]:
        return [
            "-q", "restore", "--base", str(tiny_llama_dir), "--tuned", str(tuned / "model"),
            "--out", str(out), "--k", k, *extra,
        ]  # fmt: skip

    def restored() -> tuple[float, str]:
        meta = json.loads((out / "restore.json").read_text())
        return meta["config"]["k"], file_hash(out / "model.safetensors")

    assert main(restore("5")) == 0
    old = restored()
    signals = tmp_path / "signals"
    for name in ("restore.json", "R"):  # after the weights are written; inside the swap
        kill_inside_write(restore("50", "--force"), signals, name)
        assert restored() == old, f"killed inside the write of {name}"
    left = temps_beside(out)
    assert left and all(re.fullmatch(r"\.R\.tmp-\d+-\d+", n) for n in left), left  # one level
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    nested = out.parent / f"..R.tmp-{dead.pid}-1.tmp-{dead.pid}-2"  # an older release's debris
    (nested / "sub").mkdir(parents=True)
    assert main(restore("50", "--force")) == 0
    k, weights = restored()
    assert k == 50 and weights != old[1]
    assert temps_beside(out) == []
