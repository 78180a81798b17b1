"""Tensor sources: a checkpoint dir (safetensors shards), a state dict, a live model.

A :class:`TensorSource` lists tensor names, shapes and dtypes without loading
anything, and hands out one tensor at a time.  :func:`source_from_dir` reads
safetensors shards lazily from their headers and reads each tensor with
positioned reads into a fresh buffer (64 MiB pieces, four in flight), one shard
open at a time (``mmap=True`` uses ``safe_open`` instead; mapped pages then count
towards the process's RSS); :func:`source_from_model` wraps a live model (tied
weights appear once).

Example::

    src = source_from_dir("runs/base")
    for name in src.names():
        print(name, src.shape(name), src.dtype(name))
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sftlens.errors import SftlensError

log = logging.getLogger(__name__)

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".msgpack", ".h5")

ST_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
ST_NAMES = {v: k for k, v in ST_DTYPES.items()}


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders ``layers.2`` before ``layers.10`` (the canonical tensor order)."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


class TensorSource:
    """Read-only access to named tensors: ``names()``, ``shape(n)``, ``dtype(n)``, ``get(n)``."""

    arch: str | None = None

    def names(self) -> list[str]:
        raise NotImplementedError

    def shape(self, name: str) -> tuple[int, ...]:
        raise NotImplementedError

    def dtype(self, name: str) -> torch.dtype:
        raise NotImplementedError

    def get(self, name: str) -> torch.Tensor:
        raise NotImplementedError

    def numel(self, name: str) -> int:
        n = 1
        for d in self.shape(name):
            n *= d
        return n

    def nbytes(self, name: str) -> int:
        return self.numel(name) * self.dtype(name).itemsize


@dataclass(frozen=True)
class _Entry:
    shard: Path
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int  # absolute byte offset of the data in the shard file
    nbytes: int


def read_header(path: Path) -> tuple[dict[str, Any], int]:
    """The JSON header of one safetensors file and where its data starts (reads only the head).

    The header length is checked against the file size before anything is read, so a
    truncated or garbage file gives one line instead of a huge allocation.
    """
    try:
        total = path.stat().st_size
        with path.open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            if size > total - 8:
                raise SftlensError(
                    f"{path}: not a safetensors file (header length {size} > file size {total})"
                )
            header: dict[str, Any] = json.loads(fh.read(size))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (OSError, struct.error, ValueError) as err:
        raise SftlensError(
            f"{path}: not a readable safetensors file ({type(err).__name__})"
        ) from None
    header.pop("__metadata__", None)
    return header, 8 + size


def _shard_files(root: Path) -> list[Path]:
    index = root / INDEX
    if index.is_file():
        try:
            weight_map: dict[str, str] = json.loads(index.read_text())["weight_map"]
        except (ValueError, KeyError) as err:
            raise SftlensError(f"{index}: malformed index ({type(err).__name__}: {err})") from None
        files = [root / f for f in dict.fromkeys(weight_map.values())]
        for f in files:
            if not f.is_file():
                raise SftlensError(f"{root}: missing shard {f.name} (named in {INDEX})")
        return files
    if (root / SINGLE).is_file():
        return [root / SINGLE]
    files = sorted(root.glob("*.safetensors"))
    if not files:
        raise SftlensError(f"{root}: no safetensors weights (model.safetensors or {INDEX})")
    return files


class DirSource(TensorSource):
    """Tensors of a checkpoint directory of safetensors shards, read lazily."""

    total_bytes_read = 0  # over all instances (benchmarks)

    def __init__(self, path: str | Path, mmap: bool = False) -> None:
        self.path = Path(path)
        self.mmap = mmap
        if not self.path.is_dir():
            raise SftlensError(f"checkpoint dir not found: {self.path}")
        self._entries: dict[str, _Entry] = {}
        for shard in _shard_files(self.path):
            header, data_start = read_header(shard)
            for name, info in header.items():
                if info["dtype"] not in ST_DTYPES:
                    raise SftlensError(
                        f"{shard.name}: tensor {name} has unsupported dtype {info['dtype']}"
                    )
                begin, end = info["data_offsets"]
                dtype, shape = ST_DTYPES[info["dtype"]], tuple(info["shape"])
                self._entries[name] = _Entry(shard, dtype, shape, data_start + begin, end - begin)
        self._names = sorted(self._entries, key=natural_key)
        self._open: tuple[Path, Any] | None = None
        self.arch = _arch_of_dir(self.path)
        self.bytes_read = 0

    def names(self) -> list[str]:
        return list(self._names)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._entries[name].shape

    def dtype(self, name: str) -> torch.dtype:
        return self._entries[name].dtype

    def shard_of(self, name: str) -> Path:
        return self._entries[name].shard

    def get(self, name: str) -> torch.Tensor:
        """The tensor as stored (CPU); only its shard is open."""
        e = self._entries[name]
        if self._open is None or self._open[0] != e.shard:
            self.close()  # one shard open at a time
            self._open = (e.shard, self._opener(e.shard))
        tensor = self._read(self._open[1], name, e)
        nbytes = tensor.numel() * tensor.element_size()
        self.bytes_read += nbytes
        DirSource.total_bytes_read += nbytes
        return tensor

    def _opener(self, shard: Path) -> Any:
        if self.mmap:
            from safetensors import safe_open

            return safe_open(str(shard), framework="pt", device="cpu")
        return shard.open("rb", buffering=0)

    def _read(self, handle: Any, name: str, e: _Entry) -> torch.Tensor:
        if self.mmap:
            return handle.get_tensor(name)
        out = torch.empty(e.shape, dtype=e.dtype)
        if not e.nbytes:
            return out
        view = memoryview(out.reshape(-1).view(torch.uint8).numpy().data)
        pieces = [(lo, min(lo + READ_PIECE, e.nbytes)) for lo in range(0, e.nbytes, READ_PIECE)]
        fd = handle.fileno()
        if len(pieces) == 1:
            _read_range(fd, view, e, name, *pieces[0])
        else:  # several reads in flight: a deeper disk queue (preadv releases the GIL)
            for f in [_READERS.submit(_read_range, fd, view, e, name, lo, hi) for lo, hi in pieces]:
                f.result()
        return out

    def close(self) -> None:
        if self._open is not None and not self.mmap:
            self._open[1].close()
        self._open = None


READ_PIECE = 64 << 20  # tensors larger than this are read in pieces, concurrently
_READERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sftlens-read")


def _read_range(fd: int, view: memoryview, e: _Entry, name: str, lo: int, hi: int) -> None:
    """Fill ``view[lo:hi]`` from the file (one ``preadv`` returns at most ~2 GB)."""
    got = lo
    while got < hi:
        n = os.preadv(fd, [view[got:hi]], e.start + got)
        if n == 0:
            raise SftlensError(f"{e.shard}: tensor {name} is truncated ({got} of {e.nbytes} bytes)")
        got += n


def _arch_of_dir(path: Path) -> str | None:
    cfg = path / "config.json"
    if not cfg.is_file():
        return None
    try:
        return json.loads(cfg.read_text()).get("model_type")
    except ValueError:
        return None


class DictSource(TensorSource):
    """Tensors of a state dict or live model; tensors sharing storage appear once."""

    def __init__(
        self,
        tensors: Mapping[str, torch.Tensor],
        arch: str | None = None,
        prefer: Iterable[str] = (),
    ) -> None:
        seen: dict[tuple[int, int, tuple[int, ...]], str] = {}
        self._tensors: dict[str, torch.Tensor] = {}
        self.aliases: dict[str, str] = {}
        wanted = set(prefer)  # of tensors sharing storage, keep the name found here
        for name in sorted(tensors, key=lambda n: (n not in wanted, natural_key(n))):
            t = tensors[name]
            key = (t.data_ptr(), t.numel(), tuple(t.shape)) if t.numel() else (id(t), 0, ())
            if key in seen:
                self.aliases[name] = seen[key]
                continue
            seen[key] = name
            self._tensors[name] = t
        self._tensors = {n: self._tensors[n] for n in sorted(self._tensors, key=natural_key)}
        self.arch = arch

    def names(self) -> list[str]:
        return list(self._tensors)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._tensors[name].shape)

    def dtype(self, name: str) -> torch.dtype:
        return self._tensors[name].dtype

    def get(self, name: str) -> torch.Tensor:
        return self._tensors[name]


def source_from_dir(path: str | Path, mmap: bool = False) -> DirSource:
    """A lazy source over a checkpoint directory (``model.safetensors[.index.json]``) or hub id."""
    from sftlens.models import resolve_checkpoint

    return DirSource(resolve_checkpoint(path), mmap=mmap)


def source_from_model(model: Any, prefer: Iterable[str] = ()) -> DictSource:
    """A source over a live model's parameters and buffers (no copies; tied weights once).

    Of tied tensors the name in ``prefer`` (e.g. the checkpoint's names) is kept.
    """
    if isinstance(model, Mapping):
        return DictSource(model, prefer=prefer)
    sd = model.state_dict(keep_vars=False)
    arch = getattr(getattr(model, "config", None), "model_type", None)
    kept = {k: v for k, v in sd.items() if not k.endswith("rotary_emb.inv_freq")}
    return DictSource(kept, arch, prefer)
