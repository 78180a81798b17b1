"""Benchmark the data layer: EntityQuestions load time (cold / cached) and matcher throughput.

CPU only (the data layer never touches the GPU); ``--device`` is accepted for symmetry
with the other benchmarks and ignored.

Example::

    .venv/bin/python bench/data.py --eq ../shared/data/entityquestions
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sftlens.data import get_matcher, load_dataset
from sftlens.data.matching import MATCHERS


def _timed(func):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    out = func()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _baseline_parse(eq: str) -> int:
    return sum(
        len(json.loads(p.read_text(encoding="utf-8"))) for p in Path(eq).glob("dataset/*/*.json")
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eq", default="../shared/data/entityquestions", help="EntityQuestions dir")
    p.add_argument("--n", type=int, default=20000, help="outputs to score per matcher")
    p.add_argument("--device", default="cpu", help="ignored (CPU-only stage)")
    args = p.parse_args()
    spec = f"entityquestions:{args.eq}"
    _, wall, cpu = _timed(lambda: _baseline_parse(args.eq))
    print(
        f"baseline (json.load of every file, no records built): {wall:.2f} s wall, {cpu:.2f} s CPU"
    )
    ds, wall, cpu = _timed(lambda: load_dataset(spec))
    print(f"cold load: {len(ds)} facts in {wall:.2f} s wall, {cpu:.2f} s CPU")
    _, wall, cpu = _timed(lambda: load_dataset(spec))
    print(f"cached load: {wall:.3f} s wall, {cpu:.3f} s CPU")
    _, wall, cpu = _timed(lambda: load_dataset(spec, "slick-2024"))
    print(f"other preset (files cached): {wall:.2f} s wall, {cpu:.2f} s CPU")
    facts = ds.select(split="test").facts[: args.n]
    # run-on continuations of ~20-30 tokens, answer first (as a base model emits them)
    outs = [
        f" {f.answers[0]}. He later moved to London and worked as a teacher at the local "
        "school for many years before he retired" for f in facts
    ]  # fmt: skip
    base = lambda o, acc: next((a for a in acc if a.lower() in o.lower()), None)  # noqa: E731
    hits, wall, cpu = _timed(
        lambda: sum(base(o, f.accepted) is not None for o, f in zip(outs, facts, strict=True))
    )
    print(
        f"baseline a.lower() in out.lower(): {len(outs) / cpu:,.0f} outputs/s CPU ({hits} matched)"
    )
    for name in MATCHERS.names():
        m = get_matcher(name)
        hits, wall, cpu = _timed(
            lambda m=m: sum(m(o, f.accepted) is not None for o, f in zip(outs, facts, strict=True))
        )
        print(f"{name}: {len(outs) / cpu:,.0f} outputs/s CPU ({hits}/{len(outs)} matched)")


if __name__ == "__main__":
    main()
