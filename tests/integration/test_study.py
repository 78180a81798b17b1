"""A micro study on the micro world, end to end through the CLI; resume after SIGKILL gives identical tables."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from hooks.sitecustomize import pause_env
from sftlens.tableio import read_table

pytestmark = pytest.mark.slow

TABLES = ("accuracy", "kl", "diff_stats", "diff_groups", "answers", "questions", "kl_facts")


def micro_config(world: Path, path: Path) -> Path:
    """2 levels × 2 sizes × 1 seed, 2 k values; probing cut to the bone.

    Levels 0 and ``random`` (SFT-Mixed) are non-empty in any world (level 0 holds the
    unseen facts), whatever the micro model learned.
    """
    cfg = {
        "name": "micro",
        "world": str(world),
        "device": "cpu",
        "dtype": "float32",
        "grid": {"levels": ["0", "random"], "sizes": [4, 8], "seeds": [0]},
        "probe": {"samples": 2, "templates": 3, "answer_span": "first_line"},
        "select": {"allow_smaller": True},
        "finetune": {"batch_size": 4},
        "restore": {"ks": [5, 20], "which": "largest"},
        "diff_stats": {"top_pcts": [1, 10]},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def env() -> dict[str, str]:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def study_cmd(cfg: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "sftlens", "-q", "study", str(cfg), "--out", str(out)]


def done_units(out: Path) -> int:
    return len(list((out / "units").glob("**/unit.json"))) if (out / "units").is_dir() else 0


def run_until(cfg: Path, out: Path, kill_at: int | None) -> int:
    """Run the study; SIGKILL it once ``kill_at`` units are done. Returns the exit code."""
    proc = subprocess.Popen(
        study_cmd(cfg, out), env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    while kill_at is not None and proc.poll() is None:
        if done_units(out) >= kill_at:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    output = proc.communicate(timeout=600)[0].decode()
    assert proc.returncode in (0, -signal.SIGKILL), output
    return proc.returncode


@pytest.fixture(scope="module")
def micro_study(micro_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("study")
    cfg = micro_config(micro_world, tmp / "micro.yaml")
    out = tmp / "clean"
    assert run_until(cfg, out, None) == 0
    return cfg, out


def test_every_artifact_and_the_report(micro_study: tuple[Path, Path]):
    _, out = micro_study
    for name in TABLES:
        assert (out / "results" / f"{name}.parquet").is_file(), name
    assert (out / "results" / "accuracy.csv").is_file() and (out / "manifest.json").is_file()
    acc = read_table(out / "results" / "accuracy.parquet")
    cells = {(r["train_level"], r["seed"]) for r in acc}
    assert cells == {("0", 0), ("random", 0)}
    assert {r["restore_k"] for r in acc} == {0.0, 5.0, 20.0}
    assert {r["domain"] for r in acc} == {"in", "ood"} and -1 in {r["test_level"] for r in acc}
    assert all(0 <= r["accuracy"] <= 1 for r in acc if r["n"] > 0)
    assert all(r["low_n"] == (0 < r["n"] < 20) for r in acc if r["test_level"] != -1)
    assert any(r["low_n"] for r in acc if r["test_level"] == -1)  # a micro world's levels are small
    page = (out / "report" / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert images and all((out / "report" / name).is_file() for name in images)
    assert all(f'id="finding-{i}"' in page for i in range(1, 5)) and page.count("<table") >= 3
    assert "4. **Restoring" in (out / "report" / "findings.md").read_text()
    base = read_table(out / "results" / "base_accuracy.parquet")
    assert {(r["domain"], r["test_level"]) for r in base if r["test_level"] == -1} == {
        ("in", -1),
        ("ood", -1),
    }
    assert {r["test_level"] for r in base} <= {-1, 0, 1, 2, 3, 4}
    assert all(0 <= r["accuracy"] <= 1 and r["correct"] <= r["n"] for r in base)
    assert "base model" in page


def test_compare_a_run_with_its_copy(micro_study: tuple[Path, Path], tmp_path: Path):
    """``sftlens compare`` through the CLI: the same results twice agree on every finding and
    their configs (and their world's build config) are the same; an --out inside a run fails."""
    import shutil

    _, out = micro_study
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    base = [sys.executable, "-m", "sftlens", "-q", "compare", "--runs", f"{out},{copy}"]
    proc = subprocess.run([*base, "--out", str(tmp_path / "cmp")], capture_output=True,
                          text=True, env=env(), timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(" in both (R1 ") == 4
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "The configs of R1, R2 are the same." in md and "not found from here" not in md
    assert "| 4. Restoring" in md
    bad = subprocess.run([*base, "--out", str(copy / "cmp")], capture_output=True, text=True,
                         env=env(), timeout=300)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "is inside input" in bad.stderr and not (copy / "cmp").exists()


def test_per_question_results_add_up_to_the_accuracy_table(micro_study: tuple[Path, Path]):
    _, out = micro_study
    res = out / "results"
    questions = pd.read_parquet(res / "questions.parquet").sort_values("position")
    answers = pd.read_parquet(res / "answers.parquet")
    acc = pd.read_parquet(res / "accuracy.parquet")
    assert len(answers) == len(acc[acc["test_level"] == -1]) // 2  # one row per model, 2 domains
    assert set(answers["questions"]) == set(questions["questions"])
    level = questions["level"].to_numpy()
    domain = questions["domain"].to_numpy()
    for row in answers.itertuples():
        correct = np.array([c == "1" for c in row.correct])
        mine = acc[(acc["train_level"] == row.train_level) & (acc["size"] == row.size)
                   & (acc["restore_k"] == row.restore_k) & (acc["strategy"] == row.strategy)
                   & (acc["region"] == row.region)
                   & (acc["test_level"] >= 0)]  # fmt: skip
        for r in mine.itertuples():
            cols = (domain == r.domain) & (level == r.test_level)
            assert correct[cols].sum() == r.correct and cols.sum() == r.n
    kl_facts = pd.read_parquet(res / "kl_facts.parquet")
    assert kl_facts.groupby(["train_level", "size"])["id"].nunique().nunique() == 1
    assert set(kl_facts["id"]) <= set(questions["id"])
    findings = (out / "report" / "findings.md").read_text()
    assert "answers.parquet" not in findings  # the verdicts had their per-question results


def test_rerun_skips_everything(micro_study: tuple[Path, Path]):
    cfg, out = micro_study
    before = pd.read_parquet(out / "results" / "accuracy.parquet")
    proc = subprocess.run(
        study_cmd(cfg, out), env=env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"ran 0 ", proc.stdout), proc.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results" / "accuracy.parquet"), before)


def run_killed_in_write(cfg: Path, out: Path, name: str, signals: Path) -> int:
    """Run the study; SIGKILL it inside its next atomic write of a file/dir called ``name``.

    Uses the pause hook of ``tests/hooks/sitecustomize.py``: the write announces itself once
    its temp is complete and sleeps before the rename.
    """
    proc = subprocess.Popen(
        study_cmd(cfg, out),
        env={**env(), **pause_env(signals, name)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    while proc.poll() is None and not (signals.is_dir() and any(signals.iterdir())):
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    output = proc.communicate(timeout=600)[0].decode()
    assert proc.returncode in (0, -signal.SIGKILL), output
    for hit in signals.glob("write-*"):
        hit.unlink()
    return proc.returncode


def temp_debris(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if ".tmp-" in p.name or ".old-" in p.name]


def test_sigkill_at_several_points_resumes_to_identical_tables(
    micro_study: tuple[Path, Path], tmp_path: Path
):
    """Killed at 5+ unit boundaries (random, seeded) and inside 3+ atomic writes, then resumed."""
    cfg, clean = micro_study
    out = tmp_path / "killed"
    total = done_units(clean)
    boundaries = sorted(random.Random(23).sample(range(1, total - 1), 5))
    # a kill inside unit.json leaves its unit undone; inside manifest.json, at a run's start
    writes = ["unit.json", "manifest.json", "unit.json", "unit.json"]
    at_boundary = in_write = 0
    for i, at in enumerate(boundaries):
        at_boundary += run_until(cfg, out, at) == -signal.SIGKILL
        if i < len(writes):
            killed = run_killed_in_write(cfg, out, writes[i], tmp_path / "signals")
            in_write += killed == -signal.SIGKILL
    assert at_boundary >= 5 and in_write >= 3, (at_boundary, in_write)
    assert run_until(cfg, out, None) == 0
    assert temp_debris(out) == []
    for name in TABLES:  # NaN-aware: levels without test facts have accuracy NaN
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / "results" / f"{name}.parquet"),
            pd.read_parquet(clean / "results" / f"{name}.parquet"),
        )


def test_controls_run_beside_the_grid_and_stay_apart(micro_world: Path, tmp_path: Path) -> None:
    cfg = yaml.safe_load(micro_config(micro_world, tmp_path / "micro.yaml").read_text())
    cfg["grid"]["levels"] = ["random"]
    cfg["restore"], cfg["diff_stats"] = {"enabled": False}, {"enabled": False}
    cfg["controls"] = {"steps_matched": True, "lr_sensitivity": [1.0e-5]}
    path = tmp_path / "controls.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    assert run_until(path, out, None) == 0
    rows = read_table(out / "results" / "controls.parquet")
    assert {r["control"] for r in rows} == {"steps-matched", "lr=1e-05"}
    matched = {(r["size"], r["epochs"]) for r in rows if r["control"] == "steps-matched"}
    assert matched == {(4, 2)}  # 4 samples at batch 4 for as many steps as 8 samples
    assert {r["lr"] for r in rows if r["control"] == "lr=1e-05"} == {1e-5}
    log = read_table(
        out / "units" / "controls" / "steps-matched" / "Lrandom-n4-s0" / "finetune" / "log.jsonl"
    )
    assert max(int(r["step"]) for r in log) == 2
    assert "control" not in read_table(out / "results" / "accuracy.parquet")[0]
