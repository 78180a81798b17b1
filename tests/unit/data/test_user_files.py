"""The user's own relations file, alias file and ``limit`` (one meaning in every stage)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sftlens.config import build_config
from sftlens.data import load_dataset
from sftlens.errors import DataError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integration"))
from support.custom_facts import write_custom_facts


def test_relations_and_aliases_files(tmp_path: Path) -> None:
    files = write_custom_facts(tmp_path)
    ds = load_dataset(f"jsonl:{files.data}", templates=files.relations, aliases=[files.aliases])
    assert len(ds.facts) == 30 and set(ds.relations) == {"capital_of", "employer"}
    assert ds.relations["employer"].statement_templates[0] == "{subject} works for"
    rome = next(f for f in ds.facts if f.answers == ("Rome",))
    assert "Roma" in rome.aliases


def test_limit_is_the_first_n_per_relation_and_split(tmp_path: Path) -> None:
    files = write_custom_facts(tmp_path)
    spec = f"jsonl:{files.data}"
    small = load_dataset(spec, templates=files.relations, limit=2)
    large = load_dataset(spec, templates=files.relations, limit=4)
    assert [f.id for f in small.facts] == ["cap/0", "emp/0", "cap/1", "emp/1",
                                          "cap/10", "emp/10", "cap/11", "emp/11"]  # fmt: skip
    assert {f.id for f in small.facts} < {f.id for f in large.facts}  # stages agree


def test_stage_configs_share_the_data_options(tmp_path: Path) -> None:
    from sftlens.analysis.config import TokenKLConfig
    from sftlens.evaluation.config import EvaluateConfig
    from sftlens.probing.config import ProbeConfig

    values = {"relations": "r.yaml", "aliases": "a.yaml,b.json", "limit": 3}
    for cls, extra in ((ProbeConfig, {"model": "m", "data": "jsonl:x"}), (EvaluateConfig, {}),
                       (TokenKLConfig, {})):  # fmt: skip
        opts = build_config(cls, {**extra, **values}).data_options()
        assert opts["templates"] == "r.yaml" and opts["aliases"] == ["a.yaml", "b.json"]
        assert opts["limit"] == 3


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_bad_user_input_names_file_and_line(tmp_path: Path) -> None:
    files = write_custom_facts(tmp_path)
    row = {"id": "x", "relation": "capital_of", "question": "What is the capital of Q?",
           "answers": "Rome", "domain": "in"}  # fmt: skip
    bad = _write(tmp_path / "bad.jsonl", [row])
    with pytest.raises(
        DataError, match=r"bad.jsonl:1 \(x\): 'answers' must be a list of strings, got str"
    ):
        load_dataset(f"jsonl:{bad}", templates=files.relations)
    other = _write(tmp_path / "other.jsonl", [{**row, "answers": ["Rome"], "relation": "founder"}])
    with pytest.raises(
        DataError,
        match=r"other.jsonl:1 \(x\): unknown relation id 'founder': it is not in the relations file .*relations.yaml",
    ):
        load_dataset(f"jsonl:{other}", templates=files.relations)
    with pytest.raises(DataError, match="give its templates with --relations FILE.yaml"):
        load_dataset(f"jsonl:{other}")
