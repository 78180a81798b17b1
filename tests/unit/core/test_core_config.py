from __future__ import annotations

import pytest

from sftlens.config import StageConfig, load_config, parse_override
from sftlens.errors import ConfigError


class Inner(StageConfig):
    lr: float = 1e-5
    steps: int = 10


class Outer(StageConfig):
    name: str = "x"
    samples: int = 10
    inner: Inner = Inner()
    ks: list[float] = [1.0, 3.0]


def test_defaults_and_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("name: y\ninner:\n  steps: 3\n")
    cfg = load_config(Outer, f, ["inner.lr=0.1", "ks=5,10"])
    assert cfg.name == "y" and cfg.inner.steps == 3 and cfg.inner.lr == 0.1
    assert cfg.ks == [5.0, 10.0]


def test_unknown_key_suggests():
    with pytest.raises(ConfigError, match="did you mean 'samples'"):
        load_config(Outer, None, ["sampels=3"])
    with pytest.raises(ConfigError, match="did you mean 'steps'"):
        load_config(Outer, None, ["inner.step=3"])


def test_bad_value_names_key():
    with pytest.raises(ConfigError, match="inner.steps"):
        load_config(Outer, None, ["inner.steps=abc"])


def test_bad_yaml_names_file_and_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("a: 1\nb: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml:"):
        load_config(Outer, f)


def test_parse_override_requires_equals():
    with pytest.raises(ConfigError):
        parse_override("novalue")
    assert parse_override("a.b=3") == (["a", "b"], 3)


def test_require_keys_names_the_missing_key():
    from sftlens.config import require_keys

    class Cfg(StageConfig):
        model: str | None = None
        data: str = "x"

    require_keys(Cfg(model="m"), "model", "data")
    with pytest.raises(ConfigError, match="'model' is required"):
        require_keys(Cfg(), "data", "model")
