#!/bin/sh
# Installs what vmaskc needs from Debian 12's packages (and, with --test, what its test suite
# needs: the ONNX node test data, python3-onnx for onnx.checker, onnxruntime-node from npm, clang and
# libFuzzer for tools/fuzz.sh).
# Safe to run again. Uses sudo when not root.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# libopenmpi-dev and openmpi-bin: data-parallel training under mpirun (optional: CMake builds without)
PKGS="cmake gcc make libprotobuf-c-dev protobuf-c-compiler libonnx-dev libdnnl-dev zlib1g-dev libutf8proc-dev libjson-c-dev libopenmpi-dev openmpi-bin"
TEST=0
for a in "$@"; do
  case "$a" in
    --test) TEST=1 ;;
    *) echo "usage: tools/install-deps.sh [--test]" >&2; exit 2 ;;
  esac
done
[ $TEST -eq 1 ] && PKGS="$PKGS libonnx-testdata python3-onnx tidy python3-html5lib libxml2-utils clang libfuzzer-14-dev pkg-config"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js and npm: a machine may already have them from elsewhere (NodeSource's nodejs bundles npm
# and conflicts with Debian's npm package), so ask for Debian's only when the commands are absent.
if [ $TEST -eq 1 ]; then
  command -v node >/dev/null 2>&1 || missing="$missing nodejs"
  command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi
if [ -n "$missing" ]; then
  echo "installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ $TEST -eq 1 ]; then
  "$(dirname "$0")/ort/install.sh" || echo "warning: onnxruntime-node could not be installed; interop tests will be skipped" >&2
fi
echo "dependencies ready"
