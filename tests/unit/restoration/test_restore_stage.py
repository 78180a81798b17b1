"""The CLI stages: restore, restore-sweep (checkpoint mode), diff-stats; configs."""

from __future__ import annotations

import json

import pytest

from sftlens.cli import main
from sftlens.config import load_config
from sftlens.errors import ConfigError
from sftlens.restoration import source_from_dir
from sftlens.restoration.config import RestoreConfig, SweepConfig


def test_configs_validate() -> None:
    cfg = load_config(SweepConfig, values={"ks": "10,1,3", "strategies": "top,random"})
    assert cfg.ks == [1.0, 3.0, 10.0] and cfg.strategies == ["top", "random"]
    with pytest.raises(ConfigError, match="outside"):
        load_config(RestoreConfig, values={"k": 0})
    with pytest.raises(ConfigError, match="unknown strategy"):
        load_config(RestoreConfig, values={"strategy": "largest"})
    with pytest.raises(ConfigError, match="outside"):
        load_config(SweepConfig, values={"ks": "5,101"})


def test_cli_restore_sweep_and_stats(pair_dirs, tmp_path, capsys) -> None:
    b, t, base, tuned = pair_dirs
    out = tmp_path / "r"
    assert (
        main(
            [
                "restore",
                "--base",
                str(b),
                "--tuned",
                str(t),
                "--out",
                str(out),
                "--k",
                "10",
                "--strategy",
                "bottom",
                "--region",
                "mlp",
            ]
        )
        == 0
    )
    assert "restored" in capsys.readouterr().out
    info = json.loads((out / "restore.json").read_text())
    assert info["count"] == int(info["n"] * 0.1)
    assert info["io"]["read_passes"] == 2  # histogram, restore (no refinement pass)
    assert (
        main(["restore", "--base", str(b), "--tuned", str(t), "--out", str(out), "--k", "10"]) == 2
    )
    assert "not empty" in capsys.readouterr().err
    assert (
        main(
            [
                "restore",
                "--base",
                str(b),
                "--tuned",
                str(t),
                "--out",
                str(tmp_path / "z"),
                "--k",
                "0",
            ]
        )
        == 2
    )

    sweep = tmp_path / "sweep"
    assert (
        main(
            [
                "restore-sweep",
                "--base",
                str(b),
                "--tuned",
                str(t),
                "--out",
                str(sweep),
                "--k",
                "1,10",
                "--strategy",
                "top,random",
            ]
        )
        == 0
    )
    for name in ("top-k1", "top-k10", "random-k1", "random-k10"):
        assert (sweep / name / "model.safetensors").is_file()
    changed = sum(int((source_from_dir(sweep / "top-k10").get(n) != tuned[n]).sum()) for n in base)
    assert changed > 0

    stats = tmp_path / "stats"
    assert main(["diff-stats", "--base", str(b), "--tuned", str(t), "--out", str(stats)]) == 0
    for f in (
        "concentration.csv",
        "tensors.csv",
        "layers.csv",
        "modules.csv",
        "diff_stats.json",
        "concentration.png",
    ):
        assert (stats / f).is_file(), f
    shares = [
        row["share"] for row in json.loads((stats / "diff_stats.json").read_text())["concentration"]
    ]
    assert shares == sorted(shares) and 0 < shares[0] < shares[-1] <= 1 + 1e-9


def test_sweep_needs_both_data_and_mastery(pair_dirs, tmp_path, capsys) -> None:
    b, t, _, _ = pair_dirs
    assert (
        main(
            [
                "restore-sweep",
                "--base",
                str(b),
                "--tuned",
                str(t),
                "--out",
                str(tmp_path / "s"),
                "--data",
                "world:x",
            ]
        )
        == 2
    )
    assert "both --data and --mastery" in capsys.readouterr().err


def test_sweep_summary_prints_in_domain_and_ood_macro(tmp_path) -> None:
    from sftlens.restoration.stage import SweepResult

    runs = [{"strategy": "top", "restore_k": 1.0, "macro_in": 0.5, "macro_ood": 0.25}]
    text = SweepResult(tmp_path, "evaluate", runs).summary()
    assert "in-domain macro 0.500" in text and "OOD macro 0.250" in text


def test_sweep_takes_limit_like_other_stages() -> None:
    from sftlens.cli import build_parser
    from sftlens.cli_stages import STAGES

    args = build_parser().parse_args(["restore-sweep", "--out", "o", "--limit", "30"])
    assert vars(args)["opt__evaluation.limit"] == 30
    assert any(o.key == "evaluation.limit" for o in STAGES["restore-sweep"].opts)
