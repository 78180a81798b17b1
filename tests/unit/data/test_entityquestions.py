"""EntityQuestions loading: official layout, zip, JSONL, subject recovery, real data counts."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from sftlens.data import Dataset, load_dataset
from sftlens.data.sources.entityquestions import FILE_RE
from sftlens.errors import DataError


def _expected_ids(data: dict) -> list[str]:
    return [
        f"{rel}/{split}/{i}"
        for split, rels in data.items()
        for rel, recs in rels.items()
        for i in range(len(recs))
    ]


def test_mini_official_layout(mini_eq: Path, mini_eq_data: dict) -> None:
    ds = load_dataset(f"entityquestions:{mini_eq}")
    assert sorted(f.id for f in ds) == sorted(_expected_ids(mini_eq_data))
    by_id = ds.by_id()
    zola = by_id["P19/train/1"]
    assert zola.subject == "Émile Zola" and zola.answers == ("Paris",)
    assert zola.domain == "in" and zola.split == "train" and zola.source == "entityquestions"
    assert by_id["P26/test/0"].domain == "ood"
    assert by_id["P36/train/1"].subject == "the United States of America"
    # statement templates can be filled with the recovered subject
    assert ds.relations["P19"].statement("Émile Zola", 0) == "Émile Zola was born in"


def test_multiple_answers_and_builtin_aliases(mini_eq: Path) -> None:
    ds = load_dataset(f"entityquestions:{mini_eq}")
    by_id = ds.by_id()
    assert by_id["P19/dev/0"].accepted == ("Maida Vale", "London")
    dc = by_id["P36/train/1"]
    assert dc.accepted == ("Washington, D.C.",)  # not in the paper's table
    wide = load_dataset(f"entityquestions:{mini_eq}", aliases=["builtin-extended"])
    wide_dc = wide.by_id()["P36/train/1"]
    assert "Washington DC" in wide_dc.accepted and wide_dc.accepted[0] == "Washington, D.C."
    plain = load_dataset(f"entityquestions:{mini_eq}", aliases=["-builtin"])
    assert plain.by_id()["P36/train/1"].aliases == ()


def test_zip_and_jsonl_variants_give_same_facts(mini_eq: Path, tmp_path: Path, eq_writer) -> None:
    ref = [f.to_row() for f in load_dataset(f"entityquestions:{mini_eq}")]
    zpath = tmp_path / "dataset.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted((mini_eq / "dataset").rglob("*.json")):
            zf.write(p, p.relative_to(mini_eq).as_posix())
        zf.write(mini_eq / "relation_query_templates.json", "relation_query_templates.json")
    assert [f.to_row() for f in load_dataset(f"entityquestions:{zpath}")] == ref
    jl = eq_writer(tmp_path / "jl", jsonl=True)
    assert [f.to_row() for f in load_dataset(f"entityquestions:{jl}")] == ref
    # the dataset/ folder itself is accepted too
    assert len(load_dataset(f"entityquestions:{mini_eq / 'dataset'}")) == len(ref)


def test_select_filters(mini_eq: Path) -> None:
    ds = load_dataset(f"entityquestions:{mini_eq}")
    sel = ds.select(split="train", domain="in")
    assert {(f.split, f.domain) for f in sel} == {("train", "in")}
    assert len(sel) == 5
    assert len(ds.select(split=["dev", "test"])) == 4
    assert len(ds.select(role="pool")) == len(ds) and len(ds.select(role="pretrain_qa")) == 0
    with pytest.raises(Exception, match="did you mean 'test'"):
        ds.select(split="tets")


def test_slick_preset_drops_unlisted_relations(tmp_path: Path, eq_writer) -> None:
    data = {"train": {"P20": [{"question": "Where did Ada die?", "answers": ["London"]}],
                      "P26": [{"question": "Who is Ada married to?", "answers": ["William"]}]}}  # fmt: skip
    root = eq_writer(tmp_path / "eq", data)
    ds = load_dataset(f"entityquestions:{root}", split_preset="slick-2024")
    assert [f.relation for f in ds] == ["P26"] and ds.facts[0].domain == "in"
    assert ds.dropped == {"P20": 1} and "P20" not in ds.relations
    paper = load_dataset(f"entityquestions:{root}")
    assert {f.relation: f.domain for f in paper} == {"P20": "in", "P26": "ood"}


def test_bare_spec_without_cache_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SFTLENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SFTLENS_DOWNLOAD", raising=False)
    with pytest.raises(DataError, match="entityquestions:DIR"):
        load_dataset("entityquestions")


def test_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"entityquestions:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no dataset"):
        load_dataset(f"entityquestions:{tmp_path / 'empty'}")


# ---------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real(eq_dir: Path) -> Dataset:
    return load_dataset(f"entityquestions:{eq_dir}")


def _raw_counts(eq_dir: Path) -> Counter[tuple[str, str]]:
    """Per (relation, split) question counts, read straight from the JSON files."""
    counts: Counter[tuple[str, str]] = Counter()
    for path in (eq_dir / "dataset").glob("*/*.json"):
        m = FILE_RE.search(path.name)
        assert m is not None, path
        counts[m["rel"], m["split"]] = len(json.loads(path.read_text(encoding="utf-8")))
    return counts


def test_real_counts_match_raw_files(real: Dataset, eq_dir: Path) -> None:
    raw = _raw_counts(eq_dir)
    assert len({rel for rel, _ in raw}) == 24
    assert real.counts() == raw  # every one of the 24 relations x 3 splits
    per_split = Counter(f.split for f in real)
    assert per_split == {"train": 176_560, "dev": 22_068, "test": 22_075}
    assert real.n_skipped == 0 and real.dropped == {}


def test_real_domains_and_subjects(real: Dataset) -> None:
    assert len(real.relations) == 24
    assert sum(r.domain == "in" for r in real.relations.values()) == 10
    assert len(real.select(split="train", domain="in")) == 78_611
    assert len(real.select(split="test", domain="in")) == 9_828
    assert len(real.select(split="test", domain="ood")) == 12_247
    for f in real.facts[::997]:
        rel = real.relations[f.relation]
        assert rel.question(f.subject) == f.question
    ids = [f.id for f in real]
    assert len(set(ids)) == len(ids)


def test_real_load_is_cached(real: Dataset, eq_dir: Path) -> None:
    from sftlens.data.sources.entityquestions import _read_dir

    hits = _read_dir.cache_info().hits
    again = load_dataset(f"entityquestions:{eq_dir}")
    assert _read_dir.cache_info().hits == hits + 1  # parsed once, then served from the cache
    assert [f.id for f in again.facts[:100]] == [f.id for f in real.facts[:100]]
