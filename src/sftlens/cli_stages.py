"""The command table of ``sftlens``: each subcommand's help, config class, entry point and flags.

Example::

    from sftlens.cli_stages import STAGES
    STAGES["probe"].config  # "sftlens.probing.config:ProbeConfig"
Entry points are import paths, so ``sftlens --help`` imports no stage (pieces: ``cli_options``).
"""

from __future__ import annotations

from sftlens.cli_options import (
    CHECKPOINT_PAIR,
    DATA,
    DATA_OPTS,
    DEVICE,
    MODEL,
    R_DTYPE,
    SEED,
    Stage,
    flag,
)

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
            flag("--splits", key="splits", help="comma list of splits to probe (default: all)"),
            flag(
                "--domains", key="domains", help="comma list of domains to probe: in,ood (default)"
            ),
            flag("--scheme", key="scheme", help="mastery scheme: paper | slick"),
            flag("--samples", key="samples", help="samples per template", type=int),
            flag("--greedy", key="greedy", help="quick mode: 1 greedy sample", action="store_true"),
            flag("--backend", key="backend", help="generation backend: hf | vllm"),
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
            flag("--mastery", key="mastery", help="mastery table from `sftlens probe`"),
            *DATA_OPTS,
            flag("--levels", key="levels", help="comma list of levels, mixes (0+1) or random"),
            flag("--sizes", key="sizes", help="comma list of sizes or 'all'"),
            flag("--seeds", key="seeds", help="number of seeds", type=int),
            flag(
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
            flag("--train", key="train", help="SFT set (.jsonl) from `sftlens select`"),
            flag(
                "--lora",
                key="lora.enabled",
                help="train LoRA adapters (merged on save)",
                action="store_true",
            ),
            flag("--lr", key="lr", help="learning rate", type=float),
            flag(
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
            flag("--mastery", key="mastery", help="the BASE model's mastery table"),
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
            flag(
                "--mastery",
                key="mastery",
                help="the BASE model's mastery table (without it: accuracy per relation and domain)",
            ),
            flag(
                "--matching",
                key="matching",
                help="answer matching: contains | dpr | entityquestions | words | exact",
            ),
            flag(
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
            flag("--base", key="base", help="base model id or path"),
            flag("--tuned", key="tuned", help="fine-tuned model id or path"),
            *DATA_OPTS,
            flag("--mastery", key="mastery", help="the base model's mastery table"),
            flag(
                "--levels", key="levels", help="comma list of test levels (default 4, as the paper)"
            ),
            flag(
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
            flag("--k", key="k", help="percent of region elements to restore (0, 100]", type=float),
            flag("--strategy", key="strategy", help="top | bottom | random"),
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
            flag("--method", key="method", help="dare | ties"),
            flag("--amount", key="amount", help="dare: drop rate p; ties: keep k%", type=float),
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
            flag("--k", key="ks", help="comma list of percents, e.g. 1,3,5,10,20,40,60"),
            flag("--strategy", key="strategies", help="comma list of strategies"),
            DATA,
            flag(
                "--mastery",
                key="mastery",
                help="evaluate each restored model against this mastery table",
            ),
            flag(
                "--limit",
                key="evaluation.limit",
                help="first N facts per relation and split (same in every stage)",
                type=int,
            ),
            R_DTYPE,
        ),
    ),
    "diff-stats": Stage(
        "statistics of relative updates (concentration, per layer/module)",
        "Share of total relative update held by the top k%, mean r per tensor/layer/module.",
        "sftlens.restoration.config:DiffStatsConfig",
        "sftlens.restoration.stats_stage:run_diff_stats",
        (*CHECKPOINT_PAIR, R_DTYPE),
    ),
    "study": Stage(
        "run the whole resumable study grid from one config",
        "Probe, select, fine-tune, evaluate, token-KL and restore over levels x sizes x seeds; "
        "rerun the same command to resume after a crash.",
        "sftlens.study.config:StudyConfig",
        "sftlens.study.stage:run",
        (
            flag(
                "--workers",
                key="workers",
                type=int,
                help="worker processes on this host (spread over the GPUs, or the CPU cores)",
            ),
            flag(
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
    "compare": Stage(
        "the four findings of several study runs side by side (world seeds, reruns)",
        "Judges each run as `sftlens report` does, says how the verdicts agree and lists the "
        "config keys in which the runs differ; writes comparison.md and comparison.csv.",
        "sftlens.reporting.config:CompareConfig",
        "sftlens.reporting.compare:run",
        (
            flag("--runs", key="runs", help="comma list of study run directories (two or more)"),
            flag("--labels", key="labels", help="comma list of a short name per run"),
        ),
    ),
    "data": Stage(
        "load a data spec and print a summary (a quick data check)",
        "Bad records give a one-line error naming file and line (exit 2).",
        "sftlens.data.config:DataConfig",
        "sftlens.data.config:check_data",
        (
            flag("--split-preset", key="split_preset", help="paper-2025 | slick-2024"),
            flag(
                "--skip-invalid", key="skip_invalid", help="skip bad records", action="store_true"
            ),
        ),
        needs_out=False,
        positional=(
            ("spec", "spec", "entityquestions:DIR | world:DIR | jsonl:PATH | geo:[OPTIONS]"),
        ),
    ),
    "config": Stage(
        "print a study config shipped with sftlens (demo-tiny, paper-llama3-8b, world-gpu, paper-gemma3-270m, gemma3-270m-cpu)",
        "The packaged YAML, to copy and edit: sftlens config paper-llama3-8b > my-study.yaml",
        "sftlens.configs:ShowConfig",
        "sftlens.configs:show_config",
        needs_out=False,
        positional=(("name", "name", "shipped config name"),),
    ),
    "convert": Stage(
        "dequantize a GGUF file into a plain Hugging Face checkpoint (config, tokenizer, safetensors)",
        "Every stage also takes --model FILE.gguf directly (dequantized once into a cache: "
        "$SFTLENS_CACHE/gguf, default ~/.cache/sftlens/gguf). Needs pip install 'sftlens[gguf]'.",
        "sftlens.gguf_source.convert:ConvertConfig",
        "sftlens.gguf_source.convert:run",
        (
            flag("--sha256", key="sha256", help="expected sha256 of the GGUF file (checked first)"),
            flag("--tokenizer", key="tokenizer", help="save this directory's tokenizer instead"),
        ),
        positional=(("gguf", "gguf", "the .gguf file"),),
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
    "Writes model/ (HF checkpoint) and world/ (facts, templates, stats); the same seed gives the same facts, and the same model unless compile=true (deterministic=true: deterministic kernels, see docs/world.md).",
    "sftlens.world.config:WorldConfig",
    "sftlens.world.stage:build",
    (flag("--preset", key="preset", help="micro | tiny | small | gpu"), SEED, DEVICE),
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
