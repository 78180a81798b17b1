"""The knowledge world: a fictional world of facts and a small Llama pretrained on it.

Example::

    from sftlens.world import build_world, check_world
    result = build_world(load_config(WorldConfig, values={"preset": "tiny"}), Path("runs/w"))
    print(check_world(WorldCheckConfig(), Path("runs/w")).summary())

The model is the embedded default of every other stage; the ground truth (which facts
the model saw, how often) lives in ``world/facts.jsonl``.
"""

from sftlens.world.build import WorldResult, build_world
from sftlens.world.check import CheckResult, check_world
from sftlens.world.config import WorldCheckConfig, WorldConfig
from sftlens.world.presets import PRESETS

__all__ = [
    "PRESETS", "CheckResult", "WorldCheckConfig", "WorldConfig", "WorldResult", "build_world",
    "check_world",
]  # fmt: skip
