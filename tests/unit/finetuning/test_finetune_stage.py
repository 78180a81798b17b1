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
    with pytest.raises(SftlensError, match="same path as input"):
        run(cfg, tiny_llama_dir, force=True)
    other = tmp_path / "other_ckpt"
    other.mkdir()
    (other / "config.json").write_text("{}")
    with pytest.raises(SftlensError, match="holds a model checkpoint"):
        run(cfg, other, force=True)
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"config": {"model": "other/model"}}))
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(SftlensError, match="fine-tuned from other/model"):
        run(cfg, out, force=True)
    assert sorted(p.name for p in out.iterdir()) == before


def test_bf16_model_is_saved_in_bf16_and_the_mode_is_recorded(tiny_llama_dir, examples, tmp_path):
    from safetensors import safe_open

    train = write_set(tmp_path / "set.jsonl", examples)
    cfg = FinetuneConfig(
        model=str(tiny_llama_dir), train=str(train), device="cpu", dtype="bfloat16", lr=1e-3
    )
    run(cfg, tmp_path / "ft")
    dtypes = set()
    for shard in (tmp_path / "ft" / "model").glob("*.safetensors"):
        with safe_open(shard, "pt") as fh:
            dtypes |= {str(fh.get_slice(k).get_dtype()) for k in fh.keys()}  # noqa: SIM118
    assert dtypes == {"BF16"}
    manifest = json.loads((tmp_path / "ft" / "manifest.json").read_text())
    assert manifest["precision"]["precision"] == "fp32-master"
    assert manifest["precision"]["base_dtype"] == "bfloat16"
    log = read_table(tmp_path / "ft" / "train_log.jsonl")
    assert {r["precision"] for r in log} == {"fp32-master"}


def test_plan_prints_and_writes_nothing(tiny_llama_dir, examples, tmp_path, capsys, monkeypatch):
    import sftlens.models

    monkeypatch.setattr(sftlens.models, "load_model", lambda *a, **k: pytest.fail("model loaded"))
    train = write_set(tmp_path / "set.jsonl", examples)
    argv = ["finetune", "--model", str(tiny_llama_dir), "--train", str(train)]
    argv += ["--out", str(tmp_path / "ft"), "--plan", "--device", "cpu", "dtype=bfloat16"]
    assert main(argv) == 0
    assert "memory plan (fp32-master, 1 GPU)" in capsys.readouterr().out
    assert main([*argv, "gpus=4", "parallel=fsdp", "gpu_memory_gb=80"]) == 0
    assert "memory plan (fp32-master, 4 GPUs, fsdp)" in capsys.readouterr().out
    assert not (tmp_path / "ft").exists()


@pytest.mark.parametrize(
    ("overrides", "env", "message"),
    [
        (["gpu_memory_gb=0.0001"], {}, "fine-tune does not fit: memory plan"),
        (["gpus=2", "parallel=fsdp"], {"FSDP_TRANSFORMER_CLS_TO_WRAP": "GPT2Block"}, "GPT2Block"),
        (["precision=kahan"], {}, "kahan trains bf16 weights"),
    ],
)
def test_bad_plan_is_refused_before_the_model_loads(
    tiny_llama_dir, examples, tmp_path, capsys, monkeypatch, overrides, env, message
):
    import sftlens.models

    monkeypatch.setattr(sftlens.models, "load_model", lambda *a, **k: pytest.fail("model loaded"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    train = write_set(tmp_path / "set.jsonl", examples)
    argv = ["finetune", "--model", str(tiny_llama_dir), "--train", str(train)]
    argv += ["--out", str(tmp_path / "ft"), "--device", "cpu", *overrides]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "ft").exists()


def test_cpu_run_logs_no_memory_plan_and_plan_prints_it_once(
    tiny_llama_dir, examples, tmp_path, caplog, capsys
):
    import logging

    train = write_set(tmp_path / "set.jsonl", examples)
    cfg = FinetuneConfig(model=str(tiny_llama_dir), train=str(train), device="cpu", lr=1e-3,
                         batch_size=4, save=False)  # fmt: skip
    with caplog.at_level(logging.INFO):
        run(cfg, tmp_path / "ft")
    assert not [r for r in caplog.records if "memory plan" in r.getMessage()]
    caplog.clear()
    argv = ["finetune", "--model", str(tiny_llama_dir), "--train", str(train), "--out",
            str(tmp_path / "p"), "--device", "cpu", "--plan"]  # fmt: skip
    with caplog.at_level(logging.INFO):
        assert main(argv) == 0
    shown = capsys.readouterr().out + "".join(r.getMessage() for r in caplog.records)
    assert shown.count("memory plan") == 1
