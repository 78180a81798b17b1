"""Every stage on tiny random decoders of ten architectures, in-process through the stages' ``run``.

probe → fine-tune (full; LoRA kept as an adapter) → evaluate → token KL → diff-stats →
restore, on the user's own facts (a relations file, an alias file, ``limit``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from support.custom_facts import write_custom_facts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from support.arch_models import ARCHS, build_tiny_arch

pytestmark = pytest.mark.slow


def _sft_set(facts: Path, out: Path) -> Path:
    rows = [json.loads(line) for line in facts.read_text().splitlines()]
    keep = [r for r in rows if r["split"] == "train" and r["domain"] == "in"][:8]
    out.write_text(
        "".join(
            json.dumps({"question": r["question"], "answer": r["answers"][0]}) + "\n" for r in keep
        )
    )
    return out


@pytest.mark.parametrize("arch", ARCHS)
def test_every_stage_runs(arch: str, tmp_path: Path) -> None:
    from sftlens.analysis.config import TokenKLConfig
    from sftlens.analysis.stage import run as token_kl
    from sftlens.evaluation.config import EvaluateConfig
    from sftlens.evaluation.stage import run as evaluate
    from sftlens.finetuning.config import FinetuneConfig
    from sftlens.finetuning.stage import run as finetune
    from sftlens.probing.config import ProbeConfig
    from sftlens.probing.stage import run as probe
    from sftlens.restoration.config import DiffStatsConfig, RestoreConfig
    from sftlens.restoration.stage import run_restore
    from sftlens.restoration.stats_stage import run_diff_stats

    files = write_custom_facts(tmp_path / "data")
    base = str(build_tiny_arch(arch, tmp_path / "base"))
    data = {"data": f"jsonl:{files.data}", "relations": str(files.relations),
            "aliases": [str(files.aliases)], "limit": 3, "device": "cpu", "dtype": "float32"}  # fmt: skip
    res = probe(ProbeConfig(model=base, greedy=True, max_new_tokens=3, **data), tmp_path / "probe")
    assert res.n_facts == 12  # 3 per relation and split
    mastery = str(tmp_path / "probe" / "mastery.parquet")
    train = str(_sft_set(files.data, tmp_path / "set.jsonl"))
    tune = {"model": base, "train": train, "device": "cpu", "batch_size": 4, "lr": 1e-3}
    tuned = finetune(FinetuneConfig(**tune), tmp_path / "ft").model_dir
    lora = {"enabled": True, "merge": False}
    adapter = finetune(FinetuneConfig(**tune, lora=lora), tmp_path / "lora").model_dir
    assert adapter is not None and tuned is not None
    base_path = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert Path(base_path).is_absolute() and Path(base_path) == Path(base).resolve()
    from peft import AutoPeftModelForCausalLM

    assert AutoPeftModelForCausalLM.from_pretrained(str(adapter)).peft_config["default"].r == 16
    ev = evaluate(
        EvaluateConfig(model=str(tuned), mastery=mastery, max_new_tokens=3, **data),
        tmp_path / "eval",
    )
    assert len(ev.predictions) == 6  # the test facts the probe saw
    kl = token_kl(
        TokenKLConfig(base=base, tuned=str(tuned), mastery=mastery, levels=[0, 1, 2, 3, 4], **data),
        tmp_path / "kl",
    )
    assert len(kl.kl.per_fact) == 6
    engine = {"base": base, "tuned": str(tuned), "device": "cpu"}
    stats = run_diff_stats(DiffStatsConfig(**engine), tmp_path / "diff")
    assert "elements in 'transformer'" in stats.text
    restored = run_restore(RestoreConfig(**engine, k=10), tmp_path / "restored")
    assert restored.count > 0 and (tmp_path / "restored" / "config.json").is_file()
