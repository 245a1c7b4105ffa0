#!/usr/bin/env bash
# Model tests: every PyTorch-exported fixture in tests/fixtures/models (both data sets, two input
# shapes) must match PyTorch's outputs within max abs error 1e-4, with oneDNN kernels and with the
# C reference kernels; the compiled plan must give bit-identical outputs to running the ONNX file.
#
# usage: run_fixtures.sh VMASKC FIXTURE_DIR [NAME_GLOB]
set -u
vmaskc=$1; fixtures=$2; glob=${3:-*}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0; failed=()
for dir in "$fixtures"/$glob/; do
  name=$(basename "$dir")
  [ -f "$dir/model.onnx" ] || continue
  ok=1
  if ! out=$("$vmaskc" compile "$dir/model.onnx" -o "$tmp/$name.vmplan" 2>&1); then
    ok=0; echo "FAIL $name compile: $out"
  fi
  for set in "$dir"/test_data_set_*; do
    s=${set##*/}
    for mode in "" "--reference-kernels"; do
      if ! out=$("$vmaskc" run "$dir/model.onnx" --test-data "$set" --atol 1e-4 --rtol 0 --out "$tmp/$name.$s.onnx$mode" $mode 2>&1); then
        ok=0; echo "FAIL $name $s ${mode:-oneDNN}:"; echo "$out" | sed 's/^/    /' | head -6
      fi
    done
    if [ $ok = 1 ]; then
      if ! out=$("$vmaskc" run "$tmp/$name.vmplan" --test-data "$set" --atol 1e-4 --rtol 0 --out "$tmp/$name.$s.plan" 2>&1); then
        ok=0; echo "FAIL $name $s plan:"; echo "$out" | sed 's/^/    /' | head -6
      elif ! cmp -s "$tmp/$name.$s.plan/output_0.pb" "$tmp/$name.$s.onnx/output_0.pb"; then
        ok=0; echo "FAIL $name $s: plan output differs from ONNX-file output (must be bit-identical)"
      fi
    fi
  done
  if [ $ok = 1 ]; then pass=$((pass+1)); else fail=$((fail+1)); failed+=("$name"); fi
done
echo "model fixtures: $pass passed, $fail failed"
[ $fail -eq 0 ] || { printf 'failed: %s\n' "${failed[@]}"; exit 1; }
