"""Where does the time go? torch.profiler tables for one probe batch, one evaluation call and
a few SFT steps.

Not a benchmark (no baseline): a diagnosis aid for the engine and the trainer.  Prints the
top kernels / ops by device time and by host time, and the wall time of the profiled work.

Example::

    python bench/profile_gpu.py probe --shape 8b --prompts 344     # one engine batch, 10 x 32 tokens
    python bench/profile_gpu.py probe --model DIR --eq-dir EQ --prompts 2048   # a real checkpoint
    python bench/profile_gpu.py evaluate --model DIR --eq-dir EQ --prompts 4096  # greedy, 16 tokens
    python bench/profile_gpu.py evaluate --shape 8b --prompts 2048   # bench/evaluate.py's questions
    python bench/profile_gpu.py evaluate --shape gpu-world --prompts 5000 --dtype float32
    python bench/profile_gpu.py sft --shape 1b --samples 320       # sftlens trainer, 40 steps
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from common import SHAPES, random_model, sync, timed, word_tokenizer
from probe import synthetic_prompts
from sftlens.generation import GenerationConfig, generate

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _tables(prof: Any, rows: int) -> None:
    key = "cuda_time_total" if torch.cuda.is_available() else "cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=60))
    print(
        prof.key_averages().table(
            sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=60
        )
    )


def _profiled(fn: Any, rows: int, trace: str = "") -> float:
    sync(DEVICE)
    start = time.perf_counter()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=acts) as prof:
        fn()
        sync(DEVICE)
    wall = time.perf_counter() - start
    _tables(prof, rows)
    if trace:  # a Chrome trace (chrome://tracing, Perfetto) of the profiled call
        prof.export_chrome_trace(trace)
    return wall


def _timed(fn: Any) -> float:
    return timed(DEVICE, fn)[1]


def probe(args: argparse.Namespace) -> None:
    """One probe call (or, for ``evaluate``, one greedy call of <= 16 tokens): random weights
    (``--shape``, every row 32 tokens) or a real checkpoint (``--model``, EntityQuestions
    prompts, rows stop at EOS or the newline rule)."""
    if args.model:
        from real_model import eq_prompts
        from sftlens.models import load_model, load_tokenizer

        model, tok = load_model(args.model, args.dtype, DEVICE), load_tokenizer(args.model)
        prompts = eq_prompts(args.eq_dir, args.prompts, 0)
        cfg = GenerationConfig(max_new_tokens=32, n_samples=10, temperature=0.7)
        if args.what == "evaluate":
            cfg = GenerationConfig(max_new_tokens=16)
    elif args.what == "evaluate":
        return evaluate_random(args)
    else:
        tok = word_tokenizer(128256 if args.shape != "tiny" else 4096, ["was", "born", "in"])
        model = random_model(args.shape, DEVICE, tok, never_eos=True)
        prompts = synthetic_prompts(args.prompts, 0)
        cfg = GenerationConfig(max_new_tokens=32, n_samples=10, temperature=0.7, answer_span="full",
                               ignore_eos=True, batch_size=args.prompts * 10)  # fmt: skip
    generate(model, tok, prompts[:32], cfg)  # warm-up
    plain = _timed(lambda: generate(model, tok, prompts, cfg))
    rows = len(prompts) * cfg.rows_per_prompt
    print(f"unprofiled: {plain:.2f}s, {rows / plain:.0f} completions/s")
    wall = _profiled(lambda: generate(model, tok, prompts, cfg), args.rows, args.trace)
    print(
        f"profiled: {wall:.2f}s for {len(prompts)} prompts x {cfg.rows_per_prompt} rows x "
        f"<= {cfg.max_new_tokens} tokens"
    )


def evaluate_random(args: argparse.Namespace) -> None:
    """One ``evaluate_model`` call on random weights (``bench/evaluate.py``'s questions and
    settings: greedy, 16 tokens for every row, the engine's batch size)."""
    from evaluate import WORDS, engine, random_facts

    tok = word_tokenizer(SHAPES[args.shape]["vocab_size"], WORDS)
    fp32 = args.dtype == "float32"  # as a study in fp32 runs it (TF32 matmuls, sftlens.models)
    model = random_model(
        args.shape, DEVICE, tok, never_eos=True, dtype=torch.float32 if fp32 else None
    )
    torch.backends.cuda.matmul.allow_tf32 = fp32 or torch.backends.cuda.matmul.allow_tf32
    facts = random_facts(args.prompts)
    engine(model, tok, facts[:32], None, 16)  # warm-up
    plain = _timed(lambda: engine(model, tok, facts, None, 16))
    print(f"unprofiled: {plain:.2f}s, {len(facts) / plain:.0f} questions/s")
    wall = _profiled(lambda: engine(model, tok, facts, None, 16), args.rows, args.trace)
    print(f"profiled: {wall:.2f}s for {len(facts)} questions x 16 tokens")


def sft(args: argparse.Namespace) -> None:
    from sft import build_tokenizer, synthetic_examples
    from sftlens.finetuning.config import FinetuneConfig
    from sftlens.finetuning.trainer import finetune

    device = "cuda" if torch.cuda.is_available() else "cpu"
    examples = synthetic_examples(args.samples)
    tok = build_tokenizer(examples)
    model = random_model(args.shape, device, tok)
    model.train()
    cfg = FinetuneConfig(batch_size=8, log_every=1000)
    finetune(model, tok, examples[:32], cfg, progress=False)  # warm-up
    plain = _timed(lambda: finetune(model, tok, examples, cfg, progress=False))
    steps = args.samples // 8
    print(f"unprofiled: {plain:.2f}s, {steps / plain:.1f} steps/s")
    wall = _profiled(lambda: finetune(model, tok, examples, cfg, progress=False), args.rows)
    print(f"profiled: {wall:.2f}s for {steps} steps")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["probe", "evaluate", "sft"])
    ap.add_argument("--shape", default="8b")
    ap.add_argument("--prompts", type=int, default=344)
    ap.add_argument("--samples", type=int, default=320)
    ap.add_argument("--rows", type=int, default=30, help="table rows")
    ap.add_argument("--model", default="", help="a checkpoint dir (probe only; default: random)")
    ap.add_argument("--eq-dir", default="../shared/data/entityquestions")
    ap.add_argument("--dtype", default="bfloat16", help="float32: random shapes in fp32 (TF32)")
    ap.add_argument("--trace", default="", help="write a Chrome trace of the profiled call here")
    args = ap.parse_args()
    sft(args) if args.what == "sft" else probe(args)


if __name__ == "__main__":
    main()
