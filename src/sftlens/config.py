"""Typed configs: pydantic models loaded from YAML with ``key=value`` overrides.

Every stage defines its config as a subclass of :class:`StageConfig` in
``sftlens/<stage>/config.py`` (no heavy imports there, so ``--help`` is fast).

Example::

    cfg = load_config(ProbeConfig, "configs/probe.yaml", ["samples=5", "sampling.temperature=0.5"])

Unknown keys fail with a suggestion (``unknown key 'sampels'; did you mean 'samples'?``);
values are validated by pydantic and errors name the dotted key.  Every float setting must be
finite (``nan``/``inf`` are refused by :class:`StageConfig`); signs and bounds come from the
shared constrained types below (``PositiveFloat``, ``Probability``, ``Seed``, ...), and a
list-valued setting takes ``a``, ``a,b`` or ``[a,b]``.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sftlens.errors import ConfigError
from sftlens.registry import suggest

C = TypeVar("C", bound="StageConfig")

#: the shared constrained types of numeric settings (every float is also finite: StageConfig)
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
#: a share or probability in [0, 1]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
#: a rate that must leave something: [0, 1)
OpenProbability = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
#: a percentage in (0, 100]
Percent = Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
#: a random seed (what numpy, torch and ``random`` all accept)
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


def _is_list_type(annotation: Any) -> bool:
    """Whether ``annotation`` is ``list[...]`` or ``list[...] | None`` (no scalar alternative)."""
    if typing.get_origin(annotation) is list:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(typing.get_origin(a) is list for a in args)
    return False


def as_list(value: Any) -> Any:
    """``"a,b"`` → ``["a", "b"]``, ``"a"`` / ``3`` → a one-item list; lists pass unchanged."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    return value


class StageConfig(BaseModel):
    """Base class of all configs: strict keys, finite floats, validated on assignment.

    A list-valued setting (``list[...]`` or ``list[...] | None``) takes ``a``, ``a,b``
    or ``[a,b]`` (see :func:`as_list`).
    """

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, protected_namespaces=(), allow_inf_nan=False
    )

    @model_validator(mode="before")
    @classmethod
    def _lists_from_scalars(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        lists = [k for k, f in cls.model_fields.items() if _is_list_type(f.annotation)]
        fixed = {k: as_list(data[k]) for k in lists if k in data}
        return {**data, **fixed} if fixed else data

    @classmethod
    def refused_key(cls, key: str) -> str | None:
        """Why ``key`` may not be set here although a related config has it (None: unknown)."""
        return None


class DataOptions(StageConfig):
    """How a stage reads its facts: shared by every stage that loads data (one meaning each).

    Attributes:
        data: data spec (``entityquestions:DIR``, ``world:DIR``, ``jsonl:PATH``, ``geo:[OPTIONS]``).
        split_preset: which relations are in-domain / out-of-domain.
        relations: a YAML file of relation templates (question + statement templates per
            relation) for relations the shipped table lacks, e.g. those of a ``jsonl:`` file.
        aliases: alias files (YAML/JSON) added to the alias table that answers match against.
        limit: keep the first ``limit`` facts of each relation in each split, in the data's
            order (applied by the loader, so every stage sees the same facts).
    """

    data: str | None = None
    split_preset: str = "paper-2025"
    relations: str | None = None
    aliases: list[str] = Field(default_factory=list)
    limit: PositiveInt | None = None

    @field_validator("aliases", mode="before")
    @classmethod
    def _aliases_as_list(cls, value: object) -> object:
        return [] if value is None else value

    def data_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`sftlens.data.load_dataset` (beside the spec)."""
        return {
            "split_preset": self.split_preset,
            "templates": self.relations,
            "aliases": list(self.aliases),
            "limit": self.limit,
        }


class DomainChoice(StageConfig):
    """Which domains of the facts a stage reads.

    Attributes:
        domains: which domains to use (``in``, ``ood``).
    """

    domains: list[Literal["in", "ood"]] = ["in", "ood"]

    @field_validator("domains")
    @classmethod
    def _domains_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one domain is needed")
        return list(dict.fromkeys(value))


class FactSelectionConfig(DataOptions, DomainChoice):
    """The settings shared by stages that read test facts with the base model's levels.

    Attributes:
        mastery: the BASE model's ``mastery.parquet`` (test facts take their level from it).
        split: which split of the data to use.
        device: ``auto | cpu | cuda[:N]``.
        dtype: ``auto | float32 | bfloat16 | float16``.
        (data, split_preset, relations, aliases, limit: see :class:`DataOptions`; domains: see
        :class:`DomainChoice`.)
    """

    mastery: str | None = None
    split: Literal["train", "dev", "test"] = "test"
    device: str = "auto"
    dtype: str = "auto"


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``annotation`` (``X``, ``X | None``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = nested_model(arg)
        if found is not None:
            return found
    return None


def check_keys(cls: type[BaseModel], data: Any, prefix: str = "") -> None:
    """Reject keys that ``cls`` does not define, recursively, with a suggestion."""
    if not isinstance(data, dict):
        return
    fields = cls.model_fields
    for key, value in data.items():
        refused = cls.refused_key(str(key)) if issubclass(cls, StageConfig) else None
        if refused is not None:
            raise ConfigError(f"key '{prefix}{key}' {refused}")
        if key not in fields:
            where = f" in '{prefix.rstrip('.')}'" if prefix else ""
            raise ConfigError(
                f"unknown key '{prefix}{key}'{where}{suggest(str(key), list(fields))}"
            )
        sub = nested_model(fields[key].annotation)
        if sub is not None:
            check_keys(sub, value, prefix=f"{prefix}{key}.")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=3"`` → (["a", "b"], 3); the value is parsed as YAML (``1,2`` → "1,2")."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' is not of the form key=value")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override '{text}' has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and "," in value and not raw.strip().startswith(("'", '"')):
        value = [yaml.safe_load(v) for v in value.split(",")]
    return key.strip().split("."), value


def set_key(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``data[a][b]... = value`` for ``path = [a, b, ...]``, copying nested dicts."""
    node = data
    for part in path[:-1]:
        child = node.get(part)
        child = dict(child) if isinstance(child, dict) else {}
        node[part] = child
        node = child
    node[path[-1]] = value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``key=value`` override set."""
    out: dict[str, Any] = dict(data)
    for text in overrides:
        path, value = parse_override(text)
        set_key(out, path, value)
    return out


def _format_error(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "<root>"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    value = first.get("input")
    got = f" (got {value!r})" if isinstance(value, (int, float, str)) and loc != "<root>" else ""
    return f"{source}: key '{loc}': {first['msg']}{got}{more}"


def build_config(cls: type[C], data: dict[str, Any], source: str = "config") -> C:
    """Validate ``data`` into ``cls`` with one-line errors."""
    check_keys(cls, data)
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_error(err, source)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; one-line error naming the file on failure."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise ConfigError(f"{p}: not valid UTF-8 (byte offset {err.start})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}{line}: invalid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping, got {type(data).__name__}")
    return data


def load_config(
    cls: type[C],
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
) -> C:
    """Build ``cls`` from ``base`` ← YAML file ← ``values`` (dotted keys) ← overrides."""
    data: dict[str, Any] = dict(base or {})
    source = "config"
    if path is not None:
        data.update(read_yaml(path))
        source = str(path)
    for key, value in (values or {}).items():
        set_key(data, key.split("."), value)
    data = apply_overrides(data, overrides or [])
    return build_config(cls, data, source=source)


def require_keys(cfg: BaseModel, *keys: str) -> None:
    """Raise ``ConfigError`` naming the first of ``keys`` that is unset (``None`` or empty)."""
    for key in keys:
        if getattr(cfg, key) in (None, ""):
            raise ConfigError(f"'{key}' is required (flag --{key} or {key}=...)")


def dump_config(cfg: BaseModel) -> dict[str, Any]:
    """Plain JSON-able dict of a config (for manifests and hashes)."""
    return cfg.model_dump(mode="json")
