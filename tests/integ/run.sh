#!/bin/sh
# run.sh - the integration tests: every tests/integ/t_*.sh (or the ones
# named as arguments), each in its own sh with a time limit.
#
#   BUILD=build/check sh tests/integ/run.sh [tests/integ/t_foo.sh ...]
#
# Prints one line per test (PASS, FAIL or SKIP, with its time), the output
# of failed tests, and at the end exactly "integ: N passed, N failed, N
# skipped" (a test that exits 77 is skipped: it cannot run here, e.g. a
# peer tool is missing; the skipped ones are listed). Exit status 1 if any
# test failed. CI_REQUIRED=1 (set by `make check`): a skipped test fails,
# unless it is named in OPTIONAL below or in INTEG_OPTIONAL (names without
# .sh, space-separated). INTEG_TIMEOUT (seconds, default 180) bounds each
# test; logs of all tests stay in $BUILD/integ-logs/. VERBOSE=1 prints
# every test's output.
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
export BUILD
limit=${INTEG_TIMEOUT:-180}
# Tests that may skip even under CI_REQUIRED=1. None: `make check` installs
# every tool the tests need (scripts/deps.sh), so a skip there means a
# broken set-up, not a missing optional peer.
OPTIONAL="${INTEG_OPTIONAL:-}"
logs=$BUILD/integ-logs
mkdir -p "$logs" || exit 1

if [ $# -eq 0 ]; then
	set -- "$here"/t_*.sh
fi
pass=0
fail=0
skip=0
skipped=
for t in "$@"; do
	[ -f "$t" ] || { echo "FAIL $t (no such test)"; fail=$((fail + 1)); continue; }
	name=$(basename "$t" .sh)
	log=$logs/$name.log
	start=$(date +%s)
	timeout -k 10 "$limit" sh "$t" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(($(date +%s) - start))
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		echo "PASS $name (${secs}s)"
		[ "${VERBOSE:-0}" = 1 ] && cat "$log"
	elif [ $rc -eq 77 ]; then
		why=$(grep -m1 'skip -' "$log" | sed 's/.*skip - //')
		case " $OPTIONAL " in
		*" $name "*) optional=1 ;;
		*) optional=0 ;;
		esac
		if [ "${CI_REQUIRED:-0}" = 1 ] && [ $optional = 0 ]; then
			fail=$((fail + 1))
			echo "FAIL $name (skipped: $why; CI_REQUIRED=1 and it is not optional)"
		else
			skip=$((skip + 1))
			skipped="$skipped $name"
			echo "SKIP $name: $why"
		fi
	else
		fail=$((fail + 1))
		why="exit $rc"
		[ $rc -eq 124 ] && why="timed out after ${limit}s"
		echo "FAIL $name ($why, ${secs}s)"
		sed 's/^/    /' "$log"
	fi
done
[ -n "$skipped" ] && echo "skipped:$skipped"
echo "integ: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
