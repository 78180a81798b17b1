"""The CLI's error boundary: known failure families → one line, exit status 2.

Stages raise :class:`~sftlens.errors.SftlensError` for what they can name; this
module turns the remaining *environmental* failures that reach the CLI (a full or
read-only disk, undecodable bytes, a corrupt Parquet or safetensors file, a bad
device string) into one line as well.  Anything else is a bug and keeps its
traceback.  ``--debug`` always shows the traceback.

Example::

    try:
        run_stage(stage, args)
    except BaseException as err:
        line = explain(err)
        if line is None or debug:
            raise
        print(f"sftlens: error: {line}", file=sys.stderr)
"""

from __future__ import annotations

import argparse
import errno
import sys
from typing import NoReturn

from sftlens.errors import SftlensError


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit 2)."""

    def error(self, message: str) -> NoReturn:
        print(f"sftlens: error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


_OS_ERRORS = {
    errno.ENOSPC: "no space left on device",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "a path component is a file, not a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or directory",
    errno.EISDIR: "is a directory",
    errno.EDQUOT: "disk quota exceeded",
    errno.EEXIST: "already exists",
}


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _os_error(err: OSError) -> str | None:
    if err.errno not in _OS_ERRORS:
        return None
    where = err.filename if err.filename is not None else ""
    if err.filename2 is not None:
        where = f"{where} -> {err.filename2}"
    return f"{where}: {_OS_ERRORS[err.errno]}" if where else _OS_ERRORS[err.errno]


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and its causes/contexts (a full disk often surfaces as a later error)."""
    seen: list[BaseException] = []
    cur: BaseException | None = err
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def explain(err: BaseException) -> str | None:
    """One line for a known error family, or None (a bug: keep the traceback)."""
    if isinstance(err, SftlensError):
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        return "; ".join(lines) or type(err).__name__
    for link in _chain(err):  # a full or read-only disk is the root cause, whatever followed
        if isinstance(link, OSError) and link.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
            return _os_error(link)
    if isinstance(err, UnicodeDecodeError):
        return f"input is not valid UTF-8 ({err.reason} at byte offset {err.start})"
    if isinstance(err, OSError):
        return _os_error(err)
    if isinstance(err, MemoryError):
        return "out of memory (a corrupt input can ask for a huge allocation; --debug shows where)"
    return _library_error(err)


def _library_error(err: BaseException) -> str | None:
    """Parquet, safetensors and torch device errors that name their own problem."""
    kind = f"{type(err).__module__}.{type(err).__name__}"
    text = _first_line(str(err))
    if kind.startswith("pyarrow."):
        return f"unreadable Parquet/Arrow data: {text}"
    if type(err).__name__ == "SafetensorError":
        return f"unreadable safetensors file: {text}"
    if isinstance(err, RuntimeError) and "device" in text.lower() and "string" in text.lower():
        return f"bad device: {text}"
    return None
