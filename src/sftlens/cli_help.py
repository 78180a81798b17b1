"""``sftlens <command> --help``: every ``key=value`` setting of the stage, from its config class.

The list is generated from the pydantic config (field types, defaults, ``Field`` descriptions
and the ``Attributes:`` sections of the class docstrings), so it cannot drift from the code.
Nested configs are listed with dotted keys (``lora.r``).

Example::

    from sftlens.finetuning.config import FinetuneConfig
    print(settings_help(FinetuneConfig))   # "  lr  float > 0 = 1e-05  peak learning rate ..."
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sftlens.cli_errors import OneLineParser
from sftlens.config import nested_model

_ATTR = re.compile(r"^\s{4,8}([A-Za-z_][\w ,/()]*?):\s+(.*)$")
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)`'\"]\.)\s+(?=[A-Z(`])")
_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def _docstring_lines(cls: type) -> dict[str, str]:
    """``{field: first sentence}`` from the ``Attributes:`` section of ``cls``'s own docstring."""
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    if "Attributes:" not in doc:
        return {}
    entries: list[tuple[str, list[str]]] = []
    for line in doc.split("Attributes:", 1)[1].splitlines():
        match = _ATTR.match("    " + line)
        if match is not None and not line.startswith("        "):
            entries.append((match.group(1), [match.group(2).strip()]))
        elif entries and line.startswith("        "):
            entries[-1][1].append(line.strip())
        elif line.strip() and not line.startswith(" "):
            break  # the next docstring section
    out: dict[str, str] = {}
    for names, parts in entries:
        if names.startswith("("):  # "(data, split_preset: see DataOptions.)"
            continue
        text = " ".join(parts)
        first = _SENTENCE_END.split(text, maxsplit=1)[0]
        for name in re.split(r"\s*[/,]\s*", names):
            out.setdefault(name.strip(), first)
    return out


def field_descriptions(cls: type[BaseModel]) -> dict[str, str]:
    """One line per field of ``cls``: its ``Field`` description, else its docstring line
    (looked up along the class's bases, so inherited settings keep their line)."""
    docs: dict[str, str] = {}
    for klass in cls.__mro__:
        for name, text in _docstring_lines(klass).items():
            docs.setdefault(name, text)
    return {
        name: (info.description or docs.get(name, "")).split("\n")[0]
        for name, info in cls.model_fields.items()
    }


def _metadata(info: FieldInfo) -> list[Any]:
    """Constraints of a field, also those of an ``Annotated`` type inside ``X | None``."""
    found = list(info.metadata)
    for arg in typing.get_args(info.annotation):
        if typing.get_origin(arg) is typing.Annotated:
            found += [m for m in typing.get_args(arg)[1:] if not isinstance(m, FieldInfo)]
            found += [
                x for m in typing.get_args(arg)[1:] if isinstance(m, FieldInfo) for x in m.metadata
            ]
    return found


def _bounds(info: FieldInfo) -> str:
    parts = []
    for item in _metadata(info):
        for attr, sign in _BOUNDS:
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{sign} {value:g}" if isinstance(value, float) else f"{sign} {value}")
    return ", ".join(parts)


def type_name(annotation: Any) -> str:
    """A short readable name of a field type (``int``, ``list[str]``, ``in | ood``, ...)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(str(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join(type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "(see below)"
    return repr(value) if isinstance(value, str) else str(value)


def settings_rows(cls: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """``(dotted key, type, default, one line)`` for every setting of ``cls``, nested included."""
    rows = []
    docs = field_descriptions(cls)
    for name, info in cls.model_fields.items():
        nested = nested_model(info.annotation)
        kind = type_name(info.annotation)
        bounds = _bounds(info)
        kind = f"{kind} {bounds}" if bounds else kind
        rows.append((prefix + name, kind, _default(info), docs[name]))
        if nested is not None:
            rows.extend(settings_rows(nested, f"{prefix}{name}."))
    return rows


def settings_help(cls: type[BaseModel]) -> str:
    """The settings section of a stage's ``--help``."""
    lines = ["settings (key=value after the flags; YAML keys of --config):"]
    for key, kind, default, text in settings_rows(cls):
        lines.append(f"  {key}  [{kind}, default {default}]")
        if text:
            lines.append(f"      {text}")
    return "\n".join(lines)


class StageParser(OneLineParser):
    """A subcommand's parser whose ``--help`` ends with the stage config's settings.

    ``settings_of`` is the config class as ``module:Name`` (imported only for ``--help``).
    """

    settings_of: str | None = None

    def format_help(self) -> str:
        text = super().format_help()
        if not self.settings_of:
            return text
        module, name = self.settings_of.split(":")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            return text
        return f"{text}\n{settings_help(cls)}\n"
