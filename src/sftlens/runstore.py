"""Run directories: manifest, atomic writes, unit keys and done-markers.

Every artifact is written to a temporary sibling and renamed into place, so a
process killed at any moment leaves either the old file or the new one, never a
half-written file.  A *unit* (one fine-tune, one evaluation, ...) is done when
its ``unit.json`` exists; its key is a content hash of its inputs and config.

Example::

    run = RunDir.create("runs/x", config=cfg, seed=0)
    key = content_hash({"stage": "probe", "config": dump_config(cfg)})
    if not run.unit_done("probe", key):
        ...
        run.mark_done("probe", key, {"seconds": 12.3})
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sftlens.errors import SftlensError


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (threads write too)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def shareable_mode(path: str | Path) -> None:
    """Give a freshly written file the mode a plain ``open`` would (0666 less the umask).

    ``mkstemp`` creates files 0600; outputs are meant to be shared (0644 under umask 022).
    """
    with contextlib.suppress(OSError):
        os.chmod(path, 0o666 & ~_umask())


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same dir + rename (umask-respecting mode)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    shareable_mode(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(p.parent)
    return p


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN floats as ``None`` (strict JSON has no NaN; e.g. a level with no facts)."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_safe(v) for v in obj]
    return obj


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path (file or dir) that is renamed onto ``path`` on success.

    Use for writers that need a filename (parquet, safetensors, save_pretrained):
    ``with atomic_path(out / "model") as tmp: model.save_pretrained(tmp)``.
    An existing ``path`` is replaced only after the new one is complete.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.parent / f".{p.name}.tmp-{os.getpid()}-{time.monotonic_ns()}"
    try:
        yield tmp
        if p.is_dir() and not p.is_symlink():
            old = p.parent / f".{p.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.replace(p, old)
            os.replace(tmp, p)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, p)
        _fsync_dir(p.parent)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def content_hash(obj: Any) -> str:
    """Stable short sha256 of a JSON-able object (keys sorted)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """Short sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()[:16]


def git_commit() -> str | None:
    """The commit of the sftlens checkout, when run from one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that decide numbers."""
    import importlib.metadata as md

    found = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in ("sftlens", "torch", "transformers", "peft", "accelerate", "safetensors", "numpy"):
        with contextlib.suppress(md.PackageNotFoundError):
            found[name] = md.version(name)
    return found


def ensure_out_dir(path: str | Path, force: bool = False, marker: str | None = None) -> Path:
    """Create ``path`` or accept it when empty, ``force`` is set, or it holds ``marker``.

    Raises:
        SftlensError: ``path`` is a non-empty directory that is not ours.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise SftlensError(f"--out {p} exists and is not a directory")
    ours = marker is not None and (p / marker).exists()
    if p.is_dir() and any(p.iterdir()) and not force and not ours:
        raise SftlensError(f"--out {p} is not empty; pass --force to write into it")
    p.mkdir(parents=True, exist_ok=True)
    return p


class RunDir:
    """A run directory with ``manifest.json`` and ``units/<name>/unit.json`` markers."""

    MANIFEST = "manifest.json"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(
        cls,
        path: str | Path,
        config: dict[str, Any] | None = None,
        seed: int | None = None,
        command: str | None = None,
    ) -> RunDir:
        """Create the run dir (or reopen it) and (re)write its manifest."""
        run = cls(path)
        run.path.mkdir(parents=True, exist_ok=True)
        manifest = {
            "config": config or {},
            "seed": seed,
            "command": command or " ".join(sys.argv),
            "versions": versions(),
            "git_commit": git_commit(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic_write_json(run.path / cls.MANIFEST, manifest)
        return run

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / self.MANIFEST).read_text())

    def unit_dir(self, name: str) -> Path:
        return self.path / "units" / name

    def unit_done(self, name: str, key: str) -> bool:
        """True when unit ``name`` finished with inputs hashing to ``key``."""
        marker = self.unit_dir(name) / "unit.json"
        if not marker.is_file():
            return False
        try:
            return json.loads(marker.read_text()).get("key") == key
        except (OSError, json.JSONDecodeError):
            return False

    def mark_done(self, name: str, key: str, info: dict[str, Any] | None = None) -> Path:
        """Write ``unit.json`` last, after every output of the unit is in place."""
        record = {"name": name, "key": key, "finished": time.time(), **(info or {})}
        return atomic_write_json(self.unit_dir(name) / "unit.json", record)
