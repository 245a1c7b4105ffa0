#!/usr/bin/env bash
# libvmaskc's interface: the shared library exports exactly the functions vmaskc.h declares
# (VMASKC_API), every one of them and nothing else (no vm_* internals, no protobuf-c or oneDNN
# helpers); its soname carries the major version; the static library holds the same functions; the
# header compiles on its own as C11 and as C++.
# usage: exports.sh LIBVMASKC.so LIBVMASKC.a VMASKC.h
set -u
so=$1; ar=$2; hdr=$(cd "$(dirname "$3")" && pwd)/$(basename "$3")
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
# the header on its own: C11 strict, and C++ when a compiler is there (extern "C")
printf '#include "%s"\nint main(void) { return vmaskc_version() == 0; }\n' "$hdr" > "$tmp/h.c"
if ${CC:-cc} -std=c11 -pedantic -Wall -Wextra -Werror -c "$tmp/h.c" -o "$tmp/h.o" 2> "$tmp/h.log"; then echo "ok: vmaskc.h compiles alone as C11 (-pedantic)"
else echo "FAIL: vmaskc.h alone as C11:"; cat "$tmp/h.log"; fail=1; fi
if command -v c++ >/dev/null; then
  cp "$tmp/h.c" "$tmp/h.cc"
  if c++ -std=c++11 -Wall -Werror -c "$tmp/h.cc" -o "$tmp/hpp.o" 2> "$tmp/hpp.log"; then echo "ok: vmaskc.h compiles as C++11"
  else echo "FAIL: vmaskc.h as C++:"; cat "$tmp/hpp.log"; fail=1; fi
fi
exit $fail
