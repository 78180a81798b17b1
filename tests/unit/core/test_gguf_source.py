"""GGUF files as model sources: header checks, the content-hash cache, and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("gguf")

from sftlens.cli import main
from sftlens.errors import SftlensError
from sftlens.gguf_source import cache, find_gguf, gguf_checkpoint, read_header
from sftlens.models import resolve_checkpoint
from support.gguf_files import write_tiny_gguf


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SFTLENS_CACHE", str(root))
    return root


@pytest.fixture
def tiny(tmp_path) -> Path:
    (tmp_path / "src").mkdir()
    return write_tiny_gguf(tmp_path / "src" / "tiny.gguf")


def _fake_dequantize(path: Path, out: Path, add_bos: bool = False) -> None:
    (out / "config.json").write_text(json.dumps({"model_type": "llama", "from": path.name}))


def _entries(root: Path) -> list[str]:
    """What the cache holds besides remembered hashes and build locks."""
    gguf_root = root / "gguf"
    return (
        sorted(p.name for p in gguf_root.iterdir() if p.name != "hashes" and p.suffix != ".lock")
        if gguf_root.exists()
        else []
    )


def test_header_of_a_valid_file(tiny) -> None:
    head = read_header(tiny)
    assert (head.architecture, head.n_tensors, head.n_elements) == ("foo", 1, 32)
    assert head.data_end == tiny.stat().st_size


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda raw: raw[: len(raw) - 40], "is truncated: its tensors need"),
        (lambda raw: raw[:30], "is truncated (its header ends"),
        (lambda raw: os.urandom(500), "no GGUF magic"),
        (lambda raw: b"", "is empty"),
    ],
)
def test_broken_files_are_named_and_leave_nothing_in_the_cache(
    tiny, tmp_path, cache_dir, make, says, capsys
) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(make(tiny.read_bytes()))
    assert (
        main(["-q", "diff-stats", "--base", str(bad), "--tuned", "x", "--out", str(tmp_path / "o")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err and says in err
    assert _entries(cache_dir) == [] and not (tmp_path / "o").exists()


def test_a_missing_gguf_is_named(tmp_path, capsys) -> None:
    gone = tmp_path / "nope.gguf"
    assert (
        main(["-q", "restore", "--base", str(gone), "--tuned", "x", "--out", str(tmp_path / "o")])
        == 2
    )
    assert capsys.readouterr().err.strip() == f"sftlens: error: GGUF file {gone} not found"


def test_an_architecture_transformers_cannot_read(tiny, cache_dir, capsys, tmp_path) -> None:
    """The directory holding only that .gguf resolves to it (no tokenizer backend message)."""
    assert main(["-q", "convert", str(tiny.parent), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"cannot read GGUF file {tiny}" in err and "architecture foo is not supported" in err
    assert _entries(cache_dir) == [] and not (tmp_path / "o").exists()


def test_a_dir_with_two_ggufs_is_refused(tiny) -> None:
    write_tiny_gguf(tiny.parent / "other.gguf")
    with pytest.raises(SftlensError, match="holds 2 .gguf files"):
        find_gguf(tiny.parent)


def test_a_checkpoint_dir_is_no_gguf_source(tiny) -> None:
    (tiny.parent / "config.json").write_text("{}")
    assert find_gguf(tiny.parent) is None and find_gguf("meta-llama/Llama-3") is None


def test_dequantized_once_then_served_from_the_cache(tiny, cache_dir, monkeypatch) -> None:
    monkeypatch.setattr(cache, "_dequantize_into", _fake_dequantize)
    first = resolve_checkpoint(tiny)
    assert first.parent == cache_dir / "gguf" and len(first.name) == 64
    record = json.loads((first / cache.MARKER).read_text())
    assert record["dtype"] == "float32" and record["gguf"] == str(tiny)

    def refuse(*_: object) -> None:
        raise AssertionError("a warm start must neither parse nor dequantize again")

    monkeypatch.setattr(cache, "read_header", refuse)
    monkeypatch.setattr(cache, "_dequantize_into", refuse)
    assert resolve_checkpoint(str(tiny)) == first


def test_workers_started_together_dequantize_once(tiny, cache_dir, monkeypatch) -> None:
    calls = []

    def slow(path: Path, out: Path, add_bos: bool = False) -> None:
        calls.append(path)
        time.sleep(0.3)  # the others arrive while this one builds
        _fake_dequantize(path, out, add_bos)

    monkeypatch.setattr(cache, "_dequantize_into", slow)
    with ThreadPoolExecutor(3) as pool:
        dirs = list(pool.map(lambda _: resolve_checkpoint(tiny), range(3)))
    assert len(calls) == 1 and len(set(dirs)) == 1
    assert (dirs[0] / cache.MARKER).is_file()


def test_wrong_checksum_from_a_sidecar_or_the_flag(
    tiny, cache_dir, monkeypatch, tmp_path, capsys
) -> None:
    monkeypatch.setattr(cache, "_dequantize_into", _fake_dequantize)
    with pytest.raises(SftlensError, match="does not match the expected"):
        gguf_checkpoint(tiny, expected="0" * 64)
    tiny.with_name(tiny.name + ".sha256").write_text("ab" * 32 + "  tiny.gguf\n")
    assert main(["-q", "convert", str(tiny), "--out", str(tmp_path / "o")]) == 2
    assert "sha256" in capsys.readouterr().err and _entries(cache_dir) == []


def test_a_failed_conversion_leaves_no_half_checkpoint(tiny, cache_dir, monkeypatch) -> None:
    def half(path: Path, out: Path, add_bos: bool = False) -> None:
        (out / "model.safetensors").write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "_dequantize_into", half)
    with pytest.raises(SftlensError, match=r"no space left .* \(nothing was kept\)"):
        gguf_checkpoint(tiny)
    assert _entries(cache_dir) == []


def test_a_full_cache_is_refused_before_work(tiny, cache_dir, monkeypatch) -> None:
    monkeypatch.setattr(cache.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(1, 1, 10))
    with pytest.raises(SftlensError, match="GB free; the dequantized checkpoint needs"):
        gguf_checkpoint(tiny)


def test_an_unwritable_cache_is_named(tiny, tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("SFTLENS_CACHE", str(blocker / "sub"))
    with pytest.raises(SftlensError, match=f"GGUF cache dir {blocker}/sub/gguf is not writable"):
        gguf_checkpoint(tiny)


def test_without_the_gguf_package_the_error_says_what_to_install(tiny, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(SftlensError, match=r"pip install 'sftlens\[gguf\]'"):
        gguf_checkpoint(tiny)


def test_convert_never_writes_over_the_folder_of_its_input(tiny, capsys) -> None:
    before = sorted(p.name for p in tiny.parent.iterdir())
    assert main(["-q", "convert", str(tiny), "--out", str(tiny.parent), "--force"]) == 2
    assert "contains the input" in capsys.readouterr().err
    assert sorted(p.name for p in tiny.parent.iterdir()) == before


def test_a_tokenizer_read_without_its_bos_rule_gets_it_back(tmp_path) -> None:
    from transformers import AutoTokenizer

    from support.arch_models import tiny_tokenizer

    tok = tiny_tokenizer()
    tok.backend_tokenizer.post_processor = None  # as some transformers versions read a GGUF
    assert tok("Alice").input_ids[0] != tok.bos_token_id
    cache.ensure_bos(tok)
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("Alice").input_ids[0] == again.bos_token_id
    assert again("Alice").input_ids[1:] == tok("Alice", add_special_tokens=False).input_ids
    cache.ensure_bos(again)  # already there: unchanged
    assert again("Alice").input_ids.count(again.bos_token_id) == 1


def test_the_header_says_whether_prompts_start_with_bos(tiny) -> None:
    assert read_header(tiny).add_bos is False  # the tiny file declares no BOS rule
    from support.gguf_files import gemma_gguf_path

    found = gemma_gguf_path()
    if found is not None:
        assert read_header(found[0]).add_bos is True


def _fast_tokenizer(model, pre=None):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(model)
    raw.pre_tokenizer = pre
    return PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="?")


def test_a_tokenizer_read_as_single_characters_is_refused(tmp_path) -> None:
    from tokenizers import models, pre_tokenizers

    letters = [*sorted(set(cache.SUBWORD_PROBE)), "?"]
    chars = _fast_tokenizer(models.BPE({c: i for i, c in enumerate(letters)}, [], unk_token="?"))
    with pytest.raises(SftlensError, match=r"x\.gguf: transformers .* single characters"):
        cache.check_subwords(chars, tmp_path / "x.gguf")
    words = [*sorted(set(cache.SUBWORD_PROBE.split())), "?"]
    vocab = {w: i for i, w in enumerate(words)}
    whole = _fast_tokenizer(
        models.WordLevel(vocab, unk_token="?"), pre_tokenizers.WhitespaceSplit()
    )
    cache.check_subwords(whole, tmp_path / "x.gguf")  # one token per word: accepted


def test_convert_can_take_the_tokenizer_of_another_dir(
    tiny, cache_dir, monkeypatch, tmp_path
) -> None:
    seen = {}

    def fake(path: Path, out: Path, add_bos: bool = False, tokenizer: Path | None = None) -> None:
        seen["tokenizer"] = tokenizer
        _fake_dequantize(path, out)

    monkeypatch.setattr(cache, "_dequantize_into", fake)
    tok_dir = tmp_path / "tok"
    tok_dir.mkdir()
    out = tmp_path / "o"
    assert main(["-q", "convert", str(tiny), "--out", str(out), "--tokenizer", str(tok_dir)]) == 0
    assert seen["tokenizer"] == tok_dir and (out / "config.json").is_file()
    assert _entries(cache_dir) == []  # the cache keeps the file's own tokenizer only
    missing = ["-q", "convert", str(tiny), "--out", str(tmp_path / "p"), "--tokenizer", "nodir"]
    assert main(missing) == 2 and not (tmp_path / "p").exists()
