#!/usr/bin/env bash
# A text longer than the model can take in memory fails fast (issue 14 items 4 and 5): a generated
# line of a million tokens, under a memory limit the largest single tensor of one copy still fits
# (so only the whole run is over it: before the fix, every kernel was set up for the full length —
# minutes of oneDNN set-up at millions of tokens — before the memory check), must be refused by
# train, eval, predict and explain within seconds, with the file:line of the text and the --max-len
# hint, and no output written; with --max-len the same data runs.
# usage: long_line.sh VMASKC REPO_DIR
. "$2/tests/bad_input/start.sh" # vmaskc, root, tmp, pass/fail, expect()
d=$root/tests/train
model=$root/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
# 6M: the 1M-token text's ids alone (8 MB) exceed it. (64M stopped refusing eval and predict once the
# inference plan read the Kim-CNN's embedding through ConvGather: no [1, T, 300] activation any more.)
v=(--vocab "$d/vocab.txt" --max-memory 6M)
{ printf '0\tw1 w2 w3\n1\t'; yes w7 | head -n 1000000 | tr '\n' ' '; printf 'w8\n2\tw4 w5\n'; } >"$tmp/long.tsv"
cut -f2 "$tmp/long.tsv" >"$tmp/long.txt"
# each refusal: exit 3, the line and the hint, in seconds (generous for a loaded machine and ASan)
fast() {
  local where=$1; shift
  local t0=$SECONDS
  expect 3 "$where" "$@"
  expect 3 "--max-len" "$@"
  local dt=$((SECONDS - t0))
  [ $dt -le 60 ] && pass=$((pass+1)) || { echo "FAIL: took ${dt} s for two runs: $*"; fail=$((fail+1)); }
}
fast "long.tsv:2: the longest text (1000001 tokens, in a batch of 1) does not fit" "$vmaskc" eval "$model" "${v[@]}" --data "$tmp/long.tsv" --batch 1
fast "long.txt:2: " "$vmaskc" predict "$model" "${v[@]}" --file "$tmp/long.txt"
fast "long.tsv:2: the longest text (1000001 tokens" "$vmaskc" explain "$model" "${v[@]}" --data "$tmp/long.tsv" --method lime --samples 50
fast "long.tsv:2: the longest text (1000001 tokens" "$vmaskc" train "$model" "${v[@]}" --train "$tmp/long.tsv" --dev "$d/dev.tsv" --epochs 1 -o "$tmp/out.onnx"
[ -e "$tmp/out.onnx" ] && { echo "FAIL: train left $tmp/out.onnx"; fail=$((fail+1)); } || pass=$((pass+1))
ls "$tmp" | grep -q '\.tmp\.' && { echo "FAIL: a temporary file was left: $(ls "$tmp")"; fail=$((fail+1)); } || pass=$((pass+1))
# truncated, the same data runs
expect 0 "" "$vmaskc" eval "$model" "${v[@]}" --data "$tmp/long.tsv" --max-len 50
echo "long_line: $pass passed, $fail failed"
[ $fail -eq 0 ]
