"""The SFT loop: determinism, grad accumulation, LoRA (adapters only, merge, reload), log."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from sftlens.errors import ConfigError
from sftlens.finetuning.config import FinetuneConfig
from sftlens.finetuning.trainer import finetune


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_same_seed_gives_identical_weights(tiny_llama_dir, examples):
    from sftlens.models import load_model, load_tokenizer

    tok = load_tokenizer(tiny_llama_dir, padding_side="right")
    cfg = FinetuneConfig(lr=1e-3, batch_size=4, seed=7)
    runs = []
    for seed in (7, 7, 8):
        model = load_model(tiny_llama_dir, dtype="float32", device="cpu")
        runs.append(
            _state(
                finetune(
                    model, tok, examples, cfg.model_copy(update={"seed": seed}), progress=False
                ).model
            )
        )
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert any(not torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_log_and_schedule(tiny, examples):
    model, tok = tiny
    before = _state(model)
    cfg = FinetuneConfig(lr=1e-3, batch_size=4, epochs=2, warmup_ratio=0.3)
    result = finetune(model, tok, examples, cfg, progress=False)
    steps = 2 * math.ceil(len(examples) / 4)
    assert [r["step"] for r in result.log] == list(range(1, steps + 1))
    assert [r["epoch"] for r in result.log] == [1] * (steps // 2) + [2] * (steps // 2)
    lrs = [r["lr"] for r in result.log]
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(1e-3)  # linear warm-up over 2 steps (HF's)
    assert all(a > b for a, b in itertools.pairwise(lrs[2:]))  # then cosine down
    assert all(math.isfinite(r["loss"]) and r["grad_norm"] > 0 for r in result.log)
    assert result.log[-1]["loss"] < result.log[0]["loss"]
    assert result.model is model and not model.training
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_grad_accum_matches_larger_batch(tiny_llama_dir, examples):
    from sftlens.models import load_model, load_tokenizer

    tok = load_tokenizer(tiny_llama_dir, padding_side="right")
    states = []
    for bs, accum in ((8, 1), (4, 2)):
        model = load_model(tiny_llama_dir, dtype="float32", device="cpu")
        cfg = FinetuneConfig(
            lr=1e-3, batch_size=bs, grad_accum=accum, shuffle=False, packing=bs == 8
        )
        states.append(_state(finetune(model, tok, examples[:8], cfg, progress=False).model))
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k], rtol=1e-4, atol=1e-5)


def test_lora_trains_only_adapters_and_merges(tiny, examples, tmp_path):
    from transformers import AutoModelForCausalLM

    from sftlens.models import save_model

    model, tok = tiny
    base = _state(model)
    cfg = FinetuneConfig(lr=1e-2, batch_size=4)
    cfg.lora.enabled, cfg.lora.merge, cfg.lora.target_modules = True, False, ["q_proj", "v_proj"]
    peft_model = finetune(model, tok, examples, cfg, progress=False).model
    adapters = {k: v for k, v in peft_model.state_dict().items() if "lora_" in k}
    assert adapters and any("lora_B" in k and v.abs().sum() > 0 for k, v in adapters.items())
    for name, value in peft_model.get_base_model().state_dict().items():
        if "lora_" not in name:
            assert torch.equal(value, base[name.replace(".base_layer", "")]), name
    merged = peft_model.merge_and_unload()
    changed = {k for k, v in merged.state_dict().items() if not torch.equal(v, base[k])}
    assert changed and all(k.endswith(("q_proj.weight", "v_proj.weight")) for k in changed)
    save_model(merged, tok, tmp_path / "model")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    ids = torch.tensor([tok("<|question|> Where was Bob born ? <|answer|>")["input_ids"]])
    torch.testing.assert_close(loaded(ids).logits, merged(ids).logits)


def test_lora_merge_on_return_gives_plain_model(tiny, examples):
    model, tok = tiny
    cfg = FinetuneConfig(lr=1e-2, batch_size=6)
    cfg.lora.enabled = True
    tuned = finetune(model, tok, examples, cfg, progress=False).model
    assert type(tuned).__name__ == "LlamaForCausalLM"
    assert not any("lora" in k for k in tuned.state_dict())
    assert all(p.requires_grad for p in tuned.parameters())


def test_lora_unknown_target_modules(tiny, examples):
    model, tok = tiny
    cfg = FinetuneConfig()
    cfg.lora.enabled, cfg.lora.target_modules = True, ["q_proj", "qkv_proj"]
    with pytest.raises(ConfigError, match="qkv_proj"):
        finetune(model, tok, examples, cfg, progress=False)


def test_compiled_layers_train_like_eager_and_are_undone(tiny_llama_dir, examples):
    """``compile=True`` (torch.compile per decoder layer): same losses and weights; the
    returned model's layers run eagerly again, with unchanged state-dict names."""
    from sftlens.models import load_model, load_tokenizer

    tok = load_tokenizer(tiny_llama_dir, padding_side="right")
    runs = []
    for compile_layers in (False, True):
        model = load_model(tiny_llama_dir, dtype="float32", device="cpu")
        cfg = FinetuneConfig(lr=1e-3, batch_size=4, compile=compile_layers)
        runs.append(finetune(model, tok, examples, cfg, progress=False))
    eager, compiled = runs
    losses = [[r["loss"] for r in run.log] for run in runs]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4, abs=1e-5)
    assert eager.model.state_dict().keys() == compiled.model.state_dict().keys()
    for key, value in eager.model.state_dict().items():
        torch.testing.assert_close(compiled.model.state_dict()[key], value, rtol=1e-4, atol=1e-5)
    assert all(layer._compiled_call_impl is None for layer in compiled.model.model.layers)


def test_compiled_layers_are_undone_when_training_fails(tiny, examples, monkeypatch):
    from sftlens.finetuning import trainer

    model, tok = tiny

    def fail(*_args, **_kwargs):
        raise RuntimeError("scheduler failed")

    monkeypatch.setattr(trainer, "make_scheduler", fail)
    with pytest.raises(RuntimeError, match="scheduler failed"):
        finetune(model, tok, examples, FinetuneConfig(compile=True), progress=False)
    assert all(layer._compiled_call_impl is None for layer in model.model.layers)
