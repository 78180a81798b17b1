"""Two CPU processes (torch.distributed, gloo) give the same losses and weights as one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WORKER = """
import json, os, sys
import torch
torch.set_num_threads(1)
from safetensors.torch import save_file
from sftlens.finetuning.config import FinetuneConfig
from sftlens.finetuning.trainer import finetune
from sftlens.models import load_model, load_tokenizer
model_dir, out = sys.argv[1], sys.argv[2]
dtype = sys.argv[3] if len(sys.argv) > 3 else "float32"
model = load_model(model_dir, dtype=dtype, device="cpu")
tok = load_tokenizer(model_dir, padding_side="right")
examples = [{"question": f"Where was Alice {i} born ?", "answer": ["Paris", "Berlin", "Acme"][i % 3]} for i in range(11)]
result = finetune(model, tok, examples, FinetuneConfig(lr=1e-3, batch_size=4, grad_accum=2), progress=False)
if int(os.environ.get("RANK", "0")) == 0:
    save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, out + ".safetensors")
    with open(out + ".json", "w") as fh:
        json.dump({"loss": [r["loss"] for r in result.log], "precision": result.precision}, fh)
"""


def _one_and_two(tiny_llama_dir, tmp_path: Path, dtype: str) -> tuple[dict, dict]:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not installed")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    subprocess.run(
        [sys.executable, str(script), str(tiny_llama_dir), str(tmp_path / "one"), dtype],
        check=True,
        env=env,
        timeout=300,
    )
    proc = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", str(script), str(tiny_llama_dir), str(tmp_path / "two"), dtype],
        env=env, timeout=300, capture_output=True, text=True,
    )  # fmt: skip
    # --standalone: torchrun picks a free port itself
    assert proc.returncode == 0, proc.stderr[-4000:]
    one = json.loads((tmp_path / "one.json").read_text())
    two = json.loads((tmp_path / "two.json").read_text())
    assert (
        len(one["loss"]) == len(two["loss"]) == 2
    )  # 11 samples, micro-batches of 4, accumulation 2
    assert one["precision"] == two["precision"]
    return one, two


def test_two_processes_match_one(tiny_llama_dir, tmp_path: Path):
    import torch
    from safetensors.torch import load_file

    one, two = _one_and_two(tiny_llama_dir, tmp_path, "float32")
    torch.testing.assert_close(
        torch.tensor(two["loss"]), torch.tensor(one["loss"]), rtol=1e-5, atol=1e-5
    )
    a, b = load_file(tmp_path / "one.safetensors"), load_file(tmp_path / "two.safetensors")
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5)


def test_two_processes_with_fp32_masters_match_one(tiny_llama_dir, tmp_path: Path):
    """A bf16 model under DDP: accelerate's autocast and fp32 masters, saved in bf16."""
    import torch
    from safetensors.torch import load_file

    one, two = _one_and_two(tiny_llama_dir, tmp_path, "bfloat16")
    assert two["precision"]["precision"] == "fp32-master"
    torch.testing.assert_close(
        torch.tensor(two["loss"]), torch.tensor(one["loss"]), rtol=2e-2, atol=2e-2
    )
    a, b = load_file(tmp_path / "one.safetensors"), load_file(tmp_path / "two.safetensors")
    assert {v.dtype for v in b.values()} == {torch.bfloat16}
    same = sum(int((a[k] == b[k]).sum()) for k in a) / sum(v.numel() for v in a.values())
    assert same > 0.95  # bf16 rounding of fp32 masters that differ by reduction order
