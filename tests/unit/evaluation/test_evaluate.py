"""evaluate_model and the ``sftlens evaluate`` stage on a tiny random Llama."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sftlens.config import load_config
from sftlens.data import get_matcher
from sftlens.data.records import Fact
from sftlens.errors import DataError, SftlensError
from sftlens.evaluation import EvaluateConfig, evaluate_model
from sftlens.evaluation.stage import run
from sftlens.tableio import read_table, write_table

QUESTIONS = [
    ("q1", "P19", "Alice", "Where was Alice born?", "Paris", "in"),
    ("q2", "P19", "Bob", "Where was Bob born?", "Berlin", "in"),
    ("q3", "P50", "Emma", "Who is the author of Emma?", "Jane Austen", "ood"),
    ("q4", "P50", "Ulysses", "Who is the author of Ulysses?", "James Joyce", "ood"),
]
FACTS = [Fact(i, r, s, q, (a,), domain=d, split="test") for i, r, s, q, a, d in QUESTIONS]  # type: ignore[arg-type]
LEVELS = {"q1": 0, "q2": 4, "q3": 2, "q4": 4}


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir: Path) -> tuple[Any, Any]:
    from sftlens.models import load_model, load_tokenizer

    return load_model(tiny_llama_dir, dtype="float32", device="cpu"), load_tokenizer(tiny_llama_dir)


def _hf_greedy(model: Any, tok: Any, prompt: str, n: int) -> str:
    import torch

    ids = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **ids, max_new_tokens=n, do_sample=False, pad_token_id=tok.pad_token_id
        )
    new = out[0, ids["input_ids"].shape[1] :].tolist()
    if tok.eos_token_id in new:
        new = new[: new.index(tok.eos_token_id)]
    return tok.decode(new, skip_special_tokens=True).split("\n")[0]


def test_outputs_are_greedy_and_scored(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    res = evaluate_model(
        model, tok, FACTS, LEVELS, EvaluateConfig(max_new_tokens=6, batch_size=3), progress=False
    )
    assert [p["id"] for p in res.predictions] == ["q1", "q2", "q3", "q4"]
    for pred, fact in zip(res.predictions, FACTS, strict=True):
        assert pred["prompt"] == f"<|question|> {fact.question} <|answer|>"
        assert pred["output"] == _hf_greedy(model, tok, pred["prompt"], 6)
        assert pred["correct"] == (
            get_matcher("contains")(pred["output"], fact.accepted) is not None
        )
    assert len(res.rows) == 12 and {r["domain"] for r in res.rows} == {"in", "ood"}
    # a fact whose accepted answer is the model's own output is scored correct
    out = res.predictions[1]["output"].strip()
    if out:
        echo = [Fact("e", "P19", "Bob", FACTS[1].question, (out,), domain="in", split="test")]
        again = evaluate_model(
            model, tok, echo, {"e": 3}, EvaluateConfig(max_new_tokens=6), progress=False
        )
        assert (
            again.predictions[0]["correct"]
            and again.metrics["domains"]["in"]["levels"]["3"]["accuracy"] == 1.0
        )


def test_domains_and_bad_matching(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    cfg = EvaluateConfig(domains=["ood"], limit=1, max_new_tokens=2)  # limit: the loader's
    res = evaluate_model(model, tok, FACTS, LEVELS, cfg, progress=False)
    ood = [f.id for f in FACTS if f.domain == "ood"]
    assert [p["id"] for p in res.predictions] == ood and list(res.metrics["domains"]) == ["ood"]
    with pytest.raises(SftlensError, match="did you mean 'contains'"):
        evaluate_model(
            model, tok, FACTS, LEVELS, EvaluateConfig(matching="contain"), progress=False
        )
    with pytest.raises(DataError, match="1 of 4 fact ids are missing"):
        evaluate_model(
            model, tok, FACTS, {"q1": 0, "q2": 1, "q3": 2}, EvaluateConfig(), progress=False
        )


def _write_data(tmp: Path) -> Path:
    path = tmp / "facts.jsonl"
    rows = [
        {"id": i, "relation": r, "subject": s, "question": q, "answers": [a], "split": "test"}
        for i, r, s, q, a, _ in QUESTIONS
    ]
    rows.append(
        {
            "id": "t0",
            "relation": "P19",
            "subject": "Carol",
            "question": "Where was Carol born?",
            "answers": ["Rome"],
            "split": "train",
        }
    )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_stage_writes_artifacts(tiny_llama_dir: Path, tmp_path: Path) -> None:
    data = _write_data(tmp_path)
    mastery = write_table(
        tmp_path / "mastery.parquet",
        [{"id": k, "level": v, "relation": "P19"} for k, v in LEVELS.items()],
    )
    values = {
        "model": str(tiny_llama_dir),
        "data": f"jsonl:{data}",
        "mastery": str(mastery),
        "device": "cpu",
    }
    cfg = load_config(EvaluateConfig, values=values, overrides=["max_new_tokens=4"])
    res = run(cfg, tmp_path / "out")
    out = tmp_path / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    preds = read_table(out / "predictions.parquet")
    assert [p["id"] for p in preds] == ["q1", "q2", "q3", "q4"]  # the train fact is not evaluated
    assert set(preds[0]) >= {
        "id",
        "relation",
        "domain",
        "level",
        "prompt",
        "output",
        "correct",
        "matched",
    }
    assert metrics["domains"]["in"]["n"] == 2 and metrics["domains"]["ood"]["n"] == 2
    assert metrics["domains"]["in"]["levels"]["1"]["accuracy"] is None  # empty level: null, not NaN
    assert len(read_table(out / "accuracy.csv")) == 12
    assert "macro" in (out / "table.txt").read_text() and "macro" in res.summary()
    with pytest.raises(SftlensError, match="not empty"):
        run(cfg, out)


def test_stage_bad_inputs(tiny_llama_dir: Path, tmp_path: Path) -> None:
    data = _write_data(tmp_path)
    other = write_table(
        tmp_path / "other.parquet", [{"id": f"P19/test/{i}", "level": 1} for i in range(3)]
    )
    base = {
        "model": str(tiny_llama_dir),
        "data": f"jsonl:{data}",
        "mastery": str(other),
        "device": "cpu",
    }
    with pytest.raises(DataError, match=r"other.parquet: 3 of 3 fact ids are unknown to jsonl:"):
        run(load_config(EvaluateConfig, values=base), tmp_path / "o1")
    partial = write_table(tmp_path / "partial.parquet", [{"id": "q1", "level": 1}])
    with pytest.raises(DataError, match=r"partial.parquet: 3 of 4 fact ids are missing"):
        run(load_config(EvaluateConfig, values={**base, "mastery": str(partial)}), tmp_path / "o1")
    wrong = write_table(tmp_path / "wrong.parquet", [{"fact": "q1", "lvl": 1}])
    with pytest.raises(DataError, match=r"wrong.parquet: not a mastery table: missing column"):
        run(load_config(EvaluateConfig, values={**base, "mastery": str(wrong)}), tmp_path / "o1")
    with pytest.raises(SftlensError, match="jsonx"):
        run(load_config(EvaluateConfig, values={**base, "data": "jsonx:foo"}), tmp_path / "o2")
    with pytest.raises(SftlensError, match=r"no dev facts in domains in,ood: nothing to evaluate"):
        run(load_config(EvaluateConfig, values={**base, "split": "dev"}), tmp_path / "o3")
    assert not (tmp_path / "o1").exists()


def test_without_mastery_scores_per_domain_and_relation(
    tiny_llama_dir: Path, tmp_path: Path
) -> None:
    data = _write_data(tmp_path)
    values = {"model": str(tiny_llama_dir), "data": f"jsonl:{data}", "device": "cpu"}
    res = run(
        load_config(EvaluateConfig, values=values, overrides=["max_new_tokens=2"]), tmp_path / "o"
    )
    rows = read_table(tmp_path / "o" / "accuracy.csv")
    assert {(r["domain"], r["relation"]) for r in rows} >= {("in", "all"), ("ood", "all")}
    assert all(int(r["n"]) >= 1 for r in rows)
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["domains"]["in"]["macro"] is None and metrics["domains"]["in"]["levels"] == {}
    assert "no mastery table" in res.summary()
    assert "alias table: paper-2025" in res.summary()  # P19 etc.: the paper's relations


def test_cli_mastery_of_another_dataset_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sftlens.cli import main

    data = _write_data(tmp_path)
    other = write_table(
        tmp_path / "m.parquet", [{"id": "q1", "level": 1}, {"id": "zz", "level": 0}]
    )
    argv = [
        "evaluate",
        "--model",
        "unused",
        "--data",
        f"jsonl:{data}",
        "--mastery",
        str(other),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("sftlens: error: ")
        and "1 of 2 fact ids are unknown" in err
        and err.count("\n") == 1
    )
