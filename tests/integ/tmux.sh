# tmux.sh - driving the screen (raterm ui) through tmux, for t_ui*.sh; POSIX
# sh, sourced after lib.sh:
#
#   . "$(dirname "$0")/tmux.sh"
#   tmux_start [VAR=VALUE...] -- CMD...   # a tmux server of its own (socket
#                                         # in $T), one 80x24 window, CMD in it
#   tmux_keys KEY...                      # tmux send-keys (F2, Tab, Enter, ...)
#   tmux_type TEXT                        # literal text (send-keys -l)
#   tmux_wait NAME REGEX [SECONDS]        # check: the screen shows REGEX
#   tmux_wait_not NAME REGEX [SECONDS]    # check: ... stops showing it
#   tmux_snap FILE                        # the screen now into FILE
#   tmux_resize W H
#   tmux_exited [SECONDS]                 # true once CMD has ended
#   tmux_stop                             # kills the server (also at exit)
#
# escape-time is 0 (an Esc is an Esc at once). Every screen captured (with
# its scrollback) is appended to $T/captures.txt, so that a test can check
# that no PIN ever appeared. Waits poll the screen every 0.1 s up to a bound
# (default 15 s); no fixed sleeps.
need tmux
TMUX_SOCK=$T/tmux.sock
TMUX_W=80
TMUX_H=24
_tmux_up=0

tmux_stop() {
	if [ "$_tmux_up" = 1 ]; then
		tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
		_tmux_up=0
	fi
}
trap 'tmux_stop; _lib_cleanup' EXIT

_tm() {
	tmux -S "$TMUX_SOCK" "$@"
}

tmux_start() {
	_ts_env=
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		_ts_env="$_ts_env $1"
		shift
	done
	[ "${1:-}" = "--" ] && shift
	tmux_stop
	: >>"$T/captures.txt"
	# the command line as one shell word list, quoted for tmux's sh -c
	_ts_cmd=
	for _a in "$@"; do
		_ts_cmd="$_ts_cmd '$(printf '%s' "$_a" | sed "s/'/'\\\\''/g")'"
	done
	_tm -f /dev/null new-session -d -s ui -x "$TMUX_W" -y "$TMUX_H" \
	    "exec env$_ts_env$_ts_cmd 2>>'$T/ui-stderr.txt'" || return 1
	_tmux_up=1
	_tm set-option -g escape-time 0 >/dev/null
	_tm set-option -g remain-on-exit on >/dev/null
	_tm set-option -g status off >/dev/null
	_tm set-window-option -g aggressive-resize off >/dev/null 2>&1
	return 0
}

tmux_snap() {
	_tm capture-pane -p -t ui >"$1" 2>/dev/null
	{
		echo "---- capture"
		_tm capture-pane -p -S - -E - -t ui 2>/dev/null
	} >>"$T/captures.txt"
}

tmux_keys() {
	_tm send-keys -t ui "$@"
}

tmux_type() {
	_tm send-keys -t ui -l "$1"
}

tmux_resize() {
	_tm resize-window -t ui -x "$1" -y "$2" 2>/dev/null ||
		_tm resize-pane -t ui -x "$1" -y "$2"
}

# _tmux_poll REGEX SECONDS want(0 shown / 1 gone): 0 when reached
_tmux_poll() {
	_tp_i=0
	while :; do
		tmux_snap "$T/screen.txt"
		if grep -E -q -- "$1" "$T/screen.txt"; then
			[ "$3" = 0 ] && return 0
		else
			[ "$3" = 1 ] && return 0
		fi
		[ "$_tp_i" -ge "$(($2 * 10))" ] && return 1
		sleep 0.1
		_tp_i=$((_tp_i + 1))
	done
}

tmux_wait() {
	if _tmux_poll "$2" "${3:-15}" 0; then ok "$1"; else
		fail "$1" "no /$2/ on the screen within ${3:-15}s:"
		sed 's/^/      | /' "$T/screen.txt"
		[ -s "$T/ui-stderr.txt" ] && sed 's/^/      stderr| /' "$T/ui-stderr.txt" | tail -n 5
		return 1
	fi
}

tmux_wait_not() {
	if _tmux_poll "$2" "${3:-15}" 1; then ok "$1"; else
		fail "$1" "/$2/ still on the screen after ${3:-15}s:"
		sed 's/^/      | /' "$T/screen.txt"
		return 1
	fi
}

tmux_exited() {
	_te_i=0
	while [ "$_te_i" -lt "$((${1:-10} * 10))" ]; do
		[ "$(_tm display-message -p -t ui '#{pane_dead}' 2>/dev/null)" = 1 ] &&
			return 0
		sleep 0.1
		_te_i=$((_te_i + 1))
	done
	return 1
}

# tmux_snap_e FILE: the screen with its attributes (escape sequences)
tmux_snap_e() {
	_tm capture-pane -e -p -t ui >"$1" 2>/dev/null
}
