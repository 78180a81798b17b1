"""``load_dataset``: data spec string → :class:`Dataset`.

Specs: ``entityquestions:DIR`` (or plain ``entityquestions`` for the cache),
``world:DIR``, ``jsonl:PATH``, ``geo:[OPTIONS]`` (built from pip packages).

Example::

    python -m sftlens.data entityquestions:../shared/data/entityquestions --split-preset paper-2025
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sftlens.data.alias_tables import build_alias_table, describe_alias_table
from sftlens.data.context import LoadContext
from sftlens.data.dataset import Dataset
from sftlens.data.download import locate_entityquestions
from sftlens.data.invalid import Problems
from sftlens.data.records import Fact, Relation
from sftlens.data.relation_templates import TemplateSpec, builtin_templates, resolve_templates
from sftlens.data.sources import entityquestions, geo, jsonl, world
from sftlens.data.splits import get_split_preset
from sftlens.errors import DataError
from sftlens.registry import Registry

log = logging.getLogger(__name__)

Loader = Callable[
    [str, dict[str, TemplateSpec], LoadContext], tuple[list[Fact], dict[str, Relation]]
]

SOURCES: Registry[Loader] = Registry("data source")
SOURCES.add("entityquestions", entityquestions.load)
SOURCES.add("world", world.load)
SOURCES.add("jsonl", jsonl.load)
SOURCES.add("geo", geo.load)
OWN_TEMPLATES = ("world", "geo")  # sources that bring their relation templates
NO_PATH = ("geo",)  # sources whose argument is optional


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building ~10^5 long-lived records (they hold no cycles;
    collections triggered by the allocations alone cost about as much as the parse)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def first_per_relation(facts: Sequence[Fact], limit: int) -> list[Fact]:
    """The first ``limit`` facts of each (relation, split), in the given order."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for fact in facts:
        key = (fact.relation, fact.split)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= limit:
            out.append(fact)
    return out


_RELATION_FIELD = re.compile(rb'"relation"\s*:\s*"([^"]*)"')


def declares_paper_relations(path: str | Path) -> bool:
    """Whether every relation a JSONL file names is one of the paper's (EntityQuestions')
    relations: such a file gets the paper's alias table, as ``entityquestions:`` does."""
    paper = set(builtin_templates())
    found: set[str] = set()
    try:
        with Path(path).expanduser().open("rb") as fh:
            for line in fh:
                found.update(m.decode("utf-8", "replace") for m in _RELATION_FIELD.findall(line))
    except OSError:
        return False  # the loader names the file
    return bool(found) and found <= paper


def parse_spec(spec: str) -> tuple[str, str]:
    """``"kind:arg"`` → ``(kind, arg)``; a bare ``entityquestions`` means the cache,
    a bare ``geo`` the default options."""
    kind, sep, arg = spec.partition(":")
    if not sep and kind == "entityquestions":
        return kind, str(locate_entityquestions())
    SOURCES.get(kind)  # did-you-mean error for unknown kinds
    if kind in NO_PATH:
        return kind, arg
    if not arg:
        raise DataError(f"data spec '{spec}' needs a path: {kind}:PATH")
    return kind, arg


def _log_left_out(spec: str, split_preset: str, ctx: LoadContext, facts: Sequence[object]) -> None:
    """Log the facts the preset dropped and the filter left out (and an empty result)."""
    if ctx.dropped:
        log.info(
            "%s: dropped %d facts of relations outside split preset %s: %s",
            spec, sum(ctx.dropped.values()), split_preset, ", ".join(sorted(ctx.dropped)),
        )  # fmt: skip
    if ctx.filtered:
        log.info(
            "%s: left out %d facts whose accepted answer is in the question (%s)", spec,
            sum(ctx.filtered.values()), ", ".join(f"{r} {n}" for r, n in sorted(ctx.filtered.items())),
        )  # fmt: skip
    if not facts:
        log.warning("%s: no facts loaded", spec)


def load_dataset(
    spec: str,
    split_preset: str = "paper-2025",
    templates: str | Path | None = None,
    aliases: Sequence[str | Path] = (),
    skip_invalid: bool = False,
    *,
    n_templates: int | None = None,
    limit: int | None = None,
) -> Dataset:
    """Load the facts and relations a data spec names.

    Args:
        spec: ``entityquestions:DIR``, ``world:DIR``, ``jsonl:PATH`` or ``geo:[OPTIONS]``.
        split_preset: in-domain / OOD assignment (``paper-2025``, ``slick-2024``).
        templates: a YAML file overriding or adding relation templates.
        aliases: alias table names and alias files (YAML/JSON), applied in order.
            EntityQuestions, and a ``jsonl:`` file whose relations are all the paper's,
            get the paper's table (``paper-2025``, Table 12) unless a table is named
            (``builtin-extended`` = the paper's + sftlens' additions) or ``-builtin`` is
            given; other sources get a table only when named.
        skip_invalid: skip and count bad records instead of raising ``DataError``.
        n_templates: keep the first n statement templates per relation (None = all).
        limit: keep the first ``limit`` facts of each relation in each split, in the
            source's order (the one meaning of ``limit`` in every stage).
    """
    kind, arg = parse_spec(spec)
    builtin = kind == "entityquestions" or (kind == "jsonl" and declares_paper_relations(arg))
    ctx = LoadContext(
        spec=spec,
        preset=get_split_preset(split_preset),
        templates_path=templates,
        aliases=build_alias_table(aliases, builtin=builtin),
        problems=Problems(skip_invalid),
        n_templates=n_templates,
    )
    base = resolve_templates(builtin_templates(), templates) if kind not in OWN_TEMPLATES else {}
    with _gc_paused():
        facts, relations = SOURCES.get(kind)(arg, base, ctx)
    ctx.problems.log_summary(spec)
    if limit is not None:
        facts = first_per_relation(facts, limit)
    _log_left_out(spec, split_preset, ctx, facts)
    return Dataset(
        facts, relations, n_skipped=ctx.problems.count, skipped=list(ctx.problems.messages),
        dropped=dict(ctx.dropped), spec=spec, alias_table=describe_alias_table(aliases, builtin),
        filtered=dict(ctx.filtered),
    )  # fmt: skip
