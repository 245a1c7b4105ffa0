#!/usr/bin/env bash
# Data-parallel training (issue 16) when something goes wrong, bounded by timeout so a hang fails:
#  - two of three processes get a malformed data line (mpirun's MPMD form gives processes 1 and 2
#    another --train): every process stops, the exit is non-zero, the message is printed once,
#    naming process 1 (and one other) and file:line, and no model is written;
#  - an error every process hits (a missing file) is printed once, as one process prints it;
#  - processes whose parameters differ (another --lr on one) stop at the next checksum comparison;
#  - SIGINT to one process: the processes agree on the step, process 0 saves one checkpoint and no
#    model is written; the checkpoint resumes under another number of processes.
#    (Ctrl-C on mpirun itself: mpi_ctrlc.sh.)
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
timeout 120 "${mpi[@]}" -np 1 "$vmaskc" "${c[@]}" --train "$d/train.tsv" : -np 2 "$vmaskc" "${c[@]}" --train "$tmp/bad.tsv" > "$tmp/f.out" 2>&1
rc=$?
if [ $rc -eq 3 ] && [ "$(grep -c 'error:' "$tmp/f.out")" = 1 ] && [ ! -e "$tmp/f.onnx" ] &&
   grep -q "^vmaskc train: error: process 1 of 3 (and 1 other process): $tmp/bad.tsv:6: label 'notalabel'" "$tmp/f.out"; then
  echo "ok: a bad line on processes 1 and 2 stops every process (exit $rc) with its message, printed once"
else echo "FAIL: bad line on two of three processes: exit $rc (want 3; 124 = hung), message not printed exactly once or output written"
  cat "$tmp/f.out"; fail=1; fi

timeout 120 "${mpi[@]}" -np 3 "$vmaskc" "${c[@]}" --train "$tmp/missing.tsv" > "$tmp/m.out" 2>&1
rc=$?
"$vmaskc" "${c[@]}" --train "$tmp/missing.tsv" > "$tmp/m1.out" 2>&1
if [ $rc -eq 3 ] && [ "$(grep -c 'error:' "$tmp/m.out")" = 1 ] && grep -qxF "$(grep 'error:' "$tmp/m1.out")" "$tmp/m.out" &&
   grep -q missing.tsv "$tmp/m1.out"; then
  echo "ok: an error every process hits is printed once, as one process prints it: $(grep 'error:' "$tmp/m.out" | sed "s|$tmp/||")"
else echo "FAIL: a missing file under 3 processes: exit $rc (want 3), the error must be printed once, as one process prints it"
  cat "$tmp/m.out" "$tmp/m1.out"; fail=1; fi

# processes that no longer hold the same parameters (here: process 1 runs with another --lr) are
# caught by the parameter checksums compared every 100 steps and after the last: exit 4, one
# message, no model
c=(train "$model" --vocab "$d/vocab.txt" --train "$d/train.tsv" --dev "$d/dev.tsv" --epochs 1 --batch 32 --seed 5 --threads 1 --top 0
   -o "$tmp/dv.onnx" --stop-after-steps 3) # the last step before a stop is compared too
timeout 120 "${mpi[@]}" -np 1 "$vmaskc" "${c[@]}" --lr 0.01 : -np 1 "$vmaskc" "${c[@]}" --lr 0.02 > "$tmp/dv.out" 2>&1
rc=$?
if [ $rc -eq 4 ] && [ "$(grep -c 'error:' "$tmp/dv.out")" = 1 ] && [ ! -e "$tmp/dv.onnx" ] &&
   grep -q "error: data-parallel: after epoch 1, step 3 the parameters of process 1 differ from process 0's" "$tmp/dv.out"; then
  echo "ok: processes that diverged stop (exit $rc) with one message"
else echo "FAIL: diverged processes: exit $rc (want 4; 124 = hung), one message naming process 1 and step 3, no model"; cat "$tmp/dv.out"; fail=1; fi

# SIGINT to one of the processes (Ctrl-C on mpirun itself: mpi_ctrlc.sh): all stop after the same
# step, process 0 saves one checkpoint (at once when the signal is its own), nobody writes a model. Many epochs of small batches, interrupted after the first.
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
