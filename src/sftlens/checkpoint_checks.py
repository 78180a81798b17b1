"""Checks of a checkpoint that make a broken one fail loudly, naming the file and the tensor.

* :func:`check_safetensors_files` reads each ``*.safetensors`` header (8 bytes + JSON)
  and refuses an empty, garbage or truncated file by name, before ``transformers`` opens it.
* :func:`check_load_report` reads the report of ``from_pretrained(...,
  output_loading_info=True)``: a missing, unexpected or mis-shaped tensor is an error
  naming the tensor and the file (weights tied to another one are not missing).
* :func:`check_finite_weights` refuses NaN/Inf weights (one ``torch.isfinite`` pass per
  tensor), for the stages that train or compare models.

Example::

    check_safetensors_files(Path("runs/ft"))
    model, info = AutoModelForCausalLM.from_pretrained("runs/ft", output_loading_info=True)
    check_load_report(model, info, Path("runs/ft"))
    check_finite_weights(model, "tuned model runs/ft")
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sftlens.errors import SftlensError

INDEX_NAME = "model.safetensors.index.json"


def _header_end(path: Path) -> int:
    """Bytes the file needs (header + every tensor's data); SftlensError naming it when unreadable."""
    size = path.stat().st_size
    if size < 8:
        what = "empty" if size == 0 else f"truncated ({size} bytes)"
        raise SftlensError(f"safetensors file {path} is {what}")
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        if n > size - 8:
            raise SftlensError(
                f"safetensors file {path} is truncated or not safetensors "
                f"(header of {n:,} bytes, file of {size:,})"
            )
        raw = fh.read(n)
    try:
        header = json.loads(raw)
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        raise SftlensError(f"safetensors file {path} has an unreadable header") from None
    return 8 + n + max(ends, default=0)


def _shard_names(ckpt: Path) -> list[str]:
    index = ckpt / INDEX_NAME
    if not index.is_file():
        return sorted(p.name for p in ckpt.glob("*.safetensors"))
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        return sorted(set(weight_map.values()))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise SftlensError(f"safetensors index {index} is unreadable") from None


def check_safetensors_files(ckpt: Path) -> None:
    """Refuse an empty, garbage or truncated ``*.safetensors`` in ``ckpt`` by file name."""
    for name in _shard_names(ckpt):
        path = ckpt / name
        if not path.is_file():
            raise SftlensError(f"safetensors file {path} is missing (named by {INDEX_NAME})")
        need, size = _header_end(path), path.stat().st_size
        if need > size:
            raise SftlensError(
                f"safetensors file {path} is truncated: its tensors need {need:,} bytes, "
                f"the file has {size:,}"
            )


def _file_of(ckpt: Path, tensor: str) -> Path:
    """The weight file that holds (or should hold) ``tensor``."""
    index = ckpt / INDEX_NAME
    if index.is_file():
        weight_map = json.loads(index.read_text()).get("weight_map", {})
        return ckpt / weight_map[tensor] if tensor in weight_map else index
    files = sorted(ckpt.glob("*.safetensors")) or sorted(ckpt.glob("*.bin"))
    return files[0] if len(files) == 1 else ckpt


def _tied_names(model: Any) -> set[str]:
    """Parameter names that share storage with an earlier parameter (tied weights)."""
    seen: dict[int, str] = {}
    tied: set[str] = set()
    for name, param in model.named_parameters(remove_duplicate=False):
        key = param.data_ptr()
        if key in seen:
            tied.add(name)
        else:
            seen[key] = name
    return tied


def check_load_report(model: Any, info: dict[str, Any], ckpt: Path) -> None:
    """One-line error for the first missing, unexpected or mis-shaped tensor of a load."""
    tied = _tied_names(model)
    missing = [k for k in _names(info.get("missing_keys")) if k not in tied]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SftlensError(
            f"checkpoint {_file_of(ckpt, missing[0])} lacks tensor '{missing[0]}'{more}; "
            "the model would get random weights for it"
        )
    unexpected = list(_names(info.get("unexpected_keys")))
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise SftlensError(
            f"checkpoint {_file_of(ckpt, unexpected[0])} holds tensor '{unexpected[0]}'{more} "
            f"that {type(model).__name__} does not have"
        )
    mismatched = list(info.get("mismatched_keys") or ())
    if mismatched:
        name, got, want = [*mismatched[0], None, None][:3]
        raise SftlensError(
            f"checkpoint {_file_of(ckpt, str(name))}: tensor '{name}' has shape "
            f"{_shape(got)}, the model expects {_shape(want)}"
        )
    errors = [str(e) for e in info.get("error_msgs") or ()]
    if errors:
        raise SftlensError(f"checkpoint {ckpt}: {errors[0].strip().splitlines()[0]}")


def _names(keys: Iterable[str] | None) -> list[str]:
    return sorted(keys or ())


def _shape(shape: Any) -> str:
    return "?" if shape is None else "[" + ", ".join(str(int(d)) for d in shape) + "]"


def check_finite_weights(model: Any, label: str) -> None:
    """SftlensError naming the first tensor of ``model`` that holds NaN or Inf."""
    import torch

    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise SftlensError(f"tensor {name} of the {label} has NaN or Inf values")
