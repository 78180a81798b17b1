"""LoRA targets by PEFT's own matching: per-architecture defaults, ``all-linear``, GPT-2's Conv1D."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sftlens.errors import ConfigError, DataError
from sftlens.finetuning.config import FinetuneConfig
from sftlens.finetuning.lora import lora_targets
from sftlens.finetuning.stage import run

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support.arch_models import build_tiny_arch


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_arch("gpt2", tmp_path_factory.mktemp("gpt2") / "m")


def test_targets_resolve_on_conv1d_models(gpt2_dir: Path) -> None:
    from sftlens.models import load_model

    model = load_model(gpt2_dir, dtype="float32", device="cpu")
    assert lora_targets(model, None) == ["attn.c_attn", "attn.c_proj"]
    assert lora_targets(model, ["c_attn", "mlp.c_fc"]) == ["c_attn", "mlp.c_fc"]
    assert lora_targets(model, "all-linear") == "all-linear"
    with pytest.raises(ConfigError, match="q_proj.*c_attn.*all-linear"):
        lora_targets(model, ["q_proj"])


def test_all_linear_adapter_on_gpt2_is_loadable(gpt2_dir: Path, examples, tmp_path: Path) -> None:
    from peft import AutoPeftModelForCausalLM

    train = tmp_path / "set.jsonl"
    train.write_text("".join(json.dumps(e) + "\n" for e in examples[:4]))
    cfg = FinetuneConfig(model=str(gpt2_dir), train=str(train), device="cpu", batch_size=4)
    cfg.lora.enabled, cfg.lora.merge, cfg.lora.target_modules = True, False, "all-linear"
    adapter = run(cfg, tmp_path / "out").model_dir
    assert adapter is not None
    saved = json.loads((adapter / "adapter_config.json").read_text())
    assert saved["base_model_name_or_path"] == str(gpt2_dir.resolve())
    model = AutoPeftModelForCausalLM.from_pretrained(str(adapter))
    adapted = {t.rsplit(".", 1)[-1] for t in model.peft_config["default"].target_modules}
    assert adapted == {"c_attn", "c_proj", "c_fc"}  # every Conv1D, not the LM head


def test_config_keeps_all_linear_and_splits_lists() -> None:
    from sftlens.config import build_config

    cfg = build_config(FinetuneConfig, {"lora": {"target_modules": "all-linear"}})
    assert cfg.lora.target_modules == "all-linear"
    cfg = build_config(FinetuneConfig, {"lora": {"target_modules": "q_proj, v_proj"}})
    assert cfg.lora.target_modules == ["q_proj", "v_proj"]
    assert FinetuneConfig().lora.target_modules is None  # the architecture's attention linears


def test_a_facts_file_is_not_an_sft_set(tiny_llama_dir: Path, tmp_path: Path) -> None:
    facts = tmp_path / "facts.jsonl"
    facts.write_text(json.dumps({"id": "a", "question": "q ?", "answers": ["x"], "split": "test"}))
    cfg = FinetuneConfig(model=str(tiny_llama_dir), train=str(facts), device="cpu")
    with pytest.raises(
        DataError, match=r"facts.jsonl:1: a facts file, not an SFT set.*sftlens select"
    ):
        run(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()
