#!/usr/bin/env bash
# Ctrl-C on mpirun itself (issue 16): Open MPI answers SIGINT by sending every process SIGCONT,
# SIGTERM a second later and SIGKILL odls_base_sigkill_timeout (1 s) after that. Process 0 must
# still leave exactly one complete checkpoint each time: three runs of two processes are stopped by
# SIGINT to mpirun at a random moment, each resuming the last one's checkpoint, while an
# uninterrupted run's two processes load the machine (2 cores in CI: 4 busy processes); a last run
# finishes, and its history and export must be byte-identical to an uninterrupted run's. Each
# interrupted run must print one 'checkpoint saved to' line naming a position, the next run must
# resume from that very position, no temporary file may be left and no model written.
# Skipped (77) without mpirun or when vmaskc was built without MPI.
# usage: mpi_ctrlc.sh VMASKC REPO_DIR HAVE_MPI(0|1)
set -u
vmaskc=$1; repo=$2; have=${3:-0}
. "$repo/tests/mpi_env.sh" "$have" # exit 77 without MPI; sets mpi=(mpirun ...)
d=$repo/tests/train; model=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
head -200 "$d/train.tsv" > "$tmp/train.tsv" # 25 steps of 8 per epoch: many epochs, short runs
# mpirun passes SIGTERM on 1 to 4 s after the SIGINT (measured on a quiet machine), so a run must still
# be training then: each round is interrupted 1 to 3 epochs after it starts (or resumes), with the
# rest of the run (> 10 s: an epoch is ~0.014 s on a quiet machine, ~10x that under ASan) ahead
epochs=1000; [ -n "${ASAN_OPTIONS:-}" ] && epochs=150
c=(train "$model" --vocab "$d/vocab.txt" --train "$tmp/train.tsv" --dev "$d/dev.tsv" --epochs $epochs --batch 8 --seed 5
   --threads 1 --top 0)

# the uninterrupted run, meanwhile: its two processes load the machine while the others are stopped
# (its 1000 epochs take ~15 s on a quiet machine; 280 s under a load average of 8 — another suite,
# builds and a study at once — did not suffice, so the reference and the last run get 560 s)
timeout 560 "${mpi[@]}" -np 2 "$vmaskc" "${c[@]}" -o "$tmp/ref.onnx" --history "$tmp/ref.csv" > "$tmp/ref.out" 2>&1 &
ref=$!

r=(-o "$tmp/s.onnx" --history "$tmp/s.csv" --checkpoint "$tmp/s.ckpt" --resume)
want="" # the position the last interrupted run saved, as 'epoch E, step S'
for round in 1 2 3; do
  out=$tmp/round$round.out
  timeout 280 "${mpi[@]}" -np 2 "$vmaskc" "${c[@]}" "${r[@]}" > "$out" 2>&1 &
  pid=$!
  # training has started when process 0 says where it starts; interrupted 1 to 3 epochs later
  for _ in $(seq 1 2400); do grep -q '^resuming from\|^no checkpoint at' "$out" && break; sleep 0.05; done
  from=$(sed -n 's/^resuming from .* at epoch \([0-9]*\), step .*/\1/p' "$out"); from=${from:-1}
  until_epoch=$((from + 1 + RANDOM % 3))
  for _ in $(seq 1 2400); do grep -q "^epoch $until_epoch/" "$out" && break; sleep 0.05; done
  runner=$(pgrep -P $pid -x mpirun | head -1) # timeout's child
  [ -n "$runner" ] && kill -INT "$runner"
  wait $pid
  rc=$?
  # a fast machine: the run finished (and exported) before mpirun's SIGTERM reached it — mpirun may
  # still exit 1 when the SIGINT came while it was shutting down; once a round was interrupted, enough
  if [ $round != 1 ] && [ -e "$tmp/s.onnx" ] && grep -q '^exported ' "$out" && ! grep -q 'checkpoint saved to' "$out"; then
    echo "ok: round $round: the run finished before mpirun's SIGTERM came (exit $rc; SIGINT sent at epoch $until_epoch of $epochs); the rounds before were interrupted"; break
  fi
  start=$(sed -n 's/^resuming from .* at \(epoch [0-9]*, step [0-9]*\)$/\1/p' "$out")
  [ $round = 1 ] && grep -q '^no checkpoint at' "$out" && start=first
  saved=$(grep -c 'checkpoint saved to' "$out")
  # process 0 saved at once ('checkpoint saved to PATH (epoch E, step S; ...)' or '(the end of epoch E; ...)'),
  # or the processes agreed on stopping first ('interrupted at epoch E, step S; checkpoint saved to PATH')
  at=$(sed -n -e 's/.*checkpoint saved to [^ ]* (\(the end of \)\{0,1\}\([^;]*\);.*/\2/p' \
              -e 's/.*interrupted at \(epoch [0-9]*, step [0-9]*\); checkpoint saved to.*/\1/p' "$out")
  litter=$(ls "$tmp" | grep -c '^s\..*\.tmp\.') # this run's (the reference run writes ref.* beside it)
  if [ -n "$runner" ] && [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$saved" = 1 ] && [ -s "$tmp/s.ckpt" ] && [ ! -e "$tmp/s.onnx" ] &&
     [ "$litter" = 0 ] && { [ $round = 1 ] && [ "$start" = first ] || [ "$start" = "$want" ]; }; then
    echo "ok: round $round: SIGINT to mpirun (exit $rc) left one checkpoint ($(grep -o 'checkpoint saved to.*' "$out" | sed "s|$tmp/||"))"
  else
    echo "FAIL: round $round: SIGINT to mpirun '$runner': exit $rc (124 = hung), $saved checkpoint lines (want 1), $litter temporary files,"
    echo "  started at '$start' (want '${want:-first}'); model written: $([ -e "$tmp/s.onnx" ] && echo yes || echo no)"
    [ "$litter" = 0 ] || echo "  temporary files: $(ls "$tmp" | grep '^s\..*\.tmp\.' | tr '\n' ' ')"
    [ $rc -eq 0 ] && echo "  (the run ended before mpirun's SIGTERM came: this machine needs more --epochs here)"
    cat "$out"; fail=1
  fi
  want=$at
  # the end of epoch E resumes at epoch E+1, step 0; the start of training (no step done) at epoch 1
  [[ $want == epoch* && $want != *step* ]] && want="epoch $((${want#epoch } + 1)), step 0"
  [ "$want" = "the start of training" ] && want="epoch 1, step 0"
done

wait $ref || { echo "FAIL: the uninterrupted run"; cat "$tmp/ref.out"; exit 1; }
[ -e "$tmp/s.onnx" ] || timeout 560 "${mpi[@]}" -np 2 "$vmaskc" "${c[@]}" "${r[@]}" > "$tmp/last.out" 2>&1 ||
  { echo "FAIL: the last resumed run"; cat "$tmp/last.out"; exit 1; }
if cmp -s <(cut -d, -f1-5 "$tmp/ref.csv") <(cut -d, -f1-5 "$tmp/s.csv") && cmp -s "$tmp/ref.onnx" "$tmp/s.onnx"; then
  echo "ok: interrupted and resumed, the history and the export are byte-identical to the uninterrupted run's"
else
  echo "FAIL: the resumed run differs from the uninterrupted one"; diff <(cut -d, -f1-5 "$tmp/ref.csv") <(cut -d, -f1-5 "$tmp/s.csv"); fail=1
fi
exit $fail
