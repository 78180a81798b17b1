"""Every numeric setting is range-checked in the config classes, before any work."""

from __future__ import annotations

import importlib
import typing

import pytest
from pydantic import ValidationError

from sftlens.cli_stages import STAGES, WORLD_BUILD, WORLD_CHECK
from sftlens.config import StageConfig, load_config
from sftlens.errors import ConfigError

CONFIG_MODULES = sorted(
    {s.config.split(":")[0] for s in (*STAGES.values(), WORLD_BUILD, WORLD_CHECK)}
    | {"sftlens.study.config", "sftlens.finetuning.config", "sftlens.probing.config"}
)


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_all_subclasses(sub)]
    return out


def stage_configs() -> list[type[StageConfig]]:
    for name in CONFIG_MODULES:
        importlib.import_module(name)
    found = {c for c in _all_subclasses(StageConfig) if c.__module__.startswith("sftlens.")}
    return sorted(found, key=lambda c: c.__qualname__)


def _has_float(annotation: object) -> bool:
    return annotation is float or any(_has_float(a) for a in typing.get_args(annotation))


def _is_list(annotation: object) -> bool:
    return typing.get_origin(annotation) is list or any(
        typing.get_origin(a) is list for a in typing.get_args(annotation)
    )


FLOAT_FIELDS = [
    (cls, name)
    for cls in stage_configs()
    for name, field in cls.model_fields.items()
    if _has_float(field.annotation)
]


def test_the_walk_finds_the_stage_configs():
    names = {c.__name__ for c in stage_configs()}
    assert {"FinetuneConfig", "ProbeConfig", "WorldConfig", "LoraSettings", "SlickConfig"} <= names
    assert len(FLOAT_FIELDS) > 30


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize(("cls", "name"), FLOAT_FIELDS, ids=lambda x: getattr(x, "__name__", x))
def test_no_float_setting_accepts_nan_or_inf(cls, name, bad):
    value = [bad] if _is_list(cls.model_fields[name].annotation) else bad
    with pytest.raises(ValidationError) as info:
        cls.model_validate({name: value})
    assert any(e["loc"] and e["loc"][0] == name for e in info.value.errors()), info.value


MEASURED = [
    ("sftlens.finetuning.config:FinetuneConfig", ["weight_decay=nan"], "weight_decay"),
    ("sftlens.finetuning.config:FinetuneConfig", ["weight_decay=-5"], "weight_decay"),
    ("sftlens.finetuning.config:FinetuneConfig", ["max_grad_norm=nan"], "max_grad_norm"),
    ("sftlens.finetuning.config:FinetuneConfig", ["lr=inf"], "lr"),
    ("sftlens.finetuning.config:FinetuneConfig", ["lora.r=0"], "lora.r"),
    ("sftlens.finetuning.config:FinetuneConfig", ["lora.dropout=2"], "lora.dropout"),
    ("sftlens.finetuning.config:FinetuneConfig", ["max_shard_size=0B"], "max_shard_size"),
    ("sftlens.finetuning.config:FinetuneConfig", ["max_shard_size=0GB"], "max_shard_size"),
    ("sftlens.finetuning.config:FinetuneConfig", ["max_shard_size=1.5GB"], "max_shard_size"),
    ("sftlens.finetuning.config:FinetuneConfig", ["seed=-1"], "seed"),
    ("sftlens.world.config:WorldConfig", ["lr=inf"], "lr"),
    ("sftlens.world.config:WorldConfig", ["epochs=inf"], "epochs"),
    ("sftlens.world.config:WorldConfig", ["seed=-1"], "seed"),
    ("sftlens.calibration.config:CalibrateConfig", ["lrs=[.inf]"], "lrs"),
    ("sftlens.calibration.config:CalibrateConfig", ["lrs=[.nan]"], "lrs"),
    ("sftlens.data.config:DataConfig", ["spec=x", "limit=0"], "limit"),
    ("sftlens.data.config:DataConfig", ["spec=x", "limit=-1"], "limit"),
    ("sftlens.data.config:DataConfig", ["spec=x", "n_templates=0"], "n_templates"),
    ("sftlens.probing.config:ProbeConfig", ["model=m", "data=d", "seed=-1"], "seed"),
    ("sftlens.probing.config:ProbeConfig", ["model=m", "data=d", "temperature=nan"], "temp"),
    ("sftlens.restoration.config:SparsifyConfig", ["method=dare", "amount=1.5"], "amount"),
    ("sftlens.restoration.config:SparsifyConfig", ["method=ties", "amount=0"], "amount"),
    ("sftlens.restoration.config:RestoreConfig", ["seed=-1"], "seed"),
]


@pytest.mark.parametrize(("path", "overrides", "key"), MEASURED)
def test_measured_bad_numbers_fail_at_config_time(path, overrides, key):
    module, name = path.split(":")
    cls = getattr(importlib.import_module(module), name)
    with pytest.raises(ConfigError, match=key):
        load_config(cls, None, overrides)


def test_good_numbers_still_pass():
    from sftlens.finetuning.config import FinetuneConfig, shard_size_bytes

    cfg = load_config(FinetuneConfig, None, ["max_shard_size=20KB", "lora.dropout=0.1"])
    assert cfg.max_shard_size == "20KB" and cfg.lora.dropout == 0.1
    assert shard_size_bytes("2GB") == 2 * 10**9 and shard_size_bytes("1MiB") == 2**20


def test_error_names_the_value():
    from sftlens.finetuning.config import FinetuneConfig

    with pytest.raises(ConfigError, match=r"weight_decay.*got -5"):
        load_config(FinetuneConfig, None, ["weight_decay=-5"])


@pytest.mark.parametrize("text", ["test", "train,test", "[train,test]"])
def test_list_settings_take_one_a_comma_list_or_a_yaml_list(text):
    from sftlens.probing.config import ProbeConfig

    cfg = load_config(ProbeConfig, None, ["model=m", "data=d", f"splits={text}"])
    assert cfg.splits == text.strip("[]").split(",")


def test_every_list_setting_takes_a_single_value():
    from sftlens.restoration.config import DiffStatsConfig
    from sftlens.study.config import GridConfig

    assert load_config(GridConfig, None, ["seeds=3"]).seeds == [3]
    assert load_config(GridConfig, None, ["levels=4"]).levels == ["4"]
    assert load_config(DiffStatsConfig, None, ["top_pcts=5"]).top_pcts == [5.0]
