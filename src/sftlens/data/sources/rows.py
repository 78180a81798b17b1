"""Generic fact rows (JSONL): the schema shared by ``jsonl:PATH`` and the world's facts.

One JSON object per line:

- required: ``id`` (unique), ``relation``, ``question``, and ``answers`` (non-empty
  list; ``answers[0]`` is the canonical object) or ``object`` (a string);
- optional: ``subject`` (recovered from the question with the relation's question
  template when absent), ``aliases`` (list), ``domain`` (``in``/``ood``; default from
  the split preset), ``split`` (``train``/``dev``/``test``; default ``train``),
  ``role`` (default ``pool``), ``exposure`` (int), ``meta`` (object).

Example::

    python -m sftlens.data jsonl:my_facts.jsonl --templates my_templates.yaml
"""

from __future__ import annotations

import json
from typing import Any

from sftlens.data.context import DOMAINS, SPLITS, LoadContext
from sftlens.data.records import Domain, Fact
from sftlens.data.relation_templates import TemplateSpec, fit_subject


def _answers(row: dict[str, Any]) -> tuple[tuple[str, ...] | None, str | None]:
    if "answers" in row:
        ans = row["answers"]
        if not isinstance(ans, list):
            return (
                None,
                f"'answers' must be a list of strings, got {type(ans).__name__} (e.g. [\"Rome\"])",
            )
        if not ans:
            return None, "empty answers"
    elif "object" in row:
        ans = [row["object"]]
    else:
        return None, "missing field 'answers' (or 'object')"
    if not all(isinstance(a, str) and a.strip() for a in ans):
        return None, "empty answers" if not any(
            isinstance(a, str) and a.strip() for a in ans
        ) else ("answers must be non-empty strings")
    return tuple(ans), None


def _field_error(row: dict[str, Any], required: tuple[str, ...]) -> str | None:
    for key in required:
        if key not in row:
            return f"missing field '{key}'"
        if not isinstance(row[key], str) or not row[key].strip():
            return f"'{key}' must be a non-empty string"
    if "domain" in row and row["domain"] not in DOMAINS:
        return f"domain must be one of {', '.join(DOMAINS)}, got {row['domain']!r}"
    if "split" in row and row["split"] not in SPLITS:
        return f"split must be one of {', '.join(SPLITS)}, got {row['split']!r}"
    aliases = row.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        return f"'aliases' must be a list of strings, got {json.dumps(aliases)[:60]}"
    if row.get("role") is not None and row["role"] not in ROLES:
        return f"role must be one of {', '.join(ROLES)}, got {row['role']!r}"
    if row.get("meta") is not None and not isinstance(row["meta"], dict):
        return f"'meta' must be a JSON object, got {type(row['meta']).__name__}"
    exposure = row.get("exposure")
    if exposure is not None and (not isinstance(exposure, int) or isinstance(exposure, bool)):
        return "'exposure' must be an integer"
    return None


ROLES = ("pool", "pretrain_qa")  # what a fact is for (pretrain_qa: a world's pretraining QA)


REQUIRED = ("id", "relation", "question")  # fields every generic JSONL fact row must have


def _row_answers(
    row: dict[str, Any], required: tuple[str, ...], known: bool, ctx: LoadContext
) -> tuple[tuple[str, ...] | None, str | None]:
    """(the row's answers, the first problem of the row or None); ``known``: its relation has
    templates."""
    err = _field_error(row, required)
    answers, ans_err = (None, None) if err else _answers(row)
    err = err or ans_err
    if err is None and not known:
        rel = str(row.get("relation"))
        given = (
            f"it is not in the relations file {ctx.templates_path}" if ctx.templates_path else ""
        )
        err = f"unknown relation id {rel!r}: {given or 'give its templates with --relations FILE.yaml'}"
    return answers, err


def fact_from_row(
    row: dict[str, Any],
    where: str,
    templates: dict[str, TemplateSpec],
    ctx: LoadContext,
    source: str,
    required: tuple[str, ...] = REQUIRED,
    default_domain: Domain | None = None,
) -> Fact | None:
    """A :class:`Fact` from ``row``, or None after reporting the problem to ``ctx``.

    Rows whose domain is neither given nor set by the preset are dropped (counted
    in ``ctx.dropped``).
    """
    rel = str(row.get("relation"))
    answers, err = _row_answers(row, required, rel in templates, ctx)
    if err is not None:
        ctx.problems.report(
            f"{where} ({row['id']})" if isinstance(row.get("id"), str) else where, err
        )
        return None
    subject = row.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        qt = templates[rel]["question"]
        subject = fit_subject(row["question"], qt)
        if subject is None:
            msg = f"question {row['question']!r} does not fit the template {qt!r}"
            ctx.problems.report(f"{where} ({row['id']})", msg)
            return None
    domain = row.get("domain") or default_domain or ctx.preset.domain_of(rel)
    if domain is None:
        ctx.dropped[rel] += 1
        return None
    answers = answers or ()
    return Fact(
        id=row["id"],
        relation=rel,
        subject=subject,
        question=row["question"],
        answers=answers,
        aliases=ctx.aliases.expand(answers, row.get("aliases") or ()),
        domain=domain,
        split=row.get("split", "train"),
        source=source,
        exposure=row.get("exposure"),
        role=row.get("role") or "pool",
        meta=dict(row.get("meta") or {}),
    )
