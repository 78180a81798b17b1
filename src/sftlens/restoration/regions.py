"""Regions of a model's tensors, from the architecture's structure (see sftlens.architecture).

Named regions: ``transformer`` (parameters of the decoder layers, norms excluded:
the paper's default), ``embedding`` (input embeddings and LM head),
``attention``, ``mlp``, ``all``; plus ``layers=A-B`` (block parameters of
layers A..B inclusive, norms excluded) and module globs (``*.mlp.down_proj.weight``).
Several may be joined with ``+`` (``attention+mlp``).  What a tensor is comes from
the model's own modules (decoder-layer class, ``nn.Linear``/``Conv1D``, norm
classes, embeddings), so any Hugging Face decoder works without a name table.

Example::

    names = select_names(source.names(), "layers=0-3", arch="qwen3")
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence

from sftlens.architecture import Layout, layout_for
from sftlens.errors import SftlensError
from sftlens.registry import Registry


def _guess_arch(names: Sequence[str]) -> str | None:
    """A model_type from tensor names alone (state dicts without a config)."""
    if any(n.startswith("gpt_neox.") or ".embed_in." in n for n in names):
        return "gpt_neox"
    if any(n.startswith(("transformer.h.", "h.")) for n in names):
        return "gpt2"
    if any(".embed_tokens." in n or ".self_attn." in n for n in names):
        return "llama"
    return None


def name_map(arch: str | None, names: Sequence[str] = ()) -> Layout:
    """The layout of ``arch`` (a ``config.model_type``); guessed from names when None."""
    arch = arch or _guess_arch(names)
    if arch is None:
        raise SftlensError(
            "cannot tell the architecture of these tensors (no config.json); "
            f"first names: {', '.join(list(names)[:3])}"
        )
    return layout_for(arch)


def split_layer(name: str, nm: Layout) -> tuple[int | None, str]:
    """``(layer index, module)`` of a tensor name; module drops the ``.weight`` suffix."""
    role = nm.role(name)
    return role.layer, role.module


def _block(nm: Layout, name: str) -> tuple[int | None, str] | None:
    """(layer, module) of a non-norm block parameter, else None."""
    role = nm.role(name)
    if role.layer is None or role.kind == "norm":
        return None
    return role.layer, role.module


Predicate = Callable[[Layout, str], bool]
REGIONS = Registry[Predicate]("region")
REGIONS.add("transformer", lambda nm, n: _block(nm, n) is not None)
REGIONS.add("all", lambda nm, n: True)
REGIONS.add("embedding", lambda nm, n: nm.role(n).kind == "embedding" and nm.role(n).layer is None)
REGIONS.add(
    "attention", lambda nm, n: _block(nm, n) is not None and nm.role(n).group == "attention"
)
REGIONS.add("mlp", lambda nm, n: _block(nm, n) is not None and nm.role(n).group == "mlp")


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
