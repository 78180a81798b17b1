#!/usr/bin/env bash
# The gpu-world study end to end on one GPU: world build, world check, study (cells side by side),
# report; with a timestamp per step and GPU utilisation sampled every 5 s.
#
#   setsid nohup bash bench/world_gpu_pipeline.sh /tmp/wg > /tmp/wg.log 2>&1 &
#   PER_GPU=4 STUDY_ARGS="test_per_relation=500" bash bench/world_gpu_pipeline.sh /tmp/wg
#   WORLD_SEED=1 bash bench/world_gpu_pipeline.sh /tmp/wg-seed1     # a second world build
#   STUDY=0 bash bench/world_gpu_pipeline.sh /tmp/wg                # world build and check only
#   MPS=1 bash bench/world_gpu_pipeline.sh /tmp/wg                  # the study's workers under CUDA MPS
#
# Writes DIR/world, DIR/world-check.txt, DIR/study (results/, report/), DIR/util.csv, DIR/steps.txt.
# Rerunning resumes the study (the world is rebuilt only when DIR/world/manifest.json is missing).
set -uo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/wg}
mkdir -p "$W"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/src"
t0=$(date +%s)
stamp() { echo "=== $* t=$(($(date +%s) - t0))s ($(date +%T))" | tee -a "$W/steps.txt"; }
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits -l 5 \
  >> "$W/util.csv" 2>/dev/null &
if [ ! -f "$W/world/manifest.json" ]; then
  stamp world-build
  python3 -m sftlens world build --preset gpu --out "$W/world" --force --device cuda \
    --seed "${WORLD_SEED:-0}" 2>&1 | grep -v "/s]"
fi
stamp world-check-and-study
if [ "${MPS:-0}" = 1 ]; then  # kernels of the workers run at the same time (bench/mps_contention.sh)
  export CUDA_MPS_PIPE_DIRECTORY=$W/mps-pipe CUDA_MPS_LOG_DIRECTORY=$W/mps-log
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  nvidia-cuda-mps-control -d && trap 'echo quit | nvidia-cuda-mps-control' EXIT
fi
(python3 -m sftlens world check "$W/world" max_facts="${CHECK_FACTS:-2000}" \
  min_heldout_qa_accuracy=0.6 2>&1 | grep -v "/s]" \
  > "$W/world-check.txt") &
[ "${STUDY:-1}" = 0 ] || python3 -m sftlens study configs/world-gpu.yaml --out "$W/study" world="$W/world" \
  --workers-per-gpu "${PER_GPU:-4}" ${STUDY_ARGS:-} 2>&1 | grep -v "/s]"
stamp study-exit-$?
wait %2 2>/dev/null
stamp done
