"""What each tensor of a causal LM is, read from the model's structure (not a name list).

A :class:`Layout` is built once per architecture from the model itself, on the
meta device (no weights): the decoder-layer class named in ``_no_split_modules``,
the module list that holds those layers, and the type of the module that owns
each tensor (``nn.Linear`` and transformers' ``Conv1D`` → ``linear``; norm
classes → ``norm``; ``nn.Embedding`` and the output head → ``embedding``).  The
sub-module a block tensor sits under gives its group (``attention``, ``mlp``).
:data:`LAYOUT_OVERRIDES` holds the few architectures that need a hand-written hint.

Example::

    layout = layout_for("qwen3")
    layout.role("model.layers.3.self_attn.q_norm.weight")
    # Role(layer=3, module='self_attn.q_norm', kind='norm', group='attention')
    layout.linear_modules("attention")   # ['self_attn.k_proj', 'self_attn.o_proj', ...]
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftlens.errors import SftlensError

#: model_type → hints for layouts the structural rules cannot read:
#: ``layers`` (module path of the decoder-layer list), ``groups`` (sub-module name → group)
LAYOUT_OVERRIDES: dict[str, dict[str, Any]] = {
    "opt": {"groups": {"fc1": "mlp", "fc2": "mlp"}},  # the MLP sits on the layer itself
    "xglm": {"groups": {"fc1": "mlp", "fc2": "mlp"}},
    "biogpt": {"layers": "biogpt.layers", "groups": {"fc1": "mlp", "fc2": "mlp"}},  # no _no_split
}
_GROUP_WORDS = {
    "attention": ("attn", "attention"),
    "mlp": ("mlp", "ffn", "feed_forward", "moe", "experts"),
}


@dataclass(frozen=True)
class Role:
    """What one tensor is: its layer (None outside the blocks), module path, kind and group."""

    layer: int | None
    module: str  # inside a block: relative ("self_attn.q_proj"); else the full module path
    kind: str  # linear | norm | embedding | other
    group: str | None  # attention | mlp | other (block tensors only)


@dataclass(frozen=True)
class Layout:
    """Where an architecture keeps its decoder layers and what kind each module is."""

    model_type: str
    layers: str  # module path of the decoder-layer list ("model.layers", "transformer.h")
    base_prefix: str  # the base model's attribute ("model", "transformer")
    block: dict[str, tuple[str, str]] = field(default_factory=dict)  # rel path → (kind, group)
    outer: dict[str, str] = field(default_factory=dict)  # module path → kind

    def role(self, name: str) -> Role:
        """The role of a tensor name (checkpoint or ``state_dict`` key)."""
        module = name.rsplit(".", 1)[0] if "." in name else ""
        if not self._known(module) and self._known(f"{self.base_prefix}.{module}"):
            module = f"{self.base_prefix}.{module}"  # hub checkpoints without the prefix (gpt2)
        m = re.match(rf"^{re.escape(self.layers)}\.(\d+)(?:\.(.+))?$", module)
        if m:
            rel = m.group(2) or ""  # "": a parameter of the decoder layer itself
            kind, group = self.block.get(rel) or (_guess_kind(rel), _group_of(rel, {}))
            return Role(int(m.group(1)), rel, kind, group)
        return Role(None, module, self.outer.get(module) or _guess_kind(module), None)

    def _known(self, module: str) -> bool:
        return module in self.outer or module.startswith(self.layers + ".")

    def linear_modules(self, group: str | None = None) -> list[str]:
        """Relative paths of the blocks' linear modules (of one group), e.g. ``mlp.down_proj``."""
        return sorted(
            rel for rel, (kind, g) in self.block.items() if kind == "linear" and group in (None, g)
        )


def _guess_kind(module: str) -> str:
    last = module.rsplit(".", 1)[-1].lower()
    if "norm" in last or re.fullmatch(r"ln(_\w+)?|ln\d*", last):
        return "norm"
    if "embed" in last or last in ("wte", "wpe", "lm_head"):
        return "embedding"
    return "other"


def group_of(module: str) -> str:
    """``attention``, ``mlp`` or ``other``: the group of a block module path, by its first name."""
    return _group_of(module, {})


def _group_of(rel: str, overrides: dict[str, str]) -> str:
    head = rel.split(".", 1)[0]
    if head in overrides:
        return overrides[head]
    for group, words in _GROUP_WORDS.items():
        if any(w in head.lower() for w in words):
            return group
    return "other"


def _kind_of(module: Any) -> str:
    from torch import nn

    if isinstance(module, nn.Embedding):
        return "embedding"
    if isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D":
        return "linear"
    if isinstance(module, (nn.LayerNorm, nn.GroupNorm)) or "norm" in type(module).__name__.lower():
        return "norm"
    return "other"


def _owners(module: Any) -> list[tuple[str, Any]]:
    """(path, module) of every sub-module that directly owns a parameter or buffer."""
    return [
        (path, mod)
        for path, mod in module.named_modules()
        if any(True for _ in mod.parameters(recurse=False)) or mod._buffers
    ]


def _find_layers(model: Any, model_type: str) -> str:
    """Module path of the list of decoder layers (``_no_split_modules`` classes)."""
    from torch import nn

    hint = LAYOUT_OVERRIDES.get(model_type, {}).get("layers")
    if hint:
        return str(hint)
    classes = set(getattr(model, "_no_split_modules", None) or ())
    lists = [(p, m) for p, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m)]
    for path, mods in lists:
        if classes and all(type(x).__name__ in classes for x in mods):
            return str(path)
    found = ", ".join(f"{p} ({type(m[0]).__name__} x{len(m)})" for p, m in lists) or "none"
    raise SftlensError(
        f"cannot find the decoder layers of '{model_type}': decoder classes "
        f"{sorted(classes) or 'not declared'}, module lists {found}; "
        "add it to sftlens.architecture.LAYOUT_OVERRIDES"
    )


def layout_of_model(model: Any) -> Layout:
    """The layout of a live (or meta-device) ``PreTrainedModel``."""
    model_type = str(getattr(getattr(model, "config", None), "model_type", "") or "?")
    layers_path = _find_layers(model, model_type)
    layer_list = model.get_submodule(layers_path)
    groups = LAYOUT_OVERRIDES.get(model_type, {}).get("groups", {})
    block: dict[str, tuple[str, str]] = {}
    for layer in layer_list:
        for rel, mod in _owners(layer):
            block[rel] = (_kind_of(mod), _group_of(rel, groups) if rel else "other")
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    outer = {
        path: "embedding" if mod is head else _kind_of(mod)
        for path, mod in _owners(model)
        if not (path == layers_path or path.startswith(layers_path + "."))
    }
    prefix = str(getattr(model, "base_model_prefix", "") or "")
    return Layout(model_type, layers_path, prefix, block, outer)


@functools.cache
def layout_for(model_type: str) -> Layout:
    """The layout of an architecture (``config.model_type``), built on the meta device."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.for_model(model_type)
    except (ValueError, KeyError):
        raise SftlensError(
            f"unknown architecture '{model_type}': transformers has no such model_type"
        ) from None
    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except (ValueError, KeyError, TypeError) as err:
        raise SftlensError(
            f"architecture '{model_type}' has no causal-LM class here ({type(err).__name__})"
        ) from None
    return layout_of_model(model)


def model_type_of(model: str | Path) -> str:
    """``model_type`` of a checkpoint dir or hub id (reads only ``config.json``)."""
    from sftlens.models import resolve_checkpoint

    config = resolve_checkpoint(model, weights=False) / "config.json"
    try:
        return str(json.loads(config.read_text())["model_type"])
    except (OSError, ValueError, KeyError):
        raise SftlensError(f"{config}: no readable model_type") from None


def check_layout(model: str | Path) -> Layout:
    """The layout of a model (dir or hub id); a one-line error when its layers cannot be found."""
    return layout_for(model_type_of(model))
