#!/bin/sh
# t_ui_p15.sh - the officer's screen on a PKCS#15 card, in tmux at 80x24 on
# the real stack (a private pcscd, vpcd, the officer's vpiv card, a vp15
# card personalized with two PINs and an SO PIN, cmhost on a free loopback
# port stopped by pid), OpenSC as the referee. The card: keys 01 and 03
# (the signature key, its own PIN) with TCs from the test transport CA,
# key 02 with a certificate in use; the transport CA as a CA certificate.
#   the Contents: each key once, the CA certificates in their own section;
#   Add on key 01 (a TC): refused with the engine's reason; on key 02:
#     enabled, and done by keys (TC controls with the card's PINs, the
#     plan, the signature PIN, the SO PIN typed in its dialog, the CA
#     certificates kept and the missing added): 02 and 02.1 on the screen;
#   Redo of exactly 02.1 by keys: the certificate in use untouched;
#   Replace CA certificate(s) by keys (C, the dialog, replace): the CA
#     step's state in the result, the card's CA certificates the CM host's;
#   pkcs15-tool --list-certificates after each shows the expected objects;
#   no PIN (card, signature, SO, officer) in any capture of the screen.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tmux.sh"
need pcscd pkcs15-tool openssl

VP15=${VP15:-$BUILD/vp15}
[ -x "$VP15" ] || skip_all "vp15 not built"
HOME=$T		# OpenSC's file cache
export HOME
SERIAL=5000002
PIN=123456		# vp15 personalize's PINs
SIGN_PIN=654321
SO_PIN=87654321
OFFICER_PIN=123456	# the officer card's Signature PIN

test_pki
D=$T/cm
cmhost_init "$D" 7335
if cmhost_start "$D"; then ok "cmhost serves on port $PORT"; else
	fail "cmhost start" "$(tail -n 3 "$T/server.log")"
	finish
fi

# ---- the cards ---------------------------------------------------------------------
officer_card "$T/officer.state" 40000019
CARD=$T/p15.state
run_ok "vp15 card: TCs on 01 and 03, a certificate in use on 02, the transport CA" \
    p15_tc_card "$CARD" "$SERIAL"

# the station: one procedure, for this card (chosen at once)
mkdir -p "$T/procedures.d"
cat >"$T/procedures.d/p15-update.yaml" <<EOF
name: p15-update
description: PKCS#15 card - TCs verified and replaced, certificates added, CA certificates
actions: [redo, add]
tc_controls: [chain, possession, binding]
profiles:
  01: piv-auth
  02: piv-auth
  03: piv-sign
subject: card
san: none
key_algorithms: [ECCP256]
card_pins: 2
ca_certificates:
  operator_credential: yes
  write: true
EOF
CONF=$T/raterm.yaml
station_conf "$CONF"
sed -i "s|^procedures: .*|procedures: $T/procedures.d|" "$CONF"

stack_start --readers 4 --card "$T/officer.state" --card - --card "vp15:$CARD" \
    --card - || finish
OFF=$VPIV_READER0
R=$VPIV_READER2

run_ok "raterm cacerts" "$RATERM" cacerts -c "$CONF" -o "$T/cacerts.pem"
NCA=$(grep -c 'BEGIN CERTIFICATE' "$T/cacerts.pem")
# certs WHEN N: pkcs15-tool lists N certificates
certs() {
	run_ok "pkcs15-tool --list-certificates ($1)" pkcs15-tool -r "$R" --list-certificates
	cp "$OUT" "$T/p15-$1.txt"
	expect_eq "$2 certificates ($1)" "$2" "$(grep -c '^X.509 Certificate' "$T/p15-$1.txt")"
}
certs before 4

# ---- the first screen: the Contents of a PKCS#15 card ------------------------------
tmux_start LANG=C NO_COLOR=1 -- "$RATERM" ui -c "$CONF" -r "$R" --officer-reader "$OFF"
tmux_wait "first screen: the card's serial" "PKCS#15 .*serial $SERIAL" 20
tmux_wait "key 01 with its TC" "01 +ECCP256 +Card $SERIAL Key 1 +20[0-9-]+ +TC not checked +Blank"
expect_match "key 02 with its certificate" "02 +ECCP256 +Card $SERIAL Key 2 " "$T/screen.txt"
expect_match "the keys' column" "Key +Alg +Certificate" "$T/screen.txt"
expect_match "the CA section's heading" "CA +CA certificates: 1 +Blank" "$T/screen.txt"
expect_match "the CA certificate in it" "\| +raterm Test Transport CA +20[0-9-]+" "$T/screen.txt"
expect_match "the procedure chosen at once" "Procedure: +\[p15-update" "$T/screen.txt"
expect_match "the key line: C for the CA certificates" "b/i/r/aSet +CReplCA" "$T/screen.txt"
expect_no_match "C locale: ASCII only" "[^ -~]" "$T/screen.txt"
expect_eq "first screen: 24 lines" 24 "$(wc -l <"$T/screen.txt")"

# sig_pin_submit: F2 without the Signature PIN moves to its field; the PIN
# typed there, F2 again
sig_pin_submit() {
	tmux_keys F2
	tmux_wait "Submit: the Signature PIN asked for first" "Type the Signature PIN first"
	tmux_type "$OFFICER_PIN"
	tmux_keys F2
}

# answer_until NAME END: answers the dialogs of a submit (the card's PIN,
# its signature PIN, the SO PIN, the CA question: keep) until END shows;
# $T/seen.txt lists them in order (pin, pin2, so, ca)
answer_until() {
	: >"$T/seen.txt"
	_n=0
	while [ $_n -lt 8 ]; do
		tmux_wait "$1: a dialog or the end" "$2|\+- (PIN of the card|Second PIN of the card|SO PIN|Replace CA certificate\(s\)) -" 60 ||
			return 1
		if grep -Eq -- "$2" "$T/screen.txt"; then
			return 0
		elif grep -q "+- SO PIN -" "$T/screen.txt"; then
			printf ' so' >>"$T/seen.txt"
			tmux_type "$SO_PIN"
		elif grep -q "+- Second PIN of the card -" "$T/screen.txt"; then
			printf ' pin2' >>"$T/seen.txt"
			tmux_type "$SIGN_PIN"
		elif grep -q "+- PIN of the card -" "$T/screen.txt"; then
			printf ' pin' >>"$T/seen.txt"
			tmux_type "$PIN"
		else
			printf ' ca' >>"$T/seen.txt"
			tmux_keys n
			tmux_wait_not "$1: the CA question answered (keep)" "keep them and add the missing"
			_n=$((_n + 1))
			continue
		fi
		tmux_wait "$1: typed, one star per character" "\[\*+ {30,}\]"
		tmux_keys Enter
		tmux_wait_not "$1: the PIN dialog closed" "\[\*+ {30,}\]"
		_n=$((_n + 1))
	done
	return 1
}

# ---- Add: refused on a TC, enabled on key 02 -----------------------------------------
tmux_keys a
tmux_wait "Add on 01 refused, with the reason" "Add refused on slot 01: the key holds a transport certificate"
tmux_keys Down Enter
tmux_wait "the dropdown of 02" "Redo"
expect_no_match "the dropdown of 02: Add allowed" "Add +\(not allowed\)" "$T/screen.txt"
tmux_keys Down Down Down Enter
tmux_wait "Add set on 02" "02 +ECCP256 +Card $SERIAL Key 2 .* Add"
sig_pin_submit
# the TC controls: the card's PIN, and the signature key's own PIN
answer_until "Add: TC controls" "Submit this plan"
expect_match "Add: the card's PIN asked for the TC controls" " pin" "$T/seen.txt"
expect_match "the plan: Add on 02" "02 +Add" "$T/screen.txt"
expect_match "the plan says the SO PIN is asked after y" "SO PIN" "$T/screen.txt"
tmux_keys y
answer_until "Add: after y" "\+- Result -"
expect_match "Add: the SO PIN asked (the CM host does not hold it)" " so" "$T/seen.txt"
expect_match "Add: whether to replace the CA certificates asked (kept)" " ca" "$T/seen.txt"
expect_match "result: 02 Add done" "02 +Add +done +written to the card, read back and tested" "$T/screen.txt"
expect_match "result: the CA certificates" "CA certificates +done +[0-9]+ CA certificate" "$T/screen.txt"
tmux_keys Enter
tmux_wait "status: update done" "Update done: 1 of 1 key, CA certificates"
tmux_wait "02 with two certificates" "02\.1 +Card $SERIAL Key 2 "
expect_match "02 itself" "02 +ECCP256 +Card $SERIAL Key 2 " "$T/screen.txt"
expect_match "the CA section: one more" "CA +CA certificates: $((1 + NCA)) .*CA done" "$T/screen.txt"
certs add $((5 + NCA))
run_ok "raterm show after Add" "$RATERM" show -r "$R"
expect_match "show: 02.1" "^02\.1 +ECCP256 +Card $SERIAL Key 2" "$OUT"

# ---- Redo of exactly 02.1 ----------------------------------------------------------------
# rows: 01, 02, 02.1 (or 02.1 first when the card lists the added one first)
ROW=$(grep -n "^| *02\.1 " "$T/screen.txt" | head -n 1 | cut -d: -f1)
ROW01=$(grep -n "^| *01 " "$T/screen.txt" | head -n 1 | cut -d: -f1)
if [ -n "$ROW" ] && [ -n "$ROW01" ]; then ok "02.1 on screen line $ROW"; else
	fail "02.1 on the screen" "ROW=$ROW ROW01=$ROW01"
	finish
fi
# the Contents has the focus again, on its first line
i=$ROW01
while [ "$i" -lt "$ROW" ]; do
	tmux_keys Down
	i=$((i + 1))
done
tmux_wait "02.1 chosen: its certificate on the status line" "02\.1: CN=Card $SERIAL Key 2"
tmux_keys r
tmux_wait "Redo set on 02.1" "02\.1: Redo"
expect_match "02.1 shows Redo" "02\.1 +Card $SERIAL Key 2 .* Redo" "$T/screen.txt"
sig_pin_submit
answer_until "Redo 02.1: TC controls" "Submit this plan"
expect_match "the plan: Redo on 02" "02 +Redo" "$T/screen.txt"
tmux_keys y
answer_until "Redo 02.1: after y" "\+- Result -"
tmux_wait "the result of Redo 02.1" "02.1 +Redo +done +written to the card, read back and tested" 60
tmux_keys Enter
tmux_wait "status: update done (Redo 02.1)" "Update done: 1 of 1 key"
certs "redo 02.1" $((5 + NCA))
expect_match "the certificate in use is still there" "Key 02 in use" "$T/p15-redo 02.1.txt"

# ---- Replace CA certificate(s) by keys ------------------------------------------------------
tmux_keys C
tmux_wait "the Replace CA certificate(s) dialog" "Replace the card's CA certificates"
expect_match "keep and add the missing offered" "Keep them, add the missing" "$T/screen.txt"
expect_match "the current choice: none" "No Replace CA certificate\(s\)" "$T/screen.txt"
tmux_keys Up Up Enter
tmux_wait "CA: replace chosen" "CA +CA certificates: [0-9]+ +replace all +Write"
sig_pin_submit
tmux_wait "the plan (CA certificates alone)" "Submit this plan" 30
expect_match "the plan: 0 keys, CA certificates, the operator credential after y" "0 keys, CA certificates. After y, asked: the operator credential" "$T/screen.txt"
expect_match "the plan: it is the card's SO PIN" "card's SO PIN\), unless the CM host" "$T/screen.txt"
tmux_keys y
answer_until "Replace CA: after y" "\+- Result -"
expect_eq "Replace CA: the SO PIN asked, nothing else" " so" "$(cat "$T/seen.txt")"
tmux_wait "the result: the CA step" "CA certificates +done +$NCA CA certificate" 60
expect_match "the result: replaced" "\(replaced\), read back" "$T/screen.txt"
tmux_keys Enter
tmux_wait "status: the CA step done" "Update done: CA certificates +done"
tmux_wait "the CA section: the CM host's" "CA +CA certificates: $NCA .*CA done"
expect_no_match "no transport CA left" "raterm Test Transport CA" "$T/screen.txt"
certs replace $((4 + NCA))
run_ok "pkcs15-tool --list-certificates: no transport CA" pkcs15-tool -r "$R" --list-certificates
expect_no_match "OpenSC: the transport CA gone" "Transport CA" "$OUT"

# ---- quit ------------------------------------------------------------------------------------
tmux_keys F10
if tmux_exited 10; then ok "F10 quits"; else fail "F10 quits" "still running"; fi
tmux_stop
run_ok "the journal: nothing open" "$RATERM" recover -c "$CONF" --list
touch "$T/ui-stderr.txt"
expect_no_match "no sanitizer report" "runtime error|AddressSanitizer|LeakSanitizer" "$T/ui-stderr.txt"

# ---- secrets ---------------------------------------------------------------------------------
expect_no_match "no PIN in any capture" "$PIN|$SIGN_PIN|$SO_PIN|$OFFICER_PIN" "$T/captures.txt"
expect_no_match "no PIN in the audit log" "$PIN|$SIGN_PIN|$SO_PIN|$OFFICER_PIN" "$T/var/audit.log"
finish
