#!/usr/bin/env bash
# The word tokenizer on Unicode text (issue 14 item 3):
#  - the default (Unicode) tokenizer keeps letters, marks and digits of every script, case-folds,
#    composes (NFKC), splits CJK ideographs and symbols (emoji) off, and on ASCII follows Kim's
#    rules; --tokenizer kim is Kim (2014)'s ASCII cleanup exactly as before;
#  - data files: invalid UTF-8 and NUL bytes are errors naming file:line, or U+FFFD with
#    --replace-invalid; a UTF-8 byte-order mark is skipped;
#  - a model remembers its word tokenizer: trained with the default it reads "café" as one word,
#    trained with --tokenizer kim as "caf" (so models exported before the Unicode tokenizer, whose
#    metadata says words without vmaskc.words.cleanup, keep Kim's; unit test text_meta checks that
#    mapping).
#
# usage: unicode_words.sh VMASKC REPO_DIR
. "$2/tests/bad_input/start.sh" # vmaskc, root, tmp, pass/fail, expect()

check() { # check NAME GOT WANT
  if [ "$2" == "$3" ]; then pass=$((pass+1)); else echo "FAIL: $1"; echo "    got:  $2"; echo "    want: $3"; fail=$((fail+1)); fi
}

# input line <TAB> Unicode tokens <TAB> Kim tokens
while IFS=$'\t' read -r text uni kim; do
  check "words: $text" "$(printf '%s\n' "$text" | "$vmaskc" tokenize)" "$uni"
  check "kim: $text" "$(printf '%s\n' "$text" | "$vmaskc" tokenize --tokenizer kim)" "$kim"
done <<'EOF'
Café naïve résumé	café naïve résumé	caf na ve r sum
Привет, МИР!	привет , мир !	, !
Straße ΣΊΣΥΦΟΣ	strasse σίσυφοσ	stra e
我爱北京 天安门	我 爱 北 京 天 安 门	
great 😀👍🏽 film ©2020	great 😀 👍 film © 2020	great film 2020
été (e + combining acute) vs été	été ( e combining acute ) vs été	t ( e combining acute ) vs t
don’t DON'T it's we've	do n't do n't it 's we 've	don t don't it 's we 've
Ｆｕｌｌ（ｗｉｄｔｈ）	full ( width )	
١٢٣ ٤٥ مرحبا	١٢٣ ٤٥ مرحبا	
a soft­hyphen and zero‍width joiner	a softhyphen and zerowidth joiner	a soft hyphen and zero width joiner
the film , is good ! ( really ) ?	the film , is good ! ( really ) ?	the film , is good ! ( really ) ?
EOF
# the combining-mark line: "e" + U+0301 composes to the same word as the precomposed "é"
check "NFC/NFD agree" "$(printf 'e\xcc\x81t\xc3\xa9 \xc3\xa9t\xc3\xa9\n' | "$vmaskc" tokenize)" "été été"

# data files: invalid UTF-8, NUL bytes, BOM (through the shared reader, here via `vocab`)
printf '1\tgood film\n0\tbad \xff film\n' >"$tmp/bad_utf8.tsv"
printf '1\tgood film\n1\tok\n0\tbad \000 film\n' >"$tmp/nul.tsv"
printf '1\tgood film\n0\tcaf\xc3\n' >"$tmp/truncated.tsv"
printf '\xef\xbb\xbf1\tgood film\n0\tbad film\n' >"$tmp/bom.tsv"
expect 3 "bad_utf8.tsv:2: the text: invalid UTF-8 byte 0xff at byte 5" "$vmaskc" vocab "$tmp/bad_utf8.tsv" -o "$tmp/v.txt"
expect 3 "nul.tsv:3: the text: NUL byte at byte 5" "$vmaskc" vocab "$tmp/nul.tsv" -o "$tmp/v.txt"
expect 3 "truncated.tsv:2: the text: invalid UTF-8 byte 0xc3 at byte 4" "$vmaskc" vocab "$tmp/truncated.tsv" -o "$tmp/v.txt"
[ -e "$tmp/v.txt" ] && { echo "FAIL: a refused vocab wrote its output"; fail=$((fail+1)); }
expect 0 "" "$vmaskc" vocab "$tmp/bad_utf8.tsv" -o "$tmp/v.txt" --replace-invalid
check "replaced bytes separate words" "$(tr '\n' ' ' <"$tmp/v.txt")" "<pad> <unk> film bad good "
expect 0 "" "$vmaskc" vocab "$tmp/nul.tsv" -o "$tmp/v2.txt" --replace-invalid
expect 0 "" "$vmaskc" vocab "$tmp/bom.tsv" -o "$tmp/v3.txt"
check "BOM skipped (label 1 read)" "$(tr '\n' ' ' <"$tmp/v3.txt")" "<pad> <unk> film bad good "
# a label with invalid UTF-8 is named as the label
printf '1\tgood\n\xfe\tbad\n' >"$tmp/bad_label.tsv"
expect 3 "bad_label.tsv:2: the label: invalid UTF-8 byte 0xfe at byte 1" "$vmaskc" vocab "$tmp/bad_label.tsv" -o "$tmp/v4.txt"

# predict: texts from a file and from the command line are checked the same way
printf 'good film\nbad \xff\n' >"$tmp/texts.txt"

# a model remembers its tokenizer
model=$root/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
printf '<pad>\n<unk>\ncafé\nnaïve\ngood\nbad\nfilm\ncaf\nna\nve\n' >"$tmp/vocab.txt"
for i in 1 2 3 4 5 6 7 8; do printf '1\tcafé good film\n0\tnaïve bad film\n'; done >"$tmp/train.tsv"
common=(--vocab "$tmp/vocab.txt" --allow-short-vocab --train "$tmp/train.tsv" --dev "$tmp/train.tsv" --epochs 1 --batch 4 --top 0)
if "$vmaskc" train "$model" "${common[@]}" -o "$tmp/uni.onnx" >"$tmp/uni.out" 2>&1 &&
   "$vmaskc" train "$model" "${common[@]}" --tokenizer kim -o "$tmp/kim.onnx" >"$tmp/kim.out" 2>&1; then
  pass=$((pass+1))
  check "Unicode model's tokens" "$("$vmaskc" predict "$tmp/uni.onnx" "Café NAÏVE" | sed -n 's/^  token q: //p' | sed 's/=[0-9.]*//g')" "café naïve"
  check "Kim model's tokens" "$("$vmaskc" predict "$tmp/kim.onnx" "Café NAÏVE" | sed -n 's/^  token q: //p' | sed 's/=[0-9.]*//g')" "caf na ve"
  grep -q "0.0% of training tokens unknown" "$tmp/uni.out" && pass=$((pass+1)) || { echo "FAIL: Unicode training data had unknown words"; fail=$((fail+1)); }
  expect 3 "texts.txt:2: the text: invalid UTF-8 byte 0xff at byte 5" "$vmaskc" predict "$tmp/uni.onnx" --file "$tmp/texts.txt"
  expect 3 "text 1: the text: invalid UTF-8 byte 0xff" "$vmaskc" predict "$tmp/uni.onnx" "$(printf 'bad \xff')"
  expect 0 "" "$vmaskc" predict "$tmp/uni.onnx" --file "$tmp/texts.txt" --replace-invalid
else
  echo "FAIL: training"; cat "$tmp/uni.out" "$tmp/kim.out" 2>/dev/null | tail -5; fail=$((fail+1))
fi

echo "Unicode words: $pass passed, $fail failed"
[ $fail -eq 0 ]
