"""A broken checkpoint is refused naming the tensor and the file, never loaded with random weights."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from sftlens.errors import SftlensError
from sftlens.models import load_model

UP = "model.layers.0.mlp.up_proj.weight"


def _variant(src: Path, dst: Path, edit: Callable[[dict[str, torch.Tensor]], None]) -> Path:
    shutil.copytree(src, dst)
    sd = load_file(dst / "model.safetensors")
    edit(sd)
    save_file(sd, dst / "model.safetensors", metadata={"format": "pt"})
    return dst


def _raw(src: Path, dst: Path, data: Callable[[bytes], bytes]) -> Path:
    shutil.copytree(src, dst)
    weights = dst / "model.safetensors"
    weights.write_bytes(data(weights.read_bytes()))
    return dst


def test_a_missing_tensor_is_named_with_its_file(tiny_llama_dir, tmp_path) -> None:
    ckpt = _variant(tiny_llama_dir, tmp_path / "m", lambda sd: sd.pop(UP))
    with pytest.raises(SftlensError, match=f"{ckpt}/model.safetensors lacks tensor '{UP}'"):
        load_model(ckpt, device="cpu")


def test_an_unexpected_tensor_is_named(tiny_llama_dir, tmp_path) -> None:
    ckpt = _variant(tiny_llama_dir, tmp_path / "u", lambda sd: sd.update(extra=torch.ones(2)))
    with pytest.raises(SftlensError, match="holds tensor 'extra' that LlamaForCausalLM does not"):
        load_model(ckpt, device="cpu")


def test_a_transposed_tensor_is_named_with_both_shapes(tiny_llama_dir, tmp_path) -> None:
    def transpose(sd: dict[str, torch.Tensor]) -> None:
        sd[UP] = sd[UP].T.contiguous()

    ckpt = _variant(tiny_llama_dir, tmp_path / "t", transpose)
    with pytest.raises(
        SftlensError, match=rf"tensor '{UP}' has shape \[32, 64\], the model expects \[64, 32\]"
    ):
        load_model(ckpt, device="cpu")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (lambda raw: raw[: len(raw) // 2], "is truncated: its tensors need"),
        (lambda raw: raw[:1000], "is truncated or not safetensors"),
        (lambda raw: b"", "is empty"),
        (lambda raw: b"\x10" + b"\x00" * 7 + b"this is not json", "has an unreadable header"),
    ],
)
def test_broken_safetensors_name_the_file(tiny_llama_dir, tmp_path, data, says) -> None:
    ckpt = _raw(tiny_llama_dir, tmp_path / "b", data)
    with pytest.raises(SftlensError, match=f"safetensors file {ckpt}/model.safetensors {says}"):
        load_model(ckpt, device="cpu")


def test_tied_weights_are_not_missing(tmp_path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(tmp_path / "tied")
    assert "lm_head.weight" not in load_file(tmp_path / "tied" / "model.safetensors")
    model = load_model(tmp_path / "tied", device="cpu")
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_nan_weights_are_refused_when_asked(tiny_llama_dir, tmp_path) -> None:
    down = "model.layers.1.mlp.down_proj.weight"

    def poison(sd: dict[str, torch.Tensor]) -> None:
        sd[down][0, 0] = float("inf")

    ckpt = _variant(tiny_llama_dir, tmp_path / "n", poison)
    load_model(ckpt, device="cpu")  # evaluation-only stages may look at such a model
    with pytest.raises(SftlensError, match=f"tensor {down} of the model {ckpt} has NaN or Inf"):
        load_model(ckpt, device="cpu", check_finite=True)
