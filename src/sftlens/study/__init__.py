"""The resumable study: the paper's grid as a graph of units, and ``sftlens demo``.

Example::

    sftlens study configs/demo-tiny.yaml --out runs/demo
"""

from sftlens.study.config import DemoConfig, StudyConfig

__all__ = ["DemoConfig", "StudyConfig"]
