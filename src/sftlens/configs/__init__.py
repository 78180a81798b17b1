"""The study configs shipped inside the package (so an installed wheel can run the demo).

These YAML files are the one owner of the shipped configs; the repository's top-level
``configs/*.yaml`` are user-facing copies that a test keeps identical.  ``sftlens config
show NAME`` prints one.

Example::

    from sftlens.configs import config_path, config_names
    config_names()                 # ['demo-tiny', 'paper-llama3-8b', 'world-gpu']
    config_path("demo-tiny")       # .../site-packages/sftlens/configs/demo-tiny.yaml
"""

from __future__ import annotations

from pathlib import Path

from sftlens.errors import ConfigError
from sftlens.registry import suggest

CONFIG_DIR = Path(__file__).resolve().parent


def config_names() -> list[str]:
    """Names of the shipped study configs (file stems)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def config_path(name: str) -> Path:
    """The shipped config ``name`` (``demo-tiny`` or ``demo-tiny.yaml``); one-line error otherwise."""
    stem = name.removesuffix(".yaml")
    path = CONFIG_DIR / f"{stem}.yaml"
    if not path.is_file():
        raise ConfigError(f"no shipped config '{stem}'{suggest(stem, config_names())}")
    return path
