"""``fuse_norms=true`` from the command line: probe and evaluate run with the RMS norms compiled
and, on this small float32 model, store the same answers as without."""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sftlens.cli import main
from sftlens.generation import fused_norms as fused_mod
from sftlens.tableio import read_table
from support.custom_facts import write_custom_facts

generate_mod = importlib.import_module(
    "sftlens.generation.generate"
)  # the module, not the function


def test_probe_and_evaluate_with_fused_norms(
    tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routed: list[int] = []  # norms routed through the compiled forward, per generate call

    @contextlib.contextmanager
    def spy(model: Any, enabled: bool = True) -> Iterator[int]:
        with fused_mod.fused_norms(model, enabled) as n:
            routed.append(n)
            yield n

    monkeypatch.setattr(generate_mod, "fused_norms", spy)
    files = write_custom_facts(tmp_path / "data")
    data = ["--data", f"jsonl:{files.data}", "--relations", str(files.relations),
            "--aliases", str(files.aliases), "--limit", "3"]  # fmt: skip
    model, quick = str(tiny_llama_dir), ["device=cpu", "dtype=float32", "max_new_tokens=3"]
    tables = {}
    for name, extra in (("p", []), ("pf", ["fuse_norms=true"])):
        routed.clear()
        args = ["probe", "--model", model, *data, "--out", str(tmp_path / name), "--greedy"]
        assert main([*args, *quick, *extra]) == 0
        assert set(routed) == ({5} if extra else {0})  # 2 layers x 2 norms + the final one
        tables[name] = read_table(tmp_path / name / "mastery.parquet")
    assert tables["pf"] == tables["p"]
    mastery = str(tmp_path / "p" / "mastery.parquet")
    for name, extra in (("e", []), ("ef", ["fuse_norms=true"])):
        routed.clear()
        args = ["evaluate", "--model", model, *data, "--mastery", mastery]
        assert main([*args, "--out", str(tmp_path / name), *quick, *extra]) == 0
        assert set(routed) == ({5} if extra else {0})
        tables[name] = read_table(tmp_path / name / "predictions.parquet")
    assert tables["ef"] == tables["e"] and len(tables["e"]) == 6  # 3 test facts per relation
    manifest = (tmp_path / "ef" / "manifest.json").read_text()
    assert '"fuse_norms": true' in json.dumps(json.loads(manifest))  # the run records it
