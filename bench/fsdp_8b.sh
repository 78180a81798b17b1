#!/usr/bin/env bash
# Full fine-tune of a random Llama-3-8B-shape checkpoint (bf16 weights, fp32 master weights):
# one process on one GPU, then FSDP2 over 2 GPUs through accelerate; the peak memory of each
# GPU (nvidia-smi every second) and the trainer's tokens/s.
#
#   bash bench/fsdp_8b.sh /tmp/f8 [SHAPE=8b] [SAMPLES=160]
#
# Writes DIR/ft1.log, DIR/ft2.log, DIR/mem.csv and DIR/fsdp.json (peaks per GPU and phase).
set -uo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/f8}
SHAPE=${2:-8b}
N=${3:-160}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/src"
mkdir -p "$W"
stamp() { echo "$1,$(date +%s)" | tee -a "$W/phases.csv"; }
(while true; do nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits \
   | sed "s/^/$(date +%s),/; s/ //g"; sleep 1; done) >> "$W/mem.csv" 2>/dev/null &
sampler=$!
[ -f "$W/model/config.json" ] || python3 bench/random_checkpoint.py --shape "$SHAPE" --device cuda \
  --samples "$N" --out "$W/model" --train "$W/train.jsonl"
stamp one-gpu
CUDA_VISIBLE_DEVICES=0 python3 -m sftlens finetune --model "$W/model" --train "$W/train.jsonl" \
  --out "$W/ft1" --force 2>&1 | grep -v "it/s]\|s/it]" > "$W/ft1.log"
stamp fsdp-2gpu
sed 's/^num_processes: .*/num_processes: 2/' configs/accelerate/fsdp.yaml > "$W/fsdp2.yaml"
python3 -m accelerate.commands.launch --config_file "$W/fsdp2.yaml" -m sftlens finetune --model "$W/model" \
  --train "$W/train.jsonl" --out "$W/ft2" --force 2>&1 | grep -v "it/s]\|s/it]" > "$W/ft2.log"
stamp end
kill "$sampler"
python3 - "$W" <<'EOF'
import csv, json, sys
w = sys.argv[1]
phases = [(n, int(t)) for n, t in csv.reader(open(f"{w}/phases.csv"))]
peaks = {}
for row in csv.reader(open(f"{w}/mem.csv")):
    t, gpu, mib = int(row[0]), row[1], int(row[2])
    for (name, start), (_, end) in zip(phases, phases[1:]):
        if start <= t <= end:
            key = f"{name}/gpu{gpu}"
            peaks[key] = max(peaks.get(key, 0), mib)
out = {"peak_mib": peaks, "seconds": {n: e - s for (n, s), (_, e) in zip(phases, phases[1:])}}
json.dump(out, open(f"{w}/fsdp.json", "w"), indent=2)
print(json.dumps(out))
EOF
grep -h "fine-tuned\|memory plan\|rror" "$W/ft1.log" "$W/ft2.log"
