#!/usr/bin/env bash
# Data-parallel training benchmark (issue 16 point 6): epoch time and bytes summed per step for
# `mpirun -np N vmaskc train` at N = 1, 2, 4 (4 oversubscribes a 2-core machine: it shows the
# overhead, not a speed-up) on the SST-2 CNN and LSTM (bench/make_models.py) and the BERT-mini
# graph (bench/bert/make_bert.py). Writes RESULTS (a TSV, one row per run); bench/mpi/report.py
# turns it into bench/mpi/README.md with the ring-allreduce scaling model.
#
#   /usr/bin/python3 bench/make_models.py --out OUT --models cnn,lstm --shapes 2x8
#   /usr/bin/python3 bench/bert/make_bert.py --out OUT/bert --models mini
#   bench/mpi/run.sh VMASKC OUT SST2_DIR [RESULTS] [N_TRAIN]
#
# Each run trains 2 epochs on the first N_TRAIN (default 1500) SST-2 training sentences (BERT-mini:
# make_bert.py's 200 texts), batch 50 (BERT-mini 32), 1 oneDNN thread per process, and records
# epoch 2's training seconds (epoch 1 also builds every batch shape).
set -eu
vmaskc=$1; out=$2; sst=$3; res=${4:-bench/mpi/results/results.tsv}; ntrain=${5:-1500}
mkdir -p "$(dirname "$res")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mpi=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi=(mpirun --oversubscribe --allow-run-as-root)
head -n "$ntrain" "$sst/train.tsv" > "$tmp/train.tsv"
head -n 200 "$sst/dev.tsv" > "$tmp/dev.tsv"
"$vmaskc" vocab "$sst/train.tsv" "$sst/dev.tsv" "$sst/test.tsv" --max-size 15998 -o "$tmp/vocab.txt" > /dev/null
printf 'model\tnproc\tbatch\tn_train\tepoch_train_s\tsent_per_s\tbytes_per_step\tsteps\tbuckets_early\tload_avg\n' > "$res"
for model in cnn lstm bert_mini; do
  case $model in
    bert_mini) m=$out/bert/mini/model.onnx; args=(--vocab "$out/bert/vocab.txt" --train "$out/bert/train.tsv" --dev "$out/bert/dev.tsv" --batch 32); n=$(wc -l < "$out/bert/train.tsv") ;;
    *) m=$out/$model/model.onnx; args=(--vocab "$tmp/vocab.txt" --train "$tmp/train.tsv" --dev "$tmp/dev.tsv" --batch 50); n=$ntrain ;;
  esac
  for np in 1 2 4; do
    cmd=("$vmaskc" train "$m" "${args[@]}" --epochs 2 --lr 1e-3 --seed 1 --threads 1 --top 0 -o "$tmp/o.onnx" --history "$tmp/h.csv")
    [ "$np" -gt 1 ] && cmd=("${mpi[@]}" -np "$np" "${cmd[@]}")
    echo "== $model N=$np: ${cmd[*]}" >&2
    "${cmd[@]}" > "$tmp/run.out" 2>&1 || { cat "$tmp/run.out" >&2; exit 1; }
    secs=$(awk -F, 'NR == 3 { print $7 }' "$tmp/h.csv")
    bps=$(sed -n 's/^data-parallel: .* summed \([0-9.]*\) MiB of gradients per step (\([0-9]*\) steps).*/\1/p' "$tmp/run.out")
    steps=$(sed -n 's/^data-parallel: .* summed [0-9.]* MiB of gradients per step (\([0-9]*\) steps).*/\1/p' "$tmp/run.out")
    early=$(sed -n 's/.*; \([0-9]* of [0-9]*\) buckets started during the backward pass$/\1/p' "$tmp/run.out")
    [ -n "$bps" ] && bps=$(awk -v m="$bps" 'BEGIN { printf "%.0f", m * 1048576 }') || bps=0
    [ -n "$steps" ] || steps=$(( (n + ${args[-1]} - 1) / ${args[-1]} * 2 ))
    load=$(cut -d' ' -f1 /proc/loadavg)
    printf '%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n' "$model" "$np" "${args[-1]}" "$n" "$secs" \
      "$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')" "$bps" "$steps" "${early:--}" "$load" >> "$res"
    tail -1 "$res" >&2
  done
done
