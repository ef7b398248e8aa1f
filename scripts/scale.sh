#!/bin/sh
# scale.sh - several cmhost instances on one PostgreSQL database behind
# HAProxy, on loopback, for `make scale-demo`, tests/integ/t_cmhost_haproxy.sh
# and the scale benchmark (docs/scaling.md):
#
#   scale.sh start DIR [-n N] [--grace S] [--timeout S] [--cmhost BIN]
#   scale.sh stop DIR
#   scale.sh kill DIR I          SIGKILL instance I (1..N)
#   scale.sh restart DIR I       start instance I again (after kill)
#   scale.sh pg stop|start DIR   stop / start the PostgreSQL cluster
#   scale.sh health PORT S [--ok]  wait up to S seconds until
#                                127.0.0.1:PORT answers GET /health (with
#                                --ok: answers 200); exit 1 if it does not
#
# start: a private PostgreSQL cluster (scripts/pgcluster.sh, owned by the
# postgres user when run as root) in DIR/pg, a demo PKI and configuration
# (`cmhost init`) in DIR/cm with database.url, `cmhost db migrate`, N
# instances (default 2) on free loopback ports, each with its own
# DIR/cm/iI.yaml (listen.trusted_proxies 127.0.0.1, a JSON request log
# DIR/iI.log), and HAProxy on a free loopback port (DIR/haproxy.cfg:
# contrib/haproxy-cmhost.cfg with its loopback bind line, these instances as
# its servers and a 1 s check; its request log in DIR/haproxy.log). Everything runs under `timeout S` (default
# 600) and is stopped by its pid. Writes DIR/env, a file of shell
# assignments: URL (the CMP URL through HAProxy), HAPORT, N, PORT1..,
# PID1.., HAPID, CM (the cmhost directory), PGURL. DIR's parents must be
# traversable by the postgres user (/tmp is).
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
PGCLUSTER=$REPO/scripts/pgcluster.sh

die() {
	echo "scale: $*" >&2
	exit 1
}

# free_port FROM: the first free loopback port from FROM on
free_port() {
	sh "$PGCLUSTER" port "$1" || die "no free port from $1"
}

# wait_up PORT SECONDS [--ok]: until 127.0.0.1:PORT answers /health (any
# status; with --ok: 200)
wait_up() {
	python3 - "$1" "$2" "${3:-}" <<'PY'
import sys, time, urllib.request, urllib.error
port, limit, ok_only = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "--ok"
end = time.time() + limit
while time.time() < end:
    try:
        urllib.request.urlopen("http://127.0.0.1:%s/health" % port, timeout=1)
        sys.exit(0)
    except urllib.error.HTTPError:
        if not ok_only:
            sys.exit(0)
        time.sleep(0.1)
    except Exception:
        time.sleep(0.1)
sys.exit(1)
PY
}

stop_pid() {	# stop_pid PID: TERM, up to 5 s, then KILL
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	_i=0
	while kill -0 "$1" 2>/dev/null && [ "$_i" -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -KILL "$1" 2>/dev/null
	return 0
}

# start_instance I: instance I of DIR/env in the background, its pid kept
start_instance() {
	_y=$CM/i$1.yaml
	rm -f "$DIR/i$1.pid"
	timeout -k 5 "$TIMEOUT" "$CMHOST" -c "$_y" --pidfile "$DIR/i$1.pid" \
	    >>"$DIR/i$1.err" 2>&1 &
	_w=0
	while [ ! -s "$DIR/i$1.pid" ] && [ "$_w" -lt 100 ]; do
		sleep 0.1
		_w=$((_w + 1))
	done
	[ -s "$DIR/i$1.pid" ] || die "instance $1 did not start: $(tail -n 3 "$DIR/i$1.err")"
	eval "PID$1=$(cat "$DIR/i$1.pid")"
}

write_env() {
	{
		echo "URL=http://127.0.0.1:$HAPORT/cmp"
		echo "HAPORT=$HAPORT"
		echo "HAPID=$HAPID"
		echo "N=$N"
		echo "CM=$CM"
		echo "PGURL=$PGURL"
		echo "CMHOST=$CMHOST"
		echo "TIMEOUT=$TIMEOUT"
		_i=1
		while [ "$_i" -le "$N" ]; do
			eval "echo PORT$_i=\$PORT$_i; echo PID$_i=\$PID$_i"
			_i=$((_i + 1))
		done
	} >"$DIR/env"
}

cmd=${1:-}
[ $# -ge 2 ] || { sed -n '6,13p' "$0" | sed 's/^# *//' >&2; exit 2; }
shift
case $cmd in
pg)
	[ $# -ge 2 ] || die "usage: scale.sh pg stop|start DIR"
	DIR=$2
	case $1 in
	stop) sh "$PGCLUSTER" stop "$DIR/pg" ;;
	start) . "$DIR/env" && sh "$PGCLUSTER" start "$DIR/pg" --port \
	    "$(echo "$PGURL" | sed 's|.*:\([0-9]*\)/.*|\1|')" >/dev/null ;;
	*) die "pg stop|start" ;;
	esac
	exit $?
	;;
health)
	wait_up "$@"
	exit $?
	;;
esac
DIR=$1
shift

case $cmd in
start)
	N=2
	GRACE=600
	TIMEOUT=600
	CMHOST=$REPO/build/cmhost
	while [ $# -gt 0 ]; do
		case $1 in
		-n) N=$2; shift 2 ;;
		--grace) GRACE=$2; shift 2 ;;
		--timeout) TIMEOUT=$2; shift 2 ;;
		--cmhost) CMHOST=$2; shift 2 ;;
		*) die "unknown option $1" ;;
		esac
	done
	[ -x "$CMHOST" ] || die "$CMHOST not built (make)"
	CMHOST=$(cd "$(dirname "$CMHOST")" && pwd)/$(basename "$CMHOST")
	command -v haproxy >/dev/null || die "haproxy not installed (make deps)"
	mkdir -p "$DIR" && chmod 711 "$DIR" || die "cannot create $DIR"
	PGURL=$(sh "$PGCLUSTER" start "$DIR/pg" --timeout 30) || die "PostgreSQL cluster"
	CM=$DIR/cm
	P0=$(free_port $((21000 + $$ % 20000)))
	"$CMHOST" init "$CM" --port "$P0" >/dev/null || die "cmhost init"
	sed -i "s|^  path: cmhost.db|  url: \"$PGURL\"|; s|^  confirm_grace: [0-9]*|  confirm_grace: $GRACE|" \
	    "$CM/cmhost.yaml"
	"$CMHOST" db migrate -c "$CM/cmhost.yaml" >/dev/null || die "cmhost db migrate"
	HAPORT=$(free_port $((P0 + 100)))
	next=$P0
	i=1
	servers=
	while [ "$i" -le "$N" ]; do
		p=$(free_port "$next")
		next=$((p + 1))
		eval "PORT$i=$p"
		# the instance's port; the certificates name the URLs behind
		# HAProxy; the proxy's address trusted for X-Forwarded-For
		sed "s/^  port: [0-9]*/  port: $p/; s|http://127.0.0.1:[0-9]*/|http://127.0.0.1:$HAPORT/|g; s/^listen:$/listen:\n  trusted_proxies: [127.0.0.1]\n  max_connections_per_client: 512/" \
		    "$CM/cmhost.yaml" >"$CM/i$i.yaml"
		printf 'log:\n  format: json\n  file: %s\n' "$DIR/i$i.log" >>"$CM/i$i.yaml"
		start_instance "$i"
		servers="$servers	server cm$i 127.0.0.1:$p check
"
		i=$((i + 1))
	done
	# contrib/haproxy-cmhost.cfg with the loopback bind, these instances
	# and a 1 s check interval (up again after one good check)
	[ -f "$REPO/contrib/haproxy-cmhost.cfg" ] || die "contrib/haproxy-cmhost.cfg missing"
	SERVERS=$servers awk -v bind="	bind 127.0.0.1:$HAPORT" '
	    /^[ \t]*bind .* ssl / { next }
	    /^[ \t]*# bind 127\.0\.0\.1:/ { print bind; next }
	    /^[ \t]*server cm[0-9]/ { next }
	    /^[ \t]*default-server / { sub(/inter [0-9]+s/, "inter 1s");
	        sub(/rise [0-9]+/, "rise 1") }
	    { print }
	    END { printf "%s", ENVIRON["SERVERS"] }' "$REPO/contrib/haproxy-cmhost.cfg" \
	    >"$DIR/haproxy.cfg"
	grep -q "bind 127.0.0.1:$HAPORT" "$DIR/haproxy.cfg" ||
		die "contrib/haproxy-cmhost.cfg: no '# bind 127.0.0.1:' line to use"
	timeout -k 5 "$TIMEOUT" haproxy -f "$DIR/haproxy.cfg" -db >"$DIR/haproxy.log" 2>&1 &
	HAPID=$!
	wait_up "$HAPORT" 20 || die "HAProxy did not start: $(tail -n 3 "$DIR/haproxy.log")"
	write_env
	cat "$DIR/env"
	;;
stop)
	[ -f "$DIR/env" ] || exit 0
	. "$DIR/env"
	stop_pid "$HAPID"
	i=1
	while [ "$i" -le "$N" ]; do
		[ -s "$DIR/i$i.pid" ] && stop_pid "$(cat "$DIR/i$i.pid")"
		i=$((i + 1))
	done
	sh "$PGCLUSTER" stop "$DIR/pg"
	;;
kill)
	. "$DIR/env" || die "no $DIR/env"
	[ -s "$DIR/i$1.pid" ] || die "no instance $1"
	kill -KILL "$(cat "$DIR/i$1.pid")"
	;;
restart)
	. "$DIR/env" || die "no $DIR/env"
	start_instance "$1"
	write_env
	;;
*)
	die "unknown command $cmd"
	;;
esac
