"""Regions over Llama-family, GPT-NeoX and GPT-2 tensor names."""

from __future__ import annotations

import pytest

from sftlens.errors import SftlensError
from sftlens.restoration.regions import name_map, select_names, split_layer

LLAMA = [
    "model.embed_tokens.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.0.mlp.down_proj.weight",
    "model.layers.0.input_layernorm.weight",
    "model.layers.1.self_attn.o_proj.weight",
    "model.layers.1.post_attention_layernorm.weight",
    "model.layers.12.mlp.up_proj.weight",
    "model.norm.weight",
    "lm_head.weight",
]
NEOX = [
    "gpt_neox.embed_in.weight",
    "gpt_neox.layers.0.attention.query_key_value.weight",
    "gpt_neox.layers.0.attention.dense.bias",
    "gpt_neox.layers.0.mlp.dense_h_to_4h.weight",
    "gpt_neox.layers.0.input_layernorm.weight",
    "gpt_neox.final_layer_norm.weight",
    "embed_out.weight",
]


@pytest.mark.parametrize("arch", ["llama", "mistral", "qwen2"])
def test_llama_family(arch) -> None:
    assert select_names(LLAMA, "transformer", arch) == [
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.0.mlp.down_proj.weight",
        "model.layers.1.self_attn.o_proj.weight",
        "model.layers.12.mlp.up_proj.weight",
    ]
    assert select_names(LLAMA, "attention", arch) == [
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.1.self_attn.o_proj.weight",
    ]
    assert select_names(LLAMA, "mlp", arch) == [
        "model.layers.0.mlp.down_proj.weight",
        "model.layers.12.mlp.up_proj.weight",
    ]
    assert select_names(LLAMA, "embedding", arch) == ["model.embed_tokens.weight", "lm_head.weight"]
    assert select_names(LLAMA, "all", arch) == LLAMA
    assert select_names(LLAMA, "layers=1-12", arch) == [
        "model.layers.1.self_attn.o_proj.weight",
        "model.layers.12.mlp.up_proj.weight",
    ]
    assert select_names(LLAMA, "*.mlp.down_proj.weight", arch) == [
        "model.layers.0.mlp.down_proj.weight"
    ]


def test_gpt_neox() -> None:
    assert select_names(NEOX, "transformer", "gpt_neox") == NEOX[1:4]
    assert select_names(NEOX, "attention", "gpt_neox") == NEOX[1:3]
    assert select_names(NEOX, "embedding", "gpt_neox") == [NEOX[0], NEOX[-1]]
    assert split_layer(NEOX[2], name_map("gpt_neox")) == (0, "attention.dense")


def test_arch_guessed_from_names_and_unknown_rejected() -> None:
    assert select_names(LLAMA, "mlp") == select_names(LLAMA, "mlp", "llama")
    assert select_names(NEOX, "mlp") == [NEOX[3]]
    gpt2 = ["transformer.h.0.attn.c_attn.weight", "transformer.h.0.ln_1.weight"]
    assert select_names(gpt2, "transformer") == gpt2[:1]  # guessed: gpt2
    assert select_names(["h.0.attn.c_attn.weight"], "attention", "gpt2") == [
        "h.0.attn.c_attn.weight"  # hub checkpoints without the base prefix
    ]
    with pytest.raises(SftlensError, match="unknown architecture 'nosuch'"):
        select_names(gpt2, "all", "nosuch")
    with pytest.raises(SftlensError, match="cannot tell the architecture"):
        select_names(["blocks.0.w.weight"], "all")


def test_bad_regions() -> None:
    with pytest.raises(SftlensError, match="matches no tensor"):
        select_names(LLAMA, "layers=5-6", "llama")
    with pytest.raises(SftlensError, match="did you mean 'transformer'"):
        select_names(LLAMA, "transfomer", "llama")
    with pytest.raises(SftlensError, match="empty layer range"):
        select_names(LLAMA, "layers=3-1", "llama")
    with pytest.raises(SftlensError, match="matches no tensor"):
        select_names(LLAMA, "*.nothing", "llama")
