from __future__ import annotations

import subprocess
import sys

from sftlens.cli import STAGES, build_parser, main


def test_help_lists_every_stage(capsys):
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    for name in [*STAGES, "world"]:
        assert name in out


def test_every_subcommand_help_renders():
    parser = build_parser()
    for name in STAGES:
        sub = parser._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr]
        assert sub.format_help()


def test_user_error_is_one_line_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sftlens", "probe", "--out", str(tmp_path), "sampels=3"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sftlens: error:")
