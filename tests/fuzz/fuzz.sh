#!/usr/bin/env bash
# Builds the libFuzzer harnesses (a clang build folder of its own, MOE_FUZZ=ON) and runs each for a
# set time, one after another on one core, then prints the executions per harness and any crash,
# hang or sanitizer report (the inputs that caused them are kept as files).
#
#   tests/fuzz/fuzz.sh [SECONDS_PER_HARNESS] [HARNESS...]    (default 60 s; all harnesses)
#
# Harnesses: project hf nccl_log run_store catalog cli. Seeds are made at run time from the repo's
# files (projects/, tests/data/, the real logs, the shipped catalog, the regression files of
# tests/data/fuzz/) and, for the run store and the catalog overlays, with the ordinary build's
# `moe` (MOE_CLI, default build/app/cli/moe) when there is one. The corpus grows across runs in
# $MOE_FUZZ_WORK (default build-fuzz/fuzz). A finding becomes a regression file under
# tests/data/fuzz/<harness>/ once its reader is fixed; the test fuzz/replay replays them.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
[ $# -gt 0 ] && shift
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: SECONDS_PER_HARNESS must be a whole number of seconds, not '$seconds'" >&2
  exit 2
fi
all=(project hf nccl_log run_store catalog cli)
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${all[@]}")
for h in "${harnesses[@]}"; do
  if [[ " ${all[*]} " != *" $h "* ]]; then
    echo "fuzz.sh: unknown harness '$h'; choose from: ${all[*]}" >&2
    exit 2
  fi
done
build=${MOE_FUZZ_BUILD:-$root/build-fuzz}
work=${MOE_FUZZ_WORK:-$build/fuzz}
moe=${MOE_CLI:-$root/build/app/cli/moe}

for tool in clang++ cmake ninja; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool not found (installer/setup-debian.sh installs it)" >&2; exit 1; }
done
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOE_FUZZ=ON \
  -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$build" -j"${MOE_FUZZ_JOBS:-2}" --target "${targets[@]}"

# ---- seeds: links to the repo's files, a few made here ------------------------------------------
seeds=$work/seeds
rm -rf "$seeds"
mkdir -p "$seeds"
link() {  # link HARNESS FILE...
  local h=$1; shift
  mkdir -p "$seeds/$h"
  for f in "$@"; do [ -f "$f" ] && ln -sf "$f" "$seeds/$h/$(basename "$(dirname "$f")")-$(basename "$f")"; done
  return 0
}
link project "$root"/projects/*.json "$root"/tests/data/spec/*.json "$root"/tests/data/train/*.json "$root"/tests/data/broken/*.json
link hf "$root"/tests/data/hf-configs/*.json
link nccl_log "$root"/tests/data/cluster/*.txt
link catalog
i=0
for doc in $(cd "$root/core/cluster/catalog" && ls *.json | sort); do
  { printf '#%d' "$i"; cat "$root/core/cluster/catalog/$doc"; } >"$seeds/catalog/document-$i-$doc"
  i=$((i + 1))
done
link cli
n=0
while IFS= read -r line; do
  n=$((n + 1))
  printf '%s' "$line" | tr '|' '\n' >"$seeds/cli/args-$n"
done <<'ARGS'
validate|projects/collapse.json|--json
describe|projects/llm_h100.json
schedule|pyramid|--layers|7|--min|2|--max|8|--period|2
train|projects/collapse.json|--steps|10|--out|run.sqlite|--max-memory|4G|--force
report|run.sqlite|--csv|block_stats
simulate|projects/llm_mi300x.json|--cluster|mi300x-8|--gpus|64|--routing|zipf:1.2|--json
collective|all_reduce|--cluster|hgx-h100|--gpus|16|--algo|ring|--sizes|8:16G:2
collective|alltoall|--measure|--nproc|2|--sizes|1K:16M:4|--iters|5|--warmup=1
calibrate|log.txt|--cluster|hgx-h100|--table|2|--overlay|out.json|--level|inter
cost|projects/llm_h100.json|--global-batch|1024|--catalog-overlay|a.json,b.json
plan|projects/llm_h100.json|--cluster|hgx-h100|--gpus|256|--top|5
bench|layer|--json
import|hf|config.json|--out|p.json|--name|x
ep|--cluster|mi300x-8|--ep|8|--tokens|4096|--kernel|deepep-ll
ARGS
if [ -x "$moe" ]; then
  tmp=$(mktemp -d)
  if "$moe" train "$root/projects/classroom_spirals.json" --steps 20 --out "$tmp/run.sqlite" >/dev/null 2>&1; then
    link run_store
    cp "$tmp/run.sqlite" "$seeds/run_store/classroom_spirals-20-steps.sqlite"
  fi
  if "$moe" calibrate "$root/tests/data/cluster/h100-4gpu-allreduce-dudeperf3ct-lambda.txt" --cluster hgx-h100 \
       --overlay "$tmp/overlay.json" >/dev/null 2>&1; then
    cp "$tmp/overlay.json" "$seeds/catalog/calibrated-overlay.json"
  fi
  rm -rf "$tmp"
else
  echo "fuzz.sh: no ordinary build's moe at $moe (set MOE_CLI): the run-store harness starts without a run store" >&2
fi
for h in "${harnesses[@]}"; do
  mkdir -p "$seeds/$h"
  [ -d "$root/tests/data/fuzz/$h" ] && link "$h" $(ls "$root/tests/data/fuzz/$h"/* | grep -v '\.expect$')
done

# ---- runs ---------------------------------------------------------------------------------------
# -timeout=1: an input that takes over a second is a hang; -rss_limit_mb/-malloc_limit_mb: one that
# allocates without bound is a finding too. On a loaded machine a quick input can still pass the
# second: a timeout whose input runs under it alone is set aside (load-timeouts/) and the harness
# goes on for the rest of its time; any other finding stops it.
limits=(-timeout=1 -rss_limit_mb=2048 -malloc_limit_mb=1024)
total=0
found=0
summary=()
for h in "${harnesses[@]}"; do
  bin=$build/tests/fuzz/fuzz_$h
  mkdir -p "$work/corpus/$h" "$work/findings/$h" "$work/load-timeouts/$h" "$work/logs"
  log=$work/logs/$h.log
  : >"$log"
  echo "fuzz.sh: $h for ${seconds}s ..."
  started=$SECONDS
  set +e
  while :; do
    left=$((seconds - (SECONDS - started)))
    [ "$left" -gt 0 ] || { rc=0; break; }
    "$bin" "$work/corpus/$h" "$seeds/$h" -max_total_time="$left" "${limits[@]}" -print_final_stats=1 \
      -artifact_prefix="$work/findings/$h/" >>"$log" 2>&1
    rc=$?
    [ "$rc" -eq 0 ] && break
    last=$(ls -t "$work/findings/$h" | head -1)
    if [[ "$last" == timeout-* ]] && "$bin" "${limits[@]}" "$work/findings/$h/$last" >/dev/null 2>&1; then
      mv "$work/findings/$h/$last" "$work/load-timeouts/$h/"
      echo "    a timeout that does not come back alone (machine load): set aside, going on"
      continue
    fi
    break
  done
  set -e
  took=$((SECONDS - started))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | awk '{s += $1} END {print s + 0}')
  execs=${execs:-0}
  total=$((total + execs))
  nfiles=$(find "$work/findings/$h" -type f | grep -c . || true)
  found=$((found + nfiles))
  summary+=("$(printf '%-10s %12s executions in %4s s  exit %3s  %s finding file(s)' "$h" "$execs" "$took" "$rc" "$nfiles")")
  if [ "$rc" -ne 0 ]; then
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*deadly signal)' "$log" | tail -4 | sed 's/^/    /'
  fi
done

echo
echo "fuzz.sh: executions per harness (logs in $work/logs, findings in $work/findings)"
printf '  %s\n' "${summary[@]}"
echo "  total      $total executions"
set_aside=$(find "$work/load-timeouts" -type f | grep -c . || true)
[ "$set_aside" -gt 0 ] && echo "  ($set_aside timeout(s) set aside: under a second when run alone; in $work/load-timeouts)"
if [ "$found" -gt 0 ]; then
  echo "fuzz.sh: finding files (each run again alone):"
  for h in "${harnesses[@]}"; do
    for f in $(find "$work/findings/$h" -type f | sort); do
      echo "  $f"
      "$build/tests/fuzz/fuzz_$h" "${limits[@]}" "$f" 2>&1 | grep -E '^(Executed|SUMMARY)' | sed 's/^/    /' || true
    done
  done
  exit 1
fi
