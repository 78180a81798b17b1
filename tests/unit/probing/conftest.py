"""Fixtures for probing: a small JSONL fact set with builtin relations, the tiny Llama."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """Tiny models run far faster on one thread than on a busy shared CPU's two."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


PEOPLE = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi"]
CITIES = ["Paris", "Berlin", "Rome", "Oslo"]


def fact_rows() -> list[dict[str, Any]]:
    """P19 facts in train/dev/test, P36 facts in train only (no dev split)."""
    rows = []
    for i, person in enumerate(PEOPLE):
        split = ("train", "dev", "test")[i % 3]
        rows.append(
            {
                "id": f"P19/{i}",
                "relation": "P19",
                "subject": person,
                "question": f"Where was {person} born?",
                "answers": [CITIES[i % 4]],
                "split": split,
            }
        )
    for i, country in enumerate(["France", "Germany", "Italy", "Norway", "Spain", "Peru"]):
        rows.append(
            {
                "id": f"P36/{i}",
                "relation": "P36",
                "subject": country,
                "question": f"What is the capital of {country}?",
                "answers": [CITIES[i % 4]],
                "split": "train",
            }
        )
    return rows


@pytest.fixture
def facts_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "facts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in fact_rows()))
    return path


@pytest.fixture(scope="module")
def model_tok(tiny_llama_dir: Path) -> tuple[Any, Any]:
    from sftlens.models import load_model, load_tokenizer

    return load_model(tiny_llama_dir, device="cpu"), load_tokenizer(tiny_llama_dir)
