#!/usr/bin/env bash
# Bad input never crashes vmaskc: each case must exit with a documented error code (2 usage,
# 3 bad input), print a message on stderr that names the offending file, node or input, and leave
# no output file behind.
#
# usage: run.sh VMASKC FIXTURE_DIR
set -u
vmaskc=$1; fx=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0

. "$(dirname "${BASH_SOURCE[0]}")/expect.sh"

: > "$tmp/empty.onnx"
head -c 300 "$fx/good.onnx" > "$tmp/truncated.onnx"
# deterministic pseudo-random bytes
awk 'BEGIN { srand(42); for (i = 0; i < 2048; i++) printf "%c", int(rand() * 256) }' > "$tmp/random.onnx"
printf 'not a model' > "$tmp/text.vmplan"

expect 3 "empty.onnx"           "$vmaskc" inspect "$tmp/empty.onnx"
expect 3 "truncated.onnx"       "$vmaskc" inspect "$tmp/truncated.onnx"
expect 3 "random.onnx"          "$vmaskc" inspect "$tmp/random.onnx"
expect 3 "does-not-exist.onnx"  "$vmaskc" inspect "$tmp/does-not-exist.onnx"
expect 3 "text.vmplan"          "$vmaskc" inspect "$tmp/text.vmplan"
expect 3 "TopK (node 'topk')"   "$vmaskc" inspect "$fx/unsupported_ops.onnx"
expect 3 "Hardmax (node 'hardmax')" "$vmaskc" inspect "$fx/unsupported_ops.onnx"
expect 3 "2 unsupported ops"    "$vmaskc" compile "$fx/unsupported_ops.onnx" -o "$tmp/u.vmplan"
expect 3 "exported from pack_padded_sequence" "$vmaskc" inspect "$fx/lstm_packed.onnx"
expect 3 "'fc.weight' is not produced" "$vmaskc" compile "$fx/missing_initializer.onnx" -o "$tmp/m.vmplan"
expect 3 "node 'fc' (Gemm)"     "$vmaskc" compile "$fx/inconsistent_shapes.onnx" -o "$tmp/i.vmplan"
expect 3 "node '/convs.0/Conv' (Conv)" "$vmaskc" compile "$fx/conv_kernel_too_long.onnx" -o "$tmp/c.vmplan"
expect 3 "attribute 'mystery'"  "$vmaskc" compile "$fx/unknown_attribute.onnx" -o "$tmp/a.vmplan"
# malformed nodes that once crashed (SIGSEGV) in inspect and compile: every required input, output
# and attribute is checked from the op table's arity and attribute spec, in one place
for cmd in inspect "compile -o $tmp/k.vmplan"; do
  expect 3 "node 'const' (Constant): its attribute has no name" "$vmaskc" $cmd "$fx/constant_unnamed_attr.onnx"
  expect 3 "node 'squeeze' (Squeeze): input 0 is required, but its name is empty" "$vmaskc" $cmd "$fx/squeeze_empty_input.onnx"
  expect 3 "node 'lstm' (LSTM): input 1 is required, but its name is empty" "$vmaskc" $cmd "$fx/lstm_empty_w.onnx"
done
expect 3 "node 'cast' (Cast): required attribute 'to' is missing" "$vmaskc" compile "$fx/cast_without_to.onnx" -o "$tmp/k.vmplan"
# size limits: a 300-byte model whose ConstantOfShape makes 4 GiB is refused before allocating;
# an Expand to 2^40 elements at run time names the node and the input shapes; --max-memory applies
# to every run (and is checked before the arena is allocated)
expect 3 "node 'huge' (ConstantOfShape): output 'z' is a constant of 4.0 GiB" "$vmaskc" compile "$fx/constant_of_shape_4gib.onnx" -o "$tmp/k.vmplan"
expect 0 "" "$vmaskc" compile "$fx/expand_huge.onnx" -o "$tmp/eh.vmplan"
expect 3 "value 'z' (output of node 'expand' (Expand)) needs 80.0 GiB, over the memory limit of 16.0 GiB" "$vmaskc" run "$tmp/eh.vmplan" --test-data "$fx/data_x" --max-memory 16G
expect 3 "input shapes input_ids [2, 3], one run" "$vmaskc" run "$fx/good.onnx" --test-data "$fx/data_ok" --max-memory 4K
expect 3 "--shape zz: the model has no input 'zz' (its inputs: input_ids)" "$vmaskc" run "$fx/good.onnx" --test-data "$fx/data_ok" --shape zz=2,3
expect 0 "" "$vmaskc" run "$fx/good.onnx" --test-data "$fx/data_ok" --max-memory 1M
expect 2 "--max-memory needs a size" "$vmaskc" run "$fx/good.onnx" --test-data "$fx/data_ok" --max-memory lots
expect 3 "attribute 'perm' must be of type ints, the model gives FLOAT" "$vmaskc" compile "$fx/transpose_float_perm.onnx" -o "$tmp/k.vmplan"
for f in u m i c a k; do
  if [ -e "$tmp/$f.vmplan" ]; then echo "FAIL: a failed compile left $tmp/$f.vmplan behind"; fail=$((fail+1)); fi
done
ls "$tmp"/*.tmp.* >/dev/null 2>&1 && { echo "FAIL: temporary files left behind"; fail=$((fail+1)); }

expect 0 ""                     "$vmaskc" run "$fx/good.onnx" --test-data "$fx/data_ok"
expect 3 "input_0.pb has type float32 but input 'input_ids' is int64" "$vmaskc" run "$fx/good.onnx" --test-data "$fx/data_wrong_dtype"
expect 3 "input 'input_ids' has rank 1, shape [3]; the model expects rank 2, shape [batch, seq]" "$vmaskc" run "$fx/good.onnx" --test-data "$fx/data_wrong_rank"
# an empty text reaching a convolution: the message names the input and says the text is empty
expect 3 "input 'input_ids' is empty (input shapes input_ids [2, 0]: an empty text has 0 tokens)" "$vmaskc" run "$(dirname "$fx")/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx" --test-data "$fx/data_empty_text"
expect 3 "data_wrong_size/input_0.pb" "$vmaskc" run "$fx/good.onnx" --test-data "$fx/data_wrong_size"
expect 3 "index 500"            "$vmaskc" run "$fx/good.onnx" --test-data "$fx/data_out_of_vocab" --out "$tmp/o1"
[ -e "$tmp/o1/output_0.pb" ] && { echo "FAIL: failed run wrote output"; fail=$((fail+1)); }
expect 3 "does not exist"       "$vmaskc" run "$fx/good.onnx" --test-data "$tmp/nope"
expect 2 "missing --test-data"  "$vmaskc" run "$fx/good.onnx"
expect 2 "unknown option '--frobnicate'" "$vmaskc" run "$fx/good.onnx" --frobnicate
expect 2 "unknown command 'frobnicate'" "$vmaskc" frobnicate
expect 2 "unknown command 'frobnicate'" "$vmaskc" help frobnicate
cmp -s <("$vmaskc" help train) <("$vmaskc" train --help) && pass=$((pass+1)) || { echo "FAIL: 'vmaskc help train' is not 'vmaskc train --help'"; fail=$((fail+1)); }
# training methods: an unknown method, a method's options given to another, contradicting aliases
tr=(train "$fx/good.onnx" --train "$tmp/none.tsv" --dev "$tmp/none.tsv")
expect 2 "--method is one of base, l2, l2x, iba, vmask, not 'lime'" "$vmaskc" "${tr[@]}" --method lime
expect 2 "--l2x-k is an option of --method l2x, not of --method iba" "$vmaskc" "${tr[@]}" --method iba --l2x-k 5
expect 2 "--iba-beta is an option of --method iba, not of --method vmask" "$vmaskc" "${tr[@]}" --iba-beta 3
expect 2 "--mask-hidden is an option of --method vmask, not of --method l2x" "$vmaskc" "${tr[@]}" --method l2x --mask-hidden 10
expect 2 "--tau is an option of --method vmask, not of --method base" "$vmaskc" "${tr[@]}" --no-mask --tau 0.5
expect 2 "--no-mask contradicts --method iba" "$vmaskc" "${tr[@]}" --no-mask --method iba
expect 2 "--method base trains without weight decay; --weight-decay W is --method l2" "$vmaskc" "${tr[@]}" --method base --weight-decay 0.01
expect 2 "--l2x-k needs an integer in [1, 4096], got '0'" "$vmaskc" "${tr[@]}" --method l2x --l2x-k 0
expect 2 "--threads needs a positive integer" "$vmaskc" run "$fx/good.onnx" --test-data "$fx/data_ok" --threads zero
expect 2 "--shape needs NAME=D0,D1" "$vmaskc" compile "$fx/good.onnx" -o "$tmp/x.vmplan" --shape input_ids
expect 3 "input 'input_ids' has shape [2, 3]: dimension 1 is 3 but the model expects 5" "$vmaskc" run "$fx/good.onnx" --test-data "$fx/data_ok" --shape input_ids=2,5

# explanations: a small VMASK model and a plain one, trained on the synthetic task in a second
t=$(dirname "$fx")/train; cnn=$(dirname "$fx")/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
if "$vmaskc" train "$cnn" --vocab "$t/vocab.txt" --train "$t/train.tsv" --dev "$t/dev.tsv" --epochs 1 -o "$tmp/vm.onnx" >/dev/null 2>&1 &&
   "$vmaskc" train "$cnn" --vocab "$t/vocab.txt" --train "$t/train.tsv" --dev "$t/dev.tsv" --epochs 1 --no-mask -o "$tmp/base.onnx" >/dev/null 2>&1; then
  printf '1\t\n' > "$tmp/empty_text.tsv"
  head -3 "$t/vocab.txt" > "$tmp/short_vocab.txt"
  expect 3 "has no VMASK word mask" "$vmaskc" explain "$tmp/base.onnx" --data "$t/test.tsv" --method mask --limit 3
  expect 3 "empty_text.tsv:1"      "$vmaskc" explain "$tmp/vm.onnx" --data "$tmp/empty_text.tsv" --method lime
  expect 3 "vocabulary"            "$vmaskc" explain "$tmp/vm.onnx" --data "$t/test.tsv" --vocab "$tmp/short_vocab.txt" --limit 3
  expect 2 "--aopc-k"              "$vmaskc" explain "$tmp/vm.onnx" --data "$t/test.tsv" --aopc-k 0
  expect 3 "does-not-exist.tsv"    "$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" --data "$tmp/does-not-exist.tsv"
  expect 3 "has no word-level mask" "$vmaskc" words "$tmp/base.onnx"
  expect 2 "--min-freq needs --data CORPUS.tsv" "$vmaskc" words "$tmp/vm.onnx" --min-freq 2
  # words --min-freq N: every listed word was seen at least N times in --data
  if "$vmaskc" words "$tmp/vm.onnx" --data "$t/test.tsv" --top 10 --min-freq 20 >"$tmp/words.out" 2>&1 &&
     [ "$(grep -c '^ *[0-9][0-9]*  ' "$tmp/words.out")" -gt 0 ] &&
     awk '/^ *[0-9]+  / { if ($4 < 20) bad = 1 } END { exit bad }' "$tmp/words.out"; then pass=$((pass+1))
  else echo "FAIL: words --min-freq 20 lists a rarer word"; cat "$tmp/words.out"; fail=$((fail+1)); fi
  # outputs checked before the work: a missing folder, a folder as a file, an existing report folder
  trx=(train "$cnn" --vocab "$t/vocab.txt" --train "$t/train.tsv" --dev "$t/dev.tsv" --epochs 1)
  expect 3 "-o '$tmp/no/such/dir/m.onnx' cannot be written: the folder '$tmp/no/such/dir' does not exist" "$vmaskc" "${trx[@]}" -o "$tmp/no/such/dir/m.onnx"
  expect 3 "--checkpoint '$tmp' is a folder, not a file" "$vmaskc" "${trx[@]}" -o "$tmp/m1.onnx" --checkpoint "$tmp"
  expect 3 "--history '$tmp/nope/h.csv' cannot be written" "$vmaskc" "${trx[@]}" -o "$tmp/m2.onnx" --history "$tmp/nope/h.csv"
  [ -e "$tmp/m1.onnx" ] || [ -e "$tmp/m2.onnx" ] && { echo "FAIL: a refused train wrote its model"; fail=$((fail+1)); }
  # the other commands that write a file check it before their work, and say which option it came from
  expect 3 "--tsv '$tmp/nope/w.tsv' cannot be written: the folder '$tmp/nope' does not exist" "$vmaskc" words "$tmp/vm.onnx" --data "$t/test.tsv" --tsv "$tmp/nope/w.tsv"
  expect 3 "-o '$tmp/nope/v.txt' cannot be written" "$vmaskc" vocab "$t/train.tsv" -o "$tmp/nope/v.txt"
  expect 3 "-o '$tmp' is a folder, not a file" "$vmaskc" compile "$tmp/vm.onnx" -o "$tmp"
  mkdir -p "$tmp/rep_exists"
  expect 3 "report folder '$tmp/rep_exists' exists: give --force" "$vmaskc" explain "$tmp/vm.onnx" --data "$t/test.tsv" --limit 2 --report "$tmp/rep_exists"
  expect 0 "" "$vmaskc" explain "$tmp/vm.onnx" --data "$t/test.tsv" --limit 2 --samples 50 --permutations 2 --report "$tmp/rep_exists" --force
  [ -s "$tmp/rep_exists/report.html" ] || { echo "FAIL: --force did not write the report"; fail=$((fail+1)); }
  expect 3 "empty_text.tsv:1" "$vmaskc" explain "$tmp/vm.onnx" --data "$tmp/empty_text.tsv" --method lime --report "$tmp/rep_new/sub"
  [ -e "$tmp/rep_new/sub" ] && { echo "FAIL: a failed explain left its report folder"; fail=$((fail+1)); }
  # a model exported with a fixed sequence length (12) and longer texts: say so and how to fix it
  fixed=$(dirname "$fx")/fixtures/models/cnn_conv1d_maxpool_op13/model.onnx
  expect 3 "the model takes exactly 12 tokens per text (its input 'input_ids' has a fixed length); truncate the texts with --max-len 12" \
    "$vmaskc" train "$fixed" --vocab "$t/vocab.txt" --train "$t/train.tsv" --dev "$t/dev.tsv" --epochs 1 -o "$tmp/fixed.onnx"
  expect 0 "" "$vmaskc" train "$fixed" --vocab "$t/vocab.txt" --train "$t/train.tsv" --dev "$t/dev.tsv" --epochs 1 --max-len 12 -o "$tmp/fixed.onnx"
  # texts longer than a BERT-style model's position table (32 rows): named, with the --max-len that fixes it
  bert=$(dirname "$fx")/fixtures/models/bert_op13/model.onnx
  awk -F'\t' '{ print ($1 > 1 ? 1 : $1) "\t" $2 " " $2 " " $2 " " $2 }' "$t/train.tsv" | head -40 > "$tmp/long2.tsv"
  expect 3 "longer than the model's position table ('embeddings.position.weight' has 32 rows); truncate the texts with --max-len 32" \
    "$vmaskc" train "$bert" --vocab "$t/vocab.txt" --train "$tmp/long2.tsv" --dev "$tmp/long2.tsv" --epochs 1 -o "$tmp/bert.onnx"
  expect 0 "" "$vmaskc" train "$bert" --vocab "$t/vocab.txt" --train "$tmp/long2.tsv" --dev "$tmp/long2.tsv" --epochs 1 --max-len 32 -o "$tmp/bert.onnx"
  expect 3 "longer than the model's position table" "$vmaskc" predict "$tmp/bert.onnx" "$(head -1 "$tmp/long2.tsv" | cut -f2)"
  expect 0 "" "$vmaskc" predict "$tmp/bert.onnx" "$(head -1 "$tmp/long2.tsv" | cut -f2)" --max-len 32
  # predict --file: an empty line and a missing file are named; --digits is bounded
  printf 'a good film\n\nbad\n' > "$tmp/texts_gap.txt"
  expect 3 "texts_gap.txt:2: empty line" "$vmaskc" predict "$tmp/vm.onnx" --file "$tmp/texts_gap.txt"
  expect 3 "no-such-texts.txt: cannot open" "$vmaskc" predict "$tmp/vm.onnx" --file "$tmp/no-such-texts.txt"
  expect 2 "--digits needs an integer from 0 to 9" "$vmaskc" predict "$tmp/vm.onnx" "a film" --digits 12
else
  echo "FAIL: could not train the small models for the explanation cases"; fail=$((fail+1))
fi

echo "bad-input: $pass passed, $fail failed"
[ $fail -eq 0 ]
