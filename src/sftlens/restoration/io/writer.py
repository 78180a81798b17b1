"""Writing checkpoints: a streaming sharded safetensors writer, aux files, atomic output dirs.

:class:`ShardedWriter` writes a checkpoint tensor by tensor, planning the shards up
front, so it never holds more than the tensor being written; once finished, ``patch``
overwrites chosen elements in place.  :class:`atomic_dirs` publishes several output
dirs together (all renamed on success, none on failure).

Example::

    with atomic_dirs([Path("runs/r10")]) as (tmp,):
        w = ShardedWriter(tmp, [(n, dtype, shape) for n in names], max_shard_bytes=2 << 30)
        for name in names:
            w.write(name, tensors[name])
        w.finish()
        copy_aux_files([Path("runs/base"), Path("runs/ft")], tmp)
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from sftlens.errors import SftlensError
from sftlens.restoration.io.sources import INDEX, SINGLE, ST_NAMES, WEIGHT_SUFFIXES
from sftlens.runstore import atomic_path, atomic_write_json


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


class atomic_dirs:
    """Several ``atomic_path`` contexts at once (all renamed on success, none on failure)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._ctx = [atomic_path(p) for p in paths]

    def __enter__(self) -> list[Path]:
        return [c.__enter__() for c in self._ctx]

    def __exit__(self, *exc: Any) -> None:
        for c in reversed(self._ctx):
            c.__exit__(*exc)
