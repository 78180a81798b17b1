"""Study config validation: unknown keys with suggestions, empty grids, contradictions."""

from __future__ import annotations

import pytest

from sftlens.config import load_config
from sftlens.errors import ConfigError
from sftlens.study.checks import check_stage_sections
from sftlens.study.config import StudyConfig

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
    with pytest.raises(ConfigError, match=r"finetune.lrr.*did you mean 'lr'"):
        make(finetune={"lrr": 1e-4})


def test_study_owned_stage_key_is_rejected():
    with pytest.raises(ConfigError, match="'finetune.seed' is set by the study itself"):
        make(finetune={"seed": 3})


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


# ------------------------------------------------------------------ checked before any work
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"restore": {"strategies": ["tpo"]}}, "unknown strategy 'tpo'; did you mean 'top'"),
        ({"restore": {"regions": ["mpl"]}}, r"restore.regions: unknown region 'mpl'.*'mlp'"),
        ({"diff_stats": {"region": "layers=3-1"}}, "diff_stats.region: .*empty layer range"),
        ({"diff_stats": {"top_pcts": [0]}}, r"top_pcts: k=0.0 is outside \(0, 100\]"),
        ({"evaluate": {"max_new_tokens": 0}}, "key 'evaluate.max_new_tokens'"),
        ({"finetune": {"lr": -1}}, r"key 'finetune.lr': .*outside \(0, 1\]"),
        ({"token_kl": {"levels": [7]}}, r"key 'token_kl.levels': .*0..4"),
    ],
)
def test_every_section_is_validated_up_front(values, message):
    with pytest.raises(ConfigError, match=message):
        check_stage_sections(make(**values))


def test_demo_config_passes_the_up_front_checks():
    from sftlens.configs import config_path

    check_stage_sections(load_config(StudyConfig, config_path("demo-tiny"), ["world=w"]))
    check_stage_sections(
        load_config(StudyConfig, config_path("paper-llama3-8b"), ["data=entityquestions:/eq"])
    )


def test_unreplaced_placeholder_path_is_refused():
    from sftlens.configs import config_path

    with pytest.raises(ConfigError, match="placeholder '<DIR>'.*data=entityquestions:DIR"):
        load_config(StudyConfig, config_path("paper-llama3-8b"))


# ------------------------------------------------------------------ one prompt format per study
def test_prompt_format_is_picked_once_and_handed_to_every_stage():
    cfg = load_config(StudyConfig, values={"model": "m", "data": "d", "prompt_format": "chat"})
    for section in ("finetune", "evaluate", "token_kl"):
        assert getattr(cfg, section).given()["prompt_format"] == "chat"
    lifted = load_config(StudyConfig, values={"model": "m", "data": "d"}, overrides=None)
    assert lifted.prompt_format == "paper" and "prompt_format" not in lifted.evaluate.given()
    old_style = load_config(
        StudyConfig, values={"model": "m", "data": "d", "finetune": {"prompt_format": "chat"}}
    )
    assert old_style.prompt_format == "chat" and old_style.evaluate.prompt_format == "chat"


def test_prompt_formats_that_cannot_be_scored_are_refused():
    with pytest.raises(ConfigError, match="prompt formats disagree"):
        load_config(
            StudyConfig,
            values={"model": "m", "data": "d", "prompt_format": "chat",
                    "evaluate": {"prompt_format": "paper"}},
        )  # fmt: skip
    with pytest.raises(ConfigError, match="needs a chat template"):
        make(prompt_format="chat")
    with pytest.raises(ConfigError, match="unknown prompt format"):
        make(prompt_format="qa")


def test_chat_format_needs_the_base_tokenizers_template(tiny_llama_dir):
    from sftlens.study.checks import check_prompt_format

    cfg = load_config(
        StudyConfig, values={"model": str(tiny_llama_dir), "data": "d", "prompt_format": "chat"}
    )
    with pytest.raises(ConfigError, match="study prompt_format: .*no chat template"):
        check_prompt_format(cfg)


def test_a_config_rebuilt_from_what_was_given_hashes_the_same_sections():
    from sftlens.config import build_config
    from sftlens.study.sections import STAGE_SECTIONS

    cfg = load_config(StudyConfig, values={"model": "m", "data": "d", "prompt_format": "chat",
                      "probe": {"templates": 2}, "finetune": {"lr": "auto", "lora": {"r": 4}}})  # fmt: skip
    again = build_config(StudyConfig, cfg.given())
    assert again.finetune.given() == {"lr": "auto", "lora": {"r": 4}, "prompt_format": "chat"}
    for section in STAGE_SECTIONS:
        assert getattr(again, section.key).given() == getattr(cfg, section.key).given()
