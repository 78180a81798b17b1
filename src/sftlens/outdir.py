"""The one ``--out`` guard: where a stage may write, checked before anything is written.

A stage passes every input it reads (``input_paths(cfg)``: model, tuned and base
checkpoints, data-spec paths, mastery tables, SFT sets, relation and alias files, a
world) and ``--out`` is refused when it equals, lies inside or contains any of them,
``--force`` or not, so no run can overwrite or delete what it reads.  Symlinks are
resolved; an input that is not a local path (a hub id) cannot overlap.

Example::

    inputs = input_paths(cfg)                    # every local path the config names
    check_out_dir(out, force, inputs=inputs)     # checks only, writes nothing
    with staged_out_dir(out, force, inputs) as tmp:
        write_table(tmp / "rows.parquet", rows)  # swapped into place on success
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sftlens.atomic import atomic_path, remove_stale_temps, visible_entries
from sftlens.errors import SftlensError

#: config keys whose value names a file or directory the stage reads
INPUT_KEYS = frozenset(
    {"model", "base", "tuned", "train", "mastery", "relations", "world", "study_config"}
)
#: config keys holding lists of such paths (alias tables by name are skipped: not local paths)
INPUT_LIST_KEYS = frozenset({"aliases", "runs"})


def spec_path(spec: str) -> str | None:
    """The path of a data spec (``world:DIR`` → ``DIR``); None for the bare cache spec."""
    _, sep, arg = spec.partition(":")
    return arg if sep and arg else None


def _values(obj: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, BaseModel):
        yield from ((k, getattr(obj, k)) for k in type(obj).model_fields)
    elif isinstance(obj, dict):
        yield from ((str(k), v) for k, v in obj.items())


def _named_paths(obj: Any) -> Iterator[str]:
    for key, value in _values(obj):
        if isinstance(value, BaseModel | dict):
            yield from _named_paths(value)
        elif key == "data" and isinstance(value, str):
            path = spec_path(value)
            if path:
                yield path
        elif key in INPUT_KEYS and isinstance(value, str | Path) and str(value):
            yield str(value)
        elif key in INPUT_LIST_KEYS and isinstance(value, list):
            yield from (str(v) for v in value if isinstance(v, str | Path) and str(v))


def input_paths(cfg: Any, *extra: str | Path | None) -> list[Path]:
    """Every existing local path that ``cfg`` (nested sections too) and ``extra`` name as input."""
    named = [*_named_paths(cfg), *(str(e) for e in extra if e)]
    found = [Path(p) for p in dict.fromkeys(named)]
    return [p for p in found if p.exists() or p.is_symlink()]


def overlap(out: str | Path, inputs: Iterable[str | Path]) -> str | None:
    """How ``out`` overlaps the first input it overlaps, as words for an error; None if none."""
    target = Path(out).resolve()
    for src in inputs:
        resolved = Path(src).resolve()
        if target == resolved:
            return f"is the same path as input {src}"
        if resolved in target.parents:
            return f"is inside input {src}"
        if target in resolved.parents:
            return f"contains input {src}"
    return None


def check_apart(out: str | Path, inputs: Iterable[str | Path]) -> None:
    """Raise a one-line ``SftlensError`` when ``out`` equals, lies inside or contains an input."""
    found = overlap(out, inputs)
    if found is not None:
        raise SftlensError(f"--out {out} {found}; choose an --out apart from every input")


def check_out_dir(
    path: str | Path,
    force: bool = False,
    marker: str | None = None,
    inputs: Sequence[str | Path] = (),
) -> Path:
    """Check ``--out``; writes nothing.  ``path`` may be missing, empty, ours (holds ``marker``)
    or replaced with ``force``; it must name a directory of its own, not be a file or lie under
    one, not equal, lie inside or contain any of ``inputs`` (``force`` or not), and be writable.

    Raises:
        SftlensError: one line naming ``path`` and what is wrong with it.
    """
    p = Path(path)
    if not str(path).strip() or p.name in ("", "..") or p.resolve() == Path(p.anchor):
        raise SftlensError(f"--out '{path}' names no directory of its own; give --out DIR")
    check_apart(p, inputs)
    if p.exists() and not p.is_dir():
        raise SftlensError(f"--out {p} exists and is not a directory")
    ancestor = p if p.exists() else p.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise SftlensError(f"--out {p}: {ancestor} is a file, not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK) or (
        p.exists() and not os.access(p.parent, os.W_OK)
    ):
        raise SftlensError(
            f"--out {p}: cannot write in {ancestor} (read-only or permission denied)"
        )
    ours = marker is not None and (p / marker).exists()
    if p.is_dir() and any(visible_entries(p)) and not force and not ours:
        raise SftlensError(f"--out {p} is not empty; pass --force to replace it")
    return p


def ensure_out_dir(
    path: str | Path,
    force: bool = False,
    marker: str | None = None,
    inputs: Sequence[str | Path] = (),
) -> Path:
    """:func:`check_out_dir`, then remove stale temps there and create ``path`` (for resumable runs)."""
    p = check_out_dir(path, force, marker, inputs)
    remove_stale_temps(p)
    p.mkdir(parents=True, exist_ok=True)
    return p


@contextlib.contextmanager
def staged_out_dir(
    path: str | Path, force: bool = False, inputs: Sequence[str | Path] = ()
) -> Iterator[Path]:
    """Check ``--out``, yield an empty temp dir beside it, and swap it into place on success.

    A stage writes its whole output (manifest included) into the yielded dir.  A
    failure or kill before the swap leaves ``path`` as it was (a stale temp dir is
    removed by the next run); with ``force`` an old output is replaced in one step,
    so ``path`` always holds either the old run or the new one, each complete.

    Example::

        with staged_out_dir(out, force, input_paths(cfg)) as tmp:
            RunDir.create(tmp, config=cfg_dict)
            write_table(tmp / "rows.parquet", rows)
    """
    p = check_out_dir(path, force, None, inputs)
    remove_stale_temps(p)
    with atomic_path(p) as tmp:
        tmp.mkdir(exist_ok=True)  # exists already when ``path`` is itself a staged dir
        yield tmp


@contextlib.contextmanager
def discard_if_new(path: str | Path, setup: Sequence[str] = ()) -> Iterator[None]:
    """Remove ``path`` after a failure when this block created it and it holds no work yet.

    "No work" means only directories and the files named in ``setup`` (relative paths:
    a manifest, a state file), so a failed first run leaves no ``--out`` that blocks the
    retry, while a resumable run's finished units are always kept.
    """
    p = Path(path)
    existed = p.exists()
    try:
        yield
    except BaseException:
        if not existed and p.is_dir() and _holds_only(p, set(setup)):
            shutil.rmtree(p, ignore_errors=True)
        raise


def _holds_only(root: Path, setup: set[str]) -> bool:
    for entry in root.rglob("*"):
        if not entry.is_dir() and str(entry.relative_to(root)) not in setup:
            return False
    return True
