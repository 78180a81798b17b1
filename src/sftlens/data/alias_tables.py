"""Alias tables: an object name maps to the other names accepted for it.

The package ships ``aliases/entityquestions.yaml`` for EntityQuestions' frequent
objects (including the paper's Table 12).  User files add to it; they may be YAML
(``aliases: {object: [name, ...]}``) or JSON (``{object: [name, ...]}``, keys
starting with ``_`` ignored), so the paper's ``aliases.json`` works as is.  Lookup
is by exact object name, then by its normalised form (case, spacing, accents).
Tables are one-way: "Harvard Law School" accepting "Harvard University" does not
make "Harvard Law School" correct for a Harvard University fact.

Example::

    python -m sftlens.data entityquestions:../shared/data/entityquestions --aliases my_aliases.yaml
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sftlens.data.matching import normalize_tokens
from sftlens.errors import DataError

BUILTIN = "builtin"


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
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{p}:{err.lineno}: malformed JSON ({err.msg})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DataError(f"{p}{line}: malformed YAML") from None
    return parse_aliases(data, str(p))


@lru_cache(maxsize=1)
def builtin_aliases() -> dict[str, tuple[str, ...]]:
    """The shipped EntityQuestions alias table."""
    res = resources.files("sftlens.data").joinpath("aliases/entityquestions.yaml")
    return parse_aliases(yaml.safe_load(res.read_text(encoding="utf-8")), "builtin aliases")


def build_alias_table(paths: Iterable[str | Path], builtin: bool) -> AliasTable:
    """The builtin table (if ``builtin``) updated with each user file in order.

    The name ``builtin`` in ``paths`` adds the shipped table for any source;
    ``-builtin`` leaves it out even for EntityQuestions.
    """
    paths = [str(p) for p in paths]
    use_builtin = (builtin or BUILTIN in paths) and f"-{BUILTIN}" not in paths
    table = AliasTable(builtin_aliases() if use_builtin else None)
    for p in paths:
        if p not in (BUILTIN, f"-{BUILTIN}"):
            table.update(load_alias_file(p))
    return table
