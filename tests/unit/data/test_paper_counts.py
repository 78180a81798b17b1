"""sftlens keeps every EntityQuestions record; the paper's smaller counts follow from a filter
that docs/data.md states (single-answer facts, then the first record of each question)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sftlens.data import load_dataset

RAW = {("in", "train"): 78_611, ("in", "test"): 9_828, ("ood", "test"): 12_247}
PAPER = {("in", "train"): 75_944, ("in", "test"): 9_555, ("ood", "test"): 11_613}


def test_sftlens_keeps_every_record_and_the_paper_filter_reproduces_its_counts(
    eq_dir: Path,
) -> None:
    facts = load_dataset(f"entityquestions:{eq_dir}", split_preset="paper-2025").facts
    raw = Counter((f.domain, f.split) for f in facts)
    assert {k: raw[k] for k in RAW} == RAW
    kept: Counter[tuple[str, str]] = Counter()
    seen: set[tuple[str, str, str]] = set()
    for f in facts:  # file order: relation files, records in order
        key = (f.domain, f.split, f.question)
        if len(f.answers) == 1 and key not in seen:
            seen.add(key)
            kept[(f.domain, f.split)] += 1
    assert {k: kept[k] for k in PAPER} == PAPER
