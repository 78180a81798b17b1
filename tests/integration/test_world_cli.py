"""`sftlens world build` end to end: micro preset via the CLI, loaded with plain transformers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftlens.cli import main


@pytest.mark.slow
def test_build_micro_via_cli_and_load_with_transformers(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "w"
    assert (
        main(["-q", "world", "build", "--preset", "micro", "--out", str(out), "--seed", "0"]) == 0
    )
    model = AutoModelForCausalLM.from_pretrained(out / "model")
    tok = AutoTokenizer.from_pretrained(out / "model")
    assert model.config.model_type == "llama"
    facts = [json.loads(line) for line in (out / "world" / "facts.jsonl").read_text().splitlines()]
    assert {f["role"] for f in facts} == {"pool", "pretrain_qa"}
    ids = tok("<|question|> x <|answer|>\n").input_ids
    assert ids[0] == tok.bos_token_id and tok.convert_tokens_to_ids("<|question|>") in ids
    assert tok.decode(ids[-1:]) == "\n"
    assert (out / "manifest.json").is_file() and not list(out.glob(".*tmp*"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "tinny"], "did you mean 'tiny'"),
        (["--preset", "micro", "syllables=3"], "impossible world"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path: Path, capsys, args, message) -> None:
    out = tmp_path / "w"
    assert main(["world", "build", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_non_empty_out_without_force(tmp_path: Path, capsys) -> None:
    (tmp_path / "keep.txt").write_text("x")
    assert main(["world", "build", "--preset", "micro", "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
