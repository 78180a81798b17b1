"""sftlens compare: verdicts side by side, their agreement, and where the runs' configs differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftlens.errors import SftlensError
from sftlens.reporting.compare import agreement, differences, flatten, run
from sftlens.reporting.config import CompareConfig
from sftlens.runstore import RunDir

from .conftest import synthetic_rows, write_results


def test_agreement_counts_each_verdict() -> None:
    assert agreement(["holds", "holds", "holds"]) == "holds in all 3"
    assert agreement(["inconclusive", "inconclusive"]) == "inconclusive in both"
    mixed = agreement(["inconclusive", "holds", "does not hold", "holds"])
    assert mixed == "mixed: holds in 2, does not hold in 1, inconclusive in 1"


def test_differences_name_only_the_keys_that_differ() -> None:
    a = flatten({"grid": {"seeds": [0, 1, 2], "sizes": [60]}, "lr": 1e-5, "world": "w0"})
    b = flatten({"grid": {"seeds": [0, 1, 2], "sizes": [60, 120]}, "lr": 1e-5})
    assert a == {"grid.seeds": [0, 1, 2], "grid.sizes": [60], "lr": 1e-5, "world": "w0"}
    assert differences([a, b]) == {"grid.sizes": [[60], [60, 120]], "world": ["w0", None]}
    assert differences([a, dict(a)]) == {}


def _run(path: Path, gain: float, config: dict | None = None) -> Path:
    write_results(path, synthetic_rows(gain=gain))
    if config is not None:
        RunDir.create(path, config=config)
    return path


def test_compare_writes_verdicts_agreement_and_differences(tmp_path: Path) -> None:
    worlds = [tmp_path / "world-s0", tmp_path / "world-s1"]
    for seed, world in enumerate(worlds):
        RunDir.create(world, config={"preset": "tiny", "seed": seed})
    helps = _run(tmp_path / "a", 0.03, {"grid": {"seeds": [0, 1, 2]}, "world": str(worlds[0])})
    hurts = _run(tmp_path / "b", -0.08, {"grid": {"seeds": [0, 1, 2]}, "world": str(worlds[1])})
    cfg = CompareConfig(runs=[str(helps), str(hurts)], labels=["helps", "hurts"])
    result = run(cfg, tmp_path / "cmp")
    verdicts = {r.label: [f.verdict for f in r.findings] for r in result.runs}
    assert verdicts["helps"][3] == "holds" and verdicts["hurts"][3] == "does not hold"
    assert result.agreement[4] == "mixed: holds in 1, does not hold in 1"
    assert result.agreement[2] == f"{verdicts['helps'][1]} in both"
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "| 4. Restoring" in md and "mixed: holds in 1, does not hold in 1 |" in md
    assert "| world-build.seed | 0 | 1 |" in md and "world-build.preset" not in md
    assert "grid.seeds" not in md  # the same in both
    csv = (tmp_path / "cmp" / "comparison.csv").read_text().splitlines()
    assert len(csv) == 1 + 2 * 4 and csv[0].startswith("label,run,finding,claim,verdict")


def test_build_keys_are_compared_only_when_every_run_has_them() -> None:
    from sftlens.reporting.compare import comparable

    with_build = {"world": "w0", "world-build.seed": 0}
    without = {"world": "w1"}  # its world was not found
    assert differences(comparable([with_build, without])) == {"world": ["w0", "w1"]}
    other = {"world": "w1", "world-build.seed": 1}
    assert differences(comparable([with_build, other]))["world-build.seed"] == [0, 1]


def test_runs_without_a_manifest_are_named_not_called_equal(tmp_path: Path) -> None:
    a, b = _run(tmp_path / "a", 0.03), _run(tmp_path / "b", 0.03)
    result = run(CompareConfig(runs=[str(a), str(b)]), tmp_path / "cmp")
    md = (tmp_path / "cmp" / "comparison.md").read_text()
    assert f"- R1: no manifest.json in {a}: its config is not known" in md
    assert "nothing to compare" in md and "are the same" not in md
    assert [r.label for r in result.runs] == ["R1", "R2"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"runs": ["a"]}, "two or more runs"),
        ({"runs": ["a", "a"]}, "named twice"),
        ({"runs": ["a", "b"], "labels": ["x"]}, "1 labels for 2 runs"),
        ({"runs": ["a", "b"], "labels": ["x", "x"]}, "the same label"),
    ],
)
def test_bad_run_lists_are_refused(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CompareConfig(**values)


def test_an_out_inside_a_run_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    a, b = _run(tmp_path / "a", 0.03), _run(tmp_path / "b", 0.03)
    before = sorted(p.name for p in a.rglob("*"))
    with pytest.raises(SftlensError, match="is inside input"):
        run(CompareConfig(runs=[str(a), str(b)]), a / "cmp")
    assert sorted(p.name for p in a.rglob("*")) == before


def test_a_broken_manifest_is_one_line_naming_the_file(tmp_path: Path) -> None:
    a, b = _run(tmp_path / "a", 0.03), _run(tmp_path / "b", 0.03)
    (a / "manifest.json").write_text("{not json")
    with pytest.raises(SftlensError, match=r"a/manifest.json: not a manifest of sftlens"):
        run(CompareConfig(runs=[str(a), str(b)]), tmp_path / "cmp")
    assert not (tmp_path / "cmp").exists()
