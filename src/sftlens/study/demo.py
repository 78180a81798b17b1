"""``sftlens demo --out DIR``: build the tiny world (once), run the shipped demo-tiny study on it, write the report.

The study config is package data (``sftlens/configs/demo-tiny.yaml``), so an installed wheel
runs the demo too.

Layout: ``DIR/world/`` (the built world, reused when ``DIR/world.READY`` exists) and
``DIR/study/`` (the study run with ``results/`` and ``report/``).  Rerunning resumes.

Example::

    sftlens demo --out runs/demo                  # what `make demo` runs
    sftlens demo --out runs/demo world=/tmp/sftlens-worlds/tiny
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from sftlens.config import dump_config, load_config
from sftlens.configs import config_path
from sftlens.errors import ConfigError
from sftlens.outdir import check_out_dir, discard_if_new, ensure_out_dir, input_paths
from sftlens.runstore import atomic_write_json, atomic_write_text
from sftlens.study.assemble import StudyResult
from sftlens.study.config import DemoConfig, StudyConfig
from sftlens.study.stage import run as run_study

log = logging.getLogger(__name__)
DEMO_CONFIG = "demo-tiny"  # a shipped config (sftlens.configs)
MARKER = "demo.json"


@dataclass
class DemoResult:
    world: Path
    world_seconds: float
    study: StudyResult

    def summary(self) -> str:
        built = f"built in {self.world_seconds:.0f}s" if self.world_seconds else "reused"
        findings = self.study.report.parent / "findings.md" if self.study.report else None
        text = f"world: {self.world} ({built})\n{self.study.summary()}"
        if findings is not None and findings.is_file():
            text += "\n\n" + findings.read_text()
        return text


def ensure_world(cfg: DemoConfig, out: Path) -> tuple[Path, float]:
    """The world to use: ``cfg.world``, or ``out/world`` built now unless already built."""
    if cfg.world is not None:
        return Path(cfg.world), 0.0
    world, ready = out / "world", out / "world.READY"
    if ready.is_file() and (world / "model").is_dir():
        return world, 0.0
    from sftlens.world import WorldConfig, build_world

    start = time.monotonic()
    log.info("building the %s world in %s", cfg.preset, world)
    build_world(
        load_config(WorldConfig, values={"preset": cfg.preset, "seed": cfg.seed}), world, force=True
    )
    atomic_write_text(ready, f"{cfg.preset} seed {cfg.seed}\n")
    return world, time.monotonic() - start


def run(cfg: DemoConfig, out: Path, *, force: bool = False) -> DemoResult:
    """Build (or reuse) the world, run the demo study in ``out/study``, write its report."""
    path = Path(cfg.study_config) if cfg.study_config else config_path(DEMO_CONFIG)
    if not path.is_file():
        raise ConfigError(f"demo study config not found: {path}; pass study_config=PATH")
    # validate the study config, the world or preset and --out before any work
    load_config(StudyConfig, path, overrides=cfg.overrides, values={"world": "."})
    check_world_or_preset(cfg)
    inputs = input_paths(cfg)
    check_out_dir(out, force, marker=MARKER, inputs=inputs)
    with discard_if_new(out, setup=(MARKER,)):  # a failed first run leaves no --out
        ensure_out_dir(out, force=force, marker=MARKER, inputs=inputs)
        atomic_write_json(out / MARKER, dump_config(cfg))
        world, seconds = ensure_world(cfg, out)
        study_cfg = load_config(
            StudyConfig, path, overrides=cfg.overrides, values={"world": str(world)}
        )
        return DemoResult(world, seconds, run_study(study_cfg, out / "study", force=True))


def check_world_or_preset(cfg: DemoConfig) -> None:
    """A given world is a built world dir; otherwise the preset to build one is known."""
    if cfg.world is None:
        from sftlens.world import PRESETS

        PRESETS.get(cfg.preset)
        return
    world = Path(cfg.world)
    if not (world / "model").is_dir() or not (world / "world" / "facts.jsonl").is_file():
        raise ConfigError(
            f"world {world} is not a built world (needs model/ and world/facts.jsonl; "
            "make one with `sftlens world build --out DIR`)"
        )
