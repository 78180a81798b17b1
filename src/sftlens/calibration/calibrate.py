"""The calibration's model work: fine-tune one mastery-mixed set per lr, score each on dev facts.

Test facts are never read: :func:`calibrate_lr` refuses any evaluation fact whose split
is not ``dev``.  The chosen lr follows :func:`sftlens.calibration.rule.choose_lr`.

Example::

    from sftlens.calibration import calibrate_lr, dev_facts
    cal = calibrate_lr(base, tok, pool, dev_facts(dataset.facts), levels, lrs=[1e-5, 1e-4],
                       size=120, seed=0, finetune_cfg=FinetuneConfig(), evaluate_cfg=EvaluateConfig())
    print(cal.lr, cal.rows)
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sftlens.calibration.rule import calibration_row, choose_lr, mark_choice
from sftlens.data.records import Fact
from sftlens.errors import ConfigError, DataError
from sftlens.evaluation import EvaluateConfig
from sftlens.finetuning import FinetuneConfig

log = logging.getLogger(__name__)
#: the selection level of the calibration set: the paper's SFT (Mixed), any mastery level
MIXED_LEVEL = "random"
DEV = "dev"


@dataclass
class Calibration:
    """The chosen lr, the table (one row per lr, ``chosen`` marks the choice) and the set size."""

    lr: float
    rows: list[dict[str, Any]]
    n_train: int
    seconds: float = 0.0


def dev_facts(facts: Sequence[Fact]) -> list[Fact]:
    """The dev facts the calibration is scored on (a world's pretraining-QA facts excluded)."""
    return [f for f in facts if f.split == DEV and f.role != "pretrain_qa"]


def check_dev_split(facts: Sequence[Fact], source: str) -> None:
    """Raise a one-line ``ConfigError`` when ``facts`` have no dev split (before any work)."""
    if not dev_facts(facts):
        splits = ", ".join(sorted({f.split for f in facts if f.role != "pretrain_qa"})) or "none"
        raise ConfigError(
            f"{source}: learning-rate calibration (lr: auto) needs a '{DEV}' split of facts, "
            f"and this data has none (splits: {splits})"
        )


def _check_dev(dev: Sequence[Fact]) -> None:
    leaked = [f.id for f in dev if f.split != DEV]
    if leaked:
        raise DataError(f"calibration is scored on dev facts only; got split of {leaked[0]!r}")
    if not dev:
        raise DataError("calibration: no dev facts to score the learning rates on")


def _examples(
    pool: Sequence[Fact], levels: Mapping[str, int], size: int | None, seed: int, smaller: bool
) -> list[dict[str, Any]]:
    """The calibration's one mixed SFT set, as training rows."""
    from sftlens.selection import select_set, set_row

    chosen = select_set(pool, levels, MIXED_LEVEL, size, seed, allow_smaller=smaller)
    if not chosen:
        raise DataError("calibration: no in-domain train facts with a mastery level to train on")
    return [set_row(f, levels) for f in chosen]


def calibrate_lr(
    base: Any,
    tokenizer: Any,
    pool: Sequence[Fact],
    dev: Sequence[Fact],
    levels: Mapping[str, int],
    *,
    lrs: Sequence[float],
    size: int | None,
    seed: int,
    finetune_cfg: FinetuneConfig,
    evaluate_cfg: EvaluateConfig,
    allow_smaller: bool = False,
) -> Calibration:
    """Fine-tune a copy of ``base`` on one mixed set per lr; evaluate each on ``dev``.

    Args:
        base: the base model (never modified: each lr trains a deep copy).
        tokenizer: its tokenizer.
        pool: candidate SFT facts (``select_set`` keeps the in-domain train ones with a level).
        dev: the dev facts to score on; every one must have split ``dev``.
        levels: ``{fact id: base mastery level}`` covering the pool and ``dev``.
        lrs: the learning-rate grid.
        size: set size (``None`` = the whole pool).
        seed: seed of the selection and of every fine-tune.
        finetune_cfg: fine-tuning settings (its ``lr`` and ``seed`` are replaced).
        evaluate_cfg: evaluation settings.
        allow_smaller: shrink the set when the pool cannot fill it.

    Raises:
        DataError: a non-dev fact among ``dev``, no dev facts, or an empty set.
    """
    from sftlens.evaluation import evaluate_model
    from sftlens.finetuning import finetune

    _check_dev(dev)
    examples = _examples(pool, levels, size, seed, allow_smaller)
    start, rows = time.monotonic(), []
    for lr in lrs:
        cfg = finetune_cfg.model_copy(update={"lr": float(lr), "seed": seed})
        tuned = finetune(copy.deepcopy(base), tokenizer, examples, cfg, progress=False).model
        tuned.eval()
        result = evaluate_model(tuned, tokenizer, dev, levels, evaluate_cfg, progress=False)
        rows.append(calibration_row(lr, result.rows))
        log.info("calibration lr %g: dev macro in-domain %.3f", lr, rows[-1]["dev_macro_in"])
        del tuned
    lr = choose_lr(rows)
    return Calibration(lr, mark_choice(rows, lr), len(examples), time.monotonic() - start)
