#!/usr/bin/python3
"""PyTorch's time for one model and shape of the inference benchmark (run_inference.py calls it).

    /usr/bin/python3 bench/torch_inference.py MODEL DATA_DIR [--threads 2] [--repeat 20] [--budget-ms 3000]

Rebuilds MODEL exactly as make_models.py did (same seed, same perturbation), checks that its
logits on DATA_DIR's inputs equal the exported torch_output_0.pb (so the timed model is the one
the other runtimes run), then times model(*inputs) in eval mode under torch.no_grad() with
torch.set_num_threads(threads): min over the runs, after 2 warm-ups. Prints one JSON object:
{"ms": ..., "runs": ..., "blas": "...", "torch": "1.13.x", "max_diff": ...}. The BLAS is read from
torch.__config__.show(): Debian's PyTorch 1.13 says BLAS_INFO=generic (no MKL or OpenBLAS), so its
matmuls run far below this machine's oneDNN sgemm rate and the column is labelled with it.
Exit 2 on a setup error (wrong Python, missing files), 1 when the rebuilt model's logits differ.
"""
import argparse
import json
import os
import re
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def blas_info(torch):
    try:
        cfg = torch.__config__.show()
    except Exception:  # noqa: BLE001 - any failure means unknown
        return "unknown"
    m = re.search(r"BLAS_INFO=([^,\s]+)", cfg)
    return m.group(1) if m else ("mkl" if "MKL" in cfg else "unknown")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--budget-ms", type=float, default=3000)
    a = ap.parse_args()
    try:
        import numpy as np
        import torch
        sys.path.insert(0, HERE)
        import make_models
        from onnx import numpy_helper
        import onnx
    except ImportError as e:
        print("torch_inference: %s: run with Debian's /usr/bin/python3 (python3-torch, python3-onnx)" % e, file=sys.stderr)
        return 2
    if a.model not in make_models.MODELS:
        print("torch_inference: unknown model '%s'" % a.model, file=sys.stderr)
        return 2
    ctor, in_names = make_models.MODELS[a.model]
    torch.set_num_threads(1)  # build exactly as make_models.py does
    torch.manual_seed(zlib.crc32(("bench-" + a.model).encode()))
    model = ctor()
    make_models.perturb_(model)
    model.eval()
    inputs = []
    for i in range(len(in_names)):
        t = onnx.TensorProto()
        try:
            with open(os.path.join(a.data, "input_%d.pb" % i), "rb") as f:
                t.ParseFromString(f.read())
            with open(os.path.join(a.data, "torch_output_0.pb"), "rb") as f:
                ref_t = onnx.TensorProto()
                ref_t.ParseFromString(f.read())
        except OSError as e:
            print("torch_inference: %s" % e, file=sys.stderr)
            return 2
        inputs.append(torch.from_numpy(numpy_helper.to_array(t).copy()))
    ref = numpy_helper.to_array(ref_t)
    torch.set_num_threads(a.threads)
    with torch.no_grad():
        out = model(*inputs).numpy()
        diff = float(np.max(np.abs(out.astype(np.float64) - ref))) if out.shape == ref.shape else float("inf")
        if not diff <= 1e-5:
            print("torch_inference: the rebuilt %s gives logits %.3g away from %s/torch_output_0.pb; "
                  "regenerate with make_models.py" % (a.model, diff, a.data), file=sys.stderr)
            return 1
        model(*inputs)
        best, runs, t_start = float("inf"), 0, time.perf_counter()
        while runs < a.repeat and (runs < 3 or (time.perf_counter() - t_start) * 1e3 < a.budget_ms):
            t0 = time.perf_counter()
            model(*inputs)
            best = min(best, (time.perf_counter() - t0) * 1e3)
            runs += 1
    print(json.dumps({"ms": best, "runs": runs, "blas": blas_info(torch), "torch": torch.__version__,
                      "threads": a.threads, "max_diff": diff}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
