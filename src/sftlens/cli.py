"""The ``sftlens`` command: parse arguments, build the stage's config, call its ``run``.

Example::

    sftlens probe --model runs/world/model --data world:runs/world --out runs/probe samples=5

Every stage subcommand takes ``--config FILE`` (YAML), ``--out DIR``, ``--force``,
its own flags, and trailing ``key=value`` overrides (dotted keys for nested
settings).  Errors users can cause print one line and exit 2 (``--debug``, anywhere
on the line, shows the traceback).  ``sftlens <command> --help`` lists every ``key=value``
setting of the stage, generated from its config class (``cli_help.py``).  Nothing else happens here: the command table is ``cli_stages.py``; stages
live in their packages.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from sftlens import __version__
from sftlens.cli_errors import OneLineParser, explain
from sftlens.cli_help import StageParser
from sftlens.cli_stages import STAGES, WORLD_BUILD, WORLD_CHECK, Stage

log = logging.getLogger("sftlens")


def _add_stage_args(p: argparse.ArgumentParser, stage: Stage) -> None:
    for name, _key, help_ in stage.positional:
        p.add_argument(name, help=help_)
    if stage.needs_out:
        p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--config", metavar="FILE", help="YAML config (flags and key=value override it)")
    p.add_argument("--force", action="store_true", help="write into a non-empty --out")
    for opt in stage.opts:
        kwargs = {"default": None, **opt.kwargs}
        if kwargs.get("action") != "store_true":
            kwargs.setdefault("metavar", opt.flags[0].lstrip("-").upper().replace("-", "_"))
        help_ = opt.help.replace("%", "%%")
        p.add_argument(*opt.flags, dest="opt__" + opt.key, help=help_, **kwargs)
    p.add_argument(
        "overrides", nargs="*", metavar="key=value", help="config overrides (dotted keys)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by tests and docs)."""
    parser = OneLineParser(
        prog="sftlens",
        description="Measure and control what supervised fine-tuning does to a model's knowledge.",
        epilog="Stages: world → probe → select → finetune → evaluate / token-kl → restore → report. "
        "`sftlens study` runs them all; `sftlens demo` runs the embedded default.",
    )
    parser.add_argument("--version", action="version", version=f"sftlens {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=StageParser)
    sub.required = True

    world = sub.add_parser(
        "world", help="build or check the knowledge world (the embedded base model)"
    )
    wsub = world.add_subparsers(dest="world_command", metavar="ACTION", parser_class=StageParser)
    wsub.required = True
    for name, stage in (("build", WORLD_BUILD), ("check", WORLD_CHECK)):
        wp = wsub.add_parser(name, help=stage.help, description=stage.description)
        wp.settings_of = stage.config
        _add_stage_args(wp, stage)
        wp.set_defaults(stage=stage)

    for name, stage in STAGES.items():
        sp = sub.add_parser(name, help=stage.help.replace("%", "%%"), description=stage.description)
        sp.settings_of = stage.config
        _add_stage_args(sp, stage)
        sp.set_defaults(stage=stage)
    return parser


def _import(path: str) -> Any:
    module_name, attr = path.split(":")
    return getattr(importlib.import_module(module_name), attr)


def run_stage(stage: Stage, args: argparse.Namespace) -> Any:
    """Build the stage's config from the parsed args and call its run function."""
    from sftlens.config import load_config
    from sftlens.errors import ConfigError

    cls = _import(stage.config)
    func = _import(stage.func)
    values = {
        k[len("opt__") :]: v
        for k, v in vars(args).items()
        if k.startswith("opt__") and v is not None
    }
    config_file = args.config
    positional = {name: getattr(args, name) for name, _, _ in stage.positional}
    values.update({key: getattr(args, name) for name, key, _ in stage.positional if key})
    if "study_config" in positional and config_file is None:
        config_file = positional.pop("study_config")
    cfg = load_config(cls, config_file, overrides=args.overrides, values=values)
    if stage.needs_out and not str(args.out).strip():
        raise ConfigError("--out is empty; give --out DIR")
    if stage.needs_out and config_file:  # the YAML file is an input too
        from sftlens.outdir import check_apart

        check_apart(args.out, [config_file])
    target = args.out if stage.needs_out else next(iter(positional.values()))
    return func(cfg, Path(target), force=args.force)


def _setup_logging(quiet: bool) -> None:
    if quiet:  # no progress bars either (read when tqdm / the HF libraries are imported)
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s sftlens %(levelname).1s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sftlens`` console script."""
    parser = build_parser()
    # --debug and -q/--quiet are global but accepted anywhere on the line
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    quiet = any(a in ("-q", "--quiet") for a in argv)
    argv = [a for a in argv if a not in ("--debug", "-q", "--quiet")]
    # key=value overrides may come after options too (argparse stops filling positionals early)
    args, extra = parser.parse_known_args(argv)
    args.debug, args.quiet = debug, quiet
    stray = [x for x in extra if x.startswith("-") or "=" not in x]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*getattr(args, "overrides", []), *extra]
    _setup_logging(args.quiet)
    try:
        result = run_stage(args.stage, args)
    except KeyboardInterrupt:
        print("sftlens: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # the one error boundary: known families → one line, exit 2
        line = explain(err)
        if line is None or args.debug:
            raise
        print(f"sftlens: error: {line}", file=sys.stderr)
        return 2
    summary = getattr(result, "summary", None)
    if callable(summary):
        print(summary())
    return 0
