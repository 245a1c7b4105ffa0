#!/usr/bin/env bash
# Bad word-vector files and data-handling options: each a clear error naming the file and line
# (text) or byte offset (binary), a non-zero exit, and no output written.
# usage: vectors.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
t=$repo/tests/train; vd=$t/vectors; cnn=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "${BASH_SOURCE[0]}")/expect.sh"
cov() { "$vmaskc" vocab "$t/train.tsv" -o "$tmp/vocab.out" --vectors "$@"; }

printf '36 x\n' | cat - <(tail -n +2 "$vd/w2v.txt") > "$tmp/bad_header.txt"
printf '40 16\n' | cat - <(tail -n +2 "$vd/w2v.txt") > "$tmp/short.txt"
printf '36 8\n' | cat - <(tail -n +2 "$vd/w2v.txt") > "$tmp/header_dim.txt"
awk 'NR == 5 { $NF = "" } { print }' "$vd/glove.txt" > "$tmp/ragged.txt"
awk 'NR == 3 { $2 = "nan" } { print }' "$vd/glove.txt" > "$tmp/nan.txt"
awk 'NR == 4 { $3 = "1e999" } { print }' "$vd/glove.txt" > "$tmp/inf.txt"
awk 'NR == 2 { $4 = "0.1x" } { print }' "$vd/glove.txt" > "$tmp/junk.txt"
printf '1 2\nw0 \x00\x00\x80\x7f\x00\x00\x80\x3f\n' > "$tmp/inf.bin"
printf '1 2\nw0 \x00\x00\x80\x3f\x00\x00\x80\x3f\nw1 ' > "$tmp/extra.bin"
head -c 1000 "$vd/w2v.bin" > "$tmp/truncated.bin"
head -c 500 "$vd/w2v.txt.gz" > "$tmp/truncated.txt.gz"
cut -d' ' -f1-9 "$vd/glove.txt" > "$tmp/dim8.txt"
: > "$tmp/empty.txt"
mkdir "$tmp/dir.txt"

expect 3 "bad_header.txt:1: the header should be 'count dim'"                cov "$tmp/bad_header.txt"
expect 3 "short.txt:37: the header announces 40 vectors, the file ends after 36" cov "$tmp/short.txt"
expect 3 "header_dim.txt:2: 'w0' has 16 values, expected 8 (as the header says)" cov "$tmp/header_dim.txt"
expect 3 "ragged.txt:5: 'w4' has 15 values, expected 16 (as line 1 says)"      cov "$tmp/ragged.txt"
expect 3 "nan.txt:3: value 1 of 'w2' is not finite ('nan')"                   cov "$tmp/nan.txt"
expect 3 "inf.txt:4: value 2 of 'w3' is not finite ('1e999')"                 cov "$tmp/inf.txt"
expect 3 "junk.txt:2: value 3 of 'w1' is not a number ('0.1x')"               cov "$tmp/junk.txt"
expect 3 "inf.bin: byte offset 7: value 1 of 'w0' is not finite (inf)"        cov "$tmp/inf.bin"
expect 3 "extra.bin: byte offset 16: data after the header's 1 vectors"        cov "$tmp/extra.bin"
expect 3 "truncated.bin: byte offset 1000: the file ends inside a vector"     cov "$tmp/truncated.bin"
expect 3 "truncated.txt.gz: read error"                                       cov "$tmp/truncated.txt.gz"
expect 3 "w2v.bin:2: binary bytes in a text row"                              cov "$vd/w2v.bin" --vectors-format text
expect 3 "w2v.txt: byte offset 6: the first row reads as text"                cov "$vd/w2v.txt" --vectors-format binary
expect 3 "glove.txt:1: a word2vec binary file starts with a 'count dim' header" cov "$vd/glove.txt" --vectors-format binary
expect 3 "empty.txt: the file is empty"                                       cov "$tmp/empty.txt"
expect 3 "vectors file '$tmp/dir.txt' is a directory"                         cov "$tmp/dir.txt"
expect 3 "cannot open vectors file '$tmp/none.txt': No such file"             cov "$tmp/none.txt"
expect 2 "--vectors-format is auto, text or binary"                           cov "$vd/glove.txt" --vectors-format json
[ -e "$tmp/vocab.out" ] && { echo "FAIL: vocab wrote its output although the vectors were bad"; fail=$((fail+1)); }

# train: the dimension must match the embedding's; nothing is written on any error
tr=(--vocab "$t/vocab.txt" --train "$t/train.tsv" --dev "$t/dev.tsv" --epochs 1 --no-mask -o "$tmp/m.onnx")
expect 3 "dim8.txt: the vectors have 8 dimensions (line 1), but the embedding table 'embedding.weight' [60, 16] has 16" \
  "$vmaskc" train "$cnn" "${tr[@]}" --vectors "$tmp/dim8.txt"
expect 3 "nan.txt:3: value 1 of 'w2' is not finite" "$vmaskc" train "$cnn" "${tr[@]}" --vectors "$tmp/nan.txt"
expect 2 "--oov-init needs a number"               "$vmaskc" train "$cnn" "${tr[@]}" --vectors "$vd/glove.txt" --oov-init -1
expect 2 "--dev and --dev-split exclude each other" "$vmaskc" train "$cnn" "${tr[@]}" --dev-split 0.1
expect 2 "--dev-split needs a number"              "$vmaskc" train "$cnn" --vocab "$t/vocab.txt" --train "$t/train.tsv" --dev-split 1.5
expect 2 "missing --dev DEV.tsv (or --dev-split"   "$vmaskc" train "$cnn" --vocab "$t/vocab.txt" --train "$t/train.tsv"
expect 3 "--dev-split 0.5 of $tmp/one.tsv: cannot split 1 example" \
  bash -c "head -1 '$t/train.tsv' > '$tmp/one.tsv' && exec '$vmaskc' train '$cnn' --vocab '$t/vocab.txt' --train '$tmp/one.tsv' --dev-split 0.5 -o '$tmp/m.onnx'"
[ -e "$tmp/m.onnx" ] && { echo "FAIL: train wrote a model although it failed"; fail=$((fail+1)); }
# vocab reads data through the shared reader: file:line errors, .gz
printf '1\tfine\nno tab here\n' > "$tmp/notab.tsv"
expect 3 "notab.tsv:2: expected 'label<TAB>text'" "$vmaskc" vocab "$tmp/notab.tsv" -o "$tmp/v.txt"
expect 2 "--max-size needs a positive integer"   "$vmaskc" vocab "$t/train.tsv" -o "$tmp/v.txt" --max-size 0

echo "bad-input vectors: $pass passed, $fail failed"
[ $fail -eq 0 ]
