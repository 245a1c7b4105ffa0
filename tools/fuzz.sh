#!/bin/sh
# Bounded libFuzzer runs of the harnesses in tests/fuzz (clang, ASan + UBSan):
#   tools/fuzz.sh [--minutes N | --seconds S] [--seed N] [--build-dir DIR] [harness ...]
# Configures and builds build-fuzz (VM_FUZZ=ON) unless --build-dir names one already built, then
# runs each harness (default: all) for the given time, one at a time, on a scratch copy of its
# committed corpus and regressions, so fuzzing never grows the committed corpus. Prints per
# harness the executions and findings; crash, leak, timeout and OOM inputs are kept under
# BUILD/fuzz-artifacts/. Exits 1 when any harness found something. --seed fixes libFuzzer's random
# seed (the test suite uses 1, so a CI run explores the same inputs as a local run with that seed).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
secs=60
seed=0
build=""
harnesses=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) secs=$(( $2 * 60 )); shift 2 ;;
    --seconds) secs=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    -*) echo "usage: tools/fuzz.sh [--minutes N | --seconds S] [--seed N] [--build-dir DIR] [harness ...]" >&2; exit 2 ;;
    *) harnesses="$harnesses $1"; shift ;;
  esac
done
all="onnx plan checkpoint tensor data vocab tokenize vectors csv jsonl progress"
[ -n "$harnesses" ] || harnesses=$all
for h in $harnesses; do
  [ -f "tests/fuzz/fuzz_$h.c" ] || { echo "tools/fuzz.sh: no harness '$h' (have: $all)" >&2; exit 2; }
done
# the machine may be shared: two jobs unless told otherwise
jobs=${VM_FUZZ_JOBS:-2}
if [ -z "$build" ]; then
  build=build-fuzz
  cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DVM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  targets=""
  for h in $harnesses; do targets="$targets fuzz_$h"; done
  # shellcheck disable=SC2086
  cmake --build "$build" -j"$jobs" --target $targets >/dev/null
fi
build=$(cd "$build" && pwd)
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/vmaskc-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT INT TERM
# oneDNN and libgomp are not instrumented; their one-time allocations are not leaks of ours.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1"
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_NUM_THREADS=1

max_len() {
  case "$1" in
    onnx|plan) echo 65536 ;;
    checkpoint) echo 32768 ;;
    data|vectors|csv|jsonl) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

failed=0
for h in $harnesses; do
  bin=$build/fuzz/fuzz_$h
  [ -x "$bin" ] || { echo "tools/fuzz.sh: $bin is not built" >&2; exit 2; }
  corpus=$scratch/$h
  mkdir -p "$corpus"
  cp tests/fuzz/corpus/"$h"/* "$corpus"/ 2>/dev/null || true
  [ -d "tests/fuzz/regressions/$h" ] && cp tests/fuzz/regressions/"$h"/* "$corpus"/ 2>/dev/null
  if [ "$h" = checkpoint ]; then
    # a seed for the plan as compiled today (the committed ones may predate a compiler change)
    VM_FUZZ_WRITE_CHECKPOINT=$corpus/fresh.ckpt "$bin" /dev/null >/dev/null 2>&1 || true
  fi
  dict=""
  case "$h" in
    onnx) dict=tests/fuzz/onnx.dict ;;
    tensor) dict=tests/fuzz/tensor.dict ;;
    plan|checkpoint) dict=tests/fuzz/plan.dict ;;
    data) dict=tests/fuzz/data.dict ;;
    csv) dict=tests/fuzz/csv.dict ;;
    jsonl) dict=tests/fuzz/jsonl.dict ;;
    vectors) dict=tests/fuzz/vectors.dict ;;
  esac
  before=$(ls "$artifacts" | grep -c "^$h-" || true)
  log=$artifacts/$h.log
  set +e
  "$bin" -seed="$seed" -max_total_time="$secs" -max_len="$(max_len "$h")" -rss_limit_mb=4096 -timeout=20 \
    -artifact_prefix="$artifacts/$h-" -print_final_stats=1 ${dict:+-dict=$dict} "$corpus" > "$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  found=$(( $(ls "$artifacts" | grep -c "^$h-" || true) - before ))
  if [ $rc -ne 0 ] || [ "$found" -gt 0 ]; then
    failed=1
    echo "fuzz_$h: ${execs:-?} executions, FOUND $found (exit $rc); log $log"
    grep -E "^(==[0-9]+==ERROR|SUMMARY|.*runtime error)" "$log" | head -5 | sed 's/^/  /'
    ls -t "$artifacts" | grep "^$h-" | head -"$(( found > 0 ? found : 1 ))" | sed "s|^|  artifact $artifacts/|"
  else
    echo "fuzz_$h: ${execs:-?} executions in ${secs}s, no crashes"
  fi
done
exit $failed
