#!/bin/sh
# stack.sh - a private PC/SC stack: pcscd (socket-activated, private socket)
# with vpcd readers and vpiv cards served by `vpiv serve`. See docs/stack.md.
#
#   stack.sh start DIR [--readers N] [--card STATE]... [--base-port P]
#                      [--serve-arg ARG]... [--mode listen|connect] [--timeout S]
#   stack.sh stop DIR
#   stack.sh env DIR          prints the env file (eval "$(stack.sh env DIR)")
#   stack.sh toggle DIR R     pulls / re-inserts the card in reader number R
#
# start: readers come in pairs (one vpcd DEVICENAME = two readers), so N is
# rounded up to an even number (default 2). Cards (--card, in order) go to
# readers 0, 1, 2 ...; a STATE of "-" leaves a reader empty, "mem:" is an
# in-memory blank card, anything else is a vpiv state file (created blank if
# missing); "vp15:STATE" puts a vp15 card (virtual PKCS#15 card, docs/vp15.md)
# there instead, served by `vp15 serve`: the two readers of a pair are
# served by one program, so a vp15 card's pair partner is a vp15 card too
# ("-" or "mem:" become vp15 cards there). --serve-arg passes an option to the `vpiv serve` of the first
# pair (readers 0 and 1), e.g. --serve-arg --drop-at --serve-arg 12.
# --mode listen (default): vpcd's reversed mode, the cards listen on
# 127.0.0.1 and vpcd connects to them, so nothing listens beyond loopback;
# cards are always present ("-" gives a blank in-memory card). --mode
# connect: vpcd listens (on all interfaces: the driver cannot be told
# otherwise) and the cards connect; needed for empty readers, pulled cards
# (toggle, --drop-at). See docs/stack.md.
# Ports are picked free on 127.0.0.1 unless --base-port P (pair k uses P+2k
# and P+2k+1). Waits (bounded by --timeout, default 10 s) until pcscd lists
# all readers and every reader with a card shows it present.
#
# DIR gets: conf/ (pcscd reader config), lib/ (driver copies), pcscd.sock,
# pcscd.log, pcscd.pid, serveK.log, serveK.pid, serveK.port, env.
# env sets PCSCLITE_CSOCK_NAME, VPIV_STACK_DIR and VPIV_READER0.. (names).
#
# Programs: $VPIV (default $BUILD/vpiv), $VP15 (default $BUILD/vp15), $SOCKACT and $PCSC_WAIT (default
# $BUILD/tools/...), BUILD defaults to "build". $VPCD_DRIVER overrides the
# driver path. STACK_DEBUG=1 runs pcscd with -d.
#
# The system pcscd (/run/pcscd) is never touched. stop kills by pid (TERM,
# then KILL after 5 s) and is safe to call from a trap, twice, or on a
# half-started DIR.

set -u

BUILD=${BUILD:-build}
VPIV=${VPIV:-$BUILD/vpiv}
VP15=${VP15:-$BUILD/vp15}
SOCKACT=${SOCKACT:-$BUILD/tools/sockact}
PCSC_WAIT=${PCSC_WAIT:-$BUILD/tools/pcsc_wait}
VPCD_DRIVER=${VPCD_DRIVER:-/usr/lib/pcsc/drivers/serial/libifdvpcd.so}
FRIENDLY=vpiv

die() {
	echo "stack.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '4,9p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$(pwd)" "$1" ;;
	esac
}

# alive PID: true while the process exists and is not a zombie.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	if [ -r "/proc/$1/stat" ]; then
		# state is the field after the parenthesised command name
		st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
		[ "$st" = Z ] && return 1
	fi
	return 0
}

# stop_pid FILE: TERM the pid in FILE, KILL it after 5 s, remove FILE.
stop_pid() {
	[ -f "$1" ] || return 0
	pid=$(cat "$1" 2>/dev/null)
	case $pid in
	'' | *[!0-9]*) rm -f "$1"; return 0 ;;
	esac
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		i=0
		while alive "$pid" && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if alive "$pid"; then
			echo "stack.sh: pid $pid ($1) ignored TERM, killing" >&2
			kill -KILL "$pid" 2>/dev/null
			i=0
			while alive "$pid" && [ $i -lt 20 ]; do
				sleep 0.1
				i=$((i + 1))
			done
		fi
	fi
	rm -f "$1"
}

cmd_stop() {
	dir=$1
	[ -d "$dir" ] || return 0
	# pcscd first, so it does not log a storm of vanished cards
	stop_pid "$dir/pcscd.pid"
	for f in "$dir"/serve*.pid; do
		[ -f "$f" ] && stop_pid "$f"
	done
	rm -f "$dir/pcscd.sock" "$dir"/serve*.port
	return 0
}

# friendly K: FRIENDLYNAME of pair K. pcscd would give two devices with the
# same FRIENDLYNAME the same reader names, so pairs after the first get
# their own: "vpiv", "vpiv-1", "vpiv-2", ...
friendly() {
	if [ "$1" -eq 0 ]; then echo "$FRIENDLY"; else echo "$FRIENDLY-$1"; fi
}

# reader_name K J: the name pcscd gives slot J of pair K.
reader_name() {
	printf '%s 00 %02d\n' "$(friendly "$1")" "$2"
}

start_fail() {
	echo "stack.sh: start failed: $*" >&2
	for f in "$dir"/serve*.log "$dir/pcscd.log"; do
		[ -f "$f" ] || continue
		echo "--- $f (last lines)" >&2
		tail -n 15 "$f" >&2
	done
	if [ -S "$dir/pcscd.sock" ]; then
		echo "--- readers" >&2
		PCSCLITE_CSOCK_NAME=$dir/pcscd.sock "$PCSC_WAIT" -t 1 list >&2
	fi
	cmd_stop "$dir"
	exit 1
}

cmd_start() {
	dir=$1
	shift
	readers=2
	base=0
	timeout=10

	ncards=0
	sargs=
	mode=listen
	while [ $# -gt 0 ]; do
		[ $# -ge 2 ] || usage
		case $1 in
		--readers) readers=$2 ;;
		--card) ncards=$((ncards + 1)); eval "card_$ncards=\$2" ;;
		--base-port) base=$2 ;;
		--serve-arg) sargs="$sargs $2" ;;
		--timeout) timeout=$2 ;;
		--mode) mode=$2 ;;
		*) usage ;;
		esac
		shift 2
	done
	case $readers in '' | *[!0-9]*) die "--readers wants a number" ;; esac
	case $base in '' | *[!0-9]*) die "--base-port wants a number" ;; esac
	[ "$readers" -ge 1 ] || die "--readers must be at least 1"
	case $mode in connect | listen) ;; *) die "--mode is connect or listen" ;; esac
	pairs=$(((readers + 1) / 2))
	[ $ncards -le $((pairs * 2)) ] || die "more cards ($ncards) than readers ($((pairs * 2)))"

	for p in "$VPIV" "$SOCKACT" "$PCSC_WAIT"; do
		[ -x "$p" ] || die "$p not found (build it: make $p, or set VPIV/BUILD)"
	done
	[ -f "$VPCD_DRIVER" ] || die "vpcd driver $VPCD_DRIVER not found (apt-get install vsmartcard-vpcd)"
	command -v pcscd >/dev/null 2>&1 || die "pcscd not found (apt-get install pcscd)"

	mkdir -p "$dir" || die "cannot create $dir"
	dir=$(cd "$dir" && pwd)
	[ -f "$dir/pcscd.pid" ] && die "$dir already has a running stack (stack.sh stop $dir)"
	rm -rf "${dir:?}/conf" "${dir:?}/lib"
	mkdir -p "$dir/conf" "$dir/lib"
	sock=$dir/pcscd.sock
	[ ${#sock} -lt 108 ] || die "socket path too long (max 107): $sock"

	# 1. the cards: one `vpiv serve` per pair of readers
	k=0
	while [ $k -lt $pairs ]; do
		a=$((2 * k + 1))
		b=$((2 * k + 2))
		sa=-
		sb=-
		[ $a -le $ncards ] && eval "sa=\$card_$a"
		[ $b -le $ncards ] && eval "sb=\$card_$b"
		prog=$VPIV
		case "$sa $sb" in
		vp15:* | *" vp15:"*)
			prog=$VP15
			[ -x "$VP15" ] || die "$VP15 not found (build it: make $VP15, or set VP15/BUILD)"
			sa=${sa#vp15:}
			sb=${sb#vp15:}
			;;
		esac
		case $sa in -|mem:|/*) ;; *) sa=$(abspath "$sa") ;; esac
		case $sb in -|mem:|/*) ;; *) sb=$(abspath "$sb") ;; esac
		port=0
		[ "$base" -ne 0 ] && port=$((base + 2 * k))
		extra=
		[ "$mode" = connect ] && extra=--connect
		[ $k -eq 0 ] && extra="$extra $sargs"
		rm -f "$dir/serve$k.port"
		# shellcheck disable=SC2086 # extra is a list of words
		"$prog" serve --port "$port" --portfile "$dir/serve$k.port" $extra \
		    "$sa" "$sb" </dev/null >"$dir/serve$k.log" 2>&1 &
		echo $! >"$dir/serve$k.pid"
		i=0
		while [ ! -s "$dir/serve$k.port" ]; do
			alive "$(cat "$dir/serve$k.pid")" || start_fail "$(basename "$prog") serve $k exited"
			[ $i -lt 100 ] || start_fail "$(basename "$prog") serve $k did not listen within 10 s"
			sleep 0.1
			i=$((i + 1))
		done
		port=$(cat "$dir/serve$k.port")

		# 2. its reader config: one DEVICENAME per driver file
		drv=$VPCD_DRIVER
		if [ $k -gt 0 ]; then
			drv=$dir/lib/libifdvpcd-$k.so
			cp "$VPCD_DRIVER" "$drv" || start_fail "cannot copy $VPCD_DRIVER"
		fi
		{
			echo "# written by stack.sh: readers $(reader_name $k 0), $(reader_name $k 1)"
			echo "FRIENDLYNAME \"$(friendly $k)\""
			if [ "$mode" = connect ]; then
				echo "DEVICENAME /dev/null:$port"
			else
				echo "DEVICENAME 127.0.0.1:$port"
			fi
			echo "LIBPATH $drv"
		} >"$dir/conf/vpiv$(printf %02d $k)"
		k=$((k + 1))
	done

	# 3. pcscd on a private socket (socket activation), kept in foreground
	dbg=
	[ "${STACK_DEBUG:-0}" = 1 ] && dbg=-d
	# shellcheck disable=SC2086
	"$SOCKACT" "$sock" -- pcscd -f $dbg -c "$dir/conf" </dev/null >"$dir/pcscd.log" 2>&1 &
	echo $! >"$dir/pcscd.pid"

	# 4. wait until the readers and cards are there
	PCSCLITE_CSOCK_NAME=$sock
	export PCSCLITE_CSOCK_NAME
	"$PCSC_WAIT" -t "$timeout" readers $((pairs * 2)) || start_fail "readers did not appear"
	{
		echo "# written by stack.sh start; source it"
		echo "export PCSCLITE_CSOCK_NAME='$sock'"
		echo "export VPIV_STACK_DIR='$dir'"
	} >"$dir/env"
	k=0
	while [ $k -lt $pairs ]; do
		for j in 0 1; do
			r=$((2 * k + j))
			name=$(reader_name $k $j)
			echo "export VPIV_READER$r='$name'" >>"$dir/env"
			st=-
			[ $((r + 1)) -le $ncards ] && eval "st=\$card_$((r + 1))"
			if [ "$st" != - ]; then
				"$PCSC_WAIT" -t "$timeout" present "$name" ||
				    start_fail "no card in $name"
			fi
		done
		k=$((k + 1))
	done
	return 0
}

cmd_toggle() {
	dir=$1
	r=$2
	case $r in '' | *[!0-9]*) die "toggle wants a reader number" ;; esac
	k=$((r / 2))
	sig=USR1
	[ $((r % 2)) -eq 1 ] && sig=USR2
	[ -f "$dir/serve$k.pid" ] || die "no vpiv serve for reader $r in $dir"
	kill -"$sig" "$(cat "$dir/serve$k.pid")"
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2
case $cmd in
start) cmd_start "$dir" "$@" ;;
stop) cmd_stop "$dir" ;;
env) cat "$dir/env" ;;
toggle) [ $# -eq 1 ] || usage; cmd_toggle "$dir" "$1" ;;
*) usage ;;
esac
