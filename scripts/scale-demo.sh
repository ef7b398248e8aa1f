#!/bin/sh
# scale-demo.sh - `make scale-demo`: cmhost scaled out on this machine
# (docs/scaling.md). scripts/scale.sh starts a private PostgreSQL cluster
# (owned by the postgres user when run as root), `cmhost db migrate`,
# SCALE_N cmhost instances (default 3) and HAProxy in front of them, all on
# 127.0.0.1 on ports of their own; then full enrollments (cr, cp, certConf,
# pkiConf) through HAProxy with build/tools/cmp_load for SCALE_SECS seconds
# (default 10) with SCALE_CLIENTS clients (default 16); it prints the
# certificates per second, each instance's requests from its /metrics, and
# the database's count; then stops everything by its pid. Exit status 0
# when every step worked and every enrollment succeeded.
#
# SCALE_KEEP=1 leaves it running and says how to reach and stop it.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
N=${SCALE_N:-3}
SECS=${SCALE_SECS:-10}
CLIENTS=${SCALE_CLIENTS:-16}
SCALE=$REPO/scripts/scale.sh
LOAD=$BUILD/tools/cmp_load
SD=

die() {
	echo "scale-demo: $*" >&2
	exit 1
}
case $N in ''|*[!0-9]*) die "SCALE_N '$N' is not a number of instances" ;; esac
[ "$N" -ge 1 ] && [ "$N" -le 8 ] || die "SCALE_N $N: 1 to 8 instances"
[ -x "$BUILD/cmhost" ] || die "$BUILD/cmhost not built (make)"
[ -x "$LOAD" ] || die "$LOAD not built (make $BUILD/tools/cmp_load)"

cleanup() {
	[ -n "$SD" ] || return 0
	if [ "${SCALE_KEEP:-0}" = 1 ]; then
		echo "left running: sh scripts/scale.sh stop $SD (then rm -rf $SD)"
		return 0
	fi
	sh "$SCALE" stop "$SD" >/dev/null 2>&1
	rm -rf "$SD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# under /tmp: the postgres user must reach the cluster's directory
SD=$(mktemp -d /tmp/raterm-scale-demo.XXXXXX) || die "mktemp"
chmod 711 "$SD"
echo "== a private PostgreSQL cluster, $N cmhost instances, HAProxy (loopback)"
sh "$SCALE" start "$SD" -n "$N" --timeout $((SECS + 300)) \
    --cmhost "$BUILD/cmhost" >"$SD/start.log" 2>&1 ||
	die "scale.sh start: $(tail -n 3 "$SD/start.log")"
. "$SD/env"
echo "   PostgreSQL  $PGURL"
i=1
while [ "$i" -le "$N" ]; do
	eval "echo \"   cmhost $i    http://127.0.0.1:\$PORT$i/  pid \$PID$i\""
	i=$((i + 1))
done
echo "   HAProxy     $URL  (roundrobin, GET /health as its check)"

echo "== load: $CLIENTS clients, $SECS s of enrollments through HAProxy"
"$LOAD" gen-csr 200 "$SD/csrs.pem" >/dev/null || die "cmp_load gen-csr"
"$LOAD" cmp --url "$URL" --trust "$CM/root.pem" --key "$CM/officer.key" \
    --cert "$CM/officer-chain.pem" --pass "$CM/officer.pass" \
    --csrs "$SD/csrs.pem" -c "$CLIENTS" -n 1000000 -t "$SECS" \
    >"$SD/load.txt" 2>&1 || die "cmp_load: $(tail -n 3 "$SD/load.txt")"
res=$(grep '^result ' "$SD/load.txt") || die "cmp_load said no result: $(tail -n 3 "$SD/load.txt")"
field() { echo "$res" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
echo "   $(field enrollments) enrollments in $(field secs) s: $(field cert_rate) certificates/s" \
    "(p50 $(field p50_ms) ms, p99 $(field p99_ms) ms), $(field errors) errors"

echo "== requests per instance (cmhost_requests_total of each /metrics)"
i=1
while [ "$i" -le "$N" ]; do
	eval "p=\$PORT$i"
	python3 - "$p" "$i" <<'PY' || die "GET /metrics of instance $i"
import sys, urllib.request
port, i = sys.argv[1], sys.argv[2]
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port,
                              timeout=10).read().decode()
by = {}
for l in text.splitlines():
    if l.startswith("cmhost_requests_total{"):
        lab, v = l.rsplit(" ", 1)
        body = lab.split('body="', 1)[1].split('"', 1)[0]
        by[body] = by.get(body, 0) + int(v)
cmp = sum(v for k, v in by.items() if k not in ("health", "metrics", "crl", "ocsp", "other"))
print("   cmhost %s: %d CMP requests (%s), %d health checks" % (i, cmp,
      ", ".join("%s %d" % (k, by[k]) for k in ("cr", "certConf") if k in by),
      by.get("health", 0)))
PY
	i=$((i + 1))
done
n=$(cd / && sh "$REPO/scripts/pgcluster.sh" psql "$SD/pg" -qAt -c \
    "SELECT count(*) FILTER (WHERE state = 'confirmed') || ' confirmed, ' || count(*) FILTER (WHERE state = 'waiting') || ' waiting, ' || count(*) || ' in all' FROM certs") ||
	die "psql"
echo "   the database: $n (with cmp_load's one warm-up enrollment)"

err=$(field errors)
[ "${err:-1}" = 0 ] || die "$err enrollments failed"
echo "== stopping HAProxy, the instances and PostgreSQL (by pid)"
