"""oneDNN's measured sgemm rate on this machine, the roofline yardstick shared by the benchmarks
(run_inference.py, bert/run.py, train/compare.py): builds bench/bert/sgemm_peak.c once into /tmp and
runs it with OMP_NUM_THREADS=threads. Measure it in the same run as the numbers it is compared with:
on the shared VM it moves with the load (115-220 GFLOP/s seen on 2 threads)."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "bert", "sgemm_peak.c")
EXE = "/tmp/vmaskc_sgemm_peak"


def sgemm_peak(threads, shapes=None, verbose=True):
    """Best GFLOP/s of dnnl_sgemm over shapes (list of (M, N, K); default: sgemm_peak.c's own),
    or None (with a message on stderr) when it cannot be built or run."""
    try:
        if not os.path.exists(EXE) or os.path.getmtime(EXE) < os.path.getmtime(SRC):
            subprocess.run(["gcc", "-O2", "-std=c11", SRC, "-o", EXE, "-ldnnl"], check=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        cmd = [EXE] + [str(x) for s in (shapes or []) for x in s]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, timeout=300).stdout.decode()
    except (OSError, subprocess.SubprocessError) as e:
        print("sgemm peak: cannot build or run %s (%s); no roofline column" % (SRC, e), file=sys.stderr)
        return None
    if verbose:
        print(out, end="", file=sys.stderr)
    return float(out.strip().splitlines()[-1].split()[-1])
