"""Study config validation: unknown keys with suggestions, empty grids, contradictions."""

from __future__ import annotations

import pytest

from sftlens.config import load_config
from sftlens.errors import ConfigError
from sftlens.study.config import StudyConfig, check_stage_sections

BASE = {"world": "w", "grid": {"levels": [0, 4], "sizes": [60], "seeds": [0]}}


def make(**values):
    return load_config(StudyConfig, values={**BASE, **values})


def test_minimal_config_and_derived_paths():
    cfg = make()
    assert cfg.grid.levels == ["0", "4"]
    assert cfg.base_model().endswith("w/model") and cfg.data_spec() == "world:w"
    assert cfg.restored_sizes() == [60]


def test_unknown_key_suggests():
    with pytest.raises(ConfigError, match=r"unknown key 'grid.sezes'.*did you mean 'sizes'"):
        load_config(StudyConfig, values={**BASE, "grid.sezes": [1]})


def test_unknown_stage_key_suggests():
    cfg = make(finetune={"lrr": 1e-4})
    with pytest.raises(ConfigError, match=r"finetune.lrr.*did you mean 'lr'"):
        check_stage_sections(cfg)


def test_study_owned_stage_key_is_rejected():
    with pytest.raises(ConfigError, match="finetune.seed"):
        check_stage_sections(make(finetune={"seed": 3}))


@pytest.mark.parametrize("key", ["grid.levels", "grid.sizes", "grid.seeds"])
def test_empty_grid_fails(key):
    with pytest.raises(ConfigError, match="empty"):
        load_config(StudyConfig, values={**BASE, key: []})


def test_needs_world_or_model_and_data():
    with pytest.raises(ConfigError, match="either 'world'"):
        load_config(StudyConfig, values={"model": "m"})


@pytest.mark.parametrize("region", ["embedding", "all", "mlp"])
def test_lora_with_restoration_of_untrained_tensors_fails(region):
    with pytest.raises(ConfigError, match=f"region '{region}'.*LoRA"):
        make(finetune={"lora": {"enabled": True}}, restore={"regions": [region]})


def test_lora_restoring_its_own_targets_is_fine():
    cfg = make(
        finetune={"lora": {"enabled": True, "target_modules": ["down_proj"]}},
        restore={"regions": ["mlp"]},
    )
    assert cfg.restore.regions == ["mlp"]


def test_restore_sizes_must_be_in_the_grid():
    with pytest.raises(ConfigError, match=r"sizes \[240\]"):
        make(restore={"which": [240]})


def test_bad_k_and_vllm_on_cpu():
    with pytest.raises(ConfigError, match=r"\(0, 100\]"):
        make(restore={"ks": [0]})
    with pytest.raises(ConfigError, match="vllm"):
        make(backend="vllm", device="cpu")
