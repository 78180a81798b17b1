"""The restore benchmarks' inputs: a random-weight base/tuned pair and the disk's speed.

``build_pair`` writes a Llama-shaped pair in bf16 (tuned = base x (1 + 0.01 N(0,1))), reused
when already built for the shape; ``disk_speed`` measures the floor (write with fsync, cold
read with the page cache dropped).

Example::

    base, tuned = build_pair("tiny", Path("/tmp/b"), "cpu")
    print(disk_speed(Path("/tmp/b"), size=1 << 28))   # {"write_GBps": ..., "read_GBps": ...}
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from common import SHAPES


def build_pair(shape: str, workdir: Path, device: str, seed: int = 0) -> tuple[Path, Path]:
    """Write base/ and tuned/ checkpoints (bf16); reused when already built for this shape."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from sftlens.restoration.io import ShardedWriter

    base, tuned = workdir / "base", workdir / "tuned"
    marker = workdir / f"built-{shape}.json"
    if marker.is_file() and (base / "config.json").is_file() and (tuned / "config.json").is_file():
        return base, tuned
    shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(tuned, ignore_errors=True)
    cfg = LlamaConfig(**SHAPES[shape], max_position_embeddings=8192)
    with torch.device("meta"):
        meta = LlamaForCausalLM(cfg)
    specs = {n: tuple(p.shape) for n, p in meta.state_dict().items()}
    if cfg.tie_word_embeddings:
        specs.pop("lm_head.weight", None)
    from sftlens.restoration.io import natural_key

    names = sorted(specs, key=natural_key)
    plan = [(n, torch.bfloat16, specs[n]) for n in names]
    wb, wt = ShardedWriter(base, plan), ShardedWriter(tuned, plan)
    gen_dev = torch.device(
        "cuda" if device.startswith("cuda") and torch.cuda.is_available() else "cpu"
    )
    g = torch.Generator(device=gen_dev).manual_seed(seed)
    t0 = time.perf_counter()
    for n in names:
        if "norm" in n:
            b = torch.ones(specs[n], device=gen_dev, dtype=torch.float32)
        else:
            b = torch.randn(specs[n], device=gen_dev, generator=g) * 0.02
        t = b * (1 + 0.01 * torch.randn(specs[n], device=gen_dev, generator=g))
        wb.write(n, b.to(torch.bfloat16))
        wt.write(n, t.to(torch.bfloat16))
        del b, t
    wb.finish()
    wt.finish()
    for d in (base, tuned):
        cfg.save_pretrained(d)
    marker.write_text(json.dumps({"shape": shape, "seconds": time.perf_counter() - t0}))
    return base, tuned


def disk_speed(workdir: Path, size: int = 1 << 30) -> dict[str, float]:
    """Sequential write (fsync) and cold read (page cache dropped with fadvise) in GB/s."""
    path = workdir / "disk-speed.tmp"
    block = os.urandom(1 << 24)
    t0 = time.perf_counter()
    with path.open("wb") as fh:
        for _ in range(size // len(block)):
            fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
    write = size / (time.perf_counter() - t0) / 1e9
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    t0 = time.perf_counter()
    while os.read(fd, 1 << 24):
        pass
    read = size / (time.perf_counter() - t0) / 1e9
    os.close(fd)
    path.unlink()
    return {"write_GBps": write, "read_GBps": read}
