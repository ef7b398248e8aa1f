#!/bin/sh
# bench_cmhost.sh - `make bench`, second part: figures, not a test.
# cmhost under load from the project's own load generator (build/tools/
# cmp_load, libcurl multi), beside the crypto-only limits of the same run
# and cfssl's sign endpoint on the same CSRs. See docs/bench.md.
#
#   1. a demo PKI (cmhost init) and BENCH_CSRS P-256 keys and CSRs, made
#      before any timing (the CSRs' own signatures are not timed);
#   2. the crypto-only limit: the signatures and verifications of one
#      enrollment in a loop on 2 threads, mbedTLS and OpenSSL libcrypto;
#   3. cmhost and `cfssl serve` (Debian golang-cfssl, installed by
#      `make bench` through scripts/deps.sh --bench; skipped with a note
#      if missing) on 127.0.0.1 with the same CA (free ports, bounded
#      lifetime, stopped by pid);
#   4. for 1, 8 and 32 clients (BENCH_CLIENT_LIST), BENCH_ROUNDS rounds
#      interleaved (A B C, then C B A, ...): cmhost full enrollments (cr,
#      cp, certConf, pkiConf) with 1-key and with 4-key requests (a 4-key
#      request counts 4 certificates), and cfssl's /api/v1/cfssl/sign on
#      the same CSRs, BENCH_SECS seconds each; medians of certificates/s,
#      server CPU per certificate (/proc) and the load generator's CPU
#      share (it shares the two cores with the server);
#   5. requests sent vs answered, certificates issued vs database records.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
CLIENT_LIST=${BENCH_CLIENT_LIST:-1 8 32}
ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECS:-5}
NCSR=${BENCH_CSRS:-1000}
CSECS=${BENCH_CRYPTO_SECS:-4}
B=$BUILD/bench/cmhost
CMHOST=$BUILD/cmhost
LOAD=$BUILD/tools/cmp_load
SRV_PID=
CF_PID=
RUNS=$B/runs.txt
# shellcheck source=tests/bench/lib.sh
. "$REPO/tests/bench/lib.sh"

die() {
	echo "bench: $*" >&2
	exit 1
}
[ -x "$CMHOST" ] || die "$CMHOST not built"
[ -x "$LOAD" ] || die "$LOAD not built"

# shellcheck disable=SC2317 # called from the trap
cleanup() {
	stop_pid "$SRV_PID"
	SRV_PID=
	stop_pid "$CF_PID"
	CF_PID=
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

rm -rf "$B"
mkdir -p "$B" || die "cannot create $B"
PORT=$((30000 + $$ % 20000))
"$CMHOST" init "$B/pki" --port "$PORT" >/dev/null || die "cmhost init"
P=$B/pki
# every client of the load generator comes from 127.0.0.1
sed -i 's/^listen:$/listen:\n  max_connections_per_client: 256/' "$P/cmhost.yaml"
"$LOAD" gen-csr "$NCSR" "$B/csrs.pem" >/dev/null || die "gen-csr"

echo "cmhost and cfssl: $CLIENT_LIST clients, $ROUNDS interleaved rounds of" \
    "${SECS}s each; P-256, $NCSR CSRs made before timing; $(nproc) cores"
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
printf '%-34s %12s %12s\n' "  server CPU ms per enrollment" \
    "$(awk -v r="$m_srv" 'BEGIN { printf "%.3f", (r > 0 ? 2000 / r : 0) }')" \
    "$(awk -v r="$o_srv" 'BEGIN { printf "%.3f", (r > 0 ? 2000 / r : 0) }')"
printf '%-34s %12s %12s\n' "  1 thread: signatures/s" "$(prim mbedtls signs_per_s)" \
    "$(prim libcrypto signs_per_s)"
printf '%-34s %12s %12s\n' "  1 thread: verifications/s" "$(prim mbedtls verifies_per_s)" \
    "$(prim libcrypto verifies_per_s)"
echo

# ---- the servers ---------------------------------------------------------------------
TOTAL=$(( $(echo "$CLIENT_LIST" | wc -w) * ROUNDS * 3 * (SECS + 3) + 120 ))
start_cmhost() {
	_try=0
	while [ $_try -lt 10 ]; do
		sed -i "s/^  port: [0-9]*/  port: $PORT/" "$P/cmhost.yaml"
		rm -f "$B/cmhost.pid"
		timeout -k 5 "$TOTAL" "$CMHOST" -c "$P/cmhost.yaml" \
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

CF_CPU_PID=
CFPORT=
CFVER=
if command -v cfssl >/dev/null 2>&1; then
	printf '%s\n' '{"signing": {"default": {"expiry": "8760h",' \
	    '  "usages": ["digital signature", "key encipherment", "client auth"]}}}' \
	    >"$B/cfssl.json"
	CFPORT=$((PORT + 1))
	_try=0
	while [ $_try -lt 10 ] && [ -z "$CF_PID" ]; do
		: >"$B/cfssl.log"
		timeout -k 5 "$TOTAL" cfssl serve -address 127.0.0.1 \
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
			# timeout's child is cfssl: its CPU is what is measured
			CF_CPU_PID=$(pgrep -P "$pid" cfssl | head -n 1)
			[ -n "$CF_CPU_PID" ] || CF_CPU_PID=$pid
		else
			stop_pid "$pid"
			CFPORT=$((CFPORT + 1))
			_try=$((_try + 1))
		fi
	done
	[ -n "$CF_PID" ] ||
		echo "cfssl: does not start ($(tail -n 1 "$B/cfssl.log")); skipped"
	CFVER=$(cfssl version 2>/dev/null | sed -n 's/^Version: //p')
else
	echo "cfssl: not installed (Debian package golang-cfssl, which make bench" \
	    "installs through scripts/deps.sh --bench); skipped"
fi

# ---- interleaved runs ----------------------------------------------------------------
: >"$B/runs.txt"
warm=0		# certificates of the load generator's warm-up enrollments
run_one() {	# run_one MODE CLIENTS: one timed run, its result line kept
	_t=2
	[ "$2" -lt 2 ] && _t=1
	case $1 in
	cmhost1|cmhost4)
		_k=${1#cmhost}
		_r=$("$LOAD" cmp --url "http://127.0.0.1:$PORT/cmp" --trust "$P/root.pem" \
		    --key "$P/officer.key" --cert "$P/officer-chain.pem" \
		    --pass "$P/officer.pass" --csrs "$B/csrs.pem" -k "$_k" -c "$2" \
		    -T "$_t" -n 10000000 -t "$SECS" --server-pid "$SRV_PID") ||
			die "load generator failed"
		warm=$((warm + _k))
		;;
	cfssl)
		_r=$("$LOAD" cfssl --url "http://127.0.0.1:$CFPORT/api/v1/cfssl/sign" \
		    --csrs "$B/csrs.pem" -c "$2" -T "$_t" -n 10000000 -t "$SECS" \
		    --server-pid "$CF_CPU_PID") || die "load generator failed (cfssl)"
		;;
	esac
	echo "$_r" | sed -n "s/^result /run=$1 /p" >>"$B/runs.txt"
	echo "$_r" | sed -n "s/^first_error /  $1, $2 clients: first error: /p"
}
MODES="cmhost1 cmhost4"
[ -n "$CF_PID" ] && MODES="$MODES cfssl"
REV=$(echo "$MODES" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }')
for c in $CLIENT_LIST; do
	r=1
	while [ $r -le "$ROUNDS" ]; do
		order=$MODES
		[ $((r % 2)) -eq 0 ] && order=$REV
		for m in $order; do
			run_one "$m" "$c"
		done
		r=$((r + 1))
	done
done
stop_pid "$SRV_PID"
SRV_PID=
stop_pid "$CF_PID"
CF_PID=

table() {	# table TITLE FIELD
	echo "$1"
	printf '  %-8s %13s %13s %13s %9s %9s\n' clients "cmhost 1-key" \
	    "cmhost 4-key" cfssl "1-key/cf" "4-key/cf"
	for c in $CLIENT_LIST; do
		a=$(med cmhost1 "$c" "$2")
		b=$(med cmhost4 "$c" "$2")
		f=$(med cfssl "$c" "$2")
		printf '  %-8s %13s %13s %13s %9s %9s\n' "$c" "$a" "$b" "$f" \
		    "$(ratio "$a" "$f")" "$(ratio "$b" "$f")"
	done
}
table "certificates/s (medians of $ROUNDS interleaved runs of ${SECS}s; cmhost\
 listen.threads $threads, SQLite WAL; cfssl ${CFVER:-missing}):" cert_rate
table "server CPU per certificate, ms (the same runs):" server_cpu_ms_per_cert
echo "latency p50 ms / the load generator's CPU share of the $(nproc) cores:"
for c in $CLIENT_LIST; do
	printf '  %-8s' "$c"
	for m in $MODES; do
		printf '  %s %s / %s' "$m" "$(med "$m" "$c" p50_ms)" \
		    "$(med "$m" "$c" load_cpu_share)"
	done
	echo
done
echo "errors: $(total . errors)"

# ---- counts: nothing lost, nothing issued without its record ---------------------------
# The load generator's warm-up enrollments (one per cmhost run) count too.
sent=$(total '^run=cmhost' http_sent)
answered=$(total '^run=cmhost' http_answered)
issued=$(( $(total '^run=cmhost' certs) + warm ))
"$CMHOST" certs -c "$P/cmhost.yaml" --json >"$B/certs.json" 2>>"$B/cmhost.log" ||
	die "cmhost certs"
records=$(grep -c '"serial"' "$B/certs.json")
confirmed=$(grep -c '"state": "confirmed"' "$B/certs.json")
flag() { [ "$1" = "$2" ] && echo "ok" || echo "MISMATCH"; }
echo
echo "counts after the runs (cmhost):"
printf '  %-44s %s / %s  %s\n' "HTTP requests sent / answered" "$sent" "$answered" \
    "$(flag "$sent" "$answered")"
printf '  %-44s %s / %s  %s\n' "certificates received / database records" "$issued" \
    "$records" "$(flag "$issued" "$records")"
printf '  %-44s %s / %s  %s\n' "certificates received / records confirmed" \
    "$issued" "$confirmed" "$(flag "$issued" "$confirmed")"
printf '  %-44s %s\n' "database size after the runs (it grows)" \
    "$(du -sh "$P"/cmhost.db* 2>/dev/null | awk '{ printf "%s ", $1 }')"
echo

last=$(echo "$CLIENT_LIST" | awk '{ print $NF }')
if grep -q '^run=cfssl ' "$B/runs.txt"; then
	cf_cpu=$(med cfssl "$last" server_cpu_ms_per_cert)
	cf_rate=$(med cfssl "$last" cert_rate)
	for k in 1 4; do
		echo "goal, $last clients, $k-key: CPU per certificate cmhost / cfssl =" \
		    "$(ratio "$(med "cmhost$k" "$last" server_cpu_ms_per_cert)" "$cf_cpu")" \
		    "(<= 2), certificates/s cmhost / cfssl =" \
		    "$(ratio "$(med "cmhost$k" "$last" cert_rate)" "$cf_rate") (>= 0.5)"
	done
fi
echo "cmhost 1-key enrollments/s at $last clients / crypto-only limit libcrypto" \
    "(client+server) = $(ratio "$(med cmhost1 "$last" cert_rate)" "$o_full")"
exit 0
