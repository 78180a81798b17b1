"""``finetune.lr: auto`` end to end through the CLI on the micro world with a dev split;
the stand-alone ``sftlens calibrate`` agrees with the study's unit; bad input fails up front."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sftlens.tableio import read_table

pytestmark = pytest.mark.slow
LRS = [1e-4, 1e-3]


def resplit(world: Path, out: Path, dev: bool) -> Path:
    """A copy of ``world`` whose held-out pool facts alternate dev/test per relation (``dev``),
    or are all test (no dev split); pretraining-QA facts and train facts keep their split."""
    shutil.copytree(world, out)
    facts = out / "world" / "facts.jsonl"
    rows = [json.loads(line) for line in facts.read_text().splitlines() if line.strip()]
    seen: dict[str, int] = {}
    for r in rows:
        if r["role"] == "pretrain_qa" or r["split"] == "train":
            continue
        seen[r["relation"]] = seen.get(r["relation"], 0) + 1
        r["split"] = "dev" if dev and seen[r["relation"]] % 2 else "test"
    facts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def study_config(world: Path, path: Path, **extra: object) -> Path:
    cfg = {
        "name": "micro-auto", "world": str(world), "device": "cpu", "dtype": "float32",
        "grid": {"levels": ["0", "random"], "sizes": [4, 8], "seeds": [0]},
        "probe": {"samples": 2, "templates": 3}, "select": {"allow_smaller": True},
        "finetune": {"batch_size": 4, "lr": "auto"}, "calibrate": {"lrs": LRS},
        "kl_enabled": False, "restore": {"enabled": False}, "diff_stats": {"enabled": False},
        **extra,
    }  # fmt: skip
    path.write_text(yaml.safe_dump(cfg))
    return path


def sftlens(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "sftlens", "-q", *args]
    env = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(
        cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def auto_study(micro_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("calib")
    world = resplit(micro_world, tmp / "world", dev=True)
    cfg = study_config(world, tmp / "auto.yaml")
    proc = sftlens("study", str(cfg), "--out", str(tmp / "run"))
    assert proc.returncode == 0, proc.stderr
    return cfg, tmp / "run"


def test_calibration_runs_before_the_grid_and_sets_its_lr(auto_study: tuple[Path, Path]):
    _, out = auto_study
    cal = read_table(out / "results" / "calibration.parquet")
    assert [r["lr"] for r in cal] == LRS and sum(r["chosen"] for r in cal) == 1
    best = max(r["dev_macro_in"] for r in cal)
    lr = json.loads((out / "units" / "calibrate" / "choice.json").read_text())["lr"]
    assert lr == min(r["lr"] for r in cal if r["dev_macro_in"] == best)
    assert json.loads((out / "units" / "calibrate" / "choice.json").read_text())["size"] == 4
    for log in (out / "units").glob("*/finetune/log.jsonl"):
        assert read_table(log)[0]["lr"] == pytest.approx(lr), log  # the peak lr at step 1
    mastery = read_table(out / "results" / "mastery.parquet")
    assert {"train", "dev", "test"} <= {r["split"] for r in mastery}  # dev facts were probed
    acc = read_table(out / "results" / "accuracy.parquet")
    assert {r["test_set"] for r in acc} == {"test"}
    page = (out / "report" / "index.html").read_text()
    assert "Learning-rate calibration" in page and "Paper (LLaMA-3-8B) vs this run" in page


def test_resume_reuses_the_calibration_and_a_new_grid_recalibrates(
    auto_study: tuple[Path, Path], tmp_path: Path
):
    cfg, out = auto_study
    proc = sftlens("study", str(cfg), "--out", str(out))
    assert proc.returncode == 0 and re.search(r"ran 0 ", proc.stdout), proc.stdout + proc.stderr
    lr = json.loads((out / "units" / "calibrate" / "choice.json").read_text())["lr"]
    run = tmp_path / "run"
    shutil.copytree(out, run)
    proc = sftlens("study", str(cfg), "--out", str(run), f"calibrate.lrs=[{lr}]")
    assert proc.returncode == 0, proc.stderr
    # only the calibration re-ran: the grid's fine-tune keys hash the (same) chosen lr
    assert re.search(r"ran 1 ", proc.stdout), proc.stdout


def test_standalone_calibrate_agrees_with_the_study(auto_study: tuple[Path, Path], tmp_path: Path):
    cfg, out = auto_study
    world = yaml.safe_load(cfg.read_text())["world"]
    proc = sftlens(
        "calibrate", "--model", f"{world}/model", "--data", f"world:{world}",
        "--mastery", str(out / "units" / "probe" / "mastery.parquet"), "--out", str(tmp_path / "c"),
        "--device", "cpu", "dtype=float32", "size=4", "allow_smaller=true",
        "finetune.batch_size=4", f"lrs=[{LRS[0]},{LRS[1]}]",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "chosen lr" in proc.stdout
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "c" / "calibration.parquet"),
        pd.read_parquet(out / "units" / "calibrate" / "calibration.parquet"),
    )


def test_lr_auto_without_a_dev_split_fails_before_any_work(micro_world: Path, tmp_path: Path):
    world = resplit(micro_world, tmp_path / "world", dev=False)
    proc = sftlens(
        "study", str(study_config(world, tmp_path / "a.yaml")), "--out", str(tmp_path / "r")
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a 'dev' split" in lines[0], proc.stderr
    assert not list((tmp_path / "r").glob("units/**/unit.json"))


def test_empty_lr_grid_is_a_config_error(micro_world: Path, tmp_path: Path):
    cfg = study_config(micro_world, tmp_path / "a.yaml")
    proc = sftlens("study", str(cfg), "--out", str(tmp_path / "r"), "calibrate.lrs=[]")
    assert proc.returncode == 2 and "empty" in proc.stderr and not (tmp_path / "r").exists()


def test_in_process_on_the_micro_world_scores_dev_facts_only(
    micro_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import sftlens.evaluation
    from sftlens.calibration import calibrate_lr, dev_facts
    from sftlens.data import load_dataset
    from sftlens.evaluation.config import EvaluateConfig
    from sftlens.finetuning.config import FinetuneConfig
    from sftlens.models import load_model, load_tokenizer

    world = resplit(micro_world, tmp_path / "world", dev=True)
    facts = load_dataset(f"world:{world}").facts
    levels = {f.id: f.exposure % 5 if f.exposure is not None else 0 for f in facts}
    real, seen = sftlens.evaluation.evaluate_model, []

    def spy(model, tok, facts, levels, cfg, progress=True):
        seen.extend(facts)
        return real(model, tok, facts, levels, cfg, progress=progress)

    monkeypatch.setattr(sftlens.evaluation, "evaluate_model", spy)
    model = load_model(str(world / "model"), "float32", "cpu")
    cal = calibrate_lr(
        model, load_tokenizer(str(world / "model")), facts, dev_facts(facts), levels,
        lrs=[1e-4, 1e-3, 3e-2], size=8, seed=0, finetune_cfg=FinetuneConfig(batch_size=4, device="cpu"),
        evaluate_cfg=EvaluateConfig(split="dev", device="cpu"),
    )  # fmt: skip
    assert seen and {f.split for f in seen} == {"dev"} and len(seen) == 3 * len(dev_facts(facts))
    scores = {r["lr"]: r["dev_macro_in"] for r in cal.rows}
    assert cal.lr == min(lr for lr, s in scores.items() if s == max(scores.values()))
