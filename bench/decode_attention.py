"""Time one decode token's attention (the engine's ``gqa_sdpa`` step) in several formulations.

For each shape (rows, kv heads, query heads per kv head, head dim, cached length) and each
variant: microseconds per call (best of ``--reps`` after warm-up), the rate at which it reads
the keys and values (their bytes over the time: the memory floor is the device's bandwidth),
and the largest difference from float32 attention.  Variants: ``matmul`` (the engine's
``matmul_attention``: scores = q @ kᵀ, softmax, @ v), ``matmul-t`` (the same products
written tall-skinny: k @ qᵀ and vᵀ @ pᵀ, which cuBLAS may serve with other kernels), ``sdpa``,
``sdpa-efficient`` (CUDA only) and ``compiled`` (``torch.compile`` of ``matmul``; CUDA only).

Example::

    python bench/decode_attention.py --device cuda --out bench-out/decode_attention.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from sftlens.generation.attention import matmul_attention

# (name, rows, kv heads, group, head dim, cached length)
SHAPES = [
    ("gemma270m probe", 20480, 1, 4, 256, 48),
    ("gemma270m evaluate", 4096, 1, 4, 256, 40),
    ("gpu-world evaluate", 5000, 8, 1, 64, 40),
    ("llama3-8b probe", 2560, 8, 4, 128, 48),
]


def transposed(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
               scale: float) -> torch.Tensor:  # fmt: skip
    """``matmul_attention`` with both products written tall-skinny (same numerics)."""
    scores = torch.matmul(k, q.transpose(-1, -2)).transpose(-1, -2)  # (B, KVH, G, L)
    scores = scores.float() * scale
    scores = scores.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(scores, dim=-1).to(v.dtype)  # (B, KVH, G, L)
    out = torch.matmul(v.transpose(-1, -2), probs.transpose(-1, -2))  # (B, KVH, D, G)
    return out.transpose(-1, -2)  # (B, KVH, G, D)


def variants(device: str) -> dict[str, Callable[..., torch.Tensor]]:
    def sdpa(q: Any, k: Any, v: Any, mask: Any, scale: float) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)

    found: dict[str, Callable[..., torch.Tensor]] = {
        "matmul": matmul_attention, "matmul-t": transposed, "sdpa": sdpa}  # fmt: skip
    if device.startswith("cuda"):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        def efficient(q: Any, k: Any, v: Any, mask: Any, scale: float) -> torch.Tensor:
            with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]):
                return sdpa(q, k, v, mask, scale)

        found["sdpa-efficient"] = efficient
        found["compiled"] = torch.compile(matmul_attention, dynamic=True)
    return found


def inputs(shape: tuple[Any, ...], device: str, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    _, rows, kvh, group, dim, length = shape
    g = torch.Generator(device="cpu").manual_seed(0)
    q = torch.randn((rows, kvh, group, dim), generator=g).to(device, dtype)  # (B, KVH, G, D)
    k = torch.randn((rows, kvh, length, dim), generator=g).to(device, dtype)  # (B, KVH, L, D)
    v = torch.randn((rows, kvh, length, dim), generator=g).to(device, dtype)
    pad = torch.randint(0, length // 2, (rows,), generator=g)  # left padding per row
    mask = (torch.arange(length)[None, :] >= pad[:, None])[:, None, None, :]  # (B, 1, 1, L)
    return q, k, v, mask.to(device)


def best_time(fn: Callable[[], Any], device: str, reps: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--rows-scale", type=float, default=1.0, help="scale the rows (CPU: 0.01)")
    p.add_argument("--out", default="bench-out/decode_attention.json")
    args = p.parse_args()
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    results = []
    for shape in SHAPES:
        shape = (shape[0], max(1, int(shape[1] * args.rows_scale)), *shape[2:])
        q, k, v, mask = inputs(shape, args.device, dtype)
        scale = q.shape[-1] ** -0.5
        want = matmul_attention(q.float(), k.float(), v.float(), mask, scale)
        kv_bytes = 2 * k.numel() * k.element_size()
        for name, fn in variants(args.device).items():
            args_ = (q, k, v, mask, scale)
            secs = best_time(lambda f=fn, a=args_: f(*a), args.device, args.reps)
            diff = (fn(q, k, v, mask, scale).float() - want).abs().max().item()
            results.append({"shape": shape[0], "rows": shape[1], "variant": name,
                            "us": round(secs * 1e6, 1), "kv_GBps": round(kv_bytes / secs / 1e9, 1),
                            "max_abs_diff": diff})  # fmt: skip
            print(f"{shape[0]:20s} {name:15s} {secs * 1e6:9.1f} us "
                  f"{kv_bytes / secs / 1e9:8.1f} GB/s  diff {diff:.2e}")  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
