"""Score QA outputs and aggregate accuracy per level, domain and relation (pure, no I/O).

The paper's headline number is the *macro* accuracy: the mean of the five per-level
accuracies (levels 0..4) of a domain; the *micro* accuracy pools all questions.  A level with
fewer than ``min_per_level`` questions is flagged (``low_n``), and so is a macro that averages
one.  Without levels (no mastery table) accuracy is per domain and relation.

Example::

    preds = score_outputs(facts, prompts, outputs, levels, get_matcher("contains"))
    rows = accuracy_rows(preds, domains=["in", "ood"])
    print(format_table(summarize(preds, ["in", "ood"], "contains")))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sftlens.data.matching import match_fact
from sftlens.data.records import Fact
from sftlens.runstore import content_hash

LEVELS = (0, 1, 2, 3, 4)
#: the ``test_level`` of the macro row (the mean of the five per-level accuracies)
MACRO_LEVEL = -1

Matcher = Callable[[str, Sequence[str]], "str | None"]


def score_outputs(
    facts: Sequence[Fact],
    prompts: Sequence[str],
    outputs: Sequence[str],
    levels: Mapping[str, int] | None,
    matcher: Matcher,
) -> list[dict[str, Any]]:
    """One prediction row per fact: id, relation, domain, level, prompt, output, correct, matched.

    ``levels`` None (no mastery table): ``level`` is None.
    """
    if not len(facts) == len(prompts) == len(outputs):
        raise ValueError(f"{len(facts)} facts, {len(prompts)} prompts, {len(outputs)} outputs")
    rows = []
    for fact, prompt, output in zip(facts, prompts, outputs, strict=True):
        matched = match_fact(matcher, output, fact)
        rows.append(
            {
                "id": fact.id,
                "relation": fact.relation,
                "domain": fact.domain,
                "level": None if levels is None else int(levels[fact.id]),
                "prompt": prompt,
                "output": output,
                "correct": matched is not None,
                "matched": matched,
            }
        )
    return rows


def _ratio(correct: int, n: int) -> float:
    return correct / n if n else math.nan


def _count(preds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    n = len(preds)
    correct = sum(bool(p["correct"]) for p in preds)
    return {"n": n, "correct": correct, "accuracy": _ratio(correct, n)}


def macro(level_accuracies: Sequence[float]) -> float:
    """Mean of the per-level accuracies, over levels that have questions (NaN if none)."""
    present = [a for a in level_accuracies if not math.isnan(a)]
    return sum(present) / len(present) if present else math.nan


def has_levels(preds: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the predictions carry mastery levels (a mastery table was given)."""
    return any(p["level"] is not None for p in preds)


def low_n(n: int, min_per_level: int) -> bool:
    """A level holding some, but fewer than ``min_per_level``, questions."""
    return 0 < n < min_per_level


def accuracy_rows(
    preds: Sequence[Mapping[str, Any]], domains: Sequence[str], min_per_level: int = 0
) -> list[dict[str, Any]]:
    """The study's rows: per domain, test levels 0..4 and ``-1`` (macro mean of the levels).

    A level without questions has ``n = 0`` and accuracy NaN and is left out of the macro mean.
    ``low_n`` flags a level with fewer than ``min_per_level`` questions, and a macro over one.
    Without levels: one row per domain and relation (``relation = "all"``: the domain).
    """
    if preds and not has_levels(preds):
        return relation_rows(preds, domains)
    rows: list[dict[str, Any]] = []
    for domain in domains:
        in_domain = [p for p in preds if p["domain"] == domain]
        level_rows = []
        for lv in LEVELS:
            count = _count([p for p in in_domain if p["level"] == lv])
            flag = low_n(count["n"], min_per_level)
            level_rows.append({"domain": domain, "test_level": lv, **count, "low_n": flag})
        total = _count(in_domain)
        rows.extend(level_rows)
        rows.append(
            {
                "domain": domain,
                "test_level": MACRO_LEVEL,
                "n": total["n"],
                "correct": total["correct"],
                "accuracy": macro([r["accuracy"] for r in level_rows]),
                "low_n": any(r["low_n"] for r in level_rows),
            }
        )
    return rows


def flag_low_n(rows: Sequence[Mapping[str, Any]], min_per_level: int) -> list[dict[str, Any]]:
    """``rows`` (any accuracy rows with ``test_level`` and ``n``, such as a study's) with
    ``low_n`` set: a level row with fewer than ``min_per_level`` questions, and the macro row
    (``test_level = -1``) of a group holding one.  A group is every other identifying column."""
    counted = {"test_level", "n", "correct", "accuracy", "low_n"}

    def group(row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(sorted((k, str(v)) for k, v in row.items() if k not in counted))

    small = {
        group(r) for r in rows if r["test_level"] != MACRO_LEVEL and low_n(r["n"], min_per_level)
    }
    out = []
    for row in rows:
        flag = (
            group(row) in small
            if row["test_level"] == MACRO_LEVEL
            else low_n(row["n"], min_per_level)
        )
        out.append({**row, "low_n": flag})
    return out


def relation_rows(
    preds: Sequence[Mapping[str, Any]], domains: Sequence[str]
) -> list[dict[str, Any]]:
    """Accuracy per domain (``relation = "all"``) and per relation, when there are no levels."""
    rows: list[dict[str, Any]] = []
    for domain in domains:
        in_domain = [p for p in preds if p["domain"] == domain]
        rows.append({"domain": domain, "relation": "all", **_count(in_domain)})
        for rel in sorted({p["relation"] for p in in_domain}):
            chosen = [p for p in in_domain if p["relation"] == rel]
            rows.append({"domain": domain, "relation": rel, **_count(chosen)})
    return rows


def summarize(
    preds: Sequence[Mapping[str, Any]],
    domains: Sequence[str],
    matching: str,
    min_per_level: int = 0,
) -> dict[str, Any]:
    """``metrics.json`` content: per domain macro, micro, per level and per relation counts.

    Without levels ``macro`` is None and ``levels`` is empty.
    """
    leveled = has_levels(preds) or not preds
    out: dict[str, Any] = {
        "matching": matching,
        "n": len(preds),
        "min_per_level": min_per_level,
        "domains": {},
    }
    rows = accuracy_rows(preds, domains, min_per_level) if leveled else []
    by_level = {(r["domain"], r["test_level"]): r for r in rows}
    for domain in domains:
        in_domain = [p for p in preds if p["domain"] == domain]
        micro = _count(in_domain)
        relations = sorted({p["relation"] for p in in_domain})
        out["domains"][domain] = {
            "n": micro["n"],
            "correct": micro["correct"],
            "macro": by_level[(domain, MACRO_LEVEL)]["accuracy"] if leveled else None,
            "macro_low_n": bool(by_level[(domain, MACRO_LEVEL)]["low_n"]) if leveled else False,
            "micro": micro["accuracy"],
            "levels": {str(lv): _strip(by_level[(domain, lv)]) for lv in LEVELS} if leveled else {},
            "relations": {
                r: _count([p for p in in_domain if p["relation"] == r]) for r in relations
            },
        }
    return out


def _strip(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("n", "correct", "accuracy", "low_n")}


def low_n_warning(metrics: Mapping[str, Any]) -> str | None:
    """One line naming the levels with too few questions for a trustworthy macro, if any."""
    least = metrics.get("min_per_level", 0)
    small = [
        f"{domain} L{lv} (n={row['n']})"
        for domain, d in metrics["domains"].items()
        for lv, row in d["levels"].items()
        if low_n(row["n"], least)
    ]
    if not small:
        return None
    return f"warning: macro over levels with fewer than {least} questions: {', '.join(small)}"


def _pct(x: float) -> str:
    return "   -" if math.isnan(x) else f"{100 * x:5.1f}"


def format_relation_table(metrics: Mapping[str, Any]) -> str:
    """Plain-text table without levels: accuracy (%) per domain and relation."""
    lines = [f"CBQA accuracy (%), matching={metrics['matching']} (no mastery table: no levels)"]
    lines.append(f"{'domain':<7}{'relation':<12}{'accuracy':>9}{'n':>8}")
    for domain, d in metrics["domains"].items():
        lines.append(f"{domain:<7}{'all':<12}{_pct(d['micro']):>9}{d['n']:>8}")
        for rel, r in d["relations"].items():
            lines.append(f"{'':<7}{rel:<12}{_pct(r['accuracy']):>9}{r['n']:>8}")
    return "\n".join(lines)


def format_table(metrics: Mapping[str, Any]) -> str:
    """Plain-text table: accuracy (%) per domain and level, macro, micro and n."""
    if metrics["n"] and not any(d["levels"] for d in metrics["domains"].values()):
        return format_relation_table(metrics)
    head = f"{'domain':<7}" + "".join(f"{'L' + str(lv):>7}" for lv in LEVELS)
    head += f"{'macro':>8}{'micro':>8}{'n':>8}"
    lines = [f"CBQA accuracy (%), matching={metrics['matching']}", head]
    for domain, d in metrics["domains"].items():
        cells = "".join(f"{_pct(d['levels'][str(lv)]['accuracy']):>7}" for lv in LEVELS)
        lines.append(f"{domain:<7}{cells}{_pct(d['macro']):>8}{_pct(d['micro']):>8}{d['n']:>8}")
    counts = "".join(
        f"{'n_L' + str(lv)}={'/'.join(str(d['levels'][str(lv)]['n']) for d in metrics['domains'].values())} "
        for lv in LEVELS
    )
    lines.append(f"questions per level ({'/'.join(metrics['domains'])}): {counts.strip()}")
    echoed = metrics.get("answer_in_question")
    if echoed and any(echoed.values()):
        lines.append(
            "questions containing an accepted answer: "
            + ", ".join(f"{d} {n}" for d, n in echoed.items())
            + (
                ""
                if metrics["matching"] == "contains-no-echo"
                else " (matching=contains-no-echo ignores echoes)"
            )
        )
    warning = low_n_warning(metrics)
    return "\n".join([*lines, warning] if warning else lines)


def question_key(ids: Sequence[str]) -> str:
    """Key of an ordered list of question ids (the order of every stored correctness string)."""
    return content_hash(list(ids))


def answer_columns(preds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One model's per-question correctness, compact: ``questions`` (:func:`question_key` of the
    ids in order), ``n`` and ``correct`` (a string of ``0``/``1``, one per question)."""
    return {
        "questions": question_key([str(p["id"]) for p in preds]),
        "n": len(preds),
        "correct": "".join("1" if p["correct"] else "0" for p in preds),
    }


def decode_correct(strings: Sequence[str], n: int) -> np.ndarray:
    """``(len(strings), n)`` bool matrix of :func:`answer_columns` strings (each of length n)."""
    if any(len(s) != n for s in strings):
        raise ValueError(f"correctness strings must all have {n} characters")
    if not strings:
        return np.zeros((0, n), dtype=bool)
    raw = np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8)
    return (raw == ord("1")).reshape(len(strings), n)
