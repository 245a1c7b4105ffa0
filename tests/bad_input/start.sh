# start: the common opening of the bad-input scripts called as `SCRIPT VMASKC REPO_DIR`, sourced first:
# vmaskc and root from the arguments, a temporary folder removed on exit, the pass / fail counters,
# stdin closed (a command that wrongly waits for it fails instead of hanging), and expect().
set -u
vmaskc=$1; root=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
exec </dev/null
. "$root/tests/bad_input/expect.sh"
