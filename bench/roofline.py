"""Measure the two hardware ceilings that benchmarks are compared against.

On CUDA: a large bf16 matrix product (TFLOP/s) and a large device-to-device copy
(GB/s, bytes read + written).  On CPU: an fp32 matrix product and a memcpy.

Example::

    python bench/roofline.py --device cuda --json out/roofline.json
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from common import matmul_tflops, sync


def copy_gbps(device: str, n_bytes: int, reps: int) -> float:
    """Device copy bandwidth, counting bytes read plus bytes written."""
    src = torch.randn(n_bytes // 4, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        dst.copy_(src)
    sync(device)
    return 2 * src.numel() * 4 * reps / (time.perf_counter() - t0) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args()
    gpu = args.device.startswith("cuda")
    dtype = torch.bfloat16 if gpu else torch.float32
    res = {
        "device": torch.cuda.get_device_name() if gpu else "cpu",
        "matmul_tflops": matmul_tflops(args.device, 8192 if gpu else 1024, dtype, 10 if gpu else 5),
        "matmul_dtype": str(dtype),
        "copy_gbps": copy_gbps(args.device, (4 << 30) if gpu else (256 << 20), 10 if gpu else 3),
    }
    print(
        f"| {res['device']} | matmul {res['matmul_tflops']:.3f} TFLOP/s ({dtype}) | copy {res['copy_gbps']:.0f} GB/s |"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
