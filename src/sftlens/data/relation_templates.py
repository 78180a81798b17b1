"""Relation templates kept as YAML data: question template and statement templates.

The package ships ``templates/entityquestions.yaml`` (all 24 EntityQuestions
relations).  A user file in the same format overrides or adds relations; keys it
gives replace the shipped ones per relation::

    relations:
      P19:
        name: place of birth
        question: "Where was {subject} born?"
        statements: ["{subject} was born in", "{subject}'s birthplace is"]

Example::

    python -m sftlens.data entityquestions:../shared/data/entityquestions --templates my_templates.yaml
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sftlens.errors import DataError

PLACEHOLDER = "{subject}"
FIELDS = ("name", "question", "statements")

TemplateSpec = dict[str, Any]  # {"name": str, "question": str, "statements": list[str]}


def _read_yaml(path: Path | str, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DataError(f"{path}{line}: malformed YAML ({getattr(err, 'problem', err)})") from None


def parse_templates(data: Any, where: str, partial: bool = False) -> dict[str, TemplateSpec]:
    """Validate a ``{relations: {id: {name, question, statements}}}`` mapping.

    With ``partial`` (override files) a relation may give only some keys.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("relations"), Mapping):
        raise DataError(f"{where}: expected a mapping with a 'relations' key")
    out: dict[str, TemplateSpec] = {}
    for rel, spec in data["relations"].items():
        at = f"{where}: relation {rel}"
        if not isinstance(spec, Mapping):
            raise DataError(f"{at}: expected a mapping of {', '.join(FIELDS)}")
        missing = [k for k in FIELDS if k not in spec]
        if missing and not partial:
            raise DataError(f"{at}: missing field '{missing[0]}'")
        clean: TemplateSpec = {}
        for key, value in spec.items():
            clean[key] = _check_field(at, key, value)
        out[str(rel)] = clean
    return out


def _check_field(at: str, key: str, value: Any) -> Any:
    if key in ("name", "domain"):
        if not isinstance(value, str) or not value:
            raise DataError(f"{at}: '{key}' must be a non-empty string")
        return value
    if key == "question":
        if not isinstance(value, str) or PLACEHOLDER not in value:
            raise DataError(f"{at}: 'question' must be a string containing {PLACEHOLDER}")
        return value
    if key == "statements":
        if not isinstance(value, list) or not value:
            raise DataError(f"{at}: 'statements' must be a non-empty list")
        for i, s in enumerate(value):
            if not isinstance(s, str) or PLACEHOLDER not in s:
                raise DataError(f"{at}: statement {i} must be a string containing {PLACEHOLDER}")
        return tuple(value)
    raise DataError(f"{at}: unknown key '{key}' (use {', '.join(FIELDS)})")


def load_template_file(path: str | Path, partial: bool = False) -> dict[str, TemplateSpec]:
    """Read and validate a template YAML file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"template file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{p}: not valid UTF-8 (byte offset {err.start})") from None
    return parse_templates(_read_yaml(p, text), str(p), partial)


@lru_cache(maxsize=1)
def builtin_templates() -> dict[str, TemplateSpec]:
    """The shipped EntityQuestions templates (validated, cached)."""
    res = resources.files("sftlens.data").joinpath("templates/entityquestions.yaml")
    where = "sftlens/data/templates/entityquestions.yaml"
    return parse_templates(_read_yaml(where, res.read_text(encoding="utf-8")), where)


def merge_templates(
    base: Mapping[str, TemplateSpec], override: Mapping[str, TemplateSpec], where: str
) -> dict[str, TemplateSpec]:
    """Per relation, keys in ``override`` replace ``base``; new relations must be complete."""
    out = {rel: dict(spec) for rel, spec in base.items()}
    for rel, spec in override.items():
        merged = {**out.get(rel, {}), **spec}
        missing = [k for k in FIELDS if k not in merged]
        if missing:
            raise DataError(f"{where}: relation {rel}: missing field '{missing[0]}'")
        out[rel] = merged
    return out


def resolve_templates(
    base: Mapping[str, TemplateSpec], override_path: str | Path | None
) -> dict[str, TemplateSpec]:
    """``base`` with the user's override file (if any) applied."""
    if override_path is None:
        return dict(base)
    return merge_templates(
        base, load_template_file(override_path, partial=True), str(override_path)
    )


def fit_subject(question: str, template: str) -> str | None:
    """Recover the subject from ``question`` by ``template`` (``{subject}``), or None."""
    prefix, _, suffix = template.partition(PLACEHOLDER)
    if len(question) <= len(prefix) + len(suffix):
        return None
    if not (question.startswith(prefix) and question.endswith(suffix)):
        return None
    subject = question[len(prefix) : len(question) - len(suffix)]
    return subject if subject.strip() else None
