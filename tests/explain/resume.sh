#!/usr/bin/env bash
# `vmaskc compare --resume`: an interrupted comparison continues from DIR/progress.bin and ends with
# the same explanations as one that ran through.
#  - a progress file cut at any byte (a run killed while writing) is read back up to its last whole
#    example and the run completes: explanations.jsonl and every table are identical to the full run's;
#  - Ctrl-C (SIGINT) keeps what is explained, says so, and --resume finishes it identically;
#  - --threads and --batch may change between the runs;
#  - another seed, other models, other LIME samples or other data are refused, naming the setting;
#  - a record with a valid checksum but an impossible content (a token id outside the vocabulary) is
#    dropped, never indexed with;
#  - the same data compressed again (another gzip header) is the same data; other text is not;
#  - --resume without --report is a usage error; a run that fails before any example leaves no folder.
# usage: resume.sh VMASKC REPO_DIR
set -u
vmaskc=$1; repo=$2
d=$repo/tests/train; model=$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
common=(--vocab "$d/vocab.txt" --train "$d/train.tsv" --dev "$d/dev.tsv" --epochs 4 --batch 32 --lr 0.01 --seed 5 --threads 1)
"$vmaskc" train "$model" "${common[@]}" --no-mask -o "$tmp/base.onnx" >"$tmp/t1.out" 2>&1 &&
  "$vmaskc" train "$model" "${common[@]}" --mask-hidden 16 --mask-output -o "$tmp/vm.onnx" >"$tmp/t2.out" 2>&1 ||
  { echo "FAIL: training the two models"; cat "$tmp"/t*.out; exit 1; }

# the console without its timing lines (seconds, rates, "wrote")
tables() { grep -v -E "wrote |ms \(included|[0-9] s\b|/s|seconds|runs;|^speed " "$1"; }

x=(--data "$d/test.tsv" --samples 300 --permutations 20 --threads 1)
"$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" "${x[@]}" --report "$tmp/full" >"$tmp/full.out" 2>"$tmp/full.err" ||
  { echo "FAIL: compare"; cat "$tmp/full.err"; exit 1; }
[ -s "$tmp/full/progress.bin" ] || { echo "FAIL: no progress.bin in the report folder"; exit 1; }
size=$(stat -c %s "$tmp/full/progress.bin")
# cut points: inside the header, after a few examples, in the middle of a record, one byte short
for cut in 40 $((size / 9)) $((size / 2 + 7)) $((size - 1)) "$size"; do
  r=$tmp/cut$cut; mkdir "$r"
  head -c "$cut" "$tmp/full/progress.bin" >"$r/progress.bin"
  if [ "$cut" -lt 200 ]; then
    # a header cut short is not this run's: refused, and the file is left alone
    if "$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" "${x[@]}" --report "$r" --resume >"$r.out" 2>"$r.err"; then
      echo "FAIL: a progress file cut at byte $cut was accepted"; fail=1
    fi
    grep -q "progress.bin was written by another run" "$r.err" || { echo "FAIL: cut header: $(cat "$r.err")"; fail=1; }
    [ "$(stat -c %s "$r/progress.bin")" = "$cut" ] || { echo "FAIL: a refused progress file was changed"; fail=1; }
    continue
  fi
  # the other thread count and batch: how fast, not what
  "$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" "${x[@]}" --threads 2 --batch 64 --report "$r" --resume >"$r.out" 2>"$r.err" ||
    { echo "FAIL: --resume after a cut at byte $cut of $size"; cat "$r.err"; fail=1; continue; }
  cmp -s "$tmp/full/explanations.jsonl" "$r/explanations.jsonl" || { echo "FAIL: cut at $cut: explanations.jsonl differs from the full run's"; fail=1; }
  for f in aopc.csv posthoc.csv splime.csv; do
    cmp -s "$tmp/full/$f" "$r/$f" || { echo "FAIL: cut at $cut: $f differs"; fail=1; }
  done
  diff <(tables "$tmp/full.out") <(tables "$r.out") >"$r.diff" || { echo "FAIL: cut at $cut: the tables differ"; head "$r.diff"; fail=1; }
  # each method's cost counts the examples read back too: as many examples and forward passes as the full run's
  /usr/bin/python3 - "$tmp/full/summary.jsonl" "$r/summary.jsonl" <<'PY' || { echo "FAIL: cut at $cut: summary.jsonl's cost"; fail=1; }
import json, sys
a, b = ([json.loads(l)["cost"] for l in open(p)] for p in sys.argv[1:])
same = all(x.keys() == y.keys() and all(x[m]["examples"] == y[m]["examples"] and x[m]["forward_passes"] == y[m]["forward_passes"]
                                        and y[m]["seconds"] > 0 for m in x) for x, y in zip(a, b))
sys.exit(0 if same and len(a) == len(b) == 2 and all(a) else 1)
PY
  n=$(grep -o "[0-9]* of 100 examples read back" "$r.err" | awk '{s += $1} END {print s + 0}')
  if [ "$cut" -ge "$size" ] && [ "$n" != 200 ]; then echo "FAIL: the whole file read back $n of 200 examples"; fail=1; fi
  if [ "$cut" -lt "$size" ] && { [ "$n" -ge 200 ] || [ "$n" -lt 1 ]; }; then echo "FAIL: cut at $cut read back $n examples"; fail=1; fi
  echo "cut at byte $cut of $size: $n of 200 examples read back, the rest explained, same results"
done

# a record whose checksum holds but whose content cannot be this run's (a token id outside the
# vocabulary, a crafted file): dropped like a cut one, never indexed with
if command -v python3 >/dev/null; then
  r=$tmp/crafted; mkdir "$r"
  python3 - "$tmp/full/progress.bin" "$r/progress.bin" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
at = b.index(b"\nend\n") + 5
def fnv(d):
    h = 14695981039346656037
    for x in d:
        h = ((h ^ x) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h
head = 4 + 4 + 8 + 5 * 8 + 5 * 8 + 8 + 8          # magic, model, slot, secs, passes, texts, runs
for rec in range(3):                               # the third record gets id 1000000 as its first token
    (n,) = struct.unpack_from("<I", b, at + head)
    p = at + head + 4
    if rec == 2:
        struct.pack_into("<i", b, p + 4, 1000000)
        struct.pack_into("<Q", b, p + n, fnv(b[p:p + n]))
    at = p + n + 8
open(sys.argv[2], "wb").write(b)
PY
  "$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" "${x[@]}" --report "$r" --resume >"$r.out" 2>"$r.err" ||
    { echo "FAIL: --resume with a crafted record"; cat "$r.err"; fail=1; }
  grep -q "model 1/2 (base): 2 of 100 examples read back" "$r.err" || { echo "FAIL: a crafted record was not dropped: $(grep "read back" "$r.err")"; fail=1; }
  cmp -s "$tmp/full/explanations.jsonl" "$r/explanations.jsonl" || { echo "FAIL: crafted record: explanations.jsonl differs"; fail=1; }
  echo "a record with an id outside the vocabulary (checksum intact) is dropped with what follows; the run completes identically"
fi

# Ctrl-C in the middle, then --resume (a slower setting, so that the signal lands during the work)
y=(--data "$d/test.tsv" --samples 20000 --permutations 400 --threads 1)
"$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" "${y[@]}" --report "$tmp/slow" >"$tmp/slow.out" 2>&1 || { echo "FAIL: slow compare"; fail=1; }
"$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" "${y[@]}" --report "$tmp/int" >"$tmp/int.out" 2>"$tmp/int.err" &
pid=$!
sleep 1
kill -INT "$pid" 2>/dev/null
wait "$pid"; rc=$?
if [ "$rc" = 0 ]; then
  echo "note: the run ended before Ctrl-C reached it (a fast machine): the interruption itself is not exercised"
elif grep -q "explained examples are kept in .*progress.bin: the same command with --resume continues" "$tmp/int.err"; then
  echo "interrupted (exit $rc): $(grep -o "[0-9]* explained examples are kept" "$tmp/int.err")"
elif ! grep -q "interrupted" "$tmp/int.err"; then
  echo "FAIL: Ctrl-C: exit $rc"; cat "$tmp/int.err"; fail=1
fi
"$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" "${y[@]}" --report "$tmp/int" --resume >"$tmp/int2.out" 2>"$tmp/int2.err" ||
  { echo "FAIL: --resume after Ctrl-C"; cat "$tmp/int2.err"; fail=1; }
cmp -s "$tmp/slow/explanations.jsonl" "$tmp/int/explanations.jsonl" || { echo "FAIL: after Ctrl-C and --resume explanations.jsonl differs"; fail=1; }

# refused: another run's progress (the setting named), and --resume without a folder
r=$tmp/cut$((size / 9))
expect() { # WHAT PATTERN ARGS...
  local what=$1 pat=$2; shift 2
  if "$vmaskc" compare "$@" >"$tmp/e.out" 2>"$tmp/e.err"; then echo "FAIL: $what was accepted"; fail=1; return; fi
  grep -q -- "$pat" "$tmp/e.err" || { echo "FAIL: $what: $(cat "$tmp/e.err")"; fail=1; }
}
cp "$tmp/full/progress.bin" "$tmp/keep.bin"
expect "another seed" "seed 1, selection [0-9a-f]*' there, '.*seed 2" "$tmp/base.onnx" "$tmp/vm.onnx" "${x[@]}" --seed 2 --report "$tmp/full" --resume
expect "the models swapped" "'model 1 [0-9a-f]* " "$tmp/vm.onnx" "$tmp/base.onnx" "${x[@]}" --report "$tmp/full" --resume
expect "other LIME samples" "lime samples 300.* there, 'lime samples 200" "$tmp/base.onnx" "$tmp/vm.onnx" "${x[@]}" --samples 200 --report "$tmp/full" --resume
expect "other data" "'data [0-9a-f]*' there" "$tmp/base.onnx" "$tmp/vm.onnx" "${x[@]}" --data "$d/dev.tsv" --report "$tmp/full" --resume
cmp -s "$tmp/keep.bin" "$tmp/full/progress.bin" || { echo "FAIL: a refused --resume changed progress.bin"; fail=1; }
expect "--resume without --report" "give --report DIR" "$tmp/base.onnx" "$tmp/vm.onnx" "${x[@]}" --resume
# a fresh folder with --resume: starts from the first example, says so
"$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" "${x[@]}" --report "$tmp/new" --resume >"$tmp/n.out" 2>"$tmp/n.err" || { echo "FAIL: --resume into a new folder"; fail=1; }
grep -q "does not exist yet; starting from the first example" "$tmp/n.err" || { echo "FAIL: --resume into a new folder does not say it starts over"; fail=1; }
cmp -s "$tmp/full/explanations.jsonl" "$tmp/new/explanations.jsonl" || { echo "FAIL: --resume into a new folder: other results"; fail=1; }
# the same data compressed twice (another name and time in the gzip header, another level): the same
# data for --resume, which hashes what the reader reads; other text in the .gz is refused
gzip -c -1 "$d/test.tsv" >"$tmp/a.tsv.gz"; cp "$d/test.tsv" "$tmp/b.tsv"; touch -d '2001-01-01' "$tmp/b.tsv"; gzip -9 "$tmp/b.tsv"
z=(--data "$tmp/a.tsv.gz" --samples 300 --permutations 20 --threads 1 --limit 6)
"$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" "${z[@]}" --report "$tmp/gz" >/dev/null 2>"$tmp/gz.err" || { echo "FAIL: compare on .gz data"; cat "$tmp/gz.err"; fail=1; }
cmp -s "$tmp/a.tsv.gz" "$tmp/b.tsv.gz" && { echo "FAIL: the two compressions are the same bytes (the case tests nothing)"; fail=1; }
"$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" "${z[@]}" --data "$tmp/b.tsv.gz" --report "$tmp/gz" --resume >/dev/null 2>"$tmp/gz2.err" ||
  { echo "FAIL: --resume refused the same data compressed again: $(cat "$tmp/gz2.err")"; fail=1; }
grep -q "12 of 12 examples read back\|6 of 6 examples read back" "$tmp/gz2.err" || { echo "FAIL: --resume on recompressed data read nothing back: $(cat "$tmp/gz2.err")"; fail=1; }
{ cat "$d/test.tsv"; printf '1\tone more text\n'; } | gzip >"$tmp/c.tsv.gz"
expect "other text in a .gz" "'data [0-9a-f]*' there" "$tmp/base.onnx" "$tmp/vm.onnx" "${z[@]}" --data "$tmp/c.tsv.gz" --report "$tmp/gz" --resume
# nothing explained (a bad model path after the folder is made is caught earlier; an empty text set here): no folder left
printf 'label\ttext\n' >"$tmp/empty.tsv"
"$vmaskc" compare "$tmp/base.onnx" "$tmp/vm.onnx" --data "$tmp/empty.tsv" --report "$tmp/none" >/dev/null 2>&1 && { echo "FAIL: empty data accepted"; fail=1; }
[ -e "$tmp/none" ] && { echo "FAIL: a failed run left $tmp/none"; fail=1; }

[ $fail = 0 ] && echo "PASS: compare --resume"
exit $fail
