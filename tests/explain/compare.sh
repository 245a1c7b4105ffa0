#!/usr/bin/env bash
# `vmaskc compare` over several models, end to end on the synthetic task (tests/train): five tiny
# CNNs trained in about a second each from the same start — base (--no-mask), l2 (--no-mask
# --weight-decay), L2X, IBA and VMASK (the last three with the word_mask output) — then
#  - the models are named by the method their metadata records (vmaskc.mask, vmaskc.weight_decay);
#  - the console prints the Table 3 row, the AOPC and Table 4 rows, post-hoc accuracy, SP-LIME words
#    and the Pearson r for every model, with the same numbers as summary.jsonl;
#  - summary.jsonl / summary.csv hold one row per model, aopc.csv one per (k, model, method),
#    posthoc.csv one per (k, model), splime.csv every word of every model;
#  - report.html has the paper table, curves, global importance and SP-LIME sections, and its
#    numbers agree with summary.jsonl;
#  - SP-LIME's words equal an independent sum of the per-text LIME weights in explanations.jsonl;
#  - VMASK's importance read from its word_mask output equals the q of `vmaskc words`;
#  - the two-model form (base, VMASK) still works, and bad input is a clear error: one model,
#    different vocabularies, different class counts, --posthoc without any importance.
# usage: compare.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
py=$(command -v python3 || true)
if [ -z "$py" ]; then echo "SKIP: python3 is needed to read the JSON outputs"; exit 77; fi
d=$repo/tests/train; model=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
common=(--vocab "$d/vocab.txt" --train "$d/train.tsv" --dev "$d/dev.tsv" --epochs 4 --batch 32 --lr 0.01 --seed 5 --threads 1)
"$vmaskc" train "$model" "${common[@]}" --no-mask -o "$tmp/base.onnx" >"$tmp/t1.out" 2>&1 &&
  "$vmaskc" train "$model" "${common[@]}" --no-mask --weight-decay 0.001 -o "$tmp/l2.onnx" >"$tmp/t2.out" 2>&1 &&
  "$vmaskc" train "$model" "${common[@]}" --method l2x --l2x-k 4 --mask-output -o "$tmp/l2x.onnx" >"$tmp/t4.out" 2>&1 &&
  "$vmaskc" train "$model" "${common[@]}" --method iba --mask-output -o "$tmp/iba.onnx" >"$tmp/t5.out" 2>&1 &&
  "$vmaskc" train "$model" "${common[@]}" --mask-hidden 16 --mask-output -o "$tmp/vm.onnx" >"$tmp/t3.out" 2>&1 ||
  { echo "FAIL: training the five models"; cat "$tmp"/t*.out; exit 1; }

xo=(--data "$d/test.tsv" --samples 300 --permutations 20 --threads 1)
"$vmaskc" compare "$tmp/base.onnx" "$tmp/l2.onnx" "$tmp/l2x.onnx" "$tmp/iba.onnx" "$tmp/vm.onnx" "${xo[@]}" --report "$tmp/rep" >"$tmp/c.out" 2>"$tmp/c.err" ||
  { echo "FAIL: compare of five models"; cat "$tmp/c.out" "$tmp/c.err"; exit 1; }
"$vmaskc" words "$tmp/vm.onnx" --tsv "$tmp/words.tsv" >/dev/null 2>&1 || { echo "FAIL: words"; exit 1; }

"$py" - "$tmp" <<'PY' || fail=1
import csv, json, re, sys
from collections import defaultdict
tmp = sys.argv[1]; rep = tmp + "/rep"
bad = []
def check(cond, what):
    if not cond: bad.append(what)
names, trainings = ["base", "l2", "L2X", "IBA", "VMASK"], ["base", "l2", "l2x", "iba", "vmask"]
own = {"L2X": "l2x.onnx", "IBA": "iba.onnx", "VMASK": "vm.onnx"}  # models with their own word_mask importance
out = open(tmp + "/c.out").read()
summ = [json.loads(l) for l in open(rep + "/summary.jsonl")]
check([s["model"] for s in summ] == names and [s["training"] for s in summ] == trainings, "summary.jsonl models %s" % [(s["model"], s["training"]) for s in summ])
by = {s["model"]: s for s in summ}

# console tables, with the numbers of summary.jsonl (percent, 2 decimals)
def section(title):
    m = re.search(re.escape(title) + r"[^\n]*\n(.*?)(?:\n\n|\Z)", out, re.S)
    return m.group(1).splitlines() if m else []
t3 = section("Table 3 row: test accuracy")
rows = {l.split()[0]: l.split() for l in t3[1:]}
check(sorted(rows) == sorted(names), "Table 3 rows %s" % list(rows))
for n, t in zip(names, trainings):
    if n in rows:
        check(rows[n][1] == t and rows[n][2] == "%.2f" % (100 * by[n]["accuracy"]), "Table 3 row of %s: %s" % (n, rows[n]))
t4 = {l.split()[0]: l.split()[1:] for l in section("Table 4 row")[1:]}
for n in names:
    want = ["%.2f" % (100 * by[n]["aopc"][m][-1]) for m in ("lime", "shapley")]
    check(t4.get(n) == want, "Table 4 row of %s: %s, summary.jsonl %s" % (n, t4.get(n), want))
ph = {l.split()[0]: l.split() for l in section("post-hoc accuracy (%)")[1:] if l.split()}
for n in names:
    want = ["%.2f" % (100 * v) for v in by[n]["posthoc"]]
    check(ph.get(n, [])[1:11] == want, "post-hoc row of %s" % n)
check("word_mask q of VMASK" in " ".join(ph.get("VMASK", [])), "VMASK ranked by its word_mask output")
for n, what in (("L2X", "score"), ("IBA", "λ")):
    check("word_mask %s of %s" % (what, n) in " ".join(ph.get(n, [])), "%s ranked by its own word_mask output: %s" % (n, ph.get(n)))
check("(" + tmp + "/vm.onnx)" in " ".join(ph.get("base", [])), "base ranked by VMASK's q")
sp_lines = {l.split()[0]: l for l in section("SP-LIME post-hoc global important words")}
for n in names:
    top = by[n]["splime"][0]
    check(n in sp_lines and sp_lines[n].split(None, 1)[1].startswith("%s (%.3f)" % (top["word"], top["weight"])), "SP-LIME line of %s" % n)
m = re.search(r"VMASK: Pearson correlation between word frequency \([^)]*\) and global importance: (-?[0-9.]+) \(Table 11\)", out)
check(m and by["VMASK"]["pearson"] is not None and m.group(1) == "%.4f" % by["VMASK"]["pearson"], "Table 11 line")
check(by["base"]["pearson"] is None and by["l2"]["pearson"] is None, "Pearson r only for a model with its own importance")
check(all(by[n]["pearson"] is not None for n in own), "Pearson r of every model with its own importance")

# CSV files: one row per model (summary), per (k, model, method) (aopc), per (k, model) (posthoc)
sc = list(csv.DictReader(open(rep + "/summary.csv")))
check([r["model"] for r in sc] == names and [r["training"] for r in sc] == trainings, "summary.csv rows")
for r in sc:
    s = by[r["model"]]
    check(abs(float(r["accuracy"]) - s["accuracy"]) < 1e-6 and abs(float(r["aopc_lime"]) - s["aopc"]["lime"][-1]) < 1e-6, "summary.csv numbers of " + r["model"])
    check((r["aopc_mask"] != "") == (r["model"] in own), "summary.csv mask AOPC of " + r["model"])
ac = list(csv.DictReader(open(rep + "/aopc.csv")))
keys = {(r["k"], r["model"], r["method"]) for r in ac}
check(len(ac) == len(keys) == 5 * 13, "aopc.csv has %d rows (want 5 k x (5 models x 2 methods + 3 masks))" % len(ac))
for r in ac:
    check(abs(float(r["aopc"]) - by[r["model"]]["aopc"][r["method"]][int(r["k"]) - 1]) < 1e-6 and r["training"] == by[r["model"]]["training"], "aopc.csv row %s" % r)
pc = list(csv.DictReader(open(rep + "/posthoc.csv")))
check(len(pc) == 50 and all(abs(float(r["accuracy"]) - by[r["model"]]["posthoc"][int(r["k"]) - 1]) < 1e-6 for r in pc), "posthoc.csv")

# SP-LIME against an independent sum of the per-text LIME weights (a word counts once per text)
indep = {n: defaultdict(float) for n in names}
for line in open(rep + "/explanations.jsonl"):
    ex = json.loads(line)
    for mo in ex["models"]:
        seen = {}
        for tok, i, w in zip(mo["tokens"], mo["ids"], mo["lime"]["weights"]):
            if i in seen: check(seen[i] == w, "one LIME weight per word and text"); continue
            seen[i] = w
            indep[mo["name"]][tok] += w
spc = defaultdict(list)
for r in csv.DictReader(open(rep + "/splime.csv")): spc[r["model"]].append(r)
for n in names:
    want = sorted(indep[n].items(), key=lambda kv: (-kv[1], kv[0]))
    got = [(r["word"], float(r["weight"])) for r in spc[n]]
    check(len(got) == len(want) and [int(r["rank"]) for r in spc[n]] == list(range(1, len(got) + 1)), "splime.csv length of %s" % n)
    check(all(a[0] == b[0] and abs(a[1] - b[1]) < 1e-4 for a, b in zip(got[:10], want[:10])), "SP-LIME top words of %s: %s vs %s" % (n, got[:5], want[:5]))
    check(all(abs(dict(got)[w] - v) < 1e-4 for w, v in want), "SP-LIME sums of %s" % n)

# VMASK's importance from its word_mask output is the q of `vmaskc words`
q = {l.split("\t")[0]: float(l.split("\t")[1]) for l in list(open(tmp + "/words.tsv"))[1:]}
worst = 0.0
for line in open(rep + "/explanations.jsonl"):
    mo = json.loads(line)["models"][4]
    for tok, w in zip(mo["tokens"], mo["mask"]["weights"]):
        worst = max(worst, abs(q[tok] - w))
check(worst < 1e-5, "word_mask importance differs from words' q by %g" % worst)

# the report: its sections, and its numbers equal summary.jsonl's
h = open(rep + "/report.html").read()
for sec in ("summary", "paper", "curves", "words", "splime", "examples"):
    check('id="%s"' % sec in h, "report section " + sec)
table = h[h.find('id="paper"'):]
table = table[:table.find("</table>")]
for n, t in zip(names, trainings):
    m = re.search(r'<tr><th class="l">%s</th><td class="l">%s</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>' % (n, t), table)
    s = by[n]
    want = ["%.2f" % (100 * s["accuracy"]), "%.2f" % (100 * s["aopc"]["lime"][-1]), "%.2f" % (100 * s["aopc"]["shapley"][-1]),
            "%.1f" % (100 * s["posthoc"][0]), "%.1f" % (100 * s["posthoc"][-1]), "%.3f" % s["pearson"] if s["pearson"] is not None else "\u2013"]
    check(m and list(m.groups()) == want, "report row of %s: %s, want %s" % (n, m.groups() if m else None, want))
spt = h[h.find('id="splime"'):]
for n in names:
    top = by[n]["splime"][0]
    check('<td class="w">%s <span class="qv">%.3f</span>' % (top["word"], top["weight"]) in spt, "report SP-LIME word of " + n)
check(h.count('aria-label="AOPC versus k, ') == 3, "one AOPC chart per method (LIME, SampleShapley, mask q)")
check('aria-label="Figure 1: post-hoc accuracy of VMASK and IBA versus k' in h, "the Figure 1 chart (VMASK against IBA)")
if bad: print("FAIL: " + "\nFAIL: ".join(bad))
else: print("ok: five models (base, l2, L2X, IBA, VMASK): console, summary.jsonl/csv, aopc/posthoc/splime.csv and report agree; SP-LIME matches an independent sum; word_mask importance = q")
sys.exit(1 if bad else 0)
PY

# the two-model form of before: base and VMASK, the base model ranked by VMASK's q
"$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" "${xo[@]}" --limit 10 >"$tmp/c2.out" 2>&1 &&
  grep -q '^  base  *[0-9.]*  *[0-9.]*$' "$tmp/c2.out" && grep -q '^  VMASK  *[0-9.]*  *[0-9.]*$' "$tmp/c2.out" &&
  grep -q "^  base .*word_mask q of VMASK ($tmp/vm.onnx)" "$tmp/c2.out" && echo "ok: compare BASE VMASK" ||
  { echo "FAIL: compare of two models"; cat "$tmp/c2.out"; fail=1; }
# two models of one method: named by method and file name (by path when the file names are the same)
cp "$tmp/vm.onnx" "$tmp/vm2.onnx"
"$vmaskc" compare "$tmp/vm.onnx" "$tmp/vm2.onnx" "$tmp/vm.onnx" "${xo[@]}" --limit 3 --method lime --no-posthoc >"$tmp/c4.out" 2>&1 &&
  grep -q '^  VMASK (vm2.onnx) ' "$tmp/c4.out" && grep -q "^  VMASK ($tmp/vm.onnx) " "$tmp/c4.out" &&
  echo "ok: models of one method are told apart by file" ||
  { echo "FAIL: two models of one method"; cat "$tmp/c4.out"; fail=1; }

# bad input: clear errors (exit code and message, tests/bad_input/expect.sh)
pass=0
. "$repo/tests/bad_input/expect.sh"
sed 's/^w0$/w1x/; s/^w1$/w0/; s/^w1x$/w1/' "$d/vocab.txt" >"$tmp/vocab2.txt"
awk -F'\t' '{ print ($1 > 1 ? 1 : $1) "\t" $2 }' "$d/train.tsv" >"$tmp/train2.tsv"
awk -F'\t' '{ print ($1 > 1 ? 1 : $1) "\t" $2 }' "$d/dev.tsv" >"$tmp/dev2.tsv"
if "$vmaskc" train "$model" "${common[@]}" --mask-hidden 16 --vocab "$tmp/vocab2.txt" --epochs 1 -o "$tmp/v2.onnx" >/dev/null 2>&1 &&
   "$vmaskc" train "$repo/tests/fixtures/models/bert_op13/model.onnx" --vocab "$d/vocab.txt" --train "$tmp/train2.tsv" --dev "$tmp/dev2.tsv" \
     --epochs 1 --max-len 30 --no-mask --seed 5 --threads 1 -o "$tmp/two.onnx" >/dev/null 2>&1; then
  expect 3 "$tmp/base.onnx and $tmp/v2.onnx have different vocabularies (2 of their ids differ, the first at id" \
    "$vmaskc" compare "$tmp/base.onnx" "$tmp/v2.onnx" "${xo[@]}" --limit 3
  expect 3 "$tmp/base.onnx has 3 classes but $tmp/two.onnx has 2: they are not the same task" \
    "$vmaskc" compare "$tmp/base.onnx" "$tmp/two.onnx" --data "$tmp/dev2.tsv" --max-len 30 --limit 3
else
  echo "FAIL: training the models for the bad-input cases"; fail=1
fi
expect 2 "needs at least two models" "$vmaskc" compare "$tmp/vm.onnx" "${xo[@]}"
expect 3 "post-hoc accuracy (--posthoc) needs a global importance: $tmp/base.onnx has neither a word_mask output nor a VMASK word mask" \
  "$vmaskc" compare "$tmp/base.onnx" "$tmp/l2.onnx" "${xo[@]}" --limit 3 --posthoc --report "$tmp/nope"
[ -e "$tmp/nope" ] && { echo "FAIL: a failed compare wrote $tmp/nope"; fail=1; }
out=$("$vmaskc" compare "$tmp/base.onnx" "$tmp/l2.onnx" "${xo[@]}" --limit 3 --report "$tmp/r2" 2>&1)
if [ $? -eq 0 ] && [[ "$out" == *"note: no post-hoc accuracy for base"* ]] && [ "$(wc -l <"$tmp/r2/posthoc.csv")" -eq 1 ]; then
  echo "ok: without any importance, post-hoc accuracy is skipped with a note"
else echo "FAIL: compare without importance: $out"; fail=1; fi
echo "bad input: $pass cases passed"
[ "$fail" -eq 0 ]
