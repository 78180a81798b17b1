"""Load and save Hugging Face causal LMs and tokenizers (by hub id or local path).

Example::

    model = load_model("meta-llama/Meta-Llama-3-8B", dtype="auto", device="auto")
    tok = load_tokenizer("meta-llama/Meta-Llama-3-8B")
    save_model(model, tok, "runs/x/model")   # sharded safetensors + index, atomic

``dtype="auto"`` means bfloat16 on CUDA and float32 on CPU.  Tokenizers without
a pad token get ``pad_token = eos_token``.  Every stage finds checkpoints through
:func:`resolve_checkpoint` (local dir, else hub id via the HF cache, honouring
``HF_HUB_OFFLINE``); a model found nowhere gives one line that says so.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sftlens.errors import SftlensError
from sftlens.hf_compat import dtype_kwarg
from sftlens.runstore import atomic_path

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise SftlensError(f"unknown device '{device}'; use auto, cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise SftlensError(f"device '{device}' requested but CUDA is not available")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise SftlensError(
                f"device '{device}': only {torch.cuda.device_count()} CUDA device(s) visible"
            )
    elif parsed.type not in ("cpu", "mps", "meta"):
        raise SftlensError(f"unsupported device '{device}'; use auto, cpu, cuda or cuda:N")
    return device


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    """``auto`` → bf16 on CUDA, fp32 on CPU; else ``float32|bfloat16|float16``."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in table:
        raise SftlensError(f"unknown dtype '{dtype}'; choose auto, float32, bfloat16, float16")
    return table[dtype]


def _load_failures() -> tuple[type[Exception], ...]:
    """What ``from_pretrained`` raises for a missing, truncated or garbage checkpoint."""
    from safetensors import SafetensorError

    return (OSError, ValueError, KeyError, RuntimeError, SafetensorError)


def _load_error(name: str, err: Exception) -> SftlensError:
    return SftlensError(f"cannot load '{name}': {type(err).__name__}: {err}".splitlines()[0])


_CONFIG_FILES = ["*.json", "*.model", "*.txt", "*.tiktoken", "*.jinja"]


def resolve_checkpoint(name_or_path: str | Path, *, weights: bool = True) -> Path:
    """A local checkpoint dir for a path, GGUF file or hub id: the one resolver of every stage.

    A ``.gguf`` file (or a dir holding exactly one and no ``config.json``) resolves to its
    cached float32 safetensors checkpoint (:mod:`sftlens.gguf_source`), dequantized once.

    Hub ids go through ``huggingface_hub.snapshot_download`` into the HF cache
    (configs, tokenizer and, with ``weights``, safetensors; ``.bin`` only when a repo has
    no safetensors).  ``HF_HUB_OFFLINE=1`` uses only the cache.  One-line error when the
    checkpoint cannot be found.
    """
    from sftlens.gguf_source import find_gguf, gguf_checkpoint

    gguf = find_gguf(name_or_path)
    if gguf is not None:
        return gguf_checkpoint(gguf)
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        return local.resolve()
    name = str(name_or_path)
    if local.exists() or name.count("/") > 1 or name.startswith((".", "/", "~")):
        raise SftlensError(f"cannot load '{name}': checkpoint dir not found")
    patterns = [*_CONFIG_FILES, "*.safetensors"] if weights else list(_CONFIG_FILES)
    path = _snapshot(name, patterns)
    if weights and not any(path.glob("*.safetensors")):
        path = _snapshot(name, [*patterns, "*.bin"])
    return path


def _snapshot(name: str, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, allow_patterns=patterns))
    except Exception as err:  # hub errors, offline mode, bad ids: all one line
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        where = "the local HF cache (offline mode is on)" if offline else "the hub"
        raise SftlensError(
            f"cannot load '{name}': neither a local dir nor found in {where} ({type(err).__name__})"
        ) from None


def _display_name(name: str, path: Path) -> str:
    """What adapters and configs record as the base: an absolute dir, or the hub id."""
    return str(path) if Path(name).expanduser().is_dir() else name


def load_model(
    name_or_path: str | Path,
    dtype: str = "auto",
    device: str = "auto",
    *,
    check_finite: bool = False,
    **kwargs: Any,
) -> PreTrainedModel:
    """Load a causal LM with ``AutoModelForCausalLM`` onto ``device`` in eval mode.

    A missing, unexpected or mis-shaped tensor, or a broken safetensors file, is a
    one-line error naming the tensor and the file (:mod:`sftlens.checkpoint_checks`);
    ``check_finite`` also refuses NaN/Inf weights (the stages that train or compare).
    fp32 on CUDA turns on TF32 matmuls (process-wide): fp32 weights, tensor-core speed.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from sftlens.checkpoint_checks import (
        check_finite_weights,
        check_load_report,
        check_safetensors_files,
    )

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    name = str(name_or_path)
    path = resolve_checkpoint(name)
    check_safetensors_files(path)
    kwargs.setdefault("ignore_mismatched_sizes", True)  # reported by check_load_report, by name
    try:
        loaded: Any = AutoModelForCausalLM.from_pretrained(
            str(path), **{dtype_kwarg(): torch_dtype}, output_loading_info=True, **kwargs
        )
    except _load_failures() as err:
        raise _load_error(name, err) from None
    model: PreTrainedModel = loaded[0]
    check_load_report(model, loaded[1], path)
    if check_finite:
        check_finite_weights(model, f"model {name}")
    model.name_or_path = _display_name(name, path)  # adapters name an absolute dir or hub id
    model.to(dev)  # type: ignore[arg-type]
    model.eval()
    if dev.startswith("cuda") and torch_dtype == torch.float32:
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 weights, TF32 tensor-core matmuls
    log.info("loaded %s (%s, %s)", name, torch_dtype, dev)
    return model


def load_tokenizer(name_or_path: str | Path, padding_side: str = "left") -> PreTrainedTokenizerBase:
    """Load a tokenizer and make sure it has a pad token."""
    from transformers import AutoTokenizer

    name = str(name_or_path)
    path = resolve_checkpoint(name, weights=False)
    try:
        tok = AutoTokenizer.from_pretrained(str(path))
    except _load_failures() as err:
        raise _load_error(name, err) from None
    fix_pad_token(tok)
    tok.padding_side = padding_side
    return tok


def fix_pad_token(tok: PreTrainedTokenizerBase) -> None:
    """Give a tokenizer without a pad token its EOS (or UNK) as pad."""
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    if tok.pad_token is None:
        raise SftlensError("tokenizer has neither pad, eos nor unk token; cannot pad batches")


def save_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase | None,
    out: str | Path,
    max_shard_size: str = "2GB",
) -> Path:
    """Save as a standard HF checkpoint (sharded safetensors + index), atomically."""
    out = Path(out)
    with atomic_path(out) as tmp:
        model.save_pretrained(tmp, max_shard_size=max_shard_size, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
    log.info("saved model to %s", out)
    return out
