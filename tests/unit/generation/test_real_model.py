"""Exactness on real weights: greedy sftlens tokens equal ``model.generate`` on Gemma 3 270M.

Gemma 3 has a 262,144-token vocabulary, final-logit softcapping and sliding-window layers;
the checkpoint comes from the GGUF package (the ``gemma_real`` fixture skips without it).
"""

from __future__ import annotations

from typing import Any

import torch

from sftlens.generation import GenerationConfig, generate
from sftlens.generation.attention import gqa_decode_attention
from sftlens.generation.engine import decode_batch
from sftlens.generation.generate import encode_prompts
from sftlens.generation.stops import StopRule, eos_ids, newline_ids, pad_id, stop_rule
from sftlens.newline_rule import answer_line

PROMPTS = [
    "<|question|> Where was Barack Obama born? <|answer|>",
    "The capital of France is",
    "Q: What is the capital of France?\nA:",
    "Alice was born in",
    "The Eiffel Tower is located in the city of",
    "<|question|> Who wrote Hamlet? <|answer|>",
]
STEPS = 12


def hf_greedy(model: Any, tok: Any, rule: StopRule) -> list[list[int]]:
    """``model.generate(do_sample=False)`` one prompt at a time (no padding), stopped at EOS
    only, then cut by the newline rule."""
    out = []
    for ids in encode_prompts(tok, PROMPTS):
        with torch.inference_mode():
            seq = model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=STEPS,
                                 eos_token_id=eos_ids(tok, model), pad_token_id=pad_id(tok))  # fmt: skip
        out.append(rule.cut(seq[0, len(ids) :].tolist()))
    return out


def test_greedy_tokens_equal_model_generate(gemma_real: tuple[Any, Any]) -> None:
    model, tok = gemma_real
    assert model.get_output_embeddings().weight.shape[0] == 262_144
    rule = stop_rule(tok, model, stop_at_newline=True)
    want = hf_greedy(model, tok, rule)
    cfg = GenerationConfig(max_new_tokens=STEPS, batch_size=4)
    tables = rule.tables(model.config.vocab_size, torch.device("cpu"))
    encoded = encode_prompts(tok, PROMPTS)
    with torch.inference_mode(), gqa_decode_attention(model):
        tokens = decode_batch(model, encoded, None, cfg, tables, pad_id(tok))  # one batch of 6
    got = [rule.cut(row) for row in tokens.tolist()]
    assert got == want
    assert sum(len(t) for t in want) > 3 * len(PROMPTS)  # real completions, not immediate stops
    texts = generate(model, tok, PROMPTS, cfg)  # batches of 4 and 2, length-sorted
    decoded = [answer_line(tok.decode(t, skip_special_tokens=True)) for t in want]
    assert [o[0] for o in texts] == decoded


def test_newline_table_equals_token_by_token_decoding(gemma_real: tuple[Any, Any]) -> None:
    _, tok = gemma_real
    fresh = type(tok).__new__(type(tok))
    fresh.__dict__.update({k: v for k, v in tok.__dict__.items() if k != "_sftlens_token_roles"})
    ids = newline_ids(fresh)
    texts = tok.batch_decode([[i] for i in range(len(tok))], skip_special_tokens=False)
    assert ids == [i for i, text in enumerate(texts) if "\n" in text]
    assert len(ids) > 1
