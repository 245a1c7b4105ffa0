#!/usr/bin/env bash
# `explain` and `compare` under mpirun (issue 16 point 4): the texts are split over 3 processes
# and gathered in order, so every report file (explanations.jsonl, summary.jsonl/.csv, aopc.csv,
# posthoc.csv, splime.csv, report.html) is byte-identical to one process's (summary.jsonl apart from
# each method's seconds: its examples and forward passes are summed over the processes), and the console tables
# too apart from the timing and model-run lines (per process); an error every process hits (a
# missing --data) is printed once. Skipped (77) without mpirun or an MPI build.
# usage: mpi.sh VMASKC REPO_DIR HAVE_MPI(0|1)
set -u
vmaskc=$1; repo=$2; have=${3:-0}
. "$repo/tests/mpi_env.sh" "$have" # exit 77 without MPI; sets mpi=(mpirun ...)
d=$repo/tests/train; model=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
t=(train "$model" --vocab "$d/vocab.txt" --train "$d/train.tsv" --dev "$d/dev.tsv" --epochs 2 --batch 32 --lr 0.01 --seed 5 --threads 1 --top 0)
"$vmaskc" "${t[@]}" --mask-hidden 16 -o "$tmp/vm.onnx" > "$tmp/t1.out" 2>&1 &&
  "$vmaskc" "${t[@]}" --no-mask -o "$tmp/base.onnx" > "$tmp/t2.out" 2>&1 || { echo "FAIL: training"; cat "$tmp"/t*.out; exit 1; }
xo=(--data "$d/test.tsv" --samples 200 --permutations 5 --threads 1 --limit 13)
for cmd in explain compare; do
  models=("$tmp/vm.onnx"); [ $cmd = compare ] && models=("$tmp/base.onnx" "$tmp/vm.onnx")
  "$vmaskc" $cmd "${models[@]}" "${xo[@]}" --method all --report "$tmp/${cmd}1" > "$tmp/${cmd}1.out" 2>&1 || { echo "FAIL: $cmd"; cat "$tmp/${cmd}1.out"; fail=1; continue; }
  timeout 120 "${mpi[@]}" -np 3 "$vmaskc" $cmd "${models[@]}" "${xo[@]}" --method all --report "$tmp/${cmd}3" > "$tmp/${cmd}3.out" 2>&1 ||
    { echo "FAIL: mpirun -np 3 $cmd"; cat "$tmp/${cmd}3.out"; fail=1; continue; }
  n=0
  for f in "$tmp/${cmd}1"/*; do
    # the progress of an interruptible run (--resume) is written by one process only
    if [ "$(basename "$f")" = progress.bin ]; then
      [ -e "$tmp/${cmd}3/progress.bin" ] && { echo "FAIL $cmd: progress.bin written under 3 processes"; fail=1; }
      continue
    fi
    n=$((n + 1))
    if [ "$(basename "$f")" = summary.jsonl ]; then
      # identical apart from each method's seconds (examples and forward passes are summed over the processes)
      nosecs() { sed 's/"seconds":[-+.0-9eE]*,//g' "$1"; }
      grep -q '"cost":{"[a-z]*":{"examples":[0-9]*,"seconds":[-+.0-9eE]*,"forward_passes":[1-9]' "$f" || { echo "FAIL $cmd: summary.jsonl has no cost"; fail=1; }
      cmp -s <(nosecs "$f") <(nosecs "$tmp/${cmd}3/summary.jsonl") || { echo "FAIL $cmd: summary.jsonl differs under 3 processes"; fail=1; }
      continue
    fi
    cmp -s "$f" "$tmp/${cmd}3/$(basename "$f")" || { echo "FAIL $cmd: $(basename "$f") differs under 3 processes"; fail=1; }
  done
  # the console without progress and timing lines (explanations/s)
  strip() { grep -v -e '^\(explain\|compare\): model' -e 'explanations/s' -e ' model runs; ' -e '^wrote ' "$1"; }
  if ! cmp -s <(strip "$tmp/${cmd}1.out") <(strip "$tmp/${cmd}3.out"); then
    echo "FAIL $cmd: console output differs"; diff <(strip "$tmp/${cmd}1.out") <(strip "$tmp/${cmd}3.out") | head; fail=1
  elif [ $n -ge 6 ]; then echo "ok $cmd: $n report files and the console identical under 3 processes"
  else echo "FAIL $cmd: only $n report files"; fail=1; fi
done
# an error every process hits (a missing --data) is printed once, and no report folder is left
timeout 120 "${mpi[@]}" -np 3 "$vmaskc" explain "$tmp/vm.onnx" --data "$tmp/missing.tsv" --threads 1 --report "$tmp/rep" > "$tmp/m.out" 2>&1
rc=$?
if [ $rc -eq 3 ] && [ "$(grep -c 'error:' "$tmp/m.out")" = 1 ] && grep -q "^vmaskc explain: error: cannot open '$tmp/missing.tsv'" "$tmp/m.out" &&
   [ ! -e "$tmp/rep" ]; then echo "ok: a missing --data under 3 processes: exit 3, the error printed once, no report folder"
else echo "FAIL: a missing --data under 3 processes: exit $rc (want 3), the error once, no report folder"; cat "$tmp/m.out"; fail=1; fi
exit $fail
