"""FSDP wiring (model and optimizer prepared together, the gathered plain model), wrap
classes from the model, and the launch / dtype checks that run before the model loads."""

from __future__ import annotations

import contextlib

import pytest
import torch

from sftlens.errors import ConfigError
from sftlens.finetuning import parallel, preflight, trainer
from sftlens.finetuning.config import FinetuneConfig


class FakeFSDPAccelerator:
    """Records ``prepare`` calls; otherwise one process (so results equal a plain run)."""

    num_processes, process_index, is_main_process = 1, 0, True
    device = torch.device("cpu")

    def __init__(self) -> None:
        self.prepared: list[tuple] = []

    def prepare(self, *objs):
        self.prepared.append(objs)
        return objs

    def autocast(self):
        return contextlib.nullcontext()

    def backward(self, loss):
        loss.backward()

    def no_sync(self, module):
        return contextlib.nullcontext()

    def clip_grad_norm_(self, params, max_norm):
        return torch.nn.utils.clip_grad_norm_(params, max_norm)

    def reduce(self, tensor, reduction):
        return tensor

    def get_state_dict(self, module):
        return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_fsdp_prepares_model_and_optimizer_together_and_returns_a_plain_model(
    tiny_llama_dir, examples, monkeypatch
):
    from sftlens.models import load_model, load_tokenizer

    tok = load_tokenizer(tiny_llama_dir, padding_side="right")
    cfg = FinetuneConfig(lr=1e-3, batch_size=4, parallel="fsdp")
    reference = trainer.finetune(
        load_model(tiny_llama_dir, dtype="float32", device="cpu"),
        tok,
        examples,
        cfg.model_copy(update={"parallel": "none"}),
        progress=False,
    ).model
    fake = FakeFSDPAccelerator()
    kinds = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(trainer, "make_accelerator", lambda kind, *a: kinds.append(kind) or fake)
    model = load_model(tiny_llama_dir, dtype="float32", device="cpu")
    tuned = trainer.finetune(model, tok, examples, cfg, progress=False).model
    assert kinds == ["fsdp"]
    [(loss_mod, opt)] = fake.prepared  # one prepare() call with both
    assert isinstance(loss_mod, trainer.SFTLoss) and isinstance(opt, torch.optim.Optimizer)
    assert tuned is not model and type(tuned) is type(model) and not tuned.training
    ref = reference.state_dict()
    for name, value in tuned.state_dict().items():
        torch.testing.assert_close(value, ref[name], rtol=0, atol=1e-6)
    for name, buf in tuned.named_buffers():
        assert buf.device.type == "cpu", name


def test_wrap_classes_come_from_the_model(tiny_llama_dir, monkeypatch):
    from sftlens.models import load_model

    monkeypatch.delenv(parallel.WRAP_ENV, raising=False)
    model = load_model(tiny_llama_dir, dtype="float32", device="cpu")
    assert parallel.wrap_classes(model) == ["LlamaDecoderLayer"]
    monkeypatch.setenv(parallel.WRAP_ENV, "GPT2Block")
    with pytest.raises(
        ConfigError, match="GPT2Block .* not in LlamaForCausalLM.*LlamaDecoderLayer"
    ):
        parallel.wrap_classes(model)
    monkeypatch.delenv(parallel.WRAP_ENV)
    with pytest.raises(ConfigError, match="names no decoder layer class"):
        parallel.wrap_classes(torch.nn.Linear(2, 2))


def test_parallel_kind_follows_the_launcher(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert parallel.parallel_kind("auto") == "single"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    assert parallel.parallel_kind("auto") == "ddp"
    assert parallel.parallel_kind("none") == "single"
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert parallel.parallel_kind("auto") == "fsdp"
    with pytest.raises(ConfigError, match="FSDP one"):
        parallel.parallel_kind("ddp")


def test_more_processes_than_gpus_is_refused(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match="4 processes on this host but 2 GPU") as err:
        preflight.check_launch("cuda")
    assert "\n" not in str(err.value)
    preflight.check_launch("cpu")  # CPU processes need no GPU


def test_bf16_on_a_pre_ampere_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    with pytest.raises(ConfigError, match=r"Tesla V100 \(compute capability 7.0\) has no bfloat16"):
        preflight.check_dtype(torch.bfloat16, "cuda")
    preflight.check_dtype(torch.float16, "cuda")
    preflight.check_dtype(torch.bfloat16, "cpu")


def test_plan_kind_without_a_launcher(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    assert preflight.plan_kind("auto", 1) == "single"
    assert preflight.plan_kind("auto", 8) == "ddp"
    assert preflight.plan_kind("fsdp", 8) == "fsdp"
    assert preflight.plan_kind("none", 8) == "single"


def test_fsdp_plugin_wraps_the_model_layers_and_reduces_in_fp32(tiny_llama_dir, monkeypatch):
    from sftlens.finetuning.precision import resolve_precision
    from sftlens.models import load_model

    monkeypatch.delenv(parallel.WRAP_ENV, raising=False)
    model = load_model(tiny_llama_dir, dtype="bfloat16", device="cpu")
    plugin = parallel.fsdp_plugin(resolve_precision("auto", torch.bfloat16), model)
    assert plugin.fsdp_version == 2
    assert plugin.transformer_cls_names_to_wrap == ["LlamaDecoderLayer"]
    policy = plugin.mixed_precision_policy
    assert (policy.param_dtype, policy.reduce_dtype) == (torch.bfloat16, torch.float32)
    pure = parallel.fsdp_plugin(resolve_precision("pure", torch.bfloat16), model)
    assert pure.mixed_precision_policy is None


@pytest.mark.parametrize("tied", [False, True])
def test_rebuild_model_from_a_gathered_state_dict(tied):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied)  # fmt: skip
    model = LlamaForCausalLM(cfg).eval()
    template = parallel.ModelTemplate.of(model)
    state = {k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    rebuilt = parallel.rebuild_model(template, state, torch.device("cpu")).eval()
    assert type(rebuilt) is LlamaForCausalLM
    assert {p.dtype for p in rebuilt.parameters()} == {torch.bfloat16}
    assert (rebuilt.lm_head.weight is rebuilt.model.embed_tokens.weight) == tied
    ids = torch.tensor([[1, 5, 9, 3]])
    expected = model.to(torch.bfloat16)(ids).logits
    torch.testing.assert_close(rebuilt(ids).logits, expected, rtol=0, atol=0)
