#!/usr/bin/env bash
# validate.sh: checks the HTML report of `vmaskc explain` / `vmaskc compare` with real validators.
#
#   tests/report/validate.sh TEST_REPORT [FILE.html...]
#
# Runs the unit test binary TEST_REPORT (tests/unit/test_report.c) with a scratch directory, so it
# writes its synthetic reports there (nasty, demo, minimal, empty, nocurves, big), then validates each
# of them and any extra FILE.html given with every validator that is installed:
#   tidy     (Debian package `tidy`, HTML Tidy 5): HTML5 errors and warnings; any message fails
#   html5lib (Debian package `python3-html5lib`): the WHATWG HTML5 parsing algorithm; any parse error fails
#   xmllint  (Debian package `libxml2-utils`): XML well-formedness, because the report is polyglot markup
# At least one HTML validator (tidy or html5lib) must be present, else the test is skipped (exit 77).
set -u

if [ $# -lt 1 ]; then
  echo "usage: $0 TEST_REPORT [FILE.html...]" >&2
  exit 2
fi
test_bin=$1
shift

have_tidy=0
command -v tidy >/dev/null 2>&1 && have_tidy=1
py=""
for cand in /usr/bin/python3 python3; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import html5lib' >/dev/null 2>&1; then
    py=$cand
    break
  fi
done
have_xmllint=0
command -v xmllint >/dev/null 2>&1 && have_xmllint=1

if [ $have_tidy = 0 ] && [ -z "$py" ]; then
  echo "SKIP: no HTML validator installed; install Debian's 'tidy' (and optionally 'python3-html5lib')" >&2
  echo "0 passed, 0 failed, 1 skipped"
  exit 77
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/vmreport-validate.XXXXXX")
trap 'rm -rf "$dir"' EXIT

if ! "$test_bin" "$dir" >"$dir/test.log" 2>&1; then
  cat "$dir/test.log" >&2
  echo "FAIL: $test_bin did not pass" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

files=("$dir"/*.html "$@")
pass=0
fail=0
echo "validators: $( [ $have_tidy = 1 ] && tidy -v ) $( [ -n "$py" ] && echo "+ html5lib" ) $( [ $have_xmllint = 1 ] && echo "+ xmllint" )"

check() { # name file command...
  local name=$1 file=$2
  shift 2
  local out
  if out=$("$@" 2>&1) && [ -z "$out" ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL $name $(basename "$file"):" >&2
    printf '%s\n' "$out" | head -20 >&2
  fi
}

for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "FAIL: no such file $f" >&2; fail=$((fail + 1)); continue; }
  if [ $have_tidy = 1 ]; then
    # -e: errors and warnings only; tidy exits 1 on warnings, 2 on errors
    check tidy "$f" tidy -q -e --show-info no --gnu-emacs yes "$f"
  fi
  if [ -n "$py" ]; then
    check html5lib "$f" "$py" -c '
import sys, html5lib
p = html5lib.HTMLParser(strict=False)
with open(sys.argv[1], "rb") as fh:
    p.parse(fh)
for (line, col), code, data in p.errors:
    print("line %d col %d: %s %s" % (line, col, code, data))
' "$f"
  fi
  if [ $have_xmllint = 1 ]; then
    check xmllint "$f" xmllint --noout --nonet "$f"
  fi
  echo "checked $(basename "$f") ($(wc -c <"$f") bytes)"
done

echo "$pass passed, $fail failed"
[ $fail = 0 ]
