"""The per-GPU memory plan: arithmetic of each mode, sharding, and its one-line refusal."""

from __future__ import annotations

import pytest

from sftlens.errors import ConfigError
from sftlens.finetuning.memory import (
    GIB,
    OVERHEAD,
    ModelShape,
    micro_batch_tokens,
    plan_memory,
)

SHAPE = ModelShape(params=1000, trainable=1000, layers=2, hidden=4, intermediate=8, vocab=10)
ACT_PER_TOKEN = 2 * (10 * 4 + 4 * 8) * 2 + 8 * 10  # layers x values x 2 bytes + fp32 logits, grad


@pytest.mark.parametrize(
    ("mode", "kind", "gpus", "parts"),
    [  # weights, grads, optimizer, half copies, communication
        ("fp32-master", "single", 1, (4000, 4000, 8000, 2000, 0)),
        ("pure", "single", 1, (2000, 2000, 4000, 0, 0)),
        ("kahan", "single", 1, (2000, 2000, 6000, 0, 0)),
        ("fp32-master", "ddp", 2, (4000, 4000, 8000, 2000, 4000)),
        ("fp32-master", "fsdp", 4, (1000, 1000, 2000, 0, 2 * 500 * 2)),
    ],
)
def test_plan_arithmetic(mode, kind, gpus, parts):
    plan = plan_memory(SHAPE, mode, gpus=gpus, kind=kind, tokens=3)
    got = (plan.weights, plan.grads, plan.optimizer, plan.compute_copies, plan.communication)
    assert got == parts
    assert plan.activations == 3 * ACT_PER_TOKEN
    w, g, o, c, comm = parts
    assert plan.total == w + o + max(g, c) + comm + 3 * ACT_PER_TOKEN + OVERHEAD


def test_pure_fp32_counts_four_bytes_and_lora_counts_frozen_weights_only():
    fp32 = plan_memory(
        SHAPE, "pure", gpus=1, kind="single", tokens=0, base_bytes=4, compute_bytes=4
    )
    assert (fp32.weights, fp32.grads, fp32.optimizer) == (4000, 4000, 8000)
    lora = ModelShape(params=1000, trainable=10, layers=2, hidden=4, intermediate=8, vocab=10)
    plan = plan_memory(lora, "fp32-master", gpus=1, kind="single", tokens=0)
    assert (plan.weights, plan.grads, plan.optimizer) == (990 * 2 + 10 * 4, 40, 80)


def _llama_8b() -> ModelShape:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=8, vocab_size=128256)  # fmt: skip
    with torch.device("meta"):
        return ModelShape.from_model(LlamaForCausalLM(cfg))


def test_paper_setup_fits_one_141gb_gpu_not_one_80gb_gpu_and_fits_8_with_fsdp():
    shape = _llama_8b()
    assert shape.params == 8_030_261_248
    tokens = micro_batch_tokens([40] * 960, batch_size=8, gpus=1)
    h200 = plan_memory(
        shape, "fp32-master", gpus=1, kind="single", tokens=tokens, capacity=139 * GIB
    )
    assert h200.fits and 120 * GIB < h200.total < 135 * GIB
    a100 = plan_memory(
        shape, "fp32-master", gpus=1, kind="single", tokens=tokens, capacity=80 * GIB
    )
    with pytest.raises(ConfigError, match="does not fit") as err:
        a100.check()
    assert "\n" not in str(err.value) and "FSDP" in str(err.value)
    fsdp = plan_memory(shape, "fp32-master", gpus=8, kind="fsdp", tokens=40, capacity=80 * GIB)
    assert fsdp.fits and fsdp.total < 20 * GIB
    kahan = plan_memory(shape, "kahan", gpus=1, kind="single", tokens=tokens, capacity=80 * GIB)
    assert kahan.fits


def test_unknown_capacity_never_refuses():
    plan = plan_memory(SHAPE, "fp32-master", gpus=1, kind="single", tokens=10**9)
    assert plan.fits
    plan.check()
    assert "memory plan (fp32-master, 1 GPU)" in plan.summary()


def test_micro_batch_tokens_takes_the_longest_share_per_process():
    assert micro_batch_tokens([5, 1, 9, 3], batch_size=4, gpus=1) == 18
    assert micro_batch_tokens([5, 1, 9, 3], batch_size=4, gpus=2) == 14
    assert micro_batch_tokens([5], batch_size=8, gpus=1) == 5
