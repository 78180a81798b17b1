"""Helpers for restoration tests: tiny Llama-named state dicts, checkpoint dirs, a brute-force reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from sftlens.restoration.exact_cut import keys_for, relative_update, select_count, tensor_salt
from sftlens.restoration.io import natural_key
from sftlens.restoration.regions import select_names

LLAMA_CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}


def tiny_state(
    layers: int = 2,
    hidden: int = 8,
    vocab: int = 16,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    ties: bool = False,
) -> dict[str, torch.Tensor]:
    """A Llama-named state dict; with ``ties`` the values come from tiny sets (many equal r)."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int) -> torch.Tensor:
        if ties:
            choices = torch.tensor([1.0, -1.0, 0.5, 2.0])
            return choices[torch.randint(0, 4, shape, generator=g)].to(dtype)
        return torch.randn(*shape, generator=g).to(dtype)

    sd = {
        "model.embed_tokens.weight": rnd(vocab, hidden),
        "lm_head.weight": rnd(vocab, hidden),
        "model.norm.weight": torch.ones(hidden, dtype=dtype),
    }
    for i in range(layers):
        p = f"model.layers.{i}."
        for m in ("q", "k", "v", "o"):
            sd[p + f"self_attn.{m}_proj.weight"] = rnd(hidden, hidden)
        for m, shape in (
            ("gate", (2 * hidden, hidden)),
            ("up", (2 * hidden, hidden)),
            ("down", (hidden, 2 * hidden)),
        ):
            sd[p + f"mlp.{m}_proj.weight"] = rnd(*shape)
        sd[p + "input_layernorm.weight"] = torch.ones(hidden, dtype=dtype)
        sd[p + "post_attention_layernorm.weight"] = torch.ones(hidden, dtype=dtype)
    return sd


def perturb(
    sd: dict[str, torch.Tensor], seed: int = 1, ties: bool = False
) -> dict[str, torch.Tensor]:
    """A 'tuned' copy: small relative changes (from a tiny set when ``ties``; some unchanged)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for n, t in sd.items():
        if ties:
            factor = torch.tensor([0.0, 0.0, 0.5, 0.25])[torch.randint(0, 4, t.shape, generator=g)]
        else:
            factor = torch.randn(t.shape, generator=g) * 0.05
        out[n] = (t.float() * (1 + factor)).to(t.dtype)
    return out


def save_dir(sd: dict[str, torch.Tensor], path: Path, shards: int = 1) -> Path:
    """Save ``sd`` as a checkpoint dir (optionally sharded with an index) + config.json."""
    path.mkdir(parents=True, exist_ok=True)
    names = sorted(sd)
    if shards == 1:
        save_file({n: sd[n].contiguous() for n in names}, str(path / "model.safetensors"))
    else:
        weight_map = {}
        for i in range(shards):
            part = names[i::shards]
            fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
            save_file({n: sd[n].contiguous() for n in part}, str(path / fname))
            weight_map.update(dict.fromkeys(part, fname))
        (path / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {}, "weight_map": weight_map})
        )
    (path / "config.json").write_text(json.dumps(LLAMA_CONFIG))
    return path


def reference_mask(
    base: dict[str, torch.Tensor],
    tuned: dict[str, torch.Tensor],
    k: float,
    strategy: str,
    region: str,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Brute force: flat float64 keys of the whole region, full stable sort, first `count`."""
    names = sorted(select_names(sorted(base), region, arch="llama"), key=natural_key)
    flat = []
    for n in names:
        r = relative_update(base[n].reshape(-1), tuned[n].reshape(-1))
        if strategy == "top":
            flat.append(-r.double().numpy())
        elif strategy == "bottom":
            flat.append(r.double().numpy())
        else:
            flat.append(-keys_for("random", r, tensor_salt(seed, n), 0).double().numpy())
    allv = np.concatenate(flat)
    order = np.argsort(allv, kind="stable")  # ascending; stable = earlier position wins ties
    chosen = np.zeros(allv.size, dtype=bool)
    chosen[order[: select_count(allv.size, k)]] = True
    out, pos = {}, 0
    for n in names:
        m = base[n].numel()
        out[n] = torch.from_numpy(chosen[pos : pos + m].copy()).reshape(base[n].shape)
        pos += m
    return out
