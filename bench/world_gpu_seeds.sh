#!/usr/bin/env bash
# The gpu-world study from two world builds (seeds 0 and 1) side by side on one GPU: each seed is
# bench/world_gpu_pipeline.sh (world build, world check, study, report) with PER_GPU workers, so
# the GPU holds 2 × PER_GPU study workers; utilisation sampled every 2 s.
#
#   bash bench/world_gpu_seeds.sh start /tmp/seeds         # returns at once (setsid)
#   bash bench/world_gpu_seeds.sh wait /tmp/seeds 560      # until both are done or 560 s pass
#   bash bench/world_gpu_seeds.sh collect /tmp/seeds "$OUT" # unit times, GPU use, `sftlens compare`
#                                                           # of the seeds, a tarball
#
# Env: PER_GPU (default 3), STUDY_ARGS (default "test_per_relation=500"), SEEDS (default "0 1").
# A rerun of start resumes each seed (its world is kept once built; the study resumes).
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=${1:?start|wait|collect}
W=${2:-/tmp/seeds}
SEEDS=${SEEDS:-0 1}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/src"

start() {
  mkdir -p "$W"
  echo "start unix=$(date +%s)" >> "$W/steps.txt"
  setsid nohup bash -c 'while true; do now=$(date +%s)
      nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits \
        | sed "s/^/$now,/; s/ //g"; sleep 2; done' >> "$W/util.csv" 2>/dev/null < /dev/null &
  for s in $SEEDS; do
    WORLD_SEED=$s PER_GPU=${PER_GPU:-3} STUDY_ARGS=${STUDY_ARGS:-test_per_relation=500} \
      setsid nohup bash bench/world_gpu_pipeline.sh "$W/seed$s" > "$W/seed$s.log" 2>&1 < /dev/null &
  done
}

done_all() {
  for s in $SEEDS; do grep -q "=== done" "$W/seed$s/steps.txt" 2>/dev/null || return 1; done
}

wait_() {
  local until=$(($(date +%s) + ${1:-560}))
  while ! done_all && [ "$(date +%s)" -lt "$until" ]; do sleep 5; done
  for s in $SEEDS; do
    echo "--- seed $s"; cat "$W/seed$s/steps.txt" 2>/dev/null
    find "$W/seed$s/study/units" -name unit.json 2>/dev/null | wc -l
    tail -n 2 "$W/seed$s.log"
  done
}

collect() {
  local out=${1:?OUT dir}
  mkdir -p "$out"
  for s in $SEEDS; do
    d=$W/seed$s
    python3 bench/study_units.py "$d/study" --json "$d/units.json" > "$d/units.txt" 2>&1
    python3 bench/gpu_util.py "$W/util.csv" "$d/study" --gpus 0 --json "$d/util.json" \
      > "$d/util.txt" 2>&1
    cat "$d/units.txt" "$d/util.txt"
  done
  set -- $SEEDS
  if [ $# -ge 2 ]; then  # the findings of the world builds side by side
    runs=$(for s in $SEEDS; do printf '%s,' "$W/seed$s/study"; done)
    labels=$(for s in $SEEDS; do printf 'seed%s,' "$s"; done)
    python3 -m sftlens -q compare --runs "${runs%,}" --labels "${labels%,}" --out "$W/compare" --force \
      && cat "$W/compare/comparison.md"
  fi
  (cd "$W" && tar czf "$out/seeds.tgz" --ignore-failed-read steps.txt util.csv ./*.log compare \
     $(for s in $SEEDS; do echo "seed$s/steps.txt seed$s/world-check.txt seed$s/units.json" \
       "seed$s/units.txt seed$s/util.json seed$s/world/manifest.json seed$s/study/results" \
       "seed$s/study/report seed$s/study/manifest.json"; done)) 2>/dev/null
  ls -la "$out"
}

case "$MODE" in
  start) start ;;
  wait) wait_ "${3:-560}" ;;
  collect) collect "${3:?OUT dir}" ;;
  *) echo "unknown mode $MODE" >&2; exit 2 ;;
esac
