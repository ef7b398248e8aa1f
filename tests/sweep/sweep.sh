#!/bin/sh
# sweep.sh - the fault sweep: a 3-key tc-redo Redo (9a 9c 9d) on the real
# stack (private pcscd, vpcd, vpiv cards, cmhost behind
# build/tools/faultproxy), one fault per run, then `raterm recover` with the
# card back (and cmhost restarted if it was killed), then the invariant:
#   every certificate the CM host issued in the run is on the card and
#   confirmed, or not on the card and rejected/revoked (waiting after the
#   recovery counts as broken: recovery had its chance); no key changed
#   (the public keys of 9a 9c 9d 9e as before); the journal has no open
#   operation (`raterm recover --list`); the audit log has a line for every
#   certificate issued; raterm never said "Nothing was issued" when the CM
#   host issued; no request went to the CM host twice (the proxy's log).
#
#   BUILD=build/x sh tests/sweep/sweep.sh [--sample] [--only REGEX] [--p15]
#
# --p15: the same over a PKCS#15 card (vp15 personalize --keys 3
# --sign-pin --so-pin, TCs on 01 and 03, a certificate in use on 02, as
# t_p15_update's): one update doing a Redo of 01 and 03 (03 signs with its
# own signature PIN) and an Add on 02, the SO PIN the operator credential,
# under a procedure with card_pins: 1 (the plan asks the PIN each key
# takes). The card is read by OpenSC (pkcs15-tool: every certificate its
# CDF lists must read, its serial counted on the card), the keys by vp15
# pubkey; the steps of --sample are the PKCS#15 writes (the certificate's
# EF, its CDF entry, the old EF's deletion, the Add's CDF entry ...).
#
# First a clean run counts the target card's APDUs (vpiv --trace) and the
# HTTP exchanges (the proxy's log). Then, without --sample, every APDU index
# x {drop: the card pulled, sw6f00, sw9000: a bare 9000, kill: raterm
# SIGKILLed while the card stalls there} and every HTTP exchange x
# {reset-before, reset-after, http500, truncate, garbage, badsig, delay,
# cmkill: cmhost SIGKILLed after the request was forwarded}. --sample runs
# a fixed list named by step (found in the clean run's trace: the first
# certificate's PUT DATA, its read-back, the test signature ...), the one
# tests/integ/t_sweep.sh runs. --only REGEX: the faults whose step or kind
# matches (grep -E).
#
# Prints one line per fault, "FAULT <step> <kind>: consistent" or
# "FAULT <step> <kind>: BROKEN (<why>)" (also when the fault never happened:
# its APDU or exchange not reached), and at the end exactly
# "sweep: N faults, N consistent, N broken"; exit status 1 on any broken.
# A broken run's files are kept in $T/broken/N (T is kept then).
. "$(dirname "$0")/../integ/lib.sh"
[ -x "$TOOLS/faultproxy" ] || skip_all "faultproxy not built (make tools)"

SAMPLE=0
ONLY=
P15=0
while [ $# -gt 0 ]; do
	case $1 in
	--sample) SAMPLE=1 ;;
	--only) ONLY=$2; shift ;;
	--p15) P15=1 ;;
	*) echo "usage: sweep.sh [--sample] [--only REGEX] [--p15]" >&2; exit 2 ;;
	esac
	shift
done
VP15=${VP15:-$BUILD/vp15}
if [ "$P15" = 1 ]; then
	need openssl pkcs15-tool
	[ -x "$VP15" ] || skip_all "vp15 not built"
	HOME=$T		# OpenSC's file cache
	export HOME
else
	need openssl yubico-piv-tool
fi

PKI=$T/pki
D=$T/cm
SERIAL=40000031
SLOTS="9a 9c 9d 9e"
if [ "$P15" = 1 ]; then
	SERIAL=5000031
	SLOTS="0 1 2"	# vp15 key references (iDs 01 02 03)
fi

# cmds FILE: the commands of a card trace, one "> HEX" a line (vpiv's
# lines as they are, vp15's "vp15 > HEX" without the name)
cmds() {
	sed -n 's/^\(vp15 \)\{0,1\}> /> /p' "$1"
}
TIMEOUT=4		# raterm --timeout: the proxy's delay is past it
PROXY_PID=
UPD_PID=
nfault=0
ncons=0
nbroken=0

sweep_cleanup() {
	[ -n "$UPD_PID" ] && kill -KILL "$UPD_PID" 2>/dev/null
	proxy_stop
	_lib_cleanup
}
trap 'sweep_cleanup' EXIT

# ---- set-up, once: PKI, CM host state, cards ---------------------------------------
test_pki
cmhost_init "$D" 5113 || finish
cp -a "$D" "$T/cm.clean"
officer_card "$T/officer.clean" 40000009
CONF=$T/raterm.yaml
station_conf "$CONF"
STATION_CONF=		# the URL is set here, per run (the proxy or cmhost)
PINS=$T/pins
if [ "$P15" = 1 ]; then
	run_ok "PKCS#15 TC card" p15_tc_card "$T/card.clean" "$SERIAL" || finish
	mkdir -p "$T/procedures.d"
	cp "$REPO"/conf/procedures.d/*.yaml "$T/procedures.d/"
	cat >"$T/procedures.d/p15-sweep.yaml" <<EOF
name: p15-sweep
description: PKCS#15 card - TCs replaced, a certificate added beside one in use
actions: [redo, add]
tc_controls: [chain, possession, binding]
profiles:
  01: piv-auth
  02: piv-auth
  03: piv-sign
subject: card
san: none
key_algorithms: [ECCP256]
card_pins: 1             # key 03's signature PIN: the plan asks it itself
ca_certificates:
  operator_credential: yes   # the SO PIN
EOF
	sed -i "s|^procedures: .*|procedures: $T/procedures.d|" "$CONF"
	printf 'signature=123456\ncard=123456\ncard2=654321\noperator=87654321\n' >"$PINS"
	UPD_ARGS="--procedure p15-sweep --action 01=redo --action 02=add --action 03=redo"
	CARD_ARG=vp15:
else
	run_ok "TC card" tc_card "$T/card.clean" "$SERIAL" || finish
	printf 'signature=123456\ncard=123456\ncard2=123456\noperator=default\n' >"$PINS"
	UPD_ARGS="--procedure tc-redo --action 9a=redo --action 9c=redo --action 9d=redo"
	CARD_ARG=
fi
[ "$_lib_fails" -eq 0 ] || finish

# url PORT: the station's CM host URL
url() {
	sed -i "s|http://127.0.0.1:[0-9]*/cmp|http://127.0.0.1:$1/cmp|" "$CONF"
}

# proxy_start AT KIND: faultproxy in front of cmhost ($PORT); PROXY_PORT
proxy_start() {
	rm -f "$R/proxy.port"
	"$TOOLS/faultproxy" --upstream "$PORT" --portfile "$R/proxy.port" \
	    --fault-at "$1" --fault "$2" --delay-ms $(((TIMEOUT + 4) * 1000)) \
	    --notify "$R/notify" --log "$R/proxy.log" --max-seconds 600 \
	    >>"$R/proxy.err" 2>&1 &
	PROXY_PID=$!
	_ps=0
	while [ ! -s "$R/proxy.port" ] && [ "$_ps" -lt 50 ]; do
		sleep 0.1
		_ps=$((_ps + 1))
	done
	PROXY_PORT=$(cat "$R/proxy.port" 2>/dev/null)
	[ -n "$PROXY_PORT" ]
}

proxy_stop() {
	if [ -n "$PROXY_PID" ]; then
		kill -TERM "$PROXY_PID" 2>/dev/null
		wait "$PROXY_PID" 2>/dev/null
	fi
	PROXY_PID=
}

# card_read DIR: each slot's certificate (yubico-piv-tool) into DIR/SLOT.pem,
# DIR/keys (slot and public key digest per line), DIR/serials (on the card);
# PKCS#15: card_read_p15
card_read() {
	if [ "$P15" = 1 ]; then
		card_read_p15 "$1"
		return
	fi
	mkdir -p "$1"
	: >"$1/keys"
	: >"$1/serials"
	for _s in $SLOTS; do
		if yubico-piv-tool -r "$RT" -a read-certificate -s "$_s" -o "$1/$_s.pem" \
		    >/dev/null 2>&1 && [ -s "$1/$_s.pem" ]; then
			_k=$(openssl x509 -in "$1/$_s.pem" -noout -pubkey 2>/dev/null | cksum | cut -d' ' -f1)
			openssl x509 -in "$1/$_s.pem" -noout -serial 2>/dev/null |
			    sed 's/^serial=//' | tr 'A-F' 'a-f' | sed 's/^0*//' >>"$1/serials"
		else
			_k=none
		fi
		echo "$_s $_k" >>"$1/keys"
	done
}

# card_read_p15 DIR: OpenSC's list of the card's certificates (DIR/p15.txt;
# a certificate the CDF lists that does not read goes into DIR/unreadable),
# DIR/keys (each key's public key digest, vp15 pubkey of the state file),
# DIR/serials (of every certificate on the card)
card_read_p15() {
	mkdir -p "$1"
	: >"$1/keys"
	pkcs15-tool -r "$RT" --list-certificates >"$1/p15.txt" 2>&1
	sed -n 's/^[[:space:]]*Encoded serial : [0-9A-F][0-9A-F] [0-9A-F][0-9A-F] *//p' \
	    "$1/p15.txt" | tr -d ' ' | tr 'A-F' 'a-f' | sed 's/^0*//' >"$1/serials"
	_nc=$(grep -c '^X.509 Certificate' "$1/p15.txt")
	_ns=$(grep -c 'Encoded serial' "$1/p15.txt")
	if [ "$_nc" -ne "$_ns" ] || [ "$_nc" -eq 0 ]; then
		echo "$_nc listed, $_ns read" >"$1/unreadable"
	else
		rm -f "$1/unreadable"
	fi
	for _s in $SLOTS; do
		echo "$_s $("$VP15" pubkey "$R/card.state" "$_s" 2>/dev/null | cksum |
		    cut -d' ' -f1)" >>"$1/keys"
	done
}

# the update: Redo 9a 9c 9d, in the background (UPD_PID), output in $R/update.txt
update_bg() {
	# shellcheck disable=SC2086
	"$RATERM" update -c "$CONF" -r "$RT" --officer-reader "$OFF" $UPD_ARGS \
	    --yes --timeout "$TIMEOUT" \
	    --pin-fd 3 3<"$PINS" >"$R/update.txt" 2>&1 </dev/null &
	UPD_PID=$!
}

# update_wait: waits (at most 150 s, then KILL) for the update; URC
update_wait() {
	_uw=0
	while kill -0 "$UPD_PID" 2>/dev/null && [ "$_uw" -lt 1500 ]; do
		sleep 0.1
		_uw=$((_uw + 1))
	done
	kill -KILL "$UPD_PID" 2>/dev/null
	wait "$UPD_PID"
	URC=$?
	UPD_PID=
}

# run_start [SERVE-ARG...]: fresh card, CM host state, journal; cmhost,
# proxy and the stack (the target card alone in the first reader pair, the
# faulty one; the officer in the second). RT, OFF.
run_start() {
	_at=$1
	_kind=$2
	shift 2
	R=$T/run
	rm -rf "$R" "$T/var" "$D"
	mkdir -p "$R" "$T/var"
	cp -a "$T/cm.clean" "$D"
	cp "$T/card.clean" "$R/card.state"
	cp "$T/officer.clean" "$R/officer.state"
	: >"$T/server.log"
	cmhost_start "$D" 900 || { RUN_ERR="cmhost did not start"; return 1; }
	proxy_start "$_at" "$_kind" || { RUN_ERR="faultproxy did not start"; return 1; }
	url "$PROXY_PORT"
	_sa=
	for _a in "$@" --trace "$R/trace.txt"; do
		_sa="$_sa --serve-arg $_a"
	done
	# shellcheck disable=SC2086
	stack_start --mode connect --readers 4 --card "$CARD_ARG$R/card.state" --card - \
	    --card "$R/officer.state" $_sa || { RUN_ERR="stack did not start"; return 1; }
	RT=$VPIV_READER0
	OFF=$VPIV_READER2
	return 0
}

run_stop() {
	proxy_stop
	stack_stop
	cmhost_stop
}

# ---- the clean run: APDUs and HTTP exchanges ------------------------------------------
run_start 0 reset-before || { fail "clean run" "$RUN_ERR"; finish; }
card_read "$T/before"
: >"$R/trace.txt"	# the count starts after the reads above
update_bg
update_wait
cp "$R/trace.txt" "$T/trace.txt"
cp "$R/proxy.log" "$T/http.txt"
cp "$R/update.txt" "$T/clean.txt"
card_read "$R/after"
run_stop
if [ "$URC" -eq 0 ] && grep -q "^Confirmed to the CM host" "$T/clean.txt"; then
	ok "clean run: $UPD_ARGS confirmed"
else
	fail "clean run" "exit $URC: $(tail -n 5 "$T/clean.txt")"
	finish
fi
NAPDU=$(cmds "$T/trace.txt" | grep -c .)
NHTTP=$(grep -c . "$T/http.txt")
ok "clean run: $NAPDU APDUs, $NHTTP HTTP exchanges ($(cut -d' ' -f2 "$T/http.txt" | tr '\n' ' '))"
expect_eq "clean run: no key changed" "$(cat "$T/before/keys")" "$(cat "$R/after/keys")"

# ins N: the name of APDU N of the clean run (by its INS)
ins() {
	_c=$(cmds "$T/trace.txt" | sed -n "${1}p" | cut -d' ' -f2)
	case $_c in
	??A4*) echo SELECT ;;
	??CB*) echo GET-DATA ;;
	??DB*) echo PUT-DATA ;;
	??20*) echo VERIFY ;;
	??87*) echo GEN-AUTH ;;
	??C0*) echo GET-RESPONSE ;;
	??47*) echo GEN-KEY ;;
	??F9*) echo ATTEST ;;
	??FD*) echo VERSION ;;
	??F8*) echo SERIAL ;;
	??B0*) echo READ-BINARY ;;
	??D6*) echo UPDATE-BINARY ;;
	??E0*) echo CREATE-FILE ;;
	??E4*) echo DELETE-FILE ;;
	??22*) echo MSE ;;
	??2A*) echo PSO ;;
	*) echo "INS-$(echo "$_c" | cut -c3-4)" ;;
	esac
}

# p15_steps: the steps of the PKCS#15 Redo 01, Add 02, Redo 03 in the
# clean run's trace (each write: CREATE FILE of the certificate's EF, its
# UPDATE BINARY, the CDF's UPDATE BINARY after SELECT 5015 4404, a Redo's
# DELETE FILE of the old EF, the read-back's READ BINARY, the test
# signature's PSO): SOV the SO PIN's VERIFY (reference 05); C1 C2 C3 the
# CREATE FILEs; U1 U2 the certificates' UPDATE BINARY; D1 D2 the CDF's;
# X1 the first DELETE FILE; RB1 the first READ BINARY after X1, PS1 the
# first PSO after it
p15_steps() {
	SOV=$(apdu_at '$2 ~ /^00200005/')
	C1=$(apdu_at '$2 ~ /^00E0/')
	C2=$(apdu_at '$2 ~ /^00E0/' 2)
	C3=$(apdu_at '$2 ~ /^00E0/' 3)
	U1=$(nth_after "$C1" '$2 ~ /^[01]0D6/')
	U2=$(nth_after "$C2" '$2 ~ /^[01]0D6/')
	D1=$(cdf_write_after "$C1")
	D2=$(cdf_write_after "$C2")
	X1=$(nth_after "$C1" '$2 ~ /^00E4/')
	RB1=$(nth_after "$X1" '$2 ~ /^00B0/')
	PS1=$(nth_after "$X1" '$2 ~ /^[01]02A/')
	CR=$(awk '$2 == "cr" { print $1; exit }' "$T/http.txt")
	CC=$(awk '$2 == "certConf" { print $1; exit }' "$T/http.txt")
	if [ -n "$SOV" ] && [ -n "$C1" ] && [ -n "$C2" ] && [ -n "$C3" ] &&
	    [ -n "$U1" ] && [ -n "$U2" ] && [ -n "$D1" ] && [ -n "$D2" ] &&
	    [ -n "$X1" ] && [ -n "$RB1" ] && [ -n "$PS1" ] && [ -n "$CR" ] &&
	    [ -n "$CC" ]; then
		ok "steps: SO PIN $SOV; Redo 01: EF $C1, written $U1, CDF $D1, old EF deleted $X1, read back $RB1, test signature $PS1; Add 02: EF $C2, written $U2, CDF $D2; Redo 03: EF $C3; cr exchange $CR, certConf $CC"
	else
		fail "steps not found in the clean run" "SOV=$SOV C=$C1/$C2/$C3 U=$U1/$U2 D=$D1/$D2 X1=$X1 RB1=$RB1 PS1=$PS1 CR=$CR CC=$CC"
		finish
	fi
}

# nth_after N AWK-CONDITION: the index of the first command after command N
# for which the condition on $2 holds
nth_after() {
	cmds "$T/trace.txt" | awk -v s="${1:-0}" "{ n++; if (n > s && $2) { print n; exit } }"
}

# cdf_write_after N: the index of the first UPDATE BINARY of the CDF (after
# a SELECT of 5015 4404) after command N
cdf_write_after() {
	cmds "$T/trace.txt" | awk -v s="${1:-0}" '{ n++; if (n > s && sel && $2 ~ /^[01]0D6/) { print n; exit }
	    if ($2 ~ /^00A4/) sel = ($2 ~ /^00A4080[04]0450154404/) }'
}

# apdu_at AWK-CONDITION [NTH]: the index of the NTH (default 1) command of the
# clean run's trace for which the condition on $2 (the command hex) holds
apdu_at() {
	cmds "$T/trace.txt" | awk -v nth="${2:-1}" "{ n++; if ($1 && ++k == nth) { print n; exit } }"
}

if [ "$P15" = 1 ]; then
	p15_steps
else
# the steps, from the clean run: W1/W2 the first APDU of the first/second
# certificate's PUT DATA (a command chain: CLA 10 then 00), W1E the last
W1=$(cmds "$T/trace.txt" | awk '{ n++; if ($2 ~ /^[01]0DB/ && !c) { print n; exit } c = ($2 ~ /^10DB/) }')
W2=$(cmds "$T/trace.txt" | awk '{ n++; if ($2 ~ /^[01]0DB/ && !c && ++w == 2) { print n; exit } c = ($2 ~ /^10DB/) }')
W1E=$(cmds "$T/trace.txt" | awk -v s="${W1:-0}" '{ n++; if (n >= s && $2 ~ /^00DB/) { print n; exit } }')
RB=$(cmds "$T/trace.txt" | awk -v s="${W1E:-0}" '{ n++; if (n > s && $2 ~ /^00CB/) { print n; exit } }')
TS=$(cmds "$T/trace.txt" | awk -v s="${W1E:-0}" '{ n++; if (n > s && $2 ~ /^[01]087/) { print n; exit } }')
# MK: the management key's authentication (its answer came in the cp)
MK=$(cmds "$T/trace.txt" | awk '{ n++; if ($2 ~ /^00870.9B/) { print n; exit } }')
CR=$(awk '$2 == "cr" { print $1; exit }' "$T/http.txt")
CC=$(awk '$2 == "certConf" { print $1; exit }' "$T/http.txt")
if [ -n "$W1" ] && [ -n "$W2" ] && [ -n "$W1E" ] && [ -n "$RB" ] && [ -n "$TS" ] &&
    [ -n "$MK" ] && [ -n "$CR" ] && [ -n "$CC" ]; then
	ok "steps: management key $MK, first write APDUs $W1-$W1E, read-back $RB, test signature $TS, second write $W2; cr exchange $CR, certConf $CC"
else
	fail "steps not found in the clean run" "MK=$MK W1=$W1 W1E=$W1E RB=$RB TS=$TS W2=$W2 CR=$CR CC=$CC"
	finish
fi
fi

# ---- one fault ---------------------------------------------------------------------------
# verdict STEP KIND WHY: records the line; WHY empty: consistent
verdict() {
	nfault=$((nfault + 1))
	if [ -z "$3" ]; then
		ncons=$((ncons + 1))
		echo "FAULT $1 $2: consistent"
	else
		nbroken=$((nbroken + 1))
		echo "FAULT $1 $2: BROKEN ($3)"
		mkdir -p "$T/broken"
		cp -a "$R" "$T/broken/$nfault"
		cp -a "$T/var" "$T/broken/$nfault/var" 2>/dev/null
		cp "$T/server.log" "$T/broken/$nfault/" 2>/dev/null
		KEEP=1
	fi
}

# check: the invariant after the recovery; prints why it is broken (nothing: consistent)
check() {
	_why=
	card_read "$R/end"
	if [ "$(cat "$R/end/keys")" != "$(cat "$T/before/keys")" ]; then
		_why="$_why; keys changed: $(diff "$T/before/keys" "$R/end/keys" | grep '^>' | tr '\n' ' ')"
	fi
	if [ "$P15" = 1 ]; then
		# every certificate the CDF lists reads (no entry without its
		# EF); the one in use on 02 stays beside an Add; a key Redo
		# left keeps a certificate (the old or the new: 4 at least
		# with the CA certificate)
		[ -f "$R/end/unreadable" ] &&
		    _why="$_why; OpenSC: certificates $(cat "$R/end/unreadable")"
		grep -qx 3002 "$R/end/serials" ||
		    _why="$_why; 02's certificate in use (3002) gone"
		[ "$(grep -c . "$R/end/serials")" -ge 4 ] ||
		    _why="$_why; $(grep -c . "$R/end/serials") certificates on the card"
	fi
	if ! cmhost_certs "$R/certs.json" --json; then
		echo "cmhost certs failed: $(head -n 1 "$R/certs.json")"
		return
	fi
	sed -n 's/.*"serial": "\([0-9a-fA-F]*\)".*"state": "\([a-z]*\)".*/\1 \2/p' \
	    "$R/certs.json" | tr 'A-F' 'a-f' | sed 's/^0*//' >"$R/issued"
	while read -r _ser _st; do
		if grep -qx "$_ser" "$R/end/serials"; then
			[ "$_st" = confirmed ] || _why="$_why; $_ser on the card, $_st"
		else
			case $_st in
			rejected | revoked) ;;
			*) _why="$_why; $_ser not on the card, $_st" ;;
			esac
		fi
		# the audit's last word on it says what is true
		_al=$(grep -i "serial=0*$_ser " "$T/var/audit.log" 2>/dev/null | tail -n 1 |
		    sed 's/.* result="//')
		if [ -z "$_al" ]; then
			_why="$_why; no audit line for $_ser"
		elif [ "$_st" = confirmed ] &&
		    echo "$_al" | grep -E -q -i 'fail|refus|reject|revok|not confirmed'; then
			_why="$_why; $_ser confirmed, audit says \"${_al%\"}\""
		elif [ "$_st" != confirmed ] &&
		    ! echo "$_al" | grep -E -q -i 'reject|revok'; then
			_why="$_why; $_ser $_st, audit says \"${_al%\"}\""
		fi
	done <"$R/issued"
	if [ -s "$R/issued" ] && grep -q "^Nothing was issued" "$R/update.txt"; then
		_why="$_why; update said nothing was issued"
	fi
	# a request is never sent twice (libcurl re-POSTs on a reused connection
	# that died before any answer byte unless its rewind fails)
	_dup=$(awk '{ n[$2]++ } END { for (b in n) if (n[b] > 1) printf "%s ", b }' "$R/proxy.log")
	[ -n "$_dup" ] && _why="$_why; sent twice: $_dup"
	"$RATERM" recover -c "$CONF" --list >"$R/list.txt" 2>&1 </dev/null
	grep -q "No incomplete operations" "$R/list.txt" ||
	    _why="$_why; journal open: $(grep -m1 'card ' "$R/list.txt")"
	[ "$RCRC" -eq 124 ] && _why="$_why; recover timed out"
	echo "${_why#; }"
}

# fault STEP KIND AT: one run. Card kinds (AT an APDU index): drop sw6f00
# sw9000 kill; HTTP kinds (AT an exchange): the proxy's faults, cmkill.
fault() {
	_step=$1
	_fk=$2
	_fat=$3
	if [ -n "$ONLY" ] && ! echo "$_step $_fk" | grep -E -q -- "$ONLY"; then
		return
	fi
	case $_fk in
	drop) set -- 0 none --drop-at "$_fat" ;;
	sw6f00) set -- 0 none --sw-at "$_fat:6F00" ;;
	sw9000) set -- 0 none --sw-at "$_fat:9000" ;;
	kill | cmstall) set -- 0 none --stall-at "$_fat:2000" ;;
	cmkill) set -- "$_fat" notify ;;
	*) set -- "$_fat" "$_fk" ;;
	esac
	_void=
	if ! run_start "$@"; then
		verdict "$_step" "$_fk" "set-up: $RUN_ERR"
		run_stop
		return
	fi
	update_bg
	case $_fk in
	kill)
		if wait_log "$VPIV_STACK_DIR/serve0.log" "stalling .* at APDU $_fat " 60; then
			kill -KILL "$UPD_PID" 2>/dev/null
		fi ;;
	cmstall)
		wait_log "$VPIV_STACK_DIR/serve0.log" "stalling .* at APDU $_fat " 60 &&
		    cmhost_stop KILL ;;
	cmkill)
		wait_log "$R/notify" "forwarded" 60 && cmhost_stop KILL ;;
	esac
	update_wait
	proxy_stop
	# the fault happened (else the run proves nothing: broken too)
	case $_fk in
	drop | sw6f00 | sw9000 | kill | cmstall)
		[ "$(cmds "$R/trace.txt" | grep -c .)" -ge "$_fat" ] || _void="APDU $_fat never sent" ;;
	cmkill) grep -q "\[notify\]" "$R/proxy.log" || _void="exchange $_fat never sent" ;;
	*) grep -q "\[$_fk" "$R/proxy.log" || _void="exchange $_fat never sent" ;;
	esac
	# the recovery: card back, cmhost back, straight to cmhost
	if [ "$_fk" = drop ]; then
		stack_toggle 0 >/dev/null 2>&1
		wait_card present "$RT" 10
	fi
	if [ -z "$_lib_cmhost_pid" ] || ! kill -0 "$_lib_cmhost_pid" 2>/dev/null; then
		cmhost_start "$D" 900
	fi
	url "$PORT"
	timeout -k 5 150 "$RATERM" recover -c "$CONF" -r "$RT" --officer-reader "$OFF" \
	    --pin-fd 3 3<"$PINS" >"$R/recover.txt" 2>&1 </dev/null
	RCRC=$?
	_why=$(check)
	[ -n "$_void" ] && _why="fault not applied: $_void${_why:+; $_why}"
	verdict "$_step" "$_fk" "$_why"
	run_stop
}

if [ "$SAMPLE" = 1 ] && [ "$P15" = 1 ]; then
	fault p15-cr-sent-answer-lost reset-after "$CR"
	fault p15-raterm-killed-at-the-so-pin kill "$SOV"
	fault p15-cert-ef-not-created sw6f00 "$C1"
	fault p15-cert-ef-card-pulled drop "$U1"
	fault p15-cert-ef-bare-9000 sw9000 "$U1"
	fault p15-cdf-write-sent-answer-lost kill "$D1"
	fault p15-cdf-write-failed-6F00 sw6f00 "$D1"
	fault p15-cdf-write-bare-9000 sw9000 "$D1"
	fault p15-redo-pulled-at-the-cdf-write drop "$D1"
	fault p15-redo-pulled-at-the-old-ef-deletion drop "$X1"
	fault p15-old-ef-not-deleted sw6f00 "$X1"
	fault p15-old-ef-select-bare-9000 sw9000 "$((X1 - 1))"
	fault p15-read-back-failed sw6f00 "$RB1"
	fault p15-test-signature-failed sw6f00 "$PS1"
	fault p15-test-signature-key-not-set sw9000 "$((PS1 - 1))"
	fault p15-test-signature-empty sw9000 "$PS1"
	fault p15-raterm-killed-between-writes kill "$((C2 - 1))"
	fault p15-add-ef-bare-9000 sw9000 "$U2"
	fault p15-add-pulled-before-its-cdf-entry drop "$D2"
	fault p15-add-cdf-write-sent-answer-lost kill "$D2"
	fault p15-cmhost-killed-before-certConf cmstall "$C3"
	fault p15-certConf-sent-answer-lost reset-after "$CC"
	fault p15-cmhost-killed-at-certConf cmkill "$CC"
elif [ "$SAMPLE" = 1 ]; then
	fault before-the-cr reset-before "$CR"
	fault cr-sent-answer-lost reset-after "$CR"
	fault cr-answer-truncated truncate "$CR"
	fault cr-answer-protection-broken badsig "$CR"
	fault cr-answer-http500 http500 "$CR"
	fault cr-answer-garbage garbage "$CR"
	fault cr-answer-late delay "$CR"
	fault raterm-killed-before-the-first-write kill "$MK"
	fault write-sent-answer-lost kill "$W1E"
	fault write-failed-6F00 sw6f00 "$W1E"
	fault write-bare-9000 sw9000 "$W1E"
	fault card-pulled-at-the-first-write drop "$W1E"
	fault after-the-first-write drop "$((W1E + 1))"
	fault read-back-failed sw6f00 "$RB"
	fault read-back-bare-9000 sw9000 "$RB"
	fault test-signature-failed sw6f00 "$TS"
	fault raterm-killed-between-writes kill "$((W2 - 1))"
	fault cmhost-killed-before-certConf cmstall "$W2"
	fault certConf-sent-answer-lost reset-after "$CC"
	fault cmhost-killed-at-certConf cmkill "$CC"
	fault certConf-answer-truncated truncate "$CC"
	fault certConf-answer-protection-broken badsig "$CC"
else
	i=1
	while [ "$i" -le "$NAPDU" ]; do
		for k in drop sw6f00 sw9000 kill; do
			fault "apdu-$i:$(ins "$i")" "$k" "$i"
		done
		i=$((i + 1))
	done
	i=1
	while [ "$i" -le "$NHTTP" ]; do
		b=$(awk -v i="$i" '$1 == i { print $2 }' "$T/http.txt")
		for k in reset-before reset-after http500 truncate garbage badsig delay cmkill; do
			fault "http-$i:$b" "$k" "$i"
		done
		i=$((i + 1))
	done
fi
echo "sweep: $nfault faults, $ncons consistent, $nbroken broken"
[ "$nbroken" -eq 0 ] || fail "sweep" "$nbroken of $nfault faults broke the invariant"
finish
