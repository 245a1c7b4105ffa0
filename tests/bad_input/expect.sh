# expect: the bad-input scripts' one check, sourced by them (through start.sh where they share its opening).
#   expect CODE "substring" command...
# passes when the command exits with CODE and its stderr contains the substring; otherwise prints
# the command and its stderr. Counts into the caller's pass / fail.
expect() {
  local want=$1 pat=$2; shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne "$want" ]; then
    echo "FAIL (exit $rc, want $want): $*"; echo "$err" | sed 's/^/    /'; fail=$((fail+1)); return
  fi
  if ! grep -qF -- "$pat" <<<"$err"; then
    echo "FAIL (message lacks '$pat'): $*"; echo "$err" | sed 's/^/    /'; fail=$((fail+1)); return
  fi
  pass=$((pass+1))
}
