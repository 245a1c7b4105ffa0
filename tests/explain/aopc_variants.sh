#!/usr/bin/env bash
# The AOPC variants of `vmaskc explain` (the ablation study of the paper's AOPC), on a tiny CNN of the
# synthetic task (tests/train), checked against each other and against independent computations:
#  - the explicit defaults (--aopc-removal delete --aopc-steps cumulative --aopc-norm k+1
#    --aopc-score prob --explain-class predicted) give the very numbers of no flags;
#  - --aopc-norm k is the default times (K+1)/K;
#  - --aopc-score logodds: every text's drops equal log-odds(p0) - log-odds(p0 - drop) of the default
#    run's probability drops;
#  - --aopc-steps single: step 1 is the same as cumulative step 1, and later steps differ somewhere;
#  - --aopc-removal pad / unk: in-place replacement changes the drops (the model sees other texts);
#  - --explain-class gold: texts whose prediction is the gold label are explained as before, the
#    others for their gold class (their p0 is the gold class's probability);
#  - --method random,frequency: frequency weights are the token counts of --data (counted here from
#    `vmaskc tokenize --ids`), random orders change with --seed;
#  - bad values are usage errors (exit 2).
# usage: aopc_variants.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
py=$(command -v python3 || true)
if [ -z "$py" ]; then echo "SKIP: python3 is needed to read the JSON outputs"; exit 77; fi
d=$repo/tests/train; model=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$vmaskc" train "$model" --vocab "$d/vocab.txt" --train "$d/train.tsv" --dev "$d/dev.tsv" --epochs 4 --batch 32 --lr 0.01 --seed 5 \
  --threads 1 --no-mask -o "$tmp/base.onnx" >"$tmp/t.out" 2>&1 || { echo "FAIL: training"; cat "$tmp/t.out"; exit 1; }
xo=(--data "$d/test.tsv" --samples 300 --permutations 20 --threads 1 --limit 40 --no-posthoc)
run() { # NAME ARGS...: explain into $tmp/NAME
  local name=$1; shift
  "$vmaskc" explain "$tmp/base.onnx" "${xo[@]}" --report "$tmp/$name" "$@" >"$tmp/$name.out" 2>&1 ||
    { echo "FAIL: explain $name ($*)"; cat "$tmp/$name.out"; exit 1; }
}
run def --method lime,shapley,random,frequency
run explicit --method lime,shapley,random,frequency --aopc-removal delete --aopc-steps cumulative --aopc-norm k+1 --aopc-score prob \
  --explain-class predicted --kernel-width 25
run normk --method lime,shapley --aopc-norm k
run logodds --method lime,shapley --aopc-score logodds
run single --method lime,shapley --aopc-steps single
run pad --method lime,shapley --aopc-removal pad
run unk --method lime,shapley --aopc-removal unk
run gold --method lime,shapley --explain-class gold
run seed2 --method random --seed 2
cut -f2 "$d/test.tsv" | "$vmaskc" tokenize --vocab "$d/vocab.txt" --ids >"$tmp/ids.txt" || { echo "FAIL: tokenize"; exit 1; }

fail=0
"$py" - "$tmp" <<'PY' || fail=1
import json, math, sys
from collections import Counter
tmp = sys.argv[1]
bad = []
def check(cond, what):
    if not cond: bad.append(what)
def summ(name): return json.loads(open("%s/%s/summary.jsonl" % (tmp, name)).readline())
def ex(name): return {e["index"]: e for e in map(json.loads, open("%s/%s/explanations.jsonl" % (tmp, name)))}
def close(a, b, tol=1e-5): return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
d, x = summ("def"), summ("explicit")
check(d["aopc"] == x["aopc"], "explicit defaults differ from the defaults")
check(d["aopc_settings"] == {"removal": "delete", "steps": "cumulative", "norm": "k+1", "score": "prob", "class": "predicted",
                             "lime_samples": 300, "kernel_width": 25}, "aopc_settings %s" % d["aopc_settings"])
K = d["aopc_k"]
nk = summ("normk")
check(nk["aopc_settings"]["norm"] == "k", "norm setting")
for m in ("lime", "shapley"):
    for k in range(1, K + 1):
        check(close(nk["aopc"][m][k - 1], d["aopc"][m][k - 1] * (k + 1) / k), "norm k: %s k=%d %g vs %g" % (m, k, nk["aopc"][m][k - 1], d["aopc"][m][k - 1]))
lo = lambda p: math.log(min(max(p, 1e-7), 1 - 1e-7) / (1 - min(max(p, 1e-7), 1 - 1e-7)))
E, L, S, G = ex("def"), ex("logodds"), ex("single"), ex("gold")
n_lo = n_single_diff = n_gold_other = 0
for i, e in E.items():
    md = e["models"][0]
    p0 = md["probs"][md["prediction"]]
    for m in ("lime", "shapley"):
        dd, ll = md[m]["aopc_deltas"], L[i]["models"][0][m]["aopc_deltas"]
        check(len(dd) == len(ll), "logodds steps of %d" % i)
        for a, b in zip(dd, ll):
            n_lo += 1
            # float32 probabilities: compare in probability space where log-odds are steep
            check(abs((lo(p0) - lo(p0 - a)) - b) < 2e-3 * max(1, abs(b)), "text %d %s: log-odds drop %g, expected %g" % (i, m, b, lo(p0) - lo(p0 - a)))
        ss = S[i]["models"][0][m]["aopc_deltas"]
        check(close(ss[0], dd[0]), "single step 1 of text %d %s: %g vs %g" % (i, m, ss[0], dd[0]))
        n_single_diff += any(not close(a, b) for a, b in zip(ss[1:], dd[1:]))
    g = G[i]["models"][0]
    if e["label"] == md["prediction"]:
        check(g["lime"] == md["lime"] and g["shapley"] == md["shapley"], "gold: text %d (predicted = gold) explained differently" % i)
    else:
        n_gold_other += 1
        check(g["lime"]["weights"] != md["lime"]["weights"], "gold: text %d explained for the same class" % i)
check(n_lo > 50, "too few log-odds drops compared (%d)" % n_lo)
check(n_single_diff > 0, "single-word steps never differ from cumulative ones")
check(n_gold_other > 0, "no text is mispredicted: the gold-class check checked nothing")
for name in ("pad", "unk"):
    s = summ(name)
    check(s["aopc_settings"]["removal"] == name, name + " setting")
    check(s["aopc"]["lime"] != d["aopc"]["lime"], "--aopc-removal %s gives the deletion numbers" % name)
check(summ("pad")["aopc"] != summ("unk")["aopc"], "pad and unk replacement give the same numbers")
# frequency weights = token counts of the data; random changes with the seed
counts = Counter(int(t) for line in open(tmp + "/ids.txt") for t in line.split())
for i, e in E.items():
    md = e["models"][0]
    check(md["frequency"]["weights"] == [counts[t] for t in md["ids"]], "frequency weights of text %d" % i)
R2 = ex("seed2")
same = sum(R2[i]["models"][0]["random"]["weights"] == E[i]["models"][0]["random"]["weights"] for i in E if i in R2)
check(same < len(E) / 2, "random orders do not depend on --seed (%d of %d the same)" % (same, len(E)))
check(d["aopc"]["random"][-1] < d["aopc"]["lime"][-1], "random order above LIME: %g vs %g" % (d["aopc"]["random"][-1], d["aopc"]["lime"][-1]))
for b in bad: print("FAIL:", b)
sys.exit(1 if bad else 0)
PY

for args in "--aopc-removal drop" "--aopc-steps all" "--aopc-norm K" "--aopc-score logit" "--explain-class true" "--kernel-width 0" \
            "--kernel-width x" "--method lime,rnd"; do
  # shellcheck disable=SC2086
  "$vmaskc" explain "$tmp/base.onnx" --data "$d/test.tsv" $args >"$tmp/bad.out" 2>&1; rc=$?
  if [ $rc -ne 2 ]; then echo "FAIL: explain $args: exit $rc, expected 2"; cat "$tmp/bad.out"; fail=1; fi
done
[ $fail -eq 0 ] && echo "PASS: AOPC variants (defaults, norm, log-odds, single, pad/unk, gold class, random and frequency orders)"
exit $fail
