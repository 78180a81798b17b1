"""Benchmark: token KL of several fine-tunes of one base, each run on its own vs one prepared run.

Builds a random-weight Llama of the ``gpu`` knowledge world's shape (97.5M parameters, vocab
8,192; fp32 weights, as that study runs; ``--shape tiny`` for a CPU smoke run), ``--models``
tuned copies (decoder weights x (1 + 0.01 N(0,1))) and ``--facts`` synthetic test facts over
10 relations with two statement templates each and a mastery table that picks one of them.
Then, in one process:

- ``per-call``: ``sftlens.analysis.token_kl(base, tuned, ...)`` for each tuned model, as the
  study's KL unit did (facts chosen, both prompts tokenised, base and tuned forward passes);
- ``prepared``: ``prepare_token_kl(..., keep_base=True)`` once, then ``run(tuned)`` for each
  model (the base model's forward pass only in the first run).

The per-fact rows of the two arms must be equal, value for value (checked; the run fails
otherwise).  Prints one line per timed call and a summary; writes ``token_kl.json`` to ``--out``.

Example::

    python bench/token_kl.py --device cuda --out /tmp/kl                  # 5,000 facts, batch 512
    python bench/token_kl.py --device cpu --facts 1000 --batch-size 32 --out /tmp/kl
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import torch

from common import SHAPES, random_model, timed, word_tokenizer
from restore_sweep import WORDS, synthetic_facts, tuned_copy
from sftlens.analysis import TokenKLConfig, prepare_token_kl, token_kl
from sftlens.data.records import Fact, Relation

TEMPLATES = ("{subject} was born in", "{subject} was born ?")


def relations_and_mastery(
    facts: list[Fact], levels: dict[str, int]
) -> tuple[dict[str, Relation], list[dict[str, Any]]]:
    """Relations with two statement templates, and a mastery table whose counts favour the first."""
    relations = {
        f.relation: Relation(f.relation, f.relation, "Where was {subject} born ?", TEMPLATES,
                             domain=f.domain)
        for f in facts
    }  # fmt: skip
    mastery = [
        {"id": f.id, "relation": f.relation, "level": levels[f.id], "per_template_correct": [2, 1]}
        for f in facts
    ]
    return relations, mastery


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="gpu-world")
    ap.add_argument("--facts", type=int, default=5000, help="facts analysed per model")
    ap.add_argument("--models", type=int, default=4, help="tuned models of the one base")
    ap.add_argument("--batch-size", type=int, default=512, help="as configs/world-gpu.yaml")
    ap.add_argument("--out", type=Path, required=True, help="directory for token_kl.json")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True  # as sftlens.models.load_model for fp32 weights
    tok = word_tokenizer(SHAPES[args.shape]["vocab_size"], [*WORDS, "in"])
    base = random_model(args.shape, args.device, tok, dtype=torch.float32)
    tuned = [tuned_copy(base, seed=1 + i) for i in range(args.models)]
    facts, levels = synthetic_facts(args.facts)
    relations, mastery = relations_and_mastery(facts, levels)
    cfg = TokenKLConfig(levels=[0, 1, 2, 3, 4], batch_size=args.batch_size)
    inputs = (tok, facts, relations, levels, mastery, cfg)

    token_kl(base, tuned[0], *inputs[:5], cfg.model_copy(update={"levels": [0]}), progress=False)
    runs: list[dict[str, Any]] = []
    per_call = []
    for i, model in enumerate(tuned):
        result, secs = timed(
            args.device, lambda m=model: token_kl(base, m, *inputs, progress=False)
        )
        per_call.append(result.per_fact)
        runs.append({"arm": "per-call", "model": i, "seconds": secs})
    prepared, prep_secs = timed(
        args.device, lambda: prepare_token_kl(base, *inputs, keep_base=True)
    )
    runs.append({"arm": "prepare", "model": None, "seconds": prep_secs})
    for i, model in enumerate(tuned):
        result, secs = timed(args.device, lambda m=model: prepared.run(m, progress=False))
        if result.per_fact != per_call[i]:
            raise SystemExit(f"model {i}: the prepared run's rows differ from token_kl's")
        runs.append({"arm": "prepared", "model": i, "seconds": secs})
    for r in runs:
        print(f"{r['arm']:>9} model {r['model']}: {r['seconds']:6.3f}s", flush=True)
    report(args, base, runs)


def report(args: argparse.Namespace, base: Any, runs: list[dict[str, Any]]) -> None:
    """Print the summary and write ``token_kl.json``."""
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    per_call = [r["seconds"] for r in runs if r["arm"] == "per-call"]
    prepared = [r["seconds"] for r in runs if r["arm"] == "prepared"]
    prepare = next(r["seconds"] for r in runs if r["arm"] == "prepare")
    total_old, total_new = sum(per_call), prepare + sum(prepared)
    later = statistics.fmean(prepared[1:]) if len(prepared) > 1 else prepared[0]
    summary = {
        "device": name, "shape": args.shape, "facts": args.facts, "models": args.models,
        "batch_size": args.batch_size, "params": sum(p.numel() for p in base.parameters()),
        "per_call_mean_s": statistics.fmean(per_call), "prepare_s": prepare,
        "prepared_first_s": prepared[0], "prepared_later_mean_s": later,
        "total_per_call_s": total_old, "total_prepared_s": total_new, "identical": True,
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "token_kl.json").write_text(json.dumps({**summary, "runs": runs}, indent=2))
    print(f"\n{name}, {summary['params'] / 1e6:.1f}M params, {args.facts} facts, "
          f"{args.models} tuned models, batch {args.batch_size}")  # fmt: skip
    print(f"per call: {summary['per_call_mean_s']:.3f}s a model; prepared: {prepare:.3f}s once, "
          f"first run {prepared[0]:.3f}s, later runs {later:.3f}s "
          f"({summary['per_call_mean_s'] / later:.2f}x); all {args.models} models "
          f"{total_old:.2f}s -> {total_new:.2f}s ({total_old / total_new:.2f}x); rows identical")  # fmt: skip


if __name__ == "__main__":
    main()
