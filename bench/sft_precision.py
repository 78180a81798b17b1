"""Benchmark the SFT precision modes: share of weights an lr-1e-5 fine-tune changes, speed, memory.

Example::

    python bench/sft_precision.py share --device cpu --shape tiny --samples 240 --batch-size 1
    python bench/sft_precision.py share --device cuda --shape 1b --samples 1920   # 240 steps
    python bench/sft_precision.py speed --device cuda --shape 8b --samples 480   # default mode
    python bench/sft_precision.py share --modes pure,fp32-master,kahan,fp32-reference --json out.json

``share``: a random-weight bf16 Llama of ``--shape`` (bench/common.py; same init for
every mode) is fine-tuned at ``--lr`` (1e-5, the paper's) on synthetic QA samples in each
mode; reported is the share of bf16 weights that differ from the base afterwards, over
all weights and over the decoder layers (embedding rows of unused token ids never get a
gradient).  ``fp32-reference`` trains the same bf16 weights in plain fp32 and rounds to
bf16 at the end: what ``fp32-master`` should match.  ``kahan`` needs ``pip install
torch-optimi`` (skipped without it).
``speed``: tokens/s and peak memory of one full fine-tune in the default precision, next
to the memory plan's estimate (``sftlens finetune --plan``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

from sft import _reset_peak, build_model, build_tokenizer, peak_memory_mb, synthetic_examples

MODES = {  # name: (precision setting, dtype the bf16 weights are trained in)
    "pure": ("pure", "bfloat16"),
    "fp32-master": ("fp32-master", "bfloat16"),
    "kahan": ("kahan", "bfloat16"),
    "fp32-reference": ("pure", "float32"),
}


def _setup(args: argparse.Namespace) -> tuple[Any, list[dict[str, str]]]:
    from sftlens.models import fix_pad_token

    examples = synthetic_examples(args.samples)
    tok = build_tokenizer(examples)
    fix_pad_token(tok)
    tok.padding_side = "right"
    return tok, examples


def _bf16_model(args: argparse.Namespace, tok: Any, dtype: str) -> Any:
    import torch

    model = build_model(args, tok)  # seeded: the same random init every call
    for p in model.parameters():
        p.data = p.data.to(torch.bfloat16).to(getattr(torch, dtype))  # the bf16 weights
    return model


def _changed(base: dict[str, Any], model: Any) -> dict[str, float]:
    import torch

    changed = total = layer_changed = layer_total = 0
    for name, value in model.state_dict().items():
        if name not in base:
            continue
        diff = int((value.to(torch.bfloat16).cpu() != base[name]).sum())
        changed, total = changed + diff, total + value.numel()
        if ".layers." in name:
            layer_changed, layer_total = layer_changed + diff, layer_total + value.numel()
    return {
        "changed_share": changed / total,
        "changed_share_layers": layer_changed / max(layer_total, 1),
    }


def run_share(args: argparse.Namespace) -> list[dict[str, Any]]:
    from sftlens.finetuning.config import FinetuneConfig
    from sftlens.finetuning.trainer import finetune

    tok, examples = _setup(args)
    rows = []
    for mode in args.modes.split(","):
        precision, dtype = MODES[mode]
        if mode == "kahan" and importlib.util.find_spec("optimi") is None:
            rows.append({"mode": mode, "skipped": "pip install torch-optimi"})
            continue
        model = _bf16_model(args, tok, dtype)
        base = {
            k: v.detach().to("cpu", copy=True).bfloat16() for k, v in model.state_dict().items()
        }
        cfg = FinetuneConfig(
            lr=args.lr, batch_size=args.batch_size, precision=precision, log_every=50
        )
        _reset_peak(args.device)
        result = finetune(model, tok, examples, cfg, progress=False)
        row = {
            "mode": mode,
            "steps": len(result.log),
            "lr": args.lr,
            **_changed(base, result.model),
        }
        row.update(tokens_per_s=result.tokens / result.seconds, peak_memory_mb=peak_memory_mb(args.device),
                   final_loss=result.log[-1]["loss"], precision=result.precision)  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
        del model, base, result
        _free(args.device)
    return rows


def run_speed(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    from sftlens.finetuning.config import FinetuneConfig
    from sftlens.finetuning.formatting import encode_examples
    from sftlens.finetuning.memory import ModelShape, micro_batch_tokens, plan_memory
    from sftlens.finetuning.trainer import finetune

    tok, examples = _setup(args)
    model = _bf16_model(args, tok, "bfloat16")
    shape = ModelShape.from_model(model)
    cfg = FinetuneConfig(lr=args.lr, batch_size=args.batch_size, log_every=50)
    finetune(model, tok, examples[: args.batch_size * 2], cfg, progress=False)  # warm-up
    _reset_peak(args.device)
    start = time.perf_counter()
    result = finetune(model, tok, examples, cfg, progress=False)
    wall = time.perf_counter() - start
    lengths = [len(e.input_ids) for e in encode_examples(tok, examples)]
    plan = plan_memory(shape, result.precision["precision"], gpus=1, kind="single",
                       tokens=micro_batch_tokens(lengths, args.batch_size, 1),
                       compute_bytes=torch.bfloat16.itemsize)  # fmt: skip
    row = {"mode": result.precision["precision"], "steps": len(result.log), "samples": len(examples),
           "tokens_per_s": result.tokens / result.seconds, "train_seconds": result.seconds,
           "wall_seconds": wall, "peak_memory_gib": peak_memory_mb(args.device) / 1024,
           "planned_gib": plan.total / 2**30, "plan": plan.summary(), "params_b": shape.params / 1e9,
           "precision": result.precision}  # fmt: skip
    print(json.dumps(row), flush=True)
    return [row]


def _free(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["share", "speed"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--shape", default="tiny", help="tiny | 1b | 8b (bench/common.py)")
    p.add_argument("--samples", type=int, default=1920)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--modes", default="pure,fp32-master,kahan,fp32-reference")
    p.add_argument("--attn", default="auto", help="auto | sdpa | eager | flash_attention_2")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    args.world = None  # bench/sft.py's build_model reads it
    return args


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run_share(args) if args.what == "share" else run_speed(args)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
