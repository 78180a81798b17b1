"""What the bench scripts share: random-weight Llama models of real shapes, a word-level
tokenizer, device syncs and timing, the matmul roofline, and GPU-utilisation sampling.

No weights can be downloaded on our machines, so benchmarks build Llama-3.2-1B / Llama-3-8B
shaped models from a ``LlamaConfig`` (bf16 on CUDA, fp32 on CPU).  The scripts run as
``python bench/<name>.py``, so this folder is on ``sys.path`` and ``import common`` works.

Example::

    tok = word_tokenizer(SHAPES["8b"]["vocab_size"], extra_words=["Where", "was", "born"])
    model = random_model("8b", "cuda", tok, never_eos=True)
    out, seconds = timed("cuda", lambda: model(ids))
    with GpuMonitor("cuda") as mon:
        ...
    print(mon.mean, matmul_tflops("cuda"))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

SHAPES: dict[str, dict[str, Any]] = {
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "vocab_size": 4096},
    "1b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
           "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": True, "rope_theta": 500000.0},
    "8b": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
           "num_key_value_heads": 8, "vocab_size": 128256, "rope_theta": 500000.0},
    # Gemma 3 270M's dimensions as a Llama (its 262k vocabulary: the output head and the
    # sampler dominate a decode step)
    "gemma270m": {"hidden_size": 640, "intermediate_size": 2048, "num_hidden_layers": 18,
                  "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
                  "vocab_size": 262144, "tie_word_embeddings": True},
    # the `gpu` knowledge world's model (97.5M parameters, untied head)
    "gpu-world": {"hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 12,
                  "num_attention_heads": 12, "num_key_value_heads": 12, "vocab_size": 8192,
                  "tie_word_embeddings": False},
}  # fmt: skip


def word_tokenizer(vocab_size: int, extra_words: Sequence[str] = ()) -> Any:
    """A word-level tokenizer covering ``vocab_size`` ids (no downloads; no newline token)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    names = ["<unk>", "<s>", "</s>", "<|question|>", "<|answer|>"]
    names += sorted(set(extra_words) - set(names))
    names += [f"w{i}" for i in range(vocab_size - len(names))]
    tok = Tokenizer(models.WordLevel({n: i for i, n in enumerate(names)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.pad_token = fast.eos_token
    fast.padding_side = "left"
    return fast


def random_model(
    shape: str | dict[str, Any],
    device: str,
    tok: Any,
    never_eos: bool = False,
    *,
    max_positions: int = 8192,
    attn: str | None = None,
    seed: int | None = None,
    dtype: torch.dtype | None = None,
) -> Any:
    """A random-weight Llama of ``shape`` (a :data:`SHAPES` name or its dict) built directly on
    ``device`` in ``dtype`` (default: bf16 on CUDA, fp32 elsewhere).

    ``never_eos`` zeroes the EOS row of the output head so every completion runs to its
    fixed length (random weights otherwise stop at arbitrary points); ``attn`` is the
    attention implementation, ``seed`` the init seed (torch's global stream when None).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    dims = dict(SHAPES[shape] if isinstance(shape, str) else shape)
    dims["vocab_size"] = dims.get("vocab_size") or len(tok)
    cfg = LlamaConfig(**dims, max_position_embeddings=max_positions, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)  # fmt: skip
    if attn is not None:
        cfg._attn_implementation = attn
    if seed is not None:
        torch.manual_seed(seed)
    old = torch.get_default_dtype()
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(cfg)
    finally:
        torch.set_default_dtype(old)
    if never_eos:
        with torch.no_grad():
            model.get_output_embeddings().weight[tok.eos_token_id].zero_()
    return model.eval()


# ----------------------------------------------------------------------------- timing
#: ``--fuse-norms off|on|both`` → the ``fuse_norms`` values an engine runs with
FUSE_NORMS_RUNS: dict[str, list[bool]] = {"off": [False], "on": [True], "both": [False, True]}


def sync(device: str | torch.device) -> None:
    """Wait for the device's queued work (a no-op on CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: str | torch.device, fn: Callable[[], Any]) -> tuple[Any, float]:
    """``(fn(), seconds)``, synced before and after."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


def matmul_tflops(
    device: str, n: int | None = None, dtype: torch.dtype | None = None, reps: int | None = None
) -> float:
    """Measured matmul rate of ``reps`` n×n×n products after warm-up (defaults: bf16 8192² ×20
    on GPU, fp32 1024² ×5 on CPU)."""
    gpu = device.startswith("cuda")
    n = n or (8192 if gpu else 1024)
    dtype = dtype or (torch.bfloat16 if gpu else torch.float32)
    reps = reps or (20 if gpu else 5)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def matmul_params(model: Any) -> int:
    """Parameters used in matmuls per token (all but the input embedding table, unless tied)."""
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight
    tied = emb.data_ptr() == model.get_output_embeddings().weight.data_ptr()
    return total if tied else total - emb.numel()


class GpuMonitor:
    """Mean GPU utilisation (nvidia-smi's %) sampled every ``every`` s while active: of the
    current device, or the mean over every visible GPU (``all_gpus``).  Off on CPU."""

    def __init__(self, device: str, every: float = 0.1, all_gpus: bool = False) -> None:
        self.on = device.startswith("cuda")
        self.every, self.all_gpus = every, all_gpus
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuMonitor:
        if self.on:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> float:
        if not self.all_gpus:
            return float(torch.cuda.utilization())
        n = torch.cuda.device_count()
        return sum(torch.cuda.utilization(i) for i in range(n)) / max(n, 1)

    def _poll(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.samples.append(self._sample())
            except Exception:  # no pynvml / NVML: report nothing
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None
