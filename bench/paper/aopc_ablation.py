#!/usr/bin/python3
"""Why our AOPC is ~3x the paper's and base/VMASK come out reversed (issue 12, item 5): the same base
and VMASK models measured under every AOPC variant vmaskc has, one result file per setting.

    /usr/bin/python3 bench/paper/aopc_ablation.py [--vmaskc build/vmaskc] [--data-root ../shared/data]
        [--datasets sst2,trec] [--models cnn,lstm] [--seed 1] [--limit 300] [--settings all|NAME,...]
    /usr/bin/python3 bench/paper/aopc_ablation.py --summary [--markdown] [--readme README.md]

The models are the paper study's (bench/paper/study.py, GloVe, frozen embedding): its work folder
holds DS/MODEL/sSEED/{base,vmask}.onnx, which must exist (run the study for that unit first). The
`selftrained` setting also trains the same start model with the embedding learned from random init
(`--train-embedding`, no vectors), base and VMASK, so the effect of pre-trained vectors is measured
on the same texts. Each setting runs `vmaskc compare BASE VMASK --method lime,shapley,random,frequency
--no-posthoc` on the same seeded --limit test texts and writes
bench/paper/results-aopc/DS/MODEL/sSEED/SETTING.json with both models' AOPC (K = 5) per explainer,
their mean confidence p(explained class), and AOPC divided by the room the probability had to fall
(p0 - 1/C, the lead in ../shared/reference/aopc-confidence.md). Existing result files are skipped.
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import paper  # noqa: E402
import study  # noqa: E402
import summarize  # noqa: E402

BEGIN, END = "<!-- aopc-ablation:begin (bench/paper/aopc_ablation.py --summary --readme) -->", "<!-- aopc-ablation:end -->"

# name -> (extra compare flags, what it tests). "default" is the paper's definition as vmaskc reads it
# (interpretability.md §3.4: cumulative deletion of the predicted class's top words, / (K+1)).
SETTINGS = {
    "default": ([], "deletion, cumulative, /(K+1), probability, predicted class, LIME 5000 samples, width 25"),
    "pad": (["--aopc-removal", "pad"], "words replaced in place by <pad> instead of deleted"),
    "unk": (["--aopc-removal", "unk"], "words replaced in place by <unk>"),
    "norm_k": (["--aopc-norm", "k"], "sum of drops / K instead of / (K+1)"),
    "single": (["--aopc-steps", "single"], "step k deletes the k-th word alone"),
    "gold": (["--explain-class", "gold"], "explain and measure the gold class"),
    "logodds": (["--aopc-score", "logodds"], "drops in log-odds instead of probability"),
    "lime1000": (["--samples", "1000"], "LIME with 1000 samples"),
    "lime500": (["--samples", "500"], "LIME with 500 samples"),
    "width10": (["--kernel-width", "10"], "LIME kernel width 10"),
    "width100": (["--kernel-width", "100"], "LIME kernel width 100"),
    "selftrained": ([], "models whose embedding was learned from random init (no GloVe)"),
}
EXPLAINERS = ["lime", "shapley", "random", "frequency"]


def log(msg):
    print("[aopc %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        sys.exit("aopc_ablation: command failed (exit %d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr.decode(errors="replace")[-3000:]))
    return p.stdout.decode(errors="replace")


def measure(report, n_classes):
    """Per model: AOPC (K) per explainer from summary.jsonl; confidence and room-normalised AOPC from
    explanations.jsonl."""
    models = {}
    with open(os.path.join(report, "summary.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            models[r["model"]] = dict(method=r["training"], accuracy=r["accuracy"], aopc={m: v[-1] for m, v in r["aopc"].items()},
                                      settings=r.get("aopc_settings"), p0=[], norm={m: [] for m in r["aopc"]})
    K = None
    with open(os.path.join(report, "explanations.jsonl")) as f:
        for line in f:
            e = json.loads(line)
            for md in e["models"]:
                m = models[md["name"]]
                if K is None:
                    K = json.loads(open(os.path.join(report, "summary.jsonl")).readline())["aopc_k"]
                y = e["label"] if m["settings"] and m["settings"].get("class") == "gold" else md["prediction"]
                p0 = md["probs"][y]
                m["p0"].append(p0)
                room = p0 - 1.0 / n_classes
                for x in m["norm"]:
                    if x in md and room > 0.05:
                        m["norm"][x].append(md[x]["aopc"] / room)
    out = {}
    for name, m in models.items():
        out[m["method"]] = dict(file=name, accuracy=m["accuracy"], aopc=m["aopc"], confidence=statistics.mean(m["p0"]) if m["p0"] else None,
                                aopc_per_room={x: statistics.mean(v) if v else None for x, v in m["norm"].items()},
                                settings=m["settings"])
    return out


def selftrained_models(a, s, ds, fam, seed):
    """base and VMASK trained from the study's start model with the embedding learned (no vectors)."""
    w, _ = s.paths(ds, fam, seed)
    outs = {}
    for method in ("base", "vmask"):
        out = os.path.join(w, "selftrained.%s.onnx" % method)
        if not os.path.exists(out):
            cmd = s.train_cmd(ds, fam, seed, method, os.path.join(w, "start.onnx"), os.path.join(a.work, ds, "vocab.txt"), out,
                              os.path.join(w, "selftrained.%s.history.csv" % method))
            i = cmd.index("--vectors")
            del cmd[i:i + 2]
            cmd += ["--train-embedding"]
            log("train %s %s seed %d %s, embedding learned" % (ds, fam, seed, method))
            run(cmd)
        outs[method] = out
    return outs


def ablate(a):
    sa = argparse.Namespace(vmaskc=a.vmaskc, data_root=a.data_root, vectors="-", epochs=a.epochs, threads=a.threads, work=a.work,
                            results=os.path.join(HERE, "results"))
    s = study.Study(sa)
    names = list(SETTINGS) if a.settings == "all" else a.settings.split(",")
    for n in names:
        if n not in SETTINGS:
            sys.exit("aopc_ablation: unknown setting %s (%s)" % (n, ", ".join(SETTINGS)))
    for ds in a.datasets:
        _, _, test = s.data(ds)
        for fam in a.models:
            w, _ = s.paths(ds, fam, a.seed)
            base, vm = os.path.join(w, "base.onnx"), os.path.join(w, "vmask.onnx")
            if not (os.path.exists(base) and os.path.exists(vm)):
                log("skip %s %s seed %d: no study models in %s (run bench/paper/study.py for it first)" % (ds, fam, a.seed, w))
                continue
            for n in names:
                res = os.path.join(a.results, ds, fam, "s%d" % a.seed, n + ".json")
                if os.path.exists(res):
                    continue
                flags, what = SETTINGS[n]
                models = selftrained_models(a, s, ds, fam, a.seed) if n == "selftrained" else {"base": base, "vmask": vm}
                report = os.path.join(w, "aopc-" + n)
                shutil.rmtree(report, ignore_errors=True)
                cmd = [a.vmaskc, "compare", models["base"], models["vmask"], "--data", test, "--limit", str(a.limit), "--seed", str(a.seed),
                       "--method", ",".join(EXPLAINERS), "--no-posthoc", "--threads", str(a.threads), "--report", report] + flags
                log("%s %s seed %d: %s (%s)" % (ds, fam, a.seed, n, what))
                t0 = time.time()
                run(cmd)
                out = dict(dataset=ds, model=fam, seed=a.seed, setting=n, what=what, flags=flags, texts=a.limit,
                           seconds=round(time.time() - t0, 1), models=measure(report, study.DATASETS[ds]["classes"]),
                           vmaskc_commit=study.git_commit(a.vmaskc), date=time.strftime("%Y-%m-%d"))
                study.write_json(res, out)


def summary(a):
    rows = []
    for path in sorted(glob.glob(os.path.join(a.results, "*", "*", "s*", "*.json"))):
        with open(path) as f:
            rows.append(json.load(f))
    if not rows:
        print("no AOPC ablation results yet")
        return
    md = a.markdown
    order = list(SETTINGS)
    rows.sort(key=lambda r: (r["dataset"], r["model"], r["seed"], order.index(r["setting"]) if r["setting"] in order else 99))
    hdr = ["data/model", "setting", "LIME base", "LIME VMASK", "paper", "Shapley base", "Shapley VMASK", "paper",
           "random b/V", "freq b/V", "p0 b/V", "LIME/room b/V", "×paper", "VMASK>base"]
    lines = []
    for r in rows:
        b, v = r["models"].get("base"), r["models"].get("vmask")
        if not b or not v:
            continue
        ds, fam = r["dataset"], r["model"]
        pl, ps = paper.TABLE4["lime"][fam], paper.TABLE4["shapley"][fam]
        ratio = ((b["aopc"]["lime"] + v["aopc"]["lime"]) * 100 / 2) / ((pl["base"][ds] + pl["vmask"][ds]) / 2)
        direction = "LIME %s, Shapley %s" % ("yes" if v["aopc"]["lime"] > b["aopc"]["lime"] else "no",
                                             "yes" if v["aopc"]["shapley"] > b["aopc"]["shapley"] else "no")
        f = lambda x: "%.2f" % (100 * x) if x is not None else "–"  # noqa: E731
        g = lambda x: "%.2f" % x if x is not None else "–"  # noqa: E731
        lines.append(["%s %s s%d" % (paper.NAMES[ds], fam.upper(), r["seed"]), r["setting"], f(b["aopc"]["lime"]), f(v["aopc"]["lime"]),
                      "%.2f / %.2f" % (pl["base"][ds], pl["vmask"][ds]), f(b["aopc"]["shapley"]), f(v["aopc"]["shapley"]),
                      "%.2f / %.2f" % (ps["base"][ds], ps["vmask"][ds]),
                      "%s / %s" % (f(b["aopc"].get("random")), f(v["aopc"].get("random"))),
                      "%s / %s" % (f(b["aopc"].get("frequency")), f(v["aopc"].get("frequency"))),
                      "%s / %s" % (g(b["confidence"]), g(v["confidence"])),
                      "%s / %s" % (g(b["aopc_per_room"].get("lime")), g(v["aopc_per_room"].get("lime"))), "%.1f" % ratio, direction])
    # the verdicts the issue asks for, from the same rows: which settings land within a factor 1.5 of
    # the paper's magnitude, and which put VMASK above base
    mag = sorted({"%s (%s)" % (l[1], l[0]) for l in lines if 1 / 1.5 <= float(l[12]) <= 1.5})
    up = sorted({"%s (%s: %s)" % (l[1], l[0], l[13]) for l in lines if "yes" in l[13]})
    verdict = ["- within a factor 1.5 of the paper's LIME AOPC: %s" % (", ".join(mag) if mag else "no setting"),
               "- VMASK above base for LIME or SampleShapley: %s" % (", ".join(up) if up else "no setting")]
    text = "\n".join(verdict) + "\n\n" + summarize.table(hdr, lines, md or bool(a.readme))
    if a.readme:
        summarize.replace_between(a.readme, BEGIN, END, text)
    print(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmaskc", default=os.path.join(REPO, "build", "vmaskc"))
    ap.add_argument("--data-root", default=os.path.join(os.path.dirname(REPO), "shared", "data"))
    ap.add_argument("--datasets", default="sst2,trec")
    ap.add_argument("--models", default="cnn,lstm")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=20, help="for the selftrained models (as the study)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--settings", default="all")
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/vmaskc-study"))
    ap.add_argument("--results", default=os.path.join(HERE, "results-aopc"))
    ap.add_argument("--summary", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--readme", help="with --summary: also rewrite the part of this file between the ablation markers")
    a = ap.parse_args()
    a.datasets = [d for d in a.datasets.split(",") if d]
    a.models = [m for m in a.models.split(",") if m]
    a.vmaskc = os.path.abspath(a.vmaskc)
    if a.summary:
        summary(a)
    else:
        ablate(a)


if __name__ == "__main__":
    main()
