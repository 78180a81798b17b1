"""The whole study from the CLI on a user's 30-fact JSONL with two relations of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support.custom_facts import write_custom_facts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from sftlens.tableio import read_table
from support.arch_models import build_tiny_arch

pytestmark = pytest.mark.slow


def test_study_on_custom_relations(tmp_path: Path) -> None:
    files = write_custom_facts(tmp_path / "data")
    model = build_tiny_arch("qwen3", tmp_path / "qwen3")
    cfg = {
        "name": "custom",
        "model": str(model),
        "data": f"jsonl:{files.data}",
        "relations": str(files.relations),
        "aliases": [str(files.aliases)],
        "device": "cpu",
        "dtype": "float32",
        "grid": {"levels": ["0", "random"], "sizes": [4], "seeds": [0]},
        "probe": {"samples": 2, "templates": 2, "max_new_tokens": 3},
        "select": {"allow_smaller": True},
        "finetune": {"batch_size": 4},
        "evaluate": {"max_new_tokens": 3},
        "token_kl": {"levels": [0, 1, 2, 3, 4]},
        "restore": {"ks": [10]},
        "diff_stats": {"top_pcts": [1, 10]},
    }
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "sftlens",
        "-q",
        "study",
        str(config),
        "--out",
        str(tmp_path / "run"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    acc = read_table(tmp_path / "run" / "results" / "accuracy.parquet")
    assert {r["relation"] for r in acc if r.get("relation")} <= {"capital_of", "employer"}
    assert (tmp_path / "run" / "results" / "diff_stats.parquet").is_file()
    assert (tmp_path / "run" / "report" / "index.html").stat().st_mode & 0o044  # shareable
