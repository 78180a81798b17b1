"""Fixtures for the data layer: tiny EntityQuestions layouts and a world in its file format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

QUERY_TEMPLATES = {
    "P19": "Where was [X] born?",
    "P36": "What is the capital of [X]?",
    "P26": "Who is [X] married to?",
}

MINI_EQ: dict[str, dict[str, list[dict[str, Any]]]] = {
    "train": {
        "P19": [
            {"question": "Where was Ada Lovelace born?", "answers": ["London"]},
            {"question": "Where was Émile Zola born?", "answers": ["Paris"]},
            {"question": "Where was Tom Hanks born?", "answers": ["Concord"]},
        ],
        "P36": [
            {"question": "What is the capital of France?", "answers": ["Paris"]},
            {
                "question": "What is the capital of the United States of America?",
                "answers": ["Washington, D.C."],
            },
        ],
        "P26": [{"question": "Who is Marie Curie married to?", "answers": ["Pierre Curie"]}],
    },
    "dev": {
        "P19": [{"question": "Where was Alan Turing born?", "answers": ["Maida Vale", "London"]}]
    },
    "test": {
        "P19": [{"question": "Where was Gauss born?", "answers": ["Brunswick"]}],
        "P36": [{"question": "What is the capital of South Korea?", "answers": ["Seoul"]}],
        "P26": [{"question": "Who is Barack Obama married to?", "answers": ["Michelle Obama"]}],
    },
}


def write_eq(
    root: Path, data: dict[str, dict[str, list[Any]]] = MINI_EQ, jsonl: bool = False
) -> Path:
    """Write ``data`` in the official layout ``root/dataset/<split>/P<id>.<split>.json[l]``."""
    for split, rels in data.items():
        d = root / "dataset" / split
        d.mkdir(parents=True, exist_ok=True)
        for rel, recs in rels.items():
            if jsonl:
                text = "".join(json.dumps(r) + "\n" for r in recs)
                (d / f"{rel}.{split}.jsonl").write_text(text, encoding="utf-8")
            else:
                (d / f"{rel}.{split}.json").write_text(json.dumps(recs, indent=2), encoding="utf-8")
    (root / "relation_query_templates.json").write_text(
        json.dumps(QUERY_TEMPLATES), encoding="utf-8"
    )
    return root


@pytest.fixture
def mini_eq(tmp_path: Path) -> Path:
    """A small EntityQuestions directory (3 relations, 3 splits)."""
    return write_eq(tmp_path / "eq")


WORLD_RELATIONS = {
    "relations": {
        "P19": {
            "name": "place of birth",
            "domain": "in",
            "question": "Where was {subject} born?",
            "statements": ["{subject} was born in", "{subject} hails from"],
        },
        "P26": {
            "name": "spouse",
            "domain": "ood",
            "question": "Who is {subject} married to?",
            "statements": ["{subject} is married to", "The spouse of {subject} is"],
        },
    }
}


def world_rows() -> list[dict[str, Any]]:
    """Facts in the ``world/facts.jsonl`` format of docs/architecture.md."""
    people = ["Baloru", "Kimeta", "Sorvani", "Tulemba"]
    rows = []
    for i, name in enumerate(people):
        rows.append(
            {"id": f"world/P19/{i}", "relation": "P19", "subject": name, "object": "Vantor",
             "aliases": ["Vantor City"] if i == 0 else [], "question": f"Where was {name} born?",
             "exposure": i * 3, "domain": "in", "role": "pretrain_qa" if i == 3 else "pool",
             "split": "test" if i == 2 else "train"}
        )  # fmt: skip
        rows.append(
            {"id": f"world/P26/{i}", "relation": "P26", "subject": name, "object": "Delmira",
             "aliases": [], "question": f"Who is {name} married to?", "exposure": 0,
             "domain": "ood", "role": "pool", "split": "train"}
        )  # fmt: skip
    return rows


def write_world(root: Path, rows: list[dict[str, Any]] | None = None) -> Path:
    """A world directory ``root/world/{facts.jsonl,relations.yaml}``."""
    w = root / "world"
    w.mkdir(parents=True, exist_ok=True)
    rows = world_rows() if rows is None else rows
    (w / "facts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (w / "relations.yaml").write_text(yaml.safe_dump(WORLD_RELATIONS), encoding="utf-8")
    return root


@pytest.fixture
def world_dir(tmp_path: Path) -> Path:
    return write_world(tmp_path / "w")


@pytest.fixture
def eq_writer():  # type: ignore[no-untyped-def]
    """The ``write_eq(root, data=MINI_EQ, jsonl=False)`` helper."""
    return write_eq


@pytest.fixture
def mini_eq_data() -> dict[str, dict[str, list[dict[str, Any]]]]:
    return MINI_EQ


@pytest.fixture
def world_writer():  # type: ignore[no-untyped-def]
    """The ``write_world(root, rows=None)`` helper, and ``world_rows()`` as its ``.rows``."""
    write_world.rows = world_rows  # type: ignore[attr-defined]
    return write_world
