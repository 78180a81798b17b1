#!/usr/bin/env bash
# Several study-like workers on one GPU, time-sliced (the default) and under CUDA MPS (the
# Multi-Process Service lets kernels of different processes run at the same time): N copies of
# bench/restore_sweep.py side by side, once per mode, after one copy alone; the wall time of
# each round and each copy's table line (old / new path seconds).
#
#   N=6 QUESTIONS=2500 bash bench/mps_contention.sh /tmp/mps
#   SWEEP_ARGS="--flat off" bash bench/mps_contention.sh /tmp/mps   # the streaming restore
#
# MPS is started here with its pipe and log directories under DIR and stopped at the end
# (`nvidia-cuda-mps-control -d` / `quit`); nothing on the GPU is reconfigured.
set -uo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/mps}
N=${N:-6}
mkdir -p "$W"
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/src"

round() {  # round LABEL COPIES
  local label=$1 n=$2 t0 t1
  mkdir -p "$W/$label"
  t0=$(date +%s.%N)
  for i in $(seq "$n"); do
    python3 bench/restore_sweep.py --device cuda --questions "${QUESTIONS:-2500}" --repeats 1 \
      ${SWEEP_ARGS:-} --out "$W/$label/$i" > "$W/$label/$i.log" 2>&1 &
  done
  wait
  t1=$(date +%s.%N)
  echo "== $label: $n workers, wall $(python3 -c "print(round($t1 - $t0, 1))") s"
  for i in $(seq "$n"); do tail -n 1 "$W/$label/$i.log"; done
}

round solo 1
round time-sliced "$N"
export CUDA_MPS_PIPE_DIRECTORY=$W/mps-pipe CUDA_MPS_LOG_DIRECTORY=$W/mps-log
mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
if nvidia-cuda-mps-control -d; then
  round mps "$N"
  echo quit | nvidia-cuda-mps-control
else
  echo "== mps: nvidia-cuda-mps-control could not start"
fi
cat "$CUDA_MPS_LOG_DIRECTORY"/*.log 2>/dev/null | tail -n 5
