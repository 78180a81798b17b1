"""Count the compute ops of one decode step, by the model module they run in (CPU is enough).

For a small model each op of a decode step is a GPU kernel whose launch and latency cost more
than its work, so the op count per step bounds how fast the step can go.  This runs one
prefill and one decode step (one new token per row, through HF's forward and a cache, under
the engine's decode attention) and counts every op torch dispatches in the step, views and
allocations excluded, attributed to the innermost module running it (``Gemma3RMSNorm``,
``Linear``, ...).  It also says how many RMS norm modules the model has and how many ops
each runs eagerly: what ``GenerationConfig.fuse_norms`` compiles into fused kernels.

Example::

    python bench/decode_ops.py --model DIR --dtype bfloat16 --rows 64
    python bench/decode_ops.py --shape gpu-world --dtype float32 --json out.json
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from common import random_model, word_tokenizer
from sftlens.generation.attention import gqa_decode_attention
from sftlens.generation.fused_norms import NORM_SUFFIX, norm_modules
from sftlens.models import load_model

NOT_KERNELS = {  # views, aliases and bare allocations: no kernel runs for them
    "view", "_unsafe_view", "as_strided", "t", "transpose", "slice", "unsqueeze", "squeeze",
    "expand", "reshape", "select", "narrow", "alias", "detach", "permute", "split",
    "split_with_sizes", "unbind", "_reshape_alias", "lift_fresh", "view_as", "empty",
    "empty_like", "empty_strided", "new_empty", "new_empty_strided", "resolve_conj", "resolve_neg",
}  # fmt: skip


class OpCounter(TorchDispatchMode):
    """Counts dispatched ops per (innermost module class, op name) while active."""

    def __init__(self, stack: list[str]) -> None:
        super().__init__()
        self.stack, self.counts = stack, collections.Counter[tuple[str, str]]()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = func.__name__.split(".")[0]
        if name not in NOT_KERNELS:
            self.counts[(self.stack[-1], name)] += 1
        return func(*args, **(kwargs or {}))


def track_modules(model: torch.nn.Module) -> tuple[list[str], list[Any]]:
    """(a stack of the class names of the modules running now, kept by hooks; the hooks'
    handles, to remove them)."""
    stack, handles = ["(model call)"], []
    for mod in model.modules():
        kind = type(mod).__name__
        handles.append(mod.register_forward_pre_hook(lambda _m, _a, k=kind: stack.append(k)))
        handles.append(mod.register_forward_hook(lambda _m, _a, _o: stack.pop() and None))
    return stack, handles


def count_step(model: Any, rows: int, prompt_len: int) -> collections.Counter[tuple[str, str]]:
    """Ops of one decode step of ``rows`` rows after a prompt of ``prompt_len`` tokens."""
    from transformers import DynamicCache

    stack, handles = track_modules(model)
    device = next(model.parameters()).device
    ids = torch.randint(10, 200, (rows, prompt_len), device=device)  # (R, L)
    counter = OpCounter(stack)
    # no_grad, not inference_mode: under it composite ops (linear, to) reach the counter
    # undecomposed, and a cast to the tensor's own dtype (no kernel) would count
    try:
        with torch.no_grad(), gqa_decode_attention(model):
            cache = DynamicCache(config=model.config)
            out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)  # (R, 1)
            mask = torch.ones((rows, prompt_len + 1), dtype=torch.long, device=device)  # (R, L+1)
            with counter:
                model(input_ids=nxt, attention_mask=mask, past_key_values=cache, use_cache=True,
                      logits_to_keep=1)  # fmt: skip
    finally:
        for handle in handles:
            handle.remove()
    return counter.counts


def summary(model: Any, counts: collections.Counter[tuple[str, str]]) -> dict[str, Any]:
    by_module: collections.Counter[str] = collections.Counter()
    for (module, _op), n in counts.items():
        by_module[module] += n
    total = sum(by_module.values())
    norms = norm_modules(model)
    norm_ops = sum(n for (module, _op), n in counts.items() if module.endswith(NORM_SUFFIX))
    return {
        "ops_per_step": total,
        "by_module": dict(by_module.most_common()),
        "top_ops": [[m, op, n] for (m, op), n in counts.most_common(15)],
        "norm_modules": len(norms),
        "norm_ops": norm_ops,
        "norm_share": round(norm_ops / total, 3) if total else 0.0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="a checkpoint directory (else --shape, random weights)")
    p.add_argument("--shape", default="gemma270m", help="bench/common.py SHAPES name")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--rows", type=int, default=64)
    p.add_argument("--prompt-len", type=int, default=24)
    p.add_argument("--json", help="write the counts here")
    args = p.parse_args()
    dtype = getattr(torch, args.dtype)
    if args.model:
        model = load_model(args.model, args.dtype, "cpu")
    else:
        tok = word_tokenizer(256)
        model = random_model(args.shape, "cpu", tok, dtype=dtype)
    result = {"model": args.model or args.shape, "dtype": args.dtype, "rows": args.rows,
              **summary(model, count_step(model, args.rows, args.prompt_len))}  # fmt: skip
    print(f"{result['model']} ({args.dtype}): {result['ops_per_step']} ops in one decode step")
    for module, n in result["by_module"].items():
        print(f"  {module:32s} {n:6d}  {n / result['ops_per_step']:6.1%}")
    print(f"RMS norms: {result['norm_modules']} modules, {result['norm_ops']} ops "
          f"({result['norm_share']:.0%} of the step)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
