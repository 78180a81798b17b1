"""Fixtures for the analysis tests: the tiny base model and a copy after a tiny SFT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from analysis_cases import FACTS, tiny_sft


@pytest.fixture(scope="session")
def tiny(tiny_llama_dir: Path) -> tuple[Any, Any]:
    from sftlens.models import load_model, load_tokenizer

    return load_model(tiny_llama_dir, dtype="float32", device="cpu"), load_tokenizer(tiny_llama_dir)


@pytest.fixture(scope="session")
def tuned(tiny: tuple[Any, Any]) -> Any:
    model, tok = tiny
    return tiny_sft(model, tok, FACTS)
