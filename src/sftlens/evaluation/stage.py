"""The ``sftlens evaluate`` stage: load model, data and mastery; evaluate; write the artifacts.

Example::

    sftlens evaluate --model runs/ft/model --data world:runs/world \
        --mastery runs/probe/mastery.parquet --out runs/eval

Writes ``metrics.json``, ``predictions.parquet``, ``accuracy.csv`` (the study's rows),
``table.txt`` and ``manifest.json`` into ``--out``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sftlens.config import dump_config, require_keys
from sftlens.data import get_matcher
from sftlens.data.records import Fact
from sftlens.errors import ConfigError
from sftlens.evaluation.config import EvaluateConfig
from sftlens.evaluation.evaluate import EvalResult, evaluate_model, select_facts
from sftlens.evaluation.levels import levels_for
from sftlens.outdir import check_out_dir, input_paths, staged_out_dir
from sftlens.runstore import RunDir, atomic_write_json, atomic_write_text, json_safe
from sftlens.tableio import read_table, write_table

log = logging.getLogger(__name__)


def load_test_facts(cfg: EvaluateConfig) -> list[Fact]:
    """The facts of ``cfg.split`` from ``cfg.data`` (world pretraining-QA facts excluded)."""
    from sftlens.data import load_dataset

    dataset = load_dataset(str(cfg.data), **cfg.data_options())
    return [f for f in dataset.facts if f.split == cfg.split and f.role != "pretrain_qa"]


def run(cfg: EvaluateConfig, out: Path, *, force: bool = False) -> EvalResult:
    """Evaluate ``cfg.model`` on the test facts of ``cfg.data``; write the artifacts into ``out``."""
    from sftlens.models import load_model, load_tokenizer

    require_keys(cfg, "model", "data", "mastery")
    assert cfg.model is not None and cfg.data is not None and cfg.mastery is not None
    inputs = input_paths(cfg)
    check_out_dir(out, force, inputs=inputs)  # an --out overlapping an input fails first
    get_matcher(cfg.matching)  # every setting is checked before the model is loaded
    facts = select_facts(load_test_facts(cfg), cfg)
    if not facts:
        raise ConfigError(f"{cfg.data}: no {cfg.split} facts in domains {cfg.domains}")
    levels = levels_for(facts, read_table(cfg.mastery), cfg.mastery)
    tok = load_tokenizer(cfg.model)
    model = load_model(cfg.model, dtype=cfg.dtype, device=cfg.device)
    result = evaluate_model(model, tok, facts, levels, cfg)
    with staged_out_dir(out, force, inputs) as tmp:
        RunDir.create(tmp, config=dump_config(cfg))
        write_results(result, tmp)
    result.files = {k: str(Path(out) / Path(v).name) for k, v in result.files.items()}
    return result


def write_results(result: EvalResult, out: Path) -> None:
    """Write metrics, predictions, accuracy rows and the table atomically; record the paths."""
    files = {
        "metrics": atomic_write_json(out / "metrics.json", json_safe(result.metrics)),
        "predictions": write_table(out / "predictions.parquet", result.predictions),
        "accuracy": write_table(out / "accuracy.csv", result.rows),
        "table": atomic_write_text(out / "table.txt", result.summary() + "\n"),
    }
    result.files = {k: str(v) for k, v in files.items()}
