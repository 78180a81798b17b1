#!/usr/bin/env bash
# The gpu-world study on 2 GPUs and then on 1, on one 2-GPU host, with GPU utilisation sampled
# every 2 s; the Llama-3-8B-shape generation benchmarks run on GPU 1 while GPU 0 builds the world.
#
#   setsid nohup bash bench/world_gpu_scaling.sh run /tmp/ws > /tmp/ws.log 2>&1 &
#   bash bench/world_gpu_scaling.sh collect /tmp/ws "$OUT"      # a tarball of what to keep
#
# Steps (timestamps in DIR/steps.txt):
#   1. world build (GPU 0)  ||  bench/evaluate.py and bench/probe.py at Llama-3-8B shape (GPU 1):
#      bucketed vs padded prefill vs HF generate
#   2. the whole study on both GPUs (PER_GPU workers each) into DIR/study2: probe, calibration,
#      grid and report; with step 1's world build this is the 2-GPU pipeline's wall time
#   3. the grid alone on GPU 0 with 16 cores (the one-GPU machine's share), resumed from a copy
#      of study2's pre-grid units into DIR/study1
#   4. bench/gpu_util.py and bench/study_units.py on both runs
# Env: PER_GPU (default 6), STUDY_ARGS (default "test_per_relation=500"). A rerun keeps the built
# world and the benchmarks' JSON, resumes both studies, and appends to steps.txt and util.csv.
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=${1:?run|collect}
W=${2:-/tmp/ws}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/src"
PER_GPU=${PER_GPU:-6}
STUDY_ARGS=${STUDY_ARGS:-test_per_relation=500}

sample_util() {  # unix_time,gpu,util,mem rows every 2 s
  while true; do
    now=$(date +%s)
    nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits \
      | sed "s/^/$now,/; s/ //g"
    sleep 2
  done
}

run() {
  mkdir -p "$W"
  t0=$(date +%s)
  stamp() { echo "=== $* t=$(($(date +%s) - t0))s unix=$(date +%s)" | tee -a "$W/steps.txt"; }
  sample_util >> "$W/util.csv" 2>/dev/null &
  sampler=$!
  stamp start
  [ -f "$W/probe8b.json" ] || (export CUDA_VISIBLE_DEVICES=1
   python3 bench/evaluate.py --device cuda --shape 8b --questions 2048 --json "$W/eval8b.json" \
     --engine-batch-sizes auto,auto --baseline-batch-sizes 256,512,1024,2048 > "$W/eval8b.log" 2>&1
   echo "eval8b exit $?" >> "$W/eval8b.log"
   python3 bench/probe.py --device cuda --shape 8b --prompts 512 --fixed-tokens \
     --baseline-batch-sizes 256 --engine-variants current,padded --json "$W/probe8b.json" \
     > "$W/probe8b.log" 2>&1
   echo "probe8b exit $?" >> "$W/probe8b.log") &
  bench_pid=$!
  if [ ! -f "$W/world/manifest.json" ]; then
    CUDA_VISIBLE_DEVICES=0 python3 -m sftlens world build --preset gpu --out "$W/world" --force \
      --device cuda 2>&1 | grep -v "/s]" > "$W/world.log"
  fi
  stamp world-built
  wait "$bench_pid"
  stamp benches-done
  python3 -m sftlens study configs/world-gpu.yaml --out "$W/study2" world="$W/world" \
    --workers-per-gpu "$PER_GPU" $STUDY_ARGS 2>&1 | grep -v "/s]" > "$W/study2.log"
  stamp study2-exit-$?
  if [ ! -d "$W/study1" ]; then
    cp -r "$W/study2" "$W/study1"
    rm -rf "$W/study1"/units/L* "$W/study1/results" "$W/study1/report"
  fi
  CUDA_VISIBLE_DEVICES=0 taskset -c 0-15 python3 -m sftlens study configs/world-gpu.yaml \
    --out "$W/study1" world="$W/world" --workers-per-gpu "$PER_GPU" $STUDY_ARGS 2>&1 \
    | grep -v "/s]" > "$W/study1.log"
  stamp study1-exit-$?
  python3 bench/gpu_util.py "$W/util.csv" "$W/study2" --gpus 0,1 --json "$W/util2.json"
  python3 bench/gpu_util.py "$W/util.csv" "$W/study1" --gpus 0 --json "$W/util1.json"
  for n in 1 2; do
    python3 bench/study_units.py "$W/study$n" --json "$W/units$n.json" > "$W/units$n.txt" 2>&1
  done
  stamp done
  kill "$sampler"
}

collect() {
  out=${3:?OUT dir}
  mkdir -p "$out"
  (cd "$W" && tar czf "$out/scaling.tgz" --ignore-failed-read steps.txt util.csv ./*.log ./*.json \
     ./*.txt world/manifest.json study2/results study1/results study2/report \
     $(find study1 study2 -name unit.json 2>/dev/null)) 2>/dev/null
  cat "$W/steps.txt" 2>/dev/null
  tail -n 3 "$W/eval8b.log" "$W/study2.log" "$W/study1.log" 2>/dev/null
  cat "$W"/util*.json 2>/dev/null
}

"$MODE" "$@"
