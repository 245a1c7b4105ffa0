#!/usr/bin/python3
"""BERT-style accuracy check against PyTorch 1.13 on SST-2 (issue 11 item 8).

A BERT-nano in Hugging Face's layout (make_bert.py's classes: 2 layers, hidden 64, 2 heads, FF 256,
bert-base-uncased's 30,522-piece vocabulary, 512 positions, random init) is trained from scratch on
SST-2 by the paper's two-stage protocol (appendix C), by vmaskc and by PyTorch, from the same ONNX
file and weights, with the same settings:
  stage 1 (base)   every weight trainable, no mask              `vmaskc train --no-mask --train-embedding`
  stage 2 (VMASK)  the word embedding frozen, the mask trained with the rest, from stage 1's best model
                   (`vmaskc train BASE.onnx`; PyTorch: bench/train/vmask_torch.py's VMask with
                   [CLS]/[SEP]/[PAD] kept at q = 1 and out of the information loss, as vmaskc does)
Adam, lr, batch, epochs, dropout before the classifier, beta schedule, max length, seeds, best-on-dev
selection on SST-2's dev set: shared. The PyTorch side reads ids made once by Hugging Face's own
tokenizer (tests/tokenizer/reference.js: @anush008/tokenizers through node), never by vmaskc; vmaskc
tokenizes the raw text itself (the ids are compared and the mismatches counted).

Then the export check: vmaskc's VMASK export runs on the raw SST-2 test texts in `vmaskc predict`
and, on Hugging Face's ids, in onnxruntime-node; the largest probability difference is recorded.

    /usr/bin/python3 bench/bert/accuracy.py [--vmaskc build/vmaskc] [--seeds 1,2] [--systems torch,vmaskc]
    /usr/bin/python3 bench/bert/accuracy.py --summary [--markdown]      # the table from the result files
    /usr/bin/python3 bench/bert/accuracy.py --summary --readme README.md --readme bench/README.md
        # the same, written between the bert-accuracy markers of each file
    /usr/bin/python3 bench/bert/accuracy.py --seeds 1,2 --systems torch_from_vmaskc
        # diagnosis: PyTorch's stage 2 from vmaskc's stage-1 export (the two stage 2s from the same weights;
        # the weights are matched to PyTorch's parameters through the starting ONNX file)
    /usr/bin/python3 bench/bert/accuracy.py --seeds 6 --systems vmaskc_from_torch
        # the reverse: PyTorch's stage 1 rerun (same seed, one thread: the same weights) and exported,
        # then vmaskc's stage 2 from that export

Resumable: each (system, seed) writes bench/bert/results/<system>.seed<S>.json (and agreement.seed<S>.json)
and is skipped when that file exists; work files go to bench/out/bert_acc/ (gitignored). Settings are
stored in every result file, and --summary refuses to put runs with different settings in one row.
"""
import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "train"))
from compare import fmt, peak_rss_mib, run  # noqa: E402

PY = "/usr/bin/python3"
VOCAB = os.path.join(REPO, "tests", "fixtures", "tokenizer", "bert-base-uncased-vocab.txt")
RESULTS = os.path.join(HERE, "results")
SPLITS = ("train", "dev", "test")
# the settings both systems use (stored in every result file)
# (small and short: what the shared 2-core machine allowed for PyTorch's generic BLAS while other jobs ran,
# one thread per process so that several seeds run side by side)
SETTINGS = {"model": "nano", "max_len": 64, "batch": 32, "lr": 1e-3, "dropout": 0.1, "epochs_base": 2,
            "epochs_vmask": 1, "mask_hidden": 100, "tau": 1.0, "beta_start": 1.0, "beta_end": 0.109, "beta_steps": 10,
            "threads": 1, "opset": 14}


README_BEGIN = "<!-- bert-accuracy:begin (bench/bert/accuracy.py --summary --readme FILE) -->"
README_END = "<!-- bert-accuracy:end -->"
STAGE2_FLAGS = ["--epochs", str(SETTINGS["epochs_vmask"]), "--mask-hidden", str(SETTINGS["mask_hidden"]),
                "--tau", str(SETTINGS["tau"]), "--beta-start", str(SETTINGS["beta_start"]),
                "--beta-end", str(SETTINGS["beta_end"]), "--beta-steps", str(SETTINGS["beta_steps"])]


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def node_env(tokdir):
    return dict(os.environ, NODE_PATH=os.path.join(tokdir, "node_modules"))


def tokenizer_dir():
    p = subprocess.run([os.path.join(REPO, "tests", "tokenizer", "install.sh")], stdout=subprocess.PIPE)
    if p.returncode:
        sys.exit("Hugging Face's tokenizer reference is not available (tests/tokenizer/install.sh failed)")
    return p.stdout.decode().strip()


def prepare(a, work):
    """The starting model (ONNX + its PyTorch state) and Hugging Face's ids of the three splits."""
    import torch
    import make_bert
    done = os.path.join(work, "prepared.json")
    if os.path.exists(done):
        return json.load(open(done))
    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(SETTINGS["threads"])
    make_bert.export(SETTINGS["model"], work, SETTINGS["opset"])
    torch.save(make_bert.build(SETTINGS["model"]).state_dict(), os.path.join(work, "model.pt"))
    tokdir = tokenizer_dir()
    info = {"vmaskc_id_mismatches": {}}
    for s in SPLITS:
        rows = [l.rstrip("\n").split("\t", 1) for l in open(os.path.join(a.data, s + ".tsv"), encoding="utf-8")]
        with open(os.path.join(work, s + ".txt"), "w", encoding="utf-8") as f:
            f.write("".join(t + "\n" for _, t in rows))
        ref, _, _ = run(["node", os.path.join(REPO, "tests", "tokenizer", "reference.js"), VOCAB, os.path.join(work, s + ".txt"),
                         "--max-len", str(SETTINGS["max_len"])], node_env(tokdir))
        ids = ref.splitlines()
        if len(ids) != len(rows):
            sys.exit("reference.js gave %d lines for %d texts of %s" % (len(ids), len(rows), s))
        with open(os.path.join(work, s + ".ids"), "w") as f:
            f.write("".join("%s\t%s\n" % (lab, i) for (lab, _), i in zip(rows, ids)))
        with open(os.path.join(work, s + ".txt"), "rb") as f:
            mine = subprocess.run([a.vmaskc, "tokenize", "--vocab", VOCAB, "--ids", "--max-len", str(SETTINGS["max_len"])],
                                  input=f.read(), stdout=subprocess.PIPE, check=True).stdout.decode().splitlines()
        info["vmaskc_id_mismatches"][s] = sum(x != y for x, y in zip(mine, ids)) + abs(len(mine) - len(ids))
        log("%s: %d texts tokenized by Hugging Face's tokenizer; vmaskc's ids differ on %d" % (
            s, len(rows), info["vmaskc_id_mismatches"][s]))
    json.dump(info, open(done, "w"))
    return info


def load_ids(path):
    data = []
    for line in open(path):
        label, ids = line.rstrip("\n").split("\t")
        data.append((int(label), [int(x) for x in ids.split()]))
    return data


def torch_child(a):
    """Both stages in PyTorch (one process; prints one JSON line)."""
    import numpy as np
    import torch
    import torch.nn as nn
    import make_bert
    from vmask_torch import VMask, beta_at, evaluate, fit

    class BertClf(nn.Module):
        """make_bert.Bert seen as vmask_torch's classifiers are: .embedding, .head(x, ids), forward(ids)."""
        min_len = 1

        def __init__(self, bert):
            super().__init__()
            self.bert, self.embedding = bert, bert.embeddings.word

        def head(self, x, ids):
            return self.bert(ids, (ids != 0).long(), torch.zeros_like(ids), word=x)

        def forward(self, ids):
            return self.head(self.embedding(ids), ids)

    work, st = a.work, SETTINGS
    torch.set_num_threads(st["threads"])
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    train, dev, test = (load_ids(os.path.join(work, s + ".ids")) for s in SPLITS)
    vocab = [l.rstrip("\n") for l in open(VOCAB, encoding="utf-8")]
    keep = [vocab.index(t) for t in ("[CLS]", "[SEP]", "[PAD]")]
    bert = make_bert.Bert(*make_bert.CONFIGS[st["model"]])
    bert.load_state_dict(torch.load(os.path.join(work, "model.pt")))
    bert.dropout.p = st["dropout"]
    if a.from_vmaskc:  # stage 2 only, from vmaskc's stage-1 export: the two stage 2s from the same weights
        load_onnx_weights(bert, os.path.join(work, st["model"], "model.onnx"), os.path.join(work, "vmaskc.base.seed%d.onnx" % a.seed))
    base = BertClf(bert)
    out = {}
    ns = argparse.Namespace(epochs=st["epochs_base"], batch=st["batch"], lr=st["lr"], progress=True,
                            beta_start=st["beta_start"], beta_end=st["beta_end"], beta_steps=st["beta_steps"])
    if a.from_vmaskc:
        out["base"] = {"dev": evaluate(base, dev, st["batch"], 1), "test": evaluate(base, test, st["batch"], 1), "epoch_seconds": []}
    else:
        log("torch seed %d: stage 1 (base, embedding trainable), %d epochs" % (a.seed, ns.epochs))
        dev_acc, times = fit(base, list(base.parameters()), train, dev, ns, rng, 1)
        out["base"] = {"dev": dev_acc, "test": evaluate(base, test, st["batch"], 1), "epoch_seconds": times}
        if a.export_stage1:  # stage 1 only, its best model exported for vmaskc's stage 2
            make_bert.export_model(bert, a.export_stage1, st["opset"])
            print(json.dumps(out))
            return
    base.embedding.weight.requires_grad_(False)
    model = VMask(base, st["mask_hidden"], st["tau"], pad_id=0, keep_ids=keep)
    ns.epochs = st["epochs_vmask"]
    log("torch seed %d: stage 2 (VMASK, embedding frozen), %d epochs" % (a.seed, ns.epochs))
    dev_acc, times = fit(model, [p for p in model.parameters() if p.requires_grad], train, dev, ns, rng, 1,
                         lambda e: beta_at(ns, e))
    out["vmask"] = {"dev": dev_acc, "test": evaluate(model, test, st["batch"], 1), "epoch_seconds": times}
    print(json.dumps(out))


def load_onnx_weights(model, start_onnx, trained_onnx):
    """Copies the initializers of trained_onnx into model; which parameter each is comes from start_onnx,
    exported from model's current state (torch names MatMul weights onnx::MatMul_N, transposed)."""
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper
    params = dict(model.named_parameters())
    start = {t.name: numpy_helper.to_array(t) for t in onnx.load(start_onnx).graph.initializer}
    trained = {t.name: numpy_helper.to_array(t) for t in onnx.load(trained_onnx).graph.initializer}
    done = set()
    for name, w in start.items():
        if w.size < 2:
            continue
        hit = [(k, tr) for k, p in params.items() if k not in done for tr in ((False, True) if p.dim() == 2 else (False,))
               if (p.detach().numpy().T if tr else p.detach().numpy()).shape == w.shape
               and np.array_equal(p.detach().numpy().T if tr else p.detach().numpy(), w)]
        if len(hit) != 1:
            sys.exit("%s: initializer %s matches %d parameters" % (start_onnx, name, len(hit)))
        k, tr = hit[0]
        with torch.no_grad():
            params[k].copy_(torch.from_numpy(np.array(trained[name].T if tr else trained[name])))
        done.add(k)
    if done != set(params):
        sys.exit("%s: no initializer for %s" % (start_onnx, ", ".join(sorted(set(params) - done))))


def vmaskc_stage(a, work, seed, model, out, stage, extra):
    st = SETTINGS
    hist = out + ".history.csv"
    cmd = [a.vmaskc, "train", model, "--train", os.path.join(a.data, "train.tsv"), "--dev", os.path.join(a.data, "dev.tsv"),
           "--test", os.path.join(a.data, "test.tsv"), "-o", out, "--max-len", str(st["max_len"]), "--batch", str(st["batch"]),
           "--lr", str(st["lr"]), "--dropout", str(st["dropout"]), "--seed", str(seed), "--threads", str(st["threads"]),
           "--history", hist, "--top", "0"] + extra
    log("vmaskc seed %d: %s: %s" % (seed, stage, " ".join(cmd)))
    stdout, err, _ = run(["/usr/bin/time", "-v"] + cmd, dict(os.environ, OMP_NUM_THREADS=str(st["threads"])), tee=True)
    import csv
    return {"dev": float(re.search(r"best dev accuracy ([0-9.]+)%", stdout).group(1)) / 100,
            "test": float(re.search(r"test accuracy ([0-9.]+)%", stdout).group(1)) / 100,
            "epoch_seconds": [float(r["train_seconds"]) for r in csv.DictReader(open(hist))],
            "peak_rss_mib": peak_rss_mib(err)}


def run_system(a, work, system, seed):
    st = SETTINGS
    if system == "vmaskc_from_torch":  # diagnosis: vmaskc's stage 2 from PyTorch's stage-1 weights
        start = os.path.join(work, "torch.base.seed%d.onnx" % seed)
        stdout, _, _ = run([PY, os.path.abspath(__file__), "--torch-child", "--seed", str(seed), "--work", work,
                            "--export-stage1", start], dict(os.environ, OMP_NUM_THREADS=str(st["threads"])), tee=True)
        res = {"base": json.loads(stdout.strip().splitlines()[-1])["base"]}
        res["vmask"] = vmaskc_stage(a, work, seed, start, os.path.join(work, "vmaskc_from_torch.vmask.seed%d.onnx" % seed),
                                    "stage 2 from PyTorch's stage 1", ["--vocab", VOCAB] + STAGE2_FLAGS)
        res["peak_rss_mib"] = res["vmask"]["peak_rss_mib"]
        return res
    if system in ("torch", "torch_from_vmaskc"):
        stdout, err, _ = run(["/usr/bin/time", "-v", PY, os.path.abspath(__file__), "--torch-child", "--seed", str(seed),
                              "--work", work] + (["--from-vmaskc"] if system != "torch" else []),
                             dict(os.environ, OMP_NUM_THREADS=str(st["threads"])), tee=True)
        res = json.loads(stdout.strip().splitlines()[-1])
        res["peak_rss_mib"] = peak_rss_mib(err)  # both stages, one process
        return res
    base_out = os.path.join(work, "vmaskc.base.seed%d.onnx" % seed)
    vm_out = os.path.join(work, "vmaskc.vmask.seed%d.onnx" % seed)
    res = {"base": vmaskc_stage(a, work, seed, os.path.join(work, st["model"], "model.onnx"), base_out, "stage 1",
                                ["--vocab", VOCAB, "--no-mask", "--train-embedding", "--epochs", str(st["epochs_base"])]),
           "vmask": vmaskc_stage(a, work, seed, base_out, vm_out, "stage 2", STAGE2_FLAGS)}
    res["peak_rss_mib"] = max(res["base"]["peak_rss_mib"], res["vmask"]["peak_rss_mib"])
    return res


def agreement(a, work, seed):
    """vmaskc predict on raw test texts vs onnxruntime-node on Hugging Face's ids, same exported model."""
    import numpy as np
    from onnx import TensorProto, numpy_helper
    model = os.path.join(work, "vmaskc.vmask.seed%d.onnx" % seed)
    texts = os.path.join(work, "test.txt")
    t0 = time.time()
    stdout, _, _ = run([a.vmaskc, "predict", model, "--file", texts, "--max-len", str(SETTINGS["max_len"]), "--digits", "8",
                        "--threads", str(SETTINGS["threads"])])
    mine = np.array([[float(x) for x in l.split("probabilities")[1].split()] for l in stdout.splitlines() if "probabilities" in l])
    rows = [[int(x) for x in l.split("\t")[1].split()] for l in open(os.path.join(work, "test.ids"))]
    T = max(len(r) for r in rows)
    ids = np.zeros((len(rows), T), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
    lens = np.array([len(r) for r in rows])
    d = os.path.join(work, "ort_in.seed%d" % seed)
    os.makedirs(d, exist_ok=True)
    for k, arr in enumerate([ids, (np.arange(T)[None] < lens[:, None]).astype(np.int64), np.zeros_like(ids)]):
        open(os.path.join(d, "input_%d.pb" % k), "wb").write(numpy_helper.from_array(arr).SerializeToString())
    run(["node", os.path.join(REPO, "tools", "ort", "ort_run.js"), model, "--test-data", d, "--out", d + ".out"])
    t = TensorProto()
    t.ParseFromString(open(os.path.join(d + ".out", "output_0.pb"), "rb").read())
    logits = numpy_helper.to_array(t).astype(np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    if mine.shape != p.shape:
        sys.exit("predict gave %s probabilities, onnxruntime-node %s" % (mine.shape, p.shape))
    labels = np.array([int(l.split("\t")[0]) for l in open(os.path.join(work, "test.ids"))])
    return {"texts": len(rows), "max_abs_diff": float(np.abs(mine - p).max()), "same_class": int((mine.argmax(1) == p.argmax(1)).sum()),
            "ort_test_accuracy": float((p.argmax(1) == labels).mean()), "seconds": time.time() - t0}


def paired_stage2(res):
    """(seed, stage-1 test, PyTorch's stage-2 test, vmaskc's stage-2 test) for every start both systems ran
    stage 2 from: vmaskc's stage 1 (vmaskc, torch_from_vmaskc) and PyTorch's (torch, vmaskc_from_torch), in %."""
    by = {k: {r["seed"]: r for r in res.get(k, [])} for k in ("torch", "vmaskc", "torch_from_vmaskc", "vmaskc_from_torch")}
    out = []
    for own, other, pt_first in (("vmaskc", "torch_from_vmaskc", False), ("torch", "vmaskc_from_torch", True)):
        for seed in sorted(set(by[own]) & set(by[other])):
            a, b = by[own][seed], by[other][seed]
            t, v = (a, b) if pt_first else (b, a)
            out.append((seed, 100 * a["base"]["test"], 100 * t["vmask"]["test"], 100 * v["vmask"]["test"]))
    return out


def summary(markdown, results=RESULTS):
    res = {}
    for path in sorted(glob.glob(os.path.join(results, "*.seed*.json"))):
        r = json.load(open(path))
        res.setdefault(r["kind"], []).append(r)
    if not res.get("torch") or not res.get("vmaskc"):
        sys.exit("no results for both systems under %s (run without --summary first)" % results)
    settings = {json.dumps(r["settings"], sort_keys=True) for k in ("torch", "vmaskc") for r in res[k]}
    if len(settings) != 1:
        sys.exit("the result files under %s were made with different settings; remove the stale ones" % results)
    st = res["torch"][0]["settings"]
    med = lambda xs: statistics.median(xs[1:] or xs)  # noqa: E731 (first epoch excluded, as compare.py)
    head = ["stage", "PyTorch test %", "vmaskc test %", "difference", "within 1 point", "median PyTorch / vmaskc", "seeds",
            "dev % PyTorch / vmaskc", "epoch s PyTorch / vmaskc"]
    lines = []
    for stage in ("base", "vmask"):
        seeds = sorted(set(r["seed"] for r in res["torch"]) & set(r["seed"] for r in res["vmaskc"]))
        acc = {k: [100 * r[stage]["test"] for r in res[k] if r["seed"] in seeds] for k in ("torch", "vmaskc")}
        ep = {k: statistics.mean(med(r[stage]["epoch_seconds"]) for r in res[k] if r["seed"] in seeds) for k in ("torch", "vmaskc")}
        dev = {k: statistics.mean(100 * r[stage]["dev"] for r in res[k] if r["seed"] in seeds) for k in ("torch", "vmaskc")}
        diff = statistics.mean(acc["vmaskc"]) - statistics.mean(acc["torch"])
        lines.append(["base (fine-tuned, no mask)" if stage == "base" else "VMASK (embedding frozen)", fmt(acc["torch"]),
                      fmt(acc["vmaskc"]), "%+.2f" % diff, "yes" if abs(diff) <= 1 else "NO",
                      "%.2f / %.2f" % (statistics.median(acc["torch"]), statistics.median(acc["vmaskc"])), ",".join(map(str, seeds)),
                      "%.2f / %.2f" % (dev["torch"], dev["vmaskc"]), "%.1f / %.1f" % (ep["torch"], ep["vmaskc"])])
    L, d, h, _ = __import__("make_bert").CONFIGS[st["model"]]
    cfg = ("BERT-%s (%d layers, hidden %d, %d heads), vocab 30,522, max len %d, batch %d, Adam lr %g, dropout %g, "
           "%d + %d epochs, mask hidden %d, %d thread(s)" % (st["model"], L, d, h, st["max_len"], st["batch"], st["lr"],
                                                           st["dropout"], st["epochs_base"], st["epochs_vmask"],
                                                           st["mask_hidden"], st["threads"]))
    if markdown:
        print(cfg + ":\n")
        print("| " + " | ".join(head) + " |")
        print("| --- |" + " ---: |" * (len(head) - 1))
        for l in lines:
            print("| " + " | ".join(l) + " |")
    else:
        print(cfg)
        w = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
        for l in lines:
            print("  ".join(x.ljust(w[i]) for i, x in enumerate(l)))
    if markdown:
        print()
    for k, name in (("torch", "PyTorch"), ("vmaskc", "vmaskc")):
        print("%s per seed (base / VMASK test %%): %s" % (name, ", ".join(
            "seed %d %.2f / %.2f" % (r["seed"], 100 * r["base"]["test"], 100 * r["vmask"]["test"]) for r in sorted(res[k], key=lambda r: r["seed"]))))
    for cross_kind, own_kind, who, whose, base_note in (
            ("torch_from_vmaskc", "vmaskc", "PyTorch", "vmaskc", "those weights evaluated in PyTorch"),
            ("vmaskc_from_torch", "torch", "vmaskc", "PyTorch", "PyTorch's stage 1 rerun")):
        own = {r["seed"]: r for r in res[own_kind]}
        same = [r for r in sorted(res.get(cross_kind, []), key=lambda r: r["seed"]) if r["seed"] in own]
        if not same:
            continue
        print("%s stage 2 from %s's stage-1 weights (seeds %s): VMASK test %s against %s's %s (%+.2f); %s: test %s "
              "(%s's result files: %s)" % (
                  who, whose, ",".join(str(r["seed"]) for r in same), fmt([100 * r["vmask"]["test"] for r in same]), whose,
                  fmt([100 * own[r["seed"]]["vmask"]["test"] for r in same]),
                  statistics.mean(100 * (r["vmask"]["test"] - own[r["seed"]]["vmask"]["test"]) for r in same), base_note,
                  fmt([100 * r["base"]["test"] for r in same]), whose, fmt([100 * own[r["seed"]]["base"]["test"] for r in same])))
    pairs = paired_stage2(res)
    if pairs:
        d = [v - t for _, _, t, v in pairs]
        print("stage 2 from the same stage-1 weights, both systems (%d pairs: vmaskc's and PyTorch's stage 1 of each seed "
              "that has both): PyTorch %s, vmaskc %s, difference vmaskc - PyTorch mean %+.2f, median %+.2f; runs that lost "
              "more than 3 points to their stage 1: PyTorch %d, vmaskc %d" % (
                  len(pairs), fmt([t for _, _, t, _ in pairs]), fmt([v for _, _, _, v in pairs]), statistics.mean(d),
                  statistics.median(d), sum(b - t > 3 for _, b, t, _ in pairs), sum(b - v > 3 for _, b, _, v in pairs)))
    fastest = {k: min(t for r in res[k] for st_ in ("base", "vmask") for t in r[st_]["epoch_seconds"]) for k in ("torch", "vmaskc")}
    print("fastest epoch (least loaded moment): PyTorch %.1f s, vmaskc %.1f s" % (fastest["torch"], fastest["vmaskc"]))
    peaks = {k: max(r["peak_rss_mib"] for r in res[k]) for k in ("torch", "vmaskc")}
    print("peak RSS MiB: PyTorch %.0f, vmaskc %.0f" % (peaks["torch"], peaks["vmaskc"]))
    agree = sorted(res.get("agreement", []), key=lambda r: r["seed"])
    if agree:
        g = [r["agreement"] for r in agree]
        worst = max(x["max_abs_diff"] for x in g)
        print("export (seeds %s): max |vmaskc predict - onnxruntime-node| = %.2e over %s raw test texts each (%s 1e-4), "
              "same class on %d of %d; ORT test accuracy per seed %s" % (
                  ",".join(str(r["seed"]) for r in agree), worst, "/".join(sorted({str(x["texts"]) for x in g})),
                  "<=" if worst <= 1e-4 else "ABOVE", sum(x["same_class"] for x in g), sum(x["texts"] for x in g),
                  ", ".join("%.2f%%" % (100 * x["ort_test_accuracy"]) for x in g)))
    for r in res["vmaskc"][:1]:
        mm = r.get("vmaskc_id_mismatches")
        if mm is not None:
            print("vmaskc's ids vs Hugging Face's on SST-2 (train/dev/test): %s texts differ" % "/".join(str(mm[s]) for s in SPLITS))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmaskc", default=os.path.join(REPO, "build", "vmaskc"))
    ap.add_argument("--data", default=os.path.join(REPO, "data", "sst2"))
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--systems", default="torch,vmaskc")
    ap.add_argument("--work", default=os.path.join(REPO, "bench", "out", "bert_acc"))
    ap.add_argument("--results", default=RESULTS, help="result files (default bench/bert/results)")
    ap.add_argument("--summary", action="store_true", help="print the table from the result files")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--readme", action="append", default=[],
                    help="with --summary: rewrite the block between this file's bert-accuracy markers (repeatable)")
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--from-vmaskc", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--export-stage1", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_child:
        return torch_child(a)
    if a.summary and a.readme:
        import contextlib
        import io
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "paper"))
        from summarize import replace_between
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            summary(True, a.results)
        lines = buf.getvalue().rstrip("\n").split("\n")
        text = "\n".join(l if not l or l.startswith(("|", "BERT-")) else "- " + l for l in lines)
        for path in a.readme:
            replace_between(path, README_BEGIN, README_END, text)
        return
    if a.summary:
        return summary(a.markdown, a.results)
    a.vmaskc = os.path.abspath(a.vmaskc)
    info = prepare(a, a.work)
    os.makedirs(a.results, exist_ok=True)
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE).stdout.decode().strip()
    for seed in [int(s) for s in a.seeds.split(",")]:
        for system in a.systems.split(","):
            path = os.path.join(a.results, "%s.seed%d.json" % (system, seed))
            if os.path.exists(path):
                log("%s exists: skipped" % os.path.relpath(path, REPO))
                continue
            t0 = time.time()
            r = run_system(a, a.work, system, seed)
            r.update(kind=system, seed=seed, settings=SETTINGS, commit=commit, wall_seconds=time.time() - t0,
                     date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **info)
            json.dump(r, open(path + ".tmp", "w"), indent=1)
            os.replace(path + ".tmp", path)
            log("%s seed %d: base test %.2f%%, VMASK test %.2f%% (%.0f s)" % (system, seed, 100 * r["base"]["test"],
                                                                             100 * r["vmask"]["test"], time.time() - t0))
        path = os.path.join(a.results, "agreement.seed%d.json" % seed)
        if "vmaskc" in a.systems.split(",") and not os.path.exists(path):
            g = agreement(a, a.work, seed)
            json.dump({"kind": "agreement", "seed": seed, "commit": commit, "agreement": g}, open(path + ".tmp", "w"), indent=1)
            os.replace(path + ".tmp", path)
            log("export seed %d: max |diff| %.2e over %d texts" % (seed, g["max_abs_diff"], g["texts"]))
    summary(False, a.results)


if __name__ == "__main__":
    main()
