"""FSDP2 on 2 GPUs (accelerate launch): same weights as one process; bf16 saved as bf16.

Needs 2 CUDA GPUs (skipped otherwise); accelerate runs FSDP on GPUs only.
Run: ``pytest -q -m gpu tests/unit/finetuning/test_fsdp_gpu.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gpu, pytest.mark.slow]
FSDP_YAML = Path(__file__).resolve().parents[3] / "configs" / "accelerate" / "fsdp.yaml"
ARGS = ["lr=1e-3", "batch_size=4", "grad_accum=2", "max_shard_size=50KB"]


def _two_gpus() -> bool:
    import torch

    return torch.cuda.device_count() >= 2


def _finetune(argv: list[str], env: dict[str, str], launcher: list[str]) -> None:
    cmd = [*launcher, "-m", "sftlens", "finetune", *argv]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    out = {}
    for shard in model_dir.glob("*.safetensors"):
        out.update(load_file(shard))
    return out


@pytest.mark.skipif(not _two_gpus(), reason="needs 2 CUDA GPUs")
def test_fsdp_two_gpus_match_one(tiny_llama_dir, examples, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    if accelerate is None:
        pytest.skip("accelerate CLI not installed")
    train = tmp_path / "set.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in examples))
    env = {**os.environ, "NVIDIA_TF32_OVERRIDE": "0"}  # exact fp32 matmuls in both runs
    base = ["--model", str(tiny_llama_dir), "--train", str(train), "--device", "cuda", *ARGS]
    launch = [accelerate, "launch", "--config_file", str(FSDP_YAML), "--num_processes", "2"]
    launch += ["--main_process_port", "29641"]
    _finetune([*base, "--out", str(tmp_path / "one"), "dtype=float32"], env, [sys.executable])
    _finetune([*base, "--out", str(tmp_path / "two"), "dtype=float32"], env, launch)
    one, two = _weights(tmp_path / "one" / "model"), _weights(tmp_path / "two" / "model")
    assert one.keys() == two.keys()
    diff = max(float((one[k] - two[k]).abs().max()) for k in one)
    assert diff <= 1e-5, diff

    _finetune([*base, "--out", str(tmp_path / "bf16"), "dtype=bfloat16"], env, launch)
    saved = _weights(tmp_path / "bf16" / "model")
    assert {v.dtype for v in saved.values()} == {torch.bfloat16}
    AutoModelForCausalLM.from_pretrained(tmp_path / "bf16" / "model")  # plain transformers
    manifest = json.loads((tmp_path / "bf16" / "manifest.json").read_text())
    assert manifest["precision"]["precision"] == "fp32-master"
