#!/usr/bin/env bash
# libvmaskc as a user gets it: `cmake --install` into a temporary prefix, then
#  - the tree holds the tool, libvmaskc.so.0 -> libvmaskc.so.MAJOR.MINOR.PATCH, libvmaskc.a,
#    vmaskc.h, vmaskc.pc, the CMake package config and the man page vmaskc(1);
#  - examples/classify.c compiled with `cc ... $(pkg-config --cflags --libs vmaskc)` against the
#    shared library (and statically, with `pkg-config --static`) prints, for texts of a VMASK model
#    trained here, the probabilities `vmaskc predict` prints and the top words of its token q's;
#  - examples/explain.c (same build) gives one text's LIME and SampleShapley AOPC that `vmaskc explain`
#    writes for it;
#  - a tiny CMake project finds the package with find_package(vmaskc) and links vmaskc::vmaskc;
#  - the model compiled to a .vmplan predicts exactly as the ONNX file does;
#  - the man page has a section for every command `vmaskc --help` lists (and groff, when present,
#    renders it without warnings).
# Skips (77) without pkg-config or a C compiler.
# usage: install.sh BUILD_DIR REPO_DIR
set -u
build=$1; repo=$2
command -v pkg-config >/dev/null || { echo "SKIP: pkg-config is not installed"; exit 77; }
cc=${CC:-cc}
command -v "$cc" >/dev/null || { echo "SKIP: no C compiler ($cc)"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1 || { echo "FAIL: cmake --install"; cat "$tmp/install.log"; exit 1; }
pc=$(find "$prefix" -name vmaskc.pc | head -1)
libdir=$(dirname "$(dirname "$pc")")
for f in "$prefix/bin/vmaskc" "$prefix/include/vmaskc.h" "$libdir/libvmaskc.a" "$libdir/cmake/vmaskc/vmaskcConfig.cmake" \
         "$libdir/cmake/vmaskc/vmaskcConfigVersion.cmake" "$prefix/share/man/man1/vmaskc.1" "$pc"; do
  [ -e "$f" ] || { echo "FAIL: not installed: ${f#$prefix/}"; fail=1; }
done
real=$(readlink "$libdir/libvmaskc.so.0")
if [ -L "$libdir/libvmaskc.so" ] && [[ "$real" =~ ^libvmaskc\.so\.0\.[0-9]+\.[0-9]+$ ]] && [ -f "$libdir/$real" ]; then
  echo "ok: installed tree (libvmaskc.so -> libvmaskc.so.0 -> $real)"
else echo "FAIL: libvmaskc.so.0 is not a link to libvmaskc.so.0.x.y (got '$real')"; fail=1; fi
[ $fail = 0 ] || exit 1
vmaskc=$prefix/bin/vmaskc
export PKG_CONFIG_PATH=$libdir/pkgconfig
# a sanitizer build (VM_SANITIZE): the programs linking it need the sanitizer runtimes too
san=""
if ldd "$libdir/libvmaskc.so.0" | grep -q libasan; then san="-fsanitize=address,undefined"; fi

# a small VMASK model of the synthetic task (1 s)
d=$repo/tests/train
"$vmaskc" train "$repo/tests/fixtures/models/cnn_conv1d_reducemax_op13/model.onnx" --vocab "$d/vocab.txt" --train "$d/train.tsv" \
  --dev "$d/dev.tsv" --epochs 2 --batch 32 --lr 0.01 --mask-hidden 16 --seed 3 --threads 1 -o "$tmp/m.onnx" > "$tmp/train.log" 2>&1 ||
  { echo "FAIL: training the model"; cat "$tmp/train.log"; exit 1; }
texts=("w1 w2 w3 w40" "w7" "w12 w13 w14 w15 w16 w17 w18 w19" "w1 w2 w3 w41" "zzz w5, w6!")

# what `vmaskc predict` prints, as "text N: class C  probabilities ..." and the token q's
"$vmaskc" predict "$tmp/m.onnx" "${texts[@]}" > "$tmp/predict.out" || { echo "FAIL: vmaskc predict"; exit 1; }
expect_top() { # the top 3 tokens of each text by q, as classify prints them
  /usr/bin/env python3 - "$1" <<'PY'
import sys
for line in open(sys.argv[1]):
    if line.startswith("text"):
        print(line.rstrip("\n"))
    else:
        toks = [t.rsplit("=", 1) for t in line.split(":", 1)[1].split()]
        best = sorted(range(len(toks)), key=lambda i: (-float(toks[i][1]), i))[:3]
        print("  top words by q: " + " ".join("%s=%s" % tuple(toks[i]) for i in best))
PY
}
expect_top "$tmp/predict.out" > "$tmp/expected" || { echo "FAIL: reading predict's output"; exit 1; }

# shared: pkg-config --cflags --libs
if ! "$cc" $san -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Werror "$repo/examples/classify.c" $(pkg-config --cflags --libs vmaskc) -o "$tmp/classify" 2> "$tmp/cc.log"; then
  echo "FAIL: compiling examples/classify.c with pkg-config --cflags --libs vmaskc"; cat "$tmp/cc.log"; fail=1
else
  LD_LIBRARY_PATH=$libdir "$tmp/classify" "$tmp/m.onnx" "${texts[@]}" > "$tmp/classify.out" 2>&1
  if cmp -s "$tmp/expected" "$tmp/classify.out"; then echo "ok: examples/classify (shared) = vmaskc predict on ${#texts[@]} texts"
  else echo "FAIL: examples/classify differs from vmaskc predict"; diff "$tmp/expected" "$tmp/classify.out"; fail=1; fi
  if LD_LIBRARY_PATH=$libdir ldd "$tmp/classify" | grep -q "libvmaskc.so.0 => $libdir/libvmaskc.so.0"; then echo "ok: it runs on the installed libvmaskc.so.0"
  else echo "FAIL: classify does not load the installed libvmaskc.so.0"; LD_LIBRARY_PATH=$libdir ldd "$tmp/classify"; fail=1; fi
  # stdin, and an error as the library words it
  printf '%s\n' "${texts[@]}" | LD_LIBRARY_PATH=$libdir "$tmp/classify" "$tmp/m.onnx" > "$tmp/stdin.out" 2>&1
  cmp -s "$tmp/expected" "$tmp/stdin.out" || { echo "FAIL: classify on stdin differs"; diff "$tmp/expected" "$tmp/stdin.out"; fail=1; }
  LD_LIBRARY_PATH=$libdir "$tmp/classify" "$tmp/none.onnx" "w1" > "$tmp/err.out" 2>&1
  if [ $? = 1 ] && grep -q "none.onnx" "$tmp/err.out" && grep -q "(i/o error)" "$tmp/err.out"; then echo "ok: a missing model is named"
  else echo "FAIL: classify on a missing model:"; cat "$tmp/err.out"; fail=1; fi
fi

# examples/explain.c: one text's LIME and SampleShapley AOPC = what `vmaskc explain` writes for it
if ! "$cc" $san -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Werror "$repo/examples/explain.c" $(pkg-config --cflags --libs vmaskc) -o "$tmp/explain" 2> "$tmp/cce.log"; then
  echo "FAIL: compiling examples/explain.c with pkg-config --cflags --libs vmaskc"; cat "$tmp/cce.log"; fail=1
else
  xt="w3 w1 w7 w2 w9 w3 w12"
  printf '1\t%s\n' "$xt" > "$tmp/one.tsv"
  LD_LIBRARY_PATH=$libdir "$tmp/explain" "$tmp/m.onnx" --samples 300 --seed 4 "$xt" > "$tmp/explain.out" 2>&1
  "$vmaskc" explain "$tmp/m.onnx" --data "$tmp/one.tsv" --method lime,shapley --samples 300 --seed 4 --threads 1 --report "$tmp/xrep" > /dev/null 2>&1
  got=$(sed -n 's/^  aopc \([^ ]*\) .*/\1/p' "$tmp/explain.out" | tr '\n' ' ')
  want=$(grep -o '"aopc":[^,}]*' "$tmp/xrep/explanations.jsonl" 2>/dev/null | cut -d: -f2 | tr '\n' ' ')
  if [ -n "$want" ] && [ "$got" = "$want" ] && grep -q "^LIME: w3=" "$tmp/explain.out"; then echo "ok: examples/explain: AOPC of LIME and SampleShapley = vmaskc explain's ($got)"
  else echo "FAIL: examples/explain gives AOPC '$got', vmaskc explain '$want'"; cat "$tmp/explain.out"; fail=1; fi
fi

# static: the library and what pkg-config --static adds (Libs.private, Requires.private)
static_libs=$(pkg-config --static --libs vmaskc | sed "s|-lvmaskc|$libdir/libvmaskc.a|")
if ! "$cc" $san -std=c11 -D_POSIX_C_SOURCE=200809L "$repo/examples/classify.c" $(pkg-config --cflags vmaskc) $static_libs -o "$tmp/classify_static" 2> "$tmp/ccs.log"; then
  echo "FAIL: linking classify statically with pkg-config --static"; cat "$tmp/ccs.log"; fail=1
elif ldd "$tmp/classify_static" | grep -q libvmaskc; then echo "FAIL: the static build still loads libvmaskc.so"; fail=1
else
  "$tmp/classify_static" "$tmp/m.onnx" "${texts[@]}" > "$tmp/static.out" 2>&1
  if cmp -s "$tmp/expected" "$tmp/static.out"; then echo "ok: examples/classify (static, pkg-config --static) = vmaskc predict"
  else echo "FAIL: the static classify differs"; diff "$tmp/expected" "$tmp/static.out"; fail=1; fi
fi

# find_package(vmaskc MAJOR.MINOR) from a CMake project, the version of the installed header (the
# package accepts the same minor version only: the ABI may change between 0.x minors); the shared
# library's file carries that version too
hv=$(sed -n 's/^#define VMASKC_VERSION "\(.*\)"$/\1/p' "$prefix/include/vmaskc.h")
if [ -n "$hv" ] && [ "$real" = "libvmaskc.so.$hv" ]; then echo "ok: the library file $real has the header's version $hv"
else echo "FAIL: the header's version '$hv' is not the library file's ($real): CMakeLists.txt's project VERSION and VMASKC_VERSION differ"; fail=1; fi
mkdir -p "$tmp/proj"
cat > "$tmp/proj/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(classify C)
find_package(vmaskc ${hv%.*} REQUIRED)
add_executable(classify $repo/examples/classify.c)
target_compile_definitions(classify PRIVATE _POSIX_C_SOURCE=200809L)
target_link_libraries(classify PRIVATE vmaskc::vmaskc)
CM
if cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$san" > "$tmp/cm.log" 2>&1 &&
   cmake --build "$tmp/proj/build" > "$tmp/cmb.log" 2>&1; then
  LD_LIBRARY_PATH=$libdir "$tmp/proj/build/classify" "$tmp/m.onnx" "${texts[@]}" > "$tmp/cmake.out" 2>&1
  if cmp -s "$tmp/expected" "$tmp/cmake.out"; then echo "ok: find_package(vmaskc) + vmaskc::vmaskc builds classify, same output"
  else echo "FAIL: the find_package build of classify differs"; diff "$tmp/expected" "$tmp/cmake.out"; fail=1; fi
else echo "FAIL: find_package(vmaskc) project"; cat "$tmp/cm.log" "$tmp/cmb.log" 2>/dev/null | tail -20; fail=1; fi

# a plan compiled from the model predicts what the model predicts
"$vmaskc" compile "$tmp/m.onnx" -o "$tmp/m.vmplan" > /dev/null && "$vmaskc" predict "$tmp/m.vmplan" "${texts[@]}" > "$tmp/plan.out" 2>&1
if cmp -s "$tmp/predict.out" "$tmp/plan.out"; then echo "ok: predict on the .vmplan = predict on the .onnx"
else echo "FAIL: predict on the plan differs"; diff "$tmp/predict.out" "$tmp/plan.out"; fail=1; fi

# the man page: one section per command of `vmaskc --help`
man=$prefix/share/man/man1/vmaskc.1
for c in $("$vmaskc" --help | sed -n '/^commands:/,/^$/p' | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p'); do
  grep -q "^\.SS \"vmaskc $c\"" "$man" || { echo "FAIL: the man page has no section for '$c'"; fail=1; }
done
if command -v groff >/dev/null; then
  if groff -man -Tutf8 -ww -z "$man" 2> "$tmp/groff.log" && [ ! -s "$tmp/groff.log" ]; then echo "ok: man page renders without warnings"
  else echo "FAIL: groff warns on the man page"; head "$tmp/groff.log"; fail=1; fi
fi
[ $fail = 0 ] && echo "ok: man page sections for every command"
exit $fail
