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
    if not rows:
        return "(no results yet)"
    if md:
        lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(headers) - 1)) + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = lambda r: "  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r))  # noqa: E731
    return "\n".join([fmt(headers)] + [fmt(r) for r in rows])


def mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.mean(xs) if xs else None


METHOD_ORDER = ("base", "l2", "l2x", "iba", "vmask")
METHOD_NAMES = {"base": "base", "l2": "ℓ2", "l2x": "L2X", "iba": "IBA", "vmask": "VMASK"}


def ranking(acc):
    """'VMASK > IBA = base > ...': the methods by accuracy, equal (to 0.01) ones joined by '='."""
    ms_ = sorted(METHOD_ORDER, key=lambda m: -acc[m])
    out = METHOD_NAMES[ms_[0]]
    for a, b in zip(ms_, ms_[1:]):
        out += (" = " if round(acc[a], 2) == round(acc[b], 2) else " > ") + METHOD_NAMES[b]
    return out


def claims(train, evals, dss, fams, ev):
    """The paper's claims, each checked on every (dataset, model) that has the numbers: how many
    agree, and by how much on average."""
    lines = []

    def tally(name, pairs, unit):
        pairs = [(k, d) for k, d in pairs if d is not None]
        if not pairs:
            lines.append("- %s: no results yet" % name)
            return
        held = [k for k, d in pairs if d > 0]
        lines.append("- %s: holds in %d of %d (mean difference %+.2f %s; %s)" % (
            name, len(held), len(pairs), statistics.mean(d for _, d in pairs), unit,
            ", ".join("%s %+.2f" % (k, d) for k, d in pairs)))

    acc = lambda fam, d, m: mean([r["test_acc"] for r in train if r["model"] == fam and r["dataset"] == d and r["method"] == m])  # noqa: E731
    keys = [(fam, d) for fam in fams for d in dss]
    lab = lambda fam, d: "%s %s" % (paper.NAMES[d], fam.upper())  # noqa: E731

    def diff(a, b):
        return a - b if a is not None and b is not None else None

    order_lines = []
    for f, d in keys:  # the five methods ranked by test accuracy, ours against the paper's
        ours = {m: acc(f, d, m) for m in METHOD_ORDER}
        if any(v is None for v in ours.values()):
            continue
        theirs = {m: paper.TABLE3[f][m][d] for m in METHOD_ORDER}
        pairs = [(a, b) for i, a in enumerate(METHOD_ORDER) for b in METHOD_ORDER[i + 1:]]
        sign = [(round(ours[a] - ours[b], 2)) * (theirs[a] - theirs[b]) for a, b in pairs]
        agree, against = sum(x > 0 for x in sign), sum(x < 0 for x in sign)
        order_lines.append("%s: ours %s, the paper's %s (%d of %d pairs in the paper's order, %d against; Kendall's tau %+.1f)" % (
            lab(f, d), ranking(ours), ranking(theirs), agree, len(pairs), against, (agree - against) / len(pairs)))
    if order_lines:
        lines.append("- Table 3, the order of the five methods by accuracy: " + "; ".join(order_lines))
    tally("Table 3, VMASK is more accurate than base", [(lab(f, d), diff(acc(f, d, "vmask"), acc(f, d, "base"))) for f, d in keys], "points")
    tally("Table 3, VMASK is more accurate than IBA", [(lab(f, d), diff(acc(f, d, "vmask"), acc(f, d, "iba"))) for f, d in keys], "points")
    tally("Table 3, L2X is the least accurate method", [(lab(f, d), diff(min([x for x in (acc(f, d, m) for m in ("base", "l2", "iba", "vmask")) if x is not None], default=None), acc(f, d, "l2x"))) for f, d in keys], "points")
    for key, name in (("lime", "LIME"), ("shapley", "SampleShapley")):
        tally("Table 4, AOPC of %s is higher for VMASK than for base" % name,
              [(lab(f, d), diff(mean([100 * x for x in ev(f, d, "vmask", "aopc_" + key)]), mean([100 * x for x in ev(f, d, "base", "aopc_" + key)]))) for f, d in keys], "points")
    ratios = []
    for f, d in keys:
        for m in ("base", "vmask"):
            x = mean([100 * x for x in ev(f, d, m, "aopc_lime")])
            if x is not None:
                ratios.append(x / paper.TABLE4["lime"][f][m][d])
    if ratios:
        lines.append("- Table 4 magnitude: our LIME AOPC is %.1f× the paper's on average (%.1f× to %.1f×)" % (statistics.mean(ratios), min(ratios), max(ratios)))

    def ph(f, d, m, k):
        return mean([100 * c[k - 1] for c in ev(f, d, m, "posthoc") if len(c) >= k])
    for k in (1, 2, 5):
        tally("Figure 1, post-hoc accuracy at k = %d is higher for VMASK than for IBA" % k, [(lab(f, d), diff(ph(f, d, "vmask", k), ph(f, d, "iba", k))) for f, d in keys], "points")
    rs = [(lab(f, d), mean(ev(f, d, "vmask", "pearson_r"))) for f, d in keys]
    rs = [(k, r) for k, r in rs if r is not None]
    if rs:
        lines.append("- Table 11, word frequency and VMASK's importance are not correlated (|r| < 0.1): %d of %d (%s)" % (
            sum(abs(r) < 0.1 for _, r in rs), len(rs), ", ".join("%s %.3f" % kr for kr in rs)))
    return "\n".join(lines)


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
            # a resumed comparison (study.py: "resumed") ran in several pieces: its wall time is the last
            # piece's; compare's own count of the explanations' seconds covers them all (marked *)
            es = [e for e in evals if e["dataset"] == d and e["model"] == fam]
            evs = [max(e["seconds"], e.get("explain_seconds") or 0) if e.get("resumed") else e["seconds"] for e in es]
            rows.append(["%s %s" % (paper.NAMES[d], fam.upper()), "%d" % len(units), "%.1f" % (statistics.mean(tr) / 60),
                         ("%.1f" % (statistics.mean(evs) / 60) + ("*" if any(e.get("resumed") for e in es) else "")) if evs else "–"])
    out.append(("Time per seed on this machine (2 cores), minutes (* resumed across runs: the explanations' own seconds, "
                "which compare counts over every piece)", table(["dataset", "seeds", "train (all methods)", "compare"], rows, md)))

    out.insert(0, ("Which of the paper's claims hold here (computed from the tables below)", claims(train, evals, dss, fams, ev)))
    parts = []
    for title, body in out:
        parts.append(("**%s**\n\n%s\n" % (title, body)) if md else ("%s\n%s\n" % (title, body)))
    return "\n".join(parts)


def replace_between(path, begin, end, text):
    """Rewrites the part of the file at path between the marker lines begin and end."""
    with open(path) as f:
        doc = f.read()
    i, j = doc.find(begin), doc.find(end)
    if i < 0 or j < i:
        sys.exit("summarize: %s has no markers (%s ... %s)" % (path, begin, end))
    doc = doc[:i + len(begin)] + "\n" + text + "\n" + doc[j:]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(doc)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--readme", help="rewrite the part of this file between the study markers")
    a = ap.parse_args()
    train, evals = load(a.results)
    text = summarize(train, evals, a.markdown or bool(a.readme))
    if a.readme:
        replace_between(a.readme, BEGIN, END, text)
    print(text)


if __name__ == "__main__":
    main()
