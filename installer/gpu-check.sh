#!/usr/bin/env bash
# The GPU check, in one go, on a machine with an NVIDIA GPU, nvcc, CMake and a CUDA LibTorch
# (PyTorch's own, found through python3) but no package registry:
#   1. unpacks the Debian packages prepared by installer/gpu-debs.sh into a private prefix;
#   2. configures the headless build (CLI, core, kernels, tests; no studio, no Vulkan) with CUDA
#      on for sm_90 against that LibTorch, and builds it with all cores;
#   3. runs the CUDA kernel parity tests against the CPU reference, the training tests (which
#      train on the GPU: training.device defaults to auto), compute-sanitizer memcheck and
#      racecheck over the kernel tests, `moe bench kernels` and `moe bench layer --device cuda`, and a short
#      training run of the example language model on the GPU;
#   4. writes its logs and summary.json to $OUT (default: gpu-out/).
# Every step runs even when an earlier one fails; summary.json says which passed.
#   installer/gpu-check.sh [--steps N]     (training steps of the LM run, default 300)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
OUT="${OUT:-$root/gpu-out}"
mkdir -p "$OUT"
lm_steps=300
if [ "${1:-}" = "--steps" ] && [ -n "${2:-}" ]; then lm_steps=$2; fi
prefix="${MOE_GPU_PREFIX:-/tmp/moe-gpu-prefix}"
build="${MOE_GPU_BUILD:-build-gpu}"
summary=()
step() {  # step NAME LOG COMMAND... : runs, records the exit code and the seconds it took
  local name=$1 log=$2; shift 2
  local t0=$SECONDS
  echo "== $name" | tee -a "$OUT/$log"
  "$@" >>"$OUT/$log" 2>&1
  local rc=$?
  summary+=("{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $((SECONDS - t0)), \"log\": \"$log\"}")
  echo "   rc=$rc in $((SECONDS - t0)) s" | tee -a "$OUT/$log"
  return $rc
}
write_summary() {
  { echo "{\"steps\": ["; (IFS=,; echo "${summary[*]}"); echo "]}"; } >"$OUT/summary.json"
}
trap write_summary EXIT

# ---- 1. the prefix ---------------------------------------------------------------------------
if ! ls .gpu/debs/*.deb >/dev/null 2>&1; then
  echo "gpu-check: no .gpu/debs/*.deb; run installer/gpu-debs.sh first (on a machine with Debian's archive)" >&2
  exit 2
fi
mkdir -p "$prefix"
for f in .gpu/debs/*.deb; do dpkg -x "$f" "$prefix"; done
libdir="$prefix/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$prefix/usr/bin:/usr/local/cuda/bin:$PATH"

# ---- 2. configure and build ------------------------------------------------------------------
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
  nvcc --version 2>&1 | tail -2
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())' 2>&1
  nproc; free -g | head -2
} >"$OUT/gpu.txt"
torch_cmake=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
step configure build.log cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMOE_ENABLE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DMOE_ENABLE_VULKAN=OFF -DMOE_BUILD_STUDIO=OFF \
  -DCMAKE_PREFIX_PATH="$torch_cmake;$prefix/usr" -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" || exit 1
step build build.log cmake --build "$build" -j "$(nproc)" || exit 1
moe="$build/app/cli/moe"

# ---- 3. tests, sanitizers, benches, a training run -------------------------------------------
export OMP_WAIT_POLICY=PASSIVE
step tests tests.log ctest --test-dir "$build" --output-on-failure -j 4 --timeout 300 -R '^(kernels|train|spec|telemetry)/'
cuda_test="$build/tests/kernels/tst_kernels_cuda"
if command -v compute-sanitizer >/dev/null && [ -x "$cuda_test" ]; then
  step memcheck sanitizer.log compute-sanitizer --tool memcheck --error-exitcode 3 "$cuda_test"
  step racecheck sanitizer.log compute-sanitizer --tool racecheck --error-exitcode 3 "$cuda_test"
fi
step bench-kernels bench.log "$moe" bench kernels
step bench-kernels-json bench.log "$moe" bench kernels --json
step bench-layer bench.log "$moe" bench layer --device cuda
step bench-layer-json bench.log "$moe" bench layer --device cuda --json
# The example LM on the fortunes corpus from the prefix, trained on the GPU.
lm_project=projects/lm_fortunes.json
if [ -f "$lm_project" ]; then
  corpus=/tmp/moe-fortunes.txt
  cat $(find "$prefix/usr/share/games/fortunes" -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8') >"$corpus"
  python3 - "$lm_project" "$corpus" /tmp/moe-lm-gpu.json <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["model"]["input"]["corpus"] = sys.argv[2]
p["training"]["device"] = "cuda"
json.dump(p, open(sys.argv[3], "w"), indent=2)
PY
  step train-lm train.log "$moe" train /tmp/moe-lm-gpu.json --steps "$lm_steps" --out /tmp/moe-lm-gpu.sqlite --plain
  step report-lm train.log "$moe" report /tmp/moe-lm-gpu.sqlite
fi
echo "gpu-check: done; logs and summary.json in $OUT"
