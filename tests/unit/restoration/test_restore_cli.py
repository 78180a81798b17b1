"""The restoration CLI entries: ``sparsify`` (DARE/TIES) and ``restore`` report from the engine."""

from __future__ import annotations

import json

import torch
from restoration_fixtures import perturb, save_dir, tiny_state

from sftlens.cli import main
from sftlens.restoration import EngineSettings, source_from_dir, sparsify_checkpoint
from sftlens.restoration.streaming import Engine


def _dirs(tmp_path):
    base = tiny_state(layers=2, hidden=16)
    return save_dir(base, tmp_path / "b"), save_dir(perturb(base), tmp_path / "t")


def test_sparsify_command_writes_what_the_api_writes(tmp_path, capsys) -> None:
    b, t = _dirs(tmp_path)
    args = ["-q", "sparsify", "--base", str(b), "--tuned", str(t), "--method", "ties"]
    assert main([*args, "--amount", "20", "--out", str(tmp_path / "cli"), "device=cpu"]) == 0
    assert "ties(20) written" in capsys.readouterr().out
    api = sparsify_checkpoint(
        b, t, tmp_path / "api", "ties", 20.0, settings=EngineSettings(device="cpu", progress=False)
    )
    cli, ref = source_from_dir(tmp_path / "cli"), source_from_dir(api)
    assert all(torch.equal(cli.get(n), ref.get(n)) for n in ref.names())
    assert main([*args, "--amount", "0", "--out", str(tmp_path / "bad")]) == 2
    assert "(TIES keep percentage k)=0.0 is outside (0, 100]" in capsys.readouterr().err
    assert main([*args[:-1], "dear", "--out", str(tmp_path / "bad2")]) == 2
    assert "did you mean 'dare'" in capsys.readouterr().err


def test_restore_command_counts_come_from_the_engine(tmp_path, capsys) -> None:
    b, t = _dirs(tmp_path)
    out = tmp_path / "r"
    argv = ["-q", "restore", "--base", str(b), "--tuned", str(t), "--k", "10", "--out", str(out)]
    assert main([*argv, "device=cpu"]) == 0
    info = json.loads((out / "restore.json").read_text())
    assert info["n"] > 0 and info["count"] == info["n"] * 10 // 100
    assert f"restored {info['count']:,} of {info['n']:,}" in capsys.readouterr().out


def test_engine_owns_and_shuts_down_its_threads() -> None:
    with Engine.create("cpu", 8, progress=False) as engine:
        assert engine.pool.submit(lambda: 3).result() == 3
    assert engine.pool._shutdown and engine.readers._shutdown
