"""The pieces of ``sftlens``'s command table: :class:`Stage` (a subcommand), :class:`Opt` (a flag
that sets a config key) and the flags several stages share (model, data options, device, the
checkpoint pair).

Example::

    Stage("fine-tune a model", "...", "sftlens.finetuning.config:FinetuneConfig",
          "sftlens.finetuning.stage:run", opts=(MODEL, *DATA_OPTS, SEED, DEVICE))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Opt:
    """A flag that sets config key ``key`` (dotted)."""

    flags: tuple[str, ...]
    key: str
    help: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """A subcommand: its config class and run function as ``module:name``."""

    help: str
    description: str
    config: str
    func: str
    opts: tuple[Opt, ...] = ()
    needs_out: bool = True
    positional: tuple[tuple[str, str, str], ...] = ()  # (name, config key or "", help)


def flag(*flags: str, key: str, help: str, **kwargs: Any) -> Opt:
    return Opt(tuple(flags), key, help, kwargs)


MODEL = flag("--model", key="model", help="HF hub id, local checkpoint dir or .gguf file")
DATA = flag(
    "--data",
    key="data",
    help="data spec: entityquestions:DIR | world:DIR | jsonl:PATH | geo:[OPTIONS]",
)
RELATIONS = flag(
    "--relations",
    key="relations",
    help="YAML file of relation templates (question + statements) for your own relations",
)
ALIASES = flag(
    "--aliases",
    key="aliases",
    help="alias table names (paper-2025, builtin-extended) or files, comma list",
)
LIMIT = flag(
    "--limit",
    key="limit",
    help="first N facts per relation and split (same in every stage)",
    type=int,
)
DATA_OPTS = (DATA, RELATIONS, ALIASES, LIMIT)
SEED = flag("--seed", key="seed", help="random seed", type=int)
DEVICE = flag("--device", key="device", help="auto | cpu | cuda[:N]")
R_DTYPE = flag(
    "--r-dtype", key="r_dtype", help="dtype of r: float32 (default) | model (paper's code)"
)
BASE = flag("--base", key="base", help="base checkpoint dir (or .gguf file)")
TUNED = flag("--tuned", key="tuned", help="fine-tuned checkpoint dir")
REGION = flag("--region", key="region", help="transformer | attention | mlp | layers=A-B | glob")
CHECKPOINT_PAIR = (BASE, TUNED, REGION)
