#!/usr/bin/env bash
# Raw text end to end against the real thing: a BERT-style classifier with bert-base-uncased's
# 30,522-piece vocabulary (built here with python3-onnx; Hugging Face input names) is trained by
# vmaskc with VMASK on SST-2 texts and exported; then, for raw sentences with accents, CJK,
# emoji and punctuation, `vmaskc predict` (vmaskc's own WordPiece tokenizer and runtime) must give
# the class probabilities that onnxruntime-node gives on the ids of Hugging Face's tokenizer
# (tests/tokenizer/reference.js), to 1e-4 (predict --digits 8).
# Skips (exit 77, with the reason) without python3-onnx, onnxruntime-node or the tokenizer reference.
# usage: raw_text.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
py=/usr/bin/python3
if ! "$py" -c 'import onnx, numpy' 2>/dev/null; then echo "SKIP: python3-onnx is not installed"; exit 77; fi
ortdir=${VMASKC_ORT_DIR:-$HOME/.cache/vmaskc-ort}
if [ ! -d "$ortdir/node_modules/onnxruntime-node" ] || ! command -v node >/dev/null; then
  echo "SKIP: onnxruntime-node is not installed (run tools/ort/install.sh)"; exit 77
fi
if ! tokdir=$("$repo/tests/tokenizer/install.sh" 2>/dev/null); then
  echo "SKIP: Hugging Face's tokenizer reference could not be installed (tests/tokenizer/install.sh)"; exit 77
fi
vocab=$repo/tests/fixtures/tokenizer/bert-base-uncased-vocab.txt
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$py" - "$tmp/model.onnx" <<'PY' || { echo "FAIL: building the model"; exit 1; }
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
rng = np.random.default_rng(3)
V, P, E, C = 30522, 64, 16, 2
init = lambda a, n: numpy_helper.from_array(a.astype(np.float32), n)
inits = [init(rng.standard_normal((V, E)) * 0.5, "embeddings.word_embeddings.weight"),
         init(rng.standard_normal((P, E)) * 0.1, "embeddings.position_embeddings.weight"),
         init(rng.standard_normal((2, E)) * 0.1, "embeddings.token_type_embeddings.weight"),
         init(np.ones(E), "ln.g"), init(np.zeros(E), "ln.b"),
         init(rng.standard_normal((C, E)) * 0.3, "classifier.weight"), init(np.zeros(C), "classifier.bias"),
         numpy_helper.from_array(np.array([2], dtype=np.int64), "ax2"), numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1"),
         numpy_helper.from_array(np.array([1], dtype=np.int64), "one")]
nodes = [
    helper.make_node("Shape", ["input_ids"], ["shape"], name="shape"),
    helper.make_node("Gather", ["shape", "one"], ["seq1"], name="seq_len", axis=0),
    helper.make_node("Squeeze", ["seq1"], ["seq"], name="seq"),
    helper.make_node("Range", ["zero", "seq", "one_s"], ["pos"], name="positions"),
    helper.make_node("Gather", ["embeddings.word_embeddings.weight", "input_ids"], ["ew"], name="word"),
    helper.make_node("Gather", ["embeddings.position_embeddings.weight", "pos"], ["ep"], name="position"),
    helper.make_node("Gather", ["embeddings.token_type_embeddings.weight", "token_type_ids"], ["et"], name="type"),
    helper.make_node("Add", ["ew", "ep"], ["e1"], name="add1"),
    helper.make_node("Add", ["e1", "et"], ["e2"], name="add2"),
    helper.make_node("LayerNormalization", ["e2", "ln.g", "ln.b"], ["e3"], name="ln", axis=-1, epsilon=1e-12),
    helper.make_node("Cast", ["attention_mask"], ["mf"], name="mask_f", to=TensorProto.FLOAT),
    helper.make_node("Unsqueeze", ["mf", "ax2"], ["m3"], name="mask_u"),
    helper.make_node("Mul", ["e3", "m3"], ["em"], name="masked"),
    helper.make_node("ReduceSum", ["em", "ax1"], ["s"], name="sum", keepdims=0),
    helper.make_node("ReduceSum", ["m3", "ax1"], ["cnt"], name="count", keepdims=0),
    helper.make_node("Div", ["s", "cnt"], ["mean"], name="mean"),
    helper.make_node("Gemm", ["mean", "classifier.weight", "classifier.bias"], ["logits"], name="classifier", transB=1),
]
inits += [numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"), numpy_helper.from_array(np.array(1, dtype=np.int64), "one_s")]
ins = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"]) for n in ("input_ids", "attention_mask", "token_type_ids")]
g = helper.make_graph(nodes, "bert_like", ins, [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", C])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="vmaskc-tests")
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
PY

head -600 "$repo/data/sst2/train.tsv" > "$tmp/train.tsv"; head -200 "$repo/data/sst2/dev.tsv" > "$tmp/dev.tsv"
if ! "$vmaskc" train "$tmp/model.onnx" --vocab "$vocab" --train "$tmp/train.tsv" --dev "$tmp/dev.tsv" --epochs 2 --batch 32 --lr 0.01 \
      --mask-hidden 8 --max-len 64 --threads 2 -o "$tmp/vm.onnx" > "$tmp/train.log" 2>&1; then
  echo "FAIL: training"; cat "$tmp/train.log"; exit 1
fi
grep -q "wordpiece tokenizer" "$tmp/train.log" || { echo "FAIL: the BERT vocabulary was not read as WordPiece"; cat "$tmp/train.log"; exit 1; }
cat > "$tmp/texts.txt" <<'EOF'
A gorgeous, witty, seductive movie.
The café's naïve charm wears thin after an hour — sadly.
It's not the worst film of the year... but it's close!!!
东京 and Zürich look stunning 🎬 in this one
unbelievably unwatchable, unredeemable and overlong
EOF
# check MODEL TEXTS [--pairs]: vmaskc predict on TEXTS against onnxruntime-node on Hugging Face's ids
# (and, with --pairs, its token type ids) of the same texts
check() {
  local model=$1 texts=$2 pairs=${3:-}
  NODE_PATH="$tokdir/node_modules" node "$repo/tests/tokenizer/reference.js" "$vocab" "$texts" --max-len 64 $pairs > "$tmp/ids.txt" &&
    NODE_PATH="$tokdir/node_modules" node "$repo/tests/tokenizer/reference.js" "$vocab" "$texts" --max-len 64 $pairs --types > "$tmp/types.txt" ||
    { echo "FAIL: reference.js"; return 1; }
  "$vmaskc" predict "$model" --file "$texts" --max-len 64 --digits 8 > "$tmp/predict.txt" 2>&1 || { echo "FAIL: predict"; cat "$tmp/predict.txt"; return 1; }
  rm -rf "$tmp/data" "$tmp/ort"
  "$py" - "$tmp/ids.txt" "$tmp/types.txt" "$tmp/data" <<'PY' || { echo "FAIL: writing ORT inputs"; return 1; }
import os, sys
import numpy as np
from onnx import numpy_helper
rows = [[int(x) for x in l.split()] for l in open(sys.argv[1]) if l.strip()]
trows = [[int(x) for x in l.split()] for l in open(sys.argv[2]) if l.strip()]
T = max(len(r) for r in rows)
ids = np.zeros((len(rows), T), dtype=np.int64)
types = np.zeros_like(ids)
for i, (r, t) in enumerate(zip(rows, trows)):
    ids[i, :len(r)] = r
    types[i, :len(t)] = t
os.makedirs(sys.argv[3], exist_ok=True)
for k, a in enumerate([ids, (np.arange(T)[None] < np.array([len(r) for r in rows])[:, None]).astype(np.int64), types]):
    open(os.path.join(sys.argv[3], "input_%d.pb" % k), "wb").write(numpy_helper.from_array(a).SerializeToString())
PY
  node "$repo/tools/ort/ort_run.js" "$model" --test-data "$tmp/data" --out "$tmp/ort" > "$tmp/ort.log" 2>&1 || { echo "FAIL: onnxruntime-node"; cat "$tmp/ort.log"; return 1; }
  "$py" - "$tmp/ort/output_0.pb" "$tmp/predict.txt" "${pairs:-single texts}" <<'PY'
import sys
import numpy as np
import onnx
from onnx import numpy_helper
t = onnx.TensorProto(); t.ParseFromString(open(sys.argv[1], "rb").read())
logits = numpy_helper.to_array(t).astype(np.float64)
p = np.exp(logits - logits.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
got = [[float(x) for x in l.split("probabilities")[1].split()] for l in open(sys.argv[2]) if "probabilities" in l]
assert len(got) == len(p), "predict printed %d texts, ORT ran %d" % (len(got), len(p))
d = float(np.abs(np.array(got) - p).max())
print("max |vmaskc predict - ORT on Hugging Face ids| = %.2e over %d raw texts (%s)" % (d, len(p), sys.argv[3]))
sys.exit(0 if d <= 1e-4 else 1)
PY
  local rc=$?
  [ $rc -eq 0 ] || { echo "FAIL: raw-text probabilities differ"; cat "$tmp/predict.txt"; }
  return $rc
}
fail=0
check "$tmp/vm.onnx" "$tmp/texts.txt" && echo "ok: raw text through vmaskc matches onnxruntime-node on Hugging Face's ids" || fail=1

# Sentence pairs: TSV label<TAB>a<TAB>b (consecutive SST-2 texts), trained with --pairs; the export
# remembers it (vmaskc.pairs), and predict's 'a<TAB>b' texts must match ORT fed Hugging Face's
# tokenizer(a, b) ids and token type ids (the type embedding is trained, so types 0 and 1 differ)
awk -F'\t' 'NR % 2 { l = $1; a = $2; next } { print l "\t" a "\t" $2 }' "$tmp/train.tsv" > "$tmp/ptrain.tsv"
awk -F'\t' 'NR % 2 { l = $1; a = $2; next } { print l "\t" a "\t" $2 }' "$tmp/dev.tsv" > "$tmp/pdev.tsv"
if ! "$vmaskc" train "$tmp/model.onnx" --vocab "$vocab" --train "$tmp/ptrain.tsv" --dev "$tmp/pdev.tsv" --pairs --epochs 2 --batch 32 \
      --lr 0.01 --mask-hidden 8 --max-len 64 --threads 2 -o "$tmp/vmp.onnx" > "$tmp/ptrain.log" 2>&1; then
  echo "FAIL: training on sentence pairs"; cat "$tmp/ptrain.log"; exit 1
fi
if ! "$py" -c 'import onnx, sys; m = onnx.load(sys.argv[1]); assert {p.key: p.value for p in m.metadata_props}.get("vmaskc.pairs") == "1"' "$tmp/vmp.onnx"; then
  echo "FAIL: the pair model's export has no vmaskc.pairs=1"; fail=1
fi
cut -f2- "$tmp/pdev.tsv" | head -8 > "$tmp/pairs.txt"
printf 'The café is naïve\tbut 东京 is stunning 🎬\na text without a second half\n' >> "$tmp/pairs.txt"
check "$tmp/vmp.onnx" "$tmp/pairs.txt" --pairs && echo "ok: sentence pairs through vmaskc match onnxruntime-node on Hugging Face's tokenizer(a, b)" || fail=1
# compare refuses a pair model beside a single-text one (they read 'a<TAB>b' differently) unless --pairs
out=$("$vmaskc" compare "$tmp/vmp.onnx" "$tmp/vm.onnx" --data "$tmp/pdev.tsv" --limit 2 --max-len 64 2>&1); rc=$?
if [ $rc -eq 3 ] && grep -q "was trained on sentence pairs (--pairs) but .*vm.onnx was not" <<<"$out"; then echo "ok: $out"
else echo "FAIL: compare of a pair model with a single-text model: exit $rc: $out"; fail=1; fi
exit $fail
