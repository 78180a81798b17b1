"""Benchmark the generation engine on a real checkpoint against ``model.generate``.

Three parts, each with its baseline in the same run, on EntityQuestions prompts (paper QA
prompts ``<|question|> {q} <|answer|>`` and statement-template completions, half each):

- ``equality``: greedy sftlens tokens vs ``model.generate(do_sample=False)`` token for token
  (both stop at EOS and by the newline rule: the first newline after answer text; compared
  up to the end of each row).
- ``evaluate``: greedy, at most ``--eval-tokens`` tokens: sftlens (automatic batch and any
  ``--engine-batch-sizes``) vs ``generate`` swept over ``--baseline-batch-sizes``.
- ``probe``: T = ``--temperature``, ``--samples`` completions of at most ``--probe-tokens``
  tokens: sftlens vs ``generate(num_return_sequences=samples)`` swept over the same sizes
  (prompts per batch).

Throughput counts generated tokens (up to the stop); model FLOPs are 2 x parameters x tokens
(prefill not counted), reported as a share of ``--peak-flops``; the speed-up is the best
``generate`` time over sftlens' time on the same prompts.  Baselines are length-sorted,
left-padded batches.  Writes ``real_model.json`` to ``--out`` and prints a table last.

Example::

    python bench/real_model.py --model gemma3-270m --device cpu --parts equality --equality 100
    python bench/real_model.py --model gemma3-270m --device cuda --equality 500 \\
        --eval-prompts 4096 --probe-prompts 1024 --baseline-batch-sizes 64,256,1024 --out /tmp/rm
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from common import FUSE_NORMS_RUNS, timed
from sftlens.data import load_dataset
from sftlens.generation import GenerationConfig, generate
from sftlens.generation.stops import StopTables, eos_ids, stop_rule
from sftlens.models import load_model, load_tokenizer
from sftlens.prompts import qa_prompt

gen_mod = importlib.import_module("sftlens.generation.generate")  # the module, not the function


def eq_prompts(eq_dir: str, n: int, seed: int) -> list[str]:
    """``n`` prompts: half paper QA prompts, half statement templates, of shuffled facts."""
    ds = load_dataset(f"entityquestions:{eq_dir}")
    facts = list(ds.facts)
    random.Random(seed).shuffle(facts)
    out: list[str] = []
    for i, fact in enumerate(facts[:n]):
        rel = ds.relations[fact.relation]
        if i % 2 == 0 or not rel.statement_templates:
            out.append(qa_prompt(fact.question))
        else:
            out.append(rel.statement(fact.subject, i % len(rel.statement_templates)))
    return out


class RuleStop(StoppingCriteria):
    """A ``StoppingCriteria`` for ``model.generate``: a row ends by the engine's stop rule
    (EOS, or a newline once answer text began), given the rule's (V,) tables."""

    def __init__(self, tables: StopTables, start: int) -> None:
        self.tables, self.start = tables, start

    def __call__(self, input_ids: torch.Tensor, scores: Any, **_: Any) -> torch.Tensor:
        new = input_ids[:, self.start :]  # (B, t) generated so far
        last = new[:, -1]  # (B,)
        begun = self.tables.text[new[:, :-1]].any(dim=1)  # (B,) answer text before the last
        return self.tables.ends[last] | (begun & self.tables.newline[last])


def baseline(
    model: Any, tok: Any, prompts: list[str], batch: int, max_new: int, samples: int, temp: float
) -> list[list[int]]:
    """``generate`` on length-sorted left-padded batches → cut token ids per row, prompt order."""
    device = next(model.parameters()).device
    rule = stop_rule(tok, model, True)
    tables = rule.tables(max(model.config.vocab_size, len(tok)), device)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    rows: dict[int, list[list[int]]] = {}
    sampling: dict[str, Any] = {"do_sample": False}
    if temp > 0:
        sampling = {"do_sample": True, "temperature": temp, "top_k": 0, "top_p": 1.0}
    for b in range(0, len(order), batch):
        idx = order[b : b + batch]
        enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True).to(device)
        stopping = StoppingCriteriaList([RuleStop(tables, enc["input_ids"].shape[1])])
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=max_new, num_return_sequences=samples,
                                 eos_token_id=eos_ids(tok, model), pad_token_id=tok.pad_token_id,
                                 stopping_criteria=stopping, **sampling)  # fmt: skip
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        for j, i in enumerate(idx):
            rows[i] = [rule.cut(r) for r in new[j * samples : (j + 1) * samples]]
    return [row for i in range(len(prompts)) for row in rows[i]]


def engine_tokens(
    model: Any, tok: Any, prompts: list[str], cfg: GenerationConfig
) -> list[list[int]]:
    """sftlens ``generate``, capturing the engine's token ids → cut ids per prompt (greedy)."""
    rule = stop_rule(tok, model, True)
    captured: dict[tuple[int, ...], list[int]] = {}
    real = gen_mod.decode_batch

    def capture(model: Any, seqs: Any, *args: Any) -> torch.Tensor:
        tokens = real(model, seqs, *args)
        for seq, row in zip(seqs, tokens.tolist(), strict=True):
            captured[tuple(seq)] = rule.cut(row)
        return tokens

    gen_mod.decode_batch = capture  # type: ignore[assignment]
    try:
        generate(model, tok, prompts, cfg)
    finally:
        gen_mod.decode_batch = real  # type: ignore[assignment]
    encoded = gen_mod.encode_prompts(tok, prompts)
    return [captured[tuple(e)] for e in encoded]


def equality(model: Any, tok: Any, prompts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    cfg = GenerationConfig(max_new_tokens=args.eval_tokens, fuse_norms=args.fuse_norms == "on")
    ours = engine_tokens(model, tok, prompts, cfg)
    theirs = baseline(model, tok, prompts, args.equality_batch, args.eval_tokens, 1, 0.0)
    same = [a == b for a, b in zip(ours, theirs, strict=True)]
    first = next((i for i, s in enumerate(same) if not s), None)
    example = None if first is None else {
        "prompt": prompts[first], "sftlens": tok.decode(ours[first]), "generate": tok.decode(theirs[first])}  # fmt: skip
    return {"prompts": len(prompts), "equal": sum(same), "tokens": sum(len(t) for t in theirs),
            "first_mismatch": example}  # fmt: skip


def throughput(
    model: Any, tok: Any, prompts: list[str], args: argparse.Namespace, samples: int, temp: float
) -> list[dict[str, Any]]:
    """Rows of (who, batch, seconds, tokens, tokens/s, % of peak) for one protocol."""
    device = str(next(model.parameters()).device)
    params = sum(p.numel() for p in model.parameters())
    max_new = args.eval_tokens if temp == 0 else args.probe_tokens
    out = []

    def row(who: str, batch: Any, secs: float, tokens: int) -> None:
        flops = 2 * params * tokens / secs
        out.append({"who": who, "batch": batch, "seconds": round(secs, 3), "tokens": tokens,
                    "completions_per_s": round(len(prompts) * samples / secs, 1),
                    "tokens_per_s": round(tokens / secs, 1), "pct_peak": round(100 * flops / args.peak_flops, 3)})  # fmt: skip

    runs: list[tuple[str, Any, Callable[[], Any]]] = []
    for batch in args.baseline_batch_sizes:
        runs.append(
            (
                "generate",
                batch,
                lambda b=batch: baseline(model, tok, prompts, b, max_new, samples, temp),
            )
        )
    fuse = FUSE_NORMS_RUNS[args.fuse_norms]
    for rows in [None, *args.engine_batch_sizes]:
        for fused in fuse:
            cfg = GenerationConfig(max_new_tokens=max_new, n_samples=samples, temperature=temp,
                                   batch_size=rows, decode_graph=args.graph, fuse_norms=fused)  # fmt: skip
            who = "sftlens+fused" if fused else "sftlens"
            runs.append((who, rows or "auto", lambda c=cfg: generate(model, tok, prompts, c)))
    best: dict[int, tuple[float, Any]] = {}
    for _ in range(args.repeats):  # interleaved repeats, the fastest of each kept (shared machines)
        for i, (_who, _batch, fn) in enumerate(runs):
            res, secs = timed(device, fn)
            best[i] = min(best.get(i, (secs, res)), (secs, res), key=lambda x: x[0])
    for i, (who, batch, _fn) in enumerate(runs):
        secs, res = best[i]
        if who == "generate":
            row(who, batch, secs, sum(len(t) for t in res))
        else:  # sftlens runs: tokens from the text (+1 for the stop token)
            row(
                who,
                batch,
                secs,
                sum(len(tok(t, add_special_tokens=False)["input_ids"]) + 1 for o in res for t in o),
            )
    return out


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default=None, help="default: float32 on CPU, bfloat16 on CUDA")
    p.add_argument("--eq-dir", default="../shared/data/entityquestions")
    p.add_argument("--parts", default="equality,evaluate,probe")
    p.add_argument("--equality", type=int, default=100, help="prompts compared token for token")
    p.add_argument("--equality-batch", type=int, default=32)
    p.add_argument("--eval-prompts", type=int, default=100)
    p.add_argument("--probe-prompts", type=int, default=20)
    p.add_argument("--eval-tokens", type=int, default=16)
    p.add_argument("--probe-tokens", type=int, default=32)
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--baseline-batch-sizes", default="8,32,100")
    p.add_argument("--engine-batch-sizes", default="")
    p.add_argument("--peak-flops", type=float, default=790e12, help="bf16 peak (H200 measured)")
    p.add_argument("--threads", type=int, default=0, help="torch threads on CPU (0: torch's)")
    p.add_argument("--repeats", type=int, default=1, help="interleaved runs; the fastest counts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--graph", action="store_true", help="decode steps as CUDA graphs (opt-in)")
    p.add_argument("--fuse-norms", choices=tuple(FUSE_NORMS_RUNS), default="off",
                   help="RMS norms compiled (GenerationConfig.fuse_norms); both: each engine run twice; "
                        "equality uses them for on only")  # fmt: skip
    p.add_argument("--graph-compact-share", type=int, default=None,
                   help="graphed runs drop ended rows at 1/N of the batch ended (0: never)")  # fmt: skip
    p.add_argument("--out", default="bench-out/real_model")
    args = p.parse_args()
    args.baseline_batch_sizes = [int(x) for x in args.baseline_batch_sizes.split(",") if x]
    args.engine_batch_sizes = [int(x) for x in args.engine_batch_sizes.split(",") if x]
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    return args


def main() -> None:
    args = parse()
    if args.graph_compact_share is not None:  # a bench knob: the engine's policy is a constant
        from sftlens.generation.decode_steps import GraphedSteps

        GraphedSteps.compact_share = args.graph_compact_share
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = load_model(args.model, args.dtype, args.device), load_tokenizer(args.model)
    parts = set(args.parts.split(","))
    n = max(args.equality, args.eval_prompts, args.probe_prompts)
    prompts = eq_prompts(args.eq_dir, n, args.seed)
    generate(model, tok, prompts[:4], GenerationConfig(max_new_tokens=2))  # warm-up, newline table
    if args.fuse_norms != "off":  # compiles the norms outside the timed runs
        generate(model, tok, prompts[:4], GenerationConfig(max_new_tokens=2, fuse_norms=True))
    baseline(model, tok, prompts[:4], 4, 2, 1, 0.0)
    result: dict[str, Any] = {"args": vars(args), "device": str(next(model.parameters()).device),
                              "params": sum(p.numel() for p in model.parameters())}  # fmt: skip
    if "equality" in parts and args.equality:
        result["equality"] = equality(model, tok, prompts[: args.equality], args)
    if "evaluate" in parts:
        result["evaluate"] = throughput(model, tok, prompts[: args.eval_prompts], args, 1, 0.0)
    if "probe" in parts:
        result["probe"] = throughput(
            model, tok, prompts[: args.probe_prompts], args, args.samples, args.temperature
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "real_model.json").write_text(json.dumps(result, indent=1))
    if "equality" in result:
        eq = result["equality"]
        print(
            f"equality: {eq['equal']}/{eq['prompts']} prompts token for token ({eq['tokens']} tokens)"
        )
        if eq["first_mismatch"]:
            print("  first mismatch:", json.dumps(eq["first_mismatch"]))
    for part in ("evaluate", "probe"):
        base = [x["seconds"] for x in result.get(part, []) if x["who"] == "generate"]
        for r in result.get(part, []):
            ratio = f"x{min(base) / r['seconds']:.2f} vs best generate" if base else ""
            print(f"{part:9s} {r['who']:13s} batch={r['batch']!s:>5s} {r['seconds']:8.2f}s "
                  f"{r['completions_per_s']:9.1f} compl/s {r['tokens_per_s']:9.1f} tok/s "
                  f"{r['pct_peak']:7.3f}% peak  {ratio}")  # fmt: skip


if __name__ == "__main__":
    main()
