"""Benchmark: one restore sweep of 7 k evaluated per k (old path) vs evaluated together (new path).

Builds a random-weight Llama of the ``gpu`` knowledge world's shape (hidden 768, 12 layers,
12 heads, MLP 2048, vocab 8192, untied head: 97.5M parameters; ``--shape tiny`` for a CPU
smoke run), a tuned copy (region tensors x (1 + 0.01 N(0,1))) and ``--questions`` synthetic
test questions spread over 10 relations (5 in-domain, 5 OOD) with random levels.  Then, in
the same process and on the same model:

- ``old``: what the study's restore unit did per k: ``sweep_inplace`` with a callback that
  builds the evaluation config and calls ``evaluate_model`` (select facts, format prompts,
  generate, score) for each k;
- ``new``: ``sftlens.restoration.sweep_evaluate``: the evaluation prepared once, each k's
  restored values swapped in place between the evaluations.

Both run each strategy of ``--strategies`` (default ``top``) over k = 1,3,5,10,20,40,60; the
per-question predictions and accuracy rows of the two paths must be equal (checked; the
run fails otherwise).  With random weights no answer ends early, so every question decodes
``--max-new-tokens`` tokens (an upper bound on a real world's decode work).

Prints a short table last and writes ``restore_sweep.json`` to ``--out``.

Example::

    python bench/restore_sweep.py --device cuda --out /tmp/rs            # 5,000 questions, gpu shape
    python bench/restore_sweep.py --device cpu --shape tiny --questions 200 --out /tmp/rs
    python bench/restore_sweep.py --device cuda --flat off --out /tmp/rs  # the streaming restore
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import random
import time
from pathlib import Path
from typing import Any

import torch

from common import SHAPES, random_model, sync, word_tokenizer
from sftlens.config import build_config
from sftlens.data.records import Fact
from sftlens.evaluation import EvaluateConfig, evaluate_model, prepare_evaluation
from sftlens.restoration import EngineSettings, source_from_model, sweep_evaluate, sweep_inplace
from sftlens.restoration.config import PAPER_KS

RELATIONS = [("P17", "in"), ("P19", "in"), ("P20", "in"), ("P36", "in"), ("P131", "in"),
             ("P26", "ood"), ("P50", "ood"), ("P106", "ood"), ("P112", "ood"), ("P127", "ood")]  # fmt: skip
WORDS = ["Where", "was", "born", "?"]


def synthetic_facts(n: int, seed: int = 0) -> tuple[list[Fact], dict[str, int]]:
    """``n`` test questions of 5..16 words over 10 relations, and a random level for each."""
    rng = random.Random(seed)
    facts, levels = [], {}
    for i in range(n):
        relation, domain = RELATIONS[i % len(RELATIONS)]
        subject = " ".join(f"w{rng.randrange(3000)}" for _ in range(rng.randint(1, 12)))
        answer = " ".join(f"w{rng.randrange(3000)}" for _ in range(rng.randint(1, 3)))
        fid = f"{relation}/test/{i}"
        facts.append(Fact(fid, relation, subject, f"Where was {subject} born ?", (answer,),
                          domain=domain, split="test"))  # fmt: skip
        levels[fid] = rng.randrange(5)
    return facts, levels


def tuned_copy(base: Any, scale: float = 0.01, seed: int = 1) -> Any:
    """A copy of ``base`` whose decoder-layer weights are moved by x (1 + scale N(0,1))."""
    tuned = copy.deepcopy(base)
    g = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if ".layers." in name:
                noise = torch.randn(p.shape, generator=g).to(p.device, p.dtype)
                p.mul_(1 + scale * noise)
    return tuned


def old_path(tuned: Any, base: Any, tok: Any, facts: list[Fact], levels: dict[str, int],
             strategy: str, max_new: int, flat: bool | None = None,
             ) -> tuple[dict[float, Any], dict[str, float]]:  # fmt: skip
    """sweep_inplace + evaluate_model per k (the config built per k, as the study's unit did)."""
    spent = {"evaluate": 0.0, "generate": 0.0}

    def evaluate(k: float, model: Any) -> Any:
        t0 = time.perf_counter()
        cfg = build_config(EvaluateConfig, {"max_new_tokens": max_new, "split": "test"})
        res = evaluate_model(model, tok, facts, levels, cfg, progress=False)
        sync(next(model.parameters()).device)
        spent["evaluate"] += time.perf_counter() - t0
        spent["generate"] += res.seconds
        return res

    quiet = EngineSettings(progress=False)
    found = sweep_inplace(tuned, source_from_model(base), PAPER_KS, strategy, "transformer", 0,
                          evaluate, settings=quiet, flat=flat)  # fmt: skip
    return found, spent


def new_path(tuned: Any, base: Any, tok: Any, facts: list[Fact], levels: dict[str, int],
             strategy: str, max_new: int, flat: bool | None = None, fuse: bool = False,
             ) -> tuple[dict[float, Any], dict[str, float]]:  # fmt: skip
    cfg = build_config(EvaluateConfig, {"max_new_tokens": max_new, "split": "test"})
    quiet = EngineSettings(progress=False)
    timing: dict[str, float] = {}
    plan = prepare_evaluation(tok, facts, levels, cfg)
    if fuse:  # the engine's opt-in fused RMS norms (GenerationConfig.fuse_norms)
        plan = dataclasses.replace(plan, gen=dataclasses.replace(plan.gen, fuse_norms=True))
    prepared = {"test": plan}
    found = sweep_evaluate(tuned, source_from_model(base), PAPER_KS, strategy, "transformer", 0,
                           prepared, settings=quiet, timing=timing, flat=flat)  # fmt: skip
    timing["generate"] = sum(v["test"].seconds for v in found.values())
    return {k: v["test"] for k, v in found.items()}, timing


def fused_path(tuned: Any, base: Any, tok: Any, facts: list[Fact], levels: dict[str, int],
               strategy: str, max_new: int, flat: bool | None = None,
               ) -> tuple[dict[float, Any], dict[str, float]]:  # fmt: skip
    """The new path with the RMS norms compiled (``--fuse-norms``)."""
    return new_path(tuned, base, tok, facts, levels, strategy, max_new, flat, fuse=True)


def agreement(a: dict[float, Any], b: dict[float, Any]) -> float:
    """Share of per-question predictions equal between two paths, over every k."""
    pairs = [(p, q) for k in a for p, q in zip(a[k].predictions, b[k].predictions, strict=True)]
    return sum(p == q for p, q in pairs) / max(1, len(pairs))


def same_results(a: dict[float, Any], b: dict[float, Any]) -> bool:
    return all(a[k].predictions == b[k].predictions and a[k].rows == b[k].rows for k in a) and set(
        a
    ) == set(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="gpu-world")
    ap.add_argument("--questions", type=int, default=5000, help="500 per relation x 10")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--strategies", default="top", help="comma list of top, random, bottom")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs of each path (best kept)")
    ap.add_argument(
        "--flat",
        choices=["auto", "on", "off"],
        default="auto",
        help="sweep restores from flat buffers (auto: on CUDA when they fit)",
    )
    ap.add_argument("--fuse-norms", action="store_true",
                    help="also time the new path with the RMS norms compiled (fuse_norms)")  # fmt: skip
    ap.add_argument("--out", type=Path, required=True, help="directory for restore_sweep.json")
    args = ap.parse_args()
    flat = {"auto": None, "on": True, "off": False}[args.flat]
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True  # as sftlens.models.load_model for fp32 weights
    tok = word_tokenizer(SHAPES[args.shape]["vocab_size"], WORDS)
    base = random_model(
        args.shape, args.device, tok, dtype=torch.float32
    )  # the gpu world's study runs fp32
    tuned = tuned_copy(base)
    facts, levels = synthetic_facts(args.questions)
    params = sum(p.numel() for p in base.parameters())
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "shape": args.shape, "params": params, "questions": len(facts), "ks": list(PAPER_KS),
        "max_new_tokens": args.max_new_tokens, "flat": args.flat, "runs": [],
    }  # fmt: skip
    paths = {"old": old_path, "new": new_path}
    # warm-up: kernels, allocator, the tokenizer's newline scan
    evaluate_model(tuned, tok, facts[:64], levels, EvaluateConfig(max_new_tokens=2), progress=False)
    if args.fuse_norms:
        paths["fused"] = fused_path
        warm = prepare_evaluation(tok, facts[:64], levels, EvaluateConfig(max_new_tokens=2))
        dataclasses.replace(warm, gen=dataclasses.replace(warm.gen, fuse_norms=True)).run(tuned)
    for strategy in args.strategies.split(","):
        outs: dict[str, Any] = {}
        for rep in range(args.repeats):
            for name, fn in paths.items():
                sync(device)
                t0 = time.perf_counter()
                found, parts = fn(
                    tuned, base, tok, facts, levels, strategy, args.max_new_tokens, flat
                )
                sync(device)
                secs = time.perf_counter() - t0
                outs[name] = found
                row = {"strategy": strategy, "path": name, "repeat": rep, "seconds": secs, **parts}
                result["runs"].append(row)
                print(f"{strategy:>6} {name:>3} #{rep}: {secs:6.2f}s  {parts}", flush=True)
        if not same_results(outs["old"], outs["new"]):
            raise SystemExit(f"{strategy}: the new path's predictions differ from the old path's")
        result.setdefault("identical", {})[strategy] = True
        if "fused" in outs:  # fused norms round differently: agreement reported, not required
            share = agreement(outs["new"], outs["fused"])
            result.setdefault("fused_agreement", {})[strategy] = share
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "restore_sweep.json").write_text(json.dumps(result, indent=2))
    print(f"\n{result['device']}, {params / 1e6:.1f}M params, {len(facts)} questions, "
          f"k = {','.join(f'{k:g}' for k in PAPER_KS)}")  # fmt: skip
    print(f"{'strategy':>8} {'old s':>7} {'new s':>7} {'speed-up':>8} {'new eval s':>10} "
          f"{'new restore s':>13}  identical")  # fmt: skip
    for strategy in args.strategies.split(","):
        runs = {
            name: min((r for r in result["runs"] if r["strategy"] == strategy and r["path"] == name),
                      key=lambda r: r["seconds"])
            for name in paths
        }  # fmt: skip
        old, new = runs["old"]["seconds"], runs["new"]["seconds"]
        print(f"{strategy:>8} {old:7.2f} {new:7.2f} {old / new:7.2f}x {runs['new']['evaluate']:10.2f} "
              f"{runs['new']['restore']:13.2f}  yes")  # fmt: skip
        if "fused" in runs:
            fused = runs["fused"]["seconds"]
            share = result["fused_agreement"][strategy]
            print(f"{'':>8} fused norms: {fused:7.2f} s, {new / fused:.2f}x the new path; "
                  f"{share:.2%} of predictions equal to it")  # fmt: skip


if __name__ == "__main__":
    main()
