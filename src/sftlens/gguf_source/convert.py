"""``sftlens convert FILE.gguf --out DIR``: a plain Hugging Face checkpoint from a GGUF file.

The GGUF is dequantized through the cache (:func:`~sftlens.gguf_source.gguf_checkpoint`,
so a file already used by a stage converts in a copy's time) and ``DIR`` receives
``config.json``, the tokenizer files and float32 safetensors that plain
``transformers`` loads: ``AutoModelForCausalLM.from_pretrained(DIR)``.

Example::

    sftlens convert gemma-3-270m-q4_k_m.gguf --out models/gemma3-270m
    sftlens convert model.gguf --out models/m --sha256 a5fd3b62...   # checked first
    sftlens convert model.gguf --out models/m --tokenizer models/tok  # another tokenizer
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from sftlens.config import StageConfig
from sftlens.errors import ConfigError
from sftlens.gguf_source.cache import (
    CACHE_DTYPE,
    MARKER,
    dequantize_with_tokenizer,
    file_sha256,
    find_gguf,
    gguf_checkpoint,
)
from sftlens.outdir import staged_out_dir


class ConvertConfig(StageConfig):
    """``sftlens convert``: which GGUF file, and the sha256 it must have (optional)."""

    gguf: str = Field(description="the .gguf file to convert")
    sha256: str | None = Field(None, description="expected sha256 of the file (hex)")
    tokenizer: str | None = Field(
        None,
        description="a directory whose tokenizer is saved instead of the one transformers reads "
        "from the file (for transformers versions that misread it)",
    )


@dataclass
class ConvertResult:
    out: Path
    gguf: Path
    sha256: str

    def summary(self) -> str:
        return (
            f"converted {self.gguf} (sha256 {self.sha256[:12]}…) to a {CACHE_DTYPE} "
            f"Hugging Face checkpoint -> {self.out}"
        )


def run(cfg: ConvertConfig, out: Path, *, force: bool = False) -> ConvertResult:
    """Dequantize ``cfg.gguf`` (through the cache) and copy the checkpoint into ``out``."""
    path = find_gguf(cfg.gguf)
    if path is None:
        raise ConfigError(f"'{cfg.gguf}' is not a .gguf file (nor a dir holding one)")
    if Path(out).resolve() in path.parents:
        raise ConfigError(f"--out {out} contains the input {path}; choose another directory")
    if cfg.tokenizer is not None:
        return _convert_with_tokenizer(cfg, path, Path(cfg.tokenizer), out, force)
    cached = gguf_checkpoint(path, expected=cfg.sha256)
    with staged_out_dir(out, force, inputs=[path, cached]) as tmp:
        for item in sorted(cached.iterdir()):
            if item.name != MARKER and item.is_file():
                shutil.copyfile(item, tmp / item.name)
    return ConvertResult(Path(out), path, cached.name)


def _convert_with_tokenizer(
    cfg: ConvertConfig, path: Path, tokenizer: Path, out: Path, force: bool
) -> ConvertResult:
    """The file's weights with another directory's tokenizer, straight into ``out``."""
    if not tokenizer.is_dir():
        raise ConfigError(f"--tokenizer {tokenizer}: not a directory")
    sha = file_sha256(path)
    if cfg.sha256 is not None and cfg.sha256.lower() != sha:
        raise ConfigError(f"GGUF file {path}: sha256 {sha[:16]}… does not match {cfg.sha256[:16]}…")
    with staged_out_dir(out, force, inputs=[path, tokenizer]) as tmp:
        dequantize_with_tokenizer(path, tmp, tokenizer)
    return ConvertResult(Path(out), path, sha)
