#!/usr/bin/env bash
# The GloVe anchor of issue 12: Kim-CNN on SST-2 with static GloVe 6B 100-d, base (--no-mask,
# dropout 0.5 as the PyTorch anchor) and VMASK (mask hidden 500, dropout 0.2 as the paper), Adam
# 1e-3, batch 50, best-on-dev, --max-len 50. Prints each run's vmaskc output and a summary line;
# the PyTorch anchor reached 81.3% test accuracy (best dev epoch 12).
#
#   bench/paper/anchor.sh [--vmaskc build/vmaskc] [--seeds "1 2 3"] [--epochs 20] [--threads 1] [--out DIR]
#                         [--pad-conv] [--train-vocab]
# --pad-conv: Kim's (2014) 4 zero vectors on both sides of every text before the convolutions
# (make_model.py --pad-conv); --train-vocab: the vocabulary of train.tsv only. With both the base
# reaches the anchor (README: "Where the base gap comes from").
# Steps, each scriptable on its own: fetch_glove.py -> vmaskc vocab -> make_model.py -> vmaskc train --vectors.
# --threads 1 is faster than 2 on a machine shared with other jobs (no oversubscription).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../.." && pwd)
vmaskc=$repo/build/vmaskc; seeds="1"; epochs=20; threads=1; out=${TMPDIR:-/tmp}/vmaskc-anchor; pad=(); splits=(dev.tsv test.tsv)
data=${VMASKC_DATA:-/work/shared/data}/sst2
while [ $# -gt 0 ]; do
  case "$1" in
    --vmaskc) vmaskc=$2; shift 2 ;; --seeds) seeds=$2; shift 2 ;; --epochs) epochs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;; --out) out=$2; shift 2 ;;
    --pad-conv) pad=(--pad-conv); shift ;; --train-vocab) splits=(); shift ;;
    *) sed -n '2,15p' "$0"; exit 2 ;;
  esac
done
mkdir -p "$out"
glove=$(/usr/bin/python3 "$here/fetch_glove.py")
# the paper's SST vocabulary: all three splits, no frequency threshold (README: the paper's data handling)
"$vmaskc" vocab "$data/train.tsv" "${splits[@]/#/$data/}" -o "$out/vocab.txt" --vectors "$glove"
/usr/bin/python3 "$here/make_model.py" --model cnn --vocab "$out/vocab.txt" --classes 2 --emb 100 "${pad[@]}" -o "$out/cnn.onnx"
common=(--vocab "$out/vocab.txt" --train "$data/train.tsv" --dev "$data/dev.tsv" --test "$data/test.tsv" --vectors "$glove"
        --epochs "$epochs" --batch 50 --lr 1e-3 --max-len 50 --threads "$threads")
for seed in $seeds; do
  "$vmaskc" train "$out/cnn.onnx" "${common[@]}" --seed "$seed" --no-mask --dropout 0.5 -o "$out/base.s$seed.onnx" \
    --history "$out/base.s$seed.csv" | tee "$out/base.s$seed.log"
  "$vmaskc" train "$out/cnn.onnx" "${common[@]}" --seed "$seed" --mask-hidden 500 --dropout 0.2 -o "$out/vmask.s$seed.onnx" \
    --history "$out/vmask.s$seed.csv" | tee "$out/vmask.s$seed.log"
done
for f in "$out"/base.s*.log "$out"/vmask.s*.log; do
  printf '%s: %s\n' "$(basename "$f" .log)" "$(grep -o 'best dev accuracy.*test accuracy [0-9.]*%' "$f")"
done
