"""LoRA adapters through PEFT: target resolution (PEFT's own matching) and wrapping.

Example::

    targets = lora_targets(model, None)      # the architecture's attention linears
    lm = add_lora(model, LoraSettings(enabled=True, target_modules="all-linear"))
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from sftlens.errors import ConfigError
from sftlens.finetuning.config import LoraSettings


def lora_targets(model: nn.Module, targets: Sequence[str] | str | None) -> list[str] | str:
    """The LoRA targets, checked: ``all-linear``, or names/suffixes of Linear or Conv1D modules.

    ``None`` gives the architecture's default: its attention block's linear modules.
    """
    from sftlens.architecture import layout_of_model

    if targets == "all-linear":
        return "all-linear"
    linear = [
        name
        for name, mod in model.named_modules()
        if isinstance(mod, nn.Linear) or type(mod).__name__ == "Conv1D"
    ]
    if targets is None:
        found = layout_of_model(model).linear_modules("attention")
        if not found:
            raise ConfigError(
                "the model's attention blocks have no linear modules; set lora.target_modules"
            )
        return found
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in linear)]
    if missing:
        suffixes = sorted({name.rsplit(".", 1)[-1] for name in linear})
        raise ConfigError(
            f"LoRA target modules not in the model: {', '.join(missing)}; "
            f"its linear modules are: {', '.join(suffixes)} (or use all-linear)"
        )
    return list(targets)


def add_lora(model: nn.Module, lora: LoraSettings) -> nn.Module:
    """Wrap ``model`` with PEFT LoRA adapters (only adapter weights train)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora_targets(model, lora.target_modules),
        fan_in_fan_out=any(type(m).__name__ == "Conv1D" for m in model.modules()),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)  # type: ignore[arg-type]
