#!/usr/bin/env bash
# Training behaviour, end to end through `vmaskc train` on the synthetic task (tests/train):
#  - the same seed gives the same loss trajectory and the same exported model, byte for byte
#    (one run with --timings and --profile, which must print their lines and change nothing else);
#  - the optimizer inside backward (VMASKC_OPTIMIZER_APART=0, the default from 64 MiB of gradients:
#    each Adam step as soon as its gradient is final, gradients in the arena) and apart (=1, and the
#    default for this small model: gradients persistent, read after backward) give the same
#    trajectory and model, byte for byte, and the default is apart here;
#  - --profile's memory report adds up: Adam's state twice the trained parameters, the parts summing
#    to the persistent region, saved activations inside the arena; gradients as large as the
#    parameters with the optimizer apart, none in the persistent region (and said so) without;
#  - a run stopped mid-epoch (a simulated Ctrl-C) and resumed with --resume ends exactly where an
#    uninterrupted run ends;
#  - the VMASK model learns the task and ranks the informative words w0..w9 highest;
#  - a label outside the model's classes and a malformed data line are clear errors;
#  - a frozen embedding released from the ONNX file during training is exported unchanged;
#  - a parameter the importer folded into a constant copy (bow_reshaped_weight: the classifier
#    weight reaches its MatMul through a Reshape) is what the model trains and uses.
# usage: run.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
d=$repo/tests/train; model=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
common=(--vocab "$d/vocab.txt" --train "$d/train.tsv" --dev "$d/dev.tsv" --test "$d/test.tsv" --epochs 8 --batch 32 --lr 0.01 --mask-hidden 16 --seed 5 --threads 2)

"$vmaskc" train "$model" "${common[@]}" -o "$tmp/a.onnx" --history "$tmp/a.csv" > "$tmp/a.out" 2>&1 || { echo "FAIL: training run A"; cat "$tmp/a.out"; exit 1; }
VMASKC_OPTIMIZER_APART=0 "$vmaskc" train "$model" "${common[@]}" -o "$tmp/b.onnx" --history "$tmp/b.csv" --timings --profile > "$tmp/b.out" 2>&1 || { echo "FAIL: training run B"; cat "$tmp/b.out"; exit 1; }
cut -d, -f1-5 "$tmp/a.csv" > "$tmp/a.hist"; cut -d, -f1-5 "$tmp/b.csv" > "$tmp/b.hist"
if cmp -s "$tmp/a.hist" "$tmp/b.hist" && cmp -s "$tmp/a.onnx" "$tmp/b.onnx"; then echo "ok: same seed, same trajectory and model"
else echo "FAIL: two runs with the same seed differ"; diff "$tmp/a.hist" "$tmp/b.hist"; fail=1; fi
if grep -Eq '^timings: load [0-9.]+ first_step [0-9.]+ steps 152 step_median [0-9.]+ step_mean [0-9.]+ step_min [0-9.]+ export [0-9.]+ gflop_per_step [0-9.]+ gflops [0-9.]+ gflops_step_median [0-9.]+ gflops_step_max [0-9.]+ warm_steps [0-9]+ step_median_warm [0-9.]+ gflops_step_median_warm [0-9.]+$' "$tmp/b.out" &&
   ! grep -q '^timings:' "$tmp/a.out"; then echo "ok: --timings prints one line (152 steps)"
else echo "FAIL: --timings line missing or malformed"; grep timings "$tmp/b.out"; fail=1; fi
# warm steps: those whose batch shape an earlier step or evaluation had; the first step's is new,
# and every other new shape is a cold step at most (one the dev pass met first is warm)
warm=$(awk '/^timings:/ { for (i = 1; i < NF; i++) if ($i == "warm_steps") print $(i + 1) }' "$tmp/b.out")
shapes=$(awk '/batch shapes? compiled/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^batch$/) print $i }' "$tmp/b.out")
if [ -n "$warm" ] && [ -n "$shapes" ] && [ "$warm" -lt 152 ] && [ "$warm" -ge $((152 - shapes)) ]; then
  echo "ok: $warm warm steps of 152 ($shapes batch shapes)"
else echo "FAIL: warm steps ($warm) not in [152 - $shapes batch shapes, 152)"; grep -E "timings|compiled" "$tmp/b.out"; fail=1; fi
"$vmaskc" train "$model" "${common[@]}" -o "$tmp/e.onnx" --history "$tmp/e.csv" --profile > "$tmp/e.out" 2>&1 ||
  { echo "FAIL: training run E (optimizer apart, the default for a small model)"; cat "$tmp/e.out"; exit 1; }
cut -d, -f1-5 "$tmp/e.csv" > "$tmp/e.hist"
if cmp -s "$tmp/a.hist" "$tmp/e.hist" && cmp -s "$tmp/a.onnx" "$tmp/e.onnx"; then echo "ok: optimizer inside backward and apart: same trajectory and model"
else echo "FAIL: the optimizer inside backward and apart train different models"; diff "$tmp/a.hist" "$tmp/e.hist"; fail=1; fi
# memcheck FILE GRADS: GRADS 1 = gradients as large as the parameters, 0 = none (in the arena)
memcheck() {
  awk -v grads="$2" '/^memory \(MiB\): persistent/ { P=$4; A=$8; G=$11; O=$15; C=$21; arena = /gradients live in the arena/ }
           /^memory \(MiB\): arena/ { R=$4; for (i = 1; i <= NF; i++) if ($i == "activations") S=$(i-3) }
           /^largest buffers:/ { L=1; next } L && /MiB/ { nb++ }
           END { d = P - (A + G + O + C); if (d < 0) d = -d
                 g = grads ? G == A && !arena : G == 0 && arena
                 print (A > 0 && g && O - 2 * A < 0.003 && 2 * A - O < 0.003 && d < 0.01 && S > 0 && S <= R && nb >= 3) ? "ok" : "bad", P, A, G, O, C, R, S, nb }' "$1"
}
for run in b:0 e:1; do
  mem=$(memcheck "$tmp/${run%:*}.out" "${run#*:}")
  if [[ $mem == ok* ]]; then echo "ok: --profile memory report adds up, optimizer $([ "${run#*:}" = 1 ] && echo apart || echo inside backward) (persistent, parameters, gradients, state, constants, arena, saved: ${mem#ok })"
  else echo "FAIL: --profile memory report of run ${run%:*}: $mem"; grep -A9 '^memory' "$tmp/${run%:*}.out"; fail=1; fi
done
# best-on-dev: from epoch 2 on, a copy of the best epoch's parameters is held (all trained parameters)
copy=$(awk '/^memory \(MiB\): persistent/ { A=$8 } /^memory \(MiB\): best epoch.s parameters/ { B=$6 }
            END { print (B != "" && B == A) ? "ok" : "bad", A, B }' "$tmp/b.out")
if [[ $copy == ok* ]]; then echo "ok: --profile names the best epoch's parameter copy (trained parameters, copy: ${copy#ok })"
else echo "FAIL: the best epoch's parameter copy is not reported as the trained parameters' size: $copy"; grep '^memory' "$tmp/b.out"; fail=1; fi

# interrupted after 23 steps (inside epoch 2: 19 steps per epoch), then resumed
"$vmaskc" train "$model" "${common[@]}" -o "$tmp/c.onnx" --history "$tmp/c.csv" --stop-after-steps 23 > "$tmp/c1.out" 2>&1
rc=$?
if [ $rc -ne 130 ] || ! grep -q "checkpoint saved" "$tmp/c1.out" || [ -e "$tmp/c.onnx" ]; then
  echo "FAIL: an interrupted run must exit 130, save a checkpoint and write no model (exit $rc)"; cat "$tmp/c1.out"; fail=1
fi
"$vmaskc" train "$model" "${common[@]}" -o "$tmp/c.onnx" --history "$tmp/c.csv" --resume > "$tmp/c2.out" 2>&1 || { echo "FAIL: resume"; cat "$tmp/c2.out"; exit 1; }
cut -d, -f1-5 "$tmp/c.csv" > "$tmp/c.hist"
if cmp -s "$tmp/a.hist" "$tmp/c.hist" && cmp -s "$tmp/a.onnx" "$tmp/c.onnx"; then echo "ok: resumed run matches the uninterrupted one"
else echo "FAIL: resumed run differs from the uninterrupted one"; diff "$tmp/a.hist" "$tmp/c.hist"; fail=1; fi

# it learned: test accuracy well above chance (1/3) and w0..w9 lead the ranking
acc=$(sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' "$tmp/a.out")
top=$("$vmaskc" words "$tmp/a.onnx" --top 10 | awk 'NR>1 {print $2}' | grep -c '^w[0-9]$')
if awk -v a="$acc" 'BEGIN { exit !(a >= 80) }' && [ "$top" -ge 7 ]; then echo "ok: test accuracy $acc%, $top of the top 10 words are informative"
else echo "FAIL: test accuracy '$acc' or informative top words $top/10 too low"; cat "$tmp/a.out"; fail=1; fi

# a weight behind a foldable Reshape trains: the exported model scores on the test set exactly what
# the trainer measured for it (were the MatMul reading a frozen copy, the trainer would have measured
# that copy, not the exported weight)
bow=$repo/tests/fixtures/models/bow_reshaped_weight_op13/model.onnx
if "$vmaskc" train "$bow" --vocab "$d/vocab.txt" --train "$d/train.tsv" --dev "$d/dev.tsv" --test "$d/test.tsv" --epochs 4 --batch 32 \
     --lr 0.05 --no-mask --seed 5 --threads 2 -o "$tmp/bow.onnx" > "$tmp/bow.out" 2>&1; then
  t1=$(sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' "$tmp/bow.out")
  t2=$("$vmaskc" eval "$tmp/bow.onnx" --data "$d/test.tsv" 2>&1 | sed -n 's/^accuracy \([0-9.]*\)%.*/\1/p')
  if [ -n "$t1" ] && [ "$t1" = "$t2" ]; then echo "ok: weight behind a Reshape: trainer and exported model agree (test accuracy $t1%)"
  else echo "FAIL: weight behind a Reshape: the trainer measured '$t1'% but the exported model scores '$t2'%"; fail=1; fi
else echo "FAIL: training bow_reshaped_weight"; cat "$tmp/bow.out"; fail=1; fi

# a WordPiece-style vocabulary: [CLS] and [SEP] are never masked (q = 1 in training and in the
# exported per-word table) and never ranked as important words
sed 's/^w56$/[CLS]/; s/^w57$/[SEP]/' "$d/vocab.txt" > "$tmp/vwp.txt"
awk -F'\t' '{ print $1 "\t[CLS] " $2 " [SEP]" }' "$d/train.tsv" > "$tmp/trwp.tsv"
awk -F'\t' '{ print $1 "\t[CLS] " $2 " [SEP]" }' "$d/dev.tsv" > "$tmp/dvwp.tsv"
if "$vmaskc" train "$model" --vocab "$tmp/vwp.txt" --train "$tmp/trwp.tsv" --dev "$tmp/dvwp.tsv" --epochs 2 --no-lowercase --no-split-punct \
     --lr 0.01 --mask-hidden 16 --seed 5 --threads 2 -o "$tmp/wp.onnx" > "$tmp/wp.out" 2>&1; then
  q=$("$vmaskc" predict "$tmp/wp.onnx" "[CLS] w1 w2 [SEP]" | sed -n 's/.*token q: //p')
  ranked=$("$vmaskc" words "$tmp/wp.onnx" --top 100 | grep -c 'CLS\|SEP')
  if [[ "$q" == "[CLS]=1.000 "*" [SEP]=1.000" ]] && [ "$ranked" -eq 0 ] && ! grep -q 'CLS\|SEP' "$tmp/wp.out"; then
    echo "ok: [CLS]/[SEP] keep q = 1 and are not ranked ($q)"
  else echo "FAIL: special tokens: q '$q', ranked $ranked times"; fail=1; fi
else echo "FAIL: training with a WordPiece-style vocabulary"; cat "$tmp/wp.out"; fail=1; fi

# the paper's BERT protocol from the command line: fine-tune the plain model with a trainable
# embedding, then train the mask on the fine-tuned export (its stored vocabulary; embedding frozen)
bert=$repo/tests/fixtures/models/bert_op13/model.onnx
awk -F'\t' '{ print ($1 > 1 ? 1 : $1) "\t" $2 }' "$d/train.tsv" | head -200 > "$tmp/b_train.tsv"
awk -F'\t' '{ print ($1 > 1 ? 1 : $1) "\t" $2 }' "$d/dev.tsv" > "$tmp/b_dev.tsv"
if "$vmaskc" train "$bert" --vocab "$d/vocab.txt" --train "$tmp/b_train.tsv" --dev "$tmp/b_dev.tsv" --epochs 1 --max-len 30 --no-mask \
     --train-embedding --seed 5 --threads 2 -o "$tmp/ft.onnx" > "$tmp/ft.out" 2>&1 &&
   "$vmaskc" train "$tmp/ft.onnx" --train "$tmp/b_train.tsv" --dev "$tmp/b_dev.tsv" --epochs 1 --max-len 30 --seed 5 --threads 2 \
     -o "$tmp/ft_vmask.onnx" > "$tmp/ft2.out" 2>&1 &&
   grep -q "vocabulary and tokenizer: stored in" "$tmp/ft2.out" && grep -q "(word embedding frozen); mask after the word embedding" "$tmp/ft2.out" &&
   grep -q "mask off (--no-mask)" "$tmp/ft.out" && ! grep -q "word embedding frozen" "$tmp/ft.out" &&
   "$vmaskc" words "$tmp/ft_vmask.onnx" --top 3 > /dev/null; then
  echo "ok: BERT protocol: fine-tune with --no-mask --train-embedding, then the mask on the export with its stored vocabulary"
else echo "FAIL: two-stage BERT protocol"; cat "$tmp/ft.out" "$tmp/ft2.out" 2>/dev/null | tail -20; fail=1; fi

# GELU outputs recomputed in the backward (compiler/pass_remat.c) instead of kept from the forward:
# the same trajectory and model byte for byte as keeping them (VMASKC_REMAT=0), in a smaller arena.
# GELU's own choice is the other one (vm_pass_gelu_derivative, tested below), so it is off here.
rm_args=(--vocab "$d/vocab.txt" --train "$tmp/b_train.tsv" --dev "$tmp/b_dev.tsv" --epochs 2 --max-len 30 --seed 5 --threads 2 --profile)
if VMASKC_GELU_DERIVATIVE=0 "$vmaskc" train "$bert" "${rm_args[@]}" -o "$tmp/rm1.onnx" --history "$tmp/rm1.csv" > "$tmp/rm1.out" 2>&1 &&
   VMASKC_GELU_DERIVATIVE=0 VMASKC_REMAT=0 "$vmaskc" train "$bert" "${rm_args[@]}" -o "$tmp/rm0.onnx" --history "$tmp/rm0.csv" > "$tmp/rm0.out" 2>&1; then
  a1=$(sed -n 's/^memory (MiB): arena \([0-9.]*\) .*/\1/p' "$tmp/rm1.out"); a0=$(sed -n 's/^memory (MiB): arena \([0-9.]*\) .*/\1/p' "$tmp/rm0.out")
  cut -d, -f1-5 "$tmp/rm1.csv" > "$tmp/rm1.hist"; cut -d, -f1-5 "$tmp/rm0.csv" > "$tmp/rm0.hist"
  if cmp -s "$tmp/rm1.hist" "$tmp/rm0.hist" && cmp -s "$tmp/rm1.onnx" "$tmp/rm0.onnx" && [ -n "$a1" ] && [ -n "$a0" ] &&
     awk -v a="$a1" -v b="$a0" 'BEGIN { exit !(a < b) }'; then
    echo "ok: GELU recomputed in the backward: same trajectory and model, arena $a1 MiB instead of $a0"
  else echo "FAIL: recomputing GELU in the backward: arena '$a1' vs '$a0' MiB, or a different model"; diff "$tmp/rm1.hist" "$tmp/rm0.hist"; fail=1; fi
else echo "FAIL: training the BERT fixture with and without recomputation"; tail -5 "$tmp/rm1.out" "$tmp/rm0.out"; fail=1; fi

# GELU writing its derivative in the forward (GeluD) and the backward multiplying it in as the post-op
# of the matmul that computes GELU's output gradient, against GELU's gradient from the kept input
# (VMASKC_GELU_DERIVATIVE=0, which the run above is): the same trajectory up to float rounding (the two
# evaluate erf differently), the losses within 1e-4, and the derivative kept instead of recomputed
if "$vmaskc" train "$bert" "${rm_args[@]}" -o "$tmp/gd1.onnx" --history "$tmp/gd1.csv" > "$tmp/gd1.out" 2>&1; then
  if [ "$(wc -l < "$tmp/gd1.csv")" -ge 3 ] && paste -d, "$tmp/gd1.csv" "$tmp/rm1.csv" | awk -F, -v n="$(head -1 "$tmp/gd1.csv" | awk -F, '{ print NF }')" '
       NR == 1 { next }
       { for (i = 2; i <= 4; i++) { a = $i; b = $(i + n); if (a - b > 1e-4 || b - a > 1e-4) bad = 1 } }
       END { exit bad }' &&
     grep -q "^GeluD " "$tmp/gd1.out" && ! grep -q "^Gelu " "$tmp/gd1.out" &&
     [ "$(awk '$1 == "EltwiseGrad" { print $4 }' "$tmp/gd1.out")" -lt "$(awk '$1 == "EltwiseGrad" { print $4 }' "$tmp/rm1.out")" ]; then
    echo "ok: GELU's derivative from the forward: losses within 1e-4 of the gradient from the kept input, no GELU pass in the backward"
  else echo "FAIL: GELU's derivative from the forward"; cat "$tmp/gd1.csv" "$tmp/rm1.csv"; grep -E "^(GeluD|Gelu|EltwiseGrad) " "$tmp/gd1.out" "$tmp/rm1.out"; fail=1; fi
else echo "FAIL: training the BERT fixture with GELU's derivative from the forward"; tail -5 "$tmp/gd1.out"; fail=1; fi

# a frozen word embedding of 1 MiB or more (the SST-2 CNN's, 3.4 MiB) is released from the ONNX file
# once the runtime holds the same bytes, and the export writes the runtime's copy: it must be the
# file's table, byte for byte
sst=$repo/data/sst2; cnn=$repo/examples/sst2_cnn.onnx
head -300 "$sst/train.tsv" > "$tmp/sst_train.tsv"; head -50 "$sst/dev.tsv" > "$tmp/sst_dev.tsv"
if "$vmaskc" train "$cnn" --vocab "$sst/vocab.txt" --train "$tmp/sst_train.tsv" --dev "$tmp/sst_dev.tsv" --epochs 1 --batch 50 --seed 5 \
     --threads 2 -o "$tmp/sst.onnx" > "$tmp/sst.out" 2>&1 && grep -q "word embedding frozen" "$tmp/sst.out"; then
  a=$(python3 "$d/vectors_check.py" "$cnn" embedding.weight --digest); b=$(python3 "$d/vectors_check.py" "$tmp/sst.onnx" embedding.weight --digest)
  if [ -n "$a" ] && [ "$a" = "$b" ]; then echo "ok: the frozen embedding is exported unchanged ($a)"
  else echo "FAIL: frozen embedding changed in the export: '$a' vs '$b'"; fail=1; fi
else echo "FAIL: training the SST-2 CNN"; tail -5 "$tmp/sst.out"; fail=1; fi

# bad data: a label outside the classes, a line without a TAB (file:line)
awk 'NR==7 {$0 = "5\tw3 w4"} {print}' "$d/train.tsv" > "$tmp/badlabel.tsv"
printf '1\tw3 w5\nno tab here\n' > "$tmp/notab.tsv"
out=$("$vmaskc" train "$model" --vocab "$d/vocab.txt" --train "$tmp/badlabel.tsv" --dev "$d/dev.tsv" -o "$tmp/x.onnx" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 3 ] || ! grep -q "label 5" <<<"$out"; then echo "FAIL: out-of-range label: exit $rc: $out"; fail=1; else echo "ok: $out"; fi
out=$("$vmaskc" train "$model" --vocab "$d/vocab.txt" --train "$tmp/notab.tsv" --dev "$d/dev.tsv" -o "$tmp/x.onnx" 2>&1); rc=$?
if [ $rc -ne 3 ] || ! grep -q "notab.tsv:2" <<<"$out"; then echo "FAIL: bad line: exit $rc: $out"; fail=1; else echo "ok: $out"; fi
[ -e "$tmp/x.onnx" ] && { echo "FAIL: a failed run wrote a model"; fail=1; }
exit $fail
