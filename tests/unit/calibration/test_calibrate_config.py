"""Config of the calibration, and ``finetune.lr: auto`` in a study config."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftlens.calibration import DEFAULT_LRS, CalibrateConfig
from sftlens.config import load_config
from sftlens.errors import ConfigError
from sftlens.finetuning.config import FinetuneConfig
from sftlens.study.checks import check_stage_sections
from sftlens.study.config import StudyConfig

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
STUDY = {"world": "w", "grid": {"levels": [0, 4], "sizes": [30, 60, 120], "seeds": [0]}}


def test_defaults_and_overrides():
    cfg = load_config(CalibrateConfig, overrides=["lrs=1e-4,3e-4", "size=all", "finetune.epochs=2"])
    assert cfg.lrs == [1e-4, 3e-4] and cfg.size == "all" and cfg.finetune.epochs == 2
    assert CalibrateConfig().lrs == DEFAULT_LRS == [1e-5, 3e-5, 1e-4, 3e-4]


@pytest.mark.parametrize(
    ("lrs", "message"),
    [
        ("[]", "empty"),
        ("[1e-4,0]", "positive"),
        ("[-1e-4]", "positive"),
        ("[1e-4,1e-4]", "duplicates"),
    ],
)
def test_bad_lr_grid_is_a_config_error(lrs: str, message: str):
    with pytest.raises(ConfigError, match=message):
        load_config(CalibrateConfig, overrides=[f"lrs={lrs}"])
    with pytest.raises(ConfigError, match=message):
        load_config(StudyConfig, values={**STUDY, "finetune": {"lr": "auto"}},
                    overrides=[f"calibrate.lrs={lrs}"])  # fmt: skip


def test_finetune_lr_inside_the_calibration_is_refused():
    with pytest.raises(ConfigError, match="finetune.lr is chosen by the calibration"):
        load_config(CalibrateConfig, overrides=["finetune.lr=1e-4"])


def test_lr_auto_validates_in_a_study_and_picks_the_middle_size():
    cfg = load_config(StudyConfig, values={**STUDY, "finetune": {"lr": "auto"}})
    check_stage_sections(cfg)
    assert cfg.lr_auto() and cfg.calibration_size() == 60
    cfg = load_config(StudyConfig, values={**STUDY, "grid.sizes": [60, 120, 240, 480, 960, 1920]})
    assert not cfg.lr_auto() and cfg.calibration_size() == 240
    assert (
        load_config(StudyConfig, values={**STUDY, "grid.sizes": ["all", 8]}).calibration_size() == 8
    )


def test_a_study_cannot_set_what_it_fills_in_itself():
    with pytest.raises(ConfigError, match="'calibrate.size' is set by the study itself"):
        load_config(StudyConfig, values={**STUDY, "calibrate": {"size": 10}})
    with pytest.raises(ConfigError, match="did you mean 'lrs'"):
        load_config(StudyConfig, values={**STUDY, "calibrate": {"lrss": [1e-4]}})


def test_a_non_numeric_lr_other_than_auto_is_refused():
    with pytest.raises(
        ConfigError, match=r"finetune.lr': .*must be a number in \(0, 1\] or 'auto'"
    ):
        load_config(StudyConfig, values={**STUDY, "finetune": {"lr": "automatic"}})
    assert not load_config(StudyConfig, values={**STUDY, "finetune": {"lr": "1e-4"}}).lr_auto()


def test_standalone_finetune_still_needs_a_number():
    with pytest.raises(ConfigError, match="lr"):
        load_config(FinetuneConfig, overrides=["lr=auto"])


def test_paper_config_keeps_the_paper_lr():
    cfg = load_config(
        StudyConfig, CONFIGS / "paper-llama3-8b.yaml", ["data=entityquestions:/data/eq"]
    )
    assert not cfg.lr_auto() and cfg.finetune.lr == 1e-5
