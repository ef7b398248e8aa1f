# shellcheck shell=sh
# lib.sh - shell functions the cmhost benches share (bench_cmhost.sh,
# bench_scale.sh): sourced, not run. The result lines are key=value words,
# one run a line, in the file $RUNS (set by the caller), each beginning
# "run=NAME" and holding "clients=N".

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

field() {	# field LINE NAME: the value of NAME= in LINE
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

med() {		# med RUN CLIENTS FIELD: the median over the runs of $RUNS
	grep "^run=$1 " "$RUNS" | grep " clients=$2 " |
	    tr ' ' '\n' | sed -n "s/^$3=//p" | sort -n |
	    awk '{ v[NR] = $1 } END { if (NR == 0) print "-";
		else if (NR % 2) print v[(NR + 1) / 2];
		else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

total() {	# total PATTERN FIELD: the sum over the runs of $RUNS matching PATTERN
	grep "$1" "$RUNS" | tr ' ' '\n' | sed -n "s/^$2=//p" |
	    awk '{ s += $1 } END { print s + 0 }'
}
