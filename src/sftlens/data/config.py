"""``DataConfig``: the data settings a stage config can embed (no heavy imports).

Example (in a stage's YAML)::

    data:
      spec: entityquestions:../shared/data/entityquestions
      split_preset: paper-2025
      aliases: [my_aliases.yaml]
      skip_invalid: true
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sftlens.config import PositiveInt, StageConfig

if TYPE_CHECKING:
    from sftlens.data.dataset import Dataset


class DataConfig(StageConfig):
    """Arguments of :func:`sftlens.data.load_dataset`, as a validated config.

    Attributes:
        spec: data spec (``entityquestions:DIR``, ``world:DIR``, ``jsonl:PATH``).
        split_preset: which relations are in-domain / out-of-domain.
        templates: a YAML file of relation templates for relations the shipped table lacks.
        aliases: alias table names (``paper-2025``, ``builtin-extended``) or files.
        skip_invalid: skip and count bad records instead of failing on the first.
        n_templates: keep the first n statement templates per relation (None = all).
        limit: keep the first ``limit`` facts of each relation in each split.
    """

    spec: str
    split_preset: str = "paper-2025"
    templates: str | None = None
    aliases: list[str] = []
    skip_invalid: bool = False
    n_templates: PositiveInt | None = None
    limit: PositiveInt | None = None

    def load(self) -> Dataset:
        from sftlens.data.loading import load_dataset

        return load_dataset(
            self.spec,
            self.split_preset,
            self.templates,
            self.aliases,
            self.skip_invalid,
            n_templates=self.n_templates,
            limit=self.limit,
        )


def check_data(cfg: DataConfig, _target: Path, *, force: bool = False) -> Dataset:
    """``sftlens data SPEC``: load the data (one-line error on bad records); its summary prints."""
    from sftlens.errors import DataError

    dataset = cfg.load()
    if not dataset.facts:
        raise DataError(f"{cfg.spec}: no facts loaded")
    return dataset
