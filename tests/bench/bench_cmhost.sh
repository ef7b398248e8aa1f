#!/bin/sh
# bench_cmhost.sh - `make bench`, second part: figures, not a test.
# cmhost under load from the project's own load generator (build/tools/
# cmp_load, libcurl multi), beside the crypto-only limits of the same run
# and cfssl's sign endpoint on the same CSRs. See docs/bench.md.
#
#   1. a demo PKI (cmhost init) and BENCH_CSRS P-256 CSRs, made before any
#      timing (the CSRs' own signatures are not timed);
#   2. the crypto-only limit: the 5 signatures and 9 verifications of one
#      enrollment in a loop on 2 threads, mbedTLS and OpenSSL libcrypto;
#   3. cmhost on 127.0.0.1 (a free port, bounded lifetime, stopped by pid):
#      BENCH_CLIENTS concurrent clients run full enrollments (p10cr, cp,
#      certConf, pkiConf) for at most BENCH_COUNT enrollments or
#      BENCH_SECS seconds;
#   4. requests sent vs answered, certificates issued vs database records;
#   5. `cfssl serve` (Debian golang-cfssl) with the same CA, the same CSRs
#      POSTed to /api/v1/cfssl/sign; skipped with a note if cfssl is missing.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
CLIENTS=${BENCH_CLIENTS:-32}
COUNT=${BENCH_COUNT:-3000}
SECS=${BENCH_SECS:-20}
NCSR=${BENCH_CSRS:-1000}
CSECS=${BENCH_CRYPTO_SECS:-4}
B=$BUILD/bench/cmhost
CMHOST=$BUILD/cmhost
LOAD=$BUILD/tools/cmp_load
SRV_PID=
CF_PID=

die() {
	echo "bench: $*" >&2
	exit 1
}
[ -x "$CMHOST" ] || die "$CMHOST not built"
[ -x "$LOAD" ] || die "$LOAD not built"

stop_pid() {	# stop_pid PID: TERM, wait up to 5 s, KILL
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}
# shellcheck disable=SC2317 # called from the trap
cleanup() {
	stop_pid "$SRV_PID"
	SRV_PID=
	stop_pid "$CF_PID"
	CF_PID=
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

field() {	# field LINE NAME
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

rm -rf "$B"
mkdir -p "$B" || die "cannot create $B"
PORT=$((30000 + $$ % 20000))
"$CMHOST" init "$B/pki" --port "$PORT" >/dev/null || die "cmhost init"
P=$B/pki
"$LOAD" gen-csr "$NCSR" "$B/csrs.pem" >/dev/null || die "gen-csr"

echo "cmhost: $CLIENTS concurrent clients, up to $COUNT enrollments or ${SECS}s;" \
    "P-256, $NCSR CSRs made before timing; $(nproc) cores"
echo

# ---- the crypto-only limit -----------------------------------------------------------
CR=$("$LOAD" crypto --key "$P/officer.key" --pass "$P/officer.pass" \
    --ca-key "$P/ca.key" --dir "$P" --csrs "$B/csrs.pem" -T 2 -t "$CSECS") ||
	die "crypto limit"
ops=$(echo "$CR" | grep '^crypto_ops')
lim() {		# lim BACKEND SCOPE FIELD
	field "$(echo "$CR" | grep "^crypto backend=$1 scope=$2 ")" "$3"
}
prim() {	# prim BACKEND FIELD
	field "$(echo "$CR" | grep "^primitive backend=$1 ")" "$2"
}
m_full=$(lim mbedtls full enrollments_per_s)
o_full=$(lim libcrypto full enrollments_per_s)
m_srv=$(lim mbedtls server enrollments_per_s)
o_srv=$(lim libcrypto server enrollments_per_s)
echo "crypto per enrollment: $(field "$ops" signs) signatures" \
    "($(field "$ops" client_signs) client, $(field "$ops" server_signs) server)," \
    "$(field "$ops" verifies) verifications ($(field "$ops" client_verifies) client," \
    "$(field "$ops" server_verifies) server), ECDSA P-256 SHA-256"
printf '%-34s %12s %12s\n' "crypto-only limit, 2 threads" "mbedTLS" "libcrypto"
printf '%-34s %12s %12s\n' "  enrollments/s (client+server)" "$m_full" "$o_full"
printf '%-34s %12s %12s\n' "  enrollments/s (server part)" "$m_srv" "$o_srv"
printf '%-34s %12s %12s\n' "  1 thread: signatures/s" "$(prim mbedtls signs_per_s)" \
    "$(prim libcrypto signs_per_s)"
printf '%-34s %12s %12s\n' "  1 thread: verifications/s" "$(prim mbedtls verifies_per_s)" \
    "$(prim libcrypto verifies_per_s)"
echo

# ---- cmhost under load ---------------------------------------------------------------
start_cmhost() {
	_try=0
	while [ $_try -lt 10 ]; do
		sed -i "s/^  port: [0-9]*/  port: $PORT/" "$P/cmhost.yaml"
		rm -f "$B/cmhost.pid"
		timeout -k 5 $((SECS + 180)) "$CMHOST" -c "$P/cmhost.yaml" \
		    --pidfile "$B/cmhost.pid" >>"$B/cmhost.log" 2>&1 &
		_w=0
		while [ ! -s "$B/cmhost.pid" ] && [ $_w -lt 100 ]; do
			grep -q "cannot listen" "$B/cmhost.log" 2>/dev/null && break
			sleep 0.1
			_w=$((_w + 1))
		done
		if [ -s "$B/cmhost.pid" ]; then
			SRV_PID=$(cat "$B/cmhost.pid")
			return 0
		fi
		wait 2>/dev/null
		: >"$B/cmhost.log"
		PORT=$((PORT + 1))
		_try=$((_try + 1))
	done
	return 1
}
start_cmhost || die "cmhost does not start: $(tail -n 3 "$B/cmhost.log")"
threads=$(sed -n 's/^  threads: *\([0-9]*\).*/\1/p' "$P/cmhost.yaml")
RES=$("$LOAD" cmp --url "http://127.0.0.1:$PORT/cmp" --trust "$P/root.pem" \
    --key "$P/officer.key" --cert "$P/officer-chain.pem" --pass "$P/officer.pass" \
    --csrs "$B/csrs.pem" -c "$CLIENTS" -T 2 -n "$COUNT" -t "$SECS")
load_rc=$?
stop_pid "$SRV_PID"
SRV_PID=
[ $load_rc -eq 0 ] || die "load generator failed"
r=$(echo "$RES" | grep '^result')
rate=$(field "$r" rate)
echo "cmhost (listen.threads $threads, SQLite WAL), HTTP on loopback:"
printf '  %-30s %s\n' "enrollments" "$(field "$r" enrollments) in $(field "$r" secs) s"
printf '  %-30s %s\n' "enrollments/s" "$rate"
printf '  %-30s %s ms / %s ms\n' "latency p50 / p99" "$(field "$r" p50_ms)" "$(field "$r" p99_ms)"
printf '  %-30s %s\n' "errors" "$(field "$r" errors)"
echo "$RES" | sed -n 's/^first_error /  first error: /p'

# ---- counts: nothing lost, nothing issued without its record ---------------------------
# The load generator's warm-up enrollment (one, before timing) is counted too.
sent=$(field "$r" http_sent)
answered=$(field "$r" http_answered)
issued=$(( $(field "$r" certs) + 1 ))
confirmed_client=$(( $(field "$r" enrollments) + 1 ))
"$CMHOST" certs -c "$P/cmhost.yaml" --json >"$B/certs.json" 2>>"$B/cmhost.log" ||
	die "cmhost certs"
records=$(grep -c '"serial"' "$B/certs.json")
confirmed=$(grep -c '"state": "confirmed"' "$B/certs.json")
flag() { [ "$1" = "$2" ] && echo "ok" || echo "MISMATCH"; }
echo
echo "counts after the run:"
printf '  %-44s %s / %s  %s\n' "HTTP requests sent / answered" "$sent" "$answered" \
    "$(flag "$sent" "$answered")"
printf '  %-44s %s / %s  %s\n' "certificates received / database records" "$issued" \
    "$records" "$(flag "$issued" "$records")"
printf '  %-44s %s / %s  %s\n' "enrollments confirmed / records confirmed" \
    "$confirmed_client" "$confirmed" "$(flag "$confirmed_client" "$confirmed")"
echo

# ---- cfssl -------------------------------------------------------------------------
cf_rate=
if command -v cfssl >/dev/null 2>&1; then
	cat >"$B/cfssl.json" <<'EOF'
{"signing": {"default": {"expiry": "8760h",
  "usages": ["digital signature", "key encipherment", "client auth"]}}}
EOF
	CFPORT=$((PORT + 1))
	_try=0
	while [ $_try -lt 10 ] && [ -z "$CF_PID" ]; do
		: >"$B/cfssl.log"
		timeout -k 5 $((SECS + 120)) cfssl serve -address 127.0.0.1 \
		    -port "$CFPORT" -ca "$P/ca.pem" -ca-key "$P/ca.key" \
		    -config "$B/cfssl.json" -loglevel 2 >>"$B/cfssl.log" 2>&1 &
		pid=$!
		_w=0
		while [ $_w -lt 100 ] && kill -0 "$pid" 2>/dev/null &&
		    ! curl -s -o /dev/null "http://127.0.0.1:$CFPORT/api/v1/cfssl/health" \
		    2>/dev/null; do
			sleep 0.1
			_w=$((_w + 1))
		done
		if kill -0 "$pid" 2>/dev/null && [ $_w -lt 100 ]; then
			CF_PID=$pid
		else
			stop_pid "$pid"
			CFPORT=$((CFPORT + 1))
			_try=$((_try + 1))
		fi
	done
	if [ -n "$CF_PID" ]; then
		CF=$("$LOAD" cfssl --url "http://127.0.0.1:$CFPORT/api/v1/cfssl/sign" \
		    --csrs "$B/csrs.pem" -c "$CLIENTS" -T 2 -n $((COUNT * 10)) -t "$SECS")
		stop_pid "$CF_PID"
		CF_PID=
		c=$(echo "$CF" | grep '^result')
		cf_rate=$(field "$c" rate)
		echo "cfssl $(cfssl version 2>/dev/null | sed -n 's/^Version: //p') serve," \
		    "/api/v1/cfssl/sign (signs only: 1 CSR verification + 1 signature):"
		printf '  %-30s %s\n' "certificates" "$(field "$c" certs) in $(field "$c" secs) s"
		printf '  %-30s %s\n' "certificates/s" "$cf_rate"
		printf '  %-30s %s ms / %s ms\n' "latency p50 / p99" "$(field "$c" p50_ms)" \
		    "$(field "$c" p99_ms)"
		printf '  %-30s %s (HTTP sent/answered %s/%s)\n' "errors" "$(field "$c" errors)" \
		    "$(field "$c" http_sent)" "$(field "$c" http_answered)"
		echo "$CF" | sed -n 's/^first_error /  first error: /p'
	else
		echo "cfssl: does not start ($(tail -n 1 "$B/cfssl.log")); skipped"
	fi
else
	echo "cfssl: not installed (Debian package golang-cfssl); skipped"
fi
echo

echo "cmhost / crypto-only limit mbedTLS (client+server)   = $(ratio "$rate" "$m_full")   (target >= 0.60)"
echo "cmhost / crypto-only limit libcrypto (client+server) = $(ratio "$rate" "$o_full")"
[ -n "$cf_rate" ] &&
	echo "cmhost / cfssl                                       = $(ratio "$rate" "$cf_rate")"
exit 0
