"""The shipped answer-space table: recomputed from EntityQuestions when present; its format."""

from __future__ import annotations

import pytest

from sftlens.world.answer_space import (
    eq_answer_space,
    load_answer_space,
    main,
    measure,
    table_yaml,
    within,
)
from sftlens.world.relations import ALL_RELATIONS


def test_shipped_table_covers_every_relation_with_source_and_licence():
    from importlib import resources

    import yaml

    text = resources.files("sftlens.world").joinpath("answer_space.yaml").read_text()
    data = yaml.safe_load(text)
    assert data["license"] == "MIT" and "EntityQuestions" in data["source"]
    assert "python -m sftlens.world.answer_space" in data["command"]
    table = load_answer_space()
    assert set(table) == set(ALL_RELATIONS)
    assert all(0 < f.distinct_ratio <= 1 and 0 < f.top_share <= 1 for f in table.values())


def test_shipped_table_matches_entityquestions(eq_dir):
    measured = eq_answer_space(eq_dir, list(ALL_RELATIONS))
    shipped = load_answer_space()
    for rid in ALL_RELATIONS:
        assert shipped[rid].distinct_ratio == pytest.approx(measured[rid].distinct_ratio, abs=1e-4)
        assert shipped[rid].top_share == pytest.approx(measured[rid].top_share, abs=1e-4)
    assert table_yaml(measured) == table_yaml(shipped)  # the regeneration command's output


def test_measure_and_within():
    m = measure(["a", "a", "a", "b"])
    assert m.distinct_ratio == 0.5 and m.top_share == 0.75
    assert within(0.1, 0.2) and within(0.4, 0.2) and not within(0.41, 0.2)
    assert not within(0.0, 0.2)


def test_regeneration_command_needs_a_directory(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out
