#!/usr/bin/env bash
# libvmaskc's interface: the shared library exports exactly the functions vmaskc.h declares
# (VMASKC_API), every one of them and nothing else (no vm_* internals, no protobuf-c or oneDNN
# helpers); its soname carries the major version; the static library holds the same functions.
# usage: exports.sh LIBVMASKC.so LIBVMASKC.a VMASKC.h
set -u
so=$1; ar=$2; hdr=$3
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$so" | awk '{print $NF}' | sort -u > "$tmp/exported"
grep -o '^VMASKC_API [^(]*(' "$hdr" | sed 's/($//; s/.*[ *]//' | sort -u > "$tmp/declared"
if [ ! -s "$tmp/declared" ]; then echo "FAIL: no VMASKC_API functions found in $hdr"; exit 1; fi
if grep -v '^vmaskc_' "$tmp/exported" > "$tmp/stray"; then
  echo "FAIL: $(wc -l < "$tmp/stray") exported symbols do not start with vmaskc_:"; head -20 "$tmp/stray"; fail=1
else echo "ok: all $(wc -l < "$tmp/exported") exported symbols start with vmaskc_"; fi
if diff "$tmp/declared" "$tmp/exported" > "$tmp/diff"; then echo "ok: exported = declared in vmaskc.h ($(wc -l < "$tmp/declared") functions)"
else echo "FAIL: exports differ from vmaskc.h's VMASKC_API functions (< declared only, > exported only):"; cat "$tmp/diff"; fail=1; fi
major=$(sed -n 's/^#define VMASKC_VERSION_MAJOR \([0-9]*\)$/\1/p' "$hdr")
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = "libvmaskc.so.$major" ]; then echo "ok: soname $soname"
else echo "FAIL: soname '$soname', expected libvmaskc.so.$major"; fail=1; fi
nm --defined-only "$ar" 2>/dev/null | awk '$2 == "T" {print $3}' | grep '^vmaskc_' | sort -u > "$tmp/static"
if diff -q "$tmp/declared" "$tmp/static" >/dev/null; then echo "ok: the static library defines the same $(wc -l < "$tmp/static") functions"
else echo "FAIL: the static library's vmaskc_ functions differ from the header's"; diff "$tmp/declared" "$tmp/static"; fail=1; fi
exit $fail
