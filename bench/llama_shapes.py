"""Random-weight Llama models of real shapes and a word-level tokenizer, for benchmarks.

No weights can be downloaded on our machines, so benchmarks build Llama-3.2-1B / Llama-3-8B
shaped models from a ``LlamaConfig`` (bf16 on CUDA, fp32 on CPU).

Example::

    tok = word_tokenizer(SHAPES["8b"]["vocab_size"], extra_words=["Where", "was", "born"])
    model = random_model("8b", "cuda", tok, never_eos=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

SHAPES: dict[str, dict[str, Any]] = {
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 4096},
    "1b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
           "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": True, "rope_theta": 500000.0},
    "8b": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
           "num_key_value_heads": 8, "vocab_size": 128256, "rope_theta": 500000.0},
}  # fmt: skip


def word_tokenizer(vocab_size: int, extra_words: Sequence[str] = ()) -> Any:
    """A word-level tokenizer covering ``vocab_size`` ids (no downloads; no newline token)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    names = ["<unk>", "<s>", "</s>", "<|question|>", "<|answer|>"]
    names += sorted(set(extra_words) - set(names))
    names += [f"w{i}" for i in range(vocab_size - len(names))]
    tok = Tokenizer(models.WordLevel({n: i for i, n in enumerate(names)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.pad_token = fast.eos_token
    fast.padding_side = "left"
    return fast


def random_model(shape: str, device: str, tok: Any, never_eos: bool = False) -> Any:
    """A random-weight Llama of ``shape`` built directly on ``device``.

    ``never_eos`` zeroes the EOS row of the output head so every completion runs to its
    fixed length (random weights otherwise stop at arbitrary points).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(**SHAPES[shape], max_position_embeddings=8192, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)  # fmt: skip
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16 if device.startswith("cuda") else torch.float32)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(cfg)
    finally:
        torch.set_default_dtype(old)
    if never_eos:
        with torch.no_grad():
            model.get_output_embeddings().weight[tok.eos_token_id].zero_()
    return model.eval()
