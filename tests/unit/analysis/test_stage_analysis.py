"""The ``sftlens token-kl`` stage end to end on a tiny base model and its tiny SFT."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sftlens.analysis import TokenKLConfig
from sftlens.analysis.stage import run
from sftlens.cli import main
from sftlens.config import load_config
from sftlens.data import load_dataset
from sftlens.errors import SftlensError
from sftlens.models import save_model
from sftlens.tableio import read_table, write_table

ROWS = [
    {
        "id": "a",
        "relation": "P19",
        "subject": "Alice",
        "question": "Where was Alice born?",
        "answers": ["Paris"],
        "split": "test",
    },
    {
        "id": "b",
        "relation": "P19",
        "subject": "Bob",
        "question": "Where was Bob born?",
        "answers": ["Berlin"],
        "split": "test",
    },
    {
        "id": "c",
        "relation": "P50",
        "subject": "Emma",
        "question": "Who is the author of Emma?",
        "answers": ["Jane Austen"],
        "split": "test",
    },
]


@pytest.fixture(scope="module")
def setup(
    tiny: tuple[Any, Any], tuned: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("kl_stage")
    data = tmp / "facts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    relations = load_dataset(f"jsonl:{data}").relations
    mastery = [
        {"id": r["id"], "relation": r["relation"], "level": 4 if r["id"] != "b" else 2,
         "per_template_correct": [i % 3 for i in range(len(relations[r["relation"]].statement_templates))]}
        for r in ROWS
    ]  # fmt: skip
    tuned_dir = save_model(tuned, tiny[1], tmp / "tuned")
    return {
        "data": data,
        "mastery": write_table(tmp / "mastery.parquet", mastery),
        "tuned": tuned_dir,
        "tmp": tmp,
    }


def test_stage_writes_per_fact_and_summary(setup: dict[str, Path], tiny_llama_dir: Path) -> None:
    out = setup["tmp"] / "out"
    values = {"base": str(tiny_llama_dir), "tuned": str(setup["tuned"]), "data": f"jsonl:{setup['data']}",
              "mastery": str(setup["mastery"]), "device": "cpu", "levels": "2,4"}  # fmt: skip
    res = run(load_config(TokenKLConfig, values=values), out)
    per_fact = read_table(out / "per_fact.parquet")
    assert sorted(r["id"] for r in per_fact) == ["a", "b", "c"]
    assert all(r["kl_top10"] > 0 and r["base_prompt"] != r["tuned_prompt"] for r in per_fact)
    summary = json.loads((out / "summary.json").read_text())
    assert [(s["test_level"], s["n"]) for s in summary["levels"]] == [(2, 1), (4, 2)]
    assert "base=statement, tuned=qa" in res.summary()


def test_cli_refuses_a_tuned_model_with_another_tokenizer(
    setup: dict[str, Path], tiny_llama_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sftlens.models import load_model, load_tokenizer

    other = setup["tmp"] / "other_tok"
    tok = load_tokenizer(setup["tuned"])
    tok.add_tokens(["<|extra|>"])
    save_model(load_model(setup["tuned"], "float32", "cpu"), tok, other)
    argv = ["token-kl", "--base", str(tiny_llama_dir), "--tuned", str(other), "--data", f"jsonl:{setup['data']}",
            "--mastery", str(setup["mastery"]), "--out", str(setup["tmp"] / "o2"), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after model-loading progress bars
    assert last.startswith("sftlens: error: base and tuned tokenizers differ (260 vs 261 tokens")
    with pytest.raises(SftlensError, match="unknown"):
        run(
            load_config(
                TokenKLConfig,
                values={"base": "x", "tuned": "y", "data": "nosuch:z", "mastery": "m"},
            ),
            setup["tmp"] / "o3",
        )


def test_no_fact_at_the_levels_is_a_one_line_error(
    setup: dict[str, Path], tiny_llama_dir: Path, tmp_path: Path
) -> None:
    values = {"base": str(tiny_llama_dir), "tuned": str(setup["tuned"]), "data": f"jsonl:{setup['data']}",
              "mastery": str(setup["mastery"]), "device": "cpu", "levels": "0,1"}  # fmt: skip
    with pytest.raises(SftlensError, match=r"no test facts in domains in,ood at levels \[0, 1\]"):
        run(load_config(TokenKLConfig, values=values), tmp_path / "out")
    assert not (tmp_path / "out").exists()
