"""The ``sftlens token-kl`` stage: load both models, data and mastery; write per-fact KL values.

Example::

    sftlens token-kl --base runs/world/model --tuned runs/ft/model --data world:runs/world \
        --mastery runs/probe/mastery.parquet --out runs/kl

Writes ``per_fact.parquet``, ``summary.json`` (per test level means), ``table.txt`` and
``manifest.json`` into ``--out``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sftlens.analysis.config import TokenKLConfig
from sftlens.analysis.token_kl import KLResult, check_same_tokenizer, select_kl_facts, token_kl
from sftlens.config import dump_config, require_keys
from sftlens.errors import ConfigError
from sftlens.outdir import check_out_dir, input_paths, staged_out_dir
from sftlens.probing import levels_for
from sftlens.runstore import RunDir, atomic_write_json, atomic_write_text, json_safe
from sftlens.tableio import read_table, write_table

log = logging.getLogger(__name__)


@dataclass
class TokenKLRun:
    """What ``sftlens token-kl`` computed and wrote."""

    kl: KLResult
    cfg: TokenKLConfig
    seconds: float
    files: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        text = self.kl.table()
        text += f"\nprompts: base={self.cfg.base_prompt}, tuned={self.cfg.tuned_prompt}; top_k={self.cfg.top_k}"
        text += f"\n{len(self.kl.per_fact)} facts in {self.seconds:.1f}s"
        return text + "".join(f"\n{k}: {v}" for k, v in self.files.items())


def check_selection(facts: list, levels: dict[str, int], cfg: TokenKLConfig) -> None:
    """Raise a one-line ``ConfigError`` when no fact is at ``cfg.levels``; warn for each empty level."""
    chosen = select_kl_facts(facts, levels, cfg)
    held = Counter(levels[f.id] for f in facts if f.domain in cfg.domains)
    where = f"{cfg.split} facts in domains {','.join(cfg.domains)}"
    if not chosen:
        have = ", ".join(f"L{lv}: {n}" for lv, n in sorted(held.items()))
        raise ConfigError(
            f"token-kl: no {where} at levels {cfg.levels} in {cfg.mastery} (it holds {have}); "
            "choose levels=... among those"
        )
    for lv in cfg.levels:
        if not held.get(lv):
            log.warning("token-kl: no %s at level %d; its row stays empty", where, lv)


def run(cfg: TokenKLConfig, out: Path, *, force: bool = False) -> TokenKLRun:
    """Compare ``cfg.tuned`` with ``cfg.base`` on the selected facts; write the artifacts."""
    from sftlens.data import load_dataset
    from sftlens.models import load_model, load_tokenizer

    require_keys(cfg, "base", "tuned", "data", "mastery")
    assert cfg.base and cfg.tuned and cfg.data and cfg.mastery
    inputs = input_paths(cfg)
    check_out_dir(out, force, inputs=inputs)  # an --out overlapping an input fails first
    dataset = load_dataset(cfg.data, **cfg.data_options())
    facts = [
        f
        for f in dataset.facts
        if f.split == cfg.split and f.role != "pretrain_qa" and f.domain in cfg.domains
    ]
    if not facts:
        raise ConfigError(f"{cfg.data}: no {cfg.split} facts in domains {cfg.domains}")
    mastery = read_table(cfg.mastery)
    levels = levels_for(facts, mastery, cfg.mastery)
    tok = load_tokenizer(cfg.base, padding_side="left")
    check_same_tokenizer(tok, load_tokenizer(cfg.tuned, padding_side="left"))
    check_selection(facts, levels, cfg)
    base = load_model(cfg.base, dtype=cfg.dtype, device=cfg.device, check_finite=True)
    tuned = load_model(cfg.tuned, dtype=cfg.dtype, device=cfg.device, check_finite=True)
    start = time.perf_counter()
    kl = token_kl(base, tuned, tok, facts, dataset.relations, levels, mastery, cfg)
    result = TokenKLRun(kl, cfg, time.perf_counter() - start)
    names = {"per_fact": "per_fact.parquet", "summary": "summary.json", "table": "table.txt"}
    with staged_out_dir(out, force, inputs) as tmp:
        RunDir.create(tmp, config=dump_config(cfg))
        write_table(tmp / names["per_fact"], kl.per_fact)
        atomic_write_json(
            tmp / names["summary"], json_safe({"levels": kl.summary, "top_k": cfg.top_k})
        )
        atomic_write_text(tmp / names["table"], result.summary() + "\n")
    result.files = {k: str(Path(out) / v) for k, v in names.items()}
    return result
