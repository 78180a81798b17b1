"""The real Gemma 3 270M (Q4_K_M GGUF from the package index) through the cache, in a stage and `convert`.

The ``gemma_gguf`` fixture dequantizes the file once per test run; these tests load its
cached checkpoint (CPU, float32) and skip when the packages are not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CAPITALS = [("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Egypt", "Cairo")]
RELATIONS = {
    "relations": {
        "capital_of": {
            "name": "capital",
            "question": "What is the capital of {subject}?",
            "statements": ["The capital of {subject} is"],
        }
    }
}


def _facts(root: Path) -> tuple[Path, Path, Path]:
    import pandas as pd
    import yaml

    rows = [
        {"id": f"cap/{i}", "relation": "capital_of", "subject": c, "answers": [a],
         "question": f"What is the capital of {c}?", "domain": "in", "split": "test"}
        for i, (c, a) in enumerate(CAPITALS)
    ]  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    (root / "facts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "relations.yaml").write_text(yaml.safe_dump(RELATIONS))
    pd.DataFrame({"id": [r["id"] for r in rows], "level": [0, 1, 2, 3]}).to_parquet(
        root / "mastery.parquet"
    )
    return root / "facts.jsonl", root / "relations.yaml", root / "mastery.parquet"


def test_the_cache_holds_a_float32_gemma_checkpoint(gemma_gguf) -> None:
    path, ckpt = gemma_gguf
    record = json.loads((ckpt / "sftlens-gguf.json").read_text())
    assert record["dtype"] == "float32" and record["architecture"] == "gemma3"
    assert record["gguf"] == str(path.resolve()) and ckpt.name == record["sha256"]
    config = json.loads((ckpt / "config.json").read_text())
    assert config["vocab_size"] == 262_144 and "quantization_config" not in config


def test_evaluate_takes_the_gguf_as_model(gemma_gguf, tmp_path, caplog) -> None:
    import logging

    import pandas as pd

    from sftlens.cli import main

    path, ckpt = gemma_gguf
    data, relations, mastery = _facts(tmp_path / "in")
    out = tmp_path / "eval"
    with caplog.at_level(logging.INFO, logger="sftlens"):
        code = main([
            "evaluate", "--model", str(path), "--data", f"jsonl:{data}",
            "--relations", str(relations), "--mastery", str(mastery), "--out", str(out),
            "--device", "cpu", "dtype=float32", "max_new_tokens=4",
        ])  # fmt: skip
    assert code == 0
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert sorted(predictions["id"]) == [f"cap/{i}" for i in range(len(CAPITALS))]
    said = [r.getMessage() for r in caplog.records if "float32 checkpoint" in r.getMessage()]
    assert len(said) <= 1 and all(str(ckpt) in line for line in said)


#: (GGUF tensor, Hugging Face tensor): one of each quantization type in this file, and a norm
GGUF_PAIRS = [
    ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"),  # Q5_0
    ("blk.0.attn_output.weight", "model.layers.0.self_attn.o_proj.weight"),  # Q4_K
    ("blk.0.attn_v.weight", "model.layers.0.self_attn.v_proj.weight"),  # Q8_0
    ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight"),  # Q6_K
    ("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"),  # F32, stored as 1 + w
]


def test_convert_writes_a_checkpoint_plain_transformers_loads(gemma_gguf, tmp_path) -> None:
    import gguf
    import numpy as np
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sftlens.cli import main

    path, _ = gemma_gguf
    out = tmp_path / "hf"
    assert main(["-q", "convert", str(path), "--out", str(out)]) == 0
    assert not (out / "sftlens-gguf.json").exists()
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("The capital of France is", return_tensors="pt")["input_ids"]
    assert tok.decode(ids[0], skip_special_tokens=True) == "The capital of France is"
    plain = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    with torch.no_grad():
        logits = plain(ids).logits  # [1, T, 262144]
    assert logits.shape[-1] == 262_144 and torch.isfinite(logits).all()
    # the weights are the gguf package's own dequantization, bit for bit
    tensors = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}
    with safe_open(str(out / "model.safetensors"), "np") as saved:
        for name, hf_name in GGUF_PAIRS:
            t = tensors[name]
            want = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
            got = saved.get_tensor(hf_name)
            if name.endswith("norm.weight"):
                want = want - 1.0  # Gemma's GGUF stores RMSNorm weights as 1 + w
            assert np.array_equal(got, want.reshape(got.shape)), hf_name
