"""Nothing lost: ``--out`` never touches an input, and a failed run leaves no ``--out`` behind.

Every stage that writes is run through the CLI with an ``--out`` that equals, lies inside
or contains one of its inputs (model, tuned/base checkpoints, data file, world, mastery
table, SFT set, config file), with and without ``--force``: each must exit 2 with one line
naming the overlapping input, and the workspace must be byte-identical afterwards.  Then the
checks that must run before ``--out`` is created (device, model, world, preset) and the
cleanup of a failed first run (full disk) are exercised.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from sftlens.tableio import write_table

from .conftest import fact_rows, mastery_rows, run_cli, snapshot

pytestmark = pytest.mark.slow


def build_world_dir(world: Path, model: Path) -> None:
    rows = [
        {**r, "object": r["answers"][0], "aliases": [], "exposure": 1, "domain": "in"}
        | ({"split": "dev"} if i in (0, 2) else {})  # calibration reads dev facts
        for i, r in enumerate(fact_rows())
    ]
    write_table(world / "world" / "facts.jsonl", [{**r, "role": "pool"} for r in rows])
    (world / "world" / "relations.yaml").write_text(
        "relations:\n  P19:\n    name: place of birth\n    domain: in\n"
        "    question: Where was {subject} born?\n    statements: ['{subject} was born in']\n"
    )
    shutil.copytree(model, world / "model")


@pytest.fixture(scope="module")
def root(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each input in a directory of its own, so "contains" names exactly one input."""
    r = tmp_path_factory.mktemp("out_guard")
    shutil.copytree(tiny_llama_dir, r / "ckpt" / "model")
    write_table(r / "data" / "facts.jsonl", fact_rows())
    write_table(r / "probe" / "mastery.parquet", mastery_rows())
    write_table(r / "sets" / "set.jsonl", [{"question": "Where was Alice born?", "answer": "X"}])
    build_world_dir(r / "w", tiny_llama_dir)
    (r / "cfg").mkdir()
    grid = "grid: {levels: ['0'], sizes: [2], seeds: [0]}\n"
    (r / "cfg" / "study.yaml").write_text(f"name: x\nworld: {r / 'w'}\n{grid}")
    (r / "cfg" / "world.yaml").write_text("preset: micro\n")
    (r / "link").symlink_to(r / "ckpt" / "model")
    return r


M, D, P, W = "{R}/ckpt/model", "jsonl:{R}/data/facts.jsonl", "{R}/probe/mastery.parquet", "{R}/w"
PAIR = ["--base", M, "--tuned", M]

# name: (argv, the input the error must name)
OVERLAPS: dict[str, tuple[list[str], str]] = {
    "probe-contains-data": (["probe", "--model", M, "--data", D, "--out", "{R}/data"], D[6:]),
    "select-contains-mastery": (
        ["select", "--mastery", P, "--data", D, "--out", "{R}/probe"],
        P,
    ),
    "finetune-contains-set": (
        ["finetune", "--model", M, "--train", "{R}/sets/set.jsonl", "--out", "{R}/sets"],
        "{R}/sets/set.jsonl",
    ),
    "finetune-equals-model": (
        ["finetune", "--model", M, "--train", "{R}/sets/set.jsonl", "--out", M],
        M,
    ),
    "calibrate-inside-world": (
        ["calibrate", "--model", M, "--data", f"world:{W}", "--mastery", P, "--out", W + "/world"],
        W,
    ),
    "evaluate-equals-model": (
        ["evaluate", "--model", M, "--data", f"world:{W}", "--mastery", P, "--out", M],
        M,
    ),
    "evaluate-symlink-to-model": (
        ["evaluate", "--model", M, "--data", D, "--mastery", P, "--out", "{R}/link"],
        M,
    ),
    "token-kl-inside-model": (
        ["token-kl", *PAIR, "--data", D, "--mastery", P, "--out", M + "/sub"],
        M,
    ),
    "restore-contains-model": (["restore", *PAIR, "--k", "5", "--out", "{R}/ckpt"], M),
    "restore-sweep-equals-model": (["restore-sweep", *PAIR, "--out", M], M),
    "diff-stats-inside-model": (["diff-stats", *PAIR, "--out", M + "/x"], M),
    "sparsify-contains-model": (["sparsify", *PAIR, "--out", "{R}/ckpt"], M),
    "study-equals-world": (["study", "{R}/cfg/study.yaml", "--out", W], W),
    "study-inside-world-model": (["study", "{R}/cfg/study.yaml", "--out", W + "/model/s"], W),
    "demo-inside-world": (["demo", "--out", W + "/world/d", f"world={W}"], W),
    "world-build-contains-config": (
        ["world", "build", "--config", "{R}/cfg/world.yaml", "--out", "{R}/cfg"],
        "{R}/cfg/world.yaml",
    ),
}


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize("case", sorted(OVERLAPS))
def test_out_overlapping_an_input_is_refused(
    case: str, force: bool, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv_t, culprit = OVERLAPS[case]
    argv = ["-q", *(a.replace("{R}", str(root)) for a in argv_t)] + (["--force"] if force else [])
    before = snapshot(root)
    code, err = run_cli(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (case, err)
    assert len(lines) == 1 and lines[0].startswith("sftlens: error: --out"), err
    assert culprit.replace("{R}", str(root)) in lines[0], lines[0]
    assert any(w in lines[0] for w in ("same path as", "inside input", "contains input"))
    assert snapshot(root) == before, f"{case} changed an input"


def test_the_issue_example_keeps_the_model(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``evaluate --out C/model --force`` used to exit 0 and delete the model."""
    model = root / "ckpt" / "model"
    weights = (model / "model.safetensors").read_bytes()
    argv = ["-q", "evaluate", "--model", str(model), "--data", f"world:{root / 'w'}"]
    argv += ["--mastery", str(root / "probe" / "mastery.parquet"), "--out", str(model), "--force"]
    code, err = run_cli(argv, capsys)
    assert code == 2 and f"is the same path as input {model}" in err
    assert (model / "model.safetensors").read_bytes() == weights


def broken_world(root: Path) -> Path:
    bad = root.parent / f"{root.name}-badw"
    if not bad.exists():
        shutil.copytree(root / "w", bad)
        (bad / "model" / "model.safetensors").write_bytes(b"\x00\x01garbage" * 50)
    return bad


STUDY = ["study", "{R}/cfg/study.yaml"]
EARLY: dict[str, tuple[list[str], str]] = {
    "calibrate-cuda": (
        ["calibrate", "--model", M, "--data", f"world:{W}", "--mastery", P, "--device", "cuda"],
        "cuda",
    ),
    "study-cuda7": ([*STUDY, "device=cuda:7"], "cuda:7"),
    "workers-gpu0": ([*STUDY, "device=gpu0", "--workers", "2"], "gpu0"),
    "workers-bad-model": ([*STUDY, "world={BAD}", "--workers", "2"], "model.safetensors"),
    "study-bad-model": ([*STUDY, "world={BAD}"], "model.safetensors"),
    "demo-bad-world": (["demo", "world={R}/nope"], "nope"),
    "demo-bad-preset": (["demo", "preset=galaxy"], "galaxy"),
}


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("case", sorted(EARLY))
def test_failing_checks_run_before_out_is_created(
    case: str, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv_t, culprit = EARLY[case]
    bad = broken_world(root)
    out = tmp_path / "o"
    subs = {"{R}": str(root), "{BAD}": str(bad)}
    argv = ["-q"]
    for a in [*argv_t, "--out", str(out)]:
        for k, v in subs.items():
            a = a.replace(k, v)
        argv.append(a)
    code, err = run_cli(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and "Traceback" not in err, err
    assert len(lines) == 1 and culprit in lines[0], err
    assert not out.exists(), f"{argv_t[0]} created --out before failing"


def test_a_full_disk_names_the_path_and_leaves_no_out(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ENOSPC without a file name (as pyarrow and safetensors raise it) names the table written."""
    import pyarrow.parquet as pq

    def full(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    for stage, argv in {
        "probe": [
            *("probe", "--model", str(root / "ckpt" / "model"), "--device", "cpu"),
            *("--data", f"jsonl:{root / 'data' / 'facts.jsonl'}", "samples=1"),
        ],
        "study": ["study", str(root / "cfg" / "study.yaml"), "device=cpu"],
    }.items():
        out = tmp_path / stage
        code, err = run_cli(["-q", *argv, "--out", str(out)], capsys)
        assert code == 2, err
        assert f"{out}/" in err and ".parquet: no space left on device" in err, err
        assert not out.exists(), f"{stage} left an --out behind"


def test_out_empty_string_is_one_line(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-q", "restore", *(a.replace("{R}", str(root)) for a in PAIR), "--k", "5"]
    code, err = run_cli([*argv, "--out", "", "--force"], capsys)
    assert code == 2 and err.strip() == "sftlens: error: --out is empty; give --out DIR"


def test_config_reads_shipped_names_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "x.yaml"
    secret.write_text("secret: 1\n")
    rel = Path("..", *[".."] * 8, *secret.with_suffix("").parts[1:])
    code, err = run_cli(["config", str(rel)], capsys)
    assert code == 2 and "no shipped config" in err and "demo-tiny" in err
    assert "secret" not in err
    code = run_cli(["config", str(secret)], capsys)[0]  # a path given as a path is read
    assert code == 0
