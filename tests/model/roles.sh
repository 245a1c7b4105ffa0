#!/usr/bin/env bash
# Input roles: a BERT-style model whose inputs are named a, b, c, d (token ids, attention mask,
# token types, position ids) is fed by role, found from each input's use in the graph; the class
# probabilities match numpy's (tests/fixtures/make_roles.py). --input-role overrides a role, and
# a wrong --input-role is a clear error.
# usage: roles.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
fx=$repo/tests/fixtures/roles; vocab=$repo/tests/train/vocab.txt
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
mapfile -t texts < <(cut -f1 "$fx/expected.txt")
"$vmaskc" predict "$fx/model.onnx" "${texts[@]}" --vocab "$vocab" > "$tmp/got.txt" 2>&1 || { echo "FAIL: predict"; cat "$tmp/got.txt"; exit 1; }
sed -n 's/.*probabilities //p' "$tmp/got.txt" > "$tmp/got.p"
cut -f2 "$fx/expected.txt" > "$tmp/want.p"
if paste -d' ' "$tmp/got.p" "$tmp/want.p" | awk '{ n = NF / 2; for (i = 1; i <= n; i++) { d = $i - $(i + n); if (d < 0) d = -d; if (d > 2e-4) bad = 1 } } END { exit bad }'; then
  echo "ok: inputs fed by role found from their use; probabilities match numpy"
else echo "FAIL: probabilities differ"; paste "$tmp/got.p" "$tmp/want.p"; fail=1; fi

# a padded batch: labels are numpy's argmax, so every text is right only if the mask excludes padding
awk -F'\t' '{ split($2, p, " "); best = 1; for (i = 2; i <= 3; i++) if (p[i] > p[best]) best = i; print best - 1 "\t" $1 }' "$fx/expected.txt" > "$tmp/data.tsv"
acc=$("$vmaskc" eval "$fx/model.onnx" --data "$tmp/data.tsv" --vocab "$vocab" 2>&1 | sed -n 's/^accuracy \([0-9.]*\)%.*/\1/p')
if [ "$acc" = "100.00" ]; then echo "ok: a padded batch classifies every text as numpy does"
else echo "FAIL: padded batch accuracy '$acc'"; fail=1; fi

# overriding roles changes what is fed
"$vmaskc" predict "$fx/model.onnx" "${texts[0]}" --vocab "$vocab" --input-role c=positions --input-role d=types > "$tmp/swap.txt" 2>&1
if ! grep -qF "$(head -1 "$tmp/got.p")" "$tmp/swap.txt"; then echo "ok: --input-role overrides the detected roles"
else echo "FAIL: --input-role had no effect"; cat "$tmp/swap.txt"; fail=1; fi
out=$("$vmaskc" predict "$fx/model.onnx" "w1" --vocab "$vocab" --input-role zz=mask 2>&1); rc=$?
if [ $rc -eq 3 ] && grep -q "no input of that name (its inputs: a, b, c, d)" <<<"$out"; then echo "ok: $out"
else echo "FAIL: unknown input in --input-role: exit $rc: $out"; fail=1; fi
out=$("$vmaskc" predict "$fx/model.onnx" "w1" --vocab "$vocab" --input-role b=attention 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "ROLE one of ids, mask, types, positions" <<<"$out"; then echo "ok: $out"
else echo "FAIL: unknown role: exit $rc: $out"; fail=1; fi
exit $fail
