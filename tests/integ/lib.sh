# lib.sh - helpers for integration tests (tests/integ/t_*.sh); POSIX sh.
#
# A test sources this file, checks things, and ends with `finish`:
#
#   . "$(dirname "$0")/lib.sh"
#   stack_start --card "$T/card0.json"     # private pcscd + vpiv cards
#   run_ok "raterm readers" "$RATERM" readers
#   expect_eq "two readers" 2 "$(grep -c vpiv "$T/out")"
#   finish
#
# Variables: REPO (source tree), BUILD (absolute), RATERM, VPIV, TOOLS
# (build/tools: sockact, pcsc_wait, pcsc_apdu), STACK_SH, T (a fresh temp
# dir for this test, removed at exit unless KEEP=1 or a check failed), OUT
# (output of the last run_ok/run_fail/run_rc), and after stack_start the
# stack's env: PCSCLITE_CSOCK_NAME, VPIV_STACK_DIR, VPIV_READER0.. (reader
# names, reader 0 = first --card).
#
# Checks print one line each ("  ok - NAME" / "  FAIL - NAME: WHY"); a
# failed check does not stop the test, `finish` exits 1 if any failed.
# Everything started by stack_start is stopped at exit, also on failure,
# timeout (TERM) or ^C.

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
export BUILD
RATERM=${RATERM:-$BUILD/raterm}
VPIV=${VPIV:-$BUILD/vpiv}
TOOLS=$BUILD/tools
STACK_SH=$REPO/scripts/stack.sh
export VPIV
T=$(mktemp -d "${TMPDIR:-/tmp}/raterm-integ.XXXXXX") || exit 1
OUT=$T/out
_lib_fails=0
_lib_checks=0
_lib_stacks=

_lib_cleanup() {
	for _d in $_lib_stacks; do
		sh "$STACK_SH" stop "$_d"
	done
	_lib_stacks=
	if [ "$_lib_fails" -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then
		rm -rf "$T"
	else
		echo "  (files kept in $T)"
	fi
}
trap '_lib_cleanup' EXIT
trap '_lib_fails=$((_lib_fails + 1)); echo "  FAIL - interrupted"; exit 1' INT TERM HUP

ok() {
	_lib_checks=$((_lib_checks + 1))
	echo "  ok - $1"
}

fail() {
	_lib_checks=$((_lib_checks + 1))
	_lib_fails=$((_lib_fails + 1))
	echo "  FAIL - $1: $2"
}

# skip_all WHY: the test cannot run here (missing tool); exit status 77.
skip_all() {
	echo "  skip - $1"
	exit 77
}

# need CMD...: skip_all unless every command exists.
need() {
	for _c in "$@"; do
		command -v "$_c" >/dev/null 2>&1 || skip_all "$_c not installed"
	done
}

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}

# expect_match NAME PATTERN FILE: grep -E PATTERN in FILE.
expect_match() {
	if grep -E -q -- "$2" "$3"; then ok "$1"; else
		fail "$1" "no /$2/ in $(basename "$3"):"
		sed 's/^/      | /' "$3" | tail -n 15
	fi
}

# expect_no_match NAME PATTERN FILE
expect_no_match() {
	if grep -E -q -- "$2" "$3"; then
		fail "$1" "/$2/ found in $(basename "$3"):"
		grep -E -- "$2" "$3" | sed 's/^/      | /' | head -n 5
	else ok "$1"; fi
}

# run_rc NAME EXPECTED_RC CMD...: runs CMD (stdin /dev/null, stdout and
# stderr to $OUT), checks its exit status.
run_rc() {
	_n=$1
	_want=$2
	shift 2
	"$@" </dev/null >"$OUT" 2>&1
	_rc=$?
	if [ "$_rc" -eq "$_want" ]; then ok "$_n"; else
		fail "$_n" "exit status $_rc, expected $_want: $*"
		sed 's/^/      | /' "$OUT" | tail -n 15
	fi
	return 0
}

# run_ok NAME CMD...: run_rc NAME 0 CMD...; returns CMD's status too.
run_ok() {
	_n=$1
	shift
	"$@" </dev/null >"$OUT" 2>&1
	_rc=$?
	if [ "$_rc" -eq 0 ]; then ok "$_n"; else
		fail "$_n" "exit status $_rc: $*"
		sed 's/^/      | /' "$OUT" | tail -n 15
	fi
	return $_rc
}

# run_fail NAME CMD...: CMD must exit non-zero.
run_fail() {
	_n=$1
	shift
	"$@" </dev/null >"$OUT" 2>&1
	_rc=$?
	if [ "$_rc" -ne 0 ]; then ok "$_n"; else fail "$_n" "succeeded: $*"; fi
	return 0
}

# stack_start [stack.sh start options]: starts a private pcscd with vpiv
# cards in $T/stackN and exports its env. Returns non-zero (and records a
# failure) if it did not come up. Several stacks may run; the last one
# started is the current ($VPIV_STACK_DIR).
stack_start() {
	_dir=$T/stack$(echo "$_lib_stacks" | wc -w | tr -d ' ')
	_lib_stacks="$_lib_stacks $_dir"
	if sh "$STACK_SH" start "$_dir" "$@" >"$T/stack-start.log" 2>&1; then
		. "$_dir/env"
		return 0
	fi
	fail "stack start" "$(tail -n 1 "$T/stack-start.log")"
	sed 's/^/      | /' "$T/stack-start.log" | tail -n 25
	return 1
}

# stack_stop: stops the current stack (stacks are stopped at exit anyway).
stack_stop() {
	sh "$STACK_SH" stop "$VPIV_STACK_DIR"
}

# stack_toggle R: pulls or re-inserts the card in reader number R.
stack_toggle() {
	sh "$STACK_SH" toggle "$VPIV_STACK_DIR" "$1"
}

# wait_card present|absent READER [SECONDS]
wait_card() {
	"$TOOLS/pcsc_wait" -t "${3:-5}" "$1" "$2"
}

# apdu READER HEX...: raw APDUs through PC/SC, responses in hex on stdout.
apdu() {
	"$TOOLS/pcsc_apdu" "$@"
}

finish() {
	if [ "$_lib_fails" -ne 0 ]; then
		echo "  $_lib_fails of $_lib_checks checks failed"
		exit 1
	fi
	exit 0
}
