"""``bench/decode_ops.py``: one decode step's ops, attributed to the modules that run them."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import decode_ops as ops
from common import random_model, word_tokenizer


def test_a_decode_step_is_counted_by_module() -> None:
    tok = word_tokenizer(256)
    model = random_model("tiny", "cpu", tok, dtype=torch.float32)  # 2 layers
    result = ops.summary(model, ops.count_step(model, rows=3, prompt_len=5))
    assert result["norm_modules"] == 2 * 2 + 1  # two per layer and the final norm
    # LlamaRMSNorm in float32: square, mean, + eps, rsqrt, two multiplications (no casts)
    assert result["norm_ops"] == 6 * result["norm_modules"]
    assert result["by_module"]["Linear"] == 7 * 2 + 1  # q k v o gate up down per layer, head
    assert result["ops_per_step"] == sum(result["by_module"].values())
    assert not {op for _, op, _ in result["top_ops"]} & ops.NOT_KERNELS
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
