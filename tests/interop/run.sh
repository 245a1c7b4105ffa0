#!/usr/bin/env bash
# Interop: models trained and exported by vmaskc pass onnx.checker (python3-onnx) and run in
# onnxruntime-node with max abs difference <= 1e-5 against vmaskc running the same exported file.
# Three VMASK export forms: CNN with the per-word keep table and the word_mask output, a time-major
# LSTM, and a transformer with the mask network after its embedding LayerNorm; and the L2X (hard
# top-k in the graph) and IBA (noise at its mean) exports of the CNN and the time-major LSTM, with
# word_mask and vmaskc.method in metadata_props. Every export also runs in ORT on a 1-token text
# (a CNN pads inside its graph to its widest kernel) against vmaskc on the text padded as it pads.
# Skips (exit 77, with the reason) when python3-onnx or onnxruntime-node is missing; .ci/run
# installs both.
# usage: run.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
py=/usr/bin/python3
if ! "$py" -c 'import onnx' 2>/dev/null; then echo "SKIP: python3-onnx is not installed (apt-get install python3-onnx)"; exit 77; fi
ortdir=${VMASKC_ORT_DIR:-$HOME/.cache/vmaskc-ort}
if [ ! -d "$ortdir/node_modules/onnxruntime-node" ] || ! command -v node >/dev/null; then
  echo "SKIP: onnxruntime-node is not installed (run tools/ort/install.sh)"; exit 77
fi
d=$repo/tests/train; fx=$repo/tests/fixtures/models
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in train dev test; do awk -F'\t' 'BEGIN{OFS="\t"} {if ($1==2) $1=1; print}' "$d/$f.tsv" > "$tmp/bin_$f.tsv"; done
fail=0
check() { # name model.onnx n_inputs time_major train-args... (the method from --method, default vmask)
  local name=$1 model=$2 n_in=$3 tm=$4; shift 4
  local method=vmask a prev=""
  for a in "$@"; do [ "$prev" = --method ] && method=$a; prev=$a; done
  if ! "$vmaskc" train "$model" --vocab "$d/vocab.txt" --epochs 2 --batch 32 --lr 0.01 --threads 2 \
        -o "$tmp/$name.onnx" "$@" > "$tmp/$name.log" 2>&1; then
    echo "FAIL $name: training"; cat "$tmp/$name.log"; fail=1; return
  fi
  if ! out=$("$py" - "$tmp/$name.onnx" "$tmp/$name" "$n_in" "$tm" "$method" 2>&1 <<'PY'
import os, sys
import numpy as np
import onnx
from onnx import numpy_helper
path, out, n_in, tm, method = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
m = onnx.load(path)
onnx.checker.check_model(m, full_check=True)
meta = {p.key: p.value for p in m.metadata_props}
assert "vmaskc.vocab" in meta, "vocabulary missing from metadata_props"
assert meta.get("vmaskc.method") == method, "vmaskc.method is %r, not %r" % (meta.get("vmaskc.method"), method)
os.makedirs(out, exist_ok=True)
ids = np.array([[2, 14, 30, 5, 21, 0, 0], [7, 8, 9, 10, 11, 12, 13], [40, 3, 0, 0, 0, 0, 0]], dtype=np.int64)
feeds = [ids, (ids != 0).astype(np.int64), np.zeros_like(ids)][:n_in]
for i, a in enumerate(feeds):
    with open(os.path.join(out, "input_%d.pb" % i), "wb") as f:
        f.write(numpy_helper.from_array(a.T.copy() if tm else a).SerializeToString())
print("onnx.checker: ok; outputs", [o.name for o in m.graph.output])
PY
  ); then echo "FAIL $name: $out"; fail=1; return; fi
  echo "$name: $out"
  if ! "$vmaskc" run "$tmp/$name.onnx" --test-data "$tmp/$name" --out "$tmp/$name/vm" >/dev/null 2>&1; then
    echo "FAIL $name: vmaskc run"; fail=1; return
  fi
  cp "$tmp/$name"/vm/output_*.pb "$tmp/$name/"
  if out=$(node "$repo/tools/ort/ort_run.js" "$tmp/$name.onnx" --test-data "$tmp/$name" --atol 1e-5 --rtol 0 2>&1); then
    echo "$out" | grep -E "output|PASS" | sed "s/^/  $name: /"
  else
    echo "FAIL $name: onnxruntime-node differs from vmaskc"; echo "$out"; fail=1
  fi
  # a plan compiled from the export keeps the per-word table predict shows, also where the compiler
  # folded the mask into the embedding (compiler/pass_gather_fold.c): same output as from the ONNX
  case $name in cnn_*|lstm_*)
    local text a b; text=$(head -1 "$d/dev.tsv" | cut -f2)
    if "$vmaskc" compile "$tmp/$name.onnx" -o "$tmp/$name.vmplan" >/dev/null 2>&1 && a=$("$vmaskc" predict "$tmp/$name.onnx" "$text" 2>&1) &&
       b=$("$vmaskc" predict "$tmp/$name.vmplan" "$text" 2>&1) && [ "$a" = "$b" ] && echo "$a" | grep -q "^  token [a-z]*: "; then
      echo "  $name: predict from the compiled plan: the same probabilities and $(echo "$a" | sed -n 's/^  token \([a-z]*\):.*/\1/p') per token"
    elif [ "$method" != base ]; then echo "FAIL $name: predict from the compiled plan differs from the ONNX's"; echo "$a"; echo "$b"; fail=1; fi;;
  esac
  # a 1-token text: ORT runs the export as it is; vmaskc runs the plan on the text padded as its
  # feeder pads it (to the model's shortest length: a CNN's widest kernel, kept in the export's
  # min-length block); logits agree and word_mask covers the one real token
  if ! out=$("$py" - "$tmp/$name.onnx" "$tmp/$name" "$n_in" "$tm" 2>&1 <<'PY'
import os, sys
import numpy as np
import onnx
from onnx import numpy_helper
path, out, n_in, tm = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
m = onnx.load(path)
meta = {p.key: p.value for p in m.metadata_props}
k = 1
if "vmaskc.min_len_pad" in meta:
    k = int(numpy_helper.to_array([t for t in m.graph.initializer if t.name == "vmaskc.minlen.k"][0])[0])
for sub, T in (("short", 1), ("shortpad", max(k, 1))):
    ids = np.zeros((1, T), dtype=np.int64)
    ids[0, 0] = 21
    real = np.zeros_like(ids); real[0, 0] = 1
    feeds = [ids, real, np.zeros_like(ids)][:n_in]
    os.makedirs(os.path.join(out, sub), exist_ok=True)
    for i, a in enumerate(feeds):
        with open(os.path.join(out, sub, "input_%d.pb" % i), "wb") as f:
            f.write(numpy_helper.from_array(a.T.copy() if tm else a).SerializeToString())
print(k)
PY
  ); then echo "FAIL $name: short inputs: $out"; fail=1; return; fi
  local k=$out
  if ! "$vmaskc" run "$tmp/$name.onnx" --test-data "$tmp/$name/shortpad" --out "$tmp/$name/shortpad/vm" >/dev/null 2>&1; then
    echo "FAIL $name: vmaskc run on the padded 1-token text"; fail=1; return
  fi
  if ! out=$(node "$repo/tools/ort/ort_run.js" "$tmp/$name.onnx" --test-data "$tmp/$name/short" --out "$tmp/$name/short/ort" 2>&1); then
    echo "FAIL $name: onnxruntime-node on a 1-token text"; echo "$out" | tail -3; fail=1; return
  fi
  if out=$("$py" - "$tmp/$name/shortpad/vm" "$tmp/$name/short/ort" "$tm" 2>&1 <<'PY'
import glob, os, sys
import numpy as np
import onnx
from onnx import numpy_helper
vm, ort, tm = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
load = lambda p: numpy_helper.to_array(onnx.load_tensor(p))
files = sorted(glob.glob(os.path.join(ort, "output_*.pb")))
worst = 0.0
for f in files:
    a, b = load(f), load(os.path.join(vm, os.path.basename(f)))
    if a.shape != b.shape:  # word_mask: ORT gives the text's 1 token, vmaskc its padded length
        b = b[:1] if tm else b[:, :1]
    assert a.shape == b.shape, "%s: ORT %s vs vmaskc %s" % (os.path.basename(f), a.shape, b.shape)
    worst = max(worst, float(np.max(np.abs(a - b))))
assert worst <= 1e-5, "max |ORT - vmaskc| = %g" % worst
print("%d outputs, max |ORT - vmaskc| = %.1e" % (len(files), worst))
PY
  ); then echo "  $name: 1-token text (vmaskc padded to $k): $out"
  else echo "FAIL $name: 1-token text: $out"; fail=1; fi
}
# the base CNN export (no mask) carries the min-length block too
check cnn_base "$fx/cnn_conv1d_reducemax_op13/model.onnx" 1 0 --train "$d/train.tsv" --dev "$d/dev.tsv" --method base
check cnn_word_keep "$fx/cnn_conv1d_reducemax_op13/model.onnx" 1 0 --train "$d/train.tsv" --dev "$d/dev.tsv" --mask-hidden 8 --mask-output
check lstm_timemajor "$fx/lstm_timemajor_max_op14/model.onnx" 1 1 --train "$d/train.tsv" --dev "$d/dev.tsv" --mask-hidden 8
check lstm_2layer "$fx/lstm_2layer_last_op14/model.onnx" 1 0 --train "$d/train.tsv" --dev "$d/dev.tsv" --mask-hidden 8
check cnn_kim_padded "$fx/cnn_kim_padded_op13/model.onnx" 1 0 --train "$d/train.tsv" --dev "$d/dev.tsv" --mask-hidden 8 --mask-output
check bow_masked_mean_clip "$fx/bow_masked_mean_op13/model.onnx" 2 0 --train "$d/train.tsv" --dev "$d/dev.tsv" --mask-hidden 8 --mask-output
check cnn_batchnorm_head "$fx/cnn_bn_head_op13/model.onnx" 1 0 --train "$d/train.tsv" --dev "$d/dev.tsv" --mask-hidden 8 --mask-output
# LeakyRelu, Elu, Selu, Softplus, HardSigmoid (HardSwish at opset 14) trained through and exported
check mlp_activations "$fx/mlp_activations_op14/model.onnx" 1 0 --train "$d/train.tsv" --dev "$d/dev.tsv" --mask-hidden 8 --mask-output
# BatchNormalization trains in its eval form: scale and B move, the running statistics stay as exported
if [ -f "$tmp/cnn_batchnorm_head.onnx" ] && ! out=$("$py" - "$fx/cnn_bn_head_op13/model.onnx" "$tmp/cnn_batchnorm_head.onnx" 2>&1 <<'PY'
import sys
import numpy as np
import onnx
from onnx import numpy_helper
a, b = (onnx.load(p) for p in sys.argv[1:3])
bn = [n for n in a.graph.node if n.op_type == "BatchNormalization"][0]
ia = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
ib = {t.name: numpy_helper.to_array(t) for t in b.graph.initializer}
scale, bias, mean, var = bn.input[1:5]
assert np.array_equal(ia[mean], ib[mean]) and np.array_equal(ia[var], ib[var]), "running statistics changed"
assert not np.array_equal(ia[scale], ib[scale]) and not np.array_equal(ia[bias], ib[bias]), "scale and B did not train"
PY
); then echo "FAIL cnn_batchnorm_head: $out"; fail=1
else echo "ok cnn_batchnorm_head: running statistics exported unchanged, scale and B trained"; fi
check roberta_cumsum_positions "$fx/bert_roberta_positions_op14/model.onnx" 2 0 --train "$tmp/bin_train.tsv" --dev "$tmp/bin_dev.tsv" --mask-hidden 8
check causal_trilu_last_token "$fx/bert_causal_last_op17/model.onnx" 1 0 --train "$tmp/bin_train.tsv" --dev "$tmp/bin_dev.tsv" --mask-hidden 8 --mask-output
# DistilBERT's layout: padding by masked_fill(finfo.min) (Equal/Expand/Where), q scaled before QK^T, no token types
check distilbert_masked_fill "$fx/bert_distil_op14/model.onnx" 2 0 --train "$tmp/bin_train.tsv" --dev "$tmp/bin_dev.tsv" --mask-hidden 8 --mask-output
check bert_mask_network "$fx/bert_op17/model.onnx" 3 0 --train "$tmp/bin_train.tsv" --dev "$tmp/bin_dev.tsv" \
      --mask-hidden 8 --mask-after /embeddings/norm/LayerNormalization_output_0 --mask-output
# k = 3 of the probe texts' 7, 7 and 2 real tokens: the top-k cuts two texts and keeps all of one
check cnn_l2x "$fx/cnn_conv1d_reducemax_op13/model.onnx" 1 0 --train "$d/train.tsv" --dev "$d/dev.tsv" --method l2x --l2x-k 3 --mask-output
check lstm_timemajor_l2x "$fx/lstm_timemajor_max_op14/model.onnx" 1 1 --train "$d/train.tsv" --dev "$d/dev.tsv" --method l2x --l2x-k 3 --mask-output
check cnn_iba "$fx/cnn_conv1d_reducemax_op13/model.onnx" 1 0 --train "$d/train.tsv" --dev "$d/dev.tsv" --method iba --mask-output
check lstm_timemajor_iba "$fx/lstm_timemajor_max_op14/model.onnx" 1 1 --train "$d/train.tsv" --dev "$d/dev.tsv" --method iba --mask-output
exit $fail
