"""Is a world build bit-reproducible on this machine?  Builds one preset and seed several times
(each in its own process) and compares the SHA-256 of the pretrained weights, with torch's
default kernels and, where asked, with ``deterministic=true`` (``sftlens.determinism``: torch's
deterministic algorithms and Inductor's deterministic mode around pretraining).

Example::

    python bench/world_determinism.py --preset tiny --device cuda --runs 2 --modes default
    # default        run 0    25.2 s  b15ac839ad9c…
    # default        run 1    21.0 s  b15ac839ad9c…
    # default: identical over 2 runs
    python bench/world_determinism.py --preset tiny --device cuda --modes default compile=true
    python bench/world_determinism.py --preset gpu --device cuda compile=true   # both modes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the CLI in a child process (a fresh process per build: nothing compiled or cached is shared)
CHILD = """
import sys
from sftlens.cli import main
sys.exit(main(sys.argv[1:]))
"""


def weights_sha(model_dir: Path) -> str:
    """SHA-256 over the model's safetensors files, in name order."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.glob("*.safetensors")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build(
    mode: str, preset: str, seed: int, device: str, out: Path, overrides: list[str]
) -> dict[str, object]:
    """One world build in a child process → {mode, seconds, sha256 or error}."""
    mode_setting = ["deterministic=true"] if mode == "deterministic" else []
    argv = ["world", "build", "--preset", preset, "--seed", str(seed), "--device", device,
            "--out", str(out), "--force", *overrides, *mode_setting]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, "-q", *argv],
                          capture_output=True, text=True)  # fmt: skip
    row: dict[str, object] = {"mode": mode, "seconds": round(time.perf_counter() - t0, 1)}
    if proc.returncode != 0:
        row["error"] = (proc.stderr.strip().splitlines() or ["?"])[-1]
    else:
        row["sha256"] = weights_sha(out / "model")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--modes", default="default,deterministic")
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "overrides", nargs="*", help="key=value settings of the build, e.g. compile=true"
    )
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            for run in range(args.runs):
                out = Path(tmp) / f"{mode}{run}"
                row = build(mode, args.preset, args.seed, args.device, out, args.overrides)
                rows.append(row)
                shown = row.get("sha256", row.get("error"))
                print(
                    f"{mode:14s} run {run}  {row['seconds']:6.1f} s  {str(shown)[:80]}", flush=True
                )
    for mode in args.modes.split(","):
        shas = {r.get("sha256") for r in rows if r["mode"] == mode}
        verdict = "identical" if len(shas) == 1 and None not in shas else "NOT identical"
        print(f"{mode}: {verdict} over {args.runs} runs")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
