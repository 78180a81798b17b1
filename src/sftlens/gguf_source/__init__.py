"""GGUF (llama.cpp) files as model sources of every stage, and ``sftlens convert``.

Example::

    from sftlens.gguf_source import find_gguf, gguf_checkpoint
    ckpt = gguf_checkpoint(find_gguf("model.gguf"))   # cached float32 HF checkpoint dir
"""

from sftlens.gguf_source.cache import (
    CACHE_DTYPE,
    CACHE_ENV,
    MARKER,
    cache_root,
    expected_sha256,
    file_sha256,
    find_gguf,
    gguf_checkpoint,
    gguf_provenance,
    require_gguf,
)
from sftlens.gguf_source.header import GgufHeader, read_header

__all__ = [
    "CACHE_DTYPE",
    "CACHE_ENV",
    "MARKER",
    "GgufHeader",
    "cache_root",
    "expected_sha256",
    "file_sha256",
    "find_gguf",
    "gguf_checkpoint",
    "gguf_provenance",
    "read_header",
    "require_gguf",
]
