#!/usr/bin/env bash
# Data-parallel training (issue 16) on localhost: `mpirun -np N vmaskc train` with N = 1, 2, 3 ends
# with the model one process trains, for the same seed and global batch:
#  - the per-epoch history is the same (accuracies exactly, losses within 1e-5: float sums in
#    another order), and the exported models' probabilities on the test texts agree within 1e-4 —
#    for VMASK with dropout on a CNN ([B, T] ids; 600 examples in batches of 46, so the last batch
#    has 2 rows, fewer than 3 processes) and IBA on a time-major LSTM ([T, B] ids);
#  - only process 0 writes: one export, one history, and the progress lines once;
#  - --resume works with another N: stopped after 7 steps under 3 processes, resumed under 2;
# Skipped (77) without mpirun or when vmaskc was built without MPI.
# usage: mpi.sh VMASKC REPO_DIR HAVE_MPI(0|1)
set -u
vmaskc=$1; repo=$2; have=${3:-0}
. "$repo/tests/mpi_env.sh" "$have" # exit 77 without MPI; sets mpi=(mpirun ...)
d=$repo/tests/train; fx=$repo/tests/fixtures/models
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
cut -f2 "$d/test.tsv" > "$tmp/texts.txt"

# run NAME NPROC MODEL ARGS...: NPROC 0 = plain single process
run() {
  local name=$1 np=$2 model=$3; shift 3
  local cmd=("$vmaskc" train "$model" --vocab "$d/vocab.txt" --dev "$d/dev.tsv" --seed 5 --threads 1 --top 0 "$@"
             -o "$tmp/$name.onnx" --history "$tmp/$name.csv")
  [ "$np" -gt 0 ] && cmd=(timeout 120 "${mpi[@]}" -np "$np" "${cmd[@]}")
  "${cmd[@]}" > "$tmp/$name.out" 2>&1
}

# same NAME REF: history columns 1-5 equal (losses within 1e-5), probabilities within 1e-4
same() {
  local name=$1 ref=$2
  if ! paste -d, "$tmp/$ref.csv" "$tmp/$name.csv" | awk -F, 'NR == 1 { next } { n = NF / 2; if ($1 != $(n + 1) || $3 != $(n + 3) || $4 != $(n + 4) || $5 != $(n + 5)) bad = 1
        e = $2 - $(n + 2); if (e < 0) e = -e; if (e > 1e-5) bad = 1 } END { exit bad || NR < 2 }' ||
     [ "$(wc -l < "$tmp/$ref.csv")" != "$(wc -l < "$tmp/$name.csv")" ]; then
    echo "FAIL $name: history differs from $ref"; diff <(cut -d, -f1-5 "$tmp/$ref.csv") <(cut -d, -f1-5 "$tmp/$name.csv"); fail=1; return
  fi
  "$vmaskc" predict "$tmp/$ref.onnx" --file "$tmp/texts.txt" --digits 7 | grep -o 'probabilities.*' > "$tmp/$ref.p"
  "$vmaskc" predict "$tmp/$name.onnx" --file "$tmp/texts.txt" --digits 7 | grep -o 'probabilities.*' > "$tmp/$name.p"
  local diff
  diff=$(paste -d' ' "$tmp/$ref.p" "$tmp/$name.p" | awk '{ n = (NF - 2) / 2; for (i = 2; i <= n + 1; i++) { e = $i - $(i + n + 1); if (e < 0) e = -e; if (e > m) m = e } }
                                                       END { if (NR < 10) print "none"; else printf "%.2g", m + 0 }')
  if [ "$diff" != none ] && awk -v e="$diff" 'BEGIN { exit !(e <= 1e-4) }'; then echo "ok $name: same history as $ref, probabilities within $diff"
  else echo "FAIL $name: probabilities differ from $ref by $diff (> 1e-4)"; fail=1; fi
}

cnn=$fx/cnn_conv1d_reducemax_op13/model.onnx
vm=(--train "$d/train.tsv" --test "$d/test.tsv" --epochs 1 --batch 46 --lr 0.01 --mask-hidden 16 --dropout 0.2)
run cnn1 0 "$cnn" "${vm[@]}" || { echo "FAIL: single-process run"; cat "$tmp/cnn1.out"; exit 1; }
for np in 1 2 3; do
  if run cnn_np$np $np "$cnn" "${vm[@]}"; then same cnn_np$np cnn1; else echo "FAIL: mpirun -np $np"; cat "$tmp/cnn_np$np.out"; fail=1; fi
done
if [ "$(grep -c '^epoch 1/1' "$tmp/cnn_np3.out")" = 1 ] && [ "$(grep -c '^exported' "$tmp/cnn_np3.out")" = 1 ] &&
   grep -q '^data-parallel: 3 processes' "$tmp/cnn_np3.out"; then echo "ok: process 0 alone prints and exports"
else echo "FAIL: expected one progress line per epoch and one export line under 3 processes"; cat "$tmp/cnn_np3.out"; fail=1; fi

# a time-major LSTM ([T, B] token ids) with IBA's Gaussian noise
lstm=$fx/lstm_timemajor_max_op13/model.onnx
iba=(--train "$d/train.tsv" --epochs 1 --batch 32 --lr 0.01 --method iba --iba-beta 5)
if run lstm1 0 "$lstm" "${iba[@]}" && run lstm_np2 2 "$lstm" "${iba[@]}"; then same lstm_np2 lstm1
else echo "FAIL: LSTM IBA runs"; cat "$tmp/lstm1.out" "$tmp/lstm_np2.out"; fail=1; fi

# --resume with another number of processes: 3 processes stop after 7 steps, 2 finish
run res 3 "$cnn" "${vm[@]}" --checkpoint "$tmp/res.ckpt" --stop-after-steps 7
rc=$?
if [ $rc -ne 130 ] || [ ! -s "$tmp/res.ckpt" ] || [ -e "$tmp/res.onnx" ] || [ "$(grep -c 'checkpoint saved' "$tmp/res.out")" != 1 ]; then
  echo "FAIL: stopped run must exit 130 with one checkpoint message and no model (exit $rc)"; cat "$tmp/res.out"; fail=1
elif run res 2 "$cnn" "${vm[@]}" --checkpoint "$tmp/res.ckpt" --resume; then
  same res cnn1
else echo "FAIL: resume under 2 processes"; cat "$tmp/res.out"; fail=1; fi
exit $fail
