#!/usr/bin/env bash
# External data (ONNX data_location = EXTERNAL): a model whose initializers live in weights.bin must
# give bit-identical outputs to its inline original in every command that reads ONNX, and every
# location that leaves the model's folder, names a non-regular file, or disagrees with the tensor
# (offset, length) must exit 3 with a message naming the location, without writing any output.
#
# The fixtures are committed (tests/fixtures/make_external.py); the symlinks, the directory and
# the FIFO they name are made here, in a temporary copy of the folder.
#
# usage: external.sh VMASKC FIXTURES_DIR   (FIXTURES_DIR = tests/fixtures)
set -u
vmaskc=$1; fx=$2
orig=$fx/models/cnn_conv1d_reducemax_op13
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
bad() { echo "FAIL: $*"; fail=$((fail+1)); }

. "$(dirname "${BASH_SOURCE[0]}")/expect.sh"

ext=$tmp/ext
cp -r "$fx/external" "$ext"
mkdir "$ext/sub" "$ext/adir" "$tmp/elsewhere"
cp "$ext/weights.bin" "$tmp/elsewhere/weights.bin"
ln -s weights.bin "$ext/inside.bin"
ln -s ../elsewhere/weights.bin "$ext/outside.bin"
ln -s "$tmp/elsewhere" "$ext/outdir"
ln -s /dev/zero "$ext/zero.bin"
mkfifo "$ext/fifo.bin"

# --- same outputs as the inline original ---
for set in "$orig"/test_data_set_*; do
  s=${set##*/}
  if ! "$vmaskc" run "$orig/model.onnx" --test-data "$set" --atol 1e-4 --rtol 0 --out "$tmp/inline.$s" >/dev/null 2>&1; then
    bad "the inline original does not run on $s"; continue
  fi
  for m in model ok_unaligned ok_no_length ok_symlink_inside ok_subdir; do
    if ! out=$("$vmaskc" run "$ext/$m.onnx" --test-data "$set" --atol 1e-4 --rtol 0 --out "$tmp/$m.$s" 2>&1); then
      bad "$m.onnx on $s:"; echo "$out" | sed 's/^/    /'
    elif ! cmp -s "$tmp/$m.$s/output_0.pb" "$tmp/inline.$s/output_0.pb"; then
      bad "$m.onnx on $s: outputs differ from the inline original"
    else pass=$((pass+1)); fi
  done
done
lstm=$fx/models/lstm_last_op13
for set in "$lstm"/test_data_set_*; do
  s=${set##*/}
  if "$vmaskc" run "$lstm/model.onnx" --test-data "$set" --out "$tmp/lstm_inline.$s" >/dev/null 2>&1 &&
     "$vmaskc" run "$ext/lstm_constants.onnx" --test-data "$set" --atol 1e-4 --rtol 0 --out "$tmp/lstm_ext.$s" >/dev/null 2>&1 &&
     cmp -s "$tmp/lstm_inline.$s/output_0.pb" "$tmp/lstm_ext.$s/output_0.pb"; then pass=$((pass+1))
  else bad "lstm_constants.onnx (Constant tensors external) on $s"; fi
done
# compile (the plan carries the weights: it runs without the folder) and inspect
if "$vmaskc" compile "$ext/model.onnx" -o "$tmp/ext.vmplan" >/dev/null 2>&1 && mkdir "$tmp/alone" && mv "$tmp/ext.vmplan" "$tmp/alone/" &&
   "$vmaskc" run "$tmp/alone/ext.vmplan" --test-data "$orig/test_data_set_1" --out "$tmp/plan.1" >/dev/null 2>&1 &&
   cmp -s "$tmp/plan.1/output_0.pb" "$tmp/inline.test_data_set_1/output_0.pb"; then pass=$((pass+1)); else bad "compile + run of the external model"; fi
if "$vmaskc" inspect "$ext/model.onnx" | grep -q "parameters: 1587"; then pass=$((pass+1)); else bad "inspect of the external model"; fi
# text commands: predict and eval with a vocabulary, train (the export is inline: it runs alone)
t=$(dirname "$fx")/train
text=$(head -1 "$t/test.tsv" | cut -f2)
p_in=$("$vmaskc" predict "$orig/model.onnx" "$text" --vocab "$t/vocab.txt" 2>&1)
p_ex=$("$vmaskc" predict "$ext/model.onnx" "$text" --vocab "$t/vocab.txt" 2>&1)
if [ -n "$p_in" ] && [ "$p_in" = "$p_ex" ]; then pass=$((pass+1)); else bad "predict differs: '$p_in' vs '$p_ex'"; fi
e_in=$("$vmaskc" eval "$orig/model.onnx" --data "$t/test.tsv" --vocab "$t/vocab.txt" 2>&1)
e_ex=$("$vmaskc" eval "$ext/model.onnx" --data "$t/test.tsv" --vocab "$t/vocab.txt" 2>&1)
if [ -n "$e_in" ] && [ "$e_in" = "$e_ex" ]; then pass=$((pass+1)); else bad "eval differs: '$e_in' vs '$e_ex'"; fi
mkdir "$tmp/trained"
if "$vmaskc" train "$ext/model.onnx" --vocab "$t/vocab.txt" --train "$t/train.tsv" --dev "$t/dev.tsv" --epochs 1 -o "$tmp/trained/vm.onnx" >/dev/null 2>&1 &&
   [ ! -e "$tmp/trained/vm.onnx.data" ] && "$vmaskc" words "$tmp/trained/vm.onnx" --top 3 >/dev/null 2>&1; then
  pass=$((pass+1))
else bad "train on the external model, or words on its export"; fi
mkdir "$tmp/trained2" "$tmp/alone2"
if "$vmaskc" train "$ext/lstm_constants.onnx" --vocab "$t/vocab.txt" --train "$t/train.tsv" --dev "$t/dev.tsv" --epochs 1 -o "$tmp/trained2/vm.onnx" >/dev/null 2>&1 &&
   mv "$tmp/trained2/vm.onnx" "$tmp/alone2/" && "$vmaskc" eval "$tmp/alone2/vm.onnx" --data "$t/test.tsv" >/dev/null 2>&1; then
  pass=$((pass+1))
else bad "train on lstm_constants.onnx, or eval of its export on its own (Constant tensors inlined)"; fi

# --- refused: exit 3, the location named, no output left behind ---
mkdir "$tmp/out"
while read -r model loc; do
  expect 3 "'$loc'" "$vmaskc" inspect "$ext/$model"
  expect 3 "'$loc'" "$vmaskc" compile "$ext/$model" -o "$tmp/out/$model.vmplan"
  expect 3 "'$loc'" "$vmaskc" run "$ext/$model" --test-data "$orig/test_data_set_0" --out "$tmp/out/$model.run"
  expect 3 "'$loc'" "$vmaskc" predict "$ext/$model" "$text" --vocab "$t/vocab.txt"
done <<'EOF'
bad_absolute.onnx /etc/passwd
bad_devzero.onnx /dev/zero
bad_procmem.onnx /proc/self/mem
bad_parent.onnx ../weights.bin
bad_parent_deep.onnx sub/../../external/weights.bin
bad_symlink_out.onnx outside.bin
bad_symlink_dir.onnx outdir/weights.bin
bad_symlink_dev.onnx zero.bin
bad_directory.onnx adir
bad_folder_itself.onnx .
bad_fifo.onnx fifo.bin
bad_missing_file.onnx nope.bin
bad_offset_past_eof.onnx weights.bin
bad_offset_text.onnx weights.bin
bad_length_mismatch.onnx weights.bin
bad_length_past_eof.onnx weights.bin
bad_length_huge.onnx weights.bin
bad_no_length_mismatch.onnx weights.bin
bad_unknown_key.onnx compression
EOF
# the reason, not just the location
expect 3 "leaves the model's folder"   "$vmaskc" compile "$ext/bad_parent.onnx" -o "$tmp/out/x.vmplan"
expect 3 "leaves the model's folder"   "$vmaskc" compile "$ext/bad_symlink_out.onnx" -o "$tmp/out/x.vmplan"
expect 3 "leaves the model's folder"   "$vmaskc" compile "$ext/bad_symlink_dir.onnx" -o "$tmp/out/x.vmplan"
expect 3 "leaves the model's folder"   "$vmaskc" compile "$ext/bad_symlink_dev.onnx" -o "$tmp/out/x.vmplan"
expect 3 "is an absolute path"         "$vmaskc" compile "$ext/bad_procmem.onnx" -o "$tmp/out/x.vmplan"
expect 3 "not a regular file"          "$vmaskc" compile "$ext/bad_fifo.onnx" -o "$tmp/out/x.vmplan"
expect 3 "not a regular file"          "$vmaskc" compile "$ext/bad_directory.onnx" -o "$tmp/out/x.vmplan"
expect 3 "need 3840 (960 elements x 4 bytes)" "$vmaskc" compile "$ext/bad_length_mismatch.onnx" -o "$tmp/out/x.vmplan"
expect 3 "initializer 'embedding.weight'" "$vmaskc" compile "$ext/bad_offset_past_eof.onnx" -o "$tmp/out/x.vmplan"
expect 3 "names no location"           "$vmaskc" compile "$ext/bad_no_location.onnx" -o "$tmp/out/x.vmplan"
# a model copied away from its weights names the missing file
cp "$ext/model.onnx" "$tmp/lonely.onnx"
expect 3 "'weights.bin'"               "$vmaskc" compile "$tmp/lonely.onnx" -o "$tmp/out/x.vmplan"
if [ -n "$(ls -A "$tmp/out")" ]; then bad "refused models left output behind: $(ls -A "$tmp/out")"; fi

echo "external data: $pass passed, $fail failed"
[ $fail -eq 0 ]
