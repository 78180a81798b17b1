"""Shipped templates and aliases, override files, split presets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sftlens.data import SPLIT_PRESETS, get_matcher, get_split_preset, load_dataset
from sftlens.data.alias_tables import (
    AliasTable,
    build_alias_table,
    builtin_aliases,
    get_alias_table,
    load_alias_file,
)
from sftlens.data.relation_templates import builtin_templates, load_template_file
from sftlens.errors import DataError, SftlensError

PAPER = get_split_preset("paper-2025")
PAPER_ALIASES = Path(__file__).resolve().parents[4] / "shared/data/paper_reference/aliases.json"


def test_presets_partition_as_documented() -> None:
    assert SPLIT_PRESETS.names() == ["paper-2025", "slick-2024"]
    assert len(PAPER.in_domain) == 10 and len(PAPER.ood) == 14
    assert set(PAPER.in_domain).isdisjoint(PAPER.ood)
    slick = get_split_preset("slick-2024")
    assert len(slick.in_domain) == 12 and len(slick.ood) == 7
    assert set(slick.relations) <= set(PAPER.relations)
    assert PAPER.domain_of("P19") == "in" and PAPER.domain_of("P26") == "ood"
    assert slick.domain_of("P20") is None


def test_builtin_templates_cover_every_relation() -> None:
    tpl = builtin_templates()
    assert set(tpl) == set(PAPER.relations)
    for rel, spec in tpl.items():
        statements = spec["statements"]
        assert len(statements) == 21, rel  # the paper's count, for every relation
        assert len(set(statements)) == len(statements), rel
        assert all(s.count("{subject}") >= 1 and not s.endswith(" ") for s in statements), rel


def test_builtin_question_templates_match_dataset(eq_dir: Path) -> None:
    official = json.loads((eq_dir / "relation_query_templates.json").read_text())
    for rel, spec in builtin_templates().items():
        assert spec["question"] == official[rel].replace("[X]", "{subject}")


def test_n_templates_truncates_and_checks(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(
        json.dumps(
            {"id": "a", "relation": "P19", "question": "Where was A born?", "answers": ["B"]}
        )
        + "\n"
    )
    ds = load_dataset(f"jsonl:{path}", n_templates=10)
    assert ds.relations["P19"].statement_templates == builtin_templates()["P19"]["statements"][:10]
    with pytest.raises(DataError, match="P19: 21 statement templates, 99 requested"):
        load_dataset(f"jsonl:{path}", n_templates=99)


def test_template_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text(
        yaml.safe_dump(
            {"relations": {"P19": {"name": "x", "question": "Where?", "statements": ["a"]}}}
        )
    )
    with pytest.raises(DataError, match="must be a string containing"):
        load_template_file(bad)
    bad.write_text("relations:\n  P19: [unclosed\n")
    with pytest.raises(DataError, match=r"t.yaml:\d+: malformed YAML"):
        load_template_file(bad)


def test_builtin_aliases_are_exactly_the_paper_table() -> None:
    if not PAPER_ALIASES.is_file():
        pytest.skip("shared paper reference not present")
    paper = load_alias_file(PAPER_ALIASES)
    assert len(paper) == 29
    assert builtin_aliases() == paper  # same keys, same names, same order
    wide = get_alias_table("builtin-extended")
    assert len(wide) == 29 + 151
    for obj, names in paper.items():
        assert wide[obj] == names, obj


def test_alias_table_lookup_is_one_way_and_normalised() -> None:
    table = AliasTable({"Harvard Law School": ["Harvard University"], "Zürich": ["Zurich"]})
    assert table.expand(["Harvard Law School"]) == ("Harvard University",)
    assert table.expand(["Harvard University"]) == ()
    assert table.expand(["zurich"]) == ("Zurich",)  # normalised key match
    assert table.expand(["Zürich"], ["Züri"]) == ("Züri", "Zurich")


def test_user_alias_files_add_and_builtin_switches(tmp_path: Path) -> None:
    user = tmp_path / "a.yaml"
    user.write_text(yaml.safe_dump({"aliases": {"Paris": ["City of Light"]}}))
    table = build_alias_table([str(user)], builtin=True)
    assert table.lookup("Paris") == ("City of Light",)
    assert "USA" in table.lookup("United States of America")
    assert (
        build_alias_table([str(user), "-builtin"], builtin=True).lookup("United States of America")
        == ()
    )
    assert "USA" in build_alias_table(["builtin"], builtin=False).lookup("United States of America")
    bad = tmp_path / "b.yaml"
    bad.write_text(yaml.safe_dump({"aliases": {"Paris": [1, 2]}}))
    with pytest.raises(DataError, match="alias entry 'Paris'"):
        build_alias_table([str(bad)], builtin=False)


def test_aliases_reach_matching(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"id": "a", "relation": "P17", "question": "Which country is Ohio located in?",
                                "answers": ["United States of America"]}) + "\n")  # fmt: skip
    fact = load_dataset(f"jsonl:{path}", aliases=["builtin"]).facts[0]
    assert get_matcher("contains")(" the USA", fact.accepted) == "USA"
    plain = load_dataset(f"jsonl:{path}")  # the paper's relations: the paper's table
    assert get_matcher("contains")(" the USA", plain.facts[0].accepted) == "USA"
    assert plain.alias_table == "paper-2025" and "alias table: paper-2025" in plain.summary()
    without = load_dataset(f"jsonl:{path}", aliases=["-builtin"])
    assert get_matcher("contains")(" the USA", without.facts[0].accepted) is None
    assert without.alias_table == "none"


def test_jsonl_of_other_relations_gets_no_alias_table(tmp_path: Path) -> None:
    rels = tmp_path / "rels.yaml"
    rels.write_text(yaml.safe_dump({"relations": {"X1": {"name": "capital", "question": "Where is {subject}?",
                                           "statements": ["{subject} is in"]}}}))  # fmt: skip
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"id": "a", "relation": "X1", "question": "Where is Ohio?",
                                "answers": ["United States of America"], "domain": "in"}) + "\n")  # fmt: skip
    data = load_dataset(f"jsonl:{path}", templates=rels)
    assert data.alias_table == "none"
    assert get_matcher("contains")(" the USA", data.facts[0].accepted) is None


def test_alias_table_names_select_and_unknown_names_suggest(tmp_path: Path) -> None:
    paper = build_alias_table([], builtin=True)
    assert paper.lookup("Taiwan") == () and paper.lookup("Washington, D.C.") == ()
    assert "USA" in paper.lookup("United States of America")
    wide = build_alias_table(["builtin-extended"], builtin=True)
    assert wide.lookup("Taiwan") == ("Republic of China",)
    assert "USA" in wide.lookup("United States of America")
    assert len(build_alias_table(["paper-2025"], builtin=False)) == 29
    assert len(build_alias_table([], builtin=False)) == 0
    with pytest.raises(
        SftlensError, match="unknown alias table 'builtin-extnded'; did you mean 'builtin-extended'"
    ):
        build_alias_table(["builtin-extnded"], builtin=True)
    with pytest.raises(DataError, match="alias file not found"):
        build_alias_table([str(tmp_path / "missing.yaml")], builtin=True)


def test_paper_preset_accepts_own_answers_plus_table_12_only(eq_dir: Path) -> None:
    """Every EntityQuestions fact accepts exactly its answers + the paper's entries for them."""
    if not PAPER_ALIASES.is_file():
        pytest.skip("shared paper reference not present")
    paper = load_alias_file(PAPER_ALIASES)
    ds = load_dataset(f"entityquestions:{eq_dir}", split_preset="paper-2025")
    n_aliased = 0
    for fact in ds.facts:
        want = dict.fromkeys(fact.answers)
        for ans in fact.answers:
            want.update(dict.fromkeys(paper.get(ans, ())))
        assert fact.accepted == tuple(want), fact.id
        n_aliased += bool(fact.aliases)
    assert 0 < n_aliased < len(ds.facts)
    wide = load_dataset(f"entityquestions:{eq_dir}", aliases=["builtin-extended"])
    changed = sum(a.accepted != b.accepted for a, b in zip(ds.facts, wide.facts, strict=True))
    assert changed > n_aliased
