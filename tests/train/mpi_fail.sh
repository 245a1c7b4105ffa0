#!/usr/bin/env bash
# Data-parallel training (issue 16) when something goes wrong, bounded by timeout so a hang fails:
#  - one process gets a malformed data line (mpirun's MPMD form gives process 1 another --train):
#    every process stops, the exit is non-zero, the message names process 1 and file:line, and
#    no model is written;
#  - SIGINT to one process: the processes agree on the step, process 0 saves one checkpoint and no
#    model is written; the checkpoint resumes under another number of processes.
# Skipped (77) without mpirun or when vmaskc was built without MPI.
# usage: mpi_fail.sh VMASKC REPO_DIR HAVE_MPI(0|1)
set -u
vmaskc=$1; repo=$2; have=${3:-0}
. "$repo/tests/mpi_env.sh" "$have" # exit 77 without MPI; sets mpi=(mpirun ...)
d=$repo/tests/train; model=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0

(head -5 "$d/train.tsv"; printf 'notalabel\tw1 w2\n'; tail -n +6 "$d/train.tsv") > "$tmp/bad.tsv"
c=(train "$model" --vocab "$d/vocab.txt" --dev "$d/dev.tsv" --epochs 1 --batch 32 --seed 5 --threads 1 -o "$tmp/f.onnx")
timeout 60 "${mpi[@]}" -np 1 "$vmaskc" "${c[@]}" --train "$d/train.tsv" : -np 1 "$vmaskc" "${c[@]}" --train "$tmp/bad.tsv" > "$tmp/f.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "error: process 1 of 2: $tmp/bad.tsv:6: label 'notalabel'" "$tmp/f.out" && [ ! -e "$tmp/f.onnx" ]; then
  echo "ok: a bad line on process 1 stops every process (exit $rc) with its message"
else echo "FAIL: bad line on one process: exit $rc (124 = hung), message or output wrong"; cat "$tmp/f.out"; fail=1; fi

# SIGINT to one of the processes (mpirun's own Ctrl-C handling is Open MPI's: SIGTERM, then SIGKILL
# after odls_base_sigkill_timeout; README): all stop after the same step, process 0 saves one
# checkpoint, nobody writes a model. Many epochs of small batches, interrupted after the first.
c=(train "$model" --vocab "$d/vocab.txt" --train "$d/train.tsv" --dev "$d/dev.tsv" --epochs 100 --batch 8 --seed 5 --threads 1
   -o "$tmp/s.onnx" --checkpoint "$tmp/s.ckpt" --top 0)
timeout 90 "${mpi[@]}" -np 2 "$vmaskc" "${c[@]}" > "$tmp/s.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q '^epoch 1/100' "$tmp/s.out" && break; sleep 0.1; done
runner=$(pgrep -P $pid | head -1) # timeout's child: mpirun
kids=$([ -n "$runner" ] && pgrep -P "$runner" -d ' ' || true) # the vmaskc processes mpirun started
victim=${kids##* }
[ -n "$victim" ] && kill -INT "$victim"
wait $pid
rc=$?
if [ -n "$victim" ] && [ $rc -eq 130 ] && [ "$(grep -c 'checkpoint saved to' "$tmp/s.out")" = 1 ] && [ -s "$tmp/s.ckpt" ] && [ ! -e "$tmp/s.onnx" ]; then
  echo "ok: SIGINT to process $victim of ($kids) stops all with one checkpoint (exit $rc): $(grep -o 'interrupted at [^;]*' "$tmp/s.out")"
else echo "FAIL: SIGINT to one process ('$victim' of '$kids'): exit $rc, expected 130, one checkpoint message, a checkpoint and no model"; cat "$tmp/s.out"; fail=1; fi
# it resumes under 3 processes (the first steps show it goes on where it stopped)
timeout 90 "${mpi[@]}" -np 3 "$vmaskc" "${c[@]}" --resume --stop-after-steps 2 > "$tmp/r.out" 2>&1
rc=$?
if [ $rc -eq 130 ] && grep -q "^resuming from $tmp/s.ckpt" "$tmp/r.out"; then echo "ok: the checkpoint resumes under 3 processes"
else echo "FAIL: resuming the interrupted run under 3 processes (exit $rc)"; cat "$tmp/r.out"; fail=1; fi
exit $fail
