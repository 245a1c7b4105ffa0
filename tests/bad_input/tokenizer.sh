#!/usr/bin/env bash
# Vocabularies the tokenizers cannot serve are errors that name the file, in `tokenize` and in the
# commands that train or read a model: ## pieces without [CLS]/[SEP], a WordPiece vocabulary
# without [UNK], --tokenizer wordpiece on a word list, byte-level BPE and SentencePiece lists,
# an unknown --tokenizer, and a --max-len that leaves no room between [CLS] and [SEP].
#
# usage: tokenizer.sh VMASKC REPO_DIR
. "$2/tests/bad_input/start.sh" # vmaskc, root, tmp, pass/fail, expect()
bert=$root/tests/fixtures/tokenizer/bert-base-uncased-vocab.txt
grep -v -x -e '\[CLS\]' -e '\[SEP\]' "$bert" >"$tmp/no_cls_sep.txt"
grep -v -x -e '\[UNK\]' "$bert" >"$tmp/no_unk.txt"
sed 's/^##/Ġ/' "$bert" | grep -v '^\[' >"$tmp/bpe.txt"
sed 's/^\([a-z]\)/▁\1/' "$bert" | grep -v '^##' >"$tmp/sentencepiece.txt"
words=$root/tests/train/vocab.txt

expect 3 "no_cls_sep.txt: a WordPiece vocabulary (5828 '##' continuation pieces) needs [CLS], [SEP] and [UNK], but has no [CLS] [SEP]" \
  "$vmaskc" tokenize --vocab "$tmp/no_cls_sep.txt" --ids
expect 3 "no_unk.txt: a WordPiece vocabulary" "$vmaskc" tokenize --vocab "$tmp/no_unk.txt" --ids
expect 3 "but has no [UNK]" "$vmaskc" tokenize --vocab "$tmp/no_unk.txt"
expect 3 "$words: as a WordPiece vocabulary" "$vmaskc" tokenize --vocab "$words" --tokenizer wordpiece --ids
expect 3 "bpe.txt: 5828 entries start with 'Ġ', a byte-level BPE vocabulary" "$vmaskc" tokenize --vocab "$tmp/bpe.txt" --ids
expect 3 "sentencepiece.txt:" "$vmaskc" tokenize --vocab "$tmp/sentencepiece.txt" --ids
expect 3 "a SentencePiece vocabulary" "$vmaskc" tokenize --vocab "$tmp/sentencepiece.txt" --ids
expect 2 "--tokenizer is words, kim or wordpiece, not 'bpe'" "$vmaskc" tokenize --vocab "$bert" --tokenizer bpe
expect 2 "need --vocab" "$vmaskc" tokenize --ids
expect 3 "stdin:1: a maximum length of 2 leaves no room" "$vmaskc" tokenize --vocab "$bert" --ids --max-len 2 <<<"hello"
# every command that reads text refuses the same way, naming the file
model=$root/tests/bad_input/good.onnx
expect 3 "no_cls_sep.txt: a WordPiece vocabulary" "$vmaskc" train "$model" --vocab "$tmp/no_cls_sep.txt" \
  --train "$root/tests/train/train.tsv" --dev "$root/tests/train/dev.tsv" -o "$tmp/out.onnx"
expect 3 "bpe.txt: 5828 entries start with 'Ġ'" "$vmaskc" train "$model" --vocab "$tmp/bpe.txt" \
  --train "$root/tests/train/train.tsv" --dev "$root/tests/train/dev.tsv" -o "$tmp/out.onnx"
expect 2 "--tokenizer is words, kim or wordpiece, not 'bpe'" "$vmaskc" train "$model" --vocab "$words" --tokenizer bpe \
  --train "$root/tests/train/train.tsv" --dev "$root/tests/train/dev.tsv" -o "$tmp/out.onnx"
expect 2 "--tokenizer is words, kim or wordpiece, not 'bpe'" "$vmaskc" eval "$model" --data "$root/tests/train/dev.tsv" --tokenizer bpe
[ -e "$tmp/out.onnx" ] && { echo "FAIL: a refused train left $tmp/out.onnx"; fail=$((fail+1)); }
echo "tokenizer bad input: $pass passed, $fail failed"
[ $fail -eq 0 ]
