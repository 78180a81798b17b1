"""The CLI's error boundary maps known failure families to one line."""

from __future__ import annotations

import errno

import pytest

from sftlens.cli_errors import explain
from sftlens.errors import DataError


def test_sftlens_error_is_one_line():
    assert explain(DataError("a.jsonl:3: bad\nmore")) == "a.jsonl:3: bad; more"


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "no space left on device"),
        (errno.EROFS, "read-only file system"),
        (errno.ENOTDIR, "not a directory"),
        (errno.EACCES, "permission denied"),
    ],
)
def test_os_errors_name_the_file(code, words):
    line = explain(OSError(code, "x", "/some/file"))
    assert line == f"/some/file: {words}" or (words in line and "/some/file" in line)


def test_full_disk_wins_over_a_later_error():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/out/model.safetensors")
        except OSError:
            raise RuntimeError("writer expected a, got b")  # noqa: B904
    except RuntimeError as err:
        assert explain(err) == "/out/model.safetensors: no space left on device"


def test_decode_and_library_errors():
    err = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    assert "not valid UTF-8" in explain(err)
    import pyarrow as pa

    assert "Parquet" in explain(pa.ArrowInvalid("Parquet magic bytes not found"))
    from safetensors import SafetensorError

    assert "safetensors" in explain(SafetensorError("HeaderTooLarge"))


def test_an_operation_without_a_deterministic_kernel_is_one_line():
    import torch

    from sftlens.determinism import deterministic_kernels

    target = torch.zeros(4)
    with pytest.raises(RuntimeError) as raised, deterministic_kernels():
        target.put_(torch.tensor([0, 0]), torch.tensor([1.0, 2.0]), accumulate=False)
    assert explain(raised.value) == (
        "deterministic=true: put_ has no deterministic kernel on this device; "
        "run without deterministic=true"
    )


def test_bugs_keep_their_traceback():
    assert explain(KeyError("x")) is None
    assert explain(ZeroDivisionError()) is None


def test_background_writer_keeps_the_first_error():
    from sftlens.restoration.restore import _Background

    def fail(msg: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", msg)

    def later(msg: str) -> None:
        raise RuntimeError(msg)

    with pytest.raises(OSError, match="No space"), _Background(depth=1) as bg:
        bg.run(fail, "first")
        bg.run(later, "second")


def test_an_os_error_without_a_path_gets_the_written_path(tmp_path, monkeypatch):
    """the atomic writers record their target; the boundary names it."""
    from sftlens.runstore import atomic_path, atomic_write_bytes

    target = tmp_path / "out" / "weights.bin"
    with pytest.raises(OSError) as caught, atomic_path(target):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert explain(caught.value) == f"{target}: no space left on device"

    class SafetensorError(Exception):  # what safetensors raises on a full disk
        pass

    with pytest.raises(SafetensorError) as caught2, atomic_path(target):
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No '
            'space left on device" })'
        )
    assert explain(caught2.value) == f"{target}: no space left on device"

    def busy(*_a, **_k):
        raise OSError(errno.EBUSY, "Device or resource busy")

    monkeypatch.setattr("sftlens.atomic.os.replace", busy)
    with pytest.raises(OSError) as caught3:
        atomic_write_bytes(tmp_path / "m.json", b"{}")
    monkeypatch.undo()
    assert explain(caught3.value) == f"{tmp_path / 'm.json'}: device or resource busy"


def test_a_path_already_named_is_kept():
    err = OSError(errno.EACCES, "Permission denied", "/a/b")
    assert explain(err) == "/a/b: permission denied"
    assert explain(OSError(errno.ENOSPC, "x")) == "no space left on device"
