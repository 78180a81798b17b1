"""Benchmark the sftlens SFT trainer against the Hugging Face ``Trainer`` (tokens/s, peak memory).

Example::

    python bench/sft.py --device cpu --shape tiny --samples 480            # CPU, tiny random Llama
    python bench/sft.py --device cpu --world /tmp/sftlens-worlds/tiny      # CPU, the tiny world
    python bench/sft.py --device cuda --shape 1b --samples 1920            # H100, Llama-3.2-1B shape, bf16
    python bench/sft.py --device cuda --shape 1b --samples 20000 --json out.json
    python bench/sft.py --device cuda --shape 1b --trainers sftlens,sftlens+compile,hf,hf+compile

Each trainer runs in its own subprocess (clean peak-memory numbers) on the same model
(same random init), the same QA samples, batch size, lr and cosine schedule.  Both get
a short untimed warm-up.  Tokens are the real (non-padding) tokens of the samples, so
padding costs show up as lower tokens/s.  HF gets its best reasonable settings: fused
AdamW and bf16 on CUDA, pinned memory, and either the padding-free
``DataCollatorWithFlattening`` (with flash-attn, or ``--hf-collator flatten``) or
dynamic padding to the longest sample with length-grouped sampling.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import SHAPES as LLAMA_SHAPES
from common import random_model

# Llama-3.2-1B / Llama-3-8B from common.py; a smaller "tiny" whose vocab is the tokenizer's
SHAPES: dict[str, dict[str, Any]] = {
    **LLAMA_SHAPES,
    "tiny": {"hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": None, "tie_word_embeddings": False},
}  # fmt: skip
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ra",
    "ne",
    "to",
    "su",
    "vi",
    "da",
    "pe",
    "zo",
    "ru",
    "fa",
    "ni",
    "go",
    "le",
    "ma",
    "ti",
    "bo",
    "ke",
]
QUESTIONS = [
    "Where was {s} born ?", "In what country is {s} ?", "Where did {s} die ?", "What is the capital of {s} ?",
    "Where was {s} educated ?", "Where is the headquarters of {s} located ?", "Where is {s} located ?",
    "Which country was {s} created in ?", "Where was {s} founded ?",
]  # fmt: skip


def _name(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def synthetic_examples(n: int, seed: int = 0) -> list[dict[str, str]]:
    """EntityQuestions-like QA pairs with made-up names (about 10-20 tokens each)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        subject = " ".join(_name(rng, rng.randint(2, 3)) for _ in range(rng.randint(1, 3)))
        answer = " ".join(_name(rng, rng.randint(2, 3)) for _ in range(rng.randint(1, 2)))
        out.append({"question": rng.choice(QUESTIONS).format(s=subject), "answer": answer})
    return out


def world_examples(world: Path, n: int) -> list[dict[str, str]]:
    rows = [
        json.loads(line)
        for line in (world / "world" / "facts.jsonl").read_text().splitlines()
        if line.strip()
    ]
    rows = [r for r in rows if r.get("domain") == "in" and r.get("role") != "pretrain_qa"]
    random.Random(0).shuffle(rows)
    if len(rows) < n:
        rows = (rows * (n // max(len(rows), 1) + 1))[:n]
    return [{"question": r["question"], "answer": r["object"]} for r in rows[:n]]


def build_tokenizer(examples: list[dict[str, str]]) -> Any:
    """The project's byte-level BPE tokenizer (``sftlens.world.tokenizer``) trained on the samples."""
    from sftlens.prompts import qa_text
    from sftlens.world.tokenizer import train_tokenizer

    lines = [qa_text(e["question"], e["answer"]) for e in examples[:5000]]
    return train_tokenizer(lines, vocab_size=2000)


def attn_impl(choice: str, device: str) -> str:
    if choice != "auto":
        return choice
    if device.startswith("cuda"):
        with contextlib.suppress(ImportError):
            import flash_attn  # noqa: F401

            return "flash_attention_2"
    return "sdpa"


def build_model(args: argparse.Namespace, tok: Any) -> Any:
    """A random-weight Llama of ``--shape`` (same init for both trainers), bf16 on CUDA."""
    from sftlens.models import load_model

    if args.world:
        return load_model(Path(args.world) / "model", device=args.device)
    attn = attn_impl(args.attn, args.device)
    return random_model(SHAPES[args.shape], args.device, tok, max_positions=2048, attn=attn, seed=0)


def peak_memory_mb(device: str) -> float:
    import resource

    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_sftlens(
    model: Any, tok: Any, examples: list[dict[str, str]], args: argparse.Namespace
) -> dict[str, Any]:
    from sftlens.finetuning.config import FinetuneConfig
    from sftlens.finetuning.trainer import finetune

    cfg = FinetuneConfig(
        lr=args.lr, batch_size=args.batch_size, packing=args.packing != "off", log_every=50,
        precision=args.precision,
        compile=args.worker.endswith("+compile"),
    )  # fmt: skip
    finetune(model, tok, examples[: args.batch_size * 4], cfg, progress=False)  # warm-up
    _reset_peak(args.device)
    result = finetune(model, tok, examples, cfg, progress=False)
    return {
        "seconds": result.seconds,
        "mean_loss": sum(r["loss"] for r in result.log) / len(result.log),
    }


def _hf_args(args: argparse.Namespace, out: str, flatten: bool) -> Any:
    from transformers import TrainingArguments

    cuda = args.device.startswith("cuda")
    wanted = {
        "output_dir": out, "per_device_train_batch_size": args.batch_size, "num_train_epochs": 1,
        "learning_rate": args.lr, "lr_scheduler_type": "cosine", "warmup_ratio": 0.0, "weight_decay": 0.0,
        "max_grad_norm": 1.0, "bf16": cuda, "optim": "adamw_torch_fused" if cuda else "adamw_torch",
        "logging_steps": 50, "save_strategy": "no", "report_to": [], "dataloader_pin_memory": cuda,
        "disable_tqdm": True, "remove_unused_columns": False, "seed": 0, "use_cpu": not cuda, "no_cuda": not cuda,
        "group_by_length": not flatten, "train_sampling_strategy": "random" if flatten else "group_by_length",
        "torch_compile": args.worker.endswith("+compile"),
    }  # fmt: skip
    accepted = inspect.signature(TrainingArguments).parameters
    return TrainingArguments(**{k: v for k, v in wanted.items() if k in accepted})


def run_hf(
    model: Any, tok: Any, examples: list[dict[str, str]], args: argparse.Namespace
) -> dict[str, Any]:
    from transformers import DataCollatorForSeq2Seq, DataCollatorWithFlattening, Trainer

    from sftlens.finetuning.formatting import encode_examples

    rows = []
    for enc in encode_examples(tok, examples):
        first = next(i for i, t in enumerate(enc.targets) if t != -100) + 1  # first target token
        rows.append({"input_ids": enc.input_ids, "labels": [-100] * first + enc.input_ids[first:]})
    impl = str(getattr(model.config, "_attn_implementation", ""))
    flatten = args.hf_collator == "flatten" or (
        args.hf_collator == "auto" and impl.startswith("flash")
    )
    cuda = args.device.startswith("cuda")
    collator = (
        DataCollatorWithFlattening()
        if flatten
        else DataCollatorForSeq2Seq(tok, padding=True, pad_to_multiple_of=8 if cuda else None)
    )
    with tempfile.TemporaryDirectory() as out:
        hf_args = _hf_args(args, out, flatten)
        Trainer(
            model=model,
            args=hf_args,
            train_dataset=rows[: args.batch_size * 4],
            data_collator=collator,
        ).train()
        _reset_peak(args.device)
        trainer = Trainer(model=model, args=hf_args, train_dataset=rows, data_collator=collator)
        start = time.perf_counter()
        metrics = trainer.train().metrics
        wall = time.perf_counter() - start
    # HF's own train_runtime (its loop only) is shorter than the wall time of train(): use it
    return {
        "seconds": float(metrics["train_runtime"]),
        "wall_seconds": wall,
        "mean_loss": float(metrics["train_loss"]),
        "collator": "flatten" if flatten else "pad+group_by_length",
    }


def _reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def worker(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from sftlens.finetuning.formatting import encode_examples
    from sftlens.models import fix_pad_token, load_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.world:
        examples = world_examples(Path(args.world), args.samples)
        tok = load_tokenizer(Path(args.world) / "model", padding_side="right")
    else:
        examples = synthetic_examples(args.samples)
        tok = build_tokenizer(examples)
        fix_pad_token(tok)
        tok.padding_side = "right"
    model = build_model(args, tok)
    tokens = sum(len(e.input_ids) for e in encode_examples(tok, examples))
    run = run_sftlens if args.worker.split("+")[0] == "sftlens" else run_hf
    result = run(model, tok, examples, args)
    result.update(
        trainer=args.worker, tokens=tokens, samples=len(examples), tokens_per_s=tokens / result["seconds"],
        peak_memory_mb=peak_memory_mb(args.device), attn=str(model.config._attn_implementation),
        params_m=sum(p.numel() for p in model.parameters()) / 1e6, dtype=str(next(model.parameters()).dtype),
    )  # fmt: skip
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    p.add_argument(
        "--world", help="use a built world's model and in-domain facts instead of --shape"
    )
    p.add_argument("--samples", type=int, default=1920)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--packing", choices=["on", "off"], default="on", help="sftlens packing switch")
    p.add_argument("--precision", default="pure",
                   help="sftlens precision mode (pure: bf16 like the HF baseline; auto: fp32 masters)")  # fmt: skip
    p.add_argument("--attn", default="auto", help="auto | sdpa | eager | flash_attention_2")
    p.add_argument("--hf-collator", choices=["auto", "pad", "flatten"], default="auto")
    p.add_argument(
        "--trainers",
        default="sftlens,hf",
        help="comma list of sftlens|hf, each optionally +compile (torch.compile: layers / HF's flag)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        Path(args.result).write_text(json.dumps(worker(args)))
        return 0
    results = []
    own = [a for a in (argv if argv is not None else sys.argv[1:])]
    for name in args.trainers.split(","):
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            path = fh.name
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
        subprocess.run(
            [sys.executable, __file__, *own, "--worker", name, "--result", path],
            check=True,
            env=env,
        )
        results.append(json.loads(Path(path).read_text()))
        os.unlink(path)
    print(
        f"{'trainer':<15} {'tokens':>9} {'seconds':>8} {'tokens/s':>10} {'peak MB':>9} {'mean loss':>10}"
    )
    for r in results:
        print(
            f"{r['trainer']:<15} {r['tokens']:>9} {r['seconds']:>8.2f} {r['tokens_per_s']:>10.0f} {r['peak_memory_mb']:>9.0f} {r['mean_loss']:>10.4f}"
        )
    if len(results) == 2:
        print(
            f"speed-up sftlens / HF Trainer: {results[0]['tokens_per_s'] / results[1]['tokens_per_s']:.2f}x  (attn {results[0]['attn']}, {results[0]['dtype']}, {results[0]['params_m']:.1f}M params, HF collator {results[1].get('collator')})"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
