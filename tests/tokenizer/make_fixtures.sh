#!/usr/bin/env bash
# Regenerates tests/fixtures/tokenizer/ from the reference: the vocabulary (make_vocab.js), the
# inputs (make_sample.js), and per input and mode the ids Hugging Face's tokenizer gives
# (reference.js, gzip'd: ids compress 4x), which compare.sh checks vmaskc against without node. Also regenerates
# runtime/wordpiece_unicode.h (make_unicode_table.js).
#
# usage: tests/tokenizer/make_fixtures.sh [DATA_DIR]   (default /work/shared/data)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
fx="$root/tests/fixtures/tokenizer"
data="${1:-/work/shared/data}"
dir="$("$here/install.sh")"
export NODE_PATH="$dir/node_modules"
mkdir -p "$fx"
node "$here/make_unicode_table.js" "$root/runtime/wordpiece_unicode.h"
node "$here/make_vocab.js" "$fx/bert-base-uncased-vocab.txt"
node "$here/make_sample.js" "$data" "$fx"
while read -r name opts; do
  for f in data crafted sweep; do
    # shellcheck disable=SC2086
    node "$here/reference.js" "$fx/bert-base-uncased-vocab.txt" "$fx/$f.txt" $opts | gzip -9n >"$fx/$f.$name.ids.gz"
  done
done <"$here/modes.txt"
# sentence pairs: consecutive lines of the data sample and of the crafted cases joined by a TAB, and
# pairs with an empty side, a lone TAB and a second TAB (whitespace inside b)
{
  awk 'NR > 4000 { exit } NR % 2 { a = $0; next } { print a "\t" $0 }' "$fx/data.txt"
  awk 'NR % 2 { a = $0; next } { print a "\t" $0 }' "$fx/crafted.txt"
  printf '\tonly the second text\nonly the first text\t\n\t\nthree\tparts\there\n \t \n'
  printf 'a short first text\t%s\n' "$(head -c 3000 "$fx/data.txt" | tr '\n\t' '  ')"
  printf '%s\ta short second text\n' "$(head -c 3000 "$fx/data.txt" | tr '\n\t' '  ')"
} >"$fx/pairs.txt"
while read -r name opts; do
  # shellcheck disable=SC2086
  node "$here/reference.js" "$fx/bert-base-uncased-vocab.txt" "$fx/pairs.txt" $opts | gzip -9n >"$fx/pairs.$name.ids.gz"
done <"$here/pair_modes.txt"
echo "fixtures written to $fx" >&2
