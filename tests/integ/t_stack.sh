#!/bin/sh
# t_stack.sh - the private PC/SC stack itself: readers, cards, removal,
# injected faults, side-by-side instances, clean stop.
. "$(dirname "$0")/lib.sh"
need pcscd

SELECT_PIV=00A4040009A00000030800001000

stack_start --mode connect --readers 2 --card mem: || finish
S1=$VPIV_STACK_DIR
R0=$VPIV_READER0
R1=$VPIV_READER1
expect_eq "reader names" "vpiv 00 00|vpiv 00 01" "$R0|$R1"
run_ok "list readers" "$TOOLS/pcsc_wait" list
expect_match "card in reader 0" "^vpiv 00 00	card$" "$OUT"
expect_match "reader 1 empty" "^vpiv 00 01	empty$" "$OUT"
run_ok "SELECT PIV" apdu "$R0" "$SELECT_PIV"
expect_match "SELECT answers 9000" "9000$" "$OUT"
run_fail "no card in reader 1" apdu "$R1" "$SELECT_PIV"
expect_match "reader 1: no smart card" "NO_SMARTCARD" "$OUT"

# pull and re-insert (SIGUSR1 to vpiv serve)
stack_toggle 0
run_ok "card pulled" wait_card absent "$R0"
run_fail "APDU to pulled card fails" apdu "$R0" "$SELECT_PIV"
stack_toggle 0
run_ok "card re-inserted" wait_card present "$R0"
run_ok "SELECT after re-insert" apdu "$R0" "$SELECT_PIV"

# a second stack side by side: card pulled at APDU 2
stack_start --mode connect --card mem: --serve-arg --drop-at --serve-arg 2 || finish
S2=$VPIV_STACK_DIR
expect_eq "second stack has its own socket" "$S2/pcscd.sock" "$PCSCLITE_CSOCK_NAME"
# vpcd 3.3 returns the dropped APDU as an empty "success"; the next fails
run_fail "card pulled during APDU 2" apdu "$VPIV_READER0" "$SELECT_PIV" "$SELECT_PIV" "$SELECT_PIV"
expect_match "APDU 1 answered" "^[0-9A-F]*9000$" "$OUT"
expect_match "APDU 2: empty response" "^EMPTY$" "$OUT"
expect_match "APDU 3: transaction failed" "SCARD_E_NOT_TRANSACTED|REMOVED_CARD|COMM" "$OUT"
run_ok "reader empty after the drop" wait_card absent "$VPIV_READER0"
run_ok "pcscd still serves" "$TOOLS/pcsc_wait" list
stack_toggle 0
run_ok "re-inserted after the drop" wait_card present "$VPIV_READER0"
run_ok "card works again" apdu "$VPIV_READER0" "$SELECT_PIV"
expect_match "SELECT answers 9000 again" "9000$" "$OUT"
pid=$(cat "$S2/pcscd.pid")
stack_stop
if kill -0 "$pid" 2>/dev/null && ! grep -q '^[^)]*) Z' "/proc/$pid/stat" 2>/dev/null; then
	fail "stop ends pcscd" "pid $pid still running"
else
	ok "stop ends pcscd"
fi
expect_eq "stop removes socket and pid files" "" "$(ls "$S2" | grep -E '\.pid$|\.sock$')"

# the first stack was not disturbed
. "$S1/env"
run_ok "first stack still serves" apdu "$R0" "$SELECT_PIV"

# four readers; then a status word injected at APDU 1
stack_start --mode connect --readers 4 --card - --card - --card - --card mem: || finish
expect_eq "fourth reader name" "vpiv-1 00 01" "$VPIV_READER3"
run_ok "four readers" "$TOOLS/pcsc_wait" list
expect_eq "four readers listed" 4 "$(grep -c vpiv "$OUT")"
run_fail "empty reader 0" apdu "$VPIV_READER0" "$SELECT_PIV"
run_ok "card in reader 3" apdu "$VPIV_READER3" "$SELECT_PIV"

stack_start --card mem: --card mem: --serve-arg --sw-at --serve-arg 1:6A82 || finish
run_ok "injected SW" apdu "$VPIV_READER0" "$SELECT_PIV"
expect_eq "APDU 1 answered 6A82" 6A82 "$(cat "$OUT")"
run_ok "reader 1 not affected" apdu "$VPIV_READER1" "$SELECT_PIV"
expect_match "reader 1 answers 9000" "9000$" "$OUT"

if [ -x "$RATERM" ]; then
	run_ok "raterm readers" "$RATERM" readers
	expect_match "raterm lists vpiv 00 00" "vpiv 00 00" "$OUT"
fi
finish
