"""Benchmark CBQA evaluation: ``evaluate_model`` vs plain batched ``model.generate``.

Both decode greedily, at most ``--max-new-tokens`` tokens per question, same prompts.  The
baseline is what a user would write: left-padded batches in input order, ``generate`` with
EOS and newline tokens as stop tokens; it is swept over ``--baseline-batch-sizes`` and compared
at its best.  ``evaluate_model`` runs with the engine's automatic batch size (and any given in
``--engine-batch-sizes``) and each prefill of ``--prefill`` (``bucketed``: chunks of similar
prompt length; ``padded``: one pass padded to the longest prompt).  Both include
tokenisation, decoding and (for sftlens) scoring.

Shapes: ``world`` (a built knowledge world, real questions), or random-weight Llamas built
from a ``LlamaConfig`` (``tiny``, ``1b`` = Llama-3.2-1B, ``8b`` = Llama-3-8B; bf16 on CUDA).
With random weights the EOS/newline rows of the LM head are zeroed, so no row can stop
early and both engines generate exactly ``--max-new-tokens`` tokens (fixed token count).

Example::

    python bench/evaluate.py --device cuda --shape 8b --questions 2048 --prefill bucketed,padded
    python bench/evaluate.py --device cuda --shape 8b --prefill bucketed --fuse-norms both
    python bench/evaluate.py --device cpu --shape world --world /tmp/sftlens-worlds/tiny
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

import sftlens.generation
from common import FUSE_NORMS_RUNS, SHAPES, random_model, sync, word_tokenizer
from sftlens.data.records import Fact
from sftlens.evaluation import EvaluateConfig, evaluate_model
from sftlens.prompts import qa_prompt

WORDS = [
    "Where",
    "was",
    "born",
    "Who",
    "is",
    "the",
    "author",
    "of",
    "capital",
    "located",
    "in",
    "?",
]


def random_facts(n: int, seed: int = 0) -> list[Fact]:
    """Synthetic questions of 5..16 words with 1..3-word answers."""
    rng = random.Random(seed)
    facts = []
    for i in range(n):
        subject = " ".join(f"w{rng.randrange(3000)}" for _ in range(rng.randint(1, 12)))
        question = f"Where was {subject} born ?"
        answer = " ".join(f"w{rng.randrange(3000)}" for _ in range(rng.randint(1, 3)))
        facts.append(Fact(f"q{i}", "P19", subject, question, (answer,), domain="in", split="test"))
    return facts


def world_setup(world: Path, n: int, device: str) -> tuple[Any, Any, list[Fact]]:
    from sftlens.data import load_dataset
    from sftlens.models import load_model, load_tokenizer

    facts = [
        f
        for f in load_dataset(f"world:{world}").facts
        if f.split == "test" and f.role != "pretrain_qa"
    ]
    return load_model(world / "model", "auto", device), load_tokenizer(world / "model"), facts[:n]


def newline_ids(tok: Any) -> list[int]:
    """Ids of tokens whose text holds a newline (the baseline's extra stop tokens)."""
    return [i for t, i in tok.get_vocab().items() if "\n" in tok.convert_tokens_to_string([t])]


def baseline(
    model: Any, tok: Any, prompts: list[str], batch: int, max_new: int, newlines: list[int]
) -> tuple[float, list[str]]:
    """Plain batched ``generate`` (greedy), stopping at EOS or a newline token; seconds, outputs."""
    device = next(model.parameters()).device
    outs: list[str] = []
    sync(str(device))
    start = time.perf_counter()
    for b in range(0, len(prompts), batch):
        enc = tok(prompts[b : b + batch], return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id,
                                 eos_token_id=[tok.eos_token_id, *newlines])  # fmt: skip
        texts = tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        outs.extend(t.split("\n")[0] for t in texts)
    sync(str(device))
    return time.perf_counter() - start, outs


@contextlib.contextmanager
def prefill_mode(prefill: str) -> Iterator[None]:
    """Within the block, ``evaluate_model``'s generation runs with ``GenerationConfig.prefill``."""
    original = sftlens.generation.generate

    def patched(model: Any, tok: Any, prompts: Any, cfg: Any, *args: Any, **kw: Any) -> Any:
        cfg = dataclasses.replace(cfg, prefill=prefill)
        return original(model, tok, prompts, cfg, *args, **kw)

    sftlens.generation.generate = patched  # type: ignore[assignment]
    try:
        yield
    finally:
        sftlens.generation.generate = original  # type: ignore[assignment]


def engine(
    model: Any,
    tok: Any,
    facts: list[Fact],
    batch: int | None,
    max_new: int,
    prefill: str = "bucketed",
    fuse_norms: bool = False,
) -> tuple[float, list[str]]:
    cfg = EvaluateConfig(max_new_tokens=max_new, batch_size=batch, fuse_norms=fuse_norms)
    sync(str(next(model.parameters()).device))
    start = time.perf_counter()
    with prefill_mode(prefill):
        res = evaluate_model(
            model, tok, facts, dict.fromkeys((f.id for f in facts), 0), cfg, progress=False
        )
    sync(str(next(model.parameters()).device))
    return time.perf_counter() - start, [p["output"] for p in res.predictions]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--shape", choices=["world", *SHAPES], default="tiny")
    ap.add_argument("--world", type=Path, default=Path("/tmp/sftlens-worlds/tiny"))
    ap.add_argument("--questions", type=int, default=None, help="default: 2048 on CUDA, 128 on CPU")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument(
        "--baseline-batch-sizes",
        default=None,
        help="default: 64,128,256,512,1024 (CUDA) / 8,32,128 (CPU)",
    )
    ap.add_argument(
        "--engine-batch-sizes", default="auto", help="comma list; 'auto' = the engine's choice"
    )
    ap.add_argument(
        "--prefill",
        default="bucketed,padded",
        help="comma list of engine prefills to time: bucketed, padded",
    )
    ap.add_argument(
        "--fuse-norms",
        choices=tuple(FUSE_NORMS_RUNS),
        default="off",
        help="engine runs with the RMS norms compiled (EvaluateConfig.fuse_norms)",
    )
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    gpu = args.device.startswith("cuda")
    n = args.questions or (2048 if gpu else 128)
    if args.shape == "world":
        model, tok, facts = world_setup(args.world, n, args.device)
    else:
        tok = word_tokenizer(SHAPES[args.shape]["vocab_size"], WORDS)
        model, facts = random_model(args.shape, args.device, tok, never_eos=True), random_facts(n)
    prompts = [qa_prompt(f.question) for f in facts]
    fuse = FUSE_NORMS_RUNS[args.fuse_norms]
    for fused in fuse:  # warm-up (kernels, allocator, the fused norms' compile)
        engine(model, tok, facts[:8], 8, args.max_new_tokens, fuse_norms=fused)
    newlines = newline_ids(tok)
    baseline(model, tok, prompts[:8], 8, args.max_new_tokens, newlines)
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    results: dict[str, Any] = {"device": torch.cuda.get_device_name() if gpu else "cpu", "shape": args.shape,
                               "questions": len(facts), "max_new_tokens": args.max_new_tokens, "baseline": {}, "engine": {}}  # fmt: skip
    sizes = args.baseline_batch_sizes or ("64,128,256,512,1024" if gpu else "8,32,128")
    base_out: list[str] = []
    for bs in (int(s) for s in sizes.split(",")):
        secs, base_out = baseline(model, tok, prompts, bs, args.max_new_tokens, newlines)
        results["baseline"][bs] = max(results["baseline"].get(bs, 0.0), len(facts) / secs)
        print(f"baseline generate  batch {bs:>4}: {len(facts) / secs:8.1f} questions/s", flush=True)
    for prefill, spec, fused in itertools.product(
        args.prefill.split(","), args.engine_batch_sizes.split(","), fuse
    ):
        bs_e = None if spec == "auto" else int(spec)
        key = (spec if prefill == "bucketed" else f"{spec}-{prefill}") + ("+fused" if fused else "")
        secs, eng_out = engine(model, tok, facts, bs_e, args.max_new_tokens, prefill, fused)
        results["engine"][key] = max(results["engine"].get(key, 0.0), len(facts) / secs)
        agree = sum(a.strip() == b.strip() for a, b in zip(eng_out, base_out, strict=True))
        results.setdefault("agreement", {})[key] = agree / len(facts)
        print(f"sftlens evaluate   batch {key:>4}: {len(facts) / secs:8.1f} questions/s"
              f" (same output as baseline: {agree / len(facts):.0%})", flush=True)  # fmt: skip
    best_bs, best = max(results["baseline"].items(), key=lambda kv: kv[1])
    ours = max(results["engine"].values())
    results["ratio_vs_best_baseline"] = ours / best
    results["ratio_by_engine"] = {k: v / best for k, v in results["engine"].items()}
    if "auto" in results["engine"]:
        results["ratio_auto_vs_best_baseline"] = results["engine"]["auto"] / best
    if gpu:
        results["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print(f"| {results['device']} | {args.shape} | {len(facts)} q | baseline best (batch {best_bs}) {best:.1f} q/s "
          f"| sftlens {ours:.1f} q/s | x{ours / best:.2f} |")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
