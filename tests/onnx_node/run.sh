#!/usr/bin/env bash
# Runs the official ONNX backend node tests (Debian's libonnx-testdata) listed in manifest files
# through `vmaskc run`, once with oneDNN kernels and once with the naive C reference kernels.
#
# usage: run.sh VMASKC MANIFEST...
# Manifest lines:   test_name [atol=A] [rtol=R]    run it (every test_data_set_*)
#                   !test_name reason...           excluded, with the reason printed
#                   # comment
# Exit: 0 all listed tests pass, 1 some failed, 77 test data not installed (ctest skip).
set -u
vmaskc=$1; shift
data=${VMASKC_NODE_DATA:-/usr/share/libonnx-testdata/data/node}
if [ ! -d "$data" ]; then
  echo "SKIP: ONNX node test data not found at $data (apt-get install libonnx-testdata)"
  exit 77
fi
pass=0; fail=0; excl=0; failed=()
for manifest in "$@"; do
  while read -r name rest; do
    case "$name" in ''|'#'*) continue ;; esac
    if [ "${name:0:1}" = "!" ]; then
      excl=$((excl+1)); echo "excluded ${name:1}: $rest"; continue
    fi
    atol=1e-4; rtol=1e-3
    for kv in $rest; do
      case "$kv" in atol=*) atol=${kv#atol=} ;; rtol=*) rtol=${kv#rtol=} ;; esac
    done
    dir=$data/$name
    if [ ! -f "$dir/model.onnx" ]; then
      fail=$((fail+1)); failed+=("$name (missing from the test data)"); continue
    fi
    ok=1
    for set in "$dir"/test_data_set_*; do
      for mode in "" "--reference-kernels"; do
        if ! out=$("$vmaskc" run "$dir/model.onnx" --test-data "$set" --atol "$atol" --rtol "$rtol" $mode 2>&1); then
          ok=0; echo "FAIL $name ${set##*/} ${mode:-oneDNN}:"; echo "$out" | sed 's/^/    /' | head -8
        fi
      done
    done
    if [ $ok = 1 ]; then pass=$((pass+1)); else fail=$((fail+1)); failed+=("$name"); fi
  done < "$manifest"
done
echo "onnx-node: $pass passed, $fail failed, $excl excluded"
[ $fail -eq 0 ] || { printf 'failed: %s\n' "${failed[@]}"; exit 1; }
