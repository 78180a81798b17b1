"""The study's shared state: :class:`StudyContext` (the config, the run directory, and the base
model, tokenizer, data and mastery table, each loaded once and lazily: a fully finished study
loads nothing) and :class:`Cell` (one fine-tune of the grid).

Example::

    ctx = StudyContext(cfg, RunDir("runs/x"))
    ctx.levels()                       # {fact id: base mastery level}, read once from the probe
    cfg.probe.config(**ctx.common(), model=cfg.base_model(), data=cfg.data_spec())
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftlens.runstore import RunDir
from sftlens.study.config import StudyConfig
from sftlens.tableio import read_table

#: the version of the unit keys' inputs (2: the paper probe does not cut completions at a newline)
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Cell:
    """One fine-tune of the grid."""

    level: str
    size: int | str
    seed: int

    @property
    def name(self) -> str:
        return f"L{self.level}-n{self.size}-s{self.seed}"


def model_fingerprint(model: str) -> dict[str, Any]:
    """What identifies the base model in unit keys: the hub id, or a local dir's files."""
    p = Path(model)
    if p.is_file():  # a .gguf file
        return {"file": {p.name: [p.stat().st_size, int(p.stat().st_mtime)]}}
    if not p.is_dir():
        return {"id": model}
    files = sorted(f for f in p.iterdir() if f.is_file())
    return {"files": {f.name: [f.stat().st_size, int(f.stat().st_mtime)] for f in files}}


class StudyContext:
    """Lazily loaded shared state of one study run (base model, data, mastery, sets)."""

    def __init__(self, cfg: StudyConfig, run_dir: RunDir) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self._cache: dict[str, Any] = {}

    def common(self) -> dict[str, Any]:
        """The values the study fills into every stage config that has them (its sections'
        ``config(**ctx.common(), ...)``)."""
        cfg = self.cfg
        return {
            "device": cfg.device, "dtype": cfg.dtype, "split_preset": cfg.split_preset,
            "relations": cfg.relations, "aliases": list(cfg.aliases), "limit": cfg.limit,
        }  # fmt: skip

    # --------------------------------------------------------------- lazy loads
    def _get(self, name: str, make: Any) -> Any:
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    def base(self, dtype: str | None = None) -> Any:
        """The base model, in the study's ``dtype`` unless another is given (``probe.dtype``)."""
        from sftlens.models import load_model

        dtype = dtype or self.cfg.dtype
        key = "base" if dtype == self.cfg.dtype else f"base-{dtype}"
        return self._get(key, lambda: load_model(self.cfg.base_model(), dtype, self.cfg.device))

    def tokenizer(self) -> Any:
        from sftlens.models import load_tokenizer

        return self._get("tok", lambda: load_tokenizer(self.cfg.base_model()))

    def dataset(self) -> Any:
        from sftlens.data import load_dataset

        spec, options = self.cfg.data_spec(), self.cfg.data_options()
        return self._get("data", lambda: load_dataset(spec, **options))

    def mastery_rows(self) -> list[dict[str, Any]]:
        path = self.run_dir.unit_dir("probe") / "mastery.parquet"
        return self._get("mastery", lambda: read_table(path))  # type: ignore[no-any-return]

    def levels(self) -> dict[str, int]:
        from sftlens.probing import levels_from_rows

        path = str(self.run_dir.unit_dir("probe") / "mastery.parquet")
        return self._get("levels", lambda: levels_from_rows(self.mastery_rows(), path))  # type: ignore[no-any-return]

    def probed_facts(self) -> list[Any]:
        """In-domain train facts (the SFT pool) and the facts of the evaluation splits
        (and of the dev split when ``finetune.lr: auto`` calibrates on it)."""
        splits = [*self.cfg.eval_sets, *(["dev"] if self.cfg.lr_auto() else [])]
        wanted = {f.id for split in splits for f in self.eval_facts(split)}
        return [
            f
            for f in self.dataset().facts
            if f.id in wanted
            or (f.domain == "in" and f.split == "train" and f.role != "pretrain_qa")
        ]

    def eval_facts(self, split: str) -> list[Any]:
        """The facts of an evaluation split (at most ``test_per_relation`` per relation, in order)."""
        cap = self.cfg.test_per_relation
        seen: dict[str, int] = {}
        chosen = []
        for f in self.dataset().facts:
            if f.split != split or f.role == "pretrain_qa":
                continue
            seen[f.relation] = seen.get(f.relation, 0) + 1
            if cap is None or seen[f.relation] <= cap:
                chosen.append(f)
        return chosen

    def set_examples(self, cell: Cell) -> list[dict[str, Any]]:
        return read_table(self.run_dir.unit_dir("select") / "sets" / f"{cell.name}.jsonl")
