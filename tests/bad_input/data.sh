#!/usr/bin/env bash
# Data formats and the right-answer-or-error checks (issue 14 items 2 and 4), through the CLI:
#  - the same examples as TSV, CSV (header, quoted fields) and gzipped JSON Lines train the same
#    model, byte for byte;
#  - class names: sorted names (or --labels FILE's order) become the classes, the export keeps
#    them, predict prints them, eval reads names from another format, and refuses a label the model
#    does not know (file:line);
#  - malformed CSV / JSONL, bad options: clear errors (file:line, column or field), exit 3 / 2,
#    no output written;
#  - a --vocab that differs from the model's stored one is refused; a vocabulary shorter than the
#    embedding table is an error unless --allow-short-vocab; a label outside the model's classes
#    names file:line; a text too long for the memory limit names its line and suggests --max-len.
#
# usage: data.sh VMASKC REPO_DIR
. "$2/tests/bad_input/start.sh" # vmaskc, root, tmp, pass/fail, expect()
ok() { pass=$((pass+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }
d=$root/tests/train
model=$root/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx

# the same examples in three formats (awk, so the test needs no Python)
names=(negative neutral positive)
for s in train dev; do
  awk -F'\t' 'BEGIN{print "id,text,label"} {t=$2; gsub(/"/, "\"\"", t); printf "%d,\"%s\",%s\n", NR, t, $1}' "$d/$s.tsv" >"$tmp/$s.csv"
  awk -F'\t' '{printf "{\"label\": %s, \"text\": \"%s\"}\n", $1, $2}' "$d/$s.tsv" | gzip >"$tmp/$s.jsonl.gz"
  awk -F'\t' 'BEGIN{split("negative neutral positive", n, " ")} {printf "%s,\"%s\"\n", n[$1+1], $2}' "$d/$s.tsv" >"$tmp/$s.names.csv"
  awk -F'\t' 'BEGIN{split("negative neutral positive", n, " ")} {printf "{\"sentence\":\"%s\",\"y\":\"%s\"}\n", $2, n[$1+1]}' "$d/$s.tsv" >"$tmp/$s.names.jsonl"
done
common=(--vocab "$d/vocab.txt" --epochs 1 --batch 32 --lr 0.01 --seed 3 --top 0)
mkdir -p "$tmp/tsv" "$tmp/csv" "$tmp/jsonl"
if "$vmaskc" train "$model" "${common[@]}" --train "$d/train.tsv" --dev "$d/dev.tsv" -o "$tmp/tsv/m.onnx" >"$tmp/tsv.out" 2>&1 &&
   "$vmaskc" train "$model" "${common[@]}" --train "$tmp/train.csv" --dev "$tmp/dev.csv" -o "$tmp/csv/m.onnx" >"$tmp/csv.out" 2>&1 &&
   "$vmaskc" train "$model" "${common[@]}" --train "$tmp/train.jsonl.gz" --dev "$tmp/dev.jsonl.gz" -o "$tmp/jsonl/m.onnx" >"$tmp/jsonl.out" 2>&1; then
  cmp -s "$tmp/tsv/m.onnx" "$tmp/csv/m.onnx" && ok || bad "CSV trains a different model than TSV"
  cmp -s "$tmp/tsv/m.onnx" "$tmp/jsonl/m.onnx" && ok || bad "JSON Lines trains a different model than TSV"
else
  bad "training on TSV / CSV / JSONL"; tail -3 "$tmp"/*.out
fi

# class names
if "$vmaskc" train "$model" "${common[@]}" --train "$tmp/train.names.csv" --dev "$tmp/dev.names.csv" -o "$tmp/names.onnx" >"$tmp/names.out" 2>&1; then
  grep -q "^classes: negative=0 neutral=1 positive=2$" "$tmp/names.out" && ok || bad "classes line: $(grep classes "$tmp/names.out")"
  cmp -s "$tmp/tsv/m.onnx" "$tmp/names.onnx" && bad "names left no trace in the export" || ok
  p=$("$vmaskc" predict "$tmp/names.onnx" "w1 w2 w3" | head -1)
  [[ "$p" =~ ^text\ 1:\ class\ (negative|neutral|positive)\ \ probabilities ]] && ok || bad "predict shows no class name: $p"
  a1=$("$vmaskc" eval "$tmp/names.onnx" --data "$tmp/dev.names.csv")
  a2=$("$vmaskc" eval "$tmp/names.onnx" --data "$tmp/dev.names.jsonl" --text-field sentence --label-field y)
  [ "${a1%% (*}" == "${a2%% (*}" ] && [ -n "$a1" ] && ok || bad "eval on CSV ($a1) and JSONL ($a2) differ"
  # per-class lines by name, in class order, each with its examples (as counted in the data)
  want=$(awk -F'\t' 'BEGIN{split("negative neutral positive", n, " ")} {c[$1]++} END{for (k = 0; k < 3; k++) print n[k+1], c[k]+0}' "$d/dev.tsv")
  got=$(printf '%s\n' "$a1" | awk 'NR > 2 {print $1, $NF}')
  [ "$got" == "$want" ] && printf '%s\n' "$a1" | sed -n 2p | grep -q "^  class  *precision  *recall  *F1  *examples$" && ok ||
    bad "eval's per-class lines: $(printf '%s\n' "$a1" | sed -n '2,$p' | tr '\n' '|') (want names and examples: $(echo $want))"
  a3=$("$vmaskc" eval "$tmp/tsv/m.onnx" --data "$d/dev.tsv")
  [ "${a1%% (*}" == "${a3%% (*}" ] && ok || bad "names changed the model: $a1 vs $a3"
  expect 3 "dev.tsv:1: label '2' is not one of the model's 3 classes ('negative', 'neutral', 'positive')" \
    "$vmaskc" eval "$tmp/names.onnx" --data "$d/dev.tsv"
  "$vmaskc" explain "$tmp/names.onnx" --data "$tmp/dev.names.csv" --limit 2 --method mask --report "$tmp/rep" >/dev/null 2>&1 &&
    grep -q "positive\|negative\|neutral" "$tmp/rep/report.html" && ok || bad "the report names no class"
else
  bad "training with class names"; tail -3 "$tmp/names.out"
fi
printf 'positive\nneutral\nnegative\n' >"$tmp/labels.txt"
"$vmaskc" train "$model" "${common[@]}" --epochs 1 --train "$tmp/train.names.csv" --dev "$tmp/dev.names.csv" --labels "$tmp/labels.txt" \
  -o "$tmp/lab.onnx" 2>&1 | grep -q "^classes: positive=0 neutral=1 negative=2 (--labels)$" && ok || bad "--labels order"
printf 'positive\nnegative\n' >"$tmp/two.txt"
expect 3 "train.names.csv:4: label 'neutral' is not one of the model's 2 classes ('positive', 'negative')" "$vmaskc" train "$model" "${common[@]}" --train "$tmp/train.names.csv" --dev "$tmp/dev.names.csv" --labels "$tmp/two.txt" -o "$tmp/x.onnx"
[ -e "$tmp/x.onnx" ] && bad "a refused train wrote its output" || ok

# malformed files and options (through vocab: the shared reader)
printf 'label,text\n1,"never closed\nmore\n' >"$tmp/open.csv"
printf 'label,text\n1,"closed"then\n' >"$tmp/after.csv"
printf 'review,sentiment\ngood,1\n' >"$tmp/named.csv"
printf '{"text": "ok", "label": 1}\n{"text": "ok" "label": 1}\n' >"$tmp/bad.jsonl"
printf '{"text": "ok", "label": true}\n' >"$tmp/type.jsonl"
expect 3 "open.csv:2: column 1: the quoted field opened here has no closing quote" "$vmaskc" vocab "$tmp/open.csv" -o "$tmp/v.txt"
expect 3 "after.csv:2: column 1: 't' after the closing quote" "$vmaskc" vocab "$tmp/after.csv" -o "$tmp/v.txt"
expect 3 "named.csv:1: the header has no column 'text'" "$vmaskc" vocab "$tmp/named.csv" --header -o "$tmp/v.txt"
expect 0 "" "$vmaskc" vocab "$tmp/named.csv" --text-column review --label-column sentiment -o "$tmp/v.txt"
grep -qx good "$tmp/v.txt" && ok || bad "--text-column by name"
expect 3 "named.csv: a column given by name ('review') needs a header, but --no-header" "$vmaskc" vocab "$tmp/named.csv" --text-column review --no-header -o "$tmp/v2.txt"
expect 3 "bad.jsonl:2: not valid JSON" "$vmaskc" vocab "$tmp/bad.jsonl" -o "$tmp/v2.txt"
expect 3 "type.jsonl:1: field 'label' is a boolean" "$vmaskc" eval "$tmp/tsv/m.onnx" --data "$tmp/type.jsonl"
[ -e "$tmp/v2.txt" ] && bad "a refused vocab wrote its output" || ok
expect 2 "--format is tsv, csv or jsonl, not 'xml'" "$vmaskc" eval "$tmp/tsv/m.onnx" --data "$d/dev.tsv" --format xml
expect 2 "--header and --no-header exclude each other" "$vmaskc" vocab "$d/dev.tsv" --header --no-header -o "$tmp/v2.txt"
expect 3 "dev.csv:1: expected 'label<TAB>text'" "$vmaskc" eval "$tmp/tsv/m.onnx" --data "$tmp/dev.csv" --format tsv

# right answer or error
(head -30 "$d/vocab.txt"; tail -n +31 "$d/vocab.txt" | sort -r) >"$tmp/other_vocab.txt"
head -40 "$d/vocab.txt" >"$tmp/short_vocab.txt"
expect 3 "does not match the one $tmp/tsv/m.onnx was trained with" "$vmaskc" eval "$tmp/tsv/m.onnx" --data "$d/dev.tsv" --vocab "$tmp/other_vocab.txt"
expect 3 "does not match the one $tmp/tsv/m.onnx was trained with" "$vmaskc" predict "$tmp/tsv/m.onnx" "w1 w2" --vocab "$tmp/other_vocab.txt"
expect 3 "does not match the one $tmp/tsv/m.onnx was trained with" \
  "$vmaskc" train "$tmp/tsv/m.onnx" --vocab "$tmp/other_vocab.txt" --train "$d/train.tsv" --dev "$d/dev.tsv" -o "$tmp/x.onnx"
expect 0 "" "$vmaskc" eval "$tmp/tsv/m.onnx" --data "$d/dev.tsv" --vocab "$d/vocab.txt"
expect 3 "short_vocab.txt has 40 tokens but the model's embedding table 'embedding.weight' has 60 rows" \
  "$vmaskc" eval "$model" --data "$d/dev.tsv" --vocab "$tmp/short_vocab.txt"
expect 3 "--allow-short-vocab" "$vmaskc" train "$model" --vocab "$tmp/short_vocab.txt" --train "$d/train.tsv" --dev "$d/dev.tsv" -o "$tmp/x.onnx"
expect 0 "" "$vmaskc" eval "$model" --data "$d/dev.tsv" --vocab "$tmp/short_vocab.txt" --allow-short-vocab
(head -3 "$d/dev.tsv"; printf '3\tw1 w2\n') >"$tmp/label3.tsv"
expect 3 "label3.tsv:4: label 3 is outside the model's 3 classes (0..2)" "$vmaskc" eval "$tmp/tsv/m.onnx" --data "$tmp/label3.tsv"
expect 3 "label3.tsv:4: label 3 is outside the model's 3 classes (0..2)" \
  "$vmaskc" train "$model" "${common[@]}" --train "$d/train.tsv" --dev "$tmp/label3.tsv" -o "$tmp/x.onnx"
long=$(printf 'w1 %.0s' $(seq 20000))
(head -3 "$d/dev.tsv"; printf '1\t%s\n' "$long"; head -2 "$d/dev.tsv") >"$tmp/long.tsv"
# the exported model's inference plan runs its convolution on memoized rows of the masked embedding
# (compiler/pass_gather_fold.c): no [6, 20000, E] lookup, so the limit is one the ids [6, 20000] exceed
expect 3 "long.tsv:4: the longest text (20000 tokens, in a batch of 6) does not fit" "$vmaskc" eval "$tmp/tsv/m.onnx" --data "$tmp/long.tsv" --max-memory 512K
expect 3 "give --max-len L" "$vmaskc" train "$model" "${common[@]}" --train "$tmp/long.tsv" --dev "$d/dev.tsv" --max-memory 4M -o "$tmp/x.onnx"
expect 0 "" "$vmaskc" eval "$tmp/tsv/m.onnx" --data "$tmp/long.tsv" --max-memory 4M --max-len 100
[ -e "$tmp/x.onnx" ] && bad "a refused train wrote its output" || ok

echo "data bad input: $pass passed, $fail failed"
[ $fail -eq 0 ]
