"""CLI entries of ``sftlens world build`` and ``sftlens world check``.

Example::

    sftlens world build --preset tiny --out runs/world --seed 0
    sftlens world check runs/world

``check`` runs :func:`sftlens.world.check.check_world`: it loads the world through
``sftlens.data.load_dataset("world:DIR")``, decodes every statement template of every pool
fact greedily with the shared generation engine, runs the paper's probe
(``sftlens.probing.probe_facts``) for level coverage and R, asks every pool fact in the SFT
prompt format (the base model must fail it), prints the table and writes
``DIR/check/check.json`` + ``DIR/check/facts.jsonl``.
"""

from __future__ import annotations

from pathlib import Path

from sftlens.world.build import WorldResult, build_world
from sftlens.world.check import CheckResult, check_world
from sftlens.world.config import WorldCheckConfig, WorldConfig


def build(cfg: WorldConfig, out: Path, *, force: bool = False) -> WorldResult:
    """``sftlens world build``."""
    return build_world(cfg, out, force=force)


def check(cfg: WorldCheckConfig, world_dir: Path, *, force: bool = False) -> CheckResult:
    """``sftlens world check`` (``force`` is accepted for CLI symmetry; results are overwritten)."""
    return check_world(cfg, world_dir)
