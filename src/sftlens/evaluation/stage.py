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
from sftlens.data.dataset import Dataset
from sftlens.data.records import Fact
from sftlens.errors import ConfigError
from sftlens.evaluation.config import EvaluateConfig
from sftlens.evaluation.evaluate import EvalResult, evaluate_model, select_facts
from sftlens.outdir import check_out_dir, input_paths, staged_out_dir
from sftlens.probing import check_covered, check_same_data, levels_from_rows
from sftlens.runstore import RunDir, atomic_write_json, atomic_write_text, json_safe
from sftlens.tableio import read_table, write_table

log = logging.getLogger(__name__)


def load_test_facts(cfg: EvaluateConfig) -> tuple[Dataset, list[Fact]]:
    """(the whole data before ``limit``, the facts to evaluate): ``cfg.split`` and
    ``cfg.domains``, world pretraining-QA facts excluded, ``cfg.limit`` applied.

    Raises:
        ConfigError: the selection is empty (it is named).
    """
    from sftlens.data import load_dataset
    from sftlens.data.loading import first_per_relation

    dataset = load_dataset(str(cfg.data), **{**cfg.data_options(), "limit": None})
    chosen = [f for f in dataset.facts if f.split == cfg.split and f.role != "pretrain_qa"]
    chosen = select_facts(chosen, cfg)
    if cfg.limit is not None:
        chosen = first_per_relation(chosen, cfg.limit)
    if not chosen:
        raise ConfigError(
            f"{cfg.data}: no {cfg.split} facts in domains {','.join(cfg.domains)}: nothing to evaluate"
        )
    return dataset, chosen


def mastery_levels(
    cfg: EvaluateConfig, every: list[Fact], facts: list[Fact]
) -> dict[str, int] | None:
    """Levels of ``facts`` from ``cfg.mastery`` (None without one); the table must be of this data."""
    if not cfg.mastery:
        log.info("no --mastery: accuracy per domain and relation (no levels)")
        return None
    table = levels_from_rows(read_table(cfg.mastery), cfg.mastery)
    check_same_data(table, every, cfg.mastery, str(cfg.data))
    check_covered(facts, table, cfg.mastery)
    return {f.id: table[f.id] for f in facts}


def run(cfg: EvaluateConfig, out: Path, *, force: bool = False) -> EvalResult:
    """Evaluate ``cfg.model`` on the test facts of ``cfg.data``; write the artifacts into ``out``."""
    from sftlens.models import load_model, load_tokenizer

    require_keys(cfg, "model", "data")
    assert cfg.model is not None and cfg.data is not None
    inputs = input_paths(cfg)
    check_out_dir(out, force, inputs=inputs)  # an --out overlapping an input fails first
    get_matcher(cfg.matching)  # every setting is checked before the model is loaded
    dataset, facts = load_test_facts(cfg)
    levels = mastery_levels(cfg, dataset.facts, facts)
    tok = load_tokenizer(cfg.model)
    model = load_model(cfg.model, dtype=cfg.dtype, device=cfg.device)
    result = evaluate_model(model, tok, facts, levels, cfg)
    result.metrics["alias_table"] = dataset.alias_table
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
