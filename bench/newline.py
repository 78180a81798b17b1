"""Benchmark the probe's newline cut (``answer_span=first_line``): what it changes and what it costs.

``--world DIR`` (a): probe a built knowledge world with the paper's protocol (every
template, ``--samples`` at T=0.7, <=32 new tokens, ``contains``) twice, with and without
the newline cut, and report the share of facts at each mastery level, how many facts
change level, and the wall time of each run.  The world corpus is one statement per
line, so without the cut a completion runs on into following statements.

``--shape 8b`` (b): probe speed of the sftlens engine at a random-weight Llama shape,
with and without the cut, on synthetic statement prompts.  Random weights almost never
sample a newline, so ``--newline-rates`` sets the probability of the newline token at
every decode step (a logit hook on the output head; 0 = the raw random model): with
rate p the cut ends a completion after about 1/p tokens; without the cut every
completion runs to ``--max-new-tokens`` (unless EOS).

Example::

    python bench/newline.py --world /tmp/world-gpu --facts 4000 --device cuda --json out.json
    python bench/newline.py --shape 8b --device cuda --prompts 512 --newline-rates 0,0.125,0.25
    python bench/newline.py --shape tiny --device cpu --prompts 16 --samples 2   # smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from common import SHAPES, random_model, sync, word_tokenizer
from probe import synthetic_prompts
from sftlens.generation import GenerationConfig, generate
from sftlens.generation.stops import newline_ids
from sftlens.probing import ProbeConfig, probe_facts

LEVELS = range(5)


def span(cut: bool) -> str:
    """The answer span of a run with (``first_line``) or without (``full``) the newline cut."""
    return "first_line" if cut else "full"


def level_shares(rows: list[dict[str, Any]]) -> dict[str, float]:
    counts = Counter(int(r["level"]) for r in rows)
    return {f"L{lv}": counts[lv] / max(len(rows), 1) for lv in LEVELS}


def world_run(args: argparse.Namespace) -> dict[str, Any]:
    """(a) Level shares with and without the newline cut on a knowledge world."""
    from sftlens.data import load_dataset
    from sftlens.models import load_model, load_tokenizer

    ds = load_dataset(f"world:{args.world}")
    facts = [f for f in ds.facts if f.role != "pretrain_qa"][: args.facts]
    model = load_model(args.world / "model", "auto", args.device)
    tok = load_tokenizer(args.world / "model")
    out: dict[str, Any] = {"facts": len(facts), "runs": {}}
    rows_by: dict[bool, list[dict[str, Any]]] = {}
    for cut in (True, False):
        cfg = ProbeConfig(model=str(args.world / "model"), data=f"world:{args.world}",
                          samples=args.samples, answer_span=span(cut), batch_size=args.batch_size,
                          seed=args.seed)  # fmt: skip
        sync(args.device)
        start = time.perf_counter()
        rows_by[cut] = probe_facts(model, tok, facts, ds.relations, cfg, progress=False)
        sync(args.device)
        seconds = time.perf_counter() - start
        shares = level_shares(rows_by[cut])
        mean_r = sum(r["R"] for r in rows_by[cut]) / max(len(facts), 1)
        out["runs"]["cut" if cut else "no_cut"] = {
            "seconds": seconds,
            "shares": shares,
            "mean_R": mean_r,
        }
        print(f"{'with' if cut else 'without'} newline cut: {seconds:.1f}s  mean R {mean_r:.3f}  "
              + "  ".join(f"{k} {v:.1%}" for k, v in shares.items()))  # fmt: skip
    moved = Counter(
        (a["level"], b["level"]) for a, b in zip(rows_by[True], rows_by[False], strict=True)
    )
    out["transitions"] = {f"L{a}->L{b}": n for (a, b), n in sorted(moved.items()) if a != b}
    out["changed_level"] = sum(n for (a, b), n in moved.items() if a != b)
    print(
        f"facts changing level (cut -> no cut): {out['changed_level']} of {len(facts)}: {out['transitions']}"
    )
    return out


def newline_hook(model: Any, ids: list[int], rate: float, temperature: float) -> Any:
    """Make the (first) newline token's sampling probability ``rate`` at every position."""
    nl = ids[0]
    bias = temperature * math.log(rate / (1 - rate))

    def hook(_module: Any, _inputs: Any, logits: torch.Tensor) -> torch.Tensor:  # [b, s, vocab]
        others = logits.float().clone()
        others[..., nl] = -math.inf
        logits[..., nl] = (temperature * torch.logsumexp(others / temperature, -1) + bias).to(
            logits.dtype
        )
        return logits

    return model.get_output_embeddings().register_forward_hook(hook)


def speed_run(args: argparse.Namespace) -> dict[str, Any]:
    """(b) Engine speed with and without the cut at a random-weight shape."""
    tok = word_tokenizer(SHAPES[args.shape]["vocab_size"], extra_words=["\n"])
    model = random_model(args.shape, args.device, tok, never_eos=True)
    ids = newline_ids(tok)
    assert ids, "the bench tokenizer needs a newline token"
    prompts = synthetic_prompts(args.prompts, args.seed)
    out: dict[str, Any] = {
        "shape": args.shape,
        "prompts": len(prompts),
        "samples": args.samples,
        "rates": {},
    }
    for rate in args.newline_rates:
        handle = newline_hook(model, ids, rate, args.temperature) if rate > 0 else None
        res: dict[str, Any] = {}
        for cut in (True, False):
            cfg = GenerationConfig(max_new_tokens=args.max_new_tokens, n_samples=args.samples,
                                   temperature=args.temperature, answer_span=span(cut),
                                   batch_size=args.batch_size, seed=args.seed)  # fmt: skip
            generate(model, tok, prompts[: min(8, len(prompts))], cfg, progress=False)  # warm-up
            sync(args.device)
            start = time.perf_counter()
            outs = generate(model, tok, prompts, cfg, progress=False)
            sync(args.device)
            seconds = time.perf_counter() - start
            n = sum(len(o) for o in outs)
            words = sum(len(c.split()) for o in outs for c in o) / max(n, 1)
            res["cut" if cut else "no_cut"] = {"seconds": seconds, "completions_per_s": n / seconds,
                                               "mean_words": words}  # fmt: skip
            print(f"rate {rate:g} {'with' if cut else 'without'} cut: {seconds:.2f}s  "
                  f"{n / seconds:.0f} completions/s  {words:.1f} words per completion")  # fmt: skip
        res["speedup_of_cut"] = res["no_cut"]["seconds"] / res["cut"]["seconds"]
        out["rates"][f"{rate:g}"] = res
        if handle is not None:
            handle.remove()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--world", type=Path, help="(a) a built knowledge world dir")
    ap.add_argument("--facts", type=int, default=2000, help="(a) facts to probe")
    ap.add_argument("--shape", choices=list(SHAPES), help="(b) a random-weight Llama shape")
    ap.add_argument("--prompts", type=int, default=256, help="(b) synthetic prompts")
    ap.add_argument("--newline-rates", default="0,0.125,0.25", help="(b) comma list of p")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, help="rows decoded at once (default: auto)")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    args.newline_rates = [float(x) for x in args.newline_rates.split(",") if x.strip()]
    if not 0 <= min(args.newline_rates) <= max(args.newline_rates) < 1:
        ap.error("--newline-rates must lie in [0, 1)")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.world is None and args.shape is None:
        ap.error("give --world DIR (level shares) and/or --shape SHAPE (speed)")
    result: dict[str, Any] = {"device": args.device, "max_new_tokens": args.max_new_tokens}
    if args.world is not None:
        result["world"] = world_run(args)
    if args.shape is not None:
        result["speed"] = speed_run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
