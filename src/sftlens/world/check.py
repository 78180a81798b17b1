"""Check a built world against its ground truth: ``check_world`` (model runs and I/O).

Example::

    sftlens world check runs/world            # table + pass/fail of each requirement

Per fact: greedy statement-completion accuracy (via ``sftlens.probing``), averaged over the
relation's templates; the paper's probe for levels and R; the base model's greedy answer in
the SFT prompt format and in the held-out Q/A format of :mod:`sftlens.world.qa_text`. Per
relation: the answer space beside EntityQuestions'. The requirements and the printed report
live in :mod:`sftlens.world.requirements`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sftlens.correlation import rank, spearman  # noqa: F401  (re-exported)
from sftlens.errors import SftlensError
from sftlens.prompts import qa_prompt
from sftlens.runstore import atomic_write_json
from sftlens.tableio import write_table
from sftlens.world.answer_space import compare_answer_space
from sftlens.world.config import WorldCheckConfig
from sftlens.world.qa_text import heldout_qa_prompt
from sftlens.world.requirements import (  # noqa: F401  (re-exported)
    CheckMetrics,
    Requirement,
    SftFormat,
    exposure_table,
    format_report,
    macro_accuracy,
    score,
)


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


def check_world(cfg: WorldCheckConfig, world_dir: Path) -> CheckResult:
    """Score a built world and write ``DIR/check/check.json`` + ``DIR/check/facts.jsonl``."""
    from sftlens.data import get_matcher
    from sftlens.generation import GenerationConfig
    from sftlens.models import load_model, load_tokenizer

    t0 = time.perf_counter()
    world_dir = Path(world_dir)
    ds, facts, qa_facts, chance_by_rel = _check_inputs(cfg, world_dir)
    model = load_model(world_dir / "model", device=cfg.device)
    tok = load_tokenizer(world_dir / "model")
    match = get_matcher("contains")
    gen = GenerationConfig(max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size)
    acc = statement_accuracy(model, tok, facts, ds.relations, gen, match)
    probe_rows = _probe(model, tok, facts, ds.relations, world_dir, cfg) if cfg.probe else None
    levels = None if probe_rows is None else [int(r["level"]) for r in probe_rows]
    r_values = None if probe_rows is None else [float(r["R"]) for r in probe_rows]
    exposure = [int(f.exposure or 0) for f in facts]
    qa_gen = GenerationConfig(max_new_tokens=cfg.qa_max_new_tokens, batch_size=cfg.batch_size)
    sft_correct = sft_format_correct(model, tok, facts, qa_gen, match)
    sft = SftFormat(sft_correct, [f.domain for f in facts])
    heldout = heldout_format_correct(model, tok, facts, qa_gen, match)
    chance = [chance_by_rel[f.relation] for f in facts]
    space = compare_answer_space(_objects_by_relation(ds.facts))
    metrics = score(exposure, acc, chance, levels, cfg, r_values=r_values, sft=sft,
                    heldout=heldout, answer_space=space)  # fmt: skip
    qa = {
        d: sum(c for c, f in zip(sft_correct, facts, strict=True) if f.domain == d)
        / max(1, sum(f.domain == d for f in facts))
        for d in ("in", "ood")
    }
    pretrain_correct = sft_format_correct(model, tok, qa_facts, qa_gen, match)
    qa["pretrain_qa"] = sum(pretrain_correct) / max(1, len(qa_facts))
    rows = _fact_rows(facts, exposure, acc, sft_correct, heldout, levels)
    result = CheckResult(world_dir, metrics, qa, time.perf_counter() - t0)
    _write_check(world_dir, cfg, result, rows)
    return result


def _objects_by_relation(facts: list[Any]) -> dict[str, list[str]]:
    """Each relation's objects (the first answer of every fact), for the answer-space rows."""
    objects: dict[str, list[str]] = {}
    for f in facts:
        objects.setdefault(f.relation, []).append(f.answers[0])
    return objects


def _fact_rows(
    facts: list[Any], exposure: list[int], acc: list[float], sft_correct: list[bool],
    heldout: list[bool], levels: list[int] | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per checked fact for ``check/facts.jsonl``."""
    return [
        {
            "id": f.id,
            "relation": f.relation,
            "exposure": e,
            "greedy_accuracy": a,
            "sft_format_correct": sft_correct[i],
            "heldout_qa_correct": heldout[i],
            **({"level": levels[i]} if levels is not None else {}),
        }
        for i, (f, e, a) in enumerate(zip(facts, exposure, acc, strict=True))
    ]


def _check_inputs(cfg: WorldCheckConfig, world_dir: Path) -> tuple[Any, list[Any], list[Any], Any]:
    """The world's dataset, the (sampled) pool facts, the pretrain-QA facts, chance per relation."""
    from sftlens.data import load_dataset

    if not (world_dir / "model" / "config.json").is_file():
        msg = f"{world_dir}: no model/config.json; build it with `sftlens world build`"
        raise SftlensError(msg)
    ds = load_dataset(f"world:{world_dir}")
    facts = [f for f in ds.facts if f.role == "pool"]
    if cfg.max_facts is not None and len(facts) > cfg.max_facts:
        facts = sorted(random.Random(cfg.seed).sample(facts, cfg.max_facts), key=lambda f: f.id)
    qa_facts = [f for f in ds.facts if f.role == "pretrain_qa"][: max(1, cfg.max_facts or 10**9)]
    chance_by_rel = json.loads((world_dir / "world" / "corpus_stats.json").read_text())["chance"]
    return ds, facts, qa_facts, chance_by_rel


def _write_check(
    world_dir: Path, cfg: WorldCheckConfig, result: CheckResult, rows: list[dict[str, Any]]
) -> None:
    write_table(world_dir / "check" / "facts.jsonl", rows)
    atomic_write_json(
        world_dir / "check" / "check.json",
        {
            "metrics": asdict(result.metrics),
            "qa_accuracy": result.qa_accuracy,
            "config": cfg.model_dump(),
            "passed": result.metrics.passed,
            "seconds": round(result.seconds, 1),
        },
    )


def statement_accuracy(
    model: Any, tok: Any, facts: list[Any], relations: Mapping[str, Any], gen: Any, match: Any
) -> list[float]:
    """Per fact: greedy completion accuracy, mean over its relation's statement templates."""
    from sftlens.probing import complete, count_correct, paper_prompts

    outs = complete(model, tok, paper_prompts(facts, relations, None), gen, progress=True)
    return [
        sum(count_correct(fact_outs, fact, match)) / max(1, len(fact_outs))
        for fact, fact_outs in zip(facts, outs, strict=True)
    ]


def sft_format_correct(model: Any, tok: Any, facts: list[Any], gen: Any, match: Any) -> list[bool]:
    """Greedy answers of the (base) model in the SFT prompt format, matched per fact."""
    from sftlens.probing import complete, count_correct

    outs = complete(model, tok, [[qa_prompt(f.question)] for f in facts], gen, progress=False)
    return [
        bool(count_correct(fact_outs, f, match)[0])
        for fact_outs, f in zip(outs, facts, strict=True)
    ]


def heldout_format_correct(
    model: Any, tok: Any, facts: list[Any], gen: Any, match: Any
) -> list[bool]:
    """Greedy answers of the base model to the test wording in the held-out Q/A format."""
    from sftlens.probing import complete, count_correct

    prompts = [[heldout_qa_prompt(f.question)] for f in facts]
    outs = complete(model, tok, prompts, gen, progress=False)
    return [
        bool(count_correct(fact_outs, f, match)[0])
        for fact_outs, f in zip(outs, facts, strict=True)
    ]


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
