"""Learning-rate calibration on dev facts, by a rule fixed in advance (docs/calibration.md).

Example::

    from sftlens.calibration import calibrate_lr, choose_lr, dev_facts
    cal = calibrate_lr(base, tok, pool, dev_facts(facts), levels, lrs=[1e-5, 1e-4], size=120,
                       seed=0, finetune_cfg=ft_cfg, evaluate_cfg=ev_cfg)

``calibrate_lr`` imports torch lazily; the config and the rule never do.
"""

from typing import Any

from sftlens.calibration.calibrate import (
    MIXED_LEVEL,
    Calibration,
    calibrate_lr,
    check_dev_split,
    dev_facts,
)
from sftlens.calibration.config import (
    DEFAULT_LRS,
    CalibrateConfig,
    CalibrateSettings,
    check_lr_grid,
)
from sftlens.calibration.rule import SCORE, calibration_row, choose_lr, mark_choice

__all__ = [
    "DEFAULT_LRS",
    "MIXED_LEVEL",
    "SCORE",
    "CalibrateConfig",
    "CalibrateSettings",
    "Calibration",
    "calibrate_lr",
    "calibration_row",
    "check_dev_split",
    "check_lr_grid",
    "choose_lr",
    "dev_facts",
    "mark_choice",
    "read_choice",
    "write_calibration",
]


def __getattr__(name: str) -> Any:
    if name in ("read_choice", "write_calibration"):  # the stage's files (imports the stage)
        from sftlens.calibration import stage

        return getattr(stage, name)
    raise AttributeError(f"module 'sftlens.calibration' has no attribute {name!r}")
