"""Atomic files and directories: a write goes to a temporary sibling, renamed into place.

A process killed at any moment leaves either the old file (or directory) or the new one,
never a half-written one; the temp names (``.NAME.tmp-<pid>-<ns>``) let a later run tell
a dead writer's debris (:func:`remove_stale_temps`) from a live one's.  Every rename goes
through :func:`swap_into_place`.

Example::

    atomic_write_json("runs/x/metrics.json", {"accuracy": 0.5})
    with atomic_path("runs/x/model") as tmp:
        model.save_pretrained(tmp)
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PATH_ATTR = "sftlens_path"
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-\d+$")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def base_name(name: str) -> str:
    """The name a (possibly nested) temp name stands for: ``..x.tmp-1-2.tmp-1-3`` → ``x``."""
    while (match := _TEMP_NAME.match(name)) is not None:
        name = match.group("name")
    return name


def _is_own_temp(path: Path) -> bool:
    """True for a temp name of this process (a staged directory being filled)."""
    match = _TEMP_NAME.match(path.name)
    return match is not None and int(match.group("pid")) == os.getpid()


def note_path(err: BaseException, path: Path) -> None:
    """Record on ``err`` the path being written when it failed (read by the CLI's error boundary).

    An ``OSError`` without a file name gets ``path`` as its ``filename``; any other error
    keeps it as ``err.sftlens_path`` (the innermost write wins).
    """
    if isinstance(err, OSError):
        if err.filename is None:
            err.filename = str(path)
        return
    with contextlib.suppress(AttributeError, TypeError):
        if getattr(err, PATH_ATTR, None) is None:
            setattr(err, PATH_ATTR, str(path))


def temp_sibling(path: Path, kind: str = "tmp") -> Path:
    """``.NAME.<kind>-<pid>-<ns>`` beside ``path``: the one temp-name pattern (see :func:`remove_stale_temps`)."""
    return path.parent / f".{path.name}.{kind}-{os.getpid()}-{time.monotonic_ns()}"


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same dir + rename (umask-respecting mode)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(p)
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        swap_into_place(tmp, p)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        note_path(err, p)
        raise
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
    An existing ``path`` is replaced only after the new one is complete; an existing
    directory is exchanged with the new one in one step (see :func:`swap_into_place`).
    A ``path`` that is itself this process's temp (a staged directory) is yielded as it
    is: the staging already makes it appear whole, so there is one temp level, never two.
    """
    p = Path(path)
    if _is_own_temp(p):
        try:
            yield p
        except BaseException as err:
            note_path(err, p)
            raise
        return
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(p)
    try:
        yield tmp
        swap_into_place(tmp, p)
    except BaseException as err:
        note_path(err, p)
        raise
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        with contextlib.suppress(OSError):
            path.unlink()


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(new: Path, path: Path) -> None:
    """Put ``new`` at ``path`` (the one rename step of every atomic write); an existing
    directory there is replaced by a new directory in one atomic step.

    On Linux the two directories are exchanged with ``renameat2``; elsewhere the old one
    is first renamed to ``.NAME.old-<pid>-<ns>``, which :func:`remove_stale_temps` puts
    back if the process dies between the two renames.  The old contents end at ``new``
    (removed by the caller) or are deleted here.
    """
    if new.is_dir() and path.is_dir() and not path.is_symlink():
        if not _exchange(new, path):
            old = temp_sibling(path, "old")
            os.replace(path, old)
            os.replace(new, path)
            shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, path)
    _fsync_dir(path.parent)


def _owner_alive(name: str) -> bool:
    """True unless the ``<pid>`` in a temp name ``.X.tmp-<pid>-<ns>`` is a dead process."""
    match = _TEMP_NAME.match(name)
    if match is None:
        return True
    pid = int(match.group("pid"))
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_temps(root: str | Path) -> list[Path]:
    """Remove temp files/dirs left by dead processes in ``root`` (recursively) and beside it.

    Temp names are ``.NAME.tmp-<pid>-<ns>`` (and ``.NAME.old-<pid>-<ns>`` for a
    directory being replaced), nested ones included; one whose ``<pid>`` is no longer
    running is debris of a killed write.  An ``old`` directory whose ``NAME`` is missing is moved back.
    Returns the removed paths (each also logged).
    """
    root = Path(root)
    removed: list[Path] = []
    places = [root.parent]
    if root.is_dir():
        places += [Path(d) for d, _, _ in os.walk(root)]
    for place in places:
        with contextlib.suppress(OSError):
            for entry in list(place.iterdir()):
                match = _TEMP_NAME.match(entry.name)
                if match is None or _owner_alive(entry.name):
                    continue
                if place == root.parent and base_name(entry.name) != root.name:
                    continue
                target = place / match.group("name")
                if match.group("kind") == "old" and not target.exists():
                    os.replace(entry, target)
                    log.info("put back %s interrupted while being replaced", target)
                    continue
                _remove(entry)
                removed.append(entry)
                log.info("removed %s (left by a killed process %s)", entry, match.group("pid"))
    return removed


def visible_entries(path: Path) -> Iterator[Path]:
    """Entries of ``path`` that are not stale temp debris (a killed run's leftovers do not count)."""
    return (e for e in path.iterdir() if _TEMP_NAME.match(e.name) is None or _owner_alive(e.name))
