"""CapHits: the running count of completions that hit max_new_tokens, and its one warning."""

from __future__ import annotations

from sftlens.generation.cap_hits import CapHits


def test_share_counts_batches() -> None:
    hits = CapHits()
    assert hits.share == 0.0  # nothing generated yet
    hits.add([True, False, False])
    hits.add([True])
    assert (hits.completions, hits.capped, hits.share) == (4, 2, 0.5)


def test_warning_fires_above_a_quarter_and_is_silent_at_or_below() -> None:
    assert CapHits(completions=4, capped=1).warning(16, "evaluate", "first_line") is None
    assert CapHits(completions=100, capped=20).warning(16, "evaluate", "first_line") is None
    line = CapHits(completions=288, capped=273).warning(16, "evaluate", "first_line")
    assert line is not None and "\n" not in line
    assert line.startswith("95% of the evaluate completions (273/288) hit max_new_tokens=16")
    assert "max_new_tokens=64 answer_span=full" in line
    assert "evaluate.max_new_tokens=64 evaluate.answer_span=full" in line


def test_warning_under_full_suggests_only_a_longer_cap() -> None:
    line = CapHits(completions=10, capped=9).warning(64, "evaluate", "full")
    assert line is not None and "answer_span" not in line
    assert "evaluate.max_new_tokens=64)" in line
