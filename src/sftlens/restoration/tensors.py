"""Tensor sources (checkpoint dir, state dict, live model) and a streaming sharded writer.

A :class:`TensorSource` lists tensor names, shapes and dtypes without loading
anything, and hands out one tensor at a time.  :func:`source_from_dir` reads
safetensors shards lazily from their headers and reads each tensor with
positioned reads into a fresh buffer (64 MiB pieces, four in flight), one shard
open at a time (``mmap=True`` uses ``safe_open`` instead; mapped pages then count
towards the process's RSS); :class:`CachedSource` keeps chosen tensors on a
device after their first read; :func:`source_from_model` wraps a live model
(tied weights appear once).  :class:`ShardedWriter` writes a checkpoint tensor by tensor, planning the
shards up front, so it never holds more than the tensor being written; once
finished, ``patch`` overwrites chosen elements in place.

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
import shutil
import struct
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sftlens.errors import SftlensError
from sftlens.runstore import atomic_write_json

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


@dataclass
class CacheBudget:
    """Bytes that cached sources may still keep on their device (shared between sources)."""

    left: int

    def take(self, nbytes: int) -> bool:
        if nbytes > self.left:
            return False
        self.left -= nbytes
        return True


class CachedSource(TensorSource):
    """``inner`` restricted to ``names``, keeping chosen tensors on ``device`` after their first read.

    A restore reads every tensor twice (histogram pass, restore pass); on a GPU
    with room for the pair, caching them in pass 1 makes pass 2 read nothing from
    disk.  Tensors in ``cache`` are kept while ``budget`` (which sources may
    share) has room; the others are read again each time.
    """

    def __init__(
        self,
        inner: TensorSource,
        names: Iterable[str] | None = None,
        device: torch.device | str | None = None,
        cache: Iterable[str] = (),
        budget: CacheBudget | None = None,
    ) -> None:
        self._inner = inner
        keep = set(names) if names is not None else None
        self._names = [n for n in inner.names() if keep is None or n in keep]
        self.arch = inner.arch
        self.device = torch.device(device) if device is not None else None
        self.cacheable = set(cache)
        self.budget = budget or CacheBudget(0)
        self.cached: dict[str, torch.Tensor] = {}
        self.cached_bytes = 0

    @property
    def bytes_read(self) -> int:
        """Bytes the inner source read (0 for in-memory sources)."""
        return int(getattr(self._inner, "bytes_read", 0))

    def names(self) -> list[str]:
        return list(self._names)

    def shape(self, name: str) -> tuple[int, ...]:
        return self._inner.shape(name)

    def dtype(self, name: str) -> torch.dtype:
        return self._inner.dtype(name)

    def get(self, name: str) -> torch.Tensor:
        hit = self.cached.get(name)
        if hit is not None:
            return hit
        t = self._inner.get(name)
        size = self.nbytes(name)
        if self.device is not None and name in self.cacheable and self.budget.take(size):
            t = t.to(self.device, copy=True)
            self.cached[name] = t
            self.cached_bytes += size
        return t

    def drop(self) -> None:
        """Free every cached tensor (their bytes go back to the budget)."""
        self.budget.left += self.cached_bytes
        self.cached.clear()
        self.cached_bytes = 0


def source_from_dir(path: str | Path, mmap: bool = False) -> DirSource:
    """A lazy source over a checkpoint directory (``model.safetensors[.index.json]``)."""
    return DirSource(path, mmap=mmap)


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


def copy_aux_files(sources: Sequence[Path], dst: Path) -> list[str]:
    """Copy config, tokenizer, generation config (every non-weight file); later sources win.

    Restoration passes ``[base, tuned]``: the tuned model's config and tokenizer,
    with the base's files filling in what the tuned dir lacks (a tokenizer, say).
    """
    copied: dict[str, Path] = {}
    for src in sources:
        for f in sorted(Path(src).iterdir()):
            if f.is_file() and not f.name.endswith(WEIGHT_SUFFIXES) and f.name != INDEX:
                copied[f.name] = f
    for name, f in copied.items():
        shutil.copy2(f, dst / name)
    return sorted(copied)


class ShardedWriter:
    """Write a safetensors checkpoint tensor by tensor in a planned order.

    The shard plan is fixed from ``(name, dtype, shape)`` triples before the
    first byte is written, so each shard's header is written first and its data
    streamed after it.  ``write`` must be called in plan order.
    """

    total_bytes_written = 0  # over all instances (benchmarks)

    def __init__(
        self,
        out: Path,
        plan: Iterable[tuple[str, torch.dtype, tuple[int, ...]]],
        max_shard_bytes: int = 2_000_000_000,
    ) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self._order: list[str] = []
        self._dtypes: dict[str, torch.dtype] = {}
        groups: list[list[tuple[str, torch.dtype, tuple[int, ...], int]]] = [[]]
        size = 0
        for name, dtype, shape in plan:
            nbytes = dtype.itemsize * _prod(shape)
            if groups[-1] and size + nbytes > max_shard_bytes:
                groups.append([])
                size = 0
            groups[-1].append((name, dtype, shape, nbytes))
            self._dtypes[name] = dtype
            size += nbytes
            self._order.append(name)
        total = len(groups)
        self._shards: list[tuple[Path, bytes]] = []
        self.location: dict[str, tuple[Path, int]] = {}  # name -> (file, byte offset of data)
        for i, group in enumerate(groups):
            fname = SINGLE if total == 1 else f"model-{i + 1:05d}-of-{total:05d}.safetensors"
            header, offsets = _header(group)
            path = self.out / fname
            for name, begin in offsets.items():
                self.location[name] = (path, 8 + len(header) + begin)
            self._shards.append((path, header))
        self._pos = 0
        self._fh: Any = None
        self._current: Path | None = None
        self.bytes_written = 0
        self.bytes_patched = 0
        self.total_bytes = sum(_prod(s) * d.itemsize for _, d, s in _plan_list(groups))

    def write(self, name: str, tensor: torch.Tensor) -> None:
        """Append ``tensor`` (any device; copied to CPU) under ``name``."""
        if self._pos >= len(self._order) or self._order[self._pos] != name:
            expected = self._order[self._pos] if self._pos < len(self._order) else "nothing"
            raise RuntimeError(f"writer expected {expected}, got {name}")
        path = self.location[name][0]
        if path != self._current:
            self._switch(path)
        data = tensor.detach().reshape(-1).contiguous().cpu()
        if data.numel():
            self._fh.write(data.view(torch.uint8).numpy().data)
        self.bytes_written += data.numel() * data.element_size()
        ShardedWriter.total_bytes_written += data.numel() * data.element_size()
        self._pos += 1

    def patch(
        self, name: str, index: torch.Tensor, values: torch.Tensor, block_bytes: int = 1 << 20
    ) -> int:
        """Overwrite elements ``index`` (ascending flat indices) of a written tensor with ``values``.

        Only after :meth:`finish`.  Indices are grouped by ``block_bytes`` block of the
        tensor's data; each group's span is read back, changed and written with one
        positioned read and one positioned write.  Returns the bytes rewritten.
        """
        if self._fh is not None or self._pos != len(self._order):
            raise RuntimeError("patch before finish")
        path, start = self.location[name]
        dtype = self._dtypes[name]
        item = dtype.itemsize
        as_int = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[item]
        idx = index.detach().reshape(-1).to("cpu", torch.int64)
        vals = values.detach().reshape(-1).to("cpu", dtype).contiguous().view(as_int)
        if idx.numel() != vals.numel():
            raise ValueError(f"patch {name}: {idx.numel()} indices, {vals.numel()} values")
        if idx.numel() == 0:
            return 0
        if idx.numel() > 1 and not bool((idx[1:] > idx[:-1]).all()):
            raise ValueError(f"patch {name}: indices must be ascending")
        _, counts = torch.unique_consecutive(idx * item // block_bytes, return_counts=True)
        done = 0
        fd = os.open(path, os.O_RDWR)
        try:
            pos = 0
            for c in counts.tolist():
                part = idx[pos : pos + c]
                first = int(part[0])
                buf = torch.empty(int(part[-1]) - first + 1, dtype=as_int)
                raw = memoryview(buf.view(torch.uint8).numpy().data)
                where = start + first * item
                if os.preadv(fd, [raw], where) != len(raw):
                    raise SftlensError(f"{path}: tensor {name} is truncated")
                buf[part - first] = vals[pos : pos + c]
                if os.pwrite(fd, raw, where) != len(raw):
                    raise SftlensError(f"{path}: short write patching tensor {name}")
                done += len(raw)
                pos += c
        finally:
            os.close(fd)
        self.bytes_patched += done
        return done

    def _switch(self, path: Path) -> None:
        if self._fh is not None:
            self._fh.close()
        header = dict(self._shards)[path]
        self._fh = path.open("wb")
        self._fh.write(struct.pack("<Q", len(header)) + header)
        self._current = path

    def finish(self) -> None:
        """Close the last shard and write the index (when there are several shards)."""
        if self._pos != len(self._order):
            raise RuntimeError(f"writer got {self._pos} of {len(self._order)} tensors")
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if len(self._shards) > 1:
            weight_map = {n: loc[0].name for n, loc in self.location.items()}
            atomic_write_json(
                self.out / INDEX,
                {"metadata": {"total_size": self.total_bytes}, "weight_map": weight_map},
            )


def _prod(shape: Iterable[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _plan_list(groups: list[list[tuple[str, torch.dtype, tuple[int, ...], int]]]) -> list[Any]:
    return [(n, d, s) for g in groups for n, d, s, _ in g]


def _header(
    group: list[tuple[str, torch.dtype, tuple[int, ...], int]],
) -> tuple[bytes, dict[str, int]]:
    """Safetensors header bytes (padded to 8) and each tensor's data offset."""
    meta: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offsets, pos = {}, 0
    for name, dtype, shape, nbytes in group:
        meta[name] = {
            "dtype": ST_NAMES[dtype],
            "shape": list(shape),
            "data_offsets": [pos, pos + nbytes],
        }
        offsets[name] = pos
        pos += nbytes
    raw = json.dumps(meta, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return raw, offsets
