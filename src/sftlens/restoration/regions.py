"""Regions of a model's tensors by architecture-aware name maps (pure, no torch).

Named regions: ``transformer`` (block parameters: names with ``layers``, norms
excluded, the paper's default), ``embedding`` (input embeddings and LM head),
``attention``, ``mlp``, ``all``; plus ``layers=A-B`` (block parameters of
layers A..B inclusive, norms excluded) and module globs (``*.mlp.down_proj.weight``).
Several may be joined with ``+`` (``attention+mlp``).

Example::

    names = select_names(source.names(), "layers=0-3", arch="llama")
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sftlens.errors import SftlensError
from sftlens.registry import Registry


@dataclass(frozen=True)
class NameMap:
    """Where an architecture keeps its blocks, attention, MLP, norms and embeddings."""

    layer: re.Pattern[str]  # group 1 = layer index, group 2 = the rest ("self_attn.q_proj.weight")
    attention: tuple[str, ...]
    mlp: tuple[str, ...]
    norm: tuple[str, ...]
    embedding: tuple[str, ...]


_LLAMA = NameMap(
    layer=re.compile(r"^(?:.*\.)?layers\.(\d+)\.(.+)$"),
    attention=("self_attn.",),
    mlp=("mlp.", "block_sparse_moe."),
    norm=("norm", "layernorm"),
    embedding=("embed_tokens", "lm_head"),
)
_NEOX = NameMap(
    layer=re.compile(r"^(?:.*\.)?layers\.(\d+)\.(.+)$"),
    attention=("attention.",),
    mlp=("mlp.",),
    norm=("norm", "layernorm", "layer_norm"),
    embedding=("embed_in", "embed_out"),
)
ARCHS: dict[str, NameMap] = {"llama": _LLAMA, "mistral": _LLAMA, "qwen2": _LLAMA, "gpt_neox": _NEOX}


def name_map(arch: str | None, names: Sequence[str] = ()) -> NameMap:
    """The name map of ``arch`` (a ``config.model_type``); guessed from names when None."""
    if arch is None:
        if any(n.startswith("gpt_neox.") or ".embed_in." in n for n in names):
            arch = "gpt_neox"
        elif any(".embed_tokens." in n or ".self_attn." in n for n in names):
            arch = "llama"
    if arch not in ARCHS:
        raise SftlensError(
            f"unknown architecture '{arch}' for regions; supported: {', '.join(sorted(ARCHS))}"
        )
    return ARCHS[arch]


def split_layer(name: str, nm: NameMap) -> tuple[int | None, str]:
    """``(layer index, module)`` of a tensor name; module drops the ``.weight`` suffix."""
    m = nm.layer.match(name)
    rest = m.group(2) if m else name
    module = rest.rsplit(".", 1)[0] if rest.endswith((".weight", ".bias")) else rest
    return (int(m.group(1)) if m else None), module


def _is_norm(module: str, nm: NameMap) -> bool:
    last = module.rsplit(".", 1)[-1]
    return any(k in last for k in nm.norm)


def _block(nm: NameMap, name: str) -> tuple[int | None, str] | None:
    """(layer, module) of a non-norm block parameter, else None."""
    layer, module = split_layer(name, nm)
    if layer is None or _is_norm(module, nm):
        return None
    return layer, module


Predicate = Callable[[NameMap, str], bool]
REGIONS = Registry[Predicate]("region")
REGIONS.add("transformer", lambda nm, n: _block(nm, n) is not None)
REGIONS.add("all", lambda nm, n: True)
REGIONS.add("embedding", lambda nm, n: any(e in n for e in nm.embedding))
REGIONS.add(
    "attention",
    lambda nm, n: (b := _block(nm, n)) is not None and b[1].startswith(nm.attention),
)
REGIONS.add("mlp", lambda nm, n: (b := _block(nm, n)) is not None and b[1].startswith(nm.mlp))


def _layers(spec: str) -> Predicate:
    m = re.fullmatch(r"layers=(\d+)(?:-(\d+))?", spec.replace(" ", ""))
    if not m:
        raise SftlensError(f"region '{spec}': expected layers=A-B (e.g. layers=0-3)")
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    if hi < lo:
        raise SftlensError(f"region '{spec}': empty layer range {lo}-{hi}")
    return lambda nm, n: (b := _block(nm, n)) is not None and lo <= (b[0] or 0) <= hi


def _glob(pattern: str) -> Predicate:
    return lambda nm, n: fnmatch.fnmatchcase(n, pattern)


def predicate(spec: str) -> Predicate:
    """The membership test of one region spec (a name, ``layers=A-B`` or a glob)."""
    parts = [p.strip() for p in spec.split("+") if p.strip()]
    if not parts:
        raise SftlensError("empty region")
    preds: list[Predicate] = []
    for part in parts:
        if part.startswith("layers="):
            preds.append(_layers(part))
        elif any(c in part for c in "*?["):
            preds.append(_glob(part))
        else:
            preds.append(REGIONS.get(part))
    return lambda nm, n: any(p(nm, n) for p in preds)


def select_names(names: Sequence[str], region: str, arch: str | None = None) -> list[str]:
    """The names in ``region``, in the given order; error when none match."""
    nm = name_map(arch, names)
    test = predicate(region)
    chosen = [n for n in names if test(nm, n)]
    if not chosen:
        raise SftlensError(f"region '{region}' matches no tensor (of {len(names)})")
    return chosen
