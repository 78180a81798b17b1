#!/usr/bin/env bash
# Reproduce the GPU numbers of docs/benchmarks.md on one CUDA machine.
#
#   bash bench/device_run.sh MODE...  # one or more of the modes below, in order
#   bash bench/device_run.sh smoke    # environment, roofline, every bench at small size
#   bash bench/device_run.sh infer    # probe + evaluate at 8B shape vs plain generate
#   bash bench/device_run.sh probe    # probe only (roofline + 8B shape vs plain generate)
#   bash bench/device_run.sh probe-lengths # the engine alone at 8B shape with PROBE_LENGTHS="8 16" fixed new tokens
#   bash bench/device_run.sh evaluate # evaluate at 8B shape vs plain generate
#   bash bench/device_run.sh newline  # probe with vs without the newline cut: level shares on the world in
#                                     # NEWLINE_WORLD (default /tmp/world-gpu: run world-build first), speed at 8B shape
#   bash bench/device_run.sh restore  # restore at 8B shape (with and without the GPU cache) vs the naive reference
#   bash bench/device_run.sh sft      # SFT at 1B shape vs HF Trainer, each with and without torch.compile
#   bash bench/device_run.sh sft-long # the sftlens trainer on 20k samples
#   bash bench/device_run.sh sft-precision # share of weights changed at lr 1e-5, 1B shape: pure bf16 vs
#                                        # fp32-master vs kahan (needs torch-optimi, e.g. its wheel in .whl/)
#                                        # vs fp32; then tokens/s + peak memory of an 8B full fine-tune
#   bash bench/device_run.sh sft-fsdp # FSDP2 on 2+ GPUs vs one process (tests/unit/finetuning/test_fsdp_gpu.py)
#   bash bench/device_run.sh profile  # torch.profiler tables: one 8B probe batch, 40 SFT steps at 1B
#   bash bench/device_run.sh world-small # build + check the small world on the GPU in fp32 (SMALL_EPOCHS="6 ...")
#   bash bench/device_run.sh world-build # build + check the gpu world in /tmp/world-gpu
#   bash bench/device_run.sh world-study # run configs/world-gpu.yaml on it for at most STUDY_SECONDS
#                                        # (default 540); call again to resume; packs results each time
#   bash bench/device_run.sh study-determinism # a reduced demo study rerun on one tiny world, default and
#                                        # deterministic kernels: do reruns repeat every answer?
#   bash bench/device_run.sh token-kl # token KL of 4 fine-tunes at the gpu world's shape: a call each vs one prepared run
#   bash bench/device_run.sh study-scale # the grid of configs/world-gpu.yaml with 1 and PER_GPU workers per GPU
#                                        # (default "1,4"; STUDY_SETS="--set grid.seeds=[0]" shrinks the grid;
#                                        # CUDA_VISIBLE_DEVICES=0 vs 0,1 compares one GPU with two)
#
# Results (JSON + logs) go to $OUT (default ./bench-out). Missing Python packages can be
# installed from wheels in .whl/ (see docs/benchmarks.md).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD/src" TOKENIZERS_PARALLELISM=false
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
PY=python3
step() { echo "=== $* ($(date +%T))"; }

for mode in "${@:-smoke}"; do
case "$mode" in
smoke)
  step env
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import torch, transformers, peft, accelerate; print(torch.__version__, transformers.__version__, peft.__version__, accelerate.__version__)"
  $PY -c "import importlib.util as u; print({m: bool(u.find_spec(m)) for m in ['pyarrow','pandas','pydantic','yaml','tqdm','matplotlib','flash_attn','vllm']})"
  df -h . /tmp | tail -2
  step roofline; $PY bench/roofline.py --json "$OUT/roofline.json"
  step probe-1b; timeout 120 $PY bench/probe.py --device cuda --shape 1b --prompts 64 --fixed-tokens --json "$OUT/probe-1b.json"
  step evaluate-1b; timeout 120 $PY bench/evaluate.py --device cuda --shape 1b --questions 256 --json "$OUT/evaluate-1b.json"
  step sft-1b; timeout 150 $PY bench/sft.py --device cuda --shape 1b --samples 256 --json "$OUT/sft-1b-smoke.json"
  ;;
roofline)
  step roofline; $PY bench/roofline.py --json "$OUT/roofline.json"
  ;;
infer|probe)
  step roofline; $PY bench/roofline.py --json "$OUT/roofline.json"
  step probe-8b; timeout 400 $PY bench/probe.py --device cuda --shape 8b --prompts 512 --fixed-tokens --baseline-batch-sizes 64,128,256 \
    --engine-variants "${ENGINE_VARIANTS:-current,previous,sdpa,dynamic,sync}" --json "$OUT/probe-8b.json"
  [ "$mode" = probe ] && continue
  step evaluate-8b; timeout 200 $PY bench/evaluate.py --device cuda --shape 8b --questions 2048 --engine-batch-sizes auto,auto --json "$OUT/evaluate-8b.json"
  ;;
probe-lengths)
  for n in ${PROBE_LENGTHS:-8 16}; do
    step "probe-8b-$n-tokens"; timeout 200 $PY bench/probe.py --device cuda --shape 8b --prompts 512 --fixed-tokens \
      --max-new-tokens "$n" --baseline-batch-sizes none --engine-batch-sizes auto,auto --json "$OUT/probe-8b-$n.json"
  done
  ;;
newline)
  W=${NEWLINE_WORLD:-/tmp/world-gpu}
  if [ -d "$W/model" ]; then
    step newline-world; timeout 400 $PY bench/newline.py --world "$W" --facts "${NEWLINE_FACTS:-4000}" --device cuda \
      --json "$OUT/newline-world.json" 2>&1 | grep -v "/s]"
  else
    echo "no world at $W: run the world-build mode first (or set NEWLINE_WORLD); level shares skipped"
  fi
  step newline-8b; timeout 300 $PY bench/newline.py --shape 8b --device cuda --prompts 512 \
    --newline-rates "${NEWLINE_RATES:-0,0.125,0.25}" --json "$OUT/newline-8b.json"
  ;;
evaluate)
  step evaluate-8b; timeout 200 $PY bench/evaluate.py --device cuda --shape 8b --questions 2048 --engine-batch-sizes auto,auto --json "$OUT/evaluate-8b.json"
  ;;
restore)
  step restore-8b; timeout 580 $PY bench/restore.py --shape 8b --device cuda --workdir /tmp/bench-restore \
    --device-cache "${DEVICE_CACHE:-both}" --baseline "${RESTORE_BASELINE:-auto}" --json "$OUT/restore-8b.json"
  ;;
sft)
  step sft-1b-1920; timeout 400 $PY bench/sft.py --device cuda --shape 1b --samples 1920 \
    --trainers sftlens,sftlens+compile,hf,hf+compile --json "$OUT/sft-1b-1920.json"
  ;;
sft-long)
  step sft-1b-20k; timeout 300 $PY bench/sft.py --device cuda --shape 1b --samples 20000 --trainers sftlens --json "$OUT/sft-1b-20k.json"
  ;;
sft-precision)
  step sft-precision-1b; timeout 500 $PY bench/sft_precision.py share --device cuda --shape 1b --samples 1920 \
    --json "$OUT/sft-precision-1b.json"
  step sft-speed-8b; timeout 500 $PY bench/sft_precision.py speed --device cuda --shape 8b --samples 480 \
    --json "$OUT/sft-speed-8b.json"
  ;;
sft-fsdp)
  step sft-fsdp; timeout 580 $PY -m pytest -q -m gpu -p no:cacheprovider tests/unit/finetuning/test_fsdp_gpu.py 2>&1 | tail -20
  ;;
world-build)
  step world-gpu; timeout "${WORLD_SECONDS:-560}" $PY -m sftlens world build --preset gpu --out /tmp/world-gpu --force ${WORLD_ARGS:-}
  cp /tmp/world-gpu/world/corpus_stats.json "$OUT/" 2>/dev/null
  timeout 120 $PY -m sftlens world check /tmp/world-gpu max_facts=2000 2>&1 | grep -v "/s]"
  ;;
profile)
  step profile-probe-8b; timeout 240 $PY bench/profile_gpu.py probe --shape 8b --prompts 344 > "$OUT/profile-probe-8b.txt" 2>&1
  tail -5 "$OUT/profile-probe-8b.txt"
  step profile-sft-1b; timeout 180 $PY bench/profile_gpu.py sft --shape 1b --samples 320 > "$OUT/profile-sft-1b.txt" 2>&1
  tail -5 "$OUT/profile-sft-1b.txt"
  ;;
world-small)
  for e in ${SMALL_EPOCHS:-6}; do
    step "world-small epochs=$e"; timeout 300 $PY -m sftlens world build --preset small --out /tmp/world-small-$e --force \
      --device cuda dtype=float32 epochs=$e 2>&1 | grep -v "/s]" | tail -3
    timeout 240 $PY -m sftlens world check /tmp/world-small-$e max_facts=3000 2>&1 | grep -v "/s]" | tee "$OUT/world-small-$e-check.txt"
  done
  ;;
world-study)
  step study; timeout -s INT "${STUDY_SECONDS:-540}" $PY -m sftlens study configs/world-gpu.yaml \
    --out /tmp/study-gpu world=/tmp/world-gpu 2>&1 | grep -v "/s]" | tee -a "$OUT/study.log" | tail -40
  tar czf "$OUT/study-gpu-results.tgz" -C /tmp/study-gpu results report 2>/dev/null
  ls /tmp/study-gpu/units | wc -l
  ;;
study-scale)
  step study-scale; timeout "${STUDY_SECONDS:-580}" $PY bench/study.py configs/world-gpu.yaml --world /tmp/world-gpu \
    --per-gpu "${PER_GPU:-1,4}" ${STUDY_SETS:-} --workdir /tmp/bench-study --json "$OUT/study-scale.json" 2>&1 | grep -v "/s]" | tail -20
  ;;
study-determinism)
  step world-tiny; $PY -m sftlens -q world build --preset tiny --device cuda --out /tmp/world-tiny --force
  step study-determinism; timeout 540 $PY bench/study_determinism.py configs/demo-tiny.yaml --world /tmp/world-tiny --workers-per-gpu 2 \
    --out /tmp/sdet device=cuda 'grid.seeds=[0,1]' 'grid.sizes=[10,40]' 'grid.levels=[0,4]' \
    controls.steps_matched=false 'controls.lr_sensitivity=[]' 2>&1 | tail -12
  cp /tmp/sdet/study_determinism.json /tmp/sdet/compare/comparison.md "$OUT/" 2>/dev/null
  ;;
token-kl)
  step token-kl; timeout 300 $PY bench/token_kl.py --device cuda --out "$OUT/token-kl" 2>&1 | tail -12
  ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac
done
