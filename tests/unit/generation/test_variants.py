"""Engine variants are GenerationConfig fields: validated, and greedy text is the same for each."""

from __future__ import annotations

import dataclasses

import pytest

from sftlens.errors import ConfigError
from sftlens.generation import GenerationConfig, attention, generate


def test_variant_fields_are_validated():
    with pytest.raises(ConfigError, match="unknown decode_kernel 'flash'"):
        GenerationConfig(decode_kernel="flash")
    with pytest.raises(ConfigError, match="unknown kv_cache 'paged'"):
        GenerationConfig(kv_cache="paged")


@pytest.mark.parametrize(
    "fields",
    [{"decode_kernel": "sdpa"}, {"kv_cache": "dynamic"}, {"mask_sync": True}],
    ids=lambda f: next(iter(f)),
)
def test_variants_give_the_same_greedy_text(model_tok, prompts, fields):
    model, tok = model_tok
    cfg = GenerationConfig(max_new_tokens=6, answer_span="full", batch_size=3)
    want = generate(model, tok, prompts, cfg)
    assert generate(model, tok, prompts, dataclasses.replace(cfg, **fields)) == want
    assert attention.DECODE_KERNEL == "matmul"  # the block's setting does not leak
