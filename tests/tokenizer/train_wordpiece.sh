#!/usr/bin/env bash
# A WordPiece vocabulary end to end: train detects it, the export records it (vmaskc.tokenizer),
# and predict / eval on the exported model encode as `tokenize --vocab` does ([CLS] pieces [SEP]).
# usage: train_wordpiece.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
d=$repo/tests/train; model=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
# the synthetic task's words w0..w49 as word-initial pieces, a few ## continuations, BERT's specials
{ printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n'; grep -v '^<' "$d/vocab.txt" | head -50; printf '##0\n##1\n##2\n##s\n'; } >"$tmp/wp.txt"
"$vmaskc" train "$model" --vocab "$tmp/wp.txt" --allow-short-vocab --train "$d/train.tsv" --dev "$d/dev.tsv" --epochs 1 --batch 32 --mask-hidden 8 \
  --threads 2 -o "$tmp/m.onnx" >"$tmp/train.out" 2>&1 || { echo "FAIL: train"; cat "$tmp/train.out"; exit 1; }
grep -q "wordpiece tokenizer, uncased" "$tmp/train.out" || { echo "FAIL: train did not detect WordPiece"; cat "$tmp/train.out"; fail=1; }
want=$(echo "W1 w2 w3s, foo" | "$vmaskc" tokenize --vocab "$tmp/wp.txt")
[ "$want" = "[CLS] w1 w2 w3 ##s [UNK] [UNK] [SEP]" ] || { echo "FAIL: tokenize gave '$want'"; fail=1; }
got=$("$vmaskc" predict "$tmp/m.onnx" "W1 w2 w3s, foo" | sed -n 's/^  token q://p' | sed 's/=[0-9.]*//g' | xargs)
[ "$got" = "[CLS] w1 w2 w3 ##s , foo [SEP]" ] || { echo "FAIL: predict on the export encodes as '$got'"; fail=1; }
"$vmaskc" eval "$tmp/m.onnx" --data "$d/dev.tsv" --max-len 8 >"$tmp/eval.out" 2>&1 || { echo "FAIL: eval"; cat "$tmp/eval.out"; fail=1; }
"$vmaskc" eval "$tmp/m.onnx" --data "$d/dev.tsv" --tokenizer words >"$tmp/eval2.out" 2>&1 || { echo "FAIL: eval --tokenizer words"; cat "$tmp/eval2.out"; fail=1; }
[ $fail -eq 0 ] && echo "ok: WordPiece detected by train, stored in the export, used by predict and eval"
exit $fail
