"""Estimate the wall time of ``configs/paper-llama3-8b.yaml`` on one H200 from per-unit rates.

The work is counted from the config itself: it is read through sftlens' config loader
(``load_config(StudyConfig, ...)``) and its unit graph (``sftlens.study.graph.build_units``),
with the facts of EntityQuestions (``--eq-dir``) loaded the way the study loads them, so the
probe's completions (probed facts × templates × samples, ``expected_completions``), the
fine-tunes with their samples and steps, the evaluations (base, tuned, restored), token KL,
diff-stats and the restore sweeps are the study's own.  Each kind of unit gets a rate, measured
at Llama-3-8B shape where it was measured (``docs/benchmarks.md``) and otherwise derived from
FLOPs or bytes and marked ``estimate``; every rate is an option.  Nothing runs on a GPU here.

What the counts cannot know before a probe: how many facts each level's pool holds (every
fine-tune is counted at its full size) and how many test facts are at the token-KL levels
(every test fact is counted: an upper bound, ``--kl-share`` to scale it).  Units run one after
the other on one GPU (the study's sequential order); several workers per GPU are not modelled.

Example::

    python bench/paper_8b_estimate.py --eq-dir ../shared/data/entityquestions --json est.json

    unit kind                  count  what            rate  source   seconds  share
    probe                 21,144,060  completions  849.9 /s  measured   24,878  48.9%
    ...
    total 50,840 s = 14.12 h on one H200 (target <= 3 h: not met)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "paper-llama3-8b.yaml"
TARGET_H = 3.0
LLAMA3_8B_PARAMS = 8.03e9
LLAMA3_VOCAB = 128_256

#: per-unit rates: (default, source, what the number is); ``measured`` ones are in docs/benchmarks.md
RATES: dict[str, tuple[float, str, str]] = {
    "probe_per_s": (849.9, "measured", "completions/s, 8B shape, one H200, 10 samples x 32 tokens (bench/probe.py)"),
    "eval_per_s": (1004.8, "measured", "questions/s, 8B shape, one H200, greedy 16 tokens, 2,048 questions (bench/evaluate.py; median of 986.5 / 1,004.8 / 1,036.0)"),
    "sft_tokens_per_s": (165.0, "measured", "tokens/s, full fine-tune at 8B shape, one H200, fp32 master weights, batch 8 (bench/fsdp_8b.sh)"),
    "sft_tokens_per_sample": (13.36, "measured", "mean tokens per sample of that run (bench/sft.py synthetic_examples, 160 samples)"),
    "restore_s_per_k": (14.8 / 7, "measured", "seconds per restored k in memory, 8B shape (restore-sweep of 7 k in 14.8 s; measured on one H100)"),
    "load_s": (11.0, "measured", "seconds to load the 8B base model (restore-sweep's load; one H100)"),
    "diff_s": (13.5, "estimate", "seconds per diff-stats: the 8B restore's first pass (read base + tuned, bin |d|/|p|: 13.5 s on one H100), the same work as diff-stats"),
    "kl_flops_per_s": (430e12, "estimate", "FLOP/s of token KL's forward passes: the rate evaluation reached at 8B (about 430 TFLOP/s, 54% of the bf16 peak)"),
    "kl_tokens_per_fact": (20.0, "estimate", "tokens of prompt + answer per token-KL fact (a Llama-3 tokenization of EQ QA pairs, not measured)"),
}  # fmt: skip


@dataclass(frozen=True)
class Work:
    """How much of each kind of work a study holds (counted, not timed)."""

    probe_facts: int
    probe_completions: int
    finetunes: int
    sft_samples: int
    sft_steps: int
    base_evaluations: int
    tuned_evaluations: int
    restored_evaluations: int
    questions: int  # per evaluation (every evaluation set together)
    kl_units: int
    kl_facts: int  # per token-KL unit (an upper bound: every fact of the KL split)
    diff_units: int
    restore_sweeps: int


def count_work(
    cfg: Any,
    unit_names: Sequence[str],
    *,
    probe_facts: int,
    probe_completions: int,
    questions: int,
    kl_facts: int,
    pool: int,
) -> Work:
    """Count the work of a study from its config and its graph's unit names (pure).

    Args:
        cfg: the ``StudyConfig``.
        unit_names: the names of ``sftlens.study.graph.build_units`` (``L4-n60-s0/finetune``,
            ``L4-n60-s0/restore-top-transformer``, ``base/eval``, ...).
        probe_facts / probe_completions: the probe's facts and completions.
        questions: questions of one evaluation (every set of ``eval_sets``).
        kl_facts: facts of one token-KL unit.
        pool: the SFT pool (in-domain train facts): the size of an ``all`` set.
    """
    kinds = Counter(_kind(name) for name in unit_names)
    batch = int(cfg.finetune.batch_size)
    epochs = int(cfg.finetune.epochs)
    samples = steps = 0
    for name in unit_names:
        if _kind(name) == "finetune":
            size_part = name.split("/")[0].split("-")[1]  # L4-n60-s0 -> n60
            size = pool if size_part == "nall" else int(size_part[1:])
            samples += size * epochs
            steps += math.ceil(size / batch) * epochs
    sweeps = kinds["restore"]
    return Work(
        probe_facts=probe_facts,
        probe_completions=probe_completions,
        finetunes=kinds["finetune"],
        sft_samples=samples,
        sft_steps=steps,
        base_evaluations=kinds["base eval"],
        tuned_evaluations=kinds["eval"],
        restored_evaluations=sweeps * len(cfg.restore.ks),
        questions=questions,
        kl_units=kinds["kl"],
        kl_facts=kl_facts,
        diff_units=kinds["diff"],
        restore_sweeps=sweeps,
    )


def _kind(name: str) -> str:
    """The kind of a unit from its name in the study graph."""
    if name == "base/eval":
        return "base eval"
    if name.startswith("probe"):
        return "probe"
    last = name.rsplit("/", 1)[-1]
    return "restore" if last.startswith("restore-") else last


def study_work(config: Path, overrides: Sequence[str], kl_share: float = 1.0) -> Work:
    """Load the config and its data as the study does, build its graph, count its work."""
    from sftlens.config import load_config
    from sftlens.probing.probe import expected_completions
    from sftlens.runstore import RunDir
    from sftlens.study.config import StudyConfig
    from sftlens.study.context import StudyContext
    from sftlens.study.graph import build_units

    cfg = load_config(StudyConfig, config, list(overrides))
    if cfg.lr_auto():
        raise SystemExit(
            "error: finetune.lr: auto is not estimated (its calibration's cost depends on the lr grid); set an lr"
        )
    with (
        tempfile.TemporaryDirectory() as tmp
    ):  # the graph never writes; a run dir must exist by name
        ctx = StudyContext(cfg, RunDir(Path(tmp) / "run"))
        names = [u.name for u in build_units(ctx)]
        facts = ctx.probed_facts()
        probe_cfg = cfg.probe.config(
            **ctx.common(), model=cfg.base_model(), data=cfg.data_spec(), backend=cfg.backend
        )
        completions = expected_completions(facts, ctx.dataset().relations, probe_cfg)
        questions = sum(len(ctx.eval_facts(s)) for s in cfg.eval_sets)
        kl_split = ctx.eval_facts(cfg.eval_sets[0])
        pool = sum(
            1 for f in facts if f.domain == "in" and f.split == "train" and f.role != "pretrain_qa"
        )
    return count_work(cfg, names, probe_facts=len(facts), probe_completions=completions,
                      questions=questions, kl_facts=round(len(kl_split) * kl_share), pool=pool)  # fmt: skip


@dataclass(frozen=True)
class Row:
    kind: str
    count: int
    what: str
    rate: str
    source: str
    seconds: float


def kl_forward_passes(work: Work) -> int:
    """Model forward passes over the token-KL facts: one per fine-tune, and the base model's
    once when its logits are kept (``sftlens.analysis.token_kl.keep_location`` on a GPU, bf16),
    else once per fine-tune too."""
    from sftlens.analysis.token_kl import keep_location

    kept_on = keep_location(work.kl_facts * LLAMA3_VOCAB * 2, torch.device("cuda"))
    if work.kl_units == 0:
        return 0
    return work.kl_units + 1 if kept_on is not None else 2 * work.kl_units


def estimate(work: Work, rates: dict[str, float]) -> list[Row]:
    """Seconds per kind of unit (pure)."""
    step_s = (
        rates["sft_tokens_per_sample"] * 8 / rates["sft_tokens_per_s"]
    )  # the measured run's batch 8
    kl_pass_s = 2 * LLAMA3_8B_PARAMS * rates["kl_tokens_per_fact"] / rates["kl_flops_per_s"]
    kl_passes = kl_forward_passes(work)
    q = work.questions
    src = {k: v[1] for k, v in RATES.items()}
    return [
        Row("load base model", 1, "loads", f"{rates['load_s']:.1f} s each", src["load_s"], rates["load_s"]),
        Row("probe", work.probe_completions, "completions", f"{rates['probe_per_s']:,.1f} /s",
            src["probe_per_s"], work.probe_completions / rates["probe_per_s"]),
        Row("fine-tune", work.sft_steps, f"steps ({work.finetunes} fine-tunes, {work.sft_samples:,} samples)",
            f"{step_s:.3f} s/step", src["sft_tokens_per_s"], work.sft_steps * step_s),
        Row("evaluate (base + tuned)", (work.base_evaluations + work.tuned_evaluations) * q,
            f"questions ({work.base_evaluations + work.tuned_evaluations} x {q:,})",
            f"{rates['eval_per_s']:,.1f} /s", src["eval_per_s"],
            (work.base_evaluations + work.tuned_evaluations) * q / rates["eval_per_s"]),
        Row("token KL", kl_passes * work.kl_facts,
            f"fact passes ({kl_passes} models x {work.kl_facts:,})", f"{1 / kl_pass_s:,.0f} /s",
            "estimate", kl_passes * work.kl_facts * kl_pass_s),
        Row("diff-stats", work.diff_units, "fine-tunes", f"{rates['diff_s']:.1f} s each", src["diff_s"],
            work.diff_units * rates["diff_s"]),
        Row("restore (in memory)", work.restored_evaluations, f"restored models ({work.restore_sweeps} sweeps)",
            f"{rates['restore_s_per_k']:.2f} s each", src["restore_s_per_k"],
            work.restored_evaluations * rates["restore_s_per_k"]),
        Row("evaluate (restored)", work.restored_evaluations * q,
            f"questions ({work.restored_evaluations} x {q:,})", f"{rates['eval_per_s']:,.1f} /s",
            src["eval_per_s"], work.restored_evaluations * q / rates["eval_per_s"]),
    ]  # fmt: skip


def table(rows: list[Row]) -> str:
    total = sum(r.seconds for r in rows)
    lines = [
        f"{'unit kind':<24}{'count':>14}  {'what':<40}{'rate':>18}  {'source':<9}{'seconds':>10}{'share':>8}"
    ]
    for r in rows:
        lines.append(f"{r.kind:<24}{r.count:>14,}  {r.what:<40}{r.rate:>18}  {r.source:<9}"
                     f"{r.seconds:>10,.0f}{r.seconds / total:>8.1%}")  # fmt: skip
    verdict = "met" if total <= TARGET_H * 3600 else "not met"
    lines.append(
        f"total {total:,.0f} s = {total / 3600:.2f} h on one H200 (target <= {TARGET_H:.0f} h: {verdict})"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=CONFIG)
    p.add_argument(
        "--eq-dir", type=Path, default=REPO.parent / "shared" / "data" / "entityquestions"
    )
    p.add_argument("--kl-share", type=float, default=1.0,
                   help="share of the test facts at the token-KL levels (1.0: every fact, an upper bound)")  # fmt: skip
    p.add_argument("--json", type=Path, default=None, help="write the counts, rates and rows here")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the config")
    for key, (default, source, what) in RATES.items():
        p.add_argument(
            f"--{key.replace('_', '-')}", type=float, default=default, help=f"{what} [{source}]"
        )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.eq_dir / "dataset").is_dir():
        print(f"error: EntityQuestions not found at {args.eq_dir} (no dataset/ inside); pass --eq-dir DIR",
              file=sys.stderr)  # fmt: skip
        return 2
    work = study_work(
        args.config, [f"data=entityquestions:{args.eq_dir}", *args.overrides], args.kl_share
    )
    rates = {key: float(getattr(args, key)) for key in RATES}
    rows = estimate(work, rates)
    print(f"config {args.config.name}: {work.probe_facts:,} probed facts, {work.finetunes} fine-tunes, "
          f"{work.questions:,} questions per evaluation, {work.restored_evaluations} restored models")  # fmt: skip
    print(table(rows))
    if args.json:
        sources = {key: RATES[key][1] for key in RATES}
        payload = {"config": str(args.config), "work": asdict(work), "rates": rates, "sources": sources,
                   "rows": [asdict(r) for r in rows], "total_s": sum(r.seconds for r in rows),
                   "target_s": TARGET_H * 3600}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
