"""`sftlens study` / `report` / `demo` on bad input: one line, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sftlens.cli import main
from sftlens.config import load_config
from sftlens.errors import ConfigError
from sftlens.study import demo
from sftlens.study.config import DemoConfig


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"world": "w", "gird": {}}, "did you mean 'grid'"),
        ({"world": "w", "grid": {"sizes": []}}, "grid.sizes is empty"),
        (
            {
                "world": "w",
                "finetune": {"lora": {"enabled": True}},
                "restore": {"regions": ["all"]},
            },
            "LoRA",
        ),
        ({"world": "w", "evaluate": {"max_new_tokes": 3}}, "did you mean 'max_new_tokens'"),
    ],
)
def test_bad_study_config_fails_before_any_work(tmp_path: Path, capsys, data, message):
    out = tmp_path / "run"
    assert main(["study", str(write(tmp_path, data)), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_report_on_empty_dir_fails_cleanly(tmp_path: Path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "accuracy.parquet" in capsys.readouterr().err


def test_demo_validates_the_study_config_before_building(tmp_path: Path):
    cfg = load_config(DemoConfig, values={"overrides": ["grid.seeds=[]"]})
    with pytest.raises(ConfigError, match="grid.seeds is empty"):
        demo.run(cfg, tmp_path / "demo")
    assert not (tmp_path / "demo").exists()
    with pytest.raises(ConfigError, match="not found"):
        demo.run(
            load_config(DemoConfig, values={"study_config": str(tmp_path / "x.yaml")}),
            tmp_path / "d",
        )
