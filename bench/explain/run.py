#!/usr/bin/env python3
"""Explanation speed: explanations per second of LIME (5000 samples) and SampleShapley for a CNN and
an LSTM VMASK model, on texts of about 20 tokens (the issue's target: LIME on a 20-token text in
under 0.5 s for the CNN on 2 cores). Runs `vmaskc explain` and reads its speed section.

  python3 bench/explain/run.py --vmaskc build/vmaskc --cnn CNN.onnx --lstm LSTM.onnx --data data/sst2/test.tsv
      [--texts 40] [--threads 2] [--tokens 18-22]

Models: any VMASK model exported by `vmaskc train` (e.g. the README's main job, or the ones
bench/train/compare.py writes to bench/out/train).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmaskc", required=True)
    ap.add_argument("--cnn")
    ap.add_argument("--lstm")
    ap.add_argument("--data", required=True)
    ap.add_argument("--texts", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", default="18-22")
    a = ap.parse_args()
    lo, hi = (int(x) for x in a.tokens.split("-"))
    with open(a.data, "rb") as f:
        tok = subprocess.run([a.vmaskc, "tokenize"], input=f.read(), stdout=subprocess.PIPE, check=True).stdout.decode().splitlines()
    raw = open(a.data, encoding="utf-8").read().splitlines()
    picked = [raw[i] for i, line in enumerate(tok) if lo <= len(line.split("\t", 1)[1].split()) <= hi][: a.texts]
    if not picked:
        sys.exit("no text of %s tokens in %s" % (a.tokens, a.data))
    tmp = tempfile.mkdtemp()
    data = os.path.join(tmp, "texts.tsv")
    with open(data, "w", encoding="utf-8") as f:
        f.write("\n".join(picked) + "\n")
    print("%d texts of %s tokens from %s; %d threads" % (len(picked), a.tokens, a.data, a.threads))
    print("%-6s %-14s %14s %16s %14s" % ("model", "method", "explanations/s", "ms/explanation", "texts/s"))
    for name, model in (("CNN", a.cnn), ("LSTM", a.lstm)):
        if not model:
            continue
        for method in ("lime", "shapley"):
            p = subprocess.run([a.vmaskc, "explain", model, "--data", data, "--method", method, "--threads", str(a.threads),
                                "--no-posthoc"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if p.returncode:
                sys.exit(p.stderr.decode())
            out = p.stdout.decode()
            m = re.search(r"(LIME|SampleShapley)\s+([0-9.]+) explanations/s\s+([0-9.]+) texts/s\s+\(([0-9.]+) ms per explanation", out)
            if not m:
                sys.exit("could not read the speed section:\n" + out)
            print("%-6s %-14s %14s %16s %14s" % (name, m.group(1), m.group(2), m.group(4), m.group(3)))


if __name__ == "__main__":
    main()
