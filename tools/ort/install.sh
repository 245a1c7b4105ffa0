#!/usr/bin/env bash
# Install the pinned onnxruntime-node (tools/ort/package.json + package-lock.json)
# into a cache directory OUTSIDE the repo, for use by tools/ort/ort_run.js.
#
#   tools/ort/install.sh            # installs (or verifies) and prints the directory
#   VMASKC_ORT_DIR=/some/dir tools/ort/install.sh
#
# Environment:
#   VMASKC_ORT_DIR    install directory (default: $HOME/.cache/vmaskc-ort)
#   VMASKC_ORT_PRUNE  1 (default) deletes the bundled binaries of other platforms
#                     (~245 MB of darwin/win32/arm64 libs); 0 keeps them.
#   VMASKC_ORT_FORCE  1 reinstalls even when the stamp matches.
#
# Idempotent: a stamp file holds the sha256 of package.json + package-lock.json;
# when it matches and the binding file exists, nothing is done (well under 0.1 s).
# stdout: the install directory (only line printed on success). Messages: stderr.
# Exit: 0 ok; 1 npm/node missing, npm ci failed (e.g. no network), or the
# installed module does not load.
set -euo pipefail

die() { echo "install.sh: error: $*" >&2; exit 1; }
log() { echo "install.sh: $*" >&2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${VMASKC_ORT_DIR:-${HOME:-/root}/.cache/vmaskc-ort}"
prune="${VMASKC_ORT_PRUNE:-1}"

if [ ! -f "$here/package.json" ] || [ ! -f "$here/package-lock.json" ]; then
  die "package.json / package-lock.json missing in $here"
fi

command -v node >/dev/null 2>&1 || die "node not found on PATH (Debian: apt-get install nodejs npm; Node >= 16 needed)"
command -v npm  >/dev/null 2>&1 || die "npm not found on PATH (Debian: apt-get install npm)"

hash_of_lock() {
  if command -v sha256sum >/dev/null 2>&1; then
    cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1
  else
    node -e 'const c=require("crypto"),f=require("fs");const h=c.createHash("sha256");
      for (const p of process.argv.slice(1)) h.update(f.readFileSync(p));
      console.log(h.digest("hex"))' "$here/package.json" "$here/package-lock.json"
  fi
}

want="$(hash_of_lock)"
plat="$(node -p 'process.platform + "/" + process.arch')"
stamp="$dir/.vmaskc-ort.stamp"
binding="$dir/node_modules/onnxruntime-node/bin/napi-v6/$plat/onnxruntime_binding.node"

is_installed() {
  [ "${VMASKC_ORT_FORCE:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$binding" ]
}

# Fast path, no lock needed.
if is_installed; then
  echo "$dir"
  exit 0
fi

mkdir -p "$dir" || die "cannot create $dir"

# Serialize concurrent installers (e.g. parallel ctest jobs).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$dir/.install.lock"
  flock 9
  if is_installed; then echo "$dir"; exit 0; fi
fi

rm -f "$stamp"
cp "$here/package.json" "$here/package-lock.json" "$dir/"

log "installing onnxruntime-node into $dir (npm ci, postinstall download skipped)"
t0=$(date +%s)
# ONNXRUNTIME_NODE_INSTALL=skip: the postinstall script would otherwise try to
# download CUDA EP binaries (fails offline). CPU binaries are in the tarball.
if ! (cd "$dir" && ONNXRUNTIME_NODE_INSTALL=skip npm_config_onnxruntime_node_install=skip \
        npm ci --prefer-offline --no-audit --no-fund --loglevel=error >"$dir/.npm-ci.log" 2>&1); then
  tail -n 20 "$dir/.npm-ci.log" >&2 || true
  if grep -qE 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|network' "$dir/.npm-ci.log"; then
    die "npm ci failed: the npm registry is not reachable (no network?) and the packages are not in the npm cache. Full log: $dir/.npm-ci.log"
  fi
  die "npm ci failed in $dir. Full log: $dir/.npm-ci.log"
fi

[ -f "$binding" ] || die "onnxruntime-node has no prebuilt binary for $plat (expected $binding)"

if [ "$prune" = 1 ]; then
  # Drop the bundled binaries of other platforms/architectures.
  for d in "$dir"/node_modules/onnxruntime-node/bin/napi-v*/*/*; do
    [ -d "$d" ] || continue
    case "$d" in */"$plat") ;; *) rm -rf "$d" ;; esac
  done
fi

# Verify it loads and report the version.
ver="$(cd "$dir" && node -e '
  const ort = require("./node_modules/onnxruntime-node");
  if (typeof ort.InferenceSession !== "function") process.exit(3);
  console.log(require("./node_modules/onnxruntime-node/package.json").version);
' 2>&1)" || die "onnxruntime-node installed but does not load: $ver"

echo "$want" >"$stamp"
log "onnxruntime-node $ver installed in $(( $(date +%s) - t0 )) s ($(du -sh "$dir/node_modules" 2>/dev/null | cut -f1))"
echo "$dir"
