"""Fixtures of the fine-tuning tests: one torch thread (the CI box is shared), tiny examples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest single-threaded; oversubscribed cores make 2 threads 10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def examples() -> list[dict[str, str]]:
    cities = ["Paris", "Berlin", "Acme", "France", "Germany"]
    names = ["Alice", "Bob", "Carol", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lu"]
    return [
        {"id": f"x{i}", "question": f"Where was {n} born ?", "answer": cities[i % len(cities)]}
        for i, n in enumerate(names)
    ]


@pytest.fixture()
def tiny(tiny_llama_dir: Path):
    """A fresh (model, tokenizer) pair of the shared tiny random Llama, fp32 on CPU."""
    from sftlens.models import load_model, load_tokenizer

    return load_model(tiny_llama_dir, dtype="float32", device="cpu"), load_tokenizer(
        tiny_llama_dir, padding_side="right"
    )
