"""``sftlens calibrate`` refuses bad input before it writes or trains anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftlens.calibration import CalibrateConfig
from sftlens.calibration.stage import run
from sftlens.cli import main
from sftlens.errors import ConfigError, DataError
from sftlens.tableio import write_table


def facts_file(path: Path, splits: list[str]) -> Path:
    rows = [{"id": f"f{i}", "relation": "P19", "question": f"Where was S{i} born?",
             "object": f"C{i}", "split": s} for i, s in enumerate(splits)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def config(tmp_path: Path, splits: list[str], covered: int) -> CalibrateConfig:
    data = facts_file(tmp_path / "facts.jsonl", splits)
    mastery = tmp_path / "mastery.parquet"
    write_table(mastery, [{"id": f"f{i}", "level": 0} for i in range(covered)])
    return CalibrateConfig(model="never-loaded", data=f"jsonl:{data}", mastery=str(mastery))


def test_no_dev_split_is_one_line_and_writes_nothing(tmp_path: Path):
    cfg = config(tmp_path, ["train", "train", "test"], covered=3)
    with pytest.raises(ConfigError, match=r"needs a 'dev' split.*splits: test, train"):
        run(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_mastery_without_the_dev_facts_is_refused(tmp_path: Path):
    cfg = config(tmp_path, ["train", "train", "dev"], covered=2)
    with pytest.raises(DataError, match="1 of 1 fact ids are missing"):
        run(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_bad_lr_grid_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    args = ["calibrate", "--model", "m", "--data", "jsonl:x", "--mastery", "m.parquet"]
    assert main([*args, "--out", str(tmp_path / "o"), "lrs=[0.001,-1]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "positive" in err[0]
