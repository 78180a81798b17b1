"""Read a GGUF file's header cheaply: architecture, tensor table, and whether the data is all there.

A GGUF file is ``magic, version, n_tensors, n_kv``, the key/value metadata, the tensor
table (name, shape, type, offset), then the tensor data from an aligned start.  This
reader walks the header with ``struct`` over an ``mmap`` (well under a second for a
262k-token vocabulary) so that a file that is not GGUF, or is cut short, is refused
with one line naming it before any dequantization starts.

Example::

    head = read_header(Path("gemma-3-270m-q4_k_m.gguf"))
    head.architecture, head.n_elements, head.data_end   # ('gemma3', 268098176, 253113024)
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

from sftlens.errors import SftlensError

MAGIC = b"GGUF"
_SCALARS = {  # value type -> struct format
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_STRING, _ARRAY = 8, 9
_DEFAULT_ALIGNMENT = 32


@dataclass(frozen=True)
class GgufHeader:
    """What sftlens needs from a GGUF header."""

    version: int
    architecture: str
    n_tensors: int
    n_elements: int  # parameters over all tensors
    data_end: int  # byte offset where the last tensor's data ends
    add_bos: bool = False  # tokenizer.ggml.add_bos_token: prompts start with the BOS token


class _Cursor:
    """Sequential little-endian reads over a buffer; running past its end is a truncation."""

    def __init__(self, buf: mmap.mmap | bytes) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> int | float | bool:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise EOFError
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value  # type: ignore[no-any-return]

    def string(self) -> str:
        n = int(self.take("<Q"))
        if self.pos + n > len(self.buf):
            raise EOFError
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return bytes(raw).decode("utf-8", errors="replace")

    def value(self, vtype: int) -> object:
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype, count = int(self.take("<I")), int(self.take("<Q"))
            if etype in _SCALARS:  # fixed size: skip in one step
                self.pos += struct.calcsize(_SCALARS[etype]) * count
                if self.pos > len(self.buf):
                    raise EOFError
                return None
            for _ in range(count):
                self.value(etype)
            return None
        if vtype not in _SCALARS:
            raise ValueError(f"unknown metadata value type {vtype}")
        return self.take(_SCALARS[vtype])


def _tensor_bytes(ggml_type: int, n: int, name: str) -> int:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except (ValueError, KeyError):
        raise ValueError(f"tensor '{name}' has unknown GGML type {ggml_type}") from None
    return n // block * type_size


def _parse(buf: mmap.mmap | bytes) -> GgufHeader:
    cur = _Cursor(buf)
    if bytes(buf[:4]) != MAGIC:
        raise ValueError("not a GGUF file (no GGUF magic)")
    cur.pos = 4
    version, n_tensors, n_kv = int(cur.take("<I")), int(cur.take("<Q")), int(cur.take("<Q"))
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    meta: dict[str, object] = {}
    for _ in range(n_kv):
        key = cur.string()
        meta[key] = cur.value(int(cur.take("<I")))
    spans, n_elements = [], 0
    for _ in range(n_tensors):
        name = cur.string()
        dims = [int(cur.take("<Q")) for _ in range(int(cur.take("<I")))]
        ggml_type, offset = int(cur.take("<I")), int(cur.take("<Q"))
        n = 1
        for d in dims:
            n *= d
        n_elements += n
        spans.append(offset + _tensor_bytes(ggml_type, n, name))
    align = int(meta.get("general.alignment", _DEFAULT_ALIGNMENT))  # type: ignore[call-overload]
    start = -(-cur.pos // align) * align
    arch = meta.get("general.architecture")
    if not isinstance(arch, str):
        raise ValueError("no general.architecture in its metadata")
    add_bos = meta.get("tokenizer.ggml.add_bos_token") is True
    end = start + max(spans, default=0)
    return GgufHeader(version, arch, n_tensors, n_elements, end, add_bos)


def read_header(path: Path) -> GgufHeader:
    """Parse ``path``'s header and check that its tensor data is complete.

    Raises:
        SftlensError: one line naming ``path`` when it is empty, not GGUF, malformed
            or truncated.
    """
    size = path.stat().st_size
    if size == 0:
        raise SftlensError(f"GGUF file {path} is empty")
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        try:
            head = _parse(buf)
        except EOFError:
            raise SftlensError(
                f"GGUF file {path} is truncated (its header ends past the file's {size:,} bytes)"
            ) from None
        except (ValueError, struct.error, OverflowError) as err:
            raise SftlensError(f"GGUF file {path} is unreadable: {err}") from None
    if head.data_end > size:
        raise SftlensError(
            f"GGUF file {path} is truncated: its tensors need {head.data_end:,} bytes, "
            f"the file has {size:,}"
        )
    return head
