"""``sftlens probe``: probe every fact of a data spec, resumably, and write the mastery table.

Example::

    sftlens probe --model runs/world/model --data world:runs/world --out runs/probe chunk_size=500

Writes ``chunks/chunk-NNNNN.parquet`` (one per ``chunk_size`` facts, atomically), then
``mastery.parquet`` and ``summary.json`` (level counts per split x domain).  Rerunning
the same command after a kill probes only the missing chunks; because sampling is
seeded per (seed, prompt, sample), the result is identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from sftlens.config import dump_config
from sftlens.data import get_matcher, load_dataset
from sftlens.data.records import Fact
from sftlens.errors import DataError, SftlensError
from sftlens.outdir import check_out_dir, discard_if_new, ensure_out_dir, input_paths
from sftlens.probing.config import ProbeConfig
from sftlens.probing.distributed import barrier, process_device, rank_and_size
from sftlens.probing.mastery import SCHEMES
from sftlens.probing.protocols import check_inputs
from sftlens.probing.summary import format_table, summarize
from sftlens.runstore import RunDir, atomic_write_json, content_hash
from sftlens.tableio import read_table, write_table

log = logging.getLogger(__name__)

STATE = "probe-state.json"
UNKEYED = ("batch_size",)  # settings that do not change the output


@dataclass
class ProbeResult:
    """What ``sftlens probe`` did."""

    out: Path
    n_facts: int
    n_chunks: int
    resumed_chunks: int
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)
    alias_table: str = ""

    def summary(self) -> str:
        resumed = f", {self.resumed_chunks} chunks reused" if self.resumed_chunks else ""
        head = (
            f"probed {self.n_facts} facts in {self.seconds:.1f}s ({self.n_chunks} chunks{resumed})"
        )
        if not self.stats:  # a non-zero rank of a data-parallel probe: rank 0 reports
            return f"{head} (worker process)"
        aliases = (
            f"\nanswers matched with alias table: {self.alias_table}" if self.alias_table else ""
        )
        return f"{head}\n{format_table(self.stats)}{aliases}\nwrote {self.out / 'mastery.parquet'}"


def probe_key(cfg: ProbeConfig) -> str:
    """Hash of every setting that decides the output."""
    data = {k: v for k, v in dump_config(cfg).items() if k not in UNKEYED}
    if cfg.domains is None:  # unset (every domain): left out of the key
        data.pop("domains")
    return content_hash({"stage": "probe", "config": data})


def _prepare_out(out: Path, key: str, force: bool, inputs: list[Path]) -> bool:
    """Create ``out``; True when it holds a probe with the same key (resume)."""
    state = out / STATE
    if state.is_file():
        try:
            same = json.loads(state.read_text()).get("key") == key
        except (OSError, ValueError):
            same = False
        if same:
            ensure_out_dir(out, marker=STATE, inputs=inputs)  # removes a killed run's temps
            return True
        started = any((out / "chunks").glob("chunk-*.parquet"))
        if started and not force:  # a probe that failed before its first chunk is not kept
            raise SftlensError(
                f"{out} holds a probe with other settings; pass --force to start over"
            )
    ensure_out_dir(out, force=force, marker=STATE, inputs=inputs)
    shutil.rmtree(out / "chunks", ignore_errors=True)
    atomic_write_json(state, {"key": key})
    return False


def select_facts(cfg: ProbeConfig) -> tuple[list[Fact], Any]:
    """The facts to probe and the whole dataset (for relations and SliCK exemplars)."""
    ds = load_dataset(cfg.data, **cfg.data_options())
    facts = ds.select(split=cfg.splits).facts if cfg.splits else list(ds.facts)
    if cfg.domains:
        facts = [f for f in facts if f.domain in cfg.domains]
    if not facts:
        where = f" in splits {','.join(cfg.splits)}" if cfg.splits else ""
        where += f" in domains {','.join(cfg.domains)}" if cfg.domains else ""
        raise DataError(f"data spec '{cfg.data}' has no facts{where} to probe")
    check_inputs(facts, ds.relations, cfg.templates if cfg.scheme == "paper" else None)
    return facts, ds


def run(cfg: ProbeConfig, out: Path, *, force: bool = False) -> ProbeResult:
    """Probe ``cfg.data`` with ``cfg.model``; write the mastery table and summary to ``out``."""
    start = time.monotonic()
    out = Path(out)
    SCHEMES.get(cfg.scheme)
    get_matcher(cfg.matching)
    inputs = input_paths(cfg)
    check_out_dir(out, force, marker=STATE, inputs=inputs)  # an overlap fails before loading
    facts, ds = select_facts(cfg)
    model, tok = _load(cfg)  # a missing or broken model or device fails before --out is touched
    rank, _ = rank_and_size()
    if rank != 0:
        return _probe(cfg, out, force, (facts, ds), (model, tok), start)
    with discard_if_new(out, setup=(STATE, RunDir.MANIFEST)):  # a failed first run leaves no --out
        return _probe(cfg, out, force, (facts, ds), (model, tok), start)


def _probe(
    cfg: ProbeConfig,
    out: Path,
    force: bool,
    data: tuple[list[Fact], Any],
    loaded: tuple[Any, Any],
    start: float,
) -> ProbeResult:
    """Prepare ``out`` (rank 0), probe this process's share of the missing chunks, merge."""
    facts, ds = data
    rank, world = rank_and_size()
    resuming = False
    if rank == 0:
        resuming = _prepare_out(out, probe_key(cfg), force, input_paths(cfg))
        RunDir.create(out, config=dump_config(cfg), seed=cfg.seed)
    barrier()  # the output dir is ready before any process looks at it
    size = cfg.chunk_size
    chunks = [facts[i : i + size] for i in range(0, len(facts), size)]
    paths = [out / "chunks" / f"chunk-{i:05d}.parquet" for i in range(len(chunks))]
    todo = [i for i, p in enumerate(paths) if not p.is_file()]
    barrier()  # every process has the same to-do list before any chunk is written
    if resuming and len(todo) < len(chunks):
        log.info("resuming: %d of %d chunks already done", len(chunks) - len(todo), len(chunks))
    mine = todo[rank::world]
    if mine:
        _probe_chunks(cfg, ds, loaded, [chunks[i] for i in mine], [paths[i] for i in mine])
    barrier()
    if rank != 0:
        return ProbeResult(out, len(facts), len(chunks), len(chunks) - len(todo), 0.0)
    rows = [row for p in paths for row in read_table(p)]
    write_table(out / "mastery.parquet", rows)
    stats = summarize(rows, cfg.scheme)
    atomic_write_json(out / "summary.json", stats)
    seconds = time.monotonic() - start
    reused = len(chunks) - len(todo)
    return ProbeResult(out, len(rows), len(chunks), reused, seconds, stats, ds.alias_table)


def _load(cfg: ProbeConfig) -> tuple[Any, Any]:
    """The model (HF or vLLM) and tokenizer of ``cfg``."""
    from sftlens.models import load_model, load_tokenizer

    tok = load_tokenizer(cfg.model)
    if cfg.backend == "vllm":
        from sftlens.generation.vllm_backend import load_vllm

        return load_vllm(cfg.model, cfg.seed, cfg.dtype), tok
    return load_model(cfg.model, dtype=cfg.dtype, device=process_device(cfg.device)), tok


def _probe_chunks(
    cfg: ProbeConfig,
    ds: Any,
    loaded: tuple[Any, Any],
    chunks: list[list[Fact]],
    paths: list[Path],
) -> None:
    """Probe each chunk with the loaded model, writing each chunk file atomically."""
    from sftlens.generation import CapHits
    from sftlens.probing.probe import expected_completions, probe_facts, warn_cap_hits

    model, tok = loaded
    hits = CapHits()
    sizes = [expected_completions(c, ds.relations, cfg) for c in chunks]
    bar = tqdm(total=sum(sizes), desc="probe", unit="completion", smoothing=0.1)
    done = 0
    try:
        for chunk, path, size in zip(chunks, paths, sizes, strict=True):
            t0 = time.monotonic()
            rows = probe_facts(
                model, tok, chunk, ds.relations, cfg, bar, pool=ds.facts, cap_hits=hits
            )
            write_table(path, rows)
            done += size
            bar.n = done  # repeated prompts are generated once: the chunk's count is exact here
            bar.refresh()
            log.info(
                "%s: %d facts, %.1f facts/s",
                path.name,
                len(chunk),
                len(chunk) / (time.monotonic() - t0),
            )
    finally:
        bar.close()
    warn_cap_hits(hits, cfg)
