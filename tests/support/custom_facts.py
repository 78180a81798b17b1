"""A user's own facts: 30 JSONL rows of two relations the shipped tables lack, with their files.

Example::

    files = write_custom_facts(tmp_path)   # files.data, files.relations, files.aliases
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

RELATIONS = {
    "relations": {
        "capital_of": {
            "name": "capital",
            "question": "What is the capital of {subject}?",
            "statements": ["The capital of {subject} is", "{subject}'s capital city is"],
        },
        "employer": {
            "name": "employer",
            "question": "Which company does {subject} work for?",
            "statements": ["{subject} works for", "{subject} is employed by"],
        },
    }
}
PLACES = ["Rome", "Oslo", "Lima", "Paris", "Kyiv"]
FIRMS = ["Acme", "Initech", "Globex"]


@dataclass(frozen=True)
class CustomFacts:
    data: Path
    relations: Path
    aliases: Path


def write_custom_facts(root: Path, per_relation: int = 15) -> CustomFacts:
    """``capital_of`` (in-domain) and ``employer`` (OOD): 10 train and 5 test facts each."""
    rows = []
    for i in range(per_relation):
        split = "train" if i < per_relation - 5 else "test"
        rows.append({"id": f"cap/{i}", "relation": "capital_of", "subject": f"Land{i}",
                     "question": f"What is the capital of Land{i}?", "answers": [PLACES[i % 5]],
                     "domain": "in", "split": split})  # fmt: skip
        rows.append({"id": f"emp/{i}", "relation": "employer", "subject": f"Person{i}",
                     "question": f"Which company does Person{i} work for?",
                     "answers": [FIRMS[i % 3]], "domain": "ood", "split": split})  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    data = root / "facts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    relations = root / "relations.yaml"
    relations.write_text(yaml.safe_dump(RELATIONS))
    aliases = root / "aliases.yaml"
    aliases.write_text(yaml.safe_dump({"aliases": {"Rome": ["Roma"], "Acme": ["Acme Corp"]}}))
    return CustomFacts(data, relations, aliases)
