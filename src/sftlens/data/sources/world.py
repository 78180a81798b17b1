"""``world:DIR``: the knowledge world written by ``sftlens world build``.

Reads ``DIR/world/facts.jsonl`` (rows ``id, relation, subject, object, aliases[],
question, exposure, domain, role, split``) and ``DIR/world/relations.yaml``
(``relations: {id: {name, domain, question, statements}}``).  Facts keep their own
domain, split, role and exposure; the split preset does not re-assign them.
``DIR`` may also be the ``world/`` folder itself.

Example::

    python -m sftlens.data world:runs/world
"""

from __future__ import annotations

from pathlib import Path

from sftlens.data.context import DOMAINS, LoadContext
from sftlens.data.records import Domain, Fact, Relation
from sftlens.data.relation_templates import (
    TemplateSpec,
    load_template_file,
    merge_templates,
    resolve_templates,
)
from sftlens.data.sources.jsonl import read_facts
from sftlens.errors import DataError

REQUIRED = ("id", "relation", "subject", "question", "domain", "split")


def world_dir(arg: str) -> Path:
    """The folder holding ``facts.jsonl`` and ``relations.yaml``."""
    p = Path(arg).expanduser()
    for cand in (p / "world", p):
        if (cand / "facts.jsonl").is_file():
            return cand
    raise DataError(f"world: no world/facts.jsonl under {p} (build one with `sftlens world build`)")


def load(
    arg: str, base_templates: dict[str, TemplateSpec], ctx: LoadContext
) -> tuple[list[Fact], dict[str, Relation]]:
    """Facts and relations of a built world (``base_templates`` is unused: the world
    brings its own templates; a user templates file still overrides them)."""
    wdir = world_dir(arg)
    rel_path = wdir / "relations.yaml"
    templates = merge_templates({}, load_template_file(rel_path), str(rel_path))
    templates = resolve_templates(templates, ctx.templates_path)
    facts = read_facts(wdir / "facts.jsonl", templates, ctx, "world", REQUIRED)
    relations = {}
    for rel, spec in templates.items():
        domain: Domain = spec.get("domain") or ctx.preset.domain_of(rel) or "in"
        if domain not in DOMAINS:
            raise DataError(f"{rel_path}: relation {rel}: domain must be 'in' or 'ood'")
        relations[rel] = ctx.relation(rel, spec, domain)
    return facts, relations
