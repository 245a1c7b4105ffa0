#!/usr/bin/python3
"""Inference benchmark: vmaskc (oneDNN kernels) against onnxruntime-node.

    /usr/bin/python3 bench/run_inference.py [--threads 2] [--rounds 5] [--repeat 20]
        [--warmup 3] [--budget-ms 4000] [--max-busy 0.15] [--max-wait 90]
        [--models cnn,lstm,...] [--shapes 50x50,...] [--vmaskc PATH] [--data DIR]
        [--profile [--profile-runs 3]] [--markdown] [--json FILE] [--atol 1e-3]

For every model in DIR (default bench/out, written by bench/make_models.py) and every
data_<B>x<T> dir in it, runs

    vmaskc run MODEL --test-data D --threads T --repeat R
    node tools/ort/ort_run.js MODEL --test-data D --threads T --warmup W --repeat R --json

--rounds times, alternating the two, and keeps each runtime's minimum per-batch latency
over all rounds (the VM is noisy; alternating spreads slow phases over both runtimes).
Before each timed call it waits (up to --max-wait s) until other processes use at most
--max-busy of the CPUs. Load time is excluded for both. vmaskc's --repeat has no separate
warmup, but the first (cold) run never wins the minimum. The first round also writes each
runtime's outputs (--out) and the table shows max |vmaskc - ORT| and max |vmaskc - PyTorch|
on the logits.

ratio = ORT ms / vmaskc ms: > 1 means vmaskc is faster.

--profile additionally runs `vmaskc run --profile` --profile-runs times per model/shape and
prints vmaskc's warm per-op time per batch (each op's minimum over those runs; the cold first
run is subtracted, see main()).

Exit code: 0 ok; 1 a runtime failed or the outputs disagree by more than --atol; 2 usage or
setup error (missing models, ORT or vmaskc binary, wrong Python).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ORT_RUN = os.path.join(REPO, "tools", "ort", "ort_run.js")
ORT_INSTALL = os.path.join(REPO, "tools", "ort", "install.sh")
TORCH_TIME = os.path.join(HERE, "torch_inference.py")
MAKE_MODELS = os.path.join(HERE, "make_models.py")
MODEL_ORDER = ("cnn", "lstm", "bert", "bert_hf", "cnn_vmask", "cnn_l2x", "cnn_iba", "lstm_vmask", "lstm_l2x", "lstm_iba")
# the ops whose FLOPs `vmaskc run` counts (runtime/flops.c); every other op's time is memory traffic
FLOP_OPS = ("Conv", "ConvCL", "MatMul", "MatMulT", "Gemm", "LSTM")
BUILD_HINT = ("cmake -S %s -B %s/build-bench -DCMAKE_BUILD_TYPE=Release && "
              "cmake --build %s/build-bench -j2" % (REPO, REPO, REPO))


def die(msg):
    print("run_inference: " + msg, file=sys.stderr)
    sys.exit(2)


def read_tensor(path):
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as e:
        die("%s: run with Debian's /usr/bin/python3 (python3-onnx)" % e)
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def max_abs_diff(a_path, b_path):
    if not (os.path.exists(a_path) and os.path.exists(b_path)):
        return None
    import numpy as np
    a, b = read_tensor(a_path), read_tensor(b_path)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0


def find_vmaskc(arg):
    cands = [arg] if arg else [os.environ.get("VMASKC"), os.path.join(REPO, "build-bench", "vmaskc"),
                               os.path.join(REPO, "build", "vmaskc")]
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    if arg:
        die("vmaskc binary '%s' not found or not executable" % arg)
    die("no vmaskc binary (looked at $VMASKC, build-bench/vmaskc, build/vmaskc); build it with\n  %s\n"
        "or pass --vmaskc PATH" % BUILD_HINT)


def check_ort():
    if not shutil.which("node"):
        die("node is not on PATH; onnxruntime-node needs Node 16 or later (then run %s)" % ORT_INSTALL)
    r = subprocess.run(["node", ORT_RUN, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    # ort_run.js exits 77 when the module is missing; check a real load cheaply via require
    ort_dir = os.environ.get("VMASKC_ORT_DIR", os.path.join(os.path.expanduser("~"), ".cache", "vmaskc-ort"))
    probe = subprocess.run(["node", "-e", "require(process.argv[1])",
                            os.path.join(ort_dir, "node_modules", "onnxruntime-node")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    if r.returncode == 77 or probe.returncode != 0:
        die("onnxruntime-node is not installed in %s (or does not load); run %s" % (ort_dir, ORT_INSTALL))


def discover(data_root, models_arg, shapes_arg):
    if not os.path.isdir(data_root):
        die("no benchmark models in %s; generate them with\n  /usr/bin/python3 %s --out %s"
            % (data_root, MAKE_MODELS, data_root))
    names = [m for m in models_arg.split(",") if m] if models_arg else \
        [m for m in MODEL_ORDER if os.path.isdir(os.path.join(data_root, m))] + \
        sorted(m for m in os.listdir(data_root)
               if m not in MODEL_ORDER and os.path.isfile(os.path.join(data_root, m, "model.onnx")))
    want_shapes = [s.lower() for s in shapes_arg.split(",")] if shapes_arg else None
    jobs = []
    for m in names:
        mp = os.path.join(data_root, m, "model.onnx")
        if not os.path.isfile(mp):
            die("%s is missing; generate the models with\n  /usr/bin/python3 %s --out %s"
                % (mp, MAKE_MODELS, data_root))
        dirs = sorted((d for d in os.listdir(os.path.join(data_root, m)) if re.fullmatch(r"data_\d+x\d+", d)),
                      key=lambda d: tuple(int(x) for x in d[5:].split("x")))
        if want_shapes:
            missing = [s for s in want_shapes if "data_" + s not in dirs]
            if missing:
                die("%s has no data for shape(s) %s; regenerate with\n  /usr/bin/python3 %s --out %s --shapes %s"
                    % (m, ",".join(missing), MAKE_MODELS, data_root, shapes_arg))
            dirs = ["data_" + s for s in want_shapes]
        if not dirs:
            die("%s has no data_<B>x<T> dirs; run /usr/bin/python3 %s" % (m, MAKE_MODELS))
        for d in dirs:
            jobs.append((m, d[5:], mp, os.path.join(data_root, m, d)))
    if not jobs:
        die("no models found in %s; run /usr/bin/python3 %s" % (data_root, MAKE_MODELS))
    return jobs


def run(cmd, env=None, timeout=1800):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %ds: %s" % (timeout, " ".join(cmd))
    if r.returncode != 0:
        return None, "exit %d: %s\n%s%s" % (r.returncode, " ".join(cmd), r.stdout[-2000:], r.stderr[-2000:])
    return r.stdout, None


def vmaskc_time(exe, model, data, threads, repeat, out=None, profile=False):
    """Returns (best ms or None, profile, error, flops). profile maps op -> (ms, calls) summed over all
    `repeat` runs, as `vmaskc run --profile` prints it; flops is the work of one run counted from the
    plan (the 'flops:' line: conv, matmul and LSTM gates), None when not printed."""
    cmd = [exe, "run", model, "--test-data", data, "--threads", str(threads), "--repeat", str(repeat)]
    if out:
        cmd += ["--out", out]
    if profile:
        cmd += ["--profile"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    stdout, err = run(cmd, env)
    if err:
        return None, None, err, None
    m = re.search(r"latency: ([0-9.]+) ms", stdout)
    if not m and repeat > 1:
        return None, None, "no 'latency:' line in vmaskc output:\n" + stdout, None
    f = re.search(r"^flops: ([0-9.e+]+) per run", stdout, re.M)
    prof = {}
    if profile:
        for line in stdout.splitlines():
            p = re.fullmatch(r"(\S+)\s+([0-9.]+)\s+([0-9.]+)%\s+(\d+)", line.strip())
            if p:
                prof[p.group(1)] = (float(p.group(2)), int(p.group(4)))
        if not prof:
            return None, None, "no per-op lines in vmaskc --profile output:\n" + stdout, None
    return (float(m.group(1)) if m else None), prof, None, (float(f.group(1)) if f else None)


def wall_run(cmd, env=None):
    """(wall ms of the whole command, its stderr) or (None, error text)."""
    import time
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=600)
    except subprocess.TimeoutExpired:
        return None, "timed out: " + " ".join(cmd)
    ms = (time.perf_counter() - t0) * 1e3
    if r.returncode != 0:
        return None, "exit %d: %s\n%s" % (r.returncode, " ".join(cmd), r.stderr[-2000:])
    return ms, r.stderr


def startup_times(exe, model, data, threads, n):
    """Command start to first inference, end to end (process start, model read and compile, oneDNN
    primitives, one run, exit): the median wall time of n one-run commands of each runtime, the
    runs alternating. vmaskc's last VMASKC_TIMINGS line splits its part after main() into stages.
    Returns (vmaskc ms, ORT ms, vmaskc stages text, error)."""
    import statistics
    v, o, stages = [], [], None
    venv = dict(os.environ, OMP_NUM_THREADS=str(threads), VMASKC_TIMINGS="1")
    for _ in range(n):
        ms, se = wall_run([exe, "run", model, "--test-data", data, "--threads", str(threads)], venv)
        if ms is None:
            return None, None, None, "vmaskc start-up: " + se
        v.append(ms)
        t = re.search(r"^timings: (.*) \(wall", se, re.M)
        stages = t.group(1) if t else stages
        ms, se = wall_run(["node", ORT_RUN, model, "--test-data", data, "--threads", str(threads),
                           "--repeat", "1", "--warmup", "0", "--json"])
        if ms is None:
            return None, None, None, "ORT start-up: " + se
        o.append(ms)
    return statistics.median(v), statistics.median(o), stages, None


def ort_time(model, data, threads, repeat, warmup, out=None):
    cmd = ["node", ORT_RUN, model, "--test-data", data, "--threads", str(threads),
           "--repeat", str(repeat), "--warmup", str(warmup), "--json"]
    if out:
        cmd += ["--out", out]
    stdout, err = run(cmd)
    if err:
        return None, None, err
    try:
        j = json.loads(stdout)
    except ValueError:
        return None, None, "ort_run.js printed no JSON:\n" + stdout[-2000:]
    return float(j["min_ms"]), j, None


def _cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + (v[4] if len(v) > 4 else 0)  # total, idle + iowait


def cpu_busy(sample_s=0.5):
    """Fraction of all CPUs busy with other work during a short sample (0..1), None if unknown."""
    import time
    try:
        t0, i0 = _cpu_times()
        time.sleep(sample_s)
        t1, i1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (i1 - i0) / (t1 - t0) if t1 > t0 else None


def wait_idle(max_busy, max_wait_s):
    """Wait until the machine is quiet (other work < max_busy of all CPUs) or max_wait_s passed.

    Returns the last busy fraction seen. On this 2-vCPU VM a concurrent build or test run
    makes oneDNN's OpenMP barriers wait for a time slice, inflating vmaskc times up to 20x
    (ORT's own thread pool degrades less), so timing under load compares the scheduler,
    not the kernels."""
    import time
    deadline = time.time() + max_wait_s
    while True:
        b = cpu_busy()
        if b is None or b <= max_busy or time.time() >= deadline:
            return b
        time.sleep(2.0)


def fmt(x, spec="%.2f"):
    return "-" if x is None else spec % x


def machine_info(threads):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "?"
    return {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "host": platform.node(),
            "cpu": cpu, "vcpus": os.cpu_count(), "threads": threads, "loadavg_start": load}


def git_rev():
    r = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    return r.stdout.strip() or "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--data", default=os.path.join(HERE, "out"), help="models dir (default bench/out)")
    ap.add_argument("--vmaskc", help="vmaskc binary (default $VMASKC, build-bench/vmaskc, build/vmaskc)")
    ap.add_argument("--threads", type=int, default=2, help="threads for both runtimes (default 2)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds per runtime (default 5)")
    ap.add_argument("--repeat", type=int, default=20, help="timed runs per round (default 20)")
    ap.add_argument("--budget-ms", type=float, default=4000,
                    help="after round 1, lower the runs per round so that one round of one runtime takes "
                         "about this long (at least 3 runs; 0 disables; default 4000)")
    ap.add_argument("--warmup", type=int, default=3, help="ORT untimed runs per round (default 3)")
    ap.add_argument("--models", help="comma-separated subset (default: all in --data)")
    ap.add_argument("--shapes", help="comma-separated BxT subset (default: all data_* dirs)")
    ap.add_argument("--atol", type=float, default=1e-3, help="max |vmaskc - ORT| allowed (default 1e-3)")
    ap.add_argument("--max-busy", type=float, default=0.15,
                    help="before each timed call wait until other processes use at most this fraction "
                         "of the CPUs (default 0.15; 1 disables the wait)")
    ap.add_argument("--max-wait", type=float, default=90,
                    help="give up waiting for a quiet machine after this many seconds (default 90)")
    ap.add_argument("--profile", action="store_true", help="also print vmaskc per-op times")
    ap.add_argument("--profile-runs", type=int, default=3,
                    help="vmaskc --profile runs per model/shape; each op's minimum is kept (default 3)")
    ap.add_argument("--startup-runs", type=int, default=3,
                    help="one-run commands per runtime for the start-up column (median; 0 skips it; default 3)")
    ap.add_argument("--no-torch", action="store_true",
                    help="skip the PyTorch time column (bench/torch_inference.py, after each row's rounds)")
    ap.add_argument("--no-peak", action="store_true",
                    help="skip the sgemm peak probe (bench/bert/sgemm_peak.c) and the %% of peak column")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--json", help="write all results to this file")
    args = ap.parse_args()
    if args.threads < 1 or args.rounds < 1 or args.repeat < 1 or args.warmup < 0 or args.profile_runs < 1:
        die("--threads, --rounds, --repeat and --profile-runs must be >= 1, --warmup >= 0")

    try:
        import numpy  # noqa: F401  (output comparison; fail before the long timing runs)
        import onnx  # noqa: F401
    except ImportError as e:
        die("%s: run with Debian's /usr/bin/python3 (python3-numpy, python3-onnx)" % e)
    exe = find_vmaskc(args.vmaskc)
    jobs = discover(os.path.abspath(args.data), args.models, args.shapes)
    check_ort()
    info = machine_info(args.threads)
    info.update(vmaskc=exe, git=git_rev(), rounds=args.rounds, repeat=args.repeat, warmup=args.warmup)
    print("# %(date)s  %(cpu)s, %(vcpus)s vCPU, load %(loadavg_start)s  threads=%(threads)d  "
          "rounds=%(rounds)d x repeat=%(repeat)d (ORT warmup %(warmup)d)" % info, file=sys.stderr)
    print("# vmaskc %s (repo at %s)" % (exe, info["git"]), file=sys.stderr, flush=True)

    sys.path.insert(0, HERE)
    from peak import sgemm_peak
    peaks = []
    if not args.no_peak:
        # before and after the timings, same threads: the better of the two is the yardstick
        wait_idle(args.max_busy, args.max_wait) if args.max_busy < 1 else None
        peaks.append(sgemm_peak(args.threads))

    tmp = tempfile.mkdtemp(prefix="vmaskc-bench-")
    results, failed = [], False
    try:
        for model, shape, mpath, dpath in jobs:
            r = {"model": model, "shape": shape, "vmaskc_ms": None, "ort_ms": None, "errors": [],
                 "vmaskc_rounds": [], "ort_rounds": [], "busy": []}
            vout, oout = os.path.join(tmp, model + shape, "vmaskc"), os.path.join(tmp, model + shape, "ort")
            os.makedirs(vout)
            os.makedirs(oout)
            reps = args.repeat
            for rd in range(args.rounds):
                first = rd == 0
                if rd == 1 and args.budget_ms > 0:
                    # after the first round: cap the timed runs per round at --budget-ms per runtime,
                    # so that a slow model's round stays short enough to fit in a quiet spell
                    slow = max(x for x in (r["vmaskc_ms"], r["ort_ms"]) if x is not None)
                    reps = max(3, min(args.repeat, int(args.budget_ms / slow)))
                if r["vmaskc_ms"] is not None or first:
                    r["busy"].append(wait_idle(args.max_busy, args.max_wait) if args.max_busy < 1 else None)
                    ms, _, err, flops = vmaskc_time(exe, mpath, dpath, args.threads, reps, vout if first else None)
                    if err:
                        r["errors"].append("vmaskc: " + err)
                        r["vmaskc_ms"] = None
                    else:
                        r["flops"] = flops
                        r["vmaskc_rounds"].append(ms)
                        r["vmaskc_ms"] = min(r["vmaskc_rounds"])
                if r["ort_ms"] is not None or first:
                    r["busy"].append(wait_idle(args.max_busy, args.max_wait) if args.max_busy < 1 else None)
                    ms, j, err = ort_time(mpath, dpath, args.threads, reps, args.warmup, oout if first else None)
                    if err:
                        r["errors"].append("ort: " + err)
                        r["ort_ms"] = None
                    else:
                        r["ort_rounds"].append(ms)
                        r["ort_ms"] = min(r["ort_rounds"])
                if r["vmaskc_ms"] is None and r["ort_ms"] is None:
                    break
            r["repeat"] = reps
            r["ratio"] = r["ort_ms"] / r["vmaskc_ms"] if r["vmaskc_ms"] and r["ort_ms"] else None
            r["gflops"] = r["flops"] / r["vmaskc_ms"] / 1e6 if r.get("flops") and r["vmaskc_ms"] else None
            r["ort_gflops"] = r["flops"] / r["ort_ms"] / 1e6 if r.get("flops") and r["ort_ms"] else None
            # no PyTorch logits: a model PyTorch cannot rebuild (bench/make_exports.py's trained exports)
            if not args.no_torch and os.path.exists(os.path.join(dpath, "torch_output_0.pb")):
                if args.max_busy < 1:
                    wait_idle(args.max_busy, args.max_wait)
                out, err = run([sys.executable, TORCH_TIME, model, dpath, "--threads", str(args.threads),
                                "--repeat", str(args.repeat), "--budget-ms", str(args.budget_ms)])
                if err:
                    r["errors"].append("torch: " + err)
                else:
                    tj = json.loads(out)
                    r["torch_ms"], r["torch_blas"], r["torch_version"] = tj["ms"], tj["blas"], tj["torch"]
            if args.startup_runs > 0:
                if args.max_busy < 1:
                    wait_idle(args.max_busy, args.max_wait)
                r["startup_ms"], r["ort_startup_ms"], r["startup_stages"], err = startup_times(
                    exe, mpath, dpath, args.threads, args.startup_runs)
                if err:
                    r["errors"].append(err)
            r["diff_ort"] = max_abs_diff(os.path.join(vout, "output_0.pb"), os.path.join(oout, "output_0.pb"))
            r["diff_torch"] = max_abs_diff(os.path.join(vout, "output_0.pb"), os.path.join(dpath, "torch_output_0.pb"))
            if args.profile and r["vmaskc_ms"] is not None:
                # `vmaskc run --profile` sums each op over all runs, the first (cold: page faults,
                # oneDNN's lazy setup) included. A one-run profile gives the cold cost, so
                # (sum over N runs - one run) / (N - 1) is the warm per-batch time. A busy moment
                # inflates it, so take each op's minimum over --profile-runs such estimates.
                n = max(reps, 10)
                best = {}
                for _ in range(args.profile_runs):
                    if args.max_busy < 1:
                        wait_idle(args.max_busy, args.max_wait)
                    _, cold, err, _ = vmaskc_time(exe, mpath, dpath, args.threads, 1, profile=True)
                    if not err:
                        _, many, err, _ = vmaskc_time(exe, mpath, dpath, args.threads, n, profile=True)
                    if err:
                        r["errors"].append("vmaskc --profile: " + err)
                        break
                    for op, (ms, calls) in many.items():
                        c_ms, c_calls = cold.get(op, (0.0, 0))
                        warm = max(0.0, (ms - c_ms) / (n - 1))
                        if op not in best or warm < best[op][0]:
                            best[op] = (warm, (calls - c_calls) // (n - 1))
                tot = sum(ms for ms, _ in best.values())
                r["profile"] = [(op, ms, 100.0 * ms / tot if tot else 0.0, calls) for op, (ms, calls) in best.items()]
                # what keeps the run from the GEMM roofline: the share of time in ops that do no
                # counted FLOPs (memory-bound), largest first
                other = sorted(((ms, op) for op, (ms, _) in best.items() if op not in FLOP_OPS), reverse=True)
                r["flop_ops_share"] = 100.0 * sum(ms for op, (ms, _) in best.items() if op in FLOP_OPS) / tot if tot else None
                r["limiters"] = ["%s %.0f%%" % (op, 100.0 * ms / tot) for ms, op in other[:3] if tot and ms / tot >= 0.02]
                if best:
                    r["profile"].append(("total", tot, 100.0, 0))
            if r["errors"] or r["diff_ort"] is None or r["diff_ort"] > args.atol:
                failed = True
            results.append(r)
            busy = [b for b in r["busy"] if b is not None]
            r["max_busy_seen"] = max(busy) if busy else None
            print("  %-8s %-7s vmaskc %s ms  ORT %s ms  (rounds: vmaskc %s / ORT %s; max other-CPU use %s)" % (
                model, shape, fmt(r["vmaskc_ms"]), fmt(r["ort_ms"]),
                " ".join("%.1f" % x for x in r["vmaskc_rounds"]), " ".join("%.1f" % x for x in r["ort_rounds"]),
                fmt(r["max_busy_seen"] * 100 if r["max_busy_seen"] is not None else None, "%.0f%%")),
                  file=sys.stderr, flush=True)
            for e in r["errors"]:
                print("    ERROR " + e.replace("\n", "\n      "), file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        info["loadavg_end"] = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        pass
    if not args.no_peak:
        peaks.append(sgemm_peak(args.threads))
    peaks = [p for p in peaks if p]
    info["sgemm_peak_gflops"] = max(peaks) if peaks else None
    info["sgemm_peaks"] = peaks
    for r in results:
        pk = info["sgemm_peak_gflops"]
        r["pct_peak"] = 100.0 * r["gflops"] / pk if pk and r.get("gflops") else None
        r["ort_pct_peak"] = 100.0 * r["ort_gflops"] / pk if pk and r.get("ort_gflops") else None

    tl = [(r.get("torch_version"), r.get("torch_blas")) for r in results if r.get("torch_ms")]
    torch_label = "PyTorch %s (BLAS=%s) ms/batch" % tl[0] if tl else "PyTorch ms/batch"
    info["torch_label"] = torch_label
    head = ("model", "shape", "vmaskc ms/batch", "ORT ms/batch", "ratio ORT/vmaskc", torch_label, "max|vmaskc-ORT|",
            "max|vmaskc-torch|", "GFLOP/batch", "GFLOP/s vmaskc / ORT", "% of sgemm peak vmaskc / ORT",
            "start→1st inference ms vmaskc / ORT")
    rows = [(r["model"], r["shape"], fmt(r["vmaskc_ms"]), fmt(r["ort_ms"]), fmt(r["ratio"]), fmt(r.get("torch_ms")),
             fmt(r["diff_ort"], "%.1e"), fmt(r["diff_torch"], "%.1e"),
             fmt(r["flops"] / 1e9 if r.get("flops") else None, "%.3g"),
             "%s / %s" % (fmt(r.get("gflops"), "%.1f"), fmt(r.get("ort_gflops"), "%.1f")),
             "%s / %s" % (fmt(r.get("pct_peak"), "%.0f%%"), fmt(r.get("ort_pct_peak"), "%.0f%%")),
             "%s / %s" % (fmt(r.get("startup_ms"), "%.0f"), fmt(r.get("ort_startup_ms"), "%.0f")))
            for r in results]
    if args.markdown:
        print("| " + " | ".join(h.replace("|", "\\|") for h in head) + " |")
        print("|" + "|".join(" --- " if i < 2 else " ---: " for i in range(len(head))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        w = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w[i]) if i < 2 else h.rjust(w[i]) for i, h in enumerate(head)))
        for row in rows:
            print("  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(row)))
    print("(%s, %s vCPU, %d threads, min over %d rounds x up to %d runs; load %s -> %s; oneDNN sgemm "
          "peak %s GFLOP/s, measured before and after: %s)" % (
              info["date"], info["vcpus"], args.threads, args.rounds, args.repeat, info["loadavg_start"],
              info.get("loadavg_end", "?"), fmt(info["sgemm_peak_gflops"], "%.1f"),
              " / ".join("%.1f" % p for p in peaks) or "-"))
    for r in results:
        if r.get("startup_stages"):
            print("  vmaskc start-up %s %s: %s (wall ms after main() in the last of the runs; the median whole "
                  "command took %s ms)" % (r["model"], r["shape"], r["startup_stages"], fmt(r.get("startup_ms"), "%.0f")))
        if r.get("limiters") is not None:
            print("  roofline %s %s: conv/matmul/LSTM ops %s of the time; the rest: %s" % (
                r["model"], r["shape"], fmt(r.get("flop_ops_share"), "%.0f%%"), ", ".join(r["limiters"]) or "-"))

    noisy = ["%s %s (%.0f%%)" % (r["model"], r["shape"], 100 * r["max_busy_seen"]) for r in results
             if r.get("max_busy_seen") is not None and r["max_busy_seen"] > args.max_busy]
    if noisy:
        print("WARNING: other processes used more than %.0f%% of the CPUs before some runs even after "
              "waiting %gs; these rows are unreliable: %s" % (100 * args.max_busy, args.max_wait, ", ".join(noisy)))

    if args.profile:
        for r in results:
            if not r.get("profile"):
                continue
            print("\nvmaskc per-op time, %s %s (ms per batch: each op's minimum over %d profiled runs of "
                  "its warm mean per batch; a stream wait after every step):" % (r["model"], r["shape"], args.profile_runs))
            for op, ms, share, calls in sorted(r["profile"], key=lambda p: -p[1]):
                if op == "total":
                    continue
                print("  %-26s %9.3f %6.1f%% %5d" % (op, ms, share, calls))
            tot = [p for p in r["profile"] if p[0] == "total"]
            if tot:
                print("  %-26s %9.3f" % ("total", tot[0][1]))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "results": results}, f, indent=1)
    for r in results:
        if r["diff_ort"] is not None and r["diff_ort"] > args.atol:
            print("run_inference: %s %s: vmaskc and ORT outputs differ by %.3g (> --atol %g)"
                  % (r["model"], r["shape"], r["diff_ort"], args.atol), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
