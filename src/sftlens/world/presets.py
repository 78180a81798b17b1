"""World presets (``micro``, ``tiny``, ``small``, ``gpu``) and their resolution with overrides.

Example::

    spec = resolve_spec(load_config(WorldConfig, values={"preset": "tiny", "layers": 3}))

``micro`` is a smoke preset for tests (builds in seconds); ``tiny`` is the embedded
default (CI, demo; ≤ 6 min on 2 CPU cores); ``small`` is a 23M model with 22k facts (≈ 5 h on 2 CPU cores; 35 s of training on an H100);
``gpu`` is a ~100M model with ≥100k facts for one H100 in bf16.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from sftlens.errors import ConfigError
from sftlens.registry import Registry
from sftlens.world.config import WorldConfig
from sftlens.world.relations import ALL_RELATIONS, CATALOG


@dataclass(frozen=True)
class WorldSpec:
    """Every knob of a world build, fully resolved."""

    relations: tuple[str, ...]
    facts_per_relation: int
    answer_space: str
    object_pool: int
    qa_frac: float
    qa_repeats: int
    zero_frac: float
    max_exposure: int
    alias_frac: float
    filler_frac: float
    test_frac: float
    dev_frac: float
    syllables: int
    vocab_size: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    epochs: float
    batch_size: int
    seq_len: int
    lr: float
    warmup_frac: float
    weight_decay: float
    dtype: str
    compile: bool
    threads: int

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["relations"] = list(self.relations)
        return out


PRESETS = Registry[WorldSpec]("world preset")

_BASE = WorldSpec(
    relations=ALL_RELATIONS,
    facts_per_relation=350,
    answer_space="entityquestions",  # per-relation shape of EntityQuestions (answer_space.yaml)
    object_pool=40,  # objects per relation with answer_space=uniform only
    qa_frac=0.2,
    qa_repeats=6,  # the rule: every pretrain-QA fact twice in each of the 3 Q/A formats
    zero_frac=0.25,
    max_exposure=20,
    alias_frac=0.3,
    filler_frac=0.1,
    test_frac=0.5,
    dev_frac=0.1,
    syllables=48,
    vocab_size=2000,
    hidden=256,
    layers=4,
    heads=4,
    intermediate=640,
    epochs=8,
    batch_size=32,
    seq_len=128,
    lr=2e-3,
    warmup_frac=0.03,
    weight_decay=0.01,
    dtype="auto",
    compile=False,
    threads=2,
)

PRESETS.add(
    "micro",
    replace(
        _BASE,
        relations=("P17", "P19", "P36", "P26", "P106", "P50"),
        facts_per_relation=30,
        object_pool=20,
        max_exposure=12,
        vocab_size=700,
        hidden=64,
        layers=2,
        heads=4,
        intermediate=192,
        epochs=60,
        batch_size=32,
        seq_len=64,
        lr=8e-3,
        threads=1,
    ),
)
PRESETS.add(
    "tiny",
    replace(
        _BASE,
        facts_per_relation=200,
        hidden=128,
        layers=3,
        heads=4,
        intermediate=352,
        epochs=8,
        lr=5e-3,
        test_frac=0.2,  # the rule: every level's in-domain train pool holds the largest demo size
    ),
)
PRESETS.add(
    "small",
    replace(
        _BASE,
        facts_per_relation=1300,
        object_pool=60,
        vocab_size=4000,
        hidden=512,
        layers=6,
        heads=8,
        intermediate=1376,
        epochs=6,  # H100 fp32: 4 underfits, 8 leaves level L2 at 3.8%; 6 passes world check
        batch_size=64,
        seq_len=128,
        lr=1e-3,
    ),
)
PRESETS.add(
    "gpu",
    replace(
        _BASE,
        facts_per_relation=6500,
        object_pool=100,
        test_frac=0.3,  # level pools of ~1,900-2,900 facts at the smallest (docs/world.md)
        vocab_size=8192,
        hidden=768,
        layers=12,
        heads=12,
        intermediate=2048,
        epochs=8,  # H100: 4 underfits, 16 leaves no mid-mastery facts; 8 passes world check
        batch_size=256,
        seq_len=256,
        lr=6e-4,
        weight_decay=0.1,
        dtype="bfloat16",
        compile=True,
        threads=8,
    ),
)


def resolve_spec(cfg: WorldConfig) -> WorldSpec:
    """The preset named by ``cfg.preset`` with every non-None knob of ``cfg`` applied."""
    spec = PRESETS.get(cfg.preset)
    names = {f.name for f in fields(WorldSpec)}
    changes: dict[str, Any] = {}
    for key, value in cfg.model_dump().items():
        if key in names and value is not None:
            changes[key] = tuple(value) if key == "relations" else value
    spec = replace(spec, **changes)
    unknown = [r for r in spec.relations if r not in CATALOG]
    if unknown:
        raise ConfigError(
            f"unknown relation '{unknown[0]}'; choose from {', '.join(ALL_RELATIONS)}"
        )
    if spec.hidden % spec.heads:
        raise ConfigError(f"hidden={spec.hidden} is not divisible by heads={spec.heads}")
    if spec.answer_space not in ("entityquestions", "uniform"):
        raise ConfigError(f"answer_space '{spec.answer_space}': choose entityquestions or uniform")
    if spec.dtype not in ("auto", "float32", "bfloat16"):
        raise ConfigError(f"dtype '{spec.dtype}': choose auto, float32 or bfloat16")
    return spec
