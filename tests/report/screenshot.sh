#!/usr/bin/env bash
# screenshot.sh: renders a report with headless Chromium, for docs/report-screenshot.png.
#
#   tests/report/screenshot.sh REPORT.html|TEST_REPORT [OUT.png] [WIDTH,HEIGHT]
#
# REPORT.html is a report `vmaskc compare` or `vmaskc explain` wrote. TEST_REPORT is the unit test
# binary (tests/unit/test_report.c) instead; it writes demo.html, a base vs VMASK comparison built
# from synthetic numbers. Needs Debian's `chromium`. The default window is
# tall enough to show the first example below the tables and charts. Nothing is fetched: the
# report has no external resources and Chromium's background networking is off.
set -eu
test_bin=$1
out=${2:-docs/report-screenshot.png}
size=${3:-1280,2760}
command -v chromium >/dev/null 2>&1 || { echo "screenshot.sh: install Debian's chromium" >&2; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/vmreport-shot.XXXXXX")
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/html"
case "$test_bin" in
  *.html) [ -f "$test_bin" ] || { echo "screenshot.sh: $test_bin: no such file" >&2; exit 1; }
          cp "$test_bin" "$dir/html/demo.html" ;;
  *) "$test_bin" "$dir/html" >"$dir/test.log" 2>&1 || { cat "$dir/test.log" >&2; exit 1; } ;;
esac
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$dir/profile" \
  --screenshot="$dir/shot.png" --window-size="$size" "file://$dir/html/demo.html" >/dev/null 2>&1
# Debian's python3-pil, when present, reduces the PNG to 256 colours (about a third of the size; the
# report's flat colours survive it unchanged). Without it the full-colour PNG is kept.
if /usr/bin/python3 -c 'import PIL' >/dev/null 2>&1; then
  /usr/bin/python3 - "$dir/shot.png" "$out" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
im.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(sys.argv[2], optimize=True)
PY
else
  cp "$dir/shot.png" "$out"
fi
echo "$out: $(wc -c <"$out") bytes"
