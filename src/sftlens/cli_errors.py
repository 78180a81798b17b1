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

from sftlens.atomic import PATH_ATTR
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
    errno.EBUSY: "device or resource busy",
    errno.EMFILE: "too many open files",
    errno.EIO: "input/output error",
}
#: how libraries that wrap the OS error in their own text say "disk full"
_NO_SPACE_TEXT = ("no space left on device", "storagefull", "os error 28", "errno 28")


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _os_error(err: OSError, known: str | None = None) -> str | None:
    """One line for an OS error, naming its path (or ``known``: the path being written)."""
    if err.errno not in _OS_ERRORS:
        return None
    return _with_path(_OS_ERRORS[err.errno], err.filename, err.filename2, known)


def _with_path(what: str, name: object, name2: object = None, known: str | None = None) -> str:
    where = str(name) if name is not None else (known or "")
    if name2 is not None:
        where = f"{where} -> {name2}"
    return f"{where}: {what}" if where else what


def _written_path(chain: list[BaseException]) -> str | None:
    """The path the atomic writers (sftlens.atomic) recorded on an error of the chain (innermost first)."""
    for link in reversed(chain):
        if isinstance(link, OSError) and link.filename is not None:
            return str(link.filename)
        noted = getattr(link, PATH_ATTR, None)
        if noted is not None:
            return str(noted)
    return None


def _disk_full(chain: list[BaseException], known: str | None) -> str | None:
    """A full, read-only or over-quota disk anywhere in the chain, as one line with a path."""
    for link in chain:
        if isinstance(link, OSError) and link.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
            return _os_error(link, known)
    for link in chain:
        if any(t in str(link).lower() for t in _NO_SPACE_TEXT):
            return _with_path(_OS_ERRORS[errno.ENOSPC], None, None, known)
    return None


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
    chain = _chain(err)
    known = _written_path(chain)
    full = _disk_full(chain, known)  # the root cause, whatever followed
    if full is not None:
        return full
    if isinstance(err, UnicodeDecodeError):
        return f"input is not valid UTF-8 ({err.reason} at byte offset {err.start})"
    if isinstance(err, OSError):
        return _os_error(err, known)
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
    if isinstance(err, RuntimeError) and "does not have a deterministic implementation" in text:
        op = text.split(" does not have")[0]
        return (f"deterministic=true: {op} has no deterministic kernel on this device; "
                "run without deterministic=true")  # fmt: skip
    return None
