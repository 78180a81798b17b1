"""``sftlens select``: write SFT sets (``sets/<name>.jsonl``) and their manifest.

Example::

    sftlens select --mastery runs/probe/mastery.parquet --data world:runs/world --out runs/sets

Every set is computed (and every size checked) before anything is written, so a
failing selection leaves no output directory behind.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftlens.config import dump_config
from sftlens.errors import ConfigError, DataError
from sftlens.outdir import check_out_dir, input_paths, spec_path, staged_out_dir
from sftlens.probing import read_levels
from sftlens.runstore import RunDir, atomic_write_json, file_hash
from sftlens.selection.config import SelectConfig
from sftlens.selection.core import counts_by, pool_of, select_set, set_name, set_row
from sftlens.tableio import write_table

log = logging.getLogger(__name__)


@dataclass
class SelectResult:
    """What ``run`` wrote: the out dir and ``{set name: row count}``."""

    out: Path
    sets: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in list(self.sets.items())[:6])
        more = f", ... ({len(self.sets)} sets)" if len(self.sets) > 6 else ""
        return f"wrote {len(self.sets)} SFT sets to {self.out / 'sets'}: {sizes}{more}"


def data_spec(cfg: SelectConfig, mastery: Path) -> str:
    """``cfg.data``, or the data spec recorded in the probe run's manifest."""
    if cfg.data:
        return cfg.data
    manifest = mastery.parent / "manifest.json"
    if manifest.is_file():
        spec = (json.loads(manifest.read_text()).get("config") or {}).get("data")
        if spec:
            return str(spec)
    raise ConfigError("select needs --data (no data spec recorded beside the mastery table)")


def load_facts(cfg: SelectConfig, spec: str, mastery: Path, levels: dict[str, int]) -> list[Any]:
    """The data's facts (``limit`` applied), after checking that the table is of this data."""
    from sftlens.data import load_dataset
    from sftlens.data.loading import first_per_relation
    from sftlens.probing import check_same_data

    dataset = load_dataset(spec, **{**cfg.data_options(), "limit": None})
    check_same_data(levels, dataset.facts, str(mastery), spec)
    return first_per_relation(dataset.facts, cfg.limit) if cfg.limit else dataset.facts


def build_sets(
    facts: list[Any], levels: dict[str, int], cfg: SelectConfig
) -> dict[str, list[dict]]:
    """All sets of the grid, as rows, keyed by name (pure).

    Raises:
        DataError: a level's pool is empty (the level is named).
    """
    sets: dict[str, list[dict]] = {}
    for level in cfg.levels:
        if not pool_of(facts, levels, level):
            raise DataError(
                f"level {level}: no in-domain train facts at this level in the mastery table; "
                "nothing to select (drop the level from --levels)"
            )
        for size in cfg.sizes:
            n = None if size == "all" else int(size)
            for seed in range(cfg.seeds):
                chosen = select_set(facts, levels, level, n, seed, allow_smaller=cfg.allow_smaller)
                sets[set_name(level, size, seed)] = [set_row(f, levels) for f in chosen]
    return sets


def run(cfg: SelectConfig, out: Path, *, force: bool = False) -> SelectResult:
    """Select every (level, size, seed) set and write them with a manifest."""
    if not cfg.mastery:
        raise ConfigError("select needs --mastery (the base model's mastery table)")
    mastery = Path(cfg.mastery)
    spec = data_spec(cfg, mastery)
    inputs = input_paths(cfg, spec_path(spec))
    check_out_dir(out, force, inputs=inputs)  # an --out overlapping an input fails first
    levels = read_levels(mastery)
    facts = load_facts(cfg, spec, mastery, levels)
    sets = build_sets(facts, levels, cfg)
    pools = {lv: len(pool_of(facts, levels, lv)) for lv in cfg.levels}
    with staged_out_dir(out, force, inputs) as tmp:
        entries: dict[str, Any] = {}
        for name, rows in sets.items():
            path = write_table(tmp / "sets" / f"{name}.jsonl", rows)
            entries[name] = {
                "file": f"sets/{name}.jsonl",
                "sha256": file_hash(path),
                "n": len(rows),
                "by_relation": counts_by(rows, "relation"),
                "by_level": counts_by(rows, "level"),
            }
        run_dir = RunDir.create(tmp, config=dump_config(cfg))
        manifest = run_dir.manifest()
        manifest.update({"sets": entries, "pools": pools, "mastery_sha256": file_hash(mastery)})
        atomic_write_json(tmp / RunDir.MANIFEST, manifest)
    log.info("wrote %d sets to %s", len(entries), out / "sets")
    return SelectResult(out, {k: v["n"] for k, v in entries.items()})
