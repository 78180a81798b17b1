"""Test hook: pause inside atomic writes so a test can SIGKILL a process there.

Put this folder on ``PYTHONPATH`` and set ``SFTLENS_TEST_PAUSE_WRITES=DIR``: every Python
process started so (study workers included) wraps :func:`sftlens.atomic.swap_into_place`,
the one rename step of every atomic write.  Before renaming a target named
``SFTLENS_TEST_PAUSE_NAME`` (any name when unset) it creates ``DIR/write-<pid>-<ns>`` holding
the target path and sleeps ``SFTLENS_TEST_PAUSE_SECONDS`` (0.2).  Unset: nothing is wrapped.

Example::

    env = {**os.environ, **pause_env(signals, "mastery.parquet")}
    subprocess.Popen([sys.executable, "-m", "sftlens", "study", ...], env=env)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

PAUSE_ENV = "SFTLENS_TEST_PAUSE_WRITES"
HOOKS_DIR = Path(__file__).resolve().parent


def pause_env(signals: Path, name: str | None = None, seconds: float = 120) -> dict[str, str]:
    """The environment that makes a child process pause in its writes (of ``name``)."""
    path = os.pathsep.join(p for p in (str(HOOKS_DIR), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path, PAUSE_ENV: str(signals), "SFTLENS_TEST_PAUSE_SECONDS": str(seconds)}
    return {**env, "SFTLENS_TEST_PAUSE_NAME": name} if name else env


def pausing(swap: Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
    """``swap`` that first announces the write and sleeps (when the target's name matches)."""

    def swap_after_pause(new: Path, path: Path) -> None:
        where = os.environ.get(PAUSE_ENV)
        if where and os.environ.get("SFTLENS_TEST_PAUSE_NAME", path.name) == path.name:
            signals = Path(where)
            signals.mkdir(parents=True, exist_ok=True)
            (signals / f"write-{os.getpid()}-{time.monotonic_ns()}").write_text(str(path))
            time.sleep(float(os.environ.get("SFTLENS_TEST_PAUSE_SECONDS", "0.2")))
        swap(new, path)

    return swap_after_pause


if os.environ.get(PAUSE_ENV):
    import sftlens.atomic

    sftlens.atomic.swap_into_place = pausing(sftlens.atomic.swap_into_place)  # type: ignore[assignment]
