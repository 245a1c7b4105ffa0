#!/usr/bin/python3
"""The models users ship: vmaskc's own exports of make_models.py's CNN and LSTM, for run_inference.py.

    python3 bench/make_exports.py [--out bench/out] [--models cnn,lstm] [--methods vmask,l2x,iba]
        [--vmaskc PATH] [--epochs 1] [--threads 2]

For each base model in OUT (written by make_models.py) and each method, runs a short
`vmaskc train BASE/model.onnx --method M` on data/sst2 (one epoch, batch 50; a few seconds per
model) and writes OUT/<base>_<method>/model.onnx, the exported ONNX (VMASK: the per-word keep
table times the embedding; L2X: the top-k over the sentence in the graph; IBA: the per-word
lambda with the noise at its mean; compiler/export.c). Each data_<B>x<T>/ dir holds a link to the
base model's input_0.pb, and no PyTorch logits (PyTorch cannot rebuild a trained export, so
run_inference.py shows no PyTorch column for these rows). Then:

    /usr/bin/python3 bench/run_inference.py --models cnn_vmask,cnn_l2x,cnn_iba,lstm_vmask,lstm_l2x,lstm_iba

The model's vocabulary has 16,000 rows and data/sst2's 13,838 words (--allow-short-vocab): the
benchmark's ids are uniform over all 16,000 rows, as for the base models.

Exit code: 0 ok; 1 a training run failed; 2 setup (missing base models or vmaskc binary).
"""

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def die(msg, code=2):
    print("make_exports: " + msg, file=sys.stderr)
    sys.exit(code)


def find_vmaskc(arg):
    for c in [arg, os.environ.get("VMASKC"), os.path.join(REPO, "build-bench", "vmaskc"), os.path.join(REPO, "build", "vmaskc")]:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    die("no vmaskc binary (build it: cmake -S %s -B %s/build -DCMAKE_BUILD_TYPE=Release && cmake --build %s/build -j2, "
        "or pass --vmaskc)" % (REPO, REPO, REPO))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="models dir (default bench/out)")
    ap.add_argument("--models", default="cnn,lstm")
    ap.add_argument("--methods", default="vmask,l2x,iba")
    ap.add_argument("--vmaskc")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    exe = find_vmaskc(a.vmaskc)
    sst2 = os.path.join(REPO, "data", "sst2")
    methods = [m for m in a.methods.split(",") if m]
    for m in methods:
        if m not in ("vmask", "l2x", "iba"):
            die("--methods: unknown method '%s' (vmask, l2x, iba)" % m)
    for base in [b for b in a.models.split(",") if b]:
        src = os.path.join(a.out, base)
        if not os.path.isfile(os.path.join(src, "model.onnx")):
            die("%s/model.onnx is missing; generate it with\n  /usr/bin/python3 %s --out %s --models %s"
                % (src, os.path.join(HERE, "make_models.py"), a.out, base))
        shapes = sorted(d for d in os.listdir(src) if d.startswith("data_") and os.path.isfile(os.path.join(src, d, "input_0.pb")))
        for m in methods:
            dst = os.path.join(a.out, "%s_%s" % (base, m))
            os.makedirs(dst, exist_ok=True)
            print("make_exports: %s --method %s -> %s" % (base, m, dst), file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [exe, "train", os.path.join(src, "model.onnx"), "--vocab", os.path.join(sst2, "vocab.txt"), "--allow-short-vocab",
                       "--train", os.path.join(sst2, "train.tsv"), "--dev", os.path.join(sst2, "dev.tsv"), "--epochs", str(a.epochs),
                       "--batch", "50", "--threads", str(a.threads), "--method", m, "--checkpoint", os.path.join(tmp, "ckpt"),
                       "-o", os.path.join(dst, "model.onnx")]
                p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
                if p.returncode != 0:
                    die("%s failed (exit %d):\n%s" % (" ".join(cmd), p.returncode, p.stdout[-2000:]), 1)
            for d in shapes:
                dd = os.path.join(dst, d)
                os.makedirs(dd, exist_ok=True)
                link = os.path.join(dd, "input_0.pb")
                if os.path.lexists(link):
                    os.remove(link)
                os.symlink(os.path.relpath(os.path.join(src, d, "input_0.pb"), dd), link)
    return 0


if __name__ == "__main__":
    sys.exit(main())
