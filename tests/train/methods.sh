#!/usr/bin/env bash
# The five training methods (vmaskc train --method base|l2|l2x|iba|vmask) end to end on the
# synthetic task (tests/train):
#  - each learns it (test accuracy >= 60%, chance is 33%) and records vmaskc.method and its
#    settings in the export's metadata_props;
#  - the exported model scores on the test set exactly the test accuracy training reported: for
#    L2X that is the hard top-k inside the ONNX graph (standard ops) against the L2XMask kernel's
#    inference mode, for IBA the mean-noise graph against the IBA kernel;
#  - words and predict report each mask method's own importance (q, score, lambda);
#  - the aliases: --no-mask is base, --no-mask --weight-decay is l2, --method l2 alone gets the
#    default weight decay 1e-4.
# usage: methods.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
d=$repo/tests/train; model=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
common=(--vocab "$d/vocab.txt" --train "$d/train.tsv" --dev "$d/dev.tsv" --test "$d/test.tsv" --epochs 8 --batch 32 --lr 0.01 --seed 5 --threads 2 --top 0)
for m in base l2 l2x iba vmask; do
  extra=()
  case $m in l2x) extra=(--l2x-k 3 --mask-output);; iba) extra=(--iba-beta 5 --mask-output);; vmask) extra=(--mask-hidden 16);; esac
  if ! "$vmaskc" train "$model" "${common[@]}" --method $m "${extra[@]}" -o "$tmp/$m.onnx" > "$tmp/$m.out" 2>&1; then
    echo "FAIL $m: training"; cat "$tmp/$m.out"; fail=1; continue
  fi
  acc=$(sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' "$tmp/$m.out")
  eacc=$("$vmaskc" eval "$tmp/$m.onnx" --data "$d/test.tsv" 2>&1 | sed -n 's/^accuracy \([0-9.]*\)%.*/\1/p')
  if awk -v a="$acc" 'BEGIN { exit !(a >= 60) }' && [ "$acc" = "$eacc" ]; then echo "ok $m: test accuracy $acc%, the export scores $eacc%"
  else echo "FAIL $m: test accuracy '$acc' (>= 60 expected), export '$eacc' (must be equal)"; tail -5 "$tmp/$m.out"; fail=1; fi
done
# the progress line shows beta only for a method with an information loss (VMASK, IBA)
for m in base l2 l2x iba vmask; do
  [ -f "$tmp/$m.out" ] || continue
  has=no; grep -q '^epoch .* beta [0-9.]*  ' "$tmp/$m.out" && has=yes
  want=no; case $m in iba|vmask) want=yes;; esac
  [ $has = $want ] || { echo "FAIL $m: beta in the epoch line: $has, expected $want"; grep '^epoch' "$tmp/$m.out" | head -2; fail=1; }
done
# the epoch line says what the loss is made of, and the parts add up to it
for m in base l2 l2x iba vmask; do
  [ -f "$tmp/$m.out" ] || continue
  line=$(grep '^epoch' "$tmp/$m.out" | tail -1)
  case $m in
    iba|vmask)
      if ! awk '{ for (i = 1; i <= NF; i++) { if ($i == "loss" && $(i - 1) != "information") l = $(i + 1); if ($i == "(cross-entropy") c = $(i + 1); if ($i == "loss" && $(i - 1) == "information") b = $(i + 1) } }
                END { b += 0; d = l - c - b; exit !(c != "" && (d < 0 ? -d : d) < 2e-4) }' <<<"$line"; then
        echo "FAIL $m: the loss's parts do not add up: $line"; fail=1
      fi;;
    *) grep -q "loss [0-9.]* (cross-entropy)  " <<<"$line" || { echo "FAIL $m: the epoch line does not say the loss is the cross-entropy: $line"; fail=1; };;
  esac
done
# metadata (metadata_props keys and values are plain strings in the protobuf)
for m in base l2 l2x iba vmask; do
  [ -f "$tmp/$m.onnx" ] || continue
  if ! grep -aq "vmaskc\.method..$m" "$tmp/$m.onnx"; then echo "FAIL $m: vmaskc.method=$m missing from metadata_props"; fail=1; fi
done
grep -aq "vmaskc\.l2x\.k..3" "$tmp/l2x.onnx" && grep -aq "vmaskc\.iba\.beta..5" "$tmp/iba.onnx" && grep -aq "vmaskc\.weight_decay..0\.0001" "$tmp/l2.onnx" &&
  echo "ok: metadata carries vmaskc.method and its settings (l2x k, iba beta, l2 weight decay 1e-4 by default)" ||
  { echo "FAIL: method settings missing from metadata_props"; fail=1; }
# inspect shows what the export stored: the method and its settings, the tokenizer, the vocabulary
if [ -f "$tmp/l2x.onnx" ]; then
  ins=$("$vmaskc" inspect "$tmp/l2x.onnx")
  nv=$(grep -c . "$d/vocab.txt")
  if grep -q "^  method  *l2x$" <<<"$ins" && grep -q "^  l2x.k  *3$" <<<"$ins" && grep -q "^  tokenizer  *words$" <<<"$ins" &&
     grep -q "^  vocab  *$nv entries ($(head -1 "$d/vocab.txt") " <<<"$ins"; then echo "ok: inspect shows the method, its k, the tokenizer and the $nv-entry vocabulary"
  else echo "FAIL: inspect of the L2X export"; echo "$ins"; fail=1; fi
fi
grep -q "mask off (--no-mask)" "$tmp/base.out" && grep -q "weight decay 0.0001 (--method l2)" "$tmp/l2.out" || { echo "FAIL: base/l2 banner"; fail=1; }
# each method's importance through words and predict
for m in l2x:score iba:lambda vmask:q; do
  name=${m%%:*}; imp=${m##*:}
  [ -f "$tmp/$name.onnx" ] || continue
  if "$vmaskc" words "$tmp/$name.onnx" --top 3 | head -1 | grep -q "importance $imp:" &&
     "$vmaskc" predict "$tmp/$name.onnx" "w1 w2 w30 w40" | grep -q "token $imp: w1="; then echo "ok $name: words and predict report the $imp"
  else echo "FAIL $name: words/predict do not report the $imp"; fail=1; fi
done
# a WordPiece-style vocabulary ([CLS], [SEP] replace two words): IBA lets them through (lambda = 1),
# L2X always keeps them and ranks only the words: with k = 1 a text of [CLS], two words, [SEP]
# keeps [CLS], [SEP] and its higher-scoring word (checked through the exported graph: the logits
# equal those of the text with the other word padded out)
sed 's/^w56$/[CLS]/; s/^w57$/[SEP]/' "$d/vocab.txt" > "$tmp/vwp.txt"
for f in train dev; do awk -F'\t' '{ print $1 "\t[CLS] " $2 " [SEP]" }' "$d/$f.tsv" > "$tmp/wp_$f.tsv"; done
wp=(--vocab "$tmp/vwp.txt" --train "$tmp/wp_train.tsv" --dev "$tmp/wp_dev.tsv" --epochs 2 --no-lowercase --no-split-punct --lr 0.01 --seed 5 --threads 2 --top 0)
if "$vmaskc" train "$model" "${wp[@]}" --method iba -o "$tmp/wp_iba.onnx" > "$tmp/wp_iba.out" 2>&1 &&
   [[ "$("$vmaskc" predict "$tmp/wp_iba.onnx" "[CLS] w1 w2 [SEP]" | sed -n 's/.*token lambda: //p')" == "[CLS]=1.000 "*" [SEP]=1.000" ]]; then
  echo "ok iba: [CLS]/[SEP] pass unchanged (lambda = 1)"
else echo "FAIL iba: special tokens not kept"; tail -3 "$tmp/wp_iba.out"; fail=1; fi
if "$vmaskc" train "$model" "${wp[@]}" --method l2x --l2x-k 1 -o "$tmp/wp_l2x.onnx" > "$tmp/wp_l2x.out" 2>&1; then
  sc=$("$vmaskc" predict "$tmp/wp_l2x.onnx" "[CLS] w1 w2 [SEP]" | sed -n 's/.*token score: //p')
  s1=$(sed -n 's/.*w1=\([-0-9.]*\).*/\1/p' <<<"$sc"); s2=$(sed -n 's/.*w2=\([-0-9.]*\).*/\1/p' <<<"$sc")
  if awk -v a="$s1" -v b="$s2" 'BEGIN { exit !(a > b) }'; then keep="w1"; else keep="w2"; fi
  full=$("$vmaskc" predict "$tmp/wp_l2x.onnx" "[CLS] w1 w2 [SEP]" | sed -n 's/^text 1: //p')
  only=$("$vmaskc" predict "$tmp/wp_l2x.onnx" "[CLS] $keep <pad> [SEP]" | sed -n 's/^text 1: //p')
  [ "$keep" = w2 ] && only=$("$vmaskc" predict "$tmp/wp_l2x.onnx" "[CLS] <pad> w2 [SEP]" | sed -n 's/^text 1: //p')
  if [ -n "$full" ] && [ "$full" = "$only" ]; then echo "ok l2x: k = 1 keeps [CLS], [SEP] and $keep ($sc): $full"
  else echo "FAIL l2x: k = 1 selection: '$full' vs '$only' ($sc)"; fail=1; fi
else echo "FAIL l2x: training with a WordPiece-style vocabulary"; tail -3 "$tmp/wp_l2x.out"; fail=1; fi
# aliases
"$vmaskc" train "$model" "${common[@]}" --epochs 1 --no-mask --weight-decay 0.001 -o "$tmp/alias.onnx" > "$tmp/alias.out" 2>&1
if grep -aq "vmaskc\.method..l2" "$tmp/alias.onnx" && grep -q "weight decay 0.001 (--method l2)" "$tmp/alias.out"; then echo "ok: --no-mask --weight-decay is --method l2"
else echo "FAIL: --no-mask --weight-decay alias"; cat "$tmp/alias.out"; fail=1; fi
exit $fail
