"""Pure scoring of `sftlens world check`: Spearman, exposure bins, requirements."""

from __future__ import annotations

import json
import math

from sftlens.world.config import WorldCheckConfig
from sftlens.world.requirements import (
    SftFormat,
    exposure_table,
    format_report,
    macro_accuracy,
    rank,
    score,
    spearman,
)


def test_rank_averages_ties():
    assert rank([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_spearman_monotone_and_constant():
    assert spearman([1, 2, 3, 4], [0.1, 0.2, 0.9, 1.0]) == 1.0
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert math.isnan(spearman([1, 2, 3], [0.5, 0.5, 0.5]))


def test_exposure_table_bins():
    rows = exposure_table([0, 0, 2, 5, 12, 30], [0.0, 0.2, 0.5, 0.8, 1.0, 0.9])
    assert [r["exposure"] for r in rows] == ["0", "1-3", "4-10", ">10"]
    assert [r["n"] for r in rows] == [2, 1, 1, 2]
    assert abs(rows[0]["accuracy"] - 0.1) < 1e-9 and abs(rows[3]["accuracy"] - 0.95) < 1e-9


def test_score_requirements_pass_and_fail():
    cfg = WorldCheckConfig()
    exposure = [0] * 10 + [2] * 10 + [12] * 10
    good = score(
        exposure,
        [0.0] * 10 + [0.5] * 10 + [1.0] * 10,
        [0.05] * 30,
        [0] * 10 + [1, 2, 3] * 3 + [4] * 11,
        cfg,
    )
    assert good.passed and good.spearman > 0.9
    bad = score(exposure, [0.5] * 30, [0.05] * 30, [0] * 30, cfg)
    failed = {r.name for r in bad.requirements if not r.passed}
    assert "accuracy at exposure 0" in failed and "smallest mastery-level share" in failed
    text = format_report(bad)
    assert "[FAIL]" in text and "world check: FAIL" in text


def test_macro_accuracy_is_the_mean_of_per_level_accuracies():
    correct = [True, False, False, False, True, True]
    assert macro_accuracy(correct, [0, 0, 0, 0, 4, 4]) == (0.25 + 1.0) / 2
    assert macro_accuracy(correct, None) == 0.5  # probe skipped: plain accuracy
    assert math.isnan(macro_accuracy([], None))


def test_sft_format_requirement_per_domain():
    cfg = WorldCheckConfig()
    exposure, acc, chance = [0, 2, 12, 12], [0.0, 0.5, 1.0, 1.0], [0.05] * 4
    domains = ["in", "in", "ood", "ood"]
    fails = score(
        exposure, acc, chance, None, cfg, sft=SftFormat([False, False, True, False], domains)
    )
    reqs = {r.name: r for r in fails.requirements}
    assert fails.sft_format_macro == {"in": 0.0, "ood": 0.5}
    assert reqs["base SFT-format macro accuracy (in)"].passed
    assert not reqs["base SFT-format macro accuracy (ood)"].passed and not fails.passed
    ok = score(exposure, acc, chance, None, cfg, sft=SftFormat([False] * 4, domains))
    assert ok.passed and "SFT-format" in format_report(ok)


def test_spearman_r_is_a_rule_unless_switched_off():
    exposure, acc, chance = [0, 2, 12, 12], [0.0, 0.5, 1.0, 1.0], [0.05] * 4
    report_only = WorldCheckConfig(min_spearman_r=None)
    m = score(exposure, acc, chance, None, report_only, r_values=[1.0, 0.5, 0.0, 0.1])
    assert m.spearman_r < 0 and m.passed
    assert "spearman(exposure, probe R)" in format_report(m)
    m = score(exposure, acc, chance, None, WorldCheckConfig(), r_values=[1.0, 0.5, 0.0, 0.1])
    assert not m.passed and "[FAIL] spearman(exposure, probe R)" in format_report(m)
    m = score(exposure, acc, chance, None, WorldCheckConfig(), r_values=[0.0, 0.3, 0.9, 1.0])
    assert m.passed and m.spearman_r > 0.9


def test_heldout_format_is_reported_per_exposure_bin_and_a_rule_only_when_set():
    exposure, acc, chance = [0, 2, 12, 12], [0.0, 0.5, 1.0, 1.0], [0.05] * 4
    heldout = [False, True, True, False]
    m = score(exposure, acc, chance, None, WorldCheckConfig(), heldout=heldout)
    by_bin = {r["exposure"]: r for r in m.heldout_table}
    assert by_bin["0"]["accuracy"] == 0.0 and by_bin["1-3"]["accuracy"] == 1.0
    assert by_bin[">10"]["accuracy"] == 0.5 and m.heldout_high_accuracy == 0.5
    assert not any("held-out" in r.name for r in m.requirements)  # report only by default
    assert "held-out Q/A" in format_report(m)
    strict = WorldCheckConfig(min_heldout_qa_accuracy=0.6)
    m = score(exposure, acc, chance, None, strict, heldout=heldout)
    (req,) = [r for r in m.requirements if "held-out" in r.name]
    assert req.value == 0.5 and not req.passed and not m.passed


def test_answer_space_requirement_counts_relations_within_2x():
    exposure, acc, chance = [0, 2, 12, 12], [0.0, 0.5, 1.0, 1.0], [0.05] * 4
    rows = [
        {"relation": f"P{i}", "eq_distinct_ratio": 0.1, "distinct_ratio": 0.1,
         "eq_top_share": 0.2, "top_share": 0.2, "within": i < 4}
        for i in range(5)
    ]  # fmt: skip
    m = score(exposure, acc, chance, None, WorldCheckConfig(), answer_space=rows)
    (req,) = [r for r in m.requirements if "answer space" in r.name]
    assert req.value == 0.8 and req.passed
    rows[3]["within"] = False
    m = score(exposure, acc, chance, None, WorldCheckConfig(), answer_space=rows)
    assert not m.passed and m.answer_space_share == 0.6
    report = format_report(m)
    assert "distinct EQ" in report and "P4" in report


def test_check_world_computes_the_sft_format_requirement(micro_world):
    from sftlens.world import check_world

    cfg = WorldCheckConfig(device="cpu", max_facts=40, samples=2)
    result = check_world(cfg, micro_world)
    names = [r.name for r in result.metrics.requirements]
    assert "base SFT-format macro accuracy (in)" in names
    assert "base SFT-format macro accuracy (ood)" in names
    macro = result.metrics.sft_format_macro
    assert set(macro) == {"in", "ood"} and all(0.0 <= v <= 1.0 for v in macro.values())
    assert not math.isnan(result.metrics.spearman_r)
    assert set(result.qa_accuracy) == {"in", "ood", "pretrain_qa"}
    assert [r["exposure"] for r in result.metrics.heldout_table] == ["0", "1-3", "4-10", ">10"]
    assert {r["relation"] for r in result.metrics.answer_space} == {
        "P17", "P19", "P36", "P26", "P106", "P50"
    }  # fmt: skip
    assert "relations with answer space within 2x of EntityQuestions" in names
    saved = json.loads((micro_world / "check" / "check.json").read_text())
    assert saved["metrics"]["sft_format_macro"] == macro
