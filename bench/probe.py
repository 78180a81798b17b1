"""Benchmark probing generation: the sftlens engine vs plain batched ``model.generate``.

Both sample ``--samples`` completions per prompt at T=0.7 (top-p 1, top-k off), same
prompts.  The baseline is lm-eval's HF backend style: prompts sorted by length,
left-padded batches, ``generate(num_return_sequences=n)`` (which re-encodes each prompt
n times); it is swept over ``--baseline-batch-sizes`` (prompts per batch) and compared
at its best.  The engine runs with its automatic batch size (plus any
``--engine-batch-sizes``, in rows = prompts x samples).  ``--fixed-tokens`` makes both
generate exactly ``--max-new-tokens`` tokens (no stop at EOS/newline; needed for random
weights, which never stop early).  Times include tokenisation and decoding.

Model FLOPs: ``2 * N * tokens`` with N the matmul parameters (embedding lookup excluded).
"useful" counts each prompt once per prompt (what a shared prefill must do); "per
completion" counts the prompt once per sample (the anchor's convention).  The roofline
fraction divides the useful rate by ``--peak-tflops`` (measured with a bf16 matmul on
GPU when not given).

Shapes: ``world`` (a built knowledge world: ``--world DIR``, its statement prompts) or
random-weight Llamas from a ``LlamaConfig`` (``tiny``, ``1b`` = Llama-3.2-1B, ``8b`` =
Llama-3-8B; bf16 on CUDA, fp32 on CPU; a word-level tokenizer, no downloads).

Example::

    python bench/probe.py --device cuda --shape 8b --prompts 512 --fixed-tokens
    python bench/probe.py --device cpu --shape world --world /tmp/sftlens-worlds/tiny --prompts 64
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from common import (
    SHAPES,
    GpuMonitor,
    matmul_params,
    matmul_tflops,
    random_model,
    sync,
    word_tokenizer,
)
from sftlens.generation import GenerationConfig, generate, sampling
from sftlens.generation.stops import stop_ids

TEMPLATES = ["{s} was born in", "The birthplace of {s} is", "{s} is a native of", "{s} hails from",
             "The city where {s} was born is", "Records show that {s} was born in"]  # fmt: skip


def synthetic_prompts(n: int, seed: int) -> list[str]:
    """Statement prompts with 1..6-word subjects (about 6..14 tokens with BOS)."""
    rng = random.Random(seed)
    return [
        rng.choice(TEMPLATES).replace(
            "{s}", " ".join(f"w{rng.randrange(3000)}" for _ in range(rng.randint(1, 6)))
        )
        for _ in range(n)
    ]


def world_setup(world: Path, n: int, device: str) -> tuple[Any, Any, list[str]]:
    """The world's model, tokenizer and its first ``n`` statement prompts."""
    from sftlens.data import load_dataset
    from sftlens.models import load_model, load_tokenizer

    ds = load_dataset(f"world:{world}")
    prompts = [ds.relations[f.relation].statement(f.subject, i) for f in ds.facts for i in range(2)]
    return load_model(world / "model", "auto", device), load_tokenizer(world / "model"), prompts[:n]


def run_baseline(
    model: Any, tok: Any, prompts: list[str], batch: int, args: argparse.Namespace
) -> tuple[float, int]:
    """lm-eval HF style: length-sorted, left-padded ``generate(num_return_sequences=n)``."""
    device = str(next(model.parameters()).device)
    order = sorted(prompts, key=lambda p: -len(tok(p)["input_ids"]))
    if args.fixed_tokens:
        stop: dict[str, Any] = {"min_new_tokens": args.max_new_tokens}
    else:  # lm-eval's until=["\n"]: EOS or any newline token ends a row
        stop = {"eos_token_id": stop_ids(tok, model, stop_at_newline=True)}
    n_tokens = 0
    sync(device)
    start = time.perf_counter()
    for b in range(0, len(order), batch):
        enc = tok(order[b : b + batch], return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=True, temperature=args.temperature, top_p=1.0, top_k=0,
                                 num_return_sequences=args.samples, max_new_tokens=args.max_new_tokens,
                                 pad_token_id=tok.pad_token_id, **stop)  # fmt: skip
        new = out[:, enc["input_ids"].shape[1] :]
        n_tokens += int((new != tok.pad_token_id).sum()) if not args.fixed_tokens else new.numel()
        tok.batch_decode(new, skip_special_tokens=True)
    sync(device)
    return time.perf_counter() - start, n_tokens


def run_engine(
    model: Any,
    tok: Any,
    prompts: list[str],
    rows: int | None,
    args: argparse.Namespace,
    variant: str = "current",
) -> float:
    cfg = GenerationConfig(max_new_tokens=args.max_new_tokens, n_samples=args.samples, temperature=args.temperature,
                           answer_span="full" if args.fixed_tokens else "first_line", ignore_eos=args.fixed_tokens,
                           batch_size=rows, seed=args.seed, **engine_variant(variant))  # fmt: skip
    device = str(next(model.parameters()).device)
    sync(device)
    with sampler_variant(variant):
        start = time.perf_counter()
        generate(model, tok, prompts, cfg)
        sync(device)
        return time.perf_counter() - start


#: sampler variants for A/B timing: the one-level draw over the whole vocabulary, and the
#: two-level draw with eager block sums (the default on CUDA compiles them)
SAMPLER_VARIANTS = ("one-level-sampler", "eager-sampler")


@contextlib.contextmanager
def sampler_variant(name: str) -> Iterator[None]:
    saved = sampling.block_size, sampling._FUSED.broken
    if name == "one-level-sampler":
        sampling.block_size = lambda vocab: 0  # type: ignore[assignment]
    elif name == "eager-sampler":
        sampling._FUSED.broken = True
    try:
        yield
    finally:
        sampling.block_size, sampling._FUSED.broken = saved


#: engine variants for A/B timing in one process: GenerationConfig fields that differ from the default
ENGINE_VARIANTS: dict[str, dict[str, Any]] = {
    "current": {},
    "sdpa": {"decode_kernel": "sdpa"},  # decode attention through SDPA (cuDNN on an H100)
    "efficient": {"decode_kernel": "sdpa-efficient"},  # SDPA's memory-efficient kernel
    "dynamic": {"kv_cache": "dynamic"},  # HF's DynamicCache (grows by torch.cat)
    "sync": {"mask_sync": True},  # HF's mask builder (a GPU sync per decode step)
    "padded": {"prefill": "padded"},  # one prefill pass padded to the longest prompt
    "graph": {"decode_graph": True},  # decode steps replayed as CUDA graphs
    "previous": {
        "decode_kernel": "sdpa",
        "kv_cache": "dynamic",
        "mask_sync": True,
        "prefill": "padded",
    },
}


def engine_variant(name: str) -> dict[str, Any]:
    """The ``GenerationConfig`` fields of engine variant ``name``."""
    if name in SAMPLER_VARIANTS:
        return {}
    if name not in ENGINE_VARIANTS:
        raise SystemExit(f"unknown engine variant {name}; choose {', '.join(ENGINE_VARIANTS)}")
    return ENGINE_VARIANTS[name]


def report(name: str, seconds: float, n_prompts: int, args: argparse.Namespace, flops: dict[str, float],
           util: float | None, mem: float | None) -> dict[str, Any]:  # fmt: skip
    comps = n_prompts * args.samples
    res = {"engine": name, "seconds": seconds, "facts_per_s": n_prompts / seconds, "completions_per_s": comps / seconds,
           "useful_tflops": flops["useful"] / seconds / 1e12,
           "per_completion_tflops": flops["per_completion"] / seconds / 1e12,
           "gpu_util_pct": util, "peak_mem_gib": mem}  # fmt: skip
    if args.peak_tflops:
        res["roofline_useful"] = res["useful_tflops"] / args.peak_tflops
        res["roofline_per_completion"] = res["per_completion_tflops"] / args.peak_tflops
    roof = (
        f" roofline {res['roofline_useful']:.1%} (per-completion {res['roofline_per_completion']:.1%})"
        if args.peak_tflops
        else ""
    )
    extra = (f" util {util:.0f}%" if util is not None else "") + (
        f" mem {mem:.1f} GiB" if mem is not None else ""
    )
    print(f"{name:<28} {res['facts_per_s']:9.2f} prompts/s {res['completions_per_s']:10.1f} completions/s"
          f" {seconds:7.2f}s{roof}{extra}", flush=True)  # fmt: skip
    return res


def monitored(device: str, fn: Any) -> tuple[Any, float | None, float | None]:
    """``(fn(), mean GPU utilisation, peak GiB)`` (None, None on CPU)."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with GpuMonitor(device) as mon:
        out = fn()
    mem = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    return out, mon.mean, mem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--shape", default="tiny", choices=[*SHAPES, "world"])
    ap.add_argument("--world", type=Path, help="world dir for --shape world")
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument(
        "--fixed-tokens", action="store_true", help="no early stop: exactly max-new-tokens each"
    )
    ap.add_argument(
        "--baseline-batch-sizes",
        default="16,32,64,128",
        help="prompts per generate call ('none': engine only)",
    )
    ap.add_argument(
        "--engine-batch-sizes",
        default="auto",
        help="rows (prompts x samples); 'auto' = from memory",
    )
    ap.add_argument(
        "--engine-variants",
        default="current",
        help="engine variants to time at the first batch size: current,sdpa,efficient,dynamic,sync,padded,graph,previous,"
        "one-level-sampler,eager-sampler",
    )
    ap.add_argument("--peak-tflops", type=float, help="roofline peak (default: measured on GPU)")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write all results here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.shape == "world":
        model, tok, prompts = world_setup(args.world, args.prompts, args.device)
    else:
        tok = word_tokenizer(
            SHAPES[args.shape]["vocab_size"],
            sorted({w for t in TEMPLATES for w in t.split() if w != "{s}"}),
        )
        model = random_model(args.shape, args.device, tok, never_eos=False)
        prompts = synthetic_prompts(args.prompts, args.seed)
    if args.peak_tflops is None and args.device.startswith("cuda"):
        args.peak_tflops = matmul_tflops(args.device)
        print(f"measured bf16 matmul peak: {args.peak_tflops:.0f} TFLOP/s")
    n_mat = matmul_params(model)
    prompt_tokens = sum(len(tok(p)["input_ids"]) for p in prompts)
    gen_tokens = len(prompts) * args.samples * args.max_new_tokens  # exact with --fixed-tokens
    flops = {"useful": 2 * n_mat * (prompt_tokens + gen_tokens),
             "per_completion": 2 * n_mat * (prompt_tokens * args.samples + gen_tokens)}  # fmt: skip
    print(f"shape {args.shape} ({n_mat / 1e9:.3f}B matmul params) on {args.device}: {len(prompts)} prompts "
          f"x {args.samples} samples, {args.max_new_tokens} new tokens{' (fixed)' if args.fixed_tokens else ''}, "
          f"mean prompt {prompt_tokens / len(prompts):.1f} tokens")  # fmt: skip
    warm = prompts[: min(8, len(prompts))]
    run_engine(model, tok, warm, None, args)
    if args.baseline_batch_sizes not in ("", "none"):
        run_baseline(model, tok, warm, len(warm), args)
    results = []
    for rows in args.engine_batch_sizes.split(","):
        r = None if rows == "auto" else int(rows)
        sec, util, mem = monitored(
            args.device, lambda r=r: run_engine(model, tok, prompts, r, args)
        )
        results.append(
            report(f"sftlens engine rows={rows}", sec, len(prompts), args, flops, util, mem)
        )
    first = args.engine_batch_sizes.split(",")[0]
    for variant in [v for v in args.engine_variants.split(",") if v != "current"]:
        r = None if first == "auto" else int(first)
        run_engine(model, tok, warm, None, args, variant)
        sec, util, mem = monitored(
            args.device, lambda r=r, v=variant: run_engine(model, tok, prompts, r, args, v)
        )
        results.append(
            report(f"variant {variant} rows={first}", sec, len(prompts), args, flops, util, mem)
        )
    for batch in (int(b) for b in args.baseline_batch_sizes.split(",") if b not in ("", "none")):
        try:
            (sec, _), util, mem = monitored(
                args.device, lambda b=batch: run_baseline(model, tok, prompts, b, args)
            )
        except torch.OutOfMemoryError:
            print(f"baseline batch={batch}: out of memory")
            torch.cuda.empty_cache()
            continue
        results.append(report(f"generate batch={batch}", sec, len(prompts), args, flops, util, mem))
    # the engine again, last: the first timed run can pay for clock ramp-up and new shapes
    r = (
        None
        if args.engine_batch_sizes.split(",")[0] == "auto"
        else int(args.engine_batch_sizes.split(",")[0])
    )
    sec, util, mem = monitored(args.device, lambda: run_engine(model, tok, prompts, r, args))
    results.append(report("sftlens engine (repeat)", sec, len(prompts), args, flops, util, mem))
    best_engine = max(
        (r for r in results if r["engine"].startswith("sftlens")),
        key=lambda r: r["completions_per_s"],
    )
    bases = [r for r in results if r["engine"].startswith("generate")]
    ratio = None
    if bases:
        best_base = max(bases, key=lambda r: r["completions_per_s"])
        ratio = best_engine["completions_per_s"] / best_base["completions_per_s"]
        print(f"best: {best_engine['engine']} vs {best_base['engine']}: {ratio:.2f}x completions/s")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results,
                                         "ratio": ratio}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
