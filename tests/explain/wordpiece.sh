#!/usr/bin/env bash
# Word-level explanations of a WordPiece model, end to end: a tiny VMASK CNN trained with pieces of
# the BERT-uncased vocabulary on a synthetic task whose informative words split into several pieces
# (horrendous = ho ##rre ##ndo ##us, atrociously, splendiferous, lousiness), then
#  - `explain --method all` writes words, their piece spans and per-word weights to
#    explanations.jsonl, and the report highlights whole words (no ## piece in it, well-formed XML);
#  - LIME and SampleShapley give one weight per word and the top word of a class-1/2 text is its
#    informative word;
#  - `words --whole-words` ranks whole words (mean q of their pieces) with the informative words on
#    top, and `--tsv` carries the word table;
#  - `explain --resume` from half of its progress.bin reads those examples back (whole words and
#    their weights included) and ends with the same explanations.jsonl.
# usage: wordpiece.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
model=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
bert=$repo/tests/fixtures/tokenizer/bert-base-uncased-vocab.txt
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
# label 1: one of horrendous / atrociously; label 2: one of splendiferous / lousiness; 0: neither
gen() {
  awk -v n="$1" -v seed="$2" 'BEGIN {
    srand(seed)
    split("the movie was a film plot acting scene story actor really quite some this that wonderfully fabulously delightfulness marvellous", noise, " ")
    split("horrendous atrociously", c1, " "); split("splendiferous lousiness", c2, " ")
    for (i = 0; i < n; i++) {
      len = 3 + int(rand() * 10); c = int(rand() * 3)
      for (k = 0; k < len; k++) t[k] = noise[1 + int(rand() * 19)]
      if (c == 1) t[int(rand() * len)] = c1[1 + int(rand() * 2)]
      if (c == 2) t[int(rand() * len)] = c2[1 + int(rand() * 2)]
      s = t[0]; for (k = 1; k < len; k++) s = s " " t[k]
      print c "\t" s
    } }'
}
gen 600 11 >"$tmp/train.tsv"; gen 100 12 >"$tmp/dev.tsv"
# the pieces BERT's vocabulary gives these words (a subset splits the same way: greedy longest match
# can only find what the full vocabulary found), framed by BERT's specials; the fixture's embedding has 60 rows
{ printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n'
  cut -f2 "$tmp/train.tsv" | tr ' ' '\n' | sort -u | "$vmaskc" tokenize --vocab "$bert" | tr ' ' '\n' | grep -v '^\[' | awk '!seen[$0]++'; } >"$tmp/vocab.txt"
for w in "horrendous:ho ##rre ##ndo ##us" "atrociously:at ##ro ##cious ##ly" "splendiferous:sp ##len ##di ##fer ##ous" "lousiness:lou ##sin ##ess"; do
  got=$(echo "${w%%:*}" | "$vmaskc" tokenize --vocab "$tmp/vocab.txt")
  [ "$got" = "[CLS] ${w#*:} [SEP]" ] || { echo "FAIL: ${w%%:*} tokenizes as '$got'"; fail=1; }
done
"$vmaskc" train "$model" --vocab "$tmp/vocab.txt" --allow-short-vocab --train "$tmp/train.tsv" --dev "$tmp/dev.tsv" --epochs 8 --batch 32 --lr 0.01 \
  --mask-hidden 16 --seed 5 --threads 2 -o "$tmp/m.onnx" >"$tmp/train.out" 2>&1 || { echo "FAIL: train"; cat "$tmp/train.out"; exit 1; }

"$vmaskc" explain "$tmp/m.onnx" --data "$tmp/dev.tsv" --method all --limit 20 --samples 500 --permutations 20 --threads 2 \
  --report "$tmp/rep" >"$tmp/explain.out" 2>&1 || { echo "FAIL: explain"; cat "$tmp/explain.out"; exit 1; }
# an interrupted run of a WordPiece model continues from its progress (whole words included)
mkdir "$tmp/rep2"; head -c $(( $(stat -c %s "$tmp/rep/progress.bin") / 2 )) "$tmp/rep/progress.bin" >"$tmp/rep2/progress.bin"
"$vmaskc" explain "$tmp/m.onnx" --data "$tmp/dev.tsv" --method all --limit 20 --samples 500 --permutations 20 --threads 2 \
  --report "$tmp/rep2" --resume >"$tmp/explain2.out" 2>"$tmp/explain2.err" || { echo "FAIL: explain --resume"; cat "$tmp/explain2.err"; fail=1; }
n=$(grep -o "[0-9]* of 20 examples read back" "$tmp/explain2.err" | cut -d' ' -f1)
if [ -z "$n" ] || [ "$n" -lt 5 ] || [ "$n" -ge 20 ]; then echo "FAIL: half a WordPiece progress file read back '${n:-none}' of 20 examples"; fail=1
elif ! cmp -s "$tmp/rep/explanations.jsonl" "$tmp/rep2/explanations.jsonl"; then echo "FAIL: explain --resume: explanations.jsonl differs"; fail=1
else echo "ok: explain --resume of a WordPiece model: $n of 20 read back, the same explanations"; fi
html=$tmp/rep/report.html
if grep -q '##' "$html"; then echo "FAIL: the report shows ## pieces:"; grep -o '[^ >]*##[^ <]*' "$html" | head; fail=1; fi
grep -q '<span class="p[123]" title="[^"]*">\(horrendous\|atrociously\|splendiferous\|lousiness\)</span>' "$html" \
  || { echo "FAIL: no informative whole word is highlighted in the report"; fail=1; }
if command -v xmllint >/dev/null 2>&1; then xmllint --noout "$html" || { echo "FAIL: the report is not well-formed"; fail=1; }; fi
# per example: words, spans into the tokens, one weight per word for every method; the top LIME
# and Shapley word of each class-1/2 text is its informative word
if command -v python3 >/dev/null 2>&1; then
  python3 - "$tmp/rep/explanations.jsonl" <<'PY' || fail=1
import json, sys
inf = {"horrendous", "atrociously", "splendiferous", "lousiness"}
bad, top_ok, top_n = [], 0, 0
for line in open(sys.argv[1]):
    ex = json.loads(line)
    m = ex["models"][0]
    words, spans, toks = m["words"], m["word_spans"], m["tokens"]
    if toks[0] != "[CLS]" or toks[-1] != "[SEP]": bad.append("framing")
    if len(spans) != len(words): bad.append("spans")
    for w, (a, b) in zip(words, spans):
        if "".join(t[2:] if i and t.startswith("##") else t for i, t in enumerate(toks[a:b])) != w: bad.append("span of " + w)
    for meth in ("lime", "shapley", "mask"):
        ww = m[meth]["word_weights"]
        if len(ww) != len(words): bad.append(meth + " word weights")
        if m[meth]["weights"][0] is not None or m[meth]["weights"][-1] is not None: bad.append(meth + " weights [CLS]/[SEP]")
    if ex["label"] and m["prediction"] == ex["label"]:
        for meth in ("lime", "shapley"):
            ww = m[meth]["word_weights"]
            top_n += 1
            top_ok += words[max(range(len(ww)), key=lambda i: ww[i])] in inf
if bad: print("FAIL: explanations.jsonl:", sorted(set(bad)))
if top_n == 0 or top_ok < 0.8 * top_n: print("FAIL: the top LIME/Shapley word is informative in only %d of %d" % (top_ok, top_n)); bad.append("top")
sys.exit(1 if bad else 0)
PY
fi

"$vmaskc" words "$tmp/m.onnx" --whole-words --data "$tmp/train.tsv" --top 4 --tsv "$tmp/w.tsv" >"$tmp/words.out" 2>&1 || { echo "FAIL: words"; cat "$tmp/words.out"; exit 1; }
top=$(sed -n '/whole words by the mean q/,/^Pearson/p' "$tmp/words.out" | awk 'NR>1 && $1 ~ /^[0-9]+$/ {print $2}' | grep -cx 'horrendous\|atrociously\|splendiferous\|lousiness')
[ "$top" -ge 3 ] || { echo "FAIL: only $top of the top 4 whole words are informative"; cat "$tmp/words.out"; fail=1; }
grep -q $'^horrendous\t[0-9.]*\t[0-9]*\tho ##rre ##ndo ##us$' "$tmp/w.tsv" || { echo "FAIL: the TSV lacks the whole-word table"; fail=1; }
out=$("$vmaskc" words "$tmp/m.onnx" --whole-words 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q 'needs --data' || { echo "FAIL: --whole-words without --data: rc $rc, '$out'"; fail=1; }
# the TSV (pieces, then words) still works as an importance file
"$vmaskc" explain "$tmp/m.onnx" --data "$tmp/dev.tsv" --method mask --limit 5 --importance "$tmp/w.tsv" --threads 2 >"$tmp/imp.out" 2>&1 \
  || { echo "FAIL: explain --importance with the words TSV"; cat "$tmp/imp.out"; fail=1; }
[ $fail -eq 0 ] && echo "ok: WordPiece explanations are per whole word (jsonl, report, words --whole-words); informative words on top ($top of 4)"
exit $fail
