#!/usr/bin/env bash
# The OpenMP spin default (tools/vmaskc/main.c): long-running commands run with libgomp's
# GOMP_SPINCOUNT at 1000 unless the user set GOMP_SPINCOUNT or OMP_WAIT_POLICY; quick ones keep
# libgomp's default. Read from libgomp itself (OMP_DISPLAY_ENV=verbose prints its settings when it
# starts; the last print is the process that runs the command). Exit 77 when the OpenMP runtime
# prints no GOMP_SPINCOUNT (not libgomp).
# usage: omp_spin.sh VMASKC
set -u
vmaskc=$1
fail=0
spin() { # the GOMP_SPINCOUNT libgomp last reported for: ENV... -- ARGS...
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" OMP_DISPLAY_ENV=verbose "$vmaskc" "$@" 2>&1 >/dev/null | sed -n "s/^ *GOMP_SPINCOUNT = '\([0-9]*\)'.*/\1/p" | tail -1
}
expect() { # WHAT WANT GOT
    if [ "$2" = "$3" ]; then echo "ok   $1: $3"; else echo "FAIL $1: GOMP_SPINCOUNT '$3', expected '$2'"; fail=1; fi
}
base=$(spin -- predict --help)
if [ -z "$base" ]; then echo "skipped: the OpenMP runtime does not report GOMP_SPINCOUNT (not libgomp)"; exit 77; fi
[ "$base" != 1000 ] || { echo "FAIL predict: libgomp's own default is expected, got 1000"; fail=1; }
for c in train eval explain compare words; do expect "$c" 1000 "$(spin -- $c --help)"; done
expect "train with GOMP_SPINCOUNT=7" 7 "$(spin GOMP_SPINCOUNT=7 -- train --help)"
expect "train with OMP_WAIT_POLICY=passive" "$(spin OMP_WAIT_POLICY=passive -- predict --help)" "$(spin OMP_WAIT_POLICY=passive -- train --help)"
# the command itself still works after executing itself again (arguments and exit code kept)
"$vmaskc" train --no-such-option >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && echo "ok   train --no-such-option exits 2" || { echo "FAIL train --no-such-option exited $rc, not 2"; fail=1; }
exit $fail
