"""GGUF files as model sources: dequantize once into a cached safetensors checkpoint.

A ``--model`` that names a ``.gguf`` file (or a directory holding exactly one ``.gguf``
and no ``config.json``) resolves to ``$SFTLENS_CACHE/gguf/<sha256>/`` (default
``~/.cache/sftlens/gguf/<sha256>/``): config, tokenizer and float32 safetensors written
by ``transformers`` from the GGUF, plus ``sftlens-gguf.json`` (source, sha256, dtype).
The directory is built beside its final name and renamed into place, so the cache
never holds half a checkpoint.  The file's sha256 is remembered by (path, size, mtime),
so a warm start neither rehashes nor dequantizes.

Example::

    path = find_gguf("gemma-3-270m-q4_k_m.gguf")   # Path, or None for anything else
    ckpt = gguf_checkpoint(path)                    # .../gguf/a5fd3b62.../ (config.json, ...)
    gguf_provenance("gemma-3-270m-q4_k_m.gguf")     # {'gguf': ..., 'sha256': ..., 'cache_dir': ...}
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sftlens.errors import SftlensError
from sftlens.gguf_source.header import read_header
from sftlens.runstore import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

CACHE_ENV = "SFTLENS_CACHE"
MARKER = "sftlens-gguf.json"
CACHE_DTYPE = "float32"  # what the dequantized checkpoint holds
_ANNOUNCED: set[Path] = set()
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def cache_root() -> Path:
    """Where converted GGUF checkpoints live: ``$SFTLENS_CACHE/gguf`` or ``~/.cache/sftlens/gguf``."""
    base = os.environ.get(CACHE_ENV)
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "sftlens") / "gguf"


def require_gguf() -> None:
    """One-line error when the optional ``gguf`` package is missing."""
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise SftlensError(
            "reading GGUF files needs the 'gguf' package: pip install 'sftlens[gguf]'"
        ) from None


def find_gguf(name: str | Path) -> Path | None:
    """The GGUF file that ``name`` designates, or None when it is no GGUF source.

    A path ending in ``.gguf`` must be an existing file; a directory without
    ``config.json`` that holds ``.gguf`` files must hold exactly one.
    """
    p = Path(name).expanduser()
    if p.suffix.lower() == ".gguf":
        if not p.exists():
            raise SftlensError(f"GGUF file {p} not found")
        if not p.is_file():
            raise SftlensError(f"GGUF path {p} is not a file")
        return p.resolve()
    if not p.is_dir() or (p / "config.json").exists():
        return None
    found = sorted(q for q in p.glob("*.gguf") if q.is_file())
    if len(found) > 1:
        names = ", ".join(q.name for q in found)
        raise SftlensError(f"{p} holds {len(found)} .gguf files ({names}); pass one as --model")
    return found[0].resolve() if found else None


def expected_sha256(path: Path) -> str | None:
    """The checksum in a ``FILE.gguf.sha256`` sidecar (first word), if there is one."""
    sidecar = path.with_name(path.name + ".sha256")
    if not sidecar.is_file():
        return None
    words = sidecar.read_text(errors="replace").split()
    return words[0].lower() if words else None


def _memo(path: Path) -> Path:
    st = path.stat()
    key = hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:32]
    return cache_root() / "hashes" / key


def _remembered_sha256(path: Path) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        known = _memo(path).read_text().strip()
        if len(known) == 64:
            return known
    return None


def file_sha256(path: Path) -> str:
    """sha256 of ``path``: remembered by (path, size, mtime), else streamed from the file."""
    known = _remembered_sha256(path)
    if known is not None:
        return known
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _check_sha(path: Path, sha: str, expected: str | None) -> None:
    expected = expected or expected_sha256(path)
    if expected is not None and expected.lower() != sha:
        raise SftlensError(
            f"GGUF file {path}: sha256 {sha[:16]}… does not match the expected {expected[:16]}…"
        )


def gguf_checkpoint(path: Path, expected: str | None = None) -> Path:
    """The cached float32 checkpoint dir of GGUF ``path``; dequantized on first use.

    A file seen before (same path, size and mtime) is neither hashed nor parsed again.
    """
    sha = _remembered_sha256(path)
    if sha is None:
        require_gguf()  # a warm cache serves its checkpoint without the gguf package
        read_header(path)  # refuse a broken file before hashing all of it
        sha = file_sha256(path)
    _check_sha(path, sha, expected)
    target = cache_root() / sha
    if not (target / MARKER).is_file():
        with _build_lock(target):  # workers started together dequantize the file once
            if not (target / MARKER).is_file():
                _build(path, sha, target)
    with contextlib.suppress(OSError):  # a read-only cache still serves what it holds
        memo = _memo(path)
        if not memo.exists():
            atomic_write_text(memo, sha)
    if target not in _ANNOUNCED:
        _ANNOUNCED.add(target)
        log.info("GGUF %s (sha256 %s…) → %s checkpoint %s", path, sha[:12], CACHE_DTYPE, target)
    return target


@contextlib.contextmanager
def _build_lock(target: Path) -> Iterator[None]:
    """An exclusive lock on ``<target>.lock`` while held; none where the cache is read-only
    (the build then names the problem)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fh = open(target.with_name(f".{target.name}.lock"), "a")  # noqa: SIM115
    except OSError:
        yield
        return
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _ensure_room(root: Path, need: int) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        reason = os.strerror(err.errno) if err.errno else type(err).__name__
        raise SftlensError(
            f"GGUF cache dir {root} is not writable ({reason}); set {CACHE_ENV} to a writable dir"
        ) from None
    free = shutil.disk_usage(root).free
    if free < need:
        raise SftlensError(
            f"GGUF cache dir {root} has {free / 1e9:.2f} GB free; the dequantized checkpoint "
            f"needs about {need / 1e9:.2f} GB (set {CACHE_ENV} elsewhere)"
        )


def _build(path: Path, sha: str, target: Path) -> None:
    require_gguf()
    head = read_header(path)
    _ensure_room(target.parent, head.n_elements * 4 + (64 << 20))
    log.info("dequantizing %s (%s, %s parameters) once; later runs load the cache", path,
             head.architecture, f"{head.n_elements:,}")  # fmt: skip
    try:
        with atomic_path(target) as tmp:
            tmp.mkdir()
            _dequantize_into(path, tmp, add_bos=head.add_bos)
            record = {"gguf": str(path), "sha256": sha, "dtype": CACHE_DTYPE,
                      "architecture": head.architecture}  # fmt: skip
            (tmp / MARKER).write_text(json.dumps(record, indent=1) + "\n")
    except OSError as err:
        if err.errno in _NO_SPACE:
            raise SftlensError(
                f"GGUF cache dir {target.parent}: no space left while writing the dequantized "
                f"checkpoint of {path} (nothing was kept)"
            ) from None
        raise


def _dequantize_into(
    path: Path, out: Path, add_bos: bool = False, tokenizer: Path | None = None
) -> None:
    """Load ``path`` through transformers (float32) and save a plain HF checkpoint in ``out``;
    ``add_bos``: the file's tokenizer starts every text with BOS (kept in the saved tokenizer);
    ``tokenizer``: a directory whose tokenizer is saved instead of the one read from the file."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sftlens.hf_compat import dtype_kwarg

    folder, name = str(path.parent), path.name
    try:
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, **{dtype_kwarg(): torch.float32}
        )
        if tokenizer is None:
            tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    except (ValueError, KeyError, NotImplementedError, RuntimeError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SftlensError(f"cannot read GGUF file {path}: {first}") from None
    if tokenizer is not None:
        tok = _tokenizer_from(tokenizer)
    check_subwords(tok, path if tokenizer is None else tokenizer)
    if add_bos:
        ensure_bos(tok)
    plain = _without_quantization(model)
    plain.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


def _tokenizer_from(folder: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SftlensError(f"cannot read the tokenizer in {folder}: {first}") from None


def dequantize_with_tokenizer(path: Path, out: Path, tokenizer: Path) -> None:
    """Dequantize GGUF ``path`` into ``out`` (which must exist), saving the tokenizer of the
    directory ``tokenizer`` instead of the file's own (not cached: the cache holds the file's)."""
    require_gguf()
    _dequantize_into(path, out, add_bos=read_header(path).add_bos, tokenizer=tokenizer)


#: a sentence any subword vocabulary splits into far fewer tokens than it has letters
SUBWORD_PROBE = "The capital of France is Paris, and the currency of Japan is the yen."


def check_subwords(tok: Any, path: Path) -> None:
    """Refuse a tokenizer read as single characters (some transformers versions read a GGUF
    SentencePiece vocabulary without its merges: every prompt becomes one token per letter,
    and the model answers nonsense)."""
    import transformers

    n_tokens = len(tok(SUBWORD_PROBE, add_special_tokens=False).input_ids)
    letters = len(SUBWORD_PROBE.replace(" ", ""))
    if n_tokens >= letters // 2:
        raise SftlensError(
            f"cannot read GGUF file {path}: transformers {transformers.__version__} reads its "
            f"tokenizer as single characters ({n_tokens} tokens for {letters} letters); convert "
            "it with another transformers version (5.24 reads it whole)"
        )


def ensure_bos(tok: Any) -> None:
    """Make ``tok`` start every encoded text with its BOS token, as the GGUF file says it does.

    Some transformers versions read a GGUF tokenizer without its BOS rule; a Gemma model then
    sees prompts without ``<bos>`` and answers nonsense.  Adds a template post-processor to
    the fast tokenizer when the rule is missing; does nothing when it is there.
    """
    from tokenizers import processors

    bos, bos_id = tok.bos_token, tok.bos_token_id
    if bos is None or bos_id is None or tok("a").input_ids[:1] == [bos_id]:
        return
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
    )
    if tok("a").input_ids[:1] != [bos_id]:
        raise SftlensError(f"cannot make the tokenizer of {tok.name_or_path} start with {bos}")


def _without_quantization(model: Any) -> Any:
    """The same weights in a model that ``save_pretrained`` accepts (no GGUF quantization tag)."""
    import torch

    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        plain = type(model)(config)
    plain.load_state_dict(model.state_dict(), assign=True)
    plain.tie_weights()
    return plain


def gguf_provenance(name: str | Path) -> dict[str, Any] | None:
    """For manifests: the GGUF behind ``name`` (path, sha256, cache dir, dtype), or None."""
    path = find_gguf(name)
    if path is None:
        return None
    target = gguf_checkpoint(path)
    record = json.loads((target / MARKER).read_text())
    return {**record, "gguf": str(path), "cache_dir": str(target)}
