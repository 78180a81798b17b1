"""Alias tables: an object name maps to the other names accepted for it.

The package ships two named tables (:data:`ALIAS_TABLES`, did-you-mean errors):

- ``paper-2025``: exactly the 29 entries of the paper's Table 12
  (``aliases/paper-2025.yaml``); the EntityQuestions default (name ``builtin``).
- ``builtin-extended``: ``paper-2025`` plus sftlens' 151 entries for frequent
  EntityQuestions objects (``aliases/extended.yaml``); opt-in, see docs/data.md.

An ``aliases`` list holds table names and alias files, applied in order; ``-builtin``
leaves the default table out (even for EntityQuestions).  Files may be YAML
(``aliases: {object: [name, ...]}``) or JSON (``{object: [name, ...]}``, keys
starting with ``_`` ignored), so the paper's ``aliases.json`` works as is.  Lookup
is by exact object name, then by its normalised form (case, spacing, accents).
Tables are one-way: "Harvard Law School" accepting "Harvard University" does not
make "Harvard Law School" correct for a Harvard University fact.

Example::

    python -m sftlens.data entityquestions:../shared/data/entityquestions --aliases builtin-extended
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sftlens.data.matching import normalize_tokens
from sftlens.errors import DataError
from sftlens.registry import Registry

BUILTIN = "builtin"
NO_BUILTIN = f"-{BUILTIN}"
PAPER = "paper-2025"
EXTENDED = "builtin-extended"
FILE_SUFFIXES = (".yaml", ".yml", ".json")


class AliasTable:
    """Object name → accepted names (one-way), with normalised-key lookup."""

    def __init__(self, entries: Mapping[str, Iterable[str]] | None = None) -> None:
        self.entries: dict[str, tuple[str, ...]] = {}
        self._by_norm: dict[str, str] = {}
        self._cache: dict[str, tuple[str, ...]] = {}
        self._expanded: dict[tuple[str, ...], tuple[str, ...]] = {}
        if entries:
            self.update(entries)

    def update(self, entries: Mapping[str, Iterable[str]]) -> None:
        self._cache.clear()
        self._expanded.clear()
        for key, names in entries.items():
            merged = dict.fromkeys(self.entries.get(key, ()))
            merged.update(dict.fromkeys(names))
            self.entries[key] = tuple(merged)
            self._by_norm.setdefault(normalize_tokens(key), key)

    def lookup(self, name: str) -> tuple[str, ...]:
        """Accepted names for object ``name`` (empty when the table does not list it)."""
        if name in self.entries:
            return self.entries[name]
        found = self._cache.get(name)
        if found is None:
            key = self._by_norm.get(normalize_tokens(name))
            found = self._cache[name] = self.entries[key] if key is not None else ()
        return found

    def expand(self, answers: Iterable[str], aliases: Iterable[str] = ()) -> tuple[str, ...]:
        """``aliases`` plus the table's names for each answer, deduplicated, answers excluded."""
        answers = tuple(answers)
        aliases = tuple(aliases)
        if not aliases:
            cached = self._expanded.get(answers)
            if cached is None:
                cached = self._expanded[answers] = self._expand(answers, ())
            return cached
        return self._expand(answers, aliases)

    def _expand(self, answers: tuple[str, ...], aliases: tuple[str, ...]) -> tuple[str, ...]:
        out = dict.fromkeys(aliases)
        for ans in answers:
            out.update(dict.fromkeys(self.lookup(ans)))
        for ans in answers:
            out.pop(ans, None)
        return tuple(out)

    def __len__(self) -> int:
        return len(self.entries)

    def fingerprint(self) -> int:
        """A hash of the table's content (for caches keyed on it)."""
        return hash(tuple(sorted(self.entries.items())))


def parse_aliases(data: Any, where: str) -> dict[str, tuple[str, ...]]:
    """Validate an alias mapping (``{"aliases": {...}}`` or a bare mapping)."""
    if isinstance(data, Mapping) and isinstance(data.get("aliases"), Mapping):
        data = data["aliases"]
    if not isinstance(data, Mapping):
        raise DataError(f"{where}: expected a mapping of object name to a list of names")
    out: dict[str, tuple[str, ...]] = {}
    for key, names in data.items():
        if str(key).startswith("_"):
            continue
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise DataError(f"{where}: alias entry '{key}' must be a list of non-empty strings")
        out[str(key)] = tuple(names)
    return out


def load_alias_file(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Read a YAML or JSON alias file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"alias file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{p}: not valid UTF-8 (byte offset {err.start})") from None
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{p}:{err.lineno}: malformed JSON ({err.msg})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DataError(f"{p}{line}: malformed YAML") from None
    return parse_aliases(data, str(p))


def _packaged(name: str) -> dict[str, tuple[str, ...]]:
    res = resources.files("sftlens.data").joinpath(f"aliases/{name}.yaml")
    return parse_aliases(yaml.safe_load(res.read_text(encoding="utf-8")), f"aliases/{name}.yaml")


@cache
def paper_aliases() -> dict[str, tuple[str, ...]]:
    """The paper's alias table (Ye et al. 2025, Table 12): 29 entries."""
    return _packaged("paper-2025")


@cache
def extended_aliases() -> dict[str, tuple[str, ...]]:
    """The paper's table plus sftlens' additions (keys of the two do not overlap)."""
    return {**paper_aliases(), **_packaged("extended")}


ALIAS_TABLES: Registry[Callable[[], dict[str, tuple[str, ...]]]] = Registry("alias table")
ALIAS_TABLES.add(PAPER, paper_aliases)
ALIAS_TABLES.add(EXTENDED, extended_aliases)
ALIAS_TABLES.add(BUILTIN, paper_aliases)


def builtin_aliases() -> dict[str, tuple[str, ...]]:
    """The default EntityQuestions alias table (``paper-2025``)."""
    return paper_aliases()


def is_table_name(entry: str) -> bool:
    """A bare name (no folder, no .yaml/.yml/.json suffix) that is not an existing file."""
    p = Path(entry)
    return (
        p.suffix not in FILE_SUFFIXES and len(p.parts) == 1 and not entry.startswith(".")
        and not p.exists()
    )  # fmt: skip


def get_alias_table(name: str) -> dict[str, tuple[str, ...]]:
    """The named shipped table (``paper-2025``, ``builtin-extended``, ``builtin``)."""
    return ALIAS_TABLES.get(name)()


def describe_alias_table(entries: Iterable[str | Path], builtin: bool) -> str:
    """What :func:`build_alias_table` builds, in words (``paper-2025 + my.yaml``, ``none``)."""
    items = [str(p) for p in entries]
    named = [e for e in items if e != NO_BUILTIN and is_table_name(e)]
    parts = [PAPER] if builtin and NO_BUILTIN not in items and not named else []
    parts += [e for e in items if e != NO_BUILTIN]
    return " + ".join(parts) or "none"


def build_alias_table(entries: Iterable[str | Path], builtin: bool) -> AliasTable:
    """The default table (if ``builtin``) updated with each entry in order.

    An entry is a table name (``paper-2025``, ``builtin-extended``, ``builtin``) or an
    alias file; an unknown name is an error with a did-you-mean suggestion.
    ``-builtin`` leaves the default table out even for EntityQuestions.
    """
    items = [str(p) for p in entries]
    named = [e for e in items if e != NO_BUILTIN and is_table_name(e)]
    for e in named:
        get_alias_table(e)  # validate every name before any work
    use_default = builtin and NO_BUILTIN not in items and not named
    table = AliasTable(builtin_aliases() if use_default else None)
    for e in items:
        if e == NO_BUILTIN:
            continue
        table.update(get_alias_table(e) if e in named else load_alias_file(e))
    return table
