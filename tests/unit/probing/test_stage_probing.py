"""``sftlens probe`` stage: outputs, resume after a simulated kill, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sftlens.cli import main
from sftlens.errors import DataError, SftlensError
from sftlens.probing import ProbeConfig
from sftlens.probing import probe as probe_mod
from sftlens.probing.stage import run
from sftlens.tableio import read_table


def cfg(model: Path, data: Path, **kw: Any) -> ProbeConfig:
    base = {"templates": 2, "samples": 2, "max_new_tokens": 3, "chunk_size": 4, "device": "cpu"}
    return ProbeConfig(model=str(model), data=f"jsonl:{data}", **{**base, **kw})


def test_run_then_resume_after_kill_is_identical(
    tiny_llama_dir: Path, facts_jsonl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = cfg(tiny_llama_dir, facts_jsonl)
    full = run(c, tmp_path / "full")
    rows = read_table(tmp_path / "full" / "mastery.parquet")
    assert full.n_facts == len(rows) == 14 and full.n_chunks == 4
    summary = json.loads((tmp_path / "full" / "summary.json").read_text())
    assert sum(summary["total"].values()) == 14
    assert summary["levels"]["train"]["in"]  # P19 / P36 are in-domain under paper-2025

    real = probe_mod.probe_facts
    calls = {"n": 0}

    def dies_on_third_chunk(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the process is killed mid-probe
        return real(*args, **kwargs)

    monkeypatch.setattr(probe_mod, "probe_facts", dies_on_third_chunk)
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run(c, killed)
    assert len(list((killed / "chunks").glob("*.parquet"))) == 2
    assert not (killed / "mastery.parquet").exists()
    calls["n"] = -10  # no more kills
    resumed = run(c.model_copy(update={"batch_size": 3}), killed)  # batch size is not keyed
    assert resumed.resumed_chunks == 2 and calls["n"] == -8
    assert read_table(killed / "mastery.parquet") == rows

    with pytest.raises(SftlensError, match="other settings"):
        run(c.model_copy(update={"samples": 3}), killed)
    assert run(c.model_copy(update={"samples": 3}), killed, force=True).resumed_chunks == 0


def test_bad_input_one_line_errors(tiny_llama_dir: Path, facts_jsonl: Path, tmp_path: Path) -> None:
    with pytest.raises(SftlensError, match="cannot load") as err:
        run(cfg(tmp_path / "no-model", facts_jsonl), tmp_path / "a")
    assert "\n" not in str(err.value)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match="no facts"):
        run(cfg(tiny_llama_dir, empty), tmp_path / "b")
    with pytest.raises(DataError, match="no facts in splits dev"):
        only_train = tmp_path / "train.jsonl"
        only_train.write_text(facts_jsonl.read_text().replace('"dev"', '"train"'))
        run(cfg(tiny_llama_dir, only_train, splits=["dev"]), tmp_path / "c")


def test_cli_probe_prints_summary(
    tiny_llama_dir: Path, facts_jsonl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    argv = [
        "probe",
        "--model",
        str(tiny_llama_dir),
        "--data",
        f"jsonl:{facts_jsonl}",
        "--out",
        str(out),
    ]
    assert (
        main([*argv, "--greedy", "templates=2", "max_new_tokens=2", "limit=1", "device=cpu"]) == 0
    )
    rows = [json.loads(line) for line in facts_jsonl.read_text().splitlines() if line.strip()]
    groups = {(r["relation"], r.get("split", "train")) for r in rows}  # limit: first 1 of each
    printed = capsys.readouterr().out
    assert f"probed {len(groups)} facts" in printed
    assert "answers matched with alias table: " in printed
    assert main([*argv, "--scheme", "slik"]) == 2
    assert "did you mean 'slick'" in capsys.readouterr().err


def test_probe_restricts_splits_and_domains(facts_jsonl: Path, tmp_path: Path) -> None:
    from sftlens.config import load_config
    from sftlens.probing.stage import probe_key, select_facts

    values = {"model": "m", "data": f"jsonl:{facts_jsonl}"}
    every, _ = select_facts(load_config(ProbeConfig, values=values))
    inside, _ = select_facts(load_config(ProbeConfig, values=values, overrides=["domains=in"]))
    assert {f.domain for f in every} == {"in"} and len(inside) == len(every)
    with pytest.raises(DataError, match="no facts in domains ood to probe"):
        select_facts(load_config(ProbeConfig, values=values, overrides=["domains=ood"]))
    one, _ = select_facts(load_config(ProbeConfig, values=values, overrides=["splits=dev"]))
    assert one and {f.split for f in one} == {"dev"}
    plain = load_config(ProbeConfig, values=values)
    assert probe_key(plain) != probe_key(
        load_config(ProbeConfig, values={**values, "domains": "in"})
    )
