"""``sftlens finetune`` end to end, and bad input that must leave no output behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftlens.cli import main
from sftlens.errors import ConfigError, DataError, SftlensError
from sftlens.finetuning.config import FinetuneConfig
from sftlens.finetuning.stage import run
from sftlens.tableio import read_table


def write_set(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_writes_checkpoint_and_log(tiny_llama_dir, examples, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    train = write_set(tmp_path / "set.jsonl", examples)
    out = tmp_path / "ft"
    argv = [
        "finetune",
        "--model",
        str(tiny_llama_dir),
        "--train",
        str(train),
        "--out",
        str(out),
        "--lr",
        "1e-3",
        "--device",
        "cpu",
        "batch_size=4",
        "max_shard_size=20KB",
    ]
    assert main(argv) == 0
    assert "fine-tuned 3 steps" in capsys.readouterr().out
    log = read_table(out / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3] and all("loss" in r and "lr" in r for r in log)
    assert (out / "model" / "model.safetensors.index.json").is_file()  # sharded
    AutoModelForCausalLM.from_pretrained(out / "model")
    AutoTokenizer.from_pretrained(out / "model")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["model"] == str(tiny_llama_dir) and manifest["result"]["steps"] == 3
    assert main(argv) == 2  # non-empty --out needs --force
    assert main([*argv, "--force"]) == 0


@pytest.mark.parametrize(
    ("rows", "error", "message"),
    [
        ([], DataError, "holds no records"),
        (
            [{"id": "a", "question": "q ?", "answer": "x"}, {"id": "b", "question": "q ?"}],
            DataError,
            r"set.jsonl:2: record \(id b\) has no 'answer'",
        ),
        ([{"question": "q ?", "answer": " "}], DataError, "set.jsonl:1: record has no 'answer'"),
    ],
)
def test_bad_train_file(tiny_llama_dir, tmp_path, rows, error, message):
    train = write_set(tmp_path / "set.jsonl", rows)
    cfg = FinetuneConfig(model=str(tiny_llama_dir), train=str(train), device="cpu")
    with pytest.raises(error, match=message):
        run(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_lora_targets_write_nothing(tiny_llama_dir, examples, tmp_path):
    train = write_set(tmp_path / "set.jsonl", examples)
    cfg = FinetuneConfig(model=str(tiny_llama_dir), train=str(train), device="cpu")
    cfg.lora.enabled, cfg.lora.target_modules = True, ["c_attn"]
    with pytest.raises(ConfigError, match="c_attn.*q_proj"):
        run(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_out_holding_another_model(tiny_llama_dir, examples, tmp_path):
    train = write_set(tmp_path / "set.jsonl", examples)
    cfg = FinetuneConfig(model=str(tiny_llama_dir), train=str(train), device="cpu", save=False)
    with pytest.raises(SftlensError, match="holds a model checkpoint"):
        run(cfg, tiny_llama_dir, force=True)
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"config": {"model": "other/model"}}))
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(SftlensError, match="fine-tuned from other/model"):
        run(cfg, out, force=True)
    assert sorted(p.name for p in out.iterdir()) == before
