#!/usr/bin/env bash
# Pre-trained word vectors and the paper's data handling, end to end (tests/train):
#  - `train --vectors` with the same tiny vectors as GloVe text, word2vec/fastText text, word2vec
#    binary and both gzip'd: the exported embedding rows of found words equal the file's vectors
#    (a cased vocabulary entry takes its lower-cased form's row; the first row of a word wins),
#    pad is zero, the others uniform within +-A (--oov-init), and all five formats give the same
#    table byte for byte; the same seed gives the same table, another seed other OOV rows;
#  - `vocab --min-freq / --max-size`: the words, their order and ties against a count made here
#    with awk and sort; `vocab --vectors` reports the coverage;
#  - `train --dev-split`: the held-out count, and the same seed gives the same model.
# usage: vectors.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
d=$repo/tests/train; vd=$d/vectors; model=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
check="python3 $d/vectors_check.py"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
# a cased entry: W40 must take w40's row (lower-cased lookup); w41 must not take W41's
sed 's/^w40$/W40/' "$d/vocab.txt" > "$tmp/vocab.txt"
# the table is what is checked: one epoch on a fifth of the data is enough
head -120 "$d/train.tsv" > "$tmp/train.tsv"; head -40 "$d/dev.tsv" > "$tmp/dev.tsv"
common=(--vocab "$tmp/vocab.txt" --train "$tmp/train.tsv" --dev "$tmp/dev.tsv" --epochs 1 --batch 64 --no-mask --seed 3 --threads 2)

digests=()
for f in glove.txt w2v.txt w2v.txt.gz w2v.bin w2v.bin.gz; do
  if ! "$vmaskc" train "$model" "${common[@]}" --vectors "$vd/$f" -o "$tmp/$f.onnx" > "$tmp/$f.out" 2>&1; then
    echo "FAIL: train --vectors $f"; cat "$tmp/$f.out"; fail=1; continue
  fi
  digests+=("$($check "$tmp/$f.onnx" embedding.weight --digest)")
done
if grep -q "31 of 58 vocabulary words found (53.4%; 30 exact, 1 lower-cased)" "$tmp/glove.txt.out" &&
   grep -q "(GloVe text, no header, 36 x 16)" "$tmp/glove.txt.out" && grep -q "(word2vec binary, 36 x 16)" "$tmp/w2v.bin.gz.out" &&
   grep -q "(word2vec/fastText text, 36 x 16)" "$tmp/w2v.txt.out"; then echo "ok: formats detected, coverage 31 of 58 words"
else echo "FAIL: coverage or format line"; grep vectors: "$tmp"/*.out; fail=1; fi
if [ -s "$tmp/glove.txt.onnx" ] && $check "$tmp/glove.txt.onnx" embedding.weight "$tmp/vocab.txt" "$vd/glove.txt" 0.25; then :
else fail=1; fi
if [ ${#digests[@]} -eq 5 ] && [ "$(printf '%s\n' "${digests[@]}" | sort -u | wc -l)" -eq 1 ]; then
  echo "ok: GloVe, word2vec text, binary and .gz give the same table"
else echo "FAIL: the formats give different tables: ${digests[*]}"; fail=1; fi

# OOV rows: --oov-init bounds them, the seed decides them
"$vmaskc" train "$model" "${common[@]}" --vectors "$vd/glove.txt" --oov-init 0.01 -o "$tmp/small.onnx" > "$tmp/small.out" 2>&1 &&
  $check "$tmp/small.onnx" embedding.weight "$tmp/vocab.txt" "$vd/glove.txt" 0.01 || { echo "FAIL: --oov-init 0.01"; fail=1; }
"$vmaskc" train "$model" "${common[@]}" --vectors "$vd/glove.txt" --seed 4 -o "$tmp/seed4.onnx" > /dev/null 2>&1
a=$($check "$tmp/glove.txt.onnx" embedding.weight --digest); c=$($check "$tmp/seed4.onnx" embedding.weight --digest 2>/dev/null)
if [ -n "$c" ] && [ "$a" != "$c" ] && $check "$tmp/seed4.onnx" embedding.weight "$tmp/vocab.txt" "$vd/glove.txt" 0.25 > /dev/null; then
  echo "ok: OOV rows deterministic per seed (the five runs above), different for another seed"
else echo "FAIL: OOV rows: seed 3 $a, seed 4 $c"; fail=1; fi

# vocab: --min-freq and --max-size against an independent count (descending count, ties in byte order)
cut -f2 "$d/train.tsv" | tr ' ' '\n' | grep -v '^$' | LC_ALL=C sort | uniq -c |
  awk '{print $1 "\t" $2}' | LC_ALL=C sort -t$'\t' -k1,1nr -k2,2 > "$tmp/counts.tsv"
"$vmaskc" vocab "$d/train.tsv" -o "$tmp/v1.txt" > /dev/null && "$vmaskc" vocab "$d/train.tsv" -o "$tmp/v2.txt" --min-freq 60 > /dev/null &&
  "$vmaskc" vocab "$d/train.tsv" -o "$tmp/v3.txt" --max-size 7 > /dev/null &&
  "$vmaskc" vocab "$d/train.tsv" -o "$tmp/v4.txt" --min-freq 60 --max-size 5 --vectors "$vd/w2v.bin.gz" > "$tmp/v4.out" || { echo "FAIL: vmaskc vocab"; fail=1; }
{ printf '<pad>\n<unk>\n'; cut -f2 "$tmp/counts.tsv"; } > "$tmp/e1.txt"
{ printf '<pad>\n<unk>\n'; awk -F'\t' '$1 >= 60 {print $2}' "$tmp/counts.tsv"; } > "$tmp/e2.txt"
{ printf '<pad>\n<unk>\n'; cut -f2 "$tmp/counts.tsv" | head -7; } > "$tmp/e3.txt"
{ printf '<pad>\n<unk>\n'; awk -F'\t' '$1 >= 60 {print $2}' "$tmp/counts.tsv" | head -5; } > "$tmp/e4.txt"
n2=$(($(wc -l < "$tmp/e2.txt") - 2))
if cmp -s "$tmp/v1.txt" "$tmp/e1.txt" && cmp -s "$tmp/v2.txt" "$tmp/e2.txt" && cmp -s "$tmp/v3.txt" "$tmp/e3.txt" &&
   cmp -s "$tmp/v4.txt" "$tmp/e4.txt" && [ "$n2" -gt 5 ] && [ "$n2" -lt 58 ]; then
  echo "ok: vocab --min-freq 60 keeps $n2 words, --max-size keeps the most frequent, ties in byte order"
else echo "FAIL: vocab --min-freq/--max-size differ from the reference count"; diff "$tmp/v2.txt" "$tmp/e2.txt" | head; fail=1; fi
w4=$(sed -n '3,7p' "$tmp/v4.txt" | grep -c '^w\([0-9]\|[12][0-9]\)$')
if grep -q "vectors: .*w2v.bin.gz (word2vec binary, 36 x 16): $w4 of 5 vocabulary words found" "$tmp/v4.out"; then
  echo "ok: vocab --vectors reports $w4 of 5 words covered"
else echo "FAIL: vocab --vectors coverage (expected $w4 of 5)"; cat "$tmp/v4.out"; fail=1; fi

# --dev-split: 10% of the 600 training texts held out, deterministically per seed
split=(--vocab "$d/vocab.txt" --train "$d/train.tsv" --dev-split 0.1 --epochs 1 --batch 32 --mask-hidden 8 --seed 7 --threads 2)
"$vmaskc" train "$model" "${split[@]}" -o "$tmp/s1.onnx" > "$tmp/s1.out" 2>&1 && "$vmaskc" train "$model" "${split[@]}" -o "$tmp/s2.onnx" > "$tmp/s2.out" 2>&1 ||
  { echo "FAIL: train --dev-split"; cat "$tmp/s1.out"; fail=1; }
if grep -q "^data: 540 train, 60 dev" "$tmp/s1.out" && grep -q "dev: 60 examples held out" "$tmp/s1.out" && cmp -s "$tmp/s1.onnx" "$tmp/s2.onnx"; then
  echo "ok: --dev-split 0.1 holds out 60 of 600 texts, the same model twice for one seed"
else echo "FAIL: --dev-split"; cat "$tmp/s1.out"; fail=1; fi
exit $fail
