"""The study configs shipped inside the package (so an installed wheel can run the demo).

These YAML files are the one owner of the shipped configs; the repository's top-level
``configs/*.yaml`` are user-facing copies that a test keeps identical.  ``sftlens config
NAME`` prints one.

Example::

    from sftlens.configs import config_path, config_names
    config_names()                 # ['demo-tiny', 'paper-llama3-8b', 'world-gpu']
    config_path("demo-tiny")       # .../site-packages/sftlens/configs/demo-tiny.yaml
    config_path("../x")            # ConfigError: a name only, listing the shipped names
"""

from __future__ import annotations

from pathlib import Path

from sftlens.config import StageConfig
from sftlens.errors import ConfigError
from sftlens.registry import suggest

CONFIG_DIR = Path(__file__).resolve().parent


def config_names() -> list[str]:
    """Names of the shipped study configs (file stems)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def config_path(name: str) -> Path:
    """The shipped config ``name`` (``demo-tiny`` or ``demo-tiny.yaml``); one-line error otherwise."""
    stem = name.removesuffix(".yaml")
    names = config_names()
    if stem not in names:  # a name, never a path: nothing outside CONFIG_DIR is reachable
        close = suggest(Path(stem).name, names)
        hint = f" ({close.removeprefix('; ')})" if "did you mean" in close else ""
        raise ConfigError(
            f"no shipped config '{name}'{hint}; shipped configs: {', '.join(names)}; "
            "a file is read only when given as an existing path (with a '/' or ending in .yaml)"
        )
    return CONFIG_DIR / f"{stem}.yaml"


def is_path(name: str) -> bool:
    """True when ``name`` is given as a path: it has a ``/`` or ends in ``.yaml`` and exists."""
    return ("/" in name or name.endswith((".yaml", ".yml"))) and Path(name).is_file()


class ShowConfig(StageConfig):
    """``sftlens config NAME``: which shipped config to print.

    Attributes:
        name: a shipped config (``demo-tiny``, ``paper-llama3-8b``, ``world-gpu``).
    """

    name: str


class ShownConfig(str):
    """The text of a shipped config; ``summary()`` is what the CLI prints."""

    def summary(self) -> str:
        return str(self).rstrip("\n")


def show_config(cfg: ShowConfig, _target: Path, *, force: bool = False) -> ShownConfig:
    """The YAML text of the shipped config ``cfg.name``, or of a file given as a path."""
    if is_path(cfg.name):
        return ShownConfig(Path(cfg.name).read_text(encoding="utf-8"))
    return ShownConfig(config_path(cfg.name).read_text())
