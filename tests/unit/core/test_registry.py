from __future__ import annotations

import pytest

from sftlens.errors import SftlensError
from sftlens.registry import Registry


def test_registry_did_you_mean():
    reg: Registry[int] = Registry("strategy")
    reg.add("top", 1)
    reg.add("bottom", 2)
    assert reg.get("top") == 1 and reg.names() == ["bottom", "top"]
    with pytest.raises(SftlensError, match="did you mean 'top'"):
        reg.get("tpo")
    with pytest.raises(ValueError):
        reg.add("top", 3)
