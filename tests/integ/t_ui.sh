#!/bin/sh
# t_ui.sh - the officer's screen (raterm ui) in tmux at 80x24 on the real
# stack (a private pcscd, an officer card and a TC card, cmhost holding the
# card's management key):
#   the first screen: the card's rows with the TC names, the procedure
#     (the only one that fits is preselected), an empty Signature PIN;
#   Add on a TC row: disabled, the engine's reason on the status line;
#   a wrong Signature PIN: the error with the tries left, nothing issued;
#   resize to 100x40 and back, smaller than 80x24: a message;
#   a Redo of every TC key by keys (r, F2, card PIN, y, second PIN): every
#     row done, `raterm show` then lists the CM host's certificates;
#   the card changed by yubico-piv-tool and Reload shows the change;
#   the card pulled while the screen is open and put back;
#   the PINs typed never appear in any capture (scrollback included);
#   without a terminal: the usage and exit 2.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tmux.sh"
need openssl

test_pki
cmhost_init "$T/cm" 7331 || finish
officer_card "$T/officer.state" 40000019
run_ok "TC card" tc_card "$T/a.state" 40000011
station_conf "$T/raterm.yaml"
cmhost_start "$T/cm" || { fail "cmhost start" "$(tail -n 3 "$T/server.log")"; finish; }
stack_start --mode connect --card "$T/officer.state" --card "$T/a.state" || finish
OFF=$VPIV_READER0
TGT=$VPIV_READER1
run_ok "show the card" "$RATERM" show -r "$TGT" --json
GUID=$(sed -n 's/.*"guid": *"\([0-9a-f]*\)".*/\1/p' "$OUT")
run_ok "the CM host holds the card's management key" "$CMHOST" mgmt-key \
    -c "$T/cm/cmhost.yaml" --card "$GUID" --alg 3des --key-fd 3 3<<EOF
010203040506070801020304050607080102030405060708
EOF

# ---- without a terminal -------------------------------------------------------
run_rc "no terminal: exit 2" 2 "$RATERM"
expect_match "no terminal: says so" "needs a terminal" "$OUT"
run_rc "ui without a terminal: exit 2" 2 "$RATERM" ui -c "$T/raterm.yaml"

# ---- the first screen ------------------------------------------------------------
tmux_start LANG=C.UTF-8 -- "$RATERM" ui -c "$T/raterm.yaml"
tmux_wait "first screen: the card's serial" "serial 40000011" 20
tmux_wait "first screen: 9a with its TC" "9a +ECCP256 +Card 40000011 Auth +20[0-9-]+ +TC not checked +Blank"
expect_match "first screen: 9d RSA with its TC" "9d +RSA2048 +Card 40000011 KeyMgmt .*TC not checked" "$T/screen.txt"
expect_match "first screen: 9e with its TC" "9e +ECCP256 +Card 40000011 CardAuth .*TC not checked" "$T/screen.txt"
expect_match "first screen: the officer" "Officer: raterm Demo Officer" "$T/screen.txt"
expect_match "first screen: a procedure to choose" "Procedure: +\[\(choose one\)" "$T/screen.txt"
expect_match "first screen: empty Signature PIN" "Signature PIN: +\[ +\]" "$T/screen.txt"
expect_match "first screen: the key line" "F1Help +F2Submit +F5Reload +F10Quit" "$T/screen.txt"
expect_eq "first screen: 24 lines" 24 "$(wc -l <"$T/screen.txt")"
cp "$T/screen.txt" "$T/first.txt"

# ---- Add on a TC row: disabled with the reason ----------------------------------------
# the procedure: two fit a TC card (qualified-sign, tc-redo); Tab to it,
# choose tc-redo, Shift-Tab back to the Contents
tmux_keys Tab Enter
tmux_wait "the procedure list" "tc-redo +Pre-personalized card"
tmux_keys Down Enter
tmux_wait "tc-redo chosen" "Procedure: +\[tc-redo"
tmux_wait "its description" "verify the TCs, then replace them"
tmux_keys BTab
tmux_wait "Shift-Tab: back in the Contents" "EnterAction"
# the QC statements tc-redo lets the officer add: a checklist per key
tmux_keys c
tmux_wait "QC checklist of 9a" "\[ \] QcCompliance"
tmux_keys Enter
tmux_wait "QcCompliance added" "\[x\] QcCompliance"
tmux_keys Enter Escape
tmux_wait "QC: none left on 9a" "9a: QC statements added: none"
tmux_keys a
tmux_wait "Add on 9a refused, with the reason" "Add refused on slot 9a: the key holds a transport certificate"
tmux_keys Enter
tmux_wait "the dropdown: Add not allowed" "Add +\(not allowed\)"
expect_match "the dropdown: Redo allowed" "Redo +│" "$T/screen.txt"
tmux_keys Down Down Down
tmux_wait "the dropdown: the reason of Add on the status line" "Add refused on slot 9a"
tmux_keys Enter
tmux_wait "choosing Add: still open" "Add +\(not allowed\)"
tmux_keys Escape
tmux_wait_not "the dropdown closed" "not allowed"

# ---- resize ------------------------------------------------------------------------
tmux_resize 100 40
tmux_wait "100x40: the rows" "9e +ECCP256 +Card 40000011 CardAuth"
expect_eq "100x40: 40 lines" 40 "$(wc -l <"$T/screen.txt")"
expect_match "100x40: key line at the bottom" "F1Help" "$(printf '%s' "$T/screen.txt")"
tail -n 1 "$T/screen.txt" >"$T/last.txt"
expect_match "100x40: the key line is the last line" "F1Help" "$T/last.txt"
tmux_resize 70 20
tmux_wait "70x20: too small, said" "needs a terminal of at least 80x24"
tmux_resize 80 24
tmux_wait "back at 80x24" "9a +ECCP256 +Card 40000011 Auth"

# ---- a wrong Signature PIN: nothing issued ---------------------------------------------
for s in 1 2 3 4; do
	tmux_keys r Down
done
tmux_wait "Redo set on the four rows" "9e .*Redo"
tmux_keys F2
tmux_wait "Submit without a Signature PIN: asked for first" "Type the Signature PIN first"
tmux_type 654321
tmux_wait "the PIN field shows stars only" "Signature PIN: +\[\*{6} +\]"
tmux_keys F2
tmux_wait "the card's PIN asked (TC controls)" "PIN of the card"
tmux_type 123456
tmux_keys Enter
tmux_wait "the plan shown" "Submit this plan" 30
expect_match "plan: Redo 9a" "9a +Redo" "$T/screen.txt"
tmux_keys y
tmux_wait "wrong Signature PIN: the tries left" "wrong PIN: 2 tries left" 30
cmhost_certs "$T/certs0.txt"
expect_eq "wrong Signature PIN: nothing issued" 0 "$(grep -c 'piv-' "$T/certs0.txt")"
tmux_wait "the TC controls' results on the rows" "9a .*TC verified"
tmux_wait "the PIN field is empty again" "Signature PIN: +\[ +\]"
expect_match "the PIN field has the focus" "EnterDone" "$T/screen.txt"
expect_match "the officer's tries left in the header" "Officer: .*PIN 2 tries left" "$T/screen.txt"

# ---- Redo of every TC key ------------------------------------------------------------------
tmux_type 123456
tmux_keys F2
# the TC controls have run: the plan first, then the card's PIN again
# (the refused submit forgot it), then the second PIN
tmux_wait "the plan" "Submit this plan" 30
expect_match "the plan says what is asked after y" "4 keys. After y, asked: the PIN of the card; the card's" "$T/screen.txt"
tmux_keys y
tmux_wait "card PIN asked again" "PIN of the card in"
tmux_type 123456
tmux_keys Enter
tmux_wait "the second PIN asked" "Second PIN of the card" 30
tmux_type 123456
tmux_keys Enter
tmux_wait "the result dialog" "Confirmed to the CM host" 60
for s in 9a 9c 9d 9e; do
	expect_match "result: $s done" "$s +Redo +done +written to the card" "$T/screen.txt"
done
tmux_keys Enter
tmux_wait "status: update done" "Update done: 4 of 4 keys"
tmux_wait "the rows read again: done" "9e +ECCP256 +Card 40000011 CardAuth .* done"
expect_no_match "no TC left on the screen" "TC (not checked|verified)" "$T/screen.txt"
run_ok "raterm show after the update" "$RATERM" show -r "$TGT" --transport-ca "$PKI/transport-ca.pem"
expect_no_match "show: no TC left" " TC\$" "$OUT"
cmhost_certs "$T/certs.txt"
expect_eq "cmhost: four certificates confirmed" 4 "$(grep -c confirmed "$T/certs.txt")"

# ---- changed by yubico-piv-tool, Reload ------------------------------------------------------
if command -v yubico-piv-tool >/dev/null 2>&1; then
	run_ok "yubico-piv-tool deletes 9e's certificate" yubico-piv-tool -r "$TGT" \
	    -a delete-certificate -s 9e
	tmux_keys F5
	tmux_wait "Reload shows the change" "9e +ECCP256 +\(key without certificate\)"
else
	ok "yubico-piv-tool not installed: change by a peer not checked"
fi

# ---- the card pulled and put back -----------------------------------------------------------
stack_toggle 1
tmux_wait "card removed: said" "card removed|was removed" 10
tmux_keys s
tmux_wait "no submit for a removed card" "removed: put it back|removed"
stack_toggle 1
tmux_wait "card back: read again" "A card was put into" 10
tmux_wait "card back: its rows" "9a +ECCP256 +Card 40000011 Auth"

# ---- quit ------------------------------------------------------------------------------------
tmux_keys F10
if tmux_exited 10; then ok "F10 quits"; else fail "F10 quits" "still running"; fi
tmux_stop

touch "$T/ui-stderr.txt"
expect_no_match "no sanitizer report" "runtime error|AddressSanitizer|LeakSanitizer" "$T/ui-stderr.txt"

# ---- secrets ---------------------------------------------------------------------------------
expect_no_match "no PIN in any capture" "123456|654321" "$T/captures.txt"
expect_no_match "no PIN in the journal or the audit log" "123456|654321" "$T/var/audit.log"
finish
