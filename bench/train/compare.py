#!/usr/bin/python3
"""Accuracy and training-speed comparison of vmaskc against PyTorch 1.13 (issue: training).

For each dataset and model family it (1) pre-trains a base classifier in PyTorch and exports it to
ONNX — the same starting point for both systems — then (2) trains the VMASK model from it with the
same settings in PyTorch (vmask_torch.py) and in vmaskc (`vmaskc train`), for several seeds, and
(3) prints test accuracy (mean ± std over seeds), training-epoch time (training steps only, median
over epochs; the first epoch, where vmaskc builds its oneDNN primitives per batch shape, is shown
separately) and peak resident memory, with the ratios. Both run with the same thread count.
It also prints vmaskc's roofline: the GFLOP of a training step counted from the plan (`vmaskc train
--timings`: conv, matmul and LSTM gates, forward and backward, dense-equivalent), the GFLOP/s over
all steps and its share of oneDNN's sgemm rate measured before and after in the same run
(bench/peak.py); PyTorch's column is labelled with the BLAS its build reports (Debian's: generic).

  /usr/bin/python3 bench/train/compare.py --vmaskc build/vmaskc [--datasets sst2,trec] [--models cnn,lstm]
      [--seeds 3] [--epochs 10] [--threads 2] [--data-root data] [--out bench/out/train]

The random streams of the two systems differ (shuffles, Gumbel noise), so single runs differ by
seed noise; compare the means.
"""
import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
CLASSES = {"sst2": 2, "trec": 6, "sst1": 5, "subj": 2}
# per-family settings shared by both systems (the VMASK release's choices where they exist)
SETTINGS = {
    "cnn": {"mask_hidden": 500, "lr": 1e-3, "dropout": 0.2},
    "lstm": {"mask_hidden": 300, "lr": 1e-3, "dropout": 0.2},
}


def run(cmd, env=None, tee=False):
    """Runs cmd; returns (stdout, stderr, seconds). tee: also copy its stderr (progress) to ours as it comes."""
    t0 = time.time()
    if not tee:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        err = p.stderr.decode()
    else:
        with tempfile.TemporaryFile() as out:  # a file, not a pipe: no deadlock on a long stdout
            p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env)
            lines = []
            for line in iter(p.stderr.readline, b""):
                lines.append(line.decode())
                sys.stderr.write(lines[-1])
                sys.stderr.flush()
            p.wait()
            out.seek(0)
            p.stdout = out.read()
        err = "".join(lines)
    if p.returncode:
        sys.exit("command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), err[-2000:]))
    return p.stdout.decode(), err, time.time() - t0


def peak_rss_mib(stderr):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    return int(m.group(1)) / 1024 if m else float("nan")


def fmt(xs):
    if not xs:
        return "-"
    if len(xs) == 1:
        return "%.2f" % xs[0]
    return "%.2f ± %.2f" % (statistics.mean(xs), statistics.stdev(xs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmaskc", required=True)
    ap.add_argument("--datasets", default="sst2,trec")
    ap.add_argument("--models", default="cnn,lstm")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--base-epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-root", default=os.path.join(os.path.dirname(os.path.dirname(HERE)), "data"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "out", "train"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    sys.path.insert(0, os.path.dirname(HERE))
    from peak import sgemm_peak
    peaks = [sgemm_peak(a.threads)]
    blas = subprocess.run([PY, "-c", "import sys; sys.path.insert(0, %r); import torch, torch_inference; "
                           "print(torch.__version__, torch_inference.blas_info(torch))" % os.path.dirname(HERE)],
                          stdout=subprocess.PIPE, text=True).stdout.split() or ["?", "?"]
    rows = []
    for ds in a.datasets.split(","):
        data = os.path.join(a.data_root, ds)
        for fam in a.models.split(","):
            st = SETTINGS[fam]
            tag = "%s_%s" % (ds, fam)
            base_pt, base_onnx = os.path.join(a.out, tag + ".base.pt"), os.path.join(a.out, tag + ".base.onnx")
            common = ["--vmaskc", a.vmaskc, "--data", data, "--model", fam, "--classes", str(CLASSES[ds]), "--threads", str(a.threads)]
            if not os.path.exists(base_onnx):
                out, _, _ = run([PY, os.path.join(HERE, "vmask_torch.py"), "base", *common, "--base", base_pt, "--onnx", base_onnx,
                                 "--epochs", str(a.base_epochs), "--seed", "1"], env)
                print("base %s: %s" % (tag, out.strip()), flush=True)
            res = {"torch": [], "vmaskc": []}
            for seed in range(1, a.seeds + 1):
                out, err, _ = run(["/usr/bin/time", "-v", PY, os.path.join(HERE, "vmask_torch.py"), "vmask", *common, "--base", base_pt,
                                   "--epochs", str(a.epochs), "--seed", str(seed), "--mask-hidden", str(st["mask_hidden"]),
                                   "--lr", str(st["lr"]), "--dropout", str(st["dropout"])], env)
                r = json.loads(out.strip().splitlines()[-1])
                r["peak_rss_mib"] = peak_rss_mib(err)
                res["torch"].append(r)
                hist = os.path.join(a.out, "%s.vmaskc.%d.csv" % (tag, seed))
                out, err, _ = run(["/usr/bin/time", "-v", a.vmaskc, "train", base_onnx, "--vocab", os.path.join(data, "vocab.txt"),
                                   "--train", os.path.join(data, "train.tsv"), "--dev", os.path.join(data, "dev.tsv"),
                                   "--test", os.path.join(data, "test.tsv"), "-o", os.path.join(a.out, "%s.vmask.%d.onnx" % (tag, seed)),
                                   "--epochs", str(a.epochs), "--seed", str(seed), "--mask-hidden", str(st["mask_hidden"]),
                                   "--lr", str(st["lr"]), "--dropout", str(st["dropout"]), "--threads", str(a.threads), "--history", hist,
                                   "--top", "0", "--timings"], env)
                dev = float(re.search(r"best dev accuracy ([0-9.]+)%", out).group(1)) / 100
                test = float(re.search(r"test accuracy ([0-9.]+)%", out).group(1)) / 100
                times = [float(row["train_seconds"]) for row in csv.DictReader(open(hist))]
                tm = re.search(r"gflop_per_step ([0-9.]+) gflops ([0-9.]+)", out)
                res["vmaskc"].append({"dev": dev, "test": test, "epoch_seconds": times, "peak_rss_mib": peak_rss_mib(err),
                                      "gflop_per_step": float(tm.group(1)) if tm else None,
                                      "gflops": float(tm.group(2)) if tm else None})
                print("%s seed %d: torch test %.2f%% (epoch %.2f s), vmaskc test %.2f%% (epoch %.2f s)" % (
                    tag, seed, 100 * res["torch"][-1]["test"], statistics.median(res["torch"][-1]["epoch_seconds"][1:] or res["torch"][-1]["epoch_seconds"]),
                    100 * test, statistics.median(times[1:] or times)), flush=True)
            rows.append((tag, res))
            with open(os.path.join(a.out, tag + ".json"), "w") as f:
                json.dump(res, f)
    peaks.append(sgemm_peak(a.threads))
    peak = max([p for p in peaks if p] or [0]) or None
    print("\nPyTorch %s (BLAS=%s); oneDNN sgemm peak %s GFLOP/s (before / after: %s)" % (
        blas[0], blas[-1], "%.1f" % peak if peak else "-", " / ".join("%.1f" % p if p else "-" for p in peaks)))
    print("%-10s | %-15s | %-15s | %-6s | %-14s | %-14s | %-6s | %-11s | %-11s | %-26s" % (
        "", "torch test %", "vmaskc test %", "diff", "torch epoch s", "vmaskc epoch s", "speedup", "torch MiB", "vmaskc MiB",
        "vmaskc GFLOP/step, GFLOP/s (% peak)"))
    for tag, res in rows:
        ta = [100 * r["test"] for r in res["torch"]]
        va = [100 * r["test"] for r in res["vmaskc"]]
        te = [statistics.median(r["epoch_seconds"][1:] or r["epoch_seconds"]) for r in res["torch"]]
        ve = [statistics.median(r["epoch_seconds"][1:] or r["epoch_seconds"]) for r in res["vmaskc"]]
        v1 = [r["epoch_seconds"][0] for r in res["vmaskc"]]
        tm = [r["peak_rss_mib"] for r in res["torch"]]
        vm = [r["peak_rss_mib"] for r in res["vmaskc"]]
        gs = [r["gflops"] for r in res["vmaskc"] if r.get("gflops")]
        gp = [r["gflop_per_step"] for r in res["vmaskc"] if r.get("gflop_per_step")]
        roof = "%.3g, %.1f (%s)" % (statistics.mean(gp), statistics.mean(gs), "%.0f%%" % (100 * statistics.mean(gs) / peak)
                                    if peak else "-") if gs and gp else "-"
        print("%-10s | %-15s | %-15s | %+5.2f | %-14s | %-14s | %5.2fx | %-11s | %-11s | %-26s" % (
            tag, fmt(ta), fmt(va), statistics.mean(va) - statistics.mean(ta), fmt(te), fmt(ve) + " (1st %.1f)" % statistics.mean(v1),
            statistics.mean(te) / statistics.mean(ve), fmt(tm), fmt(vm), roof))


if __name__ == "__main__":
    main()
