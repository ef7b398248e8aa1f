#!/bin/sh
# bench_scale.sh - `make bench` (and `make bench-scale` alone): figures,
# not a test. cmhost scaled out (docs/scaling.md, "Figures"):
#
#   1. scripts/scale.sh starts a private PostgreSQL cluster, a demo PKI
#      on it and 3 cmhost instances on loopback; pg_stat_statements is
#      loaded (ALTER SYSTEM on the cluster made first) to count the
#      statements, i.e. the database round trips, of an enrollment;
#   2. one HAProxy with three frontends, in front of instance 1, of 1-2
#      and of 1-3 (roundrobin, /health check, http-server-close, no
#      retries: contrib/haproxy-cmhost.cfg's settings), and three more
#      instances with instance 1's PKI and settings: on SQLite, on the
#      PostgreSQL database with database.pool 1, and with
#      synchronous_commit off (the URL's options);
#   3. full enrollments (cr + cp + certConf + pkiConf, 1 key,
#      build/tools/cmp_load) through HAProxy to 1, 2 and 3 instances, at
#      8 and 32 clients (BENCH_SCALE_CLIENTS), BENCH_SCALE_ROUNDS (3)
#      rounds interleaved (1 2 3, then 3 2 1, ...), BENCH_SCALE_SECS (5)
#      seconds each: medians of enrollments/s, the medians of the rounds'
#      paired ratios against 1 instance, and CPU per enrollment of the
#      cmhost processes, the PostgreSQL processes, HAProxy
#      (/proc/PID/stat, before and after each run) and the load generator
#      (its getrusage);
#   4. one instance without HAProxy at 32 clients (BENCH_SCALE_DB_CLIENTS):
#      SQLite, PostgreSQL (pool default), pool 1, synchronous_commit off,
#      interleaved (A B C D, then D C B A, ...): enrollments/s, the
#      medians of the paired ratios against SQLite and against PostgreSQL,
#      CPU per enrollment, and on PostgreSQL the statements (round trips,
#      pg_stat_statements, by statement), transactions committed
#      (pg_stat_database) and WAL flushes (pg_stat_wal) per enrollment;
#   5. the counts afterwards: requests sent and answered, every
#      certificate received recorded once and confirmed.
# Every daemon listens on 127.0.0.1 on a port of its own, runs under
# `timeout` and is stopped by its pid from the trap. The stack lives in a
# directory under /tmp (the postgres user must reach it), removed at the
# end; the result lines stay in build/bench/scale/.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
CLIENT_LIST=${BENCH_SCALE_CLIENTS:-8 32}
DB_CLIENT_LIST=${BENCH_SCALE_DB_CLIENTS:-32}
ROUNDS=${BENCH_SCALE_ROUNDS:-3}
SECS=${BENCH_SCALE_SECS:-5}
NCSR=${BENCH_CSRS:-1000}
B=$BUILD/bench/scale
CMHOST=$BUILD/cmhost
LOAD=$BUILD/tools/cmp_load
SCALE=$REPO/scripts/scale.sh
PGCLUSTER=$REPO/scripts/pgcluster.sh
S=
HA_PID=
HA_TPID=
EXTRA_PIDS=
TCK=$(getconf CLK_TCK)
RUNS=$B/runs.txt
# shellcheck source=tests/bench/lib.sh
. "$REPO/tests/bench/lib.sh"

die() {
	echo "bench_scale: $*" >&2
	exit 1
}
[ -x "$CMHOST" ] || die "$CMHOST not built"
[ -x "$LOAD" ] || die "$LOAD not built"
[ -f "$SCALE" ] || die "$SCALE missing"
command -v haproxy >/dev/null || die "haproxy not installed (make deps)"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
	die "PostgreSQL server not installed (make deps)"

# shellcheck disable=SC2317 # called from the trap
cleanup() {
	stop_pid "$HA_PID"
	stop_pid "$HA_TPID"
	for _x in $EXTRA_PIDS; do stop_pid "$_x"; done
	HA_PID=
	HA_TPID=
	EXTRA_PIDS=
	if [ -n "$S" ]; then
		sh "$SCALE" stop "$S" >/dev/null 2>&1
		for f in haproxy.log i1.err i2.err i3.err sqlite.err pg1.err pgasync.err; do
			[ -f "$S/$f" ] && cp "$S/$f" "$B/" 2>/dev/null
		done
		rm -rf "$S"
		S=
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

free_port() {	# free_port FROM: the first free loopback port from FROM on
	sh "$PGCLUSTER" port "$1" || die "no free port"
}
wait_health() {	# wait_health PORT SECONDS: until /health answers 200
	sh "$SCALE" health "$1" "$2" --ok
}
# ticks PID...: user+system CPU clock ticks of the processes, with their
# reaped children's (cutime, cstime); a process gone counts 0
ticks() {
	for _p in "$@"; do
		sed 's/^.*) //' "/proc/$_p/stat" 2>/dev/null
	done | awk '{ s += $12 + $13 + $14 + $15 } END { print s + 0 }'
}
# the postmaster and its children, taken anew at each sample: a backend
# started during a run counts from 0, one ended is in the postmaster's
# cutime/cstime
pg_pids() {
	_pm=$(head -n 1 "$S/pg/data/postmaster.pid" 2>/dev/null)
	[ -n "$_pm" ] || return 0
	echo "$_pm"
	pgrep -P "$_pm"
}
psql_q() {	# psql_q SQL: one value
	sh "$PGCLUSTER" psql "$S/pg" -qAt -c "$1" 2>>"$B/psql.err"
}
STMT_SQL="SELECT coalesce(sum(calls), 0) || ' ' || coalesce(sum(calls) FILTER (WHERE upper(s.query) LIKE 'COMMIT%'), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'cmhost' AND s.query NOT LIKE '%pg_stat%'"
STATS=0
stmts() {	# statements and COMMITs in the cmhost database so far
	[ "$STATS" = 1 ] || { echo "0 0"; return; }
	psql_q "$STMT_SQL"
}
# xw NAME: transactions committed in the cmhost database and WAL
# flushes so far, for the runs on PostgreSQL without HAProxy
XW_SQL="SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = 'cmhost') || ' ' || (SELECT wal_sync FROM pg_stat_wal)"
xw() {
	case $1 in pg*) psql_q "$XW_SQL" ;; *) echo "0 0" ;; esac
}

rm -rf "$B"
mkdir -p "$B" || die "cannot create $B"
nruns=$(( $(echo "$CLIENT_LIST" | wc -w) * ROUNDS * 3 +
    $(echo "$DB_CLIENT_LIST" | wc -w) * ROUNDS * 4 ))
TOTAL=$(( nruns * (SECS + 5) + 180 ))

# ---- the stack -----------------------------------------------------------------------
S=$(mktemp -d /tmp/raterm-bench-scale.XXXXXX) || die "mktemp"
chmod 711 "$S"
# pg_stat_statements (in Debian's postgresql package) is loaded at the
# server's start: the cluster is made, set and stopped first, and
# scale.sh starts it again (pgcluster.sh keeps an existing cluster)
if sh "$PGCLUSTER" start "$S/pg" --timeout 30 >/dev/null 2>>"$B/psql.err" &&
    psql_q "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null; then
	STATS=1
fi
sh "$PGCLUSTER" stop "$S/pg"
sh "$SCALE" start "$S" -n 3 --timeout "$TOTAL" --cmhost "$CMHOST" \
    >"$B/scale-start.log" 2>&1 || die "scale.sh start: $(tail -n 3 "$B/scale-start.log")"
# shellcheck disable=SC1091 # PORT1..3, PID1..3, HAPORT, CM
. "$S/env"
if [ "$STATS" = 1 ] &&
    psql_q "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null &&
    psql_q "SELECT count(*) FROM pg_stat_statements" >/dev/null; then
	:
else
	STATS=0
	echo "pg_stat_statements not available ($(tail -n 1 "$B/psql.err" 2>/dev/null)):" \
	    "no statement counts"
fi

# HAProxy: three frontends, one per configuration
H1=$(free_port $((HAPORT + 1)))
H2=$(free_port $((H1 + 1)))
H3=$(free_port $((H2 + 1)))
{
	echo "# bench_scale.sh: contrib/haproxy-cmhost.cfg's settings, loopback"
	printf 'global\n\tmaxconn 4096\ndefaults\n\tmode http\n\toption forwardfor\n'
	printf '\toption http-server-close\n\ttimeout connect 5s\n'
	printf '\ttimeout client 30s\n\ttimeout server 30s\n\tretries 0\n'
	for n in 1 2 3; do
		hp=$(eval "echo \$H$n")
		printf 'frontend f%s\n\tbind 127.0.0.1:%s\n\tdefault_backend b%s\n' \
		    "$n" "$hp" "$n"
		printf 'backend b%s\n\tbalance roundrobin\n\toption httpchk GET /health\n' "$n"
		printf '\thttp-check expect status 200\n\tdefault-server inter 2s fall 2 rise 1\n'
		i=1
		while [ $i -le "$n" ]; do
			p=$(eval "echo \$PORT$i")
			printf '\tserver cm%s 127.0.0.1:%s check\n' "$i" "$p"
			i=$((i + 1))
		done
	done
} >"$B/haproxy.cfg"
timeout -k 5 "$TOTAL" haproxy -f "$B/haproxy.cfg" -db >"$S/haproxy.log" 2>&1 &
HA_TPID=$!
for n in 1 2 3; do
	eval "hp=\$H$n"
	wait_health "$hp" 20 || die "HAProxy: $(tail -n 3 "$S/haproxy.log")"
done
HA_PID=$(pgrep -P "$HA_TPID" haproxy | head -n 1)
[ -n "$HA_PID" ] || die "HAProxy's pid"

# the instances of the database comparison, each instance 1's
# configuration changed by a sed expression: SQLite (database.path),
# PostgreSQL with a pool of one connection, and with synchronous_commit
# off (the session setting through the URL's options)
EXTRA_PIDS=
next_port=$((H3 + 1))
start_extra() {	# start_extra NAME SED: NAME_PORT, NAME_PID
	_p=$(free_port "$next_port")
	next_port=$((_p + 1))
	sed "$2; s/^  port: [0-9]*/  port: $_p/; s|^  file: .*i1.log|  file: $S/$1.log|" \
	    "$CM/i1.yaml" >"$CM/$1.yaml"
	"$CMHOST" db migrate -c "$CM/$1.yaml" >>"$S/$1.err" 2>&1 ||
		die "$1: db migrate: $(tail -n 3 "$S/$1.err")"
	timeout -k 5 "$TOTAL" "$CMHOST" -c "$CM/$1.yaml" --pidfile "$S/$1.pid" \
	    >>"$S/$1.err" 2>&1 &
	wait_health "$_p" 20 || die "$1 instance: $(tail -n 3 "$S/$1.err")"
	eval "${1}_PORT=$_p; ${1}_PID=$(cat "$S/$1.pid")"
	EXTRA_PIDS="$EXTRA_PIDS $(cat "$S/$1.pid")"
}
start_extra sqlite 's|^  url: .*|  path: sqlite.db|'
start_extra pg1 's|^  url: .*|&\n  pool: 1|'
start_extra pgasync 's|^  url: "\(.*\)"|  url: "\1?options=-c%20synchronous_commit%3Doff"|'
pool=$(sed -n 's/^  pool: *\([0-9]*\).*/\1/p' "$CM/i1.yaml")

"$LOAD" gen-csr "$NCSR" "$B/csrs.pem" >/dev/null || die "gen-csr"
threads=$(sed -n 's/^  threads: *\([0-9]*\).*/\1/p' "$CM/i1.yaml")
echo "cmhost scaled out: 1, 2, 3 instances on one PostgreSQL behind HAProxy;" \
    "SQLite vs PostgreSQL on one; 1-key enrollments, $CLIENT_LIST clients," \
    "$ROUNDS interleaved rounds of ${SECS}s; listen.threads $threads; $(nproc) cores"
echo "  $(haproxy -v | head -n 1 | cut -d' ' -f1-3);" \
    "$(sh "$PGCLUSTER" psql "$S/pg" -qAt -c 'SHOW server_version' | cut -d' ' -f1 |
	sed 's/^/PostgreSQL /'); fsync on; database.pool ${pool:-4 (default)}"
echo

# ---- one run --------------------------------------------------------------------------
# run_one NAME CLIENTS URL CMHOST_PIDS: one timed run of the load
# generator; its result line and the CPU ticks of each group before and
# after kept in runs.txt
: >"$RUNS"
# shellcheck disable=SC2046,SC2086 # the pid lists are split on purpose
run_one() {
	_t=2
	[ "$2" -lt 2 ] && _t=1
	_w0=$(date +%s.%N)
	_st0=$(stmts)
	_x0=$(xw "$1")
	_c0=$(ticks $4)
	_p0=$(ticks $(pg_pids))
	_h0=$(ticks "$HA_PID")
	_r=$("$LOAD" cmp --url "$3" --trust "$CM/root.pem" \
	    --key "$CM/officer.key" --cert "$CM/officer-chain.pem" \
	    --pass "$CM/officer.pass" --csrs "$B/csrs.pem" -k 1 -c "$2" \
	    -T "$_t" -n 10000000 -t "$SECS") || die "load generator failed ($1, $2 clients)"
	# the cumulative statistics reach the views within a second
	case $1 in pg*) sleep 1.1 ;; esac
	_c1=$(ticks $4)
	_p1=$(ticks $(pg_pids))
	_h1=$(ticks "$HA_PID")
	_st1=$(stmts)
	_x1=$(xw "$1")
	_l="$(echo "$_r" | sed -n 's/^result //p') wall_s=$(echo "$(date +%s.%N) $_w0" |
	    awk '{ printf "%.2f", $1 - $2 }')"
	# per enrollment: the run's enrollments and its one warm-up
	_n=$(( $(field "$_l" enrollments) + 1 ))
	echo "run=$1 $_l" | awk -v n="$_n" -v tck="$TCK" \
	    -v c="$((_c1 - _c0))" -v p="$((_p1 - _p0))" -v h="$((_h1 - _h0))" \
	    -v s0="$_st0" -v s1="$_st1" -v x0="$_x0" -v x1="$_x1" '
	{
		split(s0, a, " "); split(s1, b, " ")
		split(x0, xa, " "); split(x1, xb, " ")
		for (i = 1; i <= NF; i++) if ($i ~ /^load_cpu_s=/) {
			split($i, l, "="); lc = l[2] }
		printf "%s n=%d cm_ms=%.3f pg_ms=%.3f ha_ms=%.3f load_ms=%.3f " \
		    "stmts=%.2f commits=%.2f xacts=%.2f walsyncs=%.2f\n", $0, n,
		    1000 * c / tck / n, 1000 * p / tck / n, 1000 * h / tck / n,
		    1000 * lc / (n - 1 > 0 ? n - 1 : 1),
		    (b[1] - a[1]) / n, (b[2] - a[2]) / n,
		    (xb[1] - xa[1]) / n, (xb[2] - xa[2]) / n
	}' >>"$RUNS"
	echo "$_r" | sed -n "s/^first_error /  $1, $2 clients: first error: /p"
}

pmed() {	# pmed A B CLIENTS: the median of the rounds' paired ratios A/B of rate
	for _x in "$1" "$2"; do
		grep "^run=$_x " "$RUNS" | grep " clients=$3 " |
		    tr ' ' '\n' | sed -n 's/^rate=//p' >"$B/.p_$_x"
	done
	paste "$B/.p_$1" "$B/.p_$2" | awk '$2 > 0 { print $1 / $2 }' | sort -n |
	    awk '{ v[NR] = $1 } END { if (NR == 0) print "-";
		else if (NR % 2) printf "%.2f\n", v[(NR + 1) / 2];
		else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
	rm -f "$B/.p_$1" "$B/.p_$2"
}

# ---- 1, 2, 3 instances through HAProxy -------------------------------------------------
for c in $CLIENT_LIST; do
	r=1
	while [ $r -le "$ROUNDS" ]; do
		order="1 2 3"
		[ $((r % 2)) -eq 0 ] && order="3 2 1"
		for n in $order; do
			eval "hp=\$H$n"
			case $n in
			1) pids=$PID1 ;;
			2) pids="$PID1 $PID2" ;;
			3) pids="$PID1 $PID2 $PID3" ;;
			esac
			run_one "ha$n" "$c" "http://127.0.0.1:$hp/cmp" "$pids"
		done
		r=$((r + 1))
	done
done

echo "through HAProxy, PostgreSQL (medians of $ROUNDS interleaved runs of ${SECS}s;" \
    "x1: the median of the rounds' paired ratios against 1 instance;" \
    "CPU ms per enrollment):"
printf '  %-7s %-9s %9s %6s %8s %8s %8s %8s %8s %7s\n' clients instances enroll/s \
    x1 cmhost postgres haproxy "load gen" total "p50 ms"
for c in $CLIENT_LIST; do
	for n in 1 2 3; do
		x=1.00
		[ $n -gt 1 ] && x=$(pmed "ha$n" ha1 "$c")
		printf '  %-7s %-9s %9s %6s %8s %8s %8s %8s %8s %7s\n' "$c" "$n" \
		    "$(med "ha$n" "$c" rate)" "$x" "$(med "ha$n" "$c" cm_ms)" \
		    "$(med "ha$n" "$c" pg_ms)" "$(med "ha$n" "$c" ha_ms)" \
		    "$(med "ha$n" "$c" load_ms)" \
		    "$(awk -v a="$(med "ha$n" "$c" cm_ms)" -v b="$(med "ha$n" "$c" pg_ms)" \
			-v d="$(med "ha$n" "$c" ha_ms)" -v e="$(med "ha$n" "$c" load_ms)" \
			'BEGIN { printf "%.3f", a + b + d + e }')" \
		    "$(med "ha$n" "$c" p50_ms)"
	done
done
echo

# ---- SQLite vs PostgreSQL, one instance, no HAProxy -------------------------------------
[ "$STATS" = 1 ] && psql_q "SELECT pg_stat_statements_reset()" >/dev/null
MODES="sqlite pg pg1 pgasync"
REV=$(echo "$MODES" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }')
for c in $DB_CLIENT_LIST; do
	r=1
	while [ $r -le "$ROUNDS" ]; do
		order=$MODES
		[ $((r % 2)) -eq 0 ] && order=$REV
		for m in $order; do
			case $m in
			pg) run_one pg "$c" "http://127.0.0.1:$PORT1/cmp" "$PID1" ;;
			*) eval "run_one $m $c http://127.0.0.1:\$${m}_PORT/cmp \$${m}_PID" ;;
			esac
		done
		r=$((r + 1))
	done
done
echo "one instance, no HAProxy (medians of $ROUNDS interleaved runs of ${SECS}s;" \
    "/SQLite, /PG: the medians of the rounds' paired ratios of enrollments/s;" \
    "CPU ms per enrollment; per enrollment: statements (round trips)," \
    "transactions committed, WAL flushes):"
printf '  %-7s %-22s %8s %7s %5s %7s %8s %8s %6s %6s %5s %5s\n' clients database \
    enroll/s /SQLite /PG cmhost postgres "load gen" "p50 ms" stmts xacts WAL
for c in $DB_CLIENT_LIST; do
	for m in $MODES; do
		case $m in
		sqlite) name="SQLite (WAL, NORMAL)" ;;
		pg) name="PostgreSQL pool ${pool:-4}" ;;
		pg1) name="PostgreSQL pool 1" ;;
		pgasync) name="PG pool ${pool:-4}, sync off" ;;
		esac
		x=-
		y=-
		pgc=-
		st=-
		xa=-
		wa=-
		if [ "$m" != sqlite ]; then
			x=$(pmed "$m" sqlite "$c")
			[ "$m" != pg ] && y=$(pmed "$m" pg "$c")
			pgc=$(med "$m" "$c" pg_ms)
			[ "$STATS" = 1 ] && st=$(med "$m" "$c" stmts)
			xa=$(med "$m" "$c" xacts)
			wa=$(med "$m" "$c" walsyncs)
		fi
		printf '  %-7s %-22s %8s %7s %5s %7s %8s %8s %6s %6s %5s %5s\n' "$c" \
		    "$name" "$(med "$m" "$c" rate)" "$x" "$y" "$(med "$m" "$c" cm_ms)" \
		    "$pgc" "$(med "$m" "$c" load_ms)" "$(med "$m" "$c" p50_ms)" \
		    "$st" "$xa" "$wa"
	done
done
pgn=$(total '^run=pg' n)
if [ "$STATS" = 1 ] && [ "$pgn" -gt 0 ]; then
	echo "PostgreSQL statements per enrollment (pg_stat_statements over the $pgn" \
	    "enrollments of these runs; /health checks included):"
	psql_q "SELECT round(sum(calls)::numeric / $pgn, 2) || ' ' || regexp_replace(left(s.query, 70), '\\s+', ' ', 'g') FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'cmhost' AND s.query NOT LIKE '%pg_stat%' GROUP BY s.query ORDER BY sum(calls) DESC" |
	    awk '$1 >= 0.01 { printf "  %6s  %s\n", $1, substr($0, length($1) + 2) }'
fi
echo "errors: $(total . errors)"
echo

# ---- counts --------------------------------------------------------------------------
stop_pid "$HA_PID"
HA_PID=
sent=$(total . http_sent)
answered=$(total . http_answered)
flag() { [ "$1" = "$2" ] && echo "ok" || echo "MISMATCH"; }
echo "counts after the runs:"
printf '  %-52s %s / %s  %s\n' "HTTP requests sent / answered" "$sent" "$answered" \
    "$(flag "$sent" "$answered")"
for db in pg sqlite; do
	if [ $db = pg ]; then y=$CM/i1.yaml; pat='^run=\(ha\|pg\)'; else
		y=$CM/sqlite.yaml; pat='^run=sqlite '; fi
	got=$(( $(total "$pat" certs) + $(grep -c "$pat" "$RUNS") ))
	"$CMHOST" certs -c "$y" --json >"$B/certs-$db.json" 2>>"$B/certs.err" ||
		die "cmhost certs ($db)"
	rec=$(grep -c '"serial"' "$B/certs-$db.json")
	conf=$(grep -c '"state": "confirmed"' "$B/certs-$db.json")
	printf '  %-52s %s / %s / %s  %s\n' \
	    "$db: certificates received / records / confirmed" "$got" "$rec" "$conf" \
	    "$([ "$got" = "$rec" ] && [ "$rec" = "$conf" ] && echo ok || echo MISMATCH)"
done
exit 0
