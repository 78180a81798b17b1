"""Config of ``sftlens select``: which SFT sets to build from a mastery table.

Example::

    sftlens select --mastery runs/probe/mastery.parquet --data world:runs/world \
        --levels 0,4,random --sizes 60,240,all --seeds 2 --out runs/sets
"""

from __future__ import annotations

import re

from pydantic import field_validator

from sftlens.config import DataOptions, PositiveInt, StageConfig

LEVEL_SPEC = re.compile(r"^(random|[0-4](\+[0-4])*)$")
DEFAULT_SIZES: list[int | str] = [60, 120, 240, 480, 960, 1920, "all"]


def _as_list(value: object) -> list[object]:
    """A list as given, or a comma-separated string / scalar (CLI flags) split into one."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [value]


class SelectSettings(StageConfig):
    """How a set is cut from its pool (the selection settings that a study may set).

    Attributes:
        allow_smaller: shrink a set that its pool cannot fill instead of failing.
    """

    allow_smaller: bool = False


class SelectConfig(DataOptions, SelectSettings):
    """Settings of the selection stage.

    Attributes:
        mastery: the base model's mastery table (``mastery.parquet`` from ``sftlens probe``).
        data: data spec of the facts (``world:DIR``, ``entityquestions:DIR``, ``jsonl:PATH``);
            when empty, taken from the probe run's ``manifest.json`` beside the table.
        split_preset: in-domain / OOD split preset passed to ``load_dataset``.
        levels: levels (``"0"``..``"4"``), mixes (``"0+1"``) or ``"random"`` (the paper's
            SFT (Mixed)).
        sizes: set sizes; ``"all"`` takes the whole pool.
        seeds: number of seeds (``0..seeds-1``).
        relations / aliases / limit: see :class:`sftlens.config.DataOptions`.
    """

    mastery: str | None = None
    levels: list[str] = ["0", "1", "2", "3", "4", "random"]
    sizes: list[int | str] = list(DEFAULT_SIZES)
    seeds: PositiveInt = 3

    @field_validator("levels", mode="before")
    @classmethod
    def _levels(cls, value: object) -> object:
        items = _as_list(value)
        out = [str(v).strip().removeprefix("L") for v in items]
        for item in out:
            if not LEVEL_SPEC.match(item):
                raise ValueError(f"level '{item}' is not 0..4, a mix like 0+1, or 'random'")
        if not out:
            raise ValueError("no levels given")
        return out

    @field_validator("sizes", mode="before")
    @classmethod
    def _sizes(cls, value: object) -> object:
        items = _as_list(value)
        out: list[int | str] = []
        for item in items:
            if isinstance(item, str) and item.strip().lower() == "all":
                out.append("all")
            elif isinstance(item, int) and not isinstance(item, bool) and item > 0:
                out.append(item)
            elif isinstance(item, str) and item.strip().isdigit() and int(item) > 0:
                out.append(int(item))
            else:
                raise ValueError(f"size '{item}' is not a positive integer or 'all'")
        if not out:
            raise ValueError("no sizes given")
        return out
