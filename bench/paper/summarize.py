#!/usr/bin/python3
"""Prints the paper study's tables from its result files, ours beside the paper's.

    /usr/bin/python3 bench/paper/summarize.py [--results bench/paper/results] [--markdown]
        [--readme README.md]     # also rewrite the README's study section (between its markers)

Tables (mean ± std over the seeds that have finished; n = how many):
  Table 3   test accuracy (%) of base, l2, L2X, IBA and VMASK per dataset and model
  Table 4   AOPC (%) of LIME and SampleShapley, base and VMASK (K = 5)
  Figure 1  post-hoc accuracy (%) of VMASK and IBA for k = 1..10
  Table 11  Pearson r between word frequency and VMASK's global importance
  Time      wall time per dataset and model: training (all methods) and the comparison
Nothing here is typed in by hand except the paper's own numbers (paper.py).
"""
import argparse
import glob
import json
import math
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import paper  # noqa: E402

METHODS = ["base", "l2", "l2x", "iba", "vmask"]
MNAME = {"base": "base", "l2": "ℓ2", "l2x": "L2X", "iba": "IBA", "vmask": "VMASK"}
BEGIN, END = "<!-- paper-study:begin (bench/paper/summarize.py --readme) -->", "<!-- paper-study:end -->"


def load(results):
    train, evals = [], []
    for path in sorted(glob.glob(os.path.join(results, "*", "*", "s*", "*.json"))):
        with open(path) as f:
            r = json.load(f)
        (evals if r.get("kind") == "eval" else train).append(r)
    return train, evals


def ms(xs, digits=2):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return "–"
    if len(xs) == 1:
        return "%.*f" % (digits, xs[0])
    return "%.*f ± %.*f" % (digits, statistics.mean(xs), digits, statistics.stdev(xs))


def n_of(xs):
    return len([x for x in xs if x is not None])


def model_rows(e):
    """method -> the per-model row of an eval result (compare's models.jsonl)."""
    out = {}
    for row in e.get("models", []):
        out.setdefault(row.get("method"), row)
    return out


def table(headers, rows, md):
    if md:
        lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(headers) - 1)) + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = lambda r: "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r))  # noqa: E731
    return "\n".join([fmt(headers)] + [fmt(r) for r in rows])


def summarize(train, evals, md):
    out = []
    dss = [d for d in paper.DATASETS if any(r["dataset"] == d for r in train + evals)]
    fams = [f for f in ("cnn", "lstm") if any(r["model"] == f for r in train + evals)]
    if not dss:
        return "no results yet"
    hdr = ["model"] + ["%s ours (n) / paper" % paper.NAMES[d] for d in dss]

    rows = []
    for fam in fams:
        for m in METHODS:
            accs = {d: [r["test_acc"] for r in train if r["model"] == fam and r["method"] == m and r["dataset"] == d] for d in dss}
            if not any(accs.values()):
                continue
            rows.append(["%s-%s" % (fam.upper(), MNAME[m])] +
                        ["%s (%d) / %.2f" % (ms(accs[d]), n_of(accs[d]), paper.TABLE3[fam][m][d]) for d in dss])
    out.append(("Table 3: test accuracy (%)", table(hdr, rows, md)))

    def ev(fam, d, m, key):
        xs = []
        for e in evals:
            if e["model"] == fam and e["dataset"] == d:
                row = model_rows(e).get(m)
                if row is not None and row.get(key) is not None:
                    xs.append(row[key])
        return xs

    for key, name in (("lime", "LIME"), ("shapley", "SampleShapley")):
        rows = []
        for fam in fams:
            for m in ("base", "vmask"):
                xs = {d: [100 * x for x in ev(fam, d, m, "aopc_" + key)] for d in dss}
                if not any(xs.values()):
                    continue
                rows.append(["%s-%s" % (fam.upper(), MNAME[m])] +
                            ["%s (%d) / %.2f" % (ms(xs[d]), n_of(xs[d]), paper.TABLE4[key][fam][m][d]) for d in dss])
        out.append(("Table 4: AOPC of %s (%%, K = 5)" % name, table(hdr, rows, md)))

    rows = []
    for fam in fams:
        for d in dss:
            for m in ("vmask", "iba"):
                curves = ev(fam, d, m, "posthoc")
                if not curves:
                    continue
                rows.append(["%s %s-%s (n %d)" % (paper.NAMES[d], fam.upper(), MNAME[m], len(curves))] +
                            [ms([100 * c[i] for c in curves if i < len(c)], 1) for i in range(10)])
    out.append(("Figure 1: post-hoc accuracy (%) keeping the top k words by global importance (the paper plots it; "
                 "it reads VMASK above IBA)", table(["model"] + ["k=%d" % (i + 1) for i in range(10)], rows, md)))

    rows = []
    for fam in fams:
        xs = {d: ev(fam, d, "vmask", "pearson_r") for d in dss}
        if any(xs.values()):
            rows.append(["%s-VMASK" % fam.upper()] + ["%s (%d) / %.3f" % (ms(xs[d], 3), n_of(xs[d]), paper.TABLE11[fam][d]) for d in dss])
    out.append(("Table 11: Pearson r, word frequency vs VMASK global importance", table(hdr, rows, md)))

    rows = []
    for d in dss:
        for fam in fams:
            units = sorted({r["seed"] for r in train if r["dataset"] == d and r["model"] == fam})
            if not units:
                continue
            tr = [sum(r["seconds"] for r in train if r["dataset"] == d and r["model"] == fam and r["seed"] == s) for s in units]
            evs = [e["seconds"] for e in evals if e["dataset"] == d and e["model"] == fam]
            rows.append(["%s %s" % (paper.NAMES[d], fam.upper()), "%d" % len(units), "%.1f" % (statistics.mean(tr) / 60),
                         "%.1f" % (statistics.mean(evs) / 60) if evs else "–"])
    out.append(("Time per seed on this machine (2 cores), minutes", table(["dataset", "seeds", "train (all methods)", "compare"], rows, md)))

    parts = []
    for title, body in out:
        parts.append(("**%s**\n\n%s\n" % (title, body)) if md else ("%s\n%s\n" % (title, body)))
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--readme", help="rewrite the part of this file between the study markers")
    a = ap.parse_args()
    train, evals = load(a.results)
    text = summarize(train, evals, a.markdown or bool(a.readme))
    if a.readme:
        with open(a.readme) as f:
            doc = f.read()
        i, j = doc.find(BEGIN), doc.find(END)
        if i < 0 or j < i:
            sys.exit("summarize: %s has no study markers (%s ... %s)" % (a.readme, BEGIN, END))
        doc = doc[:i + len(BEGIN)] + "\n" + text + "\n" + doc[j:]
        tmp = a.readme + ".tmp"
        with open(tmp, "w") as f:
            f.write(doc)
        os.replace(tmp, a.readme)
    print(text)


if __name__ == "__main__":
    main()
