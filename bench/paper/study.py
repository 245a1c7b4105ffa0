#!/usr/bin/python3
"""The paper study (issues 12 and 13): the VMASK paper's Tables 3, 4, 11 and Figure 1 with vmaskc, on
SST-1, SST-2, TREC, Subj and IMDB, CNN and LSTM, five training methods, static GloVe 100-d vectors.

    /usr/bin/python3 bench/paper/study.py [--vmaskc build/vmaskc] [--data-root ../shared/data]
        [--datasets trec,subj,sst2,sst1,imdb] [--models cnn,lstm] [--methods base,l2,l2x,iba,vmask]
        [--seeds 1,2,3] [--imdb-seeds 1] [--epochs 20] [--threads 1] [--plan]
    /usr/bin/python3 bench/paper/summarize.py                # tables from the result files

Unit of work: one (dataset, model, seed). For it the study builds the vocabulary (the paper's Table 7
threshold), a randomly initialised model whose embedding has one row per vocabulary entry
(make_model.py; the model's seed is the run's seed), trains it with each method from that same
starting point (`vmaskc train --method M --vectors GloVe`, best-on-dev), and runs `vmaskc compare`:
on base and VMASK with LIME and SampleShapley (Table 4's AOPC, Table 6's SP-LIME words, as the paper
explains those two), and on all the trained models with the random order only (accuracy, post-hoc
accuracy k = 1..10, frequency-importance Pearson r). Results from before this split (TREC seed 1)
explained all five models; their base and VMASK numbers are the same computation.

Resumable: every finished step writes one JSON file under --results (default bench/paper/results,
committed): `DS/MODEL/sSEED/METHOD.json` for a training run and `DS/MODEL/sSEED/eval.json` for the
comparison. A step whose result file exists is skipped, so an interrupted study continues where it
stopped; models and reports live under --work (default ~/.cache/vmaskc-study, not committed). A
comparison runs with `compare --resume`, so a killed one continues from the examples it explained; for
one longer than a session (IMDB), `--save-progress` puts that progress beside the results, to commit,
and a study on another machine (which retrains the lost models, and checks they come out the same)
continues from it. Units run
in the order seed, then dataset (small ones first), then model, so that every table has one seed early.
Progress and a time estimate go to stderr.
"""
import argparse
import csv
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import paper  # noqa: E402

PY = "/usr/bin/python3"

# Per dataset (README, "The paper's data handling": checked against the paper's Table 7 vocabulary
# sizes): classes, files, the files the vocabulary is built from, --min-freq, --max-len, the dev split
# when the dataset has none, and how many test texts the paper explains (section 5.1.1: all of TREC and
# Subj, a random 1000 elsewhere), and SampleShapley's permutations where the default would not fit the
# budget: vmaskc's 238 give SampleShapley LIME's cost (5,000 model evaluations) on a 20-word text, but
# one permutation walks every word, so on IMDB's 250-word texts 238 permutations cost 23.5 s of one core
# per text against LIME's 2.0 s (measured 2026-12-07, CNN) — 13 hours per model for 1000 texts. IMDB
# gets 20 permutations: LIME's 5,000 evaluations again (the paper gives no count).
DATASETS = {
    "trec": dict(classes=6, files=("trec/train.tsv", None, "trec/test.tsv"), vocab_from=("trec/train.tsv",), min_freq=1,
                 max_len=15, dev_split=0.083, aopc_limit=None),
    "subj": dict(classes=2, files=("subj/train.tsv", None, "subj/test.tsv"), vocab_from=("subj/train.tsv",), min_freq=2,
                 max_len=25, dev_split=0.111, aopc_limit=None),
    "sst2": dict(classes=2, files=("sst2/train.tsv", "sst2/dev.tsv", "sst2/test.tsv"),
                 vocab_from=("sst2/train.tsv", "sst2/dev.tsv", "sst2/test.tsv"), min_freq=1, max_len=50, aopc_limit=1000),
    "sst1": dict(classes=5, files=("sst1/train.tsv", "sst1/dev.tsv", "sst1/test.tsv"),
                 vocab_from=("sst1/train.tsv", "sst1/dev.tsv", "sst1/test.tsv"), min_freq=1, max_len=50, aopc_limit=1000),
    "imdb": dict(classes=2, files=("imdb/train.tsv.gz", None, "imdb/test.tsv.gz"), vocab_from=("imdb/train.tsv.gz",), min_freq=5,
                 max_len=250, dev_split=0.2, aopc_limit=1000, permutations=20),
}

# Per model family: the release's mask network width (appendix C); everything else is shared.
MODELS = {"cnn": dict(mask_hidden=500), "lstm": dict(mask_hidden=300)}
METHODS = ["base", "l2", "l2x", "iba", "vmask"]
IBA_BETAS = [0.01, 0.1, 1, 10]  # IBA's information-loss weight, selected on dev per run
SHARED = dict(batch=50, lr=1e-3, dropout=0.2)


def log(msg):
    print("[study %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def run(cmd, out_path=None):
    """Runs cmd, returns stdout; on failure prints the tail of stderr and exits (the study resumes)."""
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        sys.exit("study: command failed (exit %d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr.decode(errors="replace")[-3000:]))
    if out_path:
        with open(out_path, "wb") as f:
            f.write(p.stdout)
    return p.stdout.decode(errors="replace"), time.time() - t0


def run_resumable(cmd, report):
    """Runs a `vmaskc compare --report REPORT` with --resume: the examples an interrupted comparison
    explained (REPORT/progress.bin, or its committed copy, restore_progress) are read back. Progress
    from other models or settings is refused by compare; it is then moved aside (REPORT.refused-TIME)
    and the comparison starts over. Returns stdout and the seconds of this run (not of earlier, interrupted ones)."""
    for attempt in (1, 2):
        t0 = time.time()
        p = subprocess.run(cmd + ["--resume"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if not p.returncode:
            return p.stdout.decode(errors="replace"), time.time() - t0
        err = p.stderr.decode(errors="replace")
        if attempt == 1 and "was written by another run" in err:
            # kept, not deleted: hours of explanations may be behind a difference that does not matter
            # (data compressed again hashed differently before compare hashed the text it reads)
            aside = "%s.refused-%s" % (report, time.strftime("%Y%m%d-%H%M%S"))
            log("%s/progress.bin is another run's: starting this comparison over, the old one kept as %s (%s)" % (report, aside, err.strip()[-300:]))
            os.replace(report, aside)
            continue
        sys.exit("study: command failed (exit %d): %s\n%s" % (p.returncode, " ".join(cmd), err[-3000:]))


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def git_commit(vmaskc=None):
    """The commit the vmaskc binary was built from (`vmaskc --version` names it since 2026-12-07). For an
    older binary, which does not, the repository's HEAD — which is what the result files before that
    date recorded, although the study ran a binary built earlier (bench/paper/README.md)."""
    if vmaskc:
        try:
            out = subprocess.run([vmaskc, "--version"], stdout=subprocess.PIPE, check=True).stdout.decode()
            m = re.search(r"\(commit ([^)]+)\)", out)
            if m and m.group(1) != "unknown":
                return m.group(1)
        except (OSError, subprocess.CalledProcessError):
            pass
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE, check=True).stdout.decode().strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def parse_train(stdout):
    m = re.search(r"best dev accuracy ([0-9.]+)% \(epoch (\d+) of (\d+)\)(?:; test accuracy ([0-9.]+)%)?", stdout)
    if not m:
        sys.exit("study: could not read the accuracy line of vmaskc train:\n" + stdout[-2000:])
    return dict(dev_acc=float(m.group(1)), best_epoch=int(m.group(2)), epochs=int(m.group(3)),
                test_acc=float(m.group(4)) if m.group(4) else None)


def read_history(path):
    with open(path) as f:
        return list(csv.DictReader(f))


class Study:
    def __init__(self, a):
        self.a = a

    def paths(self, ds, fam, seed):
        w = os.path.join(self.a.work, ds, fam, "s%d" % seed)
        r = os.path.join(self.a.results, ds, fam, "s%d" % seed)
        return w, r

    def data(self, ds):
        tr, dv, te = DATASETS[ds]["files"]
        j = lambda p: os.path.join(self.a.data_root, p) if p else None  # noqa: E731
        return j(tr), j(dv), j(te)

    def vocab(self, ds):
        cfg = DATASETS[ds]
        path = os.path.join(self.a.work, ds, "vocab.txt")
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            files = [os.path.join(self.a.data_root, f) for f in cfg["vocab_from"]]
            # Kim (2014)'s ASCII cleanup, as the paper (and the VMASK release) tokenized
            run([self.a.vmaskc, "vocab"] + files + ["--tokenizer", "kim", "--min-freq", str(cfg["min_freq"]), "-o", path])
        with open(path) as f:
            n = sum(1 for _ in f)
        return path, n

    def model(self, ds, fam, seed, vocab, n_vocab):
        w, _ = self.paths(ds, fam, seed)
        path = os.path.join(w, "start.onnx")
        if not os.path.exists(path):
            os.makedirs(w, exist_ok=True)
            run([PY, os.path.join(HERE, "make_model.py"), "--model", fam, "--vocab", vocab, "--classes",
                 str(DATASETS[ds]["classes"]), "--emb", "100", "--seed", str(seed), "-o", path])
        return path

    def train_cmd(self, ds, fam, seed, method, start, vocab, out, hist):
        cfg, mc = DATASETS[ds], MODELS[fam]
        train, dev, test = self.data(ds)
        cmd = [self.a.vmaskc, "train", start, "--vocab", vocab, "--tokenizer", "kim", "--vectors", self.a.vectors, "--train", train, "--test", test,
               "--method", method, "--seed", str(seed), "--epochs", str(self.a.epochs), "--batch", str(SHARED["batch"]),
               "--lr", str(SHARED["lr"]), "--dropout", str(SHARED["dropout"]), "--max-len", str(cfg["max_len"]),
               "--threads", str(self.a.threads), "-o", out, "--history", hist]
        cmd += ["--dev", dev] if dev else ["--dev-split", str(cfg["dev_split"])]
        if method in ("vmask", "l2x", "iba"):
            cmd += ["--mask-output"]  # the word_mask output: compare's global importance of the model
        if method == "vmask":
            cmd += ["--mask-hidden", str(mc["mask_hidden"])]
        return cmd

    def train(self, ds, fam, seed, method, start, vocab):
        w, r = self.paths(ds, fam, seed)
        res_path = os.path.join(r, method + ".json")
        out = os.path.join(w, method + ".onnx")
        if os.path.exists(res_path) and os.path.exists(out):
            return out, False
        # A result whose model is gone (the work directory is not committed: a new machine) is
        # retrained, for IBA with the beta its sweep chose only, and must reproduce the recorded
        # numbers: training is deterministic for a given seed, so a difference is reported, and the
        # new run's numbers then replace the old ones (the old ones kept under "replaced")
        old = None
        if os.path.exists(res_path):
            with open(res_path) as f:
                old = json.load(f)
        # IBA's beta is chosen on dev (the paper tuned each model for accuracy, appendix C): the
        # reference's 10 was made for a per-sample bottleneck and collapses a jointly trained model
        sweep = [None] if method != "iba" else IBA_BETAS
        if old is not None and method == "iba" and old.get("iba_beta") is not None:
            sweep = [old["iba_beta"]]
        runs = []
        for b in sweep:
            tag = method if b is None else "%s.beta%g" % (method, b)
            hist = os.path.join(w, tag + ".history.csv")
            o = out if b is None else os.path.join(w, tag + ".onnx")
            cmd = self.train_cmd(ds, fam, seed, method, start, vocab, o, hist) + ([] if b is None else ["--iba-beta", "%g" % b])
            # a sweep's runs are kept one by one (IMDB's take 20 min each): a resumed study reuses them
            done = os.path.join(w, tag + ".run.json")
            if b is not None and os.path.exists(done) and os.path.exists(o):
                with open(done) as f:
                    d = json.load(f)
                stdout, secs, commit = d["stdout"], d["seconds"], d["vmaskc_commit"]
                log("train %s %s seed %d %s: done before" % (ds, fam, seed, tag))
            else:
                log("train %s %s seed %d %s" % (ds, fam, seed, tag))
                commit = git_commit(self.a.vmaskc)  # per run: the binary may be replaced between runs
                stdout, secs = run(cmd)
                if b is not None:
                    write_json(done, dict(stdout=stdout, seconds=secs, vmaskc_commit=commit))
            res = parse_train(stdout)
            h = read_history(hist)
            times = sorted(float(row["train_seconds"]) for row in h if row.get("train_seconds"))
            res.update(kind="train", dataset=ds, model=fam, method=method, seed=seed, seconds=round(secs, 1),
                       epoch_seconds_median=times[len(times) // 2] if times else None,
                       history=h, command=[os.path.basename(c) if os.path.isabs(c) else c for c in cmd], vmaskc_commit=commit,
                       date=time.strftime("%Y-%m-%d"))
            if b is not None:
                res["iba_beta"] = b
            runs.append((res, o))
        res, o = max(runs, key=lambda ro: ro[0]["dev_acc"])  # the first of equals: the smaller beta
        if o != out:
            shutil.copyfile(o, out)
        if len(runs) > 1:
            res["sweep"] = [dict(iba_beta=r["iba_beta"], dev_acc=r["dev_acc"], test_acc=r["test_acc"], best_epoch=r["best_epoch"],
                                 seconds=r["seconds"]) for r, _ in runs]
            res["seconds"] = round(sum(r["seconds"] for r, _ in runs), 1)
        if old is not None:
            keys = ("dev_acc", "test_acc", "best_epoch")
            same = all(old.get(k) == res.get(k) for k in keys)
            log("retrained %s %s seed %d %s (model lost): %s" % (ds, fam, seed, method, "reproduced %s" % ", ".join(
                "%s %s" % (k, res[k]) for k in keys) if same else "DIFFERS: was %s, now %s" % (
                [old.get(k) for k in keys], [res.get(k) for k in keys])))
            if same:
                rep = old.setdefault("reproduced", [])
                rep.append(dict(vmaskc_commit=res["vmaskc_commit"], date=res["date"], seconds=res["seconds"]))
                write_json(res_path, old)
                return out, True
            res["replaced"] = {k: old.get(k) for k in keys + ("vmaskc_commit", "date", "sweep")}
            if "sweep" in old and "sweep" not in res:
                res["sweep"] = old["sweep"]
        write_json(res_path, res)
        return out, True

    # An evaluation longer than a session (IMDB) continues on another machine: `--save-progress` copies
    # each unfinished comparison's progress.bin, gzipped, beside the unit's result files (committed);
    # a study that finds no progress.bin of its own starts from that copy. compare checks that the copy
    # is of the same data, models (their bytes: the retrained models must be identical, see train())
    # and settings, and refuses it otherwise (run_resumable then starts over).
    def progress_copy(self, ds, fam, seed, name):
        return os.path.join(self.paths(ds, fam, seed)[1], name + ".progress.bin.gz")

    def restore_progress(self, ds, fam, seed, name, report):
        src, dst = self.progress_copy(ds, fam, seed, name), os.path.join(report, "progress.bin")
        if os.path.exists(src) and not os.path.exists(dst):
            os.makedirs(report, exist_ok=True)
            with gzip.open(src, "rb") as f, open(dst + ".tmp", "wb") as g:
                shutil.copyfileobj(f, g)
            os.replace(dst + ".tmp", dst)
            log("restored %s from %s" % (dst, os.path.relpath(src, REPO)))

    def save_progress(self):
        for ds, fam, seed in self.units():
            w, r = self.paths(ds, fam, seed)
            if os.path.exists(os.path.join(r, "eval.json")):
                continue
            for name in ("report", "report-all"):
                src = os.path.join(w, name, "progress.bin")
                if not os.path.exists(src):
                    continue
                dst = self.progress_copy(ds, fam, seed, name)
                os.makedirs(r, exist_ok=True)
                with open(src, "rb") as f, gzip.open(dst + ".tmp", "wb", compresslevel=9) as g:
                    shutil.copyfileobj(f, g)
                os.replace(dst + ".tmp", dst)
                print("%s (%d bytes, from %d)" % (os.path.relpath(dst, REPO), os.path.getsize(dst), os.path.getsize(src)))

    def evaluate(self, ds, fam, seed, outs):
        w, r = self.paths(ds, fam, seed)
        res_path = os.path.join(r, "eval.json")
        if os.path.exists(res_path):
            with open(res_path) as f:
                have = {row["method"] for row in json.load(f)["models"]}
            if set(self.methods) <= have:
                return  # a comparison over these methods (or more) is done; one over fewer is redone
        _, _, test = self.data(ds)
        limit = ["--limit", str(DATASETS[ds]["aopc_limit"])] if DATASETS[ds]["aopc_limit"] else []
        if DATASETS[ds].get("permutations"):
            limit += ["--permutations", str(DATASETS[ds]["permutations"])]
        # Table 4 and 6 explain base and VMASK only (as the paper does): LIME and SampleShapley are
        # nearly all of the time; Table 3, Figure 1 and Table 11 need every model but no explanation,
        # so a second comparison runs them with the (cheap) random order in place of LIME/SampleShapley
        aopc_methods = [m for m in ("base", "vmask") if m in self.methods] if len(self.methods) > 2 else []
        runs = []
        for name, models, extra in (("report", aopc_methods or self.methods, []),
                                    ("report-all", self.methods if aopc_methods else [], ["--method", "random"])):
            if not models:
                continue
            report = os.path.join(w, name)
            self.restore_progress(ds, fam, seed, name, report)
            resumed = os.path.exists(os.path.join(report, "progress.bin"))
            cmd = [self.a.vmaskc, "compare"] + [outs[m] for m in models] + ["--data", test, "--seed", str(seed), "--report", report,
                                                                           "--threads", str(self.a.threads)] + limit + extra
            log("compare %s %s seed %d (%s%s)" % (ds, fam, seed, ", ".join(models), "; random order only" if extra else ""))
            commit = git_commit(self.a.vmaskc)
            stdout, secs = run_resumable(cmd, report)
            runs.append((read_compare(report), cmd, secs, commit, resumed))
        res = runs[0][0]
        if len(runs) > 1:
            # every model's accuracy, post-hoc accuracy and Pearson r from the second run; the AOPC and
            # SP-LIME of base and VMASK from the first
            explained = {r["method"]: r for r in runs[0][0]["models"]}
            rows = runs[1][0]["models"]
            for r in rows:
                e = explained.get(r["method"])
                for k in ("explained", "aopc_k", "aopc_settings", "aopc_curves", "aopc_lime", "aopc_shapley", "splime"):
                    r[k] = e[k] if e else ([] if k == "splime" else {} if k == "aopc_curves" else None)
            res = dict(models=rows)
        # a resumed comparison's wall time is its last run's only; compare's own cost (each explained
        # example's seconds, read back from progress.bin too) counts the interrupted runs' explanations
        cost = sum(c["seconds"] for x in runs for row in x[0]["models"] for c in (row.get("cost") or {}).values())
        res.update(kind="eval", dataset=ds, model=fam, seed=seed, seconds=round(sum(x[2] for x in runs), 1),
                   resumed=any(x[4] for x in runs), explain_seconds=round(cost, 1),
                   command=[os.path.basename(c) if os.path.isabs(c) else c for c in runs[0][1]],
                   vmaskc_commit=" + ".join(sorted(set(x[3] for x in runs))),
                   date=time.strftime("%Y-%m-%d"))
        if len(runs) > 1:
            res["command_all"] = [os.path.basename(c) if os.path.isabs(c) else c for c in runs[1][1]]
        write_json(res_path, res)
        for name in ("report", "report-all"):  # the committed progress of this evaluation is done with
            if os.path.exists(self.progress_copy(ds, fam, seed, name)):
                os.remove(self.progress_copy(ds, fam, seed, name))

    def units(self):
        for seed in self.a.seeds:
            for ds in self.a.datasets:
                if ds == "imdb" and seed not in self.a.imdb_seeds:
                    continue
                for fam in self.a.models:
                    yield ds, fam, seed

    def main(self):
        self.methods = self.a.methods
        units = list(self.units())
        if self.a.save_progress:
            self.save_progress()
            return
        if self.a.plan:
            for u in units:
                _, r = self.paths(*u)
                done = [m for m in self.methods if os.path.exists(os.path.join(r, m + ".json"))]
                ev = os.path.exists(os.path.join(r, "eval.json"))
                print("%-5s %-4s seed %d: trained %s%s" % (u[0], u[1], u[2], ",".join(done) or "-", "; evaluated" if ev else ""))
            return
        if not self.a.vectors:
            self.a.vectors = run([PY, os.path.join(HERE, "fetch_glove.py")])[0].strip().splitlines()[-1]
        if not os.path.exists(self.a.vectors):
            sys.exit("study: no vectors at %s (bench/paper/fetch_glove.py, or give --vectors)" % self.a.vectors)
        t_start = time.time()
        for i, (ds, fam, seed) in enumerate(units):
            log("unit %d/%d: %s %s seed %d (%.0f min so far)" % (i + 1, len(units), ds, fam, seed, (time.time() - t_start) / 60))
            vocab, n_vocab = self.vocab(ds)
            start = self.model(ds, fam, seed, vocab, n_vocab)
            outs = {m: self.train(ds, fam, seed, m, start, vocab)[0] for m in self.methods}
            if not self.a.skip_eval:
                self.evaluate(ds, fam, seed, outs)
        log("done in %.1f min" % ((time.time() - t_start) / 60))


def read_compare(report):
    """The comparison's numbers, one row per model, from compare's summary.jsonl."""
    path = os.path.join(report, "summary.jsonl")
    if not os.path.exists(path):
        sys.exit("study: %s is missing: this vmaskc's compare does not write per-model rows" % path)
    rows = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            aopc = r.get("aopc") or {}
            rows.append(dict(method=r.get("training"), file=os.path.basename(r.get("file", "")), accuracy=r.get("accuracy"),
                             explained=r.get("explained"), aopc_k=r.get("aopc_k"), aopc_settings=r.get("aopc_settings"),
                             aopc_curves=aopc, aopc_lime=(aopc.get("lime") or [None])[-1], aopc_shapley=(aopc.get("shapley") or [None])[-1],
                             posthoc=r.get("posthoc"), posthoc_importance=r.get("posthoc_importance"), pearson_r=r.get("pearson"),
                             splime=[w["word"] for w in (r.get("splime") or [])[:10]], cost=r.get("cost")))
    return dict(models=rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmaskc", default=os.path.join(REPO, "build", "vmaskc"))
    ap.add_argument("--data-root", default=os.path.join(os.path.dirname(REPO), "shared", "data"))
    ap.add_argument("--vectors", help="word vectors (default: GloVe 6B 100-d from bench/paper/fetch_glove.py, fetched once)")
    ap.add_argument("--datasets", default="trec,subj,sst2,sst1,imdb")
    ap.add_argument("--models", default="cnn,lstm")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--imdb-seeds", default="1")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="threads per vmaskc run (1: the study shares the machine)")
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/vmaskc-study"))
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--skip-eval", action="store_true", help="train only")
    ap.add_argument("--plan", action="store_true", help="print what is done and what is left, and exit")
    ap.add_argument("--save-progress", action="store_true",
                    help="copy the progress of unfinished comparisons into --results (to commit; a study on another machine continues from it), and exit")
    a = ap.parse_args()
    a.datasets = [d for d in a.datasets.split(",") if d]
    for d in a.datasets:
        if d not in DATASETS:
            ap.error("unknown dataset %s (known: %s)" % (d, ", ".join(DATASETS)))
    a.models = [m for m in a.models.split(",") if m]
    a.methods = [m for m in a.methods.split(",") if m]
    for m in a.methods:
        if m not in METHODS:
            ap.error("unknown method %s" % m)
    a.seeds = [int(s) for s in a.seeds.split(",") if s]
    a.imdb_seeds = [int(s) for s in a.imdb_seeds.split(",") if s]
    a.vmaskc = os.path.abspath(a.vmaskc)
    Study(a).main()


if __name__ == "__main__":
    main()
