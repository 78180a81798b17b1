"""Errors that users can cause.

Raising :class:`SftlensError` (or a subclass) anywhere makes the CLI print one
line ``sftlens: error: <message>`` and exit with status 2, with no traceback
unless ``--debug`` is given.  Messages should name the file and line, record id
or tensor at fault.

Example::

    raise DataError(f"{path}:{line}: 'answers' is empty")
    # the CLI prints: sftlens: error: facts.jsonl:12: 'answers' is empty  (exit status 2)
"""

from __future__ import annotations


class SftlensError(Exception):
    """An error caused by the user's input, config or environment."""


class ConfigError(SftlensError):
    """A config that fails validation (unknown key, bad value, contradiction)."""


class DataError(SftlensError):
    """Malformed or inconsistent input data (names file:line or record id)."""
