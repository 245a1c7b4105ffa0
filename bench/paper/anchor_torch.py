#!/usr/bin/python3
"""Issue 12's GloVe anchor, PyTorch beside vmaskc from the same start: is the CNN-base gap
(vmaskc 79.7 vs the issue's PyTorch 81.3 on SST-2) vmaskc's or the setting's?

Every run starts from the same model: make_model.py's Kim-CNN (seed 1; --pad-conv variants with 4
zero vectors on both sides inside the Conv nodes), the vocabulary `vmaskc vocab` builds, and the
embedding table vmaskc fills from GloVe for that seed (read back from a one-step vmaskc run on a
two-line file: the embedding is frozen, so it is exactly vmaskc's initial table, GloVe rows and
seeded OOV rows alike). Texts are tokenized by `vmaskc tokenize --tokenizer kim`, truncated to --max-len 50.
PyTorch trains with bench/train/vmask_torch.py's KimCNN and fit (Adam 1e-3, batch 50, dropout 0.5
before the linear layer, frozen embedding, best-on-dev over 20 epochs) on vmaskc's batch order
(its shuffle of (seed, epoch), replicated below) unless the variant says otherwise.

Variants (system: what differs from vmaskc's default anchor run):
  vmaskc          vmaskc train --no-mask --dropout 0.5 (bench/paper/anchor.sh's base)
  vmaskc-pad      the same from make_model.py --pad-conv
  vmaskc-trainvocab, vmaskc-pad-trainvocab  the vocabulary of the training split only (dev/test
                  words outside it are <unk>) instead of all three splits
  vmask, vmask-pad-trainvocab  vmaskc's CNN-VMASK from the same start (anchor.sh's: mask hidden 500,
                  dropout 0.2), unpadded with the all-split vocabulary and in the base's anchor setting
  torch           PyTorch, everything as vmaskc
  torch-order     PyTorch with its own batch order (numpy permutation of the seed)
  torch-pad       PyTorch from the --pad-conv model
  torch-maxnorm   PyTorch with Kim's max-norm 3 on the rows of the linear layer, after every step
  torch-pad-maxnorm  both

One JSON file per run under --out (VARIANT.sSEED.json); a run whose file exists is skipped, so the
driver resumes. --summary prints the table (mean +- std over seeds) from the files; with --readme
FILE it rewrites the table between FILE's anchor-summary markers (bench/paper/README.md).

  nice -n 5 /usr/bin/python3 bench/paper/anchor_torch.py --vmaskc build/vmaskc --seeds "1 2 3" \\
      --variants torch,vmaskc-pad,torch-pad
  /usr/bin/python3 bench/paper/anchor_torch.py --summary
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

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "train"))

VARIANTS = ["vmaskc", "vmaskc-pad", "vmaskc-trainvocab", "vmaskc-pad-trainvocab", "vmask", "vmask-pad-trainvocab", "torch", "torch-order", "torch-pad", "torch-maxnorm", "torch-pad-maxnorm"]
M64 = (1 << 64) - 1


def mix64(x):  # runtime/train.c's mix64 (splitmix64 finalizer)
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


class VmaskcOrder:
    """rng for vmask_torch.fit: permutation() gives vmaskc's order of epoch 0, 1, ... (runtime/train.c shuffle)."""

    def __init__(self, seed):
        self.seed, self.epoch = seed, 0

    def permutation(self, n):
        order = list(range(n))
        st = mix64(self.seed ^ mix64((self.epoch + 0x51ED27) & M64))
        for i in range(n - 1, 0, -1):
            st = mix64(st)
            j = st % (i + 1)
            order[i], order[j] = order[j], order[i]
        self.epoch += 1
        return np.array(order)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, universal_newlines=True, **kw).stdout


def prepare(a, seed, pad, train_vocab=False):
    """vocab.txt, the ONNX start model and vmaskc's GloVe-filled embedding for seed (cached in --work);
    train_vocab: the training split's words only (no embedding file: only vmaskc runs use it)."""
    os.makedirs(a.work, exist_ok=True)
    d, tag = a.data, "-train" if train_vocab else ""
    vocab = os.path.join(a.work, "vocab%s.txt" % tag)
    if not os.path.exists(vocab):
        splits = [d + "/train.tsv"] + ([] if train_vocab else [d + "/dev.tsv", d + "/test.tsv"])
        run([a.vmaskc, "vocab"] + splits + ["--tokenizer", "kim", "-o", vocab, "--min-freq", "1", "--vectors", a.glove])
    model = os.path.join(a.work, "cnn%s%s.onnx" % ("pad" if pad else "", tag))
    if not os.path.exists(model):
        run(["/usr/bin/python3", os.path.join(here, "make_model.py"), "--model", "cnn", "--vocab", vocab, "--classes", "2",
             "--emb", "100", "--seed", "1", "-o", model] + (["--pad-conv"] if pad else []))
    if train_vocab:
        return vocab, model, None
    emb = os.path.join(a.work, "emb.s%d.npy" % seed)
    if not os.path.exists(emb):
        import onnx
        import onnx.numpy_helper as nh
        tiny = os.path.join(a.work, "tiny.tsv")
        with open(d + "/train.tsv") as f, open(tiny, "w") as g:
            g.writelines([next(f), next(f)])
        out = os.path.join(a.work, "e1.s%d.onnx" % seed)
        run([a.vmaskc, "train", model, "--vocab", vocab, "--tokenizer", "kim", "--train", tiny, "--dev", tiny, "--vectors", a.glove, "--epochs", "1", "--no-mask",
             "--seed", str(seed), "--threads", "1", "-o", out])
        w = {i.name: nh.to_array(i) for i in onnx.load(out).graph.initializer}["embedding.weight"]
        np.save(emb, w)
        for f in (out, out + ".ckpt"):
            os.remove(f)
    return vocab, model, emb


def torch_run(a, variant, seed):
    import torch
    import onnx
    import onnx.numpy_helper as nh
    import vmask_torch as vt
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    pad = "pad" in variant
    vocab_path, model_path, emb_path = prepare(a, seed, pad)
    vocab = {w: i for i, w in enumerate(open(vocab_path, encoding="utf-8").read().split("\n")) if w}
    train, dev, test = ([(l, t[:a.max_len]) for l, t in vt.load(a.vmaskc, a.data + "/%s.tsv" % s, vocab, "kim")]
                        for s in ("train", "dev", "test"))
    model = vt.KimCNN(len(vocab), 100, 2, dropout=0.5, pad=4 if pad else 0)
    state = {i.name: torch.from_numpy(nh.to_array(i).copy()) for i in onnx.load(model_path).graph.initializer}
    state["embedding.weight"] = torch.from_numpy(np.load(emb_path))
    model.load_state_dict(state)
    model.embedding.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]

    def maxnorm():
        with torch.no_grad():
            model.fc.weight.copy_(torch.renorm(model.fc.weight, 2, 0, 3.0))
    rng = np.random.default_rng(seed) if variant == "torch-order" else VmaskcOrder(seed)
    history = []
    fa = argparse.Namespace(lr=1e-3, epochs=a.epochs, batch=50)
    min_len = 1 if pad else model.min_len
    best, times = vt.fit(model, params, train, dev, fa, rng, min_len, after_step=maxnorm if "maxnorm" in variant else None,
                         history=history)
    test_acc = vt.evaluate(model, test, 50, min_len)
    return {"dev": 100 * best, "test": 100 * test_acc, "best_epoch": history.index(max(history)) + 1,
            "dev_history": [round(100 * h, 2) for h in history], "train_seconds": round(sum(times), 1)}


def is_vmask(variant):
    """the CNN-VMASK variants ("vmaskc..." are the base's)"""
    return variant == "vmask" or variant.startswith("vmask-")


def vmaskc_run(a, variant, seed):
    vocab, model, _ = prepare(a, seed, "pad" in variant, "trainvocab" in variant)
    d = a.data
    out = os.path.join(a.work, "%s.s%d.onnx" % (variant, seed))
    text = run([a.vmaskc, "train", model, "--vocab", vocab, "--tokenizer", "kim", "--train", d + "/train.tsv", "--dev", d + "/dev.tsv",
                "--test", d + "/test.tsv", "--vectors", a.glove, "--epochs", str(a.epochs), "--batch", "50", "--lr", "1e-3",
                "--max-len", str(a.max_len), "--threads", "1", "--seed", str(seed)]
               + (["--mask-hidden", "500", "--dropout", "0.2"] if is_vmask(variant) else ["--no-mask", "--dropout", "0.5"])
               + ["-o", out, "--checkpoint", out + ".ckpt"])
    m = re.search(r"best dev accuracy ([0-9.]+)% \(epoch (\d+) of \d+\).*?test accuracy ([0-9.]+)%", text, re.S)
    if not m:
        sys.exit("anchor_torch: no accuracy line in vmaskc's output:\n" + text)
    for f in (out, out + ".ckpt"):
        if os.path.exists(f):
            os.remove(f)
    return {"dev": float(m.group(1)), "test": float(m.group(3)), "best_epoch": int(m.group(2))}


def summary(a):
    text = summary_table(a)
    if not a.readme:
        print(text, end="")
        return
    with open(a.readme) as f:
        doc = f.read()
    begin, end = "<!-- anchor-summary:begin (bench/paper/anchor_torch.py --summary --readme) -->\n", "<!-- anchor-summary:end -->"
    if begin not in doc or end not in doc:
        sys.exit("anchor_torch: %s has no anchor-summary markers" % a.readme)
    head, rest = doc.split(begin, 1)
    with open(a.readme + ".tmp", "w") as f:
        f.write(head + begin + "\n" + text + "\n" + end + rest.split(end, 1)[1])
    os.replace(a.readme + ".tmp", a.readme)
    print("anchor_torch: rewrote the table in %s" % a.readme)


def summary_table(a):
    out = []
    rows = {}
    for f in sorted(glob.glob(os.path.join(a.out, "*.json"))):
        r = json.load(open(f))
        rows.setdefault(r["variant"], []).append(r)
    out.append("| variant | seeds | test mean ± std | test min–max | dev mean | best epochs |")
    out.append("| --- | --- | ---: | ---: | ---: | --- |")
    for v in VARIANTS:
        rs = sorted(rows.get(v, []), key=lambda r: r["seed"])
        if not rs:
            continue
        t = [r["test"] for r in rs]
        sd = statistics.stdev(t) if len(t) > 1 else 0.0
        out.append("| %s | %s | %.2f ± %.2f | %.2f–%.2f | %.2f | %s |" % (
            v, " ".join(str(r["seed"]) for r in rs), statistics.mean(t), sd, min(t), max(t),
            statistics.mean(r["dev"] for r in rs), " ".join(str(r["best_epoch"]) for r in rs)))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmaskc", default=os.path.join(here, "..", "..", "build", "vmaskc"))
    ap.add_argument("--data", default=os.path.join(os.environ.get("VMASKC_DATA", "/work/shared/data"), "sst2"))
    ap.add_argument("--glove", default=os.path.expanduser("~/.cache/vmaskc-glove/glove.6B.100d.txt"))
    ap.add_argument("--seeds", default="1 2 3")
    ap.add_argument("--variants", default="torch")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--work", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "vmaskc-anchor-torch"))
    ap.add_argument("--out", default=os.path.join(here, "results-anchor"))
    ap.add_argument("--summary", action="store_true")
    ap.add_argument("--readme", help="with --summary: rewrite the table between the anchor-summary markers of this file")
    a = ap.parse_args()
    if a.summary:
        return summary(a)
    a.vmaskc = os.path.abspath(a.vmaskc)
    os.makedirs(a.out, exist_ok=True)
    for v in a.variants.split(","):
        if v not in VARIANTS:
            sys.exit("anchor_torch: unknown variant %r (one of %s)" % (v, ", ".join(VARIANTS)))
        for seed in map(int, a.seeds.split()):
            path = os.path.join(a.out, "%s.s%d.json" % (v, seed))
            if os.path.exists(path):
                continue
            t0 = time.time()
            r = vmaskc_run(a, v, seed) if v.startswith("vmaskc") or is_vmask(v) else torch_run(a, v, seed)
            r.update(variant=v, seed=seed, epochs=a.epochs, seconds=round(time.time() - t0, 1))
            with open(path + ".tmp", "w") as f:
                json.dump(r, f)
            os.replace(path + ".tmp", path)
            print("%s seed %d: test %.2f%% (dev %.2f%%, epoch %d), %.0f s" % (v, seed, r["test"], r["dev"], r["best_epoch"],
                                                                              r["seconds"]), flush=True)


if __name__ == "__main__":
    main()
