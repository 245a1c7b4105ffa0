#!/usr/bin/env bash
# Step checkpoints survive kill -9: on the synthetic task (tests/train, run.sh's model and options),
#  - step- and time-triggered checkpoints leave the run's numbers unchanged (saving only reads);
#  - three times, a run with --checkpoint-every 1 is SIGKILLed at random moments (1 to 3 times),
#    then resumed with --resume until it completes; the exported model must equal the
#    uninterrupted reference byte for byte and the history CSV must match (timing columns aside).
#    A kill before the first checkpoint restarts from scratch; a kill during a checkpoint write
#    leaves the previous checkpoint and a temporary, which the next run removes;
#  - a checkpoint is not resumed with other loop options (here --batch).
# Kills are timed as a random fraction of the reference run's duration (via `timeout -s KILL`, so
# no pid can be reused under us); on a slow machine they land earlier, which is still a valid
# test. One kill per run waits for the first checkpoint so a mid-epoch resume always happens.
# Reproduce a failure with KILL_SEED=<printed seed>.
# usage: kill_resume.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
d=$repo/tests/train; model=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
seed=${KILL_SEED:-$(( $(date +%s%N) % 1000000 ))}
RANDOM=$seed
echo "kill seed $seed (rerun with KILL_SEED=$seed)"
fail=0
# 20 epochs: the best dev accuracy comes before the last epoch, so the best-on-dev snapshot in the
# checkpoint matters; --threads 1 keeps a loaded 2-core machine from stalling OpenMP barriers
common=(--vocab "$d/vocab.txt" --train "$d/train.tsv" --dev "$d/dev.tsv" --test "$d/test.tsv" --epochs 20 --batch 32 --lr 0.01
        --mask-hidden 16 --seed 5 --threads 1)
hist() { cut -d, -f1-5 "$1"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# the reference, without mid-epoch checkpoints
"$vmaskc" train "$model" "${common[@]}" --checkpoint-minutes 0 -o "$tmp/ref.onnx" --history "$tmp/ref.csv" > "$tmp/ref.out" 2>&1 ||
  { echo "FAIL: reference run"; cat "$tmp/ref.out"; exit 1; }
# every step checkpointed, then a time trigger firing every few milliseconds: same numbers
t0=$(now_ms)
"$vmaskc" train "$model" "${common[@]}" --checkpoint-every 1 -o "$tmp/steps.onnx" --history "$tmp/steps.csv" > "$tmp/steps.out" 2>&1 ||
  { echo "FAIL: run with --checkpoint-every 1"; cat "$tmp/steps.out"; exit 1; }
dur=$(( $(now_ms) - t0 ))
"$vmaskc" train "$model" "${common[@]}" --checkpoint-minutes 0.00005 -o "$tmp/timed.onnx" --history "$tmp/timed.csv" > "$tmp/timed.out" 2>&1 ||
  { echo "FAIL: run with --checkpoint-minutes 0.00005"; cat "$tmp/timed.out"; exit 1; }
for r in steps timed; do
  if cmp -s "$tmp/ref.onnx" "$tmp/$r.onnx" && cmp -s <(hist "$tmp/ref.csv") <(hist "$tmp/$r.csv"); then :
  else echo "FAIL: checkpoints ($r) changed the run"; diff <(hist "$tmp/ref.csv") <(hist "$tmp/$r.csv"); fail=1; fi
done
n_timed=$(grep -c "^checkpoint at epoch" "$tmp/timed.out")
if [ "$n_timed" -ge 1 ]; then echo "ok: step and time checkpoints ($n_timed timed) leave model and history unchanged (run ${dur} ms)"
else echo "FAIL: --checkpoint-minutes 0.00005 wrote no mid-epoch checkpoint"; cat "$tmp/timed.out"; fail=1; fi

mid=0
for trial in 1 2 3; do
  w=$tmp/t$trial; mkdir "$w"
  args=("$model" "${common[@]}" --checkpoint-every 1 -o "$w/m.onnx" --history "$w/m.csv" --checkpoint "$w/m.ckpt" --resume)
  kills=$(( RANDOM % 3 + 1 )); log="trial $trial:"
  for ((k = 0; k <= kills; k++)); do
    if [ $k -eq 1 ]; then
      # what a writer killed mid-checkpoint leaves (named with the pid of a finished process)
      ( : ) & dead=$!; wait $dead; echo torn > "$w/m.ckpt.tmp.$dead"
    fi
    if [ $k -eq 0 ] && [ $trial -eq 1 ]; then
      # kill right after the first checkpoint appears (its process is then mid-run)
      "$vmaskc" train "${args[@]}" > "$w/run$k.out" 2>&1 & pid=$!
      for ((i = 0; i < 3000; i++)); do [ -e "$w/m.ckpt" ] || ! kill -0 $pid 2>/dev/null && break; sleep 0.01; done
      kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; rc=$?; log+=" kill at first checkpoint (rc $rc)"
    elif [ $k -lt $kills ]; then
      ms=$(( dur * (5 + RANDOM % 96) / 100 ))
      # --foreground: timeout kills only vmaskc and reports 137 itself (no "Killed" notice from bash)
      timeout --foreground -s KILL "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))" "$vmaskc" train "${args[@]}" > "$w/run$k.out" 2>&1; rc=$?
      log+=" kill after ${ms} ms (rc $rc)"
    else
      "$vmaskc" train "${args[@]}" > "$w/run$k.out" 2>&1; rc=$?; log+=" run to the end (rc $rc)"
    fi
    from=$(sed -n 's/^resuming from .* at epoch \([0-9]*\), step \([0-9]*\)$/epoch \1 step \2/p' "$w/run$k.out")
    [ -n "$from" ] && log+=" [had resumed at $from]"
    case $from in *" step 0") ;; "") ;; *) mid=$((mid + 1)) ;; esac
    [ $rc -eq 0 ] && break
    # 124: the timer fired while vmaskc was exiting on its own; its outputs are still whole
    if [ $rc -ne 137 ] && [ $rc -ne 124 ]; then echo "FAIL: $log: unexpected exit"; cat "$w/run$k.out"; fail=1; break; fi
  done
  echo "$log"
  [ $rc -eq 0 ] || { echo "FAIL: trial $trial did not complete"; fail=1; continue; }
  if cmp -s "$tmp/ref.onnx" "$w/m.onnx" && cmp -s <(hist "$tmp/ref.csv") <(hist "$w/m.csv"); then echo "ok: trial $trial matches the uninterrupted run"
  else echo "FAIL: trial $trial differs from the uninterrupted run"; diff <(hist "$tmp/ref.csv") <(hist "$w/m.csv"); fail=1; fi
  left=$(ls "$w" | grep '\.tmp\.' | tr '\n' ' ')
  [ -z "$left" ] || { echo "FAIL: trial $trial left temporaries: $left"; fail=1; }
done
# a checkpoint only resumes the run that wrote it: other loop options are refused, not mixed in
out=$("$vmaskc" train "$model" "${common[@]}" --batch 16 -o "$tmp/t1/m.onnx" --checkpoint "$tmp/t1/m.ckpt" --resume 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && grep -q "other options or data" <<<"$out"; then echo "ok: resume with another --batch is refused"
else echo "FAIL: resume with another --batch: exit $rc: $out"; fail=1; fi
if [ $mid -ge 1 ]; then echo "ok: $mid resumes from a mid-epoch step checkpoint"
else echo "FAIL: no run resumed mid-epoch"; fail=1; fi
exit $fail
