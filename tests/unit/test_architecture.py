"""Layouts read from the model's structure: the paper's ``transformer`` region on ten architectures."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftlens.architecture import layout_for, layout_of_model
from sftlens.errors import SftlensError
from sftlens.restoration import source_from_dir
from sftlens.restoration.regions import select_names
from support.arch_models import ARCHS, build_tiny_arch

LLAMA_BLOCK = [
    "mlp.down_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
    "self_attn.k_proj.weight", "self_attn.o_proj.weight", "self_attn.q_proj.weight",
    "self_attn.v_proj.weight",
]  # fmt: skip
#: per architecture: (decoder-layer list, the block tensors of the paper's region: no norms)
PAPER_BLOCK: dict[str, tuple[str, list[str]]] = {
    "llama": ("model.layers", LLAMA_BLOCK),
    "mistral": ("model.layers", LLAMA_BLOCK),
    "qwen2": ("model.layers", [*LLAMA_BLOCK,
        "self_attn.k_proj.bias", "self_attn.q_proj.bias", "self_attn.v_proj.bias"]),
    "qwen3": ("model.layers", LLAMA_BLOCK),  # q_norm / k_norm are norms
    "gemma2": ("model.layers", LLAMA_BLOCK),
    "gemma3_text": ("model.layers", LLAMA_BLOCK),
    "olmo2": ("model.layers", LLAMA_BLOCK),
    "phi3": ("model.layers", [
        "mlp.down_proj.weight", "mlp.gate_up_proj.weight", "self_attn.o_proj.weight",
        "self_attn.qkv_proj.weight"]),
    "gpt_neox": ("gpt_neox.layers", [
        f"{m}.{p}" for m in ("attention.dense", "attention.query_key_value",
                             "mlp.dense_4h_to_h", "mlp.dense_h_to_4h") for p in ("bias", "weight")]),
    "gpt2": ("transformer.h", [
        f"{m}.{p}" for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
        for p in ("bias", "weight")]),
}  # fmt: skip
ATTENTION_TARGETS = {
    "phi3": ["self_attn.o_proj", "self_attn.qkv_proj"],
    "gpt_neox": ["attention.dense", "attention.query_key_value"],
    "gpt2": ["attn.c_attn", "attn.c_proj"],
}


@pytest.fixture(scope="module")
def arch_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("archs")
    return {a: build_tiny_arch(a, root / a) for a in ARCHS}


@pytest.mark.parametrize("arch", ARCHS)
def test_transformer_region_is_the_papers(arch: str, arch_dirs: dict[str, Path]) -> None:
    src = source_from_dir(arch_dirs[arch])
    layers, block = PAPER_BLOCK[arch]
    expected = sorted(f"{layers}.{i}.{rel}" for i in range(2) for rel in block)
    assert src.arch == arch
    assert sorted(select_names(src.names(), "transformer", src.arch)) == expected
    attn = select_names(src.names(), "attention", src.arch)
    mlp = select_names(src.names(), "mlp", src.arch)
    assert sorted(attn + mlp) == expected and not set(attn) & set(mlp)
    emb = select_names(src.names(), "embedding", src.arch)
    assert emb and all(".layers." not in n and ".h." not in n for n in emb)
    assert select_names(src.names(), "layers=1", src.arch) == [
        n for n in select_names(src.names(), "transformer", src.arch) if f"{layers}.1." in n
    ]


@pytest.mark.parametrize("arch", ARCHS)
def test_lora_default_targets_are_the_attention_linears(arch: str) -> None:
    targets = layout_for(arch).linear_modules("attention")
    default = ["self_attn.k_proj", "self_attn.o_proj", "self_attn.q_proj", "self_attn.v_proj"]
    assert targets == ATTENTION_TARGETS.get(arch, default)


def test_unknown_layouts_fail_in_one_line() -> None:
    from torch import nn

    class Odd(nn.Module):
        _no_split_modules = ["Block"]

        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2)])

    with pytest.raises(
        SftlensError, match=r"cannot find the decoder layers .*blocks \(Linear x1\)"
    ):
        layout_of_model(Odd())
    with pytest.raises(SftlensError, match="unknown architecture 'nosuch'"):
        layout_for("nosuch")


def test_structure_not_names_decides() -> None:
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(2))  # a parameter of the layer itself
            self.mixer = nn.Linear(2, 2)  # no telling name: still linear
            self.pre = nn.LayerNorm(2)  # no "norm" in its name: still a norm

    class Net(nn.Module):
        _no_split_modules = ["Block"]

        def __init__(self) -> None:
            super().__init__()
            self.stack = nn.ModuleList([Block(), Block()])
            self.tok = nn.Embedding(4, 2)

    layout = layout_of_model(Net())
    assert layout.layers == "stack"
    kinds = {n: layout.role(n).kind for n, _ in Net().named_parameters()}
    assert kinds["stack.1.scale"] == "other" and layout.role("stack.1.scale").layer == 1
    assert kinds["stack.0.mixer.weight"] == "linear" and kinds["stack.0.pre.bias"] == "norm"
    assert kinds["tok.weight"] == "embedding"
    names = [n for n, _ in Net().named_parameters()]
    from sftlens.restoration.regions import REGIONS

    test = REGIONS.get("transformer")
    assert [n for n in names if test(layout, n)] == [
        "stack.0.scale", "stack.0.mixer.weight", "stack.0.mixer.bias",
        "stack.1.scale", "stack.1.mixer.weight", "stack.1.mixer.bias",
    ]  # fmt: skip


@pytest.mark.parametrize("arch", ["opt", "xglm", "biogpt"])
def test_overrides_give_layer_level_mlps_their_group(arch: str) -> None:
    layout = layout_for(arch)
    assert layout.linear_modules("mlp") == ["fc1", "fc2"]
    assert "self_attn.q_proj" in layout.linear_modules("attention")
