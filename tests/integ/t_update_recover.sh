#!/bin/sh
# t_update_recover.sh - the failure paths of `raterm update` and
# `raterm recover` through the real stack (private pcscd, vpiv cards, cmhost
# on a free loopback port, stopped by pid):
#   a wrong officer (Signature) PIN and a wrong target card PIN: a clear
#     error, the PIN retry counter down by exactly one (never retried),
#     nothing issued, the card unchanged;
#   an officer the CM host does not allow the profile: the CMP failure
#     reason, nothing issued, the card unchanged;
#   a software officer token (cmhost init's officer.key, passphrase from
#     --pin-fd): works, with the warning; yubico-piv-tool then reads the
#     new certificates and openssl verifies their chain;
#   the card pulled after issuance at its first write: the write's outcome
#     unknown, never rejected, no certConf, the operation open; with the
#     card back, recover reads it and rejects what is not on it;
#   cmhost stopped after issuance and before certConf: the lost connection
#     said, then (cmhost back) recover accepts what is on the card;
#   raterm killed (SIGKILL) while the card stalls (vpiv serve --stall-at)
#     in the write of the second certificate: recover accepts what is on
#     the card and rejects the rest.
# Every scenario checks the card (raterm show), the CM host's certificate
# states (cmhost certs), the journal / recover output and the audit log.
. "$(dirname "$0")/lib.sh"
need openssl
PKI=$T/pki
D=$T/cm
BG_PID=

stop_bg() {
	if [ -n "$BG_PID" ]; then
		kill -KILL "$BG_PID" 2>/dev/null
		wait "$BG_PID" 2>/dev/null
	fi
	BG_PID=
}
trap 'stop_bg; _lib_cleanup' EXIT

test_pki
cmhost_init "$D" 4271
if cmhost_start "$D"; then ok "cmhost serves on port $PORT"; else
	fail "cmhost start" "$(tail -n 3 "$T/server.log")"
	finish
fi

# retries READER: the PIN retries raterm show reports
retries() {
	"$RATERM" show -r "$1" 2>/dev/null | sed -n 's/^PIN: *\([0-9]*\) retr.*/\1/p'
}

# ---- cards ------------------------------------------------------------------------
officer_card "$T/officer.state" 40000009
for c in a:40000011 c:40000013 d:40000014 e:40000015 f:40000016 g:40000017 h:40000018 \
    i:40000021; do
	run_ok "TC card ${c%%:*}" tc_card "$T/${c%%:*}.state" "${c#*:}"
done

CONF=$T/raterm.yaml
station_conf "$CONF"
PINS=$T/pins
printf 'signature=123456\ncard=123456\ncard2=123456\noperator=default\n' > "$PINS"
UPD="update -c $CONF --procedure tc-redo --yes --pin-fd 3"

stack_start --mode connect --readers 4 --card "$T/officer.state" --card "$T/a.state" || finish
OFF=$VPIV_READER0
RA=$VPIV_READER1
run_ok "show card A" "$RATERM" show -r "$RA" --transport-ca "$PKI/transport-ca.pem"
cp "$OUT" "$T/a-before.txt"
expect_eq "card A: four TCs" 4 "$(grep -c ' TC$' "$T/a-before.txt")"
cmhost_certs "$T/certs0.txt"

# ---- 1. a wrong officer (Signature) PIN ---------------------------------------------
printf 'signature=999999\ncard=123456\ncard2=123456\noperator=default\n' > "$T/badsig"
expect_eq "officer card: 3 PIN retries before" 3 "$(retries "$OFF")"
# shellcheck disable=SC2086
run_fail "wrong officer PIN" "$RATERM" $UPD -r "$RA" --officer-reader "$OFF" \
    --action 9a=redo --action 9c=redo 3<"$T/badsig"
cp "$OUT" "$T/badsig.txt"
expect_match "wrong officer PIN: the officer's card named" "officer's card.*PIN_WRONG" "$T/badsig.txt"
expect_eq "wrong officer PIN: retries down by exactly one" 2 "$(retries "$OFF")"
cmhost_certs "$T/certs1.txt"
expect_eq "wrong officer PIN: nothing issued" "$(cat "$T/certs0.txt")" "$(cat "$T/certs1.txt")"
run_ok "show card A after the wrong officer PIN" "$RATERM" show -r "$RA" --transport-ca "$PKI/transport-ca.pem"
expect_eq "wrong officer PIN: card A unchanged" "$(grep '^9' "$T/a-before.txt")" "$(grep '^9' "$OUT")"
expect_eq "card A: PIN retries unchanged" 3 "$(retries "$RA")"

# ---- 1b. a wrong target card PIN -------------------------------------------------------
printf 'signature=123456\ncard=999999\ncard2=999999\noperator=default\n' > "$T/badcard"
# shellcheck disable=SC2086
run_fail "wrong card PIN" "$RATERM" $UPD -r "$RA" --officer-reader "$OFF" \
    --action 9a=redo --action 9c=redo 3<"$T/badcard"
cp "$OUT" "$T/badcard.txt"
expect_match "wrong card PIN: said" "PIN_WRONG" "$T/badcard.txt"
expect_eq "wrong card PIN: retries down by exactly one" 2 "$(retries "$RA")"
cmhost_certs "$T/certs1.txt"
expect_eq "wrong card PIN: nothing issued" "$(cat "$T/certs0.txt")" "$(cat "$T/certs1.txt")"
run_ok "show card A after the wrong card PIN" "$RATERM" show -r "$RA" --transport-ca "$PKI/transport-ca.pem"
expect_eq "wrong card PIN: card A unchanged" "$(grep '^9' "$T/a-before.txt")" "$(grep '^9' "$OUT")"

# ---- 2. an officer the CM host does not allow the profile ------------------------------
cmhost_stop
cp "$D/cmhost.yaml" "$T/cmhost.yaml.all"
sed -i "s/^    profiles: \['\*'\]/    profiles: [user]/" "$D/cmhost.yaml"
if grep -q "profiles: \[user\]" "$D/cmhost.yaml" && cmhost_start; then
	ok "cmhost: the officer may use profile 'user' only"
else
	fail "cmhost with a narrower role" "$(tail -n 3 "$T/server.log")"
fi
# shellcheck disable=SC2086
run_fail "officer not authorized" "$RATERM" $UPD -r "$RA" --officer-reader "$OFF" \
    --action 9a=redo --action 9c=redo 3<"$PINS"
cp "$OUT" "$T/unauth.txt"
expect_match "not authorized: the CMP failure reason" "rejection \\(notAuthorized\\): officer demo-officer may not use profile 'piv-(auth|sign)'" "$T/unauth.txt"
expect_match "not authorized: nothing issued" "^Nothing was issued" "$T/unauth.txt"
cmhost_certs "$T/certs1.txt"
expect_eq "not authorized: nothing at the CM host" "$(cat "$T/certs0.txt")" "$(cat "$T/certs1.txt")"
run_ok "show card A after the refusal" "$RATERM" show -r "$RA" --transport-ca "$PKI/transport-ca.pem"
expect_eq "not authorized: card A unchanged" "$(grep '^9' "$T/a-before.txt")" "$(grep '^9' "$OUT")"
expect_match "not authorized: audit" 'card="serial 40000011" slot=9a action=redo .*result="failed: not issued' "$T/var/audit.log"
expect_eq "officer card: the right PIN reset its counter" 3 "$(retries "$OFF")"
J=$(grep -l "card=serial%2040000011" "$T"/var/journal/*.journal 2>/dev/null | tail -n 1)
if [ -n "$J" ]; then
	expect_match "not authorized: journal closed (ABORT)" "step=abort" "$J"
else
	ok "not authorized: refused before anything was journaled"
fi
cmhost_stop
cp "$T/cmhost.yaml.all" "$D/cmhost.yaml"
if cmhost_start; then ok "cmhost back with the full role"; else
	fail "cmhost restart" "$(tail -n 3 "$T/server.log")"
	finish
fi

# ---- 3. a software officer token, then 4. third-party readers of the new certificates --
printf 'signature=%s\ncard=123456\ncard2=123456\noperator=default\n' "$(cat "$D/officer.pass")" >"$T/softpins"
# shellcheck disable=SC2086
run_ok "Redo with a software officer token" "$RATERM" $UPD -r "$RA" \
    --officer-token "$D/officer.key" --officer-cert "$D/officer.pem" \
    --action 9a=redo --action 9c=redo --action 9d=redo --action 9e=redo 3<"$T/softpins"
cp "$OUT" "$T/soft.txt"
expect_match "software token: warned" "software officer token.*not recommended" "$T/soft.txt"
for s in 9a 9c 9d 9e; do
	expect_match "software token: $s done" "^  $s +Redo +done +written to the card" "$T/soft.txt"
done
expect_match "software token: confirmed" "^Confirmed to the CM host" "$T/soft.txt"
run_ok "show card A after Redo" "$RATERM" show -r "$RA" --transport-ca "$PKI/transport-ca.pem"
cp "$OUT" "$T/a-after.txt"
expect_no_match "card A: no TC left" " TC\$" "$T/a-after.txt"
expect_eq "card A: four certificates from the CM host's CA" 4 "$(grep -c '^9[acde] .*raterm Demo Is' "$T/a-after.txt")"
cmhost_certs "$T/certs1.txt"
expect_eq "cmhost: card A's four confirmed" 4 "$(grep -c "confirmed.*Card 40000011" "$T/certs1.txt")"
expect_eq "audit: four lines for card A" 4 "$(grep -c 'card="serial 40000011" slot=9[acde] action=redo procedure="tc-redo" serial=[0-9a-f]* result="ok' "$T/var/audit.log")"
if command -v yubico-piv-tool >/dev/null 2>&1; then
	for s in 9a 9c 9d 9e; do
		run_ok "$s: yubico-piv-tool reads it" yubico-piv-tool -r "$RA" \
		    -a read-certificate -s "$s" -o "$T/ypt-$s.pem"
		run_ok "$s: openssl verifies the chain" openssl verify -CAfile "$D/root.pem" \
		    -untrusted "$D/ca-chain.pem" "$T/ypt-$s.pem"
		openssl x509 -in "$T/ypt-$s.pem" -noout -subject >"$OUT" 2>&1
		expect_match "$s: subject kept from the TC" "CN ?= ?Card 40000011 " "$OUT"
	done
else
	ok "yubico-piv-tool not installed: skipped"
fi
stack_stop
# ---- rehearsal: the APDUs of an update of a TC card -------------------------------------
# The target card sits alone in the first reader pair (the trace and the
# faults are that pair's), the officer card in the second.
# (a card of its own, with a serial of the same length as the others')
run_ok "TC card for the rehearsal" tc_card "$T/rehearsal.state" 40000019
stack_start --mode connect --readers 4 --card "$T/rehearsal.state" --card - \
    --card "$T/officer.state" --serve-arg --trace --serve-arg "$T/trace.txt" || finish
OFF=$VPIV_READER2
# shellcheck disable=SC2086
run_ok "rehearsal: Redo 9a 9c 9d" "$RATERM" $UPD -r "$VPIV_READER0" --officer-reader "$OFF" \
    --action 9a=redo --action 9c=redo --action 9d=redo 3<"$PINS"
stack_stop
# W1: the first write APDU of the first certificate, W2: of the second
W1=$(awk '/^> / { n++; if ($2 ~ /^[01]0DB/ && !c) { print n; exit } } /^> / { c = ($2 ~ /^10DB/) }' "$T/trace.txt")
W2=$(awk '/^> / { n++; if ($2 ~ /^[01]0DB/ && !c && ++w == 2) { print n; exit } } /^> / { c = ($2 ~ /^10DB/) }' "$T/trace.txt")
if [ -n "$W1" ] && [ -n "$W2" ]; then ok "rehearsal: writes start at APDU $W1 and $W2"; else
	fail "rehearsal: no write APDUs in the trace" "W1=$W1 W2=$W2"
	finish
fi

# ---- 5. the card pulled after issuance, at its first write --------------------------------
stack_start --mode connect --readers 4 --card "$T/c.state" --card - \
    --card "$T/officer.state" --serve-arg --drop-at --serve-arg "$W1" || finish
RC=$VPIV_READER0
OFF=$VPIV_READER2
# shellcheck disable=SC2086
run_fail "card C pulled at its first write (APDU $W1)" "$RATERM" $UPD -r "$RC" \
    --officer-reader "$OFF" --action 9a=redo --action 9c=redo --action 9d=redo 3<"$PINS"
cp "$OUT" "$T/pulled.txt"
# the write was sent and its answer lost: unknown, never rejected; the
# other keys are not written; no certConf; the operation stays open
expect_match "pulled: 9a outcome unknown, card removed" "^  9a +Redo +FAILED +outcome unknown.*CARD_REMOVED" "$T/pulled.txt"
expect_match "pulled: 9d not written" "^  9d +Redo +not run +not written" "$T/pulled.txt"
expect_no_match "pulled: nothing done" "^  9[acd] +Redo +done" "$T/pulled.txt"
expect_match "pulled: not confirmed, recover named" "^NOT confirmed to the CM host: run 'raterm recover'" "$T/pulled.txt"
J=$(grep -l "card=serial%2040000013" "$T"/var/journal/*.journal | tail -n 1)
expect_no_match "pulled: journal: no certConf" "step=confirm" "$J"
expect_no_match "pulled: journal stays open" "step=(end|abort)" "$J"
run_rc "pulled: recover --list shows it" 1 "$RATERM" recover -c "$CONF" --list
cmhost_certs "$T/certs5a.txt"
expect_eq "pulled: card C's three still waiting at the CM host" 3 "$(grep -E -c "waiting.*Card 40000013" "$T/certs5a.txt")"
# the card back: recover reads it and decides (the dropped write did not
# reach it: the TC is there, so the new certificate is rejected)
stack_toggle 0
wait_card present "$RC" 5
run_ok "recover with card C back" "$RATERM" recover -c "$CONF" -r "$RC" \
    --officer-reader "$OFF" --pin-fd 3 3<"$PINS"
expect_match "recover: 9a not on the card" "9a redo serial .*: reject \(not on the card\)" "$OUT"
run_ok "recover after the pull: nothing left" "$RATERM" recover -c "$CONF" --list
expect_match "pulled: no incomplete operation" "No incomplete operations" "$OUT"
cmhost_certs "$T/certs5.txt"
expect_eq "pulled: card C's three rejected at the CM host" 3 "$(grep -E -c "(rejected|revoked).*Card 40000013" "$T/certs5.txt")"
expect_eq "pulled: none of card C's confirmed or waiting" 0 "$(grep -E -c "(confirmed|waiting).*Card 40000013" "$T/certs5.txt")"
expect_eq "pulled: audit: three rejections" 3 "$(grep -c 'card="serial 40000013" slot=9[acd] action=redo .*result="recovered: rejected' "$T/var/audit.log")"
run_ok "show card C re-inserted" "$RATERM" show -r "$RC" --transport-ca "$PKI/transport-ca.pem"
expect_eq "pulled: card C keeps its four TCs" 4 "$(grep -c ' TC$' "$OUT")"
stack_stop

# ---- 6. cmhost stopped after issuance, before certConf; then recover --------------------
# The card stalls at its first write; meanwhile cmhost is killed.
stack_start --mode connect --readers 4 --card "$T/d.state" --card - \
    --card "$T/officer.state" --serve-arg --stall-at --serve-arg "$W1:3000" || finish
RD=$VPIV_READER0
OFF=$VPIV_READER2
# shellcheck disable=SC2086
"$RATERM" $UPD -r "$RD" --officer-reader "$OFF" --action 9a=redo --action 9c=redo \
    --action 9d=redo 3<"$PINS" >"$T/lost.txt" 2>&1 </dev/null &
BG_PID=$!
if wait_log "$VPIV_STACK_DIR/serve0.log" "stalling .* at APDU $W1"; then
	ok "card D stalls at its first write"
	cmhost_stop KILL
	ok "cmhost killed"
else
	fail "card D never stalled" "$(tail -n 3 "$VPIV_STACK_DIR/serve0.log")"
fi
wait "$BG_PID"
RCODE=$?
BG_PID=
expect_eq "lost: exit status 8 (the CM host)" 8 "$RCODE"
expect_match "lost: the connection named" "stays open in the journal .*certConf: .*Couldn't connect to server \[CMP_HTTP\]" "$T/lost.txt"
expect_match "lost: recover asked for" "NOT confirmed to the CM host: run 'raterm recover'" "$T/lost.txt"
expect_match "lost: 9a on the card, not confirmed" "^  9a +Redo +FAILED +not confirmed" "$T/lost.txt"
run_rc "lost: recover --list shows it" 1 "$RATERM" recover -c "$CONF" --list
expect_match "lost: the grace deadline named" "the CM host revokes what is not confirmed at [0-9-]+ [0-9]+:[0-9]+" "$OUT"
expect_match "lost: the operation listed" "card \"serial 40000014\", procedure tc-redo, last step confirm" "$OUT"
if cmhost_start; then ok "cmhost restarted (port $PORT)"; else
	fail "cmhost restart" "$(tail -n 3 "$T/server.log")"
	finish
fi
cmhost_certs "$T/certs6.txt"
expect_eq "lost: card D's three waiting at the CM host" 3 "$(grep -c "waiting.*Card 40000014" "$T/certs6.txt")"
run_fail "recover with a wrong officer PIN" "$RATERM" recover -c "$CONF" -r "$RD" \
    --officer-reader "$OFF" --pin-fd 3 3<"$T/badsig"
cp "$OUT" "$T/recover6bad.txt"
expect_match "recover, wrong PIN: the officer's card named" "not finished: .*officer's card.*PIN_WRONG" "$T/recover6bad.txt"
expect_eq "recover, wrong PIN: officer retries down by exactly one" 2 "$(retries "$OFF")"
cmhost_certs "$T/certs6b.txt"
expect_eq "recover, wrong PIN: still waiting at the CM host" 3 "$(grep -c "waiting.*Card 40000014" "$T/certs6b.txt")"
run_ok "recover with cmhost back" "$RATERM" recover -c "$CONF" -r "$RD" --officer-reader "$OFF" \
    --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/recover6.txt"
for s in 9a 9c 9d; do
	expect_match "recover: $s accepted (on the card)" "^  $s redo serial [0-9a-f]+: accept \(on the card\)" "$T/recover6.txt"
done
expect_match "recover: closed" "confirmed to the CM host: 3 accepted, 0 rejected; closed \(END\)" "$T/recover6.txt"
cmhost_certs "$T/certs6.txt"
expect_eq "recover: card D's three confirmed" 3 "$(grep -c "confirmed.*Card 40000014" "$T/certs6.txt")"
expect_eq "recover: audit" 3 "$(grep -c 'card="serial 40000014" slot=9[acd] action=redo .*result="recovered: accepted' "$T/var/audit.log")"
run_ok "show card D" "$RATERM" show -r "$RD" --transport-ca "$PKI/transport-ca.pem"
expect_eq "card D: three new certificates" 3 "$(grep -c '^9[acd] .*raterm Demo Is' "$OUT")"
expect_match "card D: 9e keeps its TC" "^9e .* TC\$" "$OUT"
run_ok "recover: nothing left" "$RATERM" recover -c "$CONF" --list
expect_match "nothing left: said" "No incomplete operations" "$OUT"
stack_stop

# ---- 7. raterm killed while the card writes the second certificate; then recover ---------
stack_start --mode connect --readers 4 --card "$T/e.state" --card - \
    --card "$T/officer.state" --serve-arg --stall-at --serve-arg "$W2:3000" || finish
RE=$VPIV_READER0
OFF=$VPIV_READER2
# shellcheck disable=SC2086
"$RATERM" $UPD -r "$RE" --officer-reader "$OFF" --action 9a=redo --action 9c=redo \
    --action 9d=redo 3<"$PINS" >"$T/killed.txt" 2>&1 </dev/null &
BG_PID=$!
if wait_log "$VPIV_STACK_DIR/serve0.log" "stalling .* at APDU $W2"; then
	# holding PINs and the card session: no core dump, not dumpable
	expect_match "no core dumps of raterm" "^Max core file size +0 +0 " \
	    "/proc/$BG_PID/limits"
	kill -KILL "$BG_PID"
	ok "raterm killed (SIGKILL) while card E writes 9c"
else
	fail "card E never stalled" "$(tail -n 3 "$VPIV_STACK_DIR/serve0.log")"
fi
wait "$BG_PID" 2>/dev/null
BG_PID=
sleep 3.2	# the card finishes the stalled APDU
J=$(grep -l "card=serial%2040000015" "$T"/var/journal/*.journal | tail -n 1)
expect_match "killed: journal: 9a written" "step=written .*slot=9a" "$J"
expect_match "killed: journal: the write of 9c announced" "step=write .*slot=9c" "$J"
expect_no_match "killed: journal: no end" "step=(end|abort)" "$J"
run_rc "killed: recover --list shows it" 1 "$RATERM" recover -c "$CONF" --list
expect_match "killed: the operation listed" "card \"serial 40000015\", procedure tc-redo, last step write" "$OUT"
run_ok "recover after the kill" "$RATERM" recover -c "$CONF" -r "$RE" --officer-reader "$OFF" \
    --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/recover7.txt"
expect_match "recover: 9a accepted (on the card)" "^  9a redo serial [0-9a-f]+: accept \(on the card\)" "$T/recover7.txt"
expect_match "recover: 9c decided by the card" "^  9c redo serial [0-9a-f]+: (accept \(on the card\)|reject \(not on the card\))" "$T/recover7.txt"
expect_match "recover: 9d rejected (never written)" "^  9d redo serial [0-9a-f]+: reject \(never written to the card\)" "$T/recover7.txt"
expect_match "recover: closed" "confirmed to the CM host: [12] accepted, [12] rejected; closed \(END\)" "$T/recover7.txt"
run_ok "show card E" "$RATERM" show -r "$RE" --transport-ca "$PKI/transport-ca.pem"
cp "$OUT" "$T/e-after.txt"
expect_match "card E: 9a new" "^9a .*raterm Demo Is" "$T/e-after.txt"
expect_match "card E: 9d keeps its TC" "^9d .* TC\$" "$T/e-after.txt"
cmhost_certs "$T/certs7.txt"
expect_match "cmhost: card E's 9a confirmed" "confirmed.*Card 40000015 Auth" "$T/certs7.txt"
expect_match "cmhost: card E's 9d rejected" "(rejected|revoked).*Card 40000015 KeyMgmt" "$T/certs7.txt"
# 9c: on the card and confirmed, or not on the card and rejected
if grep -q "^9c .* TC\$" "$T/e-after.txt"; then
	expect_match "9c not on the card: rejected at the CM host" "(rejected|revoked).*Card 40000015 Sign" "$T/certs7.txt"
	expect_match "9c: recover rejected it" "^  9c .*: reject" "$T/recover7.txt"
else
	expect_match "9c on the card: confirmed at the CM host" "confirmed.*Card 40000015 Sign" "$T/certs7.txt"
	expect_match "9c: recover accepted it" "^  9c .*: accept" "$T/recover7.txt"
fi
expect_eq "cmhost: nothing of card E waiting" 0 "$(grep -c "waiting.*Card 40000015" "$T/certs7.txt")"
expect_eq "audit: three recovered lines for card E" 3 "$(grep -c 'card="serial 40000015" slot=9[acd] action=redo .*result="recovered: ' "$T/var/audit.log")"
J=$(grep -l "card=serial%2040000015" "$T"/var/journal/*.journal | tail -n 1)
expect_match "killed: journal closed" "step=end" "$J"
stack_stop

# ---- 7b. raterm stopped while a write of the card fails; then recover ---------------------
# Card F stalls at the write of 9c and then refuses it (6A84, not executed):
# the journal announced the write, the card does not hold the certificate.
stack_start --mode connect --readers 4 --card "$T/f.state" --card - \
    --card "$T/officer.state" --serve-arg --stall-at --serve-arg "$W2:2000" \
    --serve-arg --sw-at --serve-arg "$W2:6A84" || finish
RF=$VPIV_READER0
OFF=$VPIV_READER2
# shellcheck disable=SC2086
"$RATERM" $UPD -r "$RF" --officer-reader "$OFF" --action 9a=redo --action 9c=redo \
    --action 9d=redo 3<"$PINS" >"$T/killed2.txt" 2>&1 </dev/null &
BG_PID=$!
if wait_log "$VPIV_STACK_DIR/serve0.log" "stalling .* at APDU $W2"; then
	# holding PINs and the card session: no core dump, not dumpable
	expect_match "no core dumps of raterm" "^Max core file size +0 +0 " \
	    "/proc/$BG_PID/limits"
	kill -TERM "$BG_PID"
	ok "raterm stopped (SIGTERM) while card F refuses the write of 9c"
else
	fail "card F never stalled" "$(tail -n 3 "$VPIV_STACK_DIR/serve0.log")"
fi
wait "$BG_PID" 2>/dev/null
BG_PID=
sleep 2.2
expect_match "stopped: says what is left open" "interrupted; the update is open in the journal \([0-9A-Za-z-]+\): run 'raterm recover'" "$T/killed2.txt"
# the next update of that card is refused until the operation is recovered
# shellcheck disable=SC2086
run_rc "stopped: the next update of card F refused" 9 "$RATERM" $UPD -r "$RF" \
    --officer-reader "$OFF" --action 9d=redo 3<"$PINS"
expect_match "stopped: the refusal names the operation" "incomplete update in the journal .*run 'raterm recover' first" "$OUT"
# without the card nothing is decided: what it holds is unknown
run_rc "recover without the card: left open" 1 "$RATERM" recover -c "$CONF" \
    -r "$VPIV_READER1" --officer-reader "$OFF" --pin-fd 3 3<"$PINS"
expect_match "without the card: the card asked for" "the card \\(serial 40000016\\) is needed" "$OUT"
cmhost_certs "$T/certs7b.txt"
expect_eq "without the card: card F's three still waiting" 3 "$(grep -c "waiting.*Card 40000016" "$T/certs7b.txt")"
run_ok "recover after the second kill" "$RATERM" recover -c "$CONF" -r "$RF" \
    --officer-reader "$OFF" --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/recover7b.txt"
expect_match "recover: F 9a accepted (on the card)" "^  9a redo serial [0-9a-f]+: accept \(on the card\)" "$T/recover7b.txt"
expect_match "recover: F 9c rejected (not on the card)" "^  9c redo serial [0-9a-f]+: reject \(not on the card\)" "$T/recover7b.txt"
expect_match "recover: F 9d rejected (never written)" "^  9d redo serial [0-9a-f]+: reject \(never written to the card\)" "$T/recover7b.txt"
expect_match "recover: F closed" "confirmed to the CM host: 1 accepted, 2 rejected; closed \(END\)" "$T/recover7b.txt"
run_ok "show card F" "$RATERM" show -r "$RF" --transport-ca "$PKI/transport-ca.pem"
cp "$OUT" "$T/f-after.txt"
expect_match "card F: 9a new" "^9a .*raterm Demo Is" "$T/f-after.txt"
expect_match "card F: 9c keeps its TC" "^9c .* TC\$" "$T/f-after.txt"
expect_match "card F: 9d keeps its TC" "^9d .* TC\$" "$T/f-after.txt"
cmhost_certs "$T/certs7b.txt"
expect_match "cmhost: F 9a confirmed" "confirmed.*Card 40000016 Auth" "$T/certs7b.txt"
expect_match "cmhost: F 9c rejected" "(rejected|revoked).*Card 40000016 Sign" "$T/certs7b.txt"
expect_match "cmhost: F 9d rejected" "(rejected|revoked).*Card 40000016 KeyMgmt" "$T/certs7b.txt"
expect_eq "audit: F 9c recovered: rejected" 1 "$(grep -c 'card="serial 40000016" slot=9c action=redo .*result="recovered: rejected - not on the card' "$T/var/audit.log")"
stack_stop

# ---- 8. readers from the station configuration (auto): no --officer-reader ----------------
# The target card is held in a transaction while the officer card is looked
# for: it must not be probed (that would wait for the transaction forever).
stack_start --mode connect --readers 4 --card "$T/officer.state" --card "$T/g.state" \
    --card "$T/h.state" || finish
RG=$VPIV_READER1
# shellcheck disable=SC2086
run_ok "officer card found automatically (two user cards, -r given)" \
    timeout 60 "$RATERM" $UPD -r "$RG" --action 9a=redo 3<"$PINS"
expect_match "auto officer: 9a done" "^  9a +Redo +done" "$OUT"
# shellcheck disable=SC2086
run_rc "two user cards and no -r: the target is asked for" 3 \
    timeout 60 "$RATERM" $UPD --action 9a=redo 3<"$PINS"
expect_match "no -r: said" "2 readers hold a matching card.*give -r" "$OUT"
stack_stop
stack_start --mode connect --readers 4 --card "$T/officer.state" --card "$T/h.state" || finish
# shellcheck disable=SC2086
run_ok "both readers found automatically" timeout 60 "$RATERM" $UPD --action 9a=redo \
    --action 9c=redo 3<"$PINS"
expect_match "auto readers: 9c done" "^  9c +Redo +done" "$OUT"
cmhost_certs "$T/certs8.txt"
expect_eq "auto readers: G and H confirmed" 3 \
    "$(grep -c "confirmed.*Card 4000001[78] \(Auth\|Sign\)" "$T/certs8.txt")"
stack_stop

# ---- 9. at a terminal: each secret asked once, in the officer's order ---------------------
# The card PIN for the TC controls (kept for the submit), the plan, the
# Signature PIN, Submit, then what the card needs (its second PIN, the
# operator credential).
stack_start --mode connect --readers 4 --card "$T/officer.state" --card "$T/i.state" || finish
run_ok "interactive update on a terminal" python3 "$REPO/tests/tools/pty_answer.py" \
    --answer 'PIN of the card.*: *$=123456' --answer 'Signature PIN.*: *$=123456' \
    --answer 'Submit .*\[y/N\] *$=y' --answer 'Second PIN.*: *$=123456' \
    --answer 'Operator credential.*: *$=default' -- \
    "$RATERM" update -c "$CONF" --procedure tc-redo --action 9a=redo --action 9c=redo
cp "$OUT" "$T/tty.txt"
expect_eq "terminal: the card PIN asked once" 1 "$(grep -c "^PIN of the card" "$T/tty.txt")"
expect_eq "terminal: the Signature PIN asked once" 1 "$(grep -c "^Signature PIN" "$T/tty.txt")"
expect_eq "terminal: the second PIN asked once" 1 "$(grep -c "^Second PIN" "$T/tty.txt")"
order=$(grep -n "^PIN of the card\|^Plan for\|^Signature PIN\|^Submit \|^Second PIN\|^Result" \
    "$T/tty.txt" | cut -d: -f2 | cut -c1-6 | tr '\n' ' ')
expect_eq "terminal: the officer's order" "PIN of Plan f Submit Signat Second Result " "$order"
expect_match "terminal: 9c done" "^  9c +Redo +done" "$T/tty.txt"
expect_no_match "terminal: no PIN echoed" "123456" "$T/tty.txt"
run_ok "recover: nothing left at the end" "$RATERM" recover -c "$CONF" --list
expect_match "nothing left at the end: said" "No incomplete operations" "$OUT"
stack_stop
finish
