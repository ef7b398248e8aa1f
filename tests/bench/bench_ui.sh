#!/bin/sh
# bench_ui.sh - `make bench`: the officer's screen (raterm ui), figures only.
# A pre-personalized vpiv card with four keys and transport certificates,
# an officer card, the private pcscd and cmhost on loopback; the screen runs
# in tmux at 80x24 (TERM=screen).
#   - start-up: from launching `raterm ui` to the first full screen with the
#     Contents shown (the screen polled every 5 ms: the figure is that
#     coarse), median and minimum of BENCH_UI_RUNS (default 5), and the
#     peak RSS of the screen then; beside it `raterm show` on the same card
#     (runstat: median, peak RSS);
#   - bytes written to the terminal (tmux pipe-pane) from the start to the
#     end of a full Redo of the four keys typed by keys, and what that takes
#     at 9600 baud (10 bits per byte).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
export BUILD
RUNS=${BENCH_UI_RUNS:-5}
B=$BUILD/bench-ui
RATERM=$BUILD/raterm
VPIV=$BUILD/vpiv
CMHOST=$BUILD/cmhost
RUNSTAT=$BUILD/tools/runstat
STACK=$B/stack
PORT=${BENCH_UI_PORT:-18847}
SOCK=$B/tmux.sock

die() {
	echo "bench-ui: $*" >&2
	exit 1
}
command -v tmux >/dev/null 2>&1 || { echo "bench-ui: tmux not installed, skipped"; exit 0; }

rm -rf "$B"
mkdir -p "$B/var/journal" || die "cannot create $B"
sh "$REPO/scripts/mkpki.sh" "$B/pki" >/dev/null || die "test PKI"
"$CMHOST" init "$B/cmhost" --port "$PORT" >/dev/null || die "cmhost init"
"$VPIV" init "$B/officer.state" --serial 20000001 >/dev/null &&
"$VPIV" personalize "$B/officer.state" --slot 9c --alg eccp256 \
    --ca-cert "$B/cmhost/officer-ca.pem" --ca-key "$B/cmhost/officer-ca.key" \
    --subject "CN=raterm Demo Officer,O=raterm demo" --bind none >/dev/null ||
	die "officer card"
"$VPIV" init "$B/user.state" --serial 10000001 >/dev/null &&
"$VPIV" personalize "$B/user.state" \
    --ca-cert "$B/pki/transport-ca.pem" --ca-key "$B/pki/transport-ca.key" \
    --slot 9a --alg eccp256 --subject "CN=Card 10000001 Authentication,O=raterm bench" \
    --slot 9c --alg eccp256 --subject "CN=Card 10000001 Signature,O=raterm bench" \
    --slot 9d --alg rsa2048 --subject "CN=Card 10000001 Key Management,O=raterm bench" \
    --slot 9e --alg eccp256 --subject "CN=Card 10000001 Card Auth,O=raterm bench" \
    >/dev/null || die "user card"
cat >"$B/raterm.yaml" <<EOF
readers:
  officer: auto
  target: auto
officer:
  token: card
  slot: 9c
  officer_cas: $B/cmhost/officer-ca.pem
cmhost:
  url: http://127.0.0.1:$PORT/cmp
  trust: $B/cmhost/root.pem
transport_cas: $B/pki/transport-ca.pem
journal: $B/var/journal
audit: $B/var/audit.log
procedures: $REPO/conf/procedures.d
EOF

cleanup() {
	tmux -S "$SOCK" kill-server 2>/dev/null
	[ -f "$B/cmhost.pid" ] && kill "$(cat "$B/cmhost.pid")" 2>/dev/null
	sh "$REPO/scripts/stack.sh" stop "$STACK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
sh "$REPO/scripts/stack.sh" start "$STACK" --card "$B/officer.state" \
    --card "$B/user.state" >/dev/null || die "stack"
. "$STACK/env"
"$CMHOST" -c "$B/cmhost/cmhost.yaml" --pidfile "$B/cmhost.pid" >"$B/cmhost.log" 2>&1 &
i=0
while [ ! -s "$B/cmhost.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$B/cmhost.pid" ] || die "cmhost did not start"
GUID=$("$RATERM" show -r "$VPIV_READER1" --json | sed -n 's/.*"guid": *"\([0-9a-f]*\)".*/\1/p')
printf '%s\n' 010203040506070801020304050607080102030405060708 |
    "$CMHOST" mgmt-key -c "$B/cmhost/cmhost.yaml" --card "$GUID" --alg 3des \
    --key-fd 0 >/dev/null || die "cmhost mgmt-key"

tm() { tmux -S "$SOCK" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_screen REGEX [SECONDS]: polls the screen every 5 ms
wait_screen() {
	_end=$(($(now_ms) + ${2:-20} * 1000))
	while [ "$(now_ms)" -lt "$_end" ]; do
		tm capture-pane -p -t ui 2>/dev/null | grep -Eq -- "$1" && return 0
		sleep 0.005
	done
	echo "bench-ui: timed out waiting for /$1/" >&2
	return 1
}
start_ui() {
	tm kill-server 2>/dev/null
	tm -f /dev/null new-session -d -s ui -x 80 -y 24 \
	    "exec '$RATERM' ui -c '$B/raterm.yaml' 2>>'$B/ui-stderr.txt'"
	tm set-option -g escape-time 0 >/dev/null
}

# ---- start-up ----------------------------------------------------------------------
FIRST="9e +ECCP256 +Card 10000001 Card Auth.*Blank"
times=""
rss=""
r=0
while [ $r -lt "$RUNS" ]; do
	t0=$(now_ms)
	start_ui
	wait_screen "$FIRST" || exit 1
	t1=$(now_ms)
	times="$times $((t1 - t0))"
	pid=$(tm display-message -p -t ui '#{pane_pid}')
	rss=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null)
	tm send-keys -t ui F10
	r=$((r + 1))
done
sorted=$(echo $times | tr ' ' '\n' | sort -n)
med=$(echo "$sorted" | sed -n "$(((RUNS + 1) / 2))p")
min=$(echo "$sorted" | head -n 1)
echo "bench-ui: raterm ui to the first full screen (Contents of a 4-key TC card, 80x24):"
echo "  median_ms=$med min_ms=$min max_rss_kb=${rss:-?} (screen polled every 5 ms)"
tm kill-server 2>/dev/null
if [ -x "$RUNSTAT" ]; then
	echo "bench-ui: raterm show on the same card:"
	printf '  '
	"$RUNSTAT" "$RUNS" "raterm-show" -- "$RATERM" show -r "$VPIV_READER1" \
	    --transport-ca "$B/pki/transport-ca.pem"
fi

# ---- bytes for a Redo --------------------------------------------------------------
: >"$B/tty.bytes"
tm -f /dev/null new-session -d -s ui -x 80 -y 24 \
    "sleep 0.3; exec '$RATERM' ui -c '$B/raterm.yaml' 2>>'$B/ui-stderr.txt'"
tm set-option -g escape-time 0 >/dev/null
tm pipe-pane -o -t ui "cat >>'$B/tty.bytes'"
k() { tm send-keys -t ui "$@"; }
wait_screen "$FIRST" || exit 1
k Tab Enter
wait_screen "tc-redo +Pre" || exit 1
k Down Enter
wait_screen "Procedure: +\[tc-redo" || exit 1
k BTab r Down r Down r Down r
wait_screen "9e .*Redo" || exit 1
k Tab Tab
tm send-keys -t ui -l 123456
k F2
wait_screen "PIN of the card" 30 || exit 1
tm send-keys -t ui -l 123456
k Enter
wait_screen "Submit this plan" 30 || exit 1
k y
wait_screen "Second PIN of the card" 30 || exit 1
tm send-keys -t ui -l 123456
k Enter
wait_screen "Confirmed to the CM host" 60 || exit 1
k Enter
wait_screen "Update done: 4 of 4" 30 || exit 1
k F10
i=0
while [ "$(tm display-message -p -t ui '#{pane_dead}' 2>/dev/null)" != 1 ] &&
    tm has-session -t ui 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
tm kill-server 2>/dev/null
bytes=$(wc -c <"$B/tty.bytes")
secs=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b * 10 / 9600 }')
echo "bench-ui: bytes to the terminal for a full Redo of 4 keys by keys (start to quit):"
echo "  bytes=$bytes, at 9600 baud ${secs} s"
if grep -q 123456 "$B/tty.bytes"; then
	echo "bench-ui: the PIN was written to the terminal" >&2
	exit 1
fi
