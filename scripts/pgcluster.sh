#!/bin/sh
# pgcluster.sh - a private PostgreSQL cluster for tests, demos and benches:
# initdb into a directory, a server listening on a Unix socket in that
# directory and on 127.0.0.1 at a port of its own, nothing else. Run as
# root, the cluster belongs to the unprivileged user `postgres` (PostgreSQL
# refuses to run as root); otherwise to the caller. See docs/scaling.md.
#
#   pgcluster.sh start DIR [--port P] [--timeout S]   prints the URL
#   pgcluster.sh stop DIR
#   pgcluster.sh url DIR                             postgresql://... URL
#   pgcluster.sh psql DIR [ARGS...]                  psql on the cluster
#   pgcluster.sh port FROM                           the first free port on
#                                                    127.0.0.1 from FROM on
#
# start: a new cluster when DIR/data does not exist (trust authentication
# on the socket and loopback only, database "cmhost"); a port picked free
# from 25432 unless --port; waits (bounded by --timeout, default 20 s)
# until the server answers. The server is stopped by its pid (DIR/data/
# postmaster.pid) with a fast shutdown, then SIGKILL after 10 s.
set -eu
BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$BIN/initdb" ] || { echo "pgcluster: PostgreSQL server not installed (make deps)" >&2; exit 1; }

usage() {
	sed -n '8,13p' "$0" | sed 's/^# *//' >&2
	exit 2
}

as_owner() {	# as_owner CMD...: runs CMD as the cluster's owner
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

port_free() {
	python3 -c 'import socket,sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

free_port() {	# free_port FROM: the first free loopback port from FROM on
	_p=$1
	while ! port_free "$_p"; do
		_p=$((_p + 1))
		[ "$_p" -lt 65000 ] || { echo "pgcluster: no free port" >&2; exit 1; }
	done
	echo "$_p"
}

[ $# -ge 2 ] || usage
if [ "$1" = port ]; then
	free_port "$2"
	exit 0
fi
cmd=$1
DIR=$2
shift 2
case $DIR in /*) ;; *) DIR=$(pwd)/$DIR ;; esac

case $cmd in
start)
	PORT=
	TMO=20
	while [ $# -gt 0 ]; do
		case $1 in
		--port) PORT=$2; shift 2 ;;
		--timeout) TMO=$2; shift 2 ;;
		*) usage ;;
		esac
	done
	mkdir -p "$DIR"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres "$DIR"
		chmod 0700 "$DIR"
	fi
	if [ ! -d "$DIR/data" ]; then
		as_owner "$BIN/initdb" -D "$DIR/data" -A trust -U cmhost -E UTF8 \
		    --no-instructions >"$DIR/initdb.log" ||
			{ cat "$DIR/initdb.log" >&2; exit 1; }
	fi
	[ -n "$PORT" ] || PORT=$(free_port 25432)
	echo "$PORT" >"$DIR/port"
	as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t "$TMO" \
	    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=on" start \
	    >/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
	as_owner "$BIN/psql" -h "$DIR" -p "$PORT" -U cmhost -d postgres -qAt \
	    -c "SELECT 1 FROM pg_database WHERE datname='cmhost'" | grep -q 1 ||
		as_owner "$BIN/createdb" -h "$DIR" -p "$PORT" -U cmhost cmhost
	echo "postgresql://cmhost@127.0.0.1:$PORT/cmhost"
	;;
stop)
	[ -f "$DIR/data/postmaster.pid" ] || exit 0
	pid=$(head -1 "$DIR/data/postmaster.pid")
	kill -INT "$pid" 2>/dev/null || exit 0
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$pid" 2>/dev/null || true
	;;
url)
	echo "postgresql://cmhost@127.0.0.1:$(cat "$DIR/port")/cmhost"
	;;
psql)
	as_owner "$BIN/psql" -h "$DIR" -p "$(cat "$DIR/port")" -U cmhost -d cmhost "$@"
	;;
*)
	usage
	;;
esac
