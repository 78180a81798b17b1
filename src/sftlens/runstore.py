"""Run directories: manifest (config, versions, commit), unit keys and done-markers.

A *unit* (one fine-tune, one evaluation, ...) is done when its ``unit.json`` exists; its
key is a content hash of its inputs and config.  Every file is written atomically
(:mod:`sftlens.atomic`, whose writers are re-exported here for the stages).

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
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sftlens.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    json_safe,
    remove_stale_temps,
)

__all__ = [
    "RunDir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "content_hash",
    "file_hash",
    "git_commit",
    "json_safe",
    "remove_stale_temps",
    "versions",
]  # fmt: skip


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
