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
# Variables: REPO (source tree), BUILD (absolute), RATERM, VPIV, CMHOST,
# TOOLS (build/tools: sockact, pcsc_wait, pcsc_apdu), STACK_SH, T (a fresh
# temp dir for this test, removed at exit unless KEEP=1 or a check failed),
# OUT (output of the last run_ok/run_fail/run_rc), and after stack_start
# the stack's env: PCSCLITE_CSOCK_NAME, VPIV_STACK_DIR, VPIV_READER0..
# (reader names, reader 0 = first --card).
#
# Checks print one line each ("  ok - NAME" / "  FAIL - NAME: WHY"); a
# failed check does not stop the test, `finish` exits 1 if any failed.
# Everything started by stack_start or cmhost_start is stopped at exit,
# also on failure, timeout (TERM) or ^C.
#
# The set-up of the update tests (a test PKI, a CM host, an officer card,
# TC cards, the station configuration):
#
#   test_pki                        # check "test PKI": $PKI (scripts/mkpki.sh)
#   cmhost_init "$T/cm"             # checks "cmhost init", "cmhost check"
#   cmhost_start "$T/cm" || ...     # PORT, SRV_PID; $T/server.log
#   officer_card "$T/officer.state" 40000009
#   run_ok "TC card A" tc_card "$T/a.state" 40000001
#   station_conf "$T/raterm.yaml"   # journal and audit log under $T/var
#   cmhost_certs "$T/certs.txt"     # `cmhost certs` into a file
#   cmhost_stop [SIGNAL]            # (also done at exit)
#   wait_log FILE REGEX [SECONDS]   # until REGEX is in FILE
#
# (each is described at its definition below; officer_card records the
# checks "init officer card" and "personalize officer card").

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
export BUILD
RATERM=${RATERM:-$BUILD/raterm}
VPIV=${VPIV:-$BUILD/vpiv}
CMHOST=${CMHOST:-$BUILD/cmhost}
TOOLS=$BUILD/tools
STACK_SH=$REPO/scripts/stack.sh
export VPIV
T=$(mktemp -d "${TMPDIR:-/tmp}/raterm-integ.XXXXXX") || exit 1
OUT=$T/out
_lib_fails=0
_lib_checks=0
_lib_stacks=
_lib_cmhost_pid=
CMHOST_DIR=
STATION_CONF=

_lib_cleanup() {
	cmhost_stop TERM
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

# wait_log FILE REGEX [SECONDS]: waits until grep -E REGEX finds a line in
# FILE; returns 1 after SECONDS (default 20) without one.
wait_log() {
	_wl=0
	while ! grep -E -q -- "$2" "$1" 2>/dev/null; do
		[ "$_wl" -ge "$((${3:-20} * 10))" ] && return 1
		sleep 0.1
		_wl=$((_wl + 1))
	done
	return 0
}

# ---- the update tests' set-up: test PKI, CM host, cards, station ------------------

# test_pki [DIR]: the test PKI of scripts/mkpki.sh in DIR (default $T/pki),
# exported as PKI (root, issuing, transport and officer CAs); check
# "test PKI".
test_pki() {
	PKI=${1:-$T/pki}
	run_ok "test PKI" sh "$REPO/scripts/mkpki.sh" "$PKI"
}

# cmhost_init DIR [SEED]: `cmhost init DIR` (check "cmhost init") on a port
# picked from the test's pid and SEED (PORT; cmhost_start moves on from it
# if it is taken), then `cmhost check` (check "cmhost check"). Sets
# CMHOST_DIR. Skips the test if cmhost is not built or its init writes no
# PIV profiles (piv-auth ...). Returns non-zero if a check failed.
cmhost_init() {
	[ -x "$CMHOST" ] || skip_all "cmhost not built"
	CMHOST_DIR=$1
	PORT=$((20000 + ($$ + ${2:-7919}) % 20000))
	run_ok "cmhost init" "$CMHOST" init "$CMHOST_DIR" --port "$PORT" || return 1
	grep -q "name: piv-auth" "$CMHOST_DIR/cmhost.yaml" ||
		skip_all "cmhost init without the PIV profiles"
	run_ok "cmhost check" "$CMHOST" check -c "$CMHOST_DIR/cmhost.yaml"
}

# cmhost_start [DIR [SECONDS]]: starts cmhost -c DIR/cmhost.yaml (default
# $CMHOST_DIR) on 127.0.0.1:$PORT, in the background under `timeout
# SECONDS` (default 300), output appended to $T/server.log, pid from
# --pidfile $T/cmhost.pid in SRV_PID; it is stopped at exit. A port in use:
# the next one (up to 10 tries), written to cmhost.yaml (listen.port and
# the revocation URLs) and to the station
# configuration of station_conf. Returns 1 if cmhost did not come up (see
# $T/server.log); records no check.
cmhost_start() {
	CMHOST_DIR=${1:-$CMHOST_DIR}
	_cs_try=0
	while [ "$_cs_try" -lt 10 ]; do
		# the port, and the revocation URLs cmhost init wrote with it
		sed -i "s/^  port: [0-9]*/  port: $PORT/; s|http://127.0.0.1:[0-9]*/|http://127.0.0.1:$PORT/|g" \
		    "$CMHOST_DIR/cmhost.yaml"
		if [ -n "${STATION_CONF:-}" ] && [ -f "$STATION_CONF" ]; then
			sed -i "s|http://127.0.0.1:[0-9]*/cmp|http://127.0.0.1:$PORT/cmp|" "$STATION_CONF"
		fi
		rm -f "$T/cmhost.pid"
		timeout -k 5 "${2:-300}" "$CMHOST" -c "$CMHOST_DIR/cmhost.yaml" \
		    --pidfile "$T/cmhost.pid" >>"$T/server.log" 2>&1 &
		_cs_job=$!
		_cs_w=0
		while [ ! -s "$T/cmhost.pid" ] && [ "$_cs_w" -lt 100 ]; do
			grep -q "cannot listen" "$T/server.log" 2>/dev/null && break
			sleep 0.1
			_cs_w=$((_cs_w + 1))
		done
		if [ -s "$T/cmhost.pid" ]; then
			SRV_PID=$(cat "$T/cmhost.pid")
			_lib_cmhost_pid=$SRV_PID
			return 0
		fi
		kill -TERM "$_cs_job" 2>/dev/null
		wait "$_cs_job" 2>/dev/null
		: >"$T/server.log"
		PORT=$((PORT + 1))
		_cs_try=$((_cs_try + 1))
	done
	return 1
}

# cmhost_stop [SIGNAL]: stops the cmhost of cmhost_start by its pid: SIGNAL
# (default TERM), after 5 s KILL. Clears SRV_PID.
cmhost_stop() {
	if [ -n "$_lib_cmhost_pid" ] && kill -0 "$_lib_cmhost_pid" 2>/dev/null; then
		kill "-${1:-TERM}" "$_lib_cmhost_pid" 2>/dev/null
		_cs_i=0
		while kill -0 "$_lib_cmhost_pid" 2>/dev/null && [ "$_cs_i" -lt 50 ]; do
			sleep 0.1
			_cs_i=$((_cs_i + 1))
		done
		kill -KILL "$_lib_cmhost_pid" 2>/dev/null
	fi
	if [ -n "$_lib_cmhost_pid" ]; then
		SRV_PID=
	fi
	_lib_cmhost_pid=
}

# cmhost_certs FILE [OPTION...]: `cmhost certs` of $CMHOST_DIR (OPTIONs
# added, e.g. --json), stdout and stderr into FILE.
cmhost_certs() {
	_cc_f=$1
	shift
	"$CMHOST" certs -c "$CMHOST_DIR/cmhost.yaml" "$@" >"$_cc_f" 2>&1
}

# officer_card STATE SERIAL [CA [SUBJECT]]: a vpiv officer card: key and
# certificate in 9c from CA.pem/CA.key (default $CMHOST_DIR/officer-ca, the
# officer CA of cmhost init), no binding to a host; checks "init officer
# card", "personalize officer card".
officer_card() {
	_oc_ca=${3:-$CMHOST_DIR/officer-ca}
	run_ok "init officer card" "$VPIV" init "$1" --serial "$2" || return 1
	run_ok "personalize officer card" "$VPIV" personalize "$1" --slot 9c \
	    --ca-cert "$_oc_ca.pem" --ca-key "$_oc_ca.key" \
	    --subject "${4:-CN=raterm Demo Officer,O=raterm demo}" --bind none
}

# tc_card STATE SERIAL: a pre-personalized vpiv card: transport
# certificates from $PKI/transport-ca on 9a, 9c, 9d (RSA 2048) and 9e,
# subjects "CN=Card SERIAL Auth|Sign|KeyMgmt|CardAuth,O=raterm tests".
# No check: run it with run_ok.
tc_card() {
	"$VPIV" init "$1" --serial "$2" >/dev/null &&
	"$VPIV" personalize "$1" \
	    --ca-cert "$PKI/transport-ca.pem" --ca-key "$PKI/transport-ca.key" \
	    --slot 9a --subject "CN=Card $2 Auth,O=raterm tests" \
	    --slot 9c --subject "CN=Card $2 Sign,O=raterm tests" \
	    --slot 9d --alg rsa2048 --subject "CN=Card $2 KeyMgmt,O=raterm tests" \
	    --slot 9e --subject "CN=Card $2 CardAuth,O=raterm tests" >/dev/null
}

# p15_cert STATE REF CA SERIAL SUBJECT OUT: a certificate (PEM in OUT) for
# key REF of the vp15 card STATE, issued by CA (CA.pem, CA.key).
p15_cert() {
	"${VP15:-$BUILD/vp15}" pubkey "$1" "$2" >"$T/pub$2.pem" &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/throw.key" -subj "$5" -out "$T/req$2.csr" 2>/dev/null &&
	openssl x509 -req -in "$T/req$2.csr" -force_pubkey "$T/pub$2.pem" \
	    -CA "$3.pem" -CAkey "$3.key" -days 365 -set_serial "$4" \
	    -out "$6" 2>/dev/null
}

# p15_tc_card STATE SERIAL: a vp15 card (vp15 personalize --keys 3
# --sign-pin --so-pin: PIN 123456, key 03's Signature PIN 654321, SO PIN
# 87654321) with TCs from $PKI/transport-ca on keys 01 and 03 ("CN=Card
# SERIAL Key 1|3,serialNumber=SERIAL,O=raterm tests", labels "Key 01 TC",
# "Key 03 TC"), a certificate in use from $PKI/issuing on key 02 ("Key 02
# in use"), and the transport CA as an authority certificate ("Transport
# CA"); the certificates in $T/tc01.pem, use02.pem, tc03.pem. No check:
# run it with run_ok.
p15_tc_card() {
	_pv=${VP15:-$BUILD/vp15}
	"$_pv" init "$1" &&
	"$_pv" personalize "$1" --keys 3 --sign-pin --so-pin --serial "$2" &&
	p15_cert "$1" 0 "$PKI/transport-ca" 0x3001 \
	    "/CN=Card $2 Key 1/serialNumber=$2/O=raterm tests" "$T/tc01.pem" &&
	p15_cert "$1" 2 "$PKI/transport-ca" 0x3003 \
	    "/CN=Card $2 Key 3/serialNumber=$2/O=raterm tests" "$T/tc03.pem" &&
	p15_cert "$1" 1 "$PKI/issuing" 0x3002 "/CN=Card $2 Key 2/O=raterm tests" \
	    "$T/use02.pem" &&
	"$_pv" add-cert "$1" --key 0 "$T/tc01.pem" --label "Key 01 TC" &&
	"$_pv" add-cert "$1" --key 1 "$T/use02.pem" --label "Key 02 in use" &&
	"$_pv" add-cert "$1" --key 2 "$T/tc03.pem" --label "Key 03 TC" &&
	"$_pv" add-cert "$1" --authority "$PKI/transport-ca.pem" \
	    --label "Transport CA"
}

# station_conf FILE [LINE...]: writes the station configuration (raterm.yaml)
# FILE: readers auto, the officer's card (9c), the CM host at
# http://127.0.0.1:$PORT/cmp with the officer CA and root of $CMHOST_DIR
# (without cmhost_init: the test PKI's, and port 1 where nothing listens),
# transport CA of $PKI, the shipped procedures, journal $T/var/journal and
# audit log $T/var/audit.log; each LINE appended. Sets STATION_CONF=FILE
# (cmhost_start keeps its URL's port).
station_conf() {
	STATION_CONF=$1
	shift
	_sc_ca=$PKI
	_sc_port=1
	if [ -n "${CMHOST_DIR:-}" ]; then
		_sc_ca=$CMHOST_DIR
		_sc_port=$PORT
	fi
	mkdir -p "$T/var"
	cat >"$STATION_CONF" <<EOF
readers:
  officer: auto
  target: auto
officer:
  token: card
  slot: 9c
  officer_cas: $_sc_ca/officer-ca.pem
cmhost:
  url: http://127.0.0.1:$_sc_port/cmp
  trust: $_sc_ca/root.pem
transport_cas: $PKI/transport-ca.pem
journal: $T/var/journal
audit: $T/var/audit.log
procedures: $REPO/conf/procedures.d
EOF
	for _sc_l in "$@"; do
		printf '%s\n' "$_sc_l" >>"$STATION_CONF"
	done
}

finish() {
	if [ "$_lib_fails" -ne 0 ]; then
		echo "  $_lib_fails of $_lib_checks checks failed"
		exit 1
	fi
	exit 0
}
