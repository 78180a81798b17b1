"""Benchmark: streaming exact restore vs the naive full-load baseline, plus the in-memory sweep.

Builds a random-weight Llama-shaped base/tuned pair in bf16 (tuned = base x (1 + 0.01 N(0,1))),
measures the disk's write / cold-read speed (the floor), then runs, each in its own process
(peak RSS from wait4):

1. ``restore``  - sftlens.restoration.restore_checkpoint (k, top, transformer); records its read
                  passes (2, or 3 when the threshold bin is refined: ``--candidate-bytes 0``
                  forces that fallback), the candidates held and the bytes patched;
2. ``sweep``    - sweep_inplace over k = 1,3,5,10,20,40,60 on the tuned model loaded on --device
                  (no-op callback; the model load is timed separately);
3. ``baseline`` - what the reference does: load both models whole, one flat r tensor, torch.topk,
                  scatter, save.  On CUDA above 2^31 elements torch.topk fails, so it is recorded
                  as failing; ``--baseline cpu`` runs it on CPU instead (slow, ~75 GB RAM at 8B).

Results are printed as a table and written to --json after every step.

Example::

    python bench/restore.py --shape 8b --device cuda --workdir /data/bench --json results.json
    python bench/restore.py --shape 1b --device cpu --workdir /tmp/b --baseline cpu
    python bench/restore.py --shape 1b --device cpu --workdir /tmp/b --skip-sweep --baseline skip
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import SHAPES
from restore_pair import build_pair, disk_speed
from sftlens.restoration.config import PAPER_KS

KS = list(PAPER_KS)
INT32_MAX = 2**31 - 1


# ----------------------------------------------------------------------------- child processes
def child_restore(a: argparse.Namespace) -> dict[str, Any]:
    from sftlens.restoration import EngineSettings, restore_checkpoint
    from sftlens.restoration.io import DirSource, ShardedWriter
    from sftlens.restoration.restore import RestoreStats

    stats = RestoreStats()
    budget = {} if a.candidate_bytes is None else {"candidate_bytes": a.candidate_bytes}
    t0 = time.perf_counter()
    restore_checkpoint(
        a.base,
        a.tuned,
        a.out,
        a.k,
        "top",
        "transformer",
        0,
        force=True,
        settings=EngineSettings(
            device=a.device,
            progress=False,
            device_cache={"auto": None, "on": True, "off": False}[a.device_cache],
            **budget,
        ),
        stats=stats,
    )
    return {
        "seconds": time.perf_counter() - t0,
        "bytes_read": DirSource.total_bytes_read,
        "bytes_written": ShardedWriter.total_bytes_written,
        **stats.as_dict(),
    }


def child_sweep(a: argparse.Namespace) -> dict[str, Any]:
    import torch

    from sftlens.models import load_model
    from sftlens.restoration import EngineSettings, source_from_dir, sweep_inplace
    from sftlens.restoration.io import DirSource
    from sftlens.restoration.restore import RestoreStats

    t0 = time.perf_counter()
    direct = {"device_map": a.device} if a.device.startswith("cuda") else {}  # skip the CPU copy
    model = load_model(a.tuned, dtype="bfloat16", device=a.device, **direct)
    load_s = time.perf_counter() - t0
    before = DirSource.total_bytes_read

    def noop(k: float, m: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    stats = RestoreStats()
    budget = {} if a.candidate_bytes is None else {"candidate_bytes": a.candidate_bytes}
    t0 = time.perf_counter()
    sweep_inplace(
        model,
        source_from_dir(a.base),
        KS,
        "top",
        "transformer",
        0,
        noop,
        settings=EngineSettings(progress=False, **budget),
        stats=stats,
    )
    return {
        "seconds": time.perf_counter() - t0,
        "load_seconds": load_s,
        **stats.as_dict(),
        "bytes_read": DirSource.total_bytes_read - before,
        "bytes_written": 0,
    }


def child_baseline(a: argparse.Namespace) -> dict[str, Any]:
    """The reference's approach: whole models in memory, one flat r, torch.topk, save."""
    import torch
    from safetensors.torch import load_file, save_file

    dev = torch.device(a.device)
    t0 = time.perf_counter()
    loaded: list[dict[str, torch.Tensor]] = []
    nbytes = 0
    for d in (a.base, a.tuned):
        sd: dict[str, torch.Tensor] = {}
        for f in sorted(Path(d).glob("*.safetensors")):
            sd.update(load_file(str(f)))
        nbytes += sum(t.numel() * t.element_size() for t in sd.values())
        loaded.append(sd)
    base, tuned = loaded
    names = [n for n in tuned if "layers" in n and "norm" not in n]
    flat = torch.cat(
        [
            (
                (tuned[n].to(dev).float() - base[n].to(dev).float()).abs()
                / (base[n].to(dev).float().abs() + 1e-8)
            ).reshape(-1)
            for n in names
        ]
    )
    count = int(flat.numel() * a.k / 100)
    idx = torch.topk(flat, count, sorted=False).indices
    del flat
    mask = torch.zeros(sum(tuned[n].numel() for n in names), dtype=torch.bool, device=dev)
    mask[idx] = True
    pos = 0
    for n in names:
        m = mask[pos : pos + tuned[n].numel()].view(tuned[n].shape).cpu()
        tuned[n] = torch.where(m, base[n], tuned[n])
        pos += tuned[n].numel()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    shard, size, i, written = {}, 0, 0, 0
    for n, t in tuned.items():
        shard[n] = t.contiguous()
        size += t.numel() * t.element_size()
        if size > 5e9:
            save_file(shard, str(out / f"model-{i:05d}.safetensors"))
            written, shard, size, i = written + size, {}, 0, i + 1
    if shard:
        save_file(shard, str(out / f"model-{i:05d}.safetensors"))
        written += size
    return {"seconds": time.perf_counter() - t0, "bytes_read": nbytes, "bytes_written": written}


CHILDREN = {"restore": child_restore, "sweep": child_sweep, "baseline": child_baseline}


def run_child(
    step: str, a: argparse.Namespace, out: Path | None, device: str, cache: str = "auto"
) -> dict[str, Any]:
    """Run one step in a fresh process; peak RSS of that process from wait4."""
    result_file = Path(a.workdir) / f".{step}.result.json"
    result_file.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        __file__,
        "--child",
        step,
        "--base",
        str(a.base),
        "--tuned",
        str(a.tuned),
        "--out",
        str(out or ""),
        "--k",
        str(a.k),
        "--device",
        device,
        "--result",
        str(result_file),
    ]
    if a.candidate_bytes is not None:
        cmd += ["--candidate-bytes", str(a.candidate_bytes)]
    cmd += ["--device-cache", cache]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    res: dict[str, Any] = {
        "process_wall_s": wall,
        "peak_rss_GB": usage.ru_maxrss * 1024 / 1e9,
        "device": device,
        "exit": os.waitstatus_to_exitcode(status),
    }
    if result_file.is_file():
        res.update(json.loads(result_file.read_text()))
    return res


# ----------------------------------------------------------------------------- driver
def model_numbers(base: Path) -> dict[str, int]:
    from sftlens.restoration import source_from_dir
    from sftlens.restoration.regions import select_names

    src = source_from_dir(base)
    region = select_names(src.names(), "transformer", src.arch)
    return {
        "n_params": sum(src.numel(n) for n in src.names()),
        "n_region": sum(src.numel(n) for n in region),
        "model_bytes": sum(src.nbytes(n) for n in src.names()),
    }


def baseline_plan(a: argparse.Namespace, nums: dict[str, int]) -> tuple[str | None, str]:
    """Where the baseline can run, or why not (None)."""
    import torch

    need_ram = 2 * nums["model_bytes"] + 4 * nums["n_region"] + 13 * nums["n_region"] * a.k / 100
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    choice = a.baseline if a.baseline != "auto" else a.device
    if choice == "skip":
        return None, "skipped (--baseline skip)"
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            return None, "skipped: no CUDA"
        if nums["n_region"] > INT32_MAX:
            return None, (
                f"fails on CUDA: torch.topk over {nums['n_region']:,} > 2^31 elements "
                "(the reference's error); pass --baseline cpu to run it on CPU"
            )
        gpu = torch.cuda.get_device_properties(0).total_memory
        if 4 * nums["n_region"] + nums["model_bytes"] > 0.9 * gpu:
            return None, "skipped: flat r does not fit in GPU memory"
    if need_ram > 0.85 * ram:
        return None, f"skipped: needs ~{need_ram / 1e9:.0f} GB RAM of {ram / 1e9:.0f} GB"
    return choice, ""


def print_table(results: dict[str, Any]) -> None:
    rows = [
        (
            "step",
            "device",
            "time (s)",
            "proc wall (s)",
            "peak RSS (GB)",
            "read (GB)",
            "written (GB)",
            "read passes",
        )
    ]
    for step in ("restore", "restore-no-cache", "sweep", "baseline"):
        r = results.get(step)
        if not isinstance(r, dict) or "seconds" not in r:
            note = r if isinstance(r, str) else (r or {}).get("note", "not run")
            rows.append((step, "-", str(note)[:60], "", "", "", "", ""))
            continue
        rows.append(
            (
                step,
                r["device"],
                f"{r['seconds']:.1f}",
                f"{r['process_wall_s']:.1f}",
                f"{r['peak_rss_GB']:.2f}",
                f"{r['bytes_read'] / 1e9:.1f}",
                f"{r['bytes_written'] / 1e9:.1f}",
                str(r.get("read_passes", "-")),
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    for step in ("restore", "restore-no-cache"):
        r = results.get(step)
        if isinstance(r, dict) and "pass_seconds" in r:
            cached = r.get("device_cached_bytes", 0) / 1e9
            print(f"{step}: passes {r['pass_seconds']} s, {cached:.1f} GB kept on the device")
    for key in ("disk", "ratios", "model"):
        if key in results:
            print(f"{key}: {json.dumps(results[key])}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="1b")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--workdir", type=Path, default=Path("bench-restore"))
    p.add_argument(
        "--json", type=Path, help="write results here (default WORKDIR/results-SHAPE.json)"
    )
    p.add_argument("--k", type=float, default=10.0)
    p.add_argument("--baseline", default="auto", help="auto (same device) | cpu | cuda | skip")
    p.add_argument("--skip-sweep", action="store_true")
    p.add_argument(
        "--candidate-bytes",
        type=int,
        default=None,
        help="threshold-bin candidate budget (default: the library's; 0 forces the 3-pass fallback)",
    )
    p.add_argument(
        "--device-cache",
        choices=["auto", "on", "off", "both"],
        default="auto",
        help="keep pass-1 tensors on the device for pass 2 (auto: on CUDA); both: run each",
    )
    p.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--tuned", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        res = CHILDREN[a.child](a)
        Path(a.result).write_text(json.dumps(res))
        return 0

    a.workdir.mkdir(parents=True, exist_ok=True)
    out_json = a.json or a.workdir / f"results-{a.shape}.json"
    results: dict[str, Any] = {
        "shape": a.shape,
        "k": a.k,
        "device": a.device,
        "cpus": os.cpu_count(),
    }

    def save() -> None:
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(results, indent=2))

    t0 = time.perf_counter()
    a.base, a.tuned = build_pair(a.shape, a.workdir, a.device)
    results["build_s"] = time.perf_counter() - t0
    results["model"] = model_numbers(a.base)
    results["disk"] = disk_speed(a.workdir)
    mb = results["model"]["model_bytes"]
    results["disk"]["floor_s_cold"] = (
        2 * mb / 1e9 / results["disk"]["read_GBps"] + mb / 1e9 / results["disk"]["write_GBps"]
    )
    save()

    out = a.workdir / "out-restore"
    variants = (
        [("restore", "on"), ("restore-no-cache", "off")]
        if a.device_cache == "both"
        else [("restore", a.device_cache)]
    )
    for step, cache in variants:
        results[step] = run_child("restore", a, out, a.device, cache)
        shutil.rmtree(out, ignore_errors=True)
        save()
    if not a.skip_sweep:
        results["sweep"] = run_child("sweep", a, None, a.device)
        save()
    where, why = baseline_plan(a, results["model"])
    if where is None:
        results["baseline"] = {"note": why}
    else:
        out = a.workdir / "out-baseline"
        results["baseline"] = run_child("baseline", a, out, where)
        shutil.rmtree(out, ignore_errors=True)
    ratios: dict[str, float] = {}
    r, s, b = results["restore"], results.get("sweep"), results["baseline"]
    if "seconds" in r and isinstance(s, dict) and "seconds" in s:
        ratios["sweep7_over_restore"] = s["seconds"] / r["seconds"]
    if "seconds" in r and "seconds" in b:
        ratios["baseline_over_restore_time"] = b["seconds"] / r["seconds"]
        ratios["baseline_over_restore_rss"] = b["peak_rss_GB"] / r["peak_rss_GB"]
    results["ratios"] = ratios
    save()
    print_table(results)
    print(f"results: {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
