"""Precision modes: fp32 master weights keep the small updates that pure bf16 rounds away."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from sftlens.errors import ConfigError
from sftlens.finetuning.config import FinetuneConfig
from sftlens.finetuning.precision import resolve_precision
from sftlens.finetuning.trainer import finetune

BF16, FP16, FP32 = torch.bfloat16, torch.float16, torch.float32


@pytest.mark.parametrize(
    ("mode", "base", "expected"),
    [
        ("auto", BF16, ("fp32-master", FP32, BF16)),
        ("auto", FP16, ("fp32-master", FP32, FP16)),
        ("auto", FP32, ("pure", FP32, FP32)),
        ("fp32-master", FP32, ("fp32-master", FP32, FP32)),
        ("pure", BF16, ("pure", BF16, BF16)),
        ("kahan", BF16, ("kahan", BF16, BF16)),
    ],
)
def test_resolve_precision(mode, base, expected):
    prec = resolve_precision(mode, base)
    assert (prec.mode, prec.param_dtype, prec.compute_dtype) == expected
    assert prec.base_dtype == base
    assert prec.loss_scaling == (expected[2] == FP16)


def test_kahan_needs_a_bf16_model():
    with pytest.raises(ConfigError, match="kahan trains bf16 weights"):
        resolve_precision("kahan", FP32)


def test_kahan_without_torch_optimi_names_the_package(monkeypatch):
    from sftlens.finetuning.precision import check_kahan_available

    monkeypatch.setitem(sys.modules, "optimi", None)  # import optimi → ImportError
    with pytest.raises(ConfigError, match="pip install torch-optimi") as err:
        check_kahan_available()
    assert "\n" not in str(err.value)


def _changed_share(tiny_llama_dir, examples, precision: str, load_dtype: str) -> float:
    """Share of bf16 weights that differ from the bf16 base after 240 steps at lr 1e-5."""
    from sftlens.models import load_model, load_tokenizer

    tok = load_tokenizer(tiny_llama_dir, padding_side="right")
    base = load_model(tiny_llama_dir, dtype="bfloat16", device="cpu")
    before = {k: v.clone() for k, v in base.state_dict().items()}
    model = load_model(tiny_llama_dir, dtype="bfloat16", device="cpu").to(
        getattr(torch, load_dtype)
    )  # the bf16 weights, loaded in load_dtype
    cfg = FinetuneConfig(lr=1e-5, batch_size=1, epochs=20, precision=precision, seed=3)
    tuned = finetune(model, tok, examples, cfg, progress=False).model  # 12 samples x 20 = 240 steps
    after = {k: v.to(BF16) for k, v in tuned.state_dict().items()}
    changed = sum(int((after[k] != before[k]).sum()) for k in before)
    return changed / sum(v.numel() for v in before.values())


@pytest.mark.slow
def test_fp32_master_keeps_small_updates_and_pure_bf16_loses_them(tiny_llama_dir, examples):
    reference = _changed_share(tiny_llama_dir, examples, "pure", "float32")
    master = _changed_share(tiny_llama_dir, examples, "auto", "bfloat16")
    pure = _changed_share(tiny_llama_dir, examples, "pure", "bfloat16")
    assert reference > 0.2
    assert abs(master - reference) <= 0.02, (master, reference)
    assert pure < master / 3, (pure, master)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("optimi") is None, reason="torch-optimi not installed")
def test_kahan_keeps_most_small_updates(tiny_llama_dir, examples):
    kahan = _changed_share(tiny_llama_dir, examples, "kahan", "bfloat16")
    pure = _changed_share(tiny_llama_dir, examples, "pure", "bfloat16")
    assert kahan > 2 * pure, (kahan, pure)


def test_fp32_master_returns_the_base_dtype_and_logs_the_mode(tiny_llama_dir, examples):
    from sftlens.models import load_model, load_tokenizer

    tok = load_tokenizer(tiny_llama_dir, padding_side="right")
    model = load_model(tiny_llama_dir, dtype="bfloat16", device="cpu")
    result = finetune(model, tok, examples, FinetuneConfig(lr=1e-3, batch_size=4), progress=False)
    assert {p.dtype for p in result.model.parameters()} == {BF16}
    assert result.precision == {
        "precision": "fp32-master",
        "base_dtype": "bfloat16",
        "param_dtype": "float32",
        "compute_dtype": "bfloat16",
    }
    assert {r["precision"] for r in result.log} == {"fp32-master"}
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in result.log)


def test_fp16_model_trains_with_loss_scaling(tiny_llama_dir, examples):
    from sftlens.models import load_model, load_tokenizer

    tok = load_tokenizer(tiny_llama_dir, padding_side="right")
    model = load_model(tiny_llama_dir, dtype="float16", device="cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = finetune(model, tok, examples, FinetuneConfig(lr=1e-3, batch_size=4), progress=False)
    assert {p.dtype for p in result.model.parameters()} == {FP16}
    assert any(not torch.equal(before[k], v) for k, v in result.model.state_dict().items())
