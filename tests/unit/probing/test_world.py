"""On the micro knowledge world, R must track how often pretraining saw each fact."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftlens.probing import ProbeConfig, level_of, probe_facts


@pytest.mark.slow
def test_r_correlates_with_exposure(micro_world: Path) -> None:
    from scipy.stats import spearmanr

    from sftlens.data import load_dataset
    from sftlens.models import load_model, load_tokenizer

    ds = load_dataset(f"world:{micro_world}")
    facts = [f for f in ds.facts if f.role != "pretrain_qa" and f.exposure is not None]
    model = load_model(micro_world / "model", device="cpu")
    tok = load_tokenizer(micro_world / "model")
    cfg = ProbeConfig(
        model=str(micro_world / "model"),
        data=f"world:{micro_world}",
        templates=3,
        samples=4,
        max_new_tokens=8,
        answer_span="first_line",  # one statement per line
    )
    rows = probe_facts(model, tok, facts, ds.relations, cfg, progress=False)
    assert [r["id"] for r in rows] == [f.id for f in facts]
    assert all(r["level"] == level_of(r["R"]) for r in rows)  # levels partition the facts
    exposure = [f.exposure for f in facts]
    rho = spearmanr(exposure, [r["R"] for r in rows]).statistic
    assert rho > 0.2, f"R does not track exposure (spearman {rho:.2f})"
    unseen = [r["R"] for r, f in zip(rows, facts, strict=True) if f.exposure == 0]
    top = sorted(exposure)[int(0.75 * len(exposure))]
    seen = [r["R"] for r, f in zip(rows, facts, strict=True) if f.exposure >= top]
    if unseen:
        assert sum(seen) / len(seen) > sum(unseen) / len(unseen)
