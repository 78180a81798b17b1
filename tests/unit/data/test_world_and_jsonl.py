"""``world:DIR`` (the knowledge world's file format) and ``jsonl:PATH`` sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sftlens.data import load_dataset
from sftlens.errors import DataError


def test_world_facts_keep_their_own_fields(world_dir: Path, world_writer: Any) -> None:
    rows = {r["id"]: r for r in world_writer.rows()}
    ds = load_dataset(f"world:{world_dir}")
    assert len(ds) == len(rows)
    for f in ds:
        row = rows[f.id]
        assert (f.relation, f.subject, f.object, f.question) == (
            row["relation"], row["subject"], row["object"], row["question"],
        )  # fmt: skip
        assert (f.domain, f.split, f.role, f.exposure) == (
            row["domain"], row["split"], row["role"], row["exposure"],
        )  # fmt: skip
        assert list(f.aliases) == row["aliases"] and f.source == "world"
    assert ds.relations["P19"].statement_templates == (
        "{subject} was born in",
        "{subject} hails from",
    )
    assert ds.relations["P26"].domain == "ood"
    pool_train = ds.select(split="train", role="pool")
    assert all(f.role == "pool" and f.split == "train" for f in pool_train)
    assert len(pool_train) == sum(
        r["role"] == "pool" and r["split"] == "train" for r in rows.values()
    )


def test_world_domain_is_not_reassigned_by_preset(world_dir: Path) -> None:
    # slick-2024 lists P19 and P26 both in-distribution; the world's own domains win
    ds = load_dataset(f"world:{world_dir}", split_preset="slick-2024")
    assert {f.relation: f.domain for f in ds} == {"P19": "in", "P26": "ood"}
    assert ds.dropped == {}


def test_world_accepts_world_folder_and_template_override(world_dir: Path, tmp_path: Path) -> None:
    over = tmp_path / "over.yaml"
    over.write_text(yaml.safe_dump({"relations": {"P19": {"statements": ["{subject} came from"]}}}))
    ds = load_dataset(f"world:{world_dir / 'world'}", templates=over)
    assert ds.relations["P19"].statement_templates == ("{subject} came from",)
    assert ds.relations["P19"].name == "place of birth"


def test_world_missing_and_bad_rows(tmp_path: Path, world_writer: Any) -> None:
    with pytest.raises(DataError, match="no world/facts.jsonl"):
        load_dataset(f"world:{tmp_path}")
    rows = world_writer.rows()
    del rows[1]["domain"]
    root = world_writer(tmp_path / "bad", rows)
    with pytest.raises(DataError, match=r"facts.jsonl:2 \(world/P26/0\): missing field 'domain'"):
        load_dataset(f"world:{root}")


def test_jsonl_schema_defaults_and_subject_recovery(tmp_path: Path) -> None:
    rows = [
        {"id": "q1", "relation": "P19", "question": "Where was Ada Lovelace born?", "answers": ["London"]},
        {"id": "q2", "relation": "P26", "subject": "Ada", "question": "Who married Ada?",
         "object": "William King", "aliases": ["Earl of Lovelace"], "split": "test", "meta": {"src": "me"}},
        {"id": "q3", "relation": "P20", "question": "Where did Ada die?", "answers": ["Marylebone"],
         "domain": "ood"},
    ]  # fmt: skip
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset(f"jsonl:{path}")
    q1, q2, q3 = ds.facts
    assert (q1.subject, q1.domain, q1.split, q1.role, q1.source) == (
        "Ada Lovelace",
        "in",
        "train",
        "pool",
        "jsonl",
    )
    assert q2.answers == ("William King",) and q2.accepted == ("William King", "Earl of Lovelace")
    assert (q2.domain, q2.split, q2.meta) == ("ood", "test", {"src": "me"})
    assert q3.domain == "ood"  # the record's own domain wins over the preset's
    assert set(ds.relations) == {"P19", "P20", "P26"}


def test_jsonl_relation_outside_preset_is_dropped_unless_domain_given(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "relation": "P20", "question": "Where did Ada die?", "answers": ["London"]},
        {
            "id": "b",
            "relation": "P20",
            "question": "Where did Bo die?",
            "answers": ["Rome"],
            "domain": "in",
        },
    ]
    path = tmp_path / "x.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds = load_dataset(f"jsonl:{path}", split_preset="slick-2024")
    assert [f.id for f in ds] == ["b"] and ds.dropped == {"P20": 1}


def test_jsonl_own_relation_with_templates_file(tmp_path: Path) -> None:
    tpl = tmp_path / "t.yaml"
    tpl.write_text(yaml.safe_dump({"relations": {"pet": {
        "name": "pet", "question": "What pet does {subject} own?",
        "statements": ["{subject} owns a pet", "{subject}'s pet is a"]}}}))  # fmt: skip
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"id": "p", "relation": "pet", "question": "What pet does Al own?",
                                "answers": ["cat"], "domain": "ood"}) + "\n")  # fmt: skip
    ds = load_dataset(f"jsonl:{path}", templates=tpl, n_templates=1)
    assert ds.facts[0].subject == "Al"
    assert ds.relations["pet"].statement_templates == ("{subject} owns a pet",)
    assert ds.relations["pet"].domain == "ood"


def test_data_config_loads_and_rejects_unknown_keys(world_dir: Path) -> None:
    from sftlens.config import load_config
    from sftlens.data.config import DataConfig
    from sftlens.errors import ConfigError

    cfg = load_config(DataConfig, values={"spec": f"world:{world_dir}", "n_templates": 1})
    ds = cfg.load()
    assert len(ds) == 8 and all(len(r.statement_templates) == 1 for r in ds.relations.values())
    with pytest.raises(ConfigError, match="did you mean 'skip_invalid'"):
        load_config(DataConfig, values={"spec": "x", "skip_invalid_": True})
