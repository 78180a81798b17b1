"""Bad inputs through the CLI: exit 2, one line naming the culprit, no traceback, nothing written.

Every case runs ``sftlens.cli.main`` in-process against one shared workspace (``ws`` in
``conftest.py``: a tiny random Llama, a small JSONL fact set, a mastery table, an SFT set and a
zoo of broken files built once per session), and compares a snapshot of the workspace's file
tree before and after the call.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sftlens.cli import main

from .conftest import run_cli, snapshot

D = "jsonl:{W}/facts.jsonl"
M = "{W}/model"
EVAL = ["evaluate", "--data", D, "--mastery", "{W}/mastery.parquet", "--out", "{W}/o"]
PROBE = ["probe", "--data", D, "--out", "{W}/o", "--device", "cpu"]
FT = ["finetune", "--model", M, "--out", "{W}/o", "--device", "cpu"]
SEL = ["select", "--data", D, "--out", "{W}/o"]
RESTORE = ["restore", "--base", M, "--out", "{W}/o", "--k", "5"]
SWEEP = ["restore-sweep", "--base", M, "--tuned", M, "--out", "{W}/o"]
KL = ["token-kl", "--base", M, "--data", D, "--mastery", "{W}/mastery.parquet", "--out", "{W}/o"]

CASES: dict[str, tuple[list[str], str]] = {
    # CLI usage
    "no-command": ([], "required"),
    "unknown-command": (["frobnicate"], "frobnicate"),
    "stray-argument": ([*PROBE, "--model", M, "stray"], "stray"),
    "unknown-flag": ([*PROBE, "--model", M, "--bogus"], "--bogus"),
    "int-flag-not-int": ([*PROBE, "--model", M, "--samples", "abc"], "abc"),
    "missing-out": (["probe", "--model", M, "--data", D], "--out"),
    # config files and overrides
    "config-missing": ([*PROBE, "--model", M, "--config", "{W}/nope.yaml"], "nope.yaml"),
    "config-bad-yaml": ([*PROBE, "--model", M, "--config", "{W}/bad.yaml"], "bad.yaml"),
    "config-not-mapping": ([*PROBE, "--model", M, "--config", "{W}/list.yaml"], "list.yaml"),
    "config-bad-utf8": ([*PROBE, "--model", M, "--config", "{W}/bad_utf8.yaml"], "bad_utf8.yaml"),
    "config-unknown-key": ([*PROBE, "--model", M, "--config", "{W}/unknown.yaml"], "no_such_key"),
    "override-unknown-key": ([*PROBE, "--model", M, "no_such_key=1"], "no_such_key"),
    "override-empty-key": ([*PROBE, "--model", M, "=5"], "empty key"),
    "override-wrong-type": ([*PROBE, "--model", M, "samples=many"], "samples"),
    "override-nested-unknown": ([*FT, "--train", "{W}/set.jsonl", "lora.rank=4"], "rank"),
    # probe
    "probe-model-missing": ([*PROBE, "--model", "{W}/no/such"], "no/such"),
    "probe-data-missing": (
        ["probe", "--model", M, "--data", "jsonl:{W}/nope.jsonl", "--out", "{W}/o"],
        "nope.jsonl",
    ),
    "probe-data-kind": (["probe", "--model", M, "--data", "bogus:x", "--out", "{W}/o"], "bogus"),
    "probe-data-bad-utf8": (
        ["probe", "--model", M, "--data", "jsonl:{W}/bad_utf8.jsonl", "--out", "{W}/o"],
        "bad_utf8.jsonl",
    ),
    "probe-no-data": (["probe", "--model", M, "--out", "{W}/o"], "data"),
    "probe-scheme": ([*PROBE, "--model", M, "--scheme", "bogus"], "bogus"),
    "probe-samples-zero": ([*PROBE, "--model", M, "--samples", "0"], "samples"),
    "probe-matching": ([*PROBE, "--model", M, "matching=bogus"], "bogus"),
    "probe-vllm-missing": ([*PROBE, "--model", M, "--backend", "vllm"], "vllm"),
    "probe-backend-unknown": ([*PROBE, "--model", M, "--backend", "tgi"], "backend"),
    "probe-device-gpu0": (
        ["probe", "--model", M, "--data", D, "--out", "{W}/o", "--device", "gpu0"],
        "gpu0",
    ),
    "probe-device-cuda": (
        ["probe", "--model", M, "--data", D, "--out", "{W}/o", "--device", "cuda:0"],
        "cuda",
    ),
    "probe-garbage-model": ([*PROBE, "--model", "{W}/garbage_model"], "garbage_model"),
    "probe-out-is-file": (["probe", "--model", M, "--data", D, "--out", "{W}/afile"], "afile"),
    "probe-out-under-file": (["probe", "--model", M, "--data", D, "--out", "{W}/afile/x"], "afile"),
    "probe-out-not-empty": (
        ["probe", "--model", M, "--data", D, "--out", "{W}/nonempty"],
        "nonempty",
    ),
    # select
    "select-no-mastery": (SEL, "mastery"),
    "select-mastery-missing": ([*SEL, "--mastery", "{W}/nope.parquet"], "nope.parquet"),
    "select-mastery-corrupt": ([*SEL, "--mastery", "{W}/corrupt.parquet"], "corrupt.parquet"),
    "select-level-9": ([*SEL, "--mastery", "{W}/level9.parquet"], "level 9"),
    "select-no-level-column": ([*SEL, "--mastery", "{W}/nolevel.parquet"], "level"),
    "select-mastery-format": ([*SEL, "--mastery", "{W}/table.txt"], "table.txt"),
    "select-level-unknown": ([*SEL, "--mastery", "{W}/mastery.parquet", "--levels", "7"], "7"),
    "select-seeds-zero": ([*SEL, "--mastery", "{W}/mastery.parquet", "--seeds", "0"], "seeds"),
    "select-size-too-big": ([*SEL, "--mastery", "{W}/mastery.parquet", "--sizes", "1000"], "1000"),
    "select-size-word": ([*SEL, "--mastery", "{W}/mastery.parquet", "--sizes", "many"], "many"),
    "select-out-not-empty": (
        [
            *SEL[:-2],
            "--mastery",
            "{W}/mastery.parquet",
            "--levels",
            "0",
            "--allow-smaller",
            "--out",
            "{W}/nonempty",
        ],
        "nonempty",
    ),
    # finetune
    "ft-no-train": (FT, "train"),
    "ft-train-missing": ([*FT, "--train", "{W}/nope.jsonl"], "nope.jsonl"),
    "ft-train-bad-utf8": ([*FT, "--train", "{W}/bad_utf8.jsonl"], "bad_utf8.jsonl:2"),
    "ft-train-bad-json": ([*FT, "--train", "{W}/bad_json.jsonl"], "bad_json.jsonl:2"),
    "ft-train-not-object": ([*FT, "--train", "{W}/array.jsonl"], "array.jsonl:1"),
    "ft-train-no-answer": ([*FT, "--train", "{W}/noanswer.jsonl"], "noanswer.jsonl:1"),
    "ft-train-empty": ([*FT, "--train", "{W}/empty.jsonl"], "empty.jsonl"),
    "ft-lr-huge": ([*FT, "--train", "{W}/set.jsonl", "lr=1e30"], "lr"),
    "ft-lr-zero": ([*FT, "--train", "{W}/set.jsonl", "--lr", "0"], "lr"),
    "ft-lr-negative": ([*FT, "--train", "{W}/set.jsonl", "lr=-1"], "lr"),
    "ft-shard-size": ([*FT, "--train", "{W}/set.jsonl", "max_shard_size=foo"], "max_shard_size"),
    "ft-epochs-zero": ([*FT, "--train", "{W}/set.jsonl", "epochs=0"], "epochs"),
    "ft-batch-word": ([*FT, "--train", "{W}/set.jsonl", "batch_size=abc"], "batch_size"),
    "ft-model-missing": (
        ["finetune", "--model", "{W}/nope", "--train", "{W}/set.jsonl", "--out", "{W}/o"],
        "nope",
    ),
    "ft-model-garbage": (
        ["finetune", "--model", "{W}/garbage_model", "--train", "{W}/set.jsonl", "--out", "{W}/o"],
        "garbage_model",
    ),
    "ft-model-truncated": (
        [
            "finetune",
            "--model",
            "{W}/truncated_model",
            "--train",
            "{W}/set.jsonl",
            "--out",
            "{W}/o",
        ],
        "truncated_model",
    ),
    "ft-device-gpu0": (
        [
            "finetune",
            "--model",
            M,
            "--train",
            "{W}/set.jsonl",
            "--out",
            "{W}/o",
            "--device",
            "gpu0",
        ],
        "gpu0",
    ),
    "ft-out-under-file": (
        ["finetune", "--model", M, "--train", "{W}/set.jsonl", "--out", "{W}/afile/o"],
        "afile",
    ),
    "ft-out-is-checkpoint": (
        ["finetune", "--model", M, "--train", "{W}/set.jsonl", "--out", "{W}/garbage_model"],
        "checkpoint",
    ),
    "ft-out-not-empty": (
        ["finetune", "--model", M, "--train", "{W}/set.jsonl", "--out", "{W}/nonempty"],
        "nonempty",
    ),
    "ft-lora-target": (
        [*FT, "--train", "{W}/set.jsonl", "--lora", "lora.target_modules=[nosuch_proj]"],
        "nosuch_proj",
    ),
    # evaluate
    "eval-model-missing": ([*EVAL, "--model", "no/such-model"], "no/such-model"),
    "eval-model-garbage": ([*EVAL, "--model", "{W}/garbage_model"], "garbage_model"),
    "eval-model-ff-header": ([*EVAL, "--model", "{W}/ff_model"], "ff_model"),
    "eval-mastery-corrupt": (
        [
            "evaluate",
            "--model",
            M,
            "--data",
            D,
            "--mastery",
            "{W}/corrupt.parquet",
            "--out",
            "{W}/o",
        ],
        "corrupt.parquet",
    ),
    "eval-mastery-level-9": (
        [
            "evaluate",
            "--model",
            M,
            "--data",
            D,
            "--mastery",
            "{W}/level9.parquet",
            "--out",
            "{W}/o",
        ],
        "level 9",
    ),
    "eval-mastery-other-ids": (
        [
            "evaluate",
            "--model",
            M,
            "--data",
            D,
            "--mastery",
            "{W}/other_mastery.parquet",
            "--out",
            "{W}/o",
        ],
        "other_mastery.parquet",
    ),
    "eval-matching": ([*EVAL, "--model", M, "--matching", "fuzzy"], "fuzzy"),
    "eval-device-gpu0": ([*EVAL, "--model", M, "--device", "gpu0"], "gpu0"),
    "eval-domain": ([*EVAL, "--model", M, "domains=[space]"], "domains"),
    # token-kl
    "kl-tuned-missing": ([*KL, "--tuned", "{W}/nope"], "nope"),
    "kl-levels": ([*KL, "--tuned", M, "--levels", "9"], "9"),
    "kl-base-prompt": ([*KL, "--tuned", M, "--base-prompt", "poem"], "base_prompt"),
    # restore / sweep / diff-stats
    "restore-tuned-missing": ([*RESTORE, "--tuned", "{W}/nope"], "nope"),
    "restore-tuned-garbage": ([*RESTORE, "--tuned", "{W}/garbage_model"], "garbage_model"),
    "restore-tuned-truncated": ([*RESTORE, "--tuned", "{W}/truncated_model"], "truncated_model"),
    "restore-ff-header": ([*RESTORE, "--tuned", "{W}/ff_model"], "ff_model"),
    "restore-huge-header": ([*RESTORE, "--tuned", "{W}/huge_model"], "huge_model"),
    "restore-k-zero": (["restore", "--base", M, "--tuned", M, "--out", "{W}/o", "--k", "0"], "k"),
    "restore-k-big": (
        ["restore", "--base", M, "--tuned", M, "--out", "{W}/o", "--k", "500"],
        "500",
    ),
    "restore-strategy": ([*RESTORE, "--tuned", M, "--strategy", "middle"], "middle"),
    "restore-region": ([*RESTORE, "--tuned", M, "--region", "layers=9-x"], "layers=9-x"),
    "restore-out-is-input": (
        ["restore", "--base", M, "--tuned", M, "--out", M, "--k", "5"],
        "same path as input",
    ),
    "restore-out-inside-input": (
        ["restore", "--base", M, "--tuned", M, "--out", "{W}/model/sub", "--k", "5"],
        "inside input",
    ),
    "restore-out-not-empty": (
        ["restore", "--base", M, "--tuned", M, "--out", "{W}/nonempty", "--k", "5"],
        "nonempty",
    ),
    "sweep-duplicate-k": ([*SWEEP, "--k", "5,5"], "repeated: 5"),
    "sweep-k-word": ([*SWEEP, "--k", "5,lots"], "ks"),
    "sweep-data-without-mastery": ([*SWEEP, "--data", D], "mastery"),
    "diff-stats-garbage": (
        ["diff-stats", "--base", M, "--tuned", "{W}/garbage_model", "--out", "{W}/o"],
        "garbage_model",
    ),
    # study, report, world
    "study-world-missing": (["study", "{W}/study_noworld.yaml", "--out", "{W}/o"], "nope"),
    "study-config-missing": (["study", "{W}/nope.yaml", "--out", "{W}/o"], "nope.yaml"),
    "study-config-bad-yaml": (["study", "{W}/bad.yaml", "--out", "{W}/o"], "bad.yaml"),
    "study-unknown-key": (["study", "{W}/study_unknown.yaml", "--out", "{W}/o"], "levelz"),
    "study-stage-value": (["study", "{W}/study_stage_value.yaml", "--out", "{W}/o"], "lr"),
    "study-stage-type": (["study", "{W}/study_stage_type.yaml", "--out", "{W}/o"], "samples"),
    "study-stage-key": (["study", "{W}/study_stage_key.yaml", "--out", "{W}/o"], "lrate"),
    "report-missing-run": (["report", "{W}/nope"], "nope"),
    "world-preset": (["world", "build", "--preset", "galaxy", "--out", "{W}/o"], "galaxy"),
    "world-check-missing": (["world", "check", "{W}/nope"], "nope"),
    # numbers out of range or not finite: refused by the config, before any work
    "ft-weight-decay-nan": ([*FT, "--train", "{W}/set.jsonl", "weight_decay=nan"], "weight_decay"),
    "ft-weight-decay-negative": (
        [*FT, "--train", "{W}/set.jsonl", "weight_decay=-5"],
        "weight_decay",
    ),
    "ft-grad-norm-nan": ([*FT, "--train", "{W}/set.jsonl", "max_grad_norm=nan"], "max_grad_norm"),
    "ft-lora-r-zero": ([*FT, "--train", "{W}/set.jsonl", "lora.r=0"], "lora.r"),
    "ft-lora-dropout-two": ([*FT, "--train", "{W}/set.jsonl", "lora.dropout=2"], "lora.dropout"),
    "ft-shard-size-zero": (
        [*FT, "--train", "{W}/set.jsonl", "max_shard_size=0B"],
        "max_shard_size",
    ),
    "ft-seed-negative": ([*FT, "--train", "{W}/set.jsonl", "--seed", "-1"], "seed"),
    "world-lr-inf": (["world", "build", "--out", "{W}/o", "lr=inf"], "lr"),
    "world-epochs-inf": (["world", "build", "--out", "{W}/o", "epochs=inf"], "epochs"),
    "calibrate-lrs-inf": (
        ["calibrate", "--model", M, "--data", D, "--out", "{W}/o", "lrs=[.inf]"],
        "lrs",
    ),
    "data-limit-zero": (["data", D, "limit=0"], "limit"),
    "data-limit-negative": (["data", D, "limit=-1"], "limit"),
    "data-n-templates-zero": (["data", D, "n_templates=0"], "n_templates"),
    "data-empty-file": (["data", "jsonl:{W}/empty.jsonl"], "empty.jsonl"),
}


def test_enough_cases() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case: str, ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv_t, culprit = CASES[case]
    argv = ["-q", *(a.replace("{W}", str(ws)) for a in argv_t)]
    before = snapshot(ws)
    code, err = run_cli(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip() and "%|" not in ln]  # not bars
    assert code == 2, (case, err)
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("sftlens: error:"), err
    assert culprit.replace("{W}", str(ws)) in lines[0], lines[0]
    assert snapshot(ws) == before, f"{case} changed the workspace"


def test_failed_runs_leave_nothing_that_blocks_the_retry(
    ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed evaluate / probe is retried with the right model, same --out, no --force."""
    sub = {"{W}": str(ws)}
    evaluate = [a.replace("{W}", sub["{W}"]) for a in EVAL[:-1]] + [str(tmp_path / "E")]
    assert run_cli(["-q", *evaluate, "--model", "no/such"], capsys)[0] == 2
    assert not (tmp_path / "E").exists()
    assert run_cli(["-q", *evaluate, "--model", str(ws / "model")], capsys)[0] == 0
    assert (tmp_path / "E" / "manifest.json").is_file()
    probe = [a.replace("{W}", sub["{W}"]) for a in PROBE[:-4]]
    probe += ["--out", str(tmp_path / "P"), "--device", "cpu", "samples=1", "templates=1"]
    assert run_cli(["-q", *probe, "--model", str(ws / "garbage_model")], capsys)[0] == 2
    code, err = run_cli(["-q", *probe, "--model", str(ws / "model")], capsys)
    assert code == 0, err
    assert (tmp_path / "P" / "mastery.parquet").is_file()


SUBPROCESS_CASES = ["restore-tuned-truncated"]  # a subprocess costs ~15 s here


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_real_cli_prints_exactly_one_line(case: str, ws: Path) -> None:
    """The console script itself (progress bars and library logs off under -q)."""
    import os
    import subprocess
    import sys

    argv_t, culprit = CASES[case]
    argv = [a.replace("{W}", str(ws)) for a in argv_t]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("TQDM_DISABLE", None)  # the CLI turns bars off itself
    proc = subprocess.run(
        [sys.executable, "-m", "sftlens", "-q", *argv], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sftlens: error:"), proc.stderr
    assert culprit in lines[0]


def test_full_disk_during_restore_says_so(
    ws: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ENOSPC in the background shard writer is reported as such, not as a later error."""
    import errno

    from sftlens.restoration.io import ShardedWriter

    real_write = ShardedWriter.write
    calls = []

    def write(self: ShardedWriter, name: str, tensor: object) -> None:
        calls.append(name)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.out))
        real_write(self, name, tensor)  # type: ignore[arg-type]

    monkeypatch.setattr(ShardedWriter, "write", write)
    before = snapshot(ws)
    argv = ["-q", "restore", "--base", str(ws / "model"), "--tuned", str(ws / "model")]
    code, err = run_cli([*argv, "--out", str(ws / "o"), "--k", "5"], capsys)
    assert code == 2 and "no space left on device" in err and "writer expected" not in err
    assert snapshot(ws) == before


def test_debug_shows_the_traceback(ws: Path) -> None:
    from sftlens.errors import ConfigError

    with pytest.raises(ConfigError, match="lr"):
        main(["--debug", "-q", *(a.replace("{W}", str(ws)) for a in FT), "lr=1e30"])
