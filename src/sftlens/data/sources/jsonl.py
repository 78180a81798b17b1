"""``jsonl:PATH``: users' own facts, one JSON object per line (schema in ``rows.py``).

Example::

    python -m sftlens.data jsonl:my_facts.jsonl
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sftlens.data.context import LoadContext
from sftlens.data.records import Fact, Relation
from sftlens.data.relation_templates import TemplateSpec
from sftlens.data.sources.rows import REQUIRED, fact_from_row
from sftlens.errors import DataError


def iter_rows(path: Path, ctx: LoadContext) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, object)`` per non-blank line; malformed lines go to ``ctx.problems``."""
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                ctx.problems.report(f"{path}:{n}", f"not valid UTF-8 (column {err.start + 1})")
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                ctx.problems.report(f"{path}:{n}", f"malformed JSON ({err.msg})")
                continue
            except RecursionError:
                ctx.problems.report(f"{path}:{n}", "JSON nested too deeply")
                continue
            if not isinstance(row, dict):
                ctx.problems.report(
                    f"{path}:{n}", f"expected a JSON object, got {type(row).__name__}"
                )
                continue
            yield n, row


def read_facts(
    path: Path,
    templates: dict[str, TemplateSpec],
    ctx: LoadContext,
    source: str,
    required: tuple[str, ...] = REQUIRED,
) -> list[Fact]:
    """Facts of a JSONL file; bad lines and duplicate ids go to ``ctx.problems`` (file:line)."""
    if not path.is_file():
        raise DataError(f"{source}: {path} not found")
    facts: list[Fact] = []
    seen: set[str] = set()
    rows, problems_before = 0, ctx.problems.count
    for line, row in iter_rows(path, ctx):
        rows += 1
        fact = fact_from_row(row, f"{path}:{line}", templates, ctx, source, required)
        if fact is None:
            continue
        if fact.id in seen:
            ctx.problems.report(f"{path}:{line}", f"duplicate id {fact.id}")
            continue
        seen.add(fact.id)
        facts.append(fact)
    if rows == 0 and ctx.problems.count == problems_before:
        raise DataError(f"{source}: {path} is empty: no facts")
    return facts


def relations_for(
    facts: list[Fact], templates: dict[str, TemplateSpec], ctx: LoadContext
) -> dict[str, Relation]:
    """Relations used by ``facts``; domain from the preset, else from the facts."""
    out: dict[str, Relation] = {}
    for fact in facts:
        if fact.relation not in out:
            domain = ctx.preset.domain_of(fact.relation) or fact.domain
            out[fact.relation] = ctx.relation(fact.relation, templates[fact.relation], domain)
    return out


def load(
    arg: str, templates: dict[str, TemplateSpec], ctx: LoadContext
) -> tuple[list[Fact], dict[str, Relation]]:
    facts = read_facts(Path(arg).expanduser(), templates, ctx, "jsonl")
    return facts, relations_for(facts, templates, ctx)
