"""CLI entries of ``sftlens world build`` and ``sftlens world check``.

Example::

    sftlens world build --preset tiny --out runs/world --seed 0
    sftlens world check runs/world

``check`` loads the world through ``sftlens.data.load_dataset("world:DIR")``, decodes
every statement template of every pool fact greedily with the shared generation engine,
runs the paper's probe (``sftlens.probing.probe_facts``) for level coverage and R, asks
every pool fact in the SFT prompt format (the base model must fail it), prints the
table and writes ``DIR/check/check.json`` + ``DIR/check/facts.jsonl``.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sftlens.errors import SftlensError
from sftlens.prompts import qa_prompt
from sftlens.runstore import atomic_write_json
from sftlens.tableio import write_table
from sftlens.world.build import WorldResult, build_world
from sftlens.world.check import CheckMetrics, SftFormat, format_report, score
from sftlens.world.config import WorldCheckConfig, WorldConfig

log = logging.getLogger(__name__)


def build(cfg: WorldConfig, out: Path, *, force: bool = False) -> WorldResult:
    """``sftlens world build``."""
    return build_world(cfg, out, force=force)


@dataclass
class CheckResult:
    """Outcome of ``check_world``."""

    world_dir: Path
    metrics: CheckMetrics
    qa_accuracy: dict[str, float]  # plain SFT-format accuracy: in, ood (pool), pretrain_qa
    seconds: float

    @property
    def passed(self) -> bool:
        return self.metrics.passed

    def summary(self) -> str:
        extra = {f"SFT-format greedy accuracy ({k})": v for k, v in self.qa_accuracy.items()}
        return format_report(self.metrics, extra) + f"\n({self.seconds:.1f}s)"


def check(cfg: WorldCheckConfig, world_dir: Path, *, force: bool = False) -> CheckResult:
    """``sftlens world check`` (``force`` is accepted for CLI symmetry; results are overwritten)."""
    return check_world(cfg, world_dir)


def check_world(cfg: WorldCheckConfig, world_dir: Path) -> CheckResult:
    """Score a built world (see module docstring)."""
    from sftlens.data import get_matcher, load_dataset
    from sftlens.generation import GenerationConfig
    from sftlens.models import load_model, load_tokenizer

    t0 = time.perf_counter()
    world_dir = Path(world_dir)
    if not (world_dir / "model" / "config.json").is_file():
        raise SftlensError(
            f"{world_dir}: no model/config.json; build it with `sftlens world build`"
        )
    ds = load_dataset(f"world:{world_dir}")
    facts = [f for f in ds.facts if f.role == "pool"]
    if cfg.max_facts is not None and len(facts) > cfg.max_facts:
        facts = sorted(random.Random(cfg.seed).sample(facts, cfg.max_facts), key=lambda f: f.id)
    qa_facts = [f for f in ds.facts if f.role == "pretrain_qa"][: max(1, cfg.max_facts or 10**9)]
    chance_by_rel = json.loads((world_dir / "world" / "corpus_stats.json").read_text())["chance"]
    model = load_model(world_dir / "model", device=cfg.device)
    tok = load_tokenizer(world_dir / "model")
    match = get_matcher("contains")
    gen = GenerationConfig(max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size)
    acc = _statement_accuracy(model, tok, facts, ds.relations, gen, match)
    probe_rows = _probe(model, tok, facts, ds.relations, world_dir, cfg) if cfg.probe else None
    levels = None if probe_rows is None else [int(r["level"]) for r in probe_rows]
    r_values = None if probe_rows is None else [float(r["R"]) for r in probe_rows]
    exposure = [int(f.exposure or 0) for f in facts]
    qa_gen = GenerationConfig(max_new_tokens=cfg.qa_max_new_tokens, batch_size=cfg.batch_size)
    sft_correct = _sft_format_correct(model, tok, facts, qa_gen, match)
    sft = SftFormat(sft_correct, [f.domain for f in facts])
    chance = [chance_by_rel[f.relation] for f in facts]
    metrics = score(exposure, acc, chance, levels, cfg, r_values=r_values, sft=sft)
    qa = {
        d: sum(c for c, f in zip(sft_correct, facts, strict=True) if f.domain == d)
        / max(1, sum(f.domain == d for f in facts))
        for d in ("in", "ood")
    }
    qa["pretrain_qa"] = sum(_sft_format_correct(model, tok, qa_facts, qa_gen, match)) / max(
        1, len(qa_facts)
    )
    rows = [
        {
            "id": f.id,
            "relation": f.relation,
            "exposure": e,
            "greedy_accuracy": a,
            "sft_format_correct": sft_correct[i],
            **({"level": levels[i]} if levels is not None else {}),
        }
        for i, (f, e, a) in enumerate(zip(facts, exposure, acc, strict=True))
    ]
    result = CheckResult(world_dir, metrics, qa, time.perf_counter() - t0)
    write_table(world_dir / "check" / "facts.jsonl", rows)
    atomic_write_json(
        world_dir / "check" / "check.json",
        {
            "metrics": asdict(metrics),
            "qa_accuracy": qa,
            "config": cfg.model_dump(),
            "passed": metrics.passed,
            "seconds": round(result.seconds, 1),
        },
    )
    return result


def _statement_accuracy(
    model: Any, tok: Any, facts: list[Any], relations: dict[str, Any], gen: Any, match: Any
) -> list[float]:
    """Per fact: greedy completion accuracy, mean over its relation's statement templates."""
    from sftlens.generation import generate

    prompts, owners = [], []
    for i, fact in enumerate(facts):
        rel = relations[fact.relation]
        for t in range(len(rel.statement_templates)):
            prompts.append(rel.statement(fact.subject, t))
            owners.append(i)
    outs = generate(model, tok, prompts, gen, progress=True)
    hits = [0.0] * len(facts)
    counts = [0] * len(facts)
    for owner, out in zip(owners, outs, strict=True):
        hits[owner] += match(out[0], facts[owner].accepted) is not None
        counts[owner] += 1
    return [h / max(1, c) for h, c in zip(hits, counts, strict=True)]


def _sft_format_correct(model: Any, tok: Any, facts: list[Any], gen: Any, match: Any) -> list[bool]:
    """Greedy answers of the (base) model in the SFT prompt format, matched per fact."""
    from sftlens.generation import generate

    prompts = [qa_prompt(f.question) for f in facts]
    outs = generate(model, tok, prompts, gen) if prompts else []
    return [match(o[0], f.accepted) is not None for o, f in zip(outs, facts, strict=True)]


def _probe(
    model: Any,
    tok: Any,
    facts: list[Any],
    relations: dict[str, Any],
    world_dir: Path,
    cfg: WorldCheckConfig,
) -> list[dict[str, Any]]:
    from sftlens.probing import ProbeConfig, probe_facts

    pcfg = ProbeConfig.model_validate(
        dict(
            model=str(world_dir / "model"),
            data=f"world:{world_dir}",
            samples=cfg.samples,
            temperature=cfg.temperature,
            max_new_tokens=cfg.max_new_tokens,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
        )
    )
    return probe_facts(model, tok, facts, relations, pcfg, progress=True)
