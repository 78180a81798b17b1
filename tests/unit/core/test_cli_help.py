"""``sftlens <command> --help`` lists every setting of the stage; ``--debug`` goes anywhere."""

from __future__ import annotations

import importlib

import pytest

from sftlens.cli import main
from sftlens.cli_help import settings_rows
from sftlens.cli_stages import STAGES, WORLD_BUILD, WORLD_CHECK

COMMANDS = [
    *[([name], stage) for name, stage in STAGES.items()],
    (["world", "build"], WORLD_BUILD),
    (["world", "check"], WORLD_CHECK),
]


def _config_class(path: str) -> type:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "stage"), COMMANDS, ids=lambda x: "-".join(x) if isinstance(x, list) else ""
)
def test_help_lists_every_setting_with_type_default_and_a_line(argv, stage, capsys):
    text = _help(argv, capsys)
    rows = settings_rows(_config_class(stage.config))
    assert rows
    lines = text.splitlines()
    for key, kind, default, line in rows:
        at = [i for i, t in enumerate(lines) if t.startswith(f"  {key}  [")]
        assert at, f"{' '.join(argv)} --help lacks setting {key}"
        assert f"[{kind}, default {default}]" in lines[at[0]]
        assert line and lines[at[0] + 1].strip() == line, f"{key} has no one-line description"


def test_help_shows_bounds_of_constrained_settings(capsys):
    text = _help(["finetune"], capsys)
    assert "  lora.dropout  [float >= 0, < 1, default 0.0]" in text
    assert "  weight_decay  [float >= 0, default 0.0]" in text


@pytest.mark.parametrize("where", ["before", "after", "end"])
def test_debug_is_accepted_anywhere(where, tmp_path, capsys):
    argv = ["data", f"jsonl:{tmp_path / 'missing.jsonl'}"]
    argv = {
        "before": ["--debug", *argv],
        "after": [argv[0], "--debug", argv[1]],
        "end": [*argv, "--debug"],
    }[where]
    with pytest.raises(Exception) as info:  # --debug: the traceback, not one line
        main(argv)
    assert "not found" in str(info.value)
    assert "unrecognized" not in capsys.readouterr().err


def test_quiet_after_the_command_is_accepted(tmp_path, capsys, monkeypatch):
    for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    assert main(["data", f"jsonl:{tmp_path / 'missing.jsonl'}", "-q"]) == 2
    assert "not found" in capsys.readouterr().err
