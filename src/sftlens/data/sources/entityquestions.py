"""EntityQuestions (Sciavolino et al. 2021) in its official layout, as a zip, or as JSONL.

Accepted ``DIR`` forms for ``entityquestions:DIR``:

- ``DIR/dataset/{train,dev,test}/P<id>.<split>.json`` (the unpacked ``dataset.zip``;
  each file a JSON list of ``{"question", "answers"}``), or ``DIR/{train,dev,test}/...``;
- the same with ``.jsonl`` files (one record per line);
- ``dataset.zip`` itself, or ``DIR/dataset.zip``.

``relation_query_templates.json`` (``[X]`` = subject), when present next to the data,
is used to recover each question's subject; otherwise the relation's question
template from the template file is.  Fact ids are ``<relation>/<split>/<index>``
(the record's position in its file), stable across runs.  Parsed files are cached
per process, keyed by path, size and modification time.

Example::

    python -m sftlens.data entityquestions:../shared/data/entityquestions
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sftlens.data.context import SPLITS, LoadContext
from sftlens.data.records import Domain, Fact, Relation, Split
from sftlens.data.relation_templates import PLACEHOLDER, TemplateSpec
from sftlens.errors import DataError

log = logging.getLogger(__name__)

FILE_RE = re.compile(r"(?:^|/)(?P<rel>P\d+)\.(?P<split>train|dev|test)\.(?P<ext>jsonl|json)$")
QUERY_FILE = "relation_query_templates.json"

Record = tuple[int | None, Any, str | None]  # (line or None, parsed object, parse error)


@dataclass(frozen=True)
class RawFile:
    """One parsed data file (or the reason it could not be parsed)."""

    relation: str
    split: str
    where: str
    records: tuple[Record, ...]
    error: str | None = None


@dataclass(frozen=True)
class RawSource:
    files: tuple[RawFile, ...]
    query_templates: dict[str, str]


def _parse(where: str, name: str, text: str) -> RawFile:
    m = FILE_RE.search(name)
    assert m is not None
    rel, split = m["rel"], m["split"]
    if m["ext"] == "jsonl":
        recs: list[Record] = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                recs.append((n, json.loads(line), None))
            except json.JSONDecodeError as err:
                recs.append((n, None, f"malformed JSON ({err.msg})"))
        return RawFile(rel, split, where, tuple(recs))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return RawFile(rel, split, f"{where}:{err.lineno}", (), f"malformed JSON ({err.msg})")
    if not isinstance(data, list):
        return RawFile(rel, split, where, (), "expected a JSON list of records")
    return RawFile(rel, split, where, tuple((None, rec, None) for rec in data))


def _order(f: RawFile) -> tuple[int, int, str]:
    return (SPLITS.index(f.split), int(f.relation[1:]), f.where)


def _query_templates(text: str, where: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{where}:{err.lineno}: malformed JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise DataError(f"{where}: expected a mapping of relation id to question template")
    return {k: str(v).replace("[X]", PLACEHOLDER) for k, v in data.items() if "[X]" in str(v)}


@lru_cache(maxsize=4)
def _read_dir(root: str, _signature: tuple[Any, ...]) -> RawSource:
    base = Path(root)
    files = [
        _parse(str(p), p.name, p.read_text(encoding="utf-8"))
        for split in SPLITS
        if (base / split).is_dir()
        for p in sorted((base / split).iterdir())
        if FILE_RE.search(p.name)
    ]
    query: dict[str, str] = {}
    for cand in (base / QUERY_FILE, base.parent / QUERY_FILE):
        if cand.is_file():
            query = _query_templates(cand.read_text(encoding="utf-8"), str(cand))
            break
    return RawSource(tuple(sorted(files, key=_order)), query)


@lru_cache(maxsize=4)
def _read_zip(path: str, _signature: tuple[Any, ...]) -> RawSource:
    files: list[RawFile] = []
    query: dict[str, str] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for name in sorted(zf.namelist()):
                if FILE_RE.search(name):
                    text = zf.read(name).decode("utf-8")
                    files.append(_parse(f"{path}!{name}", name, text))
                elif name.endswith(QUERY_FILE):
                    query = _query_templates(zf.read(name).decode("utf-8"), f"{path}!{name}")
    except zipfile.BadZipFile:
        raise DataError(f"{path}: not a valid zip file") from None
    return RawSource(tuple(sorted(files, key=_order)), query)


def _signature(paths: list[Path]) -> tuple[Any, ...]:
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)


def read_raw(arg: str) -> RawSource:
    """Locate and parse (cached) the EntityQuestions files under ``arg``."""
    p = Path(arg).expanduser()
    if not p.exists():
        raise DataError(f"entityquestions: {p} does not exist")
    if p.is_dir() and (p / "dataset").is_dir():
        p = p / "dataset"
    elif p.is_dir() and not any((p / s).is_dir() for s in SPLITS) and (p / "dataset.zip").is_file():
        p = p / "dataset.zip"
    if p.is_file():
        return _read_zip(str(p.resolve()), _signature([p]))
    members = [f for s in SPLITS if (p / s).is_dir() for f in sorted((p / s).iterdir())]
    if not members:
        raise DataError(
            f"entityquestions: no dataset/{{train,dev,test}}/P<id>.<split>.json under {p}"
        )
    query = [q for q in (p / QUERY_FILE, p.parent / QUERY_FILE) if q.is_file()]
    return _read_dir(str(p.resolve()), _signature(members + query))


def _check(rec: Any) -> str | None:
    """Why ``rec`` is not a valid ``{"question", "answers"}`` record, or None."""
    if type(rec) is dict:  # fast path for the common, valid record
        q, ans = rec.get("question"), rec.get("answers")
        if (
            type(q) is str
            and type(ans) is list
            and ans
            and q.strip()
            and all(type(a) is str and a.strip() for a in ans)
        ):
            return None
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    for key in ("question", "answers"):
        if key not in rec:
            return f"missing field '{key}'"
    if not isinstance(rec["question"], str) or not rec["question"].strip():
        return "'question' must be a non-empty string"
    answers = rec["answers"]
    if not isinstance(answers, list) or not answers:
        return "empty answers"
    if not all(isinstance(a, str) and a.strip() for a in answers):
        return "answers must be non-empty strings"
    return None


# key -> (raw source kept alive so its id stays unique, facts, relations, skipped, messages, dropped)
_MEMO: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def load(
    arg: str, templates: dict[str, TemplateSpec], ctx: LoadContext
) -> tuple[list[Fact], dict[str, Relation]]:
    """Facts and relations of EntityQuestions under ``arg`` (memoised per process on the
    parsed files, preset, templates, aliases and bad-row policy)."""
    raw = read_raw(arg)
    key = (
        id(raw),
        ctx.preset,
        repr(sorted(templates.items())),
        ctx.aliases.fingerprint(),
        ctx.n_templates,
        ctx.problems.skip,
    )
    if key not in _MEMO:
        if len(_MEMO) >= 4:
            _MEMO.clear()
        facts, relations = _build(raw, templates, ctx)
        _MEMO[key] = (
            raw,
            facts,
            relations,
            ctx.problems.count,
            ctx.problems.messages,
            dict(ctx.dropped),
        )
        return list(facts), dict(relations)
    _, facts, relations, count, messages, dropped = _MEMO[key]
    ctx.problems.count, ctx.problems.messages = count, list(messages)
    ctx.dropped.update(dropped)
    return list(facts), dict(relations)


def _build(
    raw: RawSource, templates: dict[str, TemplateSpec], ctx: LoadContext
) -> tuple[list[Fact], dict[str, Relation]]:
    facts: list[Fact] = []
    relations: dict[str, Relation] = {}
    seen: set[str] = set()
    for f in raw.files:
        if f.error is not None:
            ctx.problems.report(f.where, f.error)
            continue
        if f.relation not in templates:
            ctx.problems.report(
                f.where,
                f"unknown relation id {f.relation} (no templates; give them with --relations FILE.yaml)",
                n=max(len(f.records), 1),
            )
            continue
        domain = ctx.preset.domain_of(f.relation)
        if domain is None:
            ctx.dropped[f.relation] += len(f.records)
            continue
        spec = templates[f.relation]
        relations.setdefault(f.relation, ctx.relation(f.relation, spec, domain))
        qtemplate: str = raw.query_templates.get(f.relation) or spec["question"]
        facts.extend(_file_facts(f, domain, qtemplate, seen, ctx))
    return facts, relations


def _file_facts(
    f: RawFile, domain: Domain, qtemplate: str, seen: set[str], ctx: LoadContext
) -> list[Fact]:
    """Facts of one parsed file; bad records go to ``ctx.problems``."""
    prefix, _, suffix = qtemplate.partition(PLACEHOLDER)
    lo, tail = len(prefix), len(suffix)
    split: Split = f.split  # type: ignore[assignment]
    expand = ctx.aliases.expand
    out: list[Fact] = []
    for idx, (line, rec, err) in enumerate(f.records):
        fid = f"{f.relation}/{f.split}/{idx}"
        err = err or _check(rec)
        if err is None and fid in seen:
            err = f"duplicate id {fid}"
        subject = None
        if err is None:
            q = rec["question"]
            if len(q) > lo + tail and q.startswith(prefix) and q.endswith(suffix):
                subject = q[lo : len(q) - tail]  # as fit_subject(q, qtemplate), inlined
            if subject is None or not subject.strip():
                err = f"question {q!r} does not fit the template {qtemplate!r}"
        if err is not None:
            where = f"{f.where}:{line}" if line is not None else f"{f.where}: record {idx} ({fid})"
            ctx.problems.report(where, err)
            continue
        seen.add(fid)
        answers = tuple(rec["answers"])
        out.append(
            Fact(fid, f.relation, subject, q, answers, expand(answers), domain, split,  # type: ignore[arg-type]
                 "entityquestions", None, "pool")
        )  # fmt: skip
    return out
