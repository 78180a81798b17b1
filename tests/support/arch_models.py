"""Tiny random decoders of ten Hugging Face architectures, built locally (no network).

Example::

    path = build_tiny_arch("qwen3", tmp_path / "qwen3")   # safetensors + tokenizer
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ARCHS = (
    "llama", "qwen2", "qwen3", "mistral", "gemma2", "gemma3_text", "phi3", "olmo2", "gpt_neox", "gpt2",
)  # fmt: skip
TEXT = [
    "Ada was born in Rome . Bo was born in Oslo . Cy works for Acme .",
    "Where was Ada born ? Rome . Who does Cy work for ? Acme . Lima Paris Kyiv",
    "the quick brown fox jumps over the lazy dog 0 1 2 3 4 5 6 7 8 9",
]
# prompts of mixed lengths in the tiny tokenizer's vocabulary (batches that need padding)
MIXED_PROMPTS = [
    "Ada was born in",
    "Bo",
    "Where was Ada born ? Rome . Who does",
    "x y",
    "the quick brown fox jumps",
    "Cy works",
    "Lima",
    "Ada was born in Rome . Bo was",
]
_SIZES: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "max_position_embeddings": 256,
}
_EXTRA: dict[str, dict[str, Any]] = {
    "gemma2": {"query_pre_attn_scalar": 8, "sliding_window": 64},
    "gemma3_text": {"query_pre_attn_scalar": 8, "sliding_window": 64},
    "gpt_neox": {"num_key_value_heads": 4},
    "gpt2": {"n_inner": 64},
}


def tiny_tokenizer(vocab_size: int = 256, text: list[str] = TEXT) -> Any:
    """A byte-level BPE tokenizer trained on ``text`` × 20 (pad, bos, eos, unk set)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(text * 20, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )


def build_tiny_arch(arch: str, out: Path, seed: int = 0) -> Path:
    """Save a random-weight causal LM of ``arch`` (2 layers, width 32) and a tokenizer to ``out``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    fast = tiny_tokenizer()
    ids = {
        "bos_token_id": fast.bos_token_id,
        "eos_token_id": fast.eos_token_id,
        "pad_token_id": fast.pad_token_id,
    }
    config = AutoConfig.for_model(
        arch, **{"vocab_size": len(fast), **_SIZES, **ids, **_EXTRA.get(arch, {})}
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(out, safe_serialization=True)
    fast.save_pretrained(out)
    return out
