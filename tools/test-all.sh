#!/bin/sh
# The whole test suite, as CI runs it: install dependencies, build (Release) and run every ctest
# label, then build with AddressSanitizer/UndefinedBehaviorSanitizer and run the suite again, then
# fuzz every reader of untrusted input briefly (tools/fuzz.sh).
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh --test
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest -j"$jobs" --output-on-failure)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVM_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
# oneDNN and libgomp are not instrumented; their one-time allocations are not leaks of ours.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
(cd build-asan && ctest -j"$jobs" --output-on-failure -LE "bench|slow")
# libFuzzer: 30 s per reader of untrusted input (tests/fuzz), one harness at a time.
tools/fuzz.sh --seconds 30 --seed 1
echo "all tests passed (Release, ASan/UBSan and fuzzing)"
