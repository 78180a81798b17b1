"""The ``sftlens`` command: parse arguments, build the stage's config, call its ``run``.

Example::

    sftlens probe --model runs/world/model --data world:runs/world --out runs/probe samples=5

Every stage subcommand takes ``--config FILE`` (YAML), ``--out DIR``, ``--force``,
its own flags, and trailing ``key=value`` overrides (dotted keys for nested
settings).  Errors users can cause print one line and exit 2 (``--debug`` shows
the traceback).  Nothing else happens here: stages live in their packages.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftlens import __version__
from sftlens.cli_errors import OneLineParser, explain
from sftlens.errors import NotImplementedStageError

log = logging.getLogger("sftlens")


@dataclass(frozen=True)
class Opt:
    """A flag that sets config key ``key`` (dotted)."""

    flags: tuple[str, ...]
    key: str
    help: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """A subcommand: its config class and run function as ``module:name``."""

    help: str
    description: str
    config: str
    func: str
    opts: tuple[Opt, ...] = ()
    needs_out: bool = True
    positional: tuple[tuple[str, str, str], ...] = ()  # (name, config key or "", help)


def _o(*flags: str, key: str, help: str, **kwargs: Any) -> Opt:
    return Opt(tuple(flags), key, help, kwargs)


MODEL = _o("--model", key="model", help="HF hub id or local checkpoint dir")
DATA = _o("--data", key="data", help="data spec: entityquestions:DIR | world:DIR | jsonl:PATH")
RELATIONS = _o(
    "--relations",
    key="relations",
    help="YAML file of relation templates (question + statements) for your own relations",
)
ALIASES = _o(
    "--aliases",
    key="aliases",
    help="alias table names (paper-2025, builtin-extended) or files, comma list",
)
LIMIT = _o(
    "--limit",
    key="limit",
    help="first N facts per relation and split (same in every stage)",
    type=int,
)
DATA_OPTS = (DATA, RELATIONS, ALIASES, LIMIT)
SEED = _o("--seed", key="seed", help="random seed", type=int)
DEVICE = _o("--device", key="device", help="auto | cpu | cuda[:N]")
R_DTYPE = _o(
    "--r-dtype", key="r_dtype", help="dtype of r: float32 (default) | model (paper's code)"
)
BASE = _o("--base", key="base", help="base checkpoint dir")
TUNED = _o("--tuned", key="tuned", help="fine-tuned checkpoint dir")
REGION = _o("--region", key="region", help="transformer | attention | mlp | layers=A-B | glob")
CHECKPOINT_PAIR = (BASE, TUNED, REGION)

STAGES: dict[str, Stage] = {
    "probe": Stage(
        "measure how well the base model knows each fact (mastery levels)",
        "Probe the model with every statement template of each fact's relation, sample "
        "completions, and bin facts into mastery levels by R = share correct.",
        "sftlens.probing.config:ProbeConfig",
        "sftlens.probing.stage:run",
        (
            MODEL,
            *DATA_OPTS,
            _o("--scheme", key="scheme", help="mastery scheme: paper | slick"),
            _o("--samples", key="samples", help="samples per template", type=int),
            _o("--greedy", key="greedy", help="quick mode: 1 greedy sample", action="store_true"),
            _o("--backend", key="backend", help="generation backend: hf | vllm"),
            DEVICE,
            SEED,
        ),
    ),
    "select": Stage(
        "build SFT sets by mastery level x size x seed",
        "Select fine-tuning sets from a mastery table: one set per (level, size, seed), "
        "balanced across relations, in-domain train facts only.",
        "sftlens.selection.config:SelectConfig",
        "sftlens.selection.stage:run",
        (
            _o("--mastery", key="mastery", help="mastery table from `sftlens probe`"),
            *DATA_OPTS,
            _o("--levels", key="levels", help="comma list of levels, mixes (0+1) or random"),
            _o("--sizes", key="sizes", help="comma list of sizes or 'all'"),
            _o("--seeds", key="seeds", help="number of seeds", type=int),
            _o(
                "--allow-smaller",
                key="allow_smaller",
                help="shrink sets the pool cannot fill",
                action="store_true",
            ),
        ),
    ),
    "finetune": Stage(
        "supervised fine-tuning (full or LoRA) of a causal LM",
        "Fine-tune on a QA set with the paper's prompt format; loss on answer tokens only.",
        "sftlens.finetuning.config:FinetuneConfig",
        "sftlens.finetuning.stage:run",
        (
            MODEL,
            _o("--train", key="train", help="SFT set (.jsonl) from `sftlens select`"),
            _o(
                "--lora",
                key="lora.enabled",
                help="train LoRA adapters (merged on save)",
                action="store_true",
            ),
            _o("--lr", key="lr", help="learning rate", type=float),
            _o(
                "--plan",
                key="plan",
                help="print the per-GPU memory plan and stop",
                action="store_true",
            ),
            DEVICE,
            SEED,
        ),
    ),
    "calibrate": Stage(
        "choose the fine-tuning learning rate on dev facts (rule fixed in advance)",
        "Fine-tune one mastery-mixed set per lr of a grid, evaluate each on the dev split, "
        "pick the best dev macro accuracy in-domain (ties: the smaller lr).",
        "sftlens.calibration.config:CalibrateConfig",
        "sftlens.calibration.stage:run",
        (
            MODEL,
            DATA,
            _o("--mastery", key="mastery", help="the BASE model's mastery table"),
            DEVICE,
        ),
    ),
    "evaluate": Stage(
        "closed-book QA accuracy per mastery level, in-domain and OOD",
        "Greedy-decode answers to test questions and report accuracy per base-model mastery level.",
        "sftlens.evaluation.config:EvaluateConfig",
        "sftlens.evaluation.stage:run",
        (
            MODEL,
            *DATA_OPTS,
            _o("--mastery", key="mastery", help="the BASE model's mastery table"),
            _o(
                "--matching",
                key="matching",
                help="answer matching: contains | dpr | entityquestions | words | exact",
            ),
            _o(
                "--batch-size",
                key="batch_size",
                help="generation batch size (default: from memory)",
                type=int,
            ),
            DEVICE,
        ),
    ),
    "token-kl": Stage(
        "KL divergence between fine-tuned and base next-token distributions",
        "Compare tuned and base models at the first answer token (paper's top-10 KL, full KL, log-prob shift).",
        "sftlens.analysis.config:TokenKLConfig",
        "sftlens.analysis.stage:run",
        (
            _o("--base", key="base", help="base model id or path"),
            _o("--tuned", key="tuned", help="fine-tuned model id or path"),
            *DATA_OPTS,
            _o("--mastery", key="mastery", help="the base model's mastery table"),
            _o(
                "--levels", key="levels", help="comma list of test levels (default 4, as the paper)"
            ),
            _o(
                "--base-prompt",
                key="base_prompt",
                help="base model's prompt: statement (best template) | qa",
            ),
            DEVICE,
        ),
    ),
    "restore": Stage(
        "restore the top/bottom/random k% of updated weights to base values",
        "Stream both checkpoints, select k% of elements by relative update r=|t-b|/(|b|+1e-8) "
        "globally over a region, write a checkpoint where those take the base value.",
        "sftlens.restoration.config:RestoreConfig",
        "sftlens.restoration.stage:run_restore",
        (
            *CHECKPOINT_PAIR,
            _o("--k", key="k", help="percent of region elements to restore (0, 100]", type=float),
            _o("--strategy", key="strategy", help="top | bottom | random"),
            SEED,
            R_DTYPE,
        ),
    ),
    "sparsify": Stage(
        "sparsify the fine-tuning delta with DARE or TIES (baselines for restoration)",
        "dare: drop delta elements with probability p, rescale the rest; ties: keep top k% |delta|.",
        "sftlens.restoration.config:SparsifyConfig",
        "sftlens.restoration.stage:run_sparsify",
        (
            *CHECKPOINT_PAIR,
            _o("--method", key="method", help="dare | ties"),
            _o("--amount", key="amount", help="dare: drop rate p; ties: keep k%", type=float),
            SEED,
        ),
    ),
    "restore-sweep": Stage(
        "restore for several k in one pass (write checkpoints or evaluate each)",
        "Compute relative-update statistics once and restore for every k in the list.",
        "sftlens.restoration.config:SweepConfig",
        "sftlens.restoration.stage:run_sweep",
        (
            *CHECKPOINT_PAIR,
            _o("--k", key="ks", help="comma list of percents, e.g. 1,3,5,10,20,40,60"),
            _o("--strategy", key="strategies", help="comma list of strategies"),
            DATA,
            _o(
                "--mastery",
                key="mastery",
                help="evaluate each restored model against this mastery table",
            ),
            R_DTYPE,
        ),
    ),
    "diff-stats": Stage(
        "statistics of relative updates (concentration, per layer/module)",
        "Share of total relative update held by the top k%, mean r per tensor/layer/module.",
        "sftlens.restoration.config:DiffStatsConfig",
        "sftlens.restoration.stage:run_diff_stats",
        (*CHECKPOINT_PAIR, R_DTYPE),
    ),
    "study": Stage(
        "run the whole resumable study grid from one config",
        "Probe, select, fine-tune, evaluate, token-KL and restore over levels x sizes x seeds; "
        "rerun the same command to resume after a crash.",
        "sftlens.study.config:StudyConfig",
        "sftlens.study.stage:run",
        (
            _o(
                "--workers",
                key="workers",
                type=int,
                help="worker processes on this host (spread over the GPUs, or the CPU cores)",
            ),
            _o(
                "--workers-per-gpu",
                key="workers_per_gpu",
                type=int,
                help="most workers sharing one GPU (default 1; alone: that many on every GPU)",
            ),
        ),
        positional=(("study_config", "", "study YAML (e.g. configs/demo-tiny.yaml)"),),
    ),
    "report": Stage(
        "write the HTML report and findings of a study run",
        "Tables, figures and the paper's four findings (holds / does not hold / inconclusive).",
        "sftlens.reporting.config:ReportConfig",
        "sftlens.reporting.stage:run",
        (),
        needs_out=False,
        positional=(("run_dir", "", "study run directory"),),
    ),
    "data": Stage(
        "load a data spec and print a summary (a quick data check)",
        "Bad records give a one-line error naming file and line (exit 2).",
        "sftlens.data.config:DataConfig",
        "sftlens.data.config:check_data",
        (
            _o("--split-preset", key="split_preset", help="paper-2025 | slick-2024"),
            _o("--skip-invalid", key="skip_invalid", help="skip bad records", action="store_true"),
        ),
        needs_out=False,
        positional=(("spec", "spec", "entityquestions:DIR | world:DIR | jsonl:PATH"),),
    ),
    "config": Stage(
        "print a study config shipped with sftlens (demo-tiny, paper-llama3-8b, world-gpu)",
        "The packaged YAML, to copy and edit: sftlens config paper-llama3-8b > my-study.yaml",
        "sftlens.configs:ShowConfig",
        "sftlens.configs:show_config",
        needs_out=False,
        positional=(("name", "name", "shipped config name"),),
    ),
    "demo": Stage(
        "build the tiny knowledge world, run the packaged demo-tiny study, write the report",
        "The embedded default study, on CPU in minutes.",
        "sftlens.study.config:DemoConfig",
        "sftlens.study.demo:run",
        (),
    ),
}

WORLD_BUILD = Stage(
    "generate a fictional world and pretrain a small Llama on it",
    "Deterministic for a seed. Writes model/ (HF checkpoint) and world/ (facts, templates, stats).",
    "sftlens.world.config:WorldConfig",
    "sftlens.world.stage:build",
    (
        _o("--preset", key="preset", help="micro | tiny | small | gpu"),
        SEED,
        DEVICE,
    ),
)
WORLD_CHECK = Stage(
    "check a built world against its ground truth",
    "Exposure-accuracy correlation, unseen and well-seen accuracy, level coverage.",
    "sftlens.world.config:WorldCheckConfig",
    "sftlens.world.stage:check",
    (DEVICE,),
    needs_out=False,
    positional=(("world_dir", "", "directory written by `sftlens world build`"),),
)


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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    world = sub.add_parser(
        "world", help="build or check the knowledge world (the embedded base model)"
    )
    wsub = world.add_subparsers(dest="world_command", metavar="ACTION")
    wsub.required = True
    for name, stage in (("build", WORLD_BUILD), ("check", WORLD_CHECK)):
        wp = wsub.add_parser(name, help=stage.help, description=stage.description)
        _add_stage_args(wp, stage)
        wp.set_defaults(stage=stage)

    for name, stage in STAGES.items():
        sp = sub.add_parser(name, help=stage.help.replace("%", "%%"), description=stage.description)
        _add_stage_args(sp, stage)
        sp.set_defaults(stage=stage)
    return parser


def _import(path: str) -> Any:
    module_name, attr = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith("sftlens"):
            raise NotImplementedStageError(f"{module_name} is not implemented yet") from None
        raise
    if not hasattr(module, attr):
        raise NotImplementedStageError(f"{path} is not implemented yet")
    return getattr(module, attr)


def run_stage(stage: Stage, args: argparse.Namespace) -> Any:
    """Build the stage's config from the parsed args and call its run function."""
    from sftlens.config import load_config

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
    # key=value overrides may come after options too (argparse stops filling positionals early)
    args, extra = parser.parse_known_args(argv)
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
