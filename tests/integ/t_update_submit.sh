#!/bin/sh
# t_update_submit.sh - `raterm update` through the real stack: a private
# pcscd with an officer card and TC cards (vpiv personalize), cmhost on a
# free loopback port (stopped by pid):
#   Redo on every TC slot: the card then holds certificates from the CM
#     host's CA for the same keys (yubico-piv-tool reads them, openssl
#     verify checks the chain), no TC left, cmhost shows them confirmed,
#     the audit log has one line per key, the journal ends the operation;
#   Issue: the certificate is saved on the station, the card unchanged;
#   a wrong card PIN stops before anything is issued;
#   the card pulled mid-write: the write's outcome unknown, no certConf,
#   the operation open; recover with the card back accepts what is on it
#   and rejects the rest,
#     the journal shows the operation;
#   cmhost stopped: a clear error, the card unchanged.
. "$(dirname "$0")/lib.sh"
need openssl
PKI=$T/pki
D=$T/cm

test_pki
cmhost_init "$D" 7919
if cmhost_start "$D"; then ok "cmhost serves on port $PORT"; else
	fail "cmhost start" "$(tail -n 3 "$T/server.log")"
	finish
fi

# ---- cards ------------------------------------------------------------------------
officer_card "$T/officer.state" 40000009
run_ok "TC card A" tc_card "$T/a.state" 40000001
run_ok "TC card B" tc_card "$T/b.state" 40000002
run_ok "TC card C" tc_card "$T/c.state" 40000003

CONF=$T/raterm.yaml
station_conf "$CONF"
PINS=$T/pins
printf 'signature=123456\ncard=123456\ncard2=123456\noperator=default\n' > "$PINS"

run_ok "init card in use E" "$VPIV" init "$T/e.state" --serial 40000005
run_ok "personalize card in use E" "$VPIV" personalize "$T/e.state" \
    --ca-cert "$PKI/issuing.pem" --ca-key "$PKI/issuing.key" \
    --slot 9a --subject "CN=Erin Example 9a,O=raterm tests" \
    --slot 9c --subject "CN=Erin Example 9c,O=raterm tests"
stack_start --mode connect --readers 4 --card "$T/officer.state" --card "$T/a.state" \
    --card "$T/b.state" --card "$T/e.state" || finish
OFF=$VPIV_READER0
RA=$VPIV_READER1
RB=$VPIV_READER2

# ---- Redo on every TC slot ----------------------------------------------------------
run_ok "Redo every TC slot" "$RATERM" update -c "$CONF" -r "$RA" --officer-reader "$OFF" \
    --procedure tc-redo --action 9a=redo --action 9c=redo --action 9d=redo \
    --action 9e=redo --yes --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/redo.txt"
for s in 9a 9c 9d 9e; do
	expect_match "redo $s done" "^  $s +Redo +done +written to the card, read back and tested \(serial [0-9a-f]+\)" "$T/redo.txt"
done
expect_match "redo confirmed" "^Confirmed to the CM host" "$T/redo.txt"
run_ok "show after Redo" "$RATERM" show -r "$RA" --transport-ca "$PKI/transport-ca.pem"
GUID_A=$(sed -n 's/^GUID: *\([0-9a-f]\{32\}\)$/\1/p' "$OUT")
expect_no_match "no TC left" " TC\$" "$OUT"
if command -v yubico-piv-tool >/dev/null 2>&1; then
	for s in 9a 9c 9d 9e; do
		yubico-piv-tool -r "$RA" -a read-cert -s "$s" >"$T/$s.pem" 2>"$T/ypt.err"
		run_ok "$s: yubico-piv-tool reads it, openssl verifies the chain" \
		    openssl verify -CAfile "$D/root.pem" -untrusted "$D/ca-chain.pem" "$T/$s.pem"
		openssl x509 -in "$T/$s.pem" -noout -subject >"$OUT" 2>&1
		expect_match "$s: subject from the TC" "CN ?= ?Card 40000001 " "$OUT"
	done
else
	ok "yubico-piv-tool not installed: chain checked through raterm show only"
fi
run_ok "cmhost certs" "$CMHOST" certs -c "$D/cmhost.yaml"
cp "$OUT" "$T/certs.txt"
expect_eq "four certificates confirmed" 4 "$(grep -c "confirmed" "$T/certs.txt")"
# the CM host learns the card (id-it-raterm-cardId: the GUID, as for its
# management keys) and the CARD column lines up with its heading
expect_eq "cmhost: card A's GUID in the CARD column" 4 \
    "$(grep -cE "confirmed +piv-[a-z]+ +[^ ]+ +${GUID_A:-nx} " "$T/certs.txt")"
expect_eq "cmhost: CARD column aligned" \
    "$(awk 'NR == 1 { print index($0, " CARD ") + 1 }' "$T/certs.txt")" \
    "$(awk -v g="${GUID_A:-nx}" 'index($0, g) { print index($0, g); exit }' "$T/certs.txt")"
cmhost_certs "$T/certs.json" --json
expect_eq "cmhost --json: the card" 4 "$(grep -c "\"card\": \"${GUID_A:-nx}\"" "$T/certs.json")"
if command -v sqlite3 >/dev/null 2>&1; then
	sqlite3 "$D/cmhost.db" "SELECT detail FROM audit" >"$T/cmaudit.txt" 2>&1
	expect_match "cmhost audit: the card" "^card ${GUID_A:-nx}: CN=Card 40000001 " "$T/cmaudit.txt"
fi
expect_eq "audit: four lines" 4 "$(grep -c 'card="serial 40000001" slot=9[acde] action=redo procedure="tc-redo" serial=[0-9a-f]* result="ok' "$T/var/audit.log")"
expect_no_match "audit: never a PIN" "123456" "$T/var/audit.log"
expect_eq "journal: the operation ended" 1 "$(grep -l ' step=end' "$T"/var/journal/*.journal 2>/dev/null | wc -l)"

# ---- Issue: saved on the station, the card unchanged --------------------------------
run_ok "Issue on 9a" "$RATERM" update -c "$CONF" -r "$RB" --officer-reader "$OFF" \
    --procedure tc-redo --action 9a=issue --yes --pin-fd 3 3<"$PINS"
expect_match "issue: saved" "^  9a +Issue +done +issued, saved as $T/var/issued/serial-40000002-9a-[0-9a-f]+\.pem" "$OUT"
F=$(ls "$T"/var/issued/serial-40000002-9a-*.pem 2>/dev/null | head -n 1)
run_ok "issue: the saved certificate verifies" openssl verify -CAfile "$D/root.pem" \
    -untrusted "$D/ca-chain.pem" "$F"
run_ok "show after Issue" "$RATERM" show -r "$RB" --transport-ca "$PKI/transport-ca.pem"
expect_match "issue: the TC is still on the card" "^9a +ECCP256 +Card 40000002 Auth .* TC\$" "$OUT"
cmhost_certs "$T/certs.txt"
expect_eq "issue: confirmed at the CM host" 5 "$(grep -c "confirmed" "$T/certs.txt")"

# ---- a card without TCs (renew): possession proven by the card's keys ----------------
printf 'signature=123456\ncard=123456\noperator=default\n' > "$T/pins1"
run_ok "renew: Redo 9a and 9c of a card in use" "$RATERM" update -c "$CONF" -r "$VPIV_READER3" \
    --officer-reader "$OFF" --procedure renew --action 9a=redo --action 9c=redo --yes \
    --pin-fd 3 3<"$T/pins1"
expect_match "renew: 9a done" "^  9a +Redo +done +written to the card" "$OUT"
expect_match "renew: 9c done" "^  9c +Redo +done +written to the card" "$OUT"
J=$(grep -l "card=serial%2040000005" "$T"/var/journal/*.journal | head -n 1)
expect_match "renew: POPO signed by the card's keys" "step=request .*POPO%20signature" "$J"
run_ok "show after renew" "$RATERM" show -r "$VPIV_READER3"
expect_match "renew: issued by the CM host's CA" "^9a +ECCP256 +Erin Example 9a +raterm Demo Is" "$OUT"
cmhost_certs "$T/certs.txt"
expect_eq "renew: confirmed at the CM host" 2 "$(grep -c "confirmed.*Erin Example" "$T/certs.txt")"

# ---- a wrong card PIN: nothing issued -----------------------------------------------
printf 'signature=123456\ncard=123456\ncard2=000000\noperator=default\n' > "$T/badpins"
run_rc "wrong second card PIN" 5 "$RATERM" update -c "$CONF" -r "$RB" --officer-reader "$OFF" \
    --procedure tc-redo --action 9c=redo --yes --pin-fd 3 3<"$T/badpins"
expect_match "wrong PIN: named" "second PIN of the card: .*\[PIN_WRONG" "$OUT"
cmhost_certs "$T/certs2.txt"
expect_eq "wrong PIN: nothing issued" "$(wc -l <"$T/certs.txt")" "$(wc -l <"$T/certs2.txt")"
run_ok "show after the wrong PIN" "$RATERM" show -r "$RB" --transport-ca "$PKI/transport-ca.pem"
expect_match "wrong PIN: the TC stays" "^9c +ECCP256 +Card 40000002 Sign .* TC\$" "$OUT"

# ---- --batch: two cards in one job, one officer session --------------------------------
cat > "$T/job.yaml" <<EOF2
# the officer's card from the job; PINs from --pin-fd
officer:
  reader: "$OFF"
cards:
  - reader: "$RB"
    procedure: tc-redo
    actions: {9d: redo}
  - reader: "$VPIV_READER3"
    procedure: renew
    actions:
      9c: redo
EOF2
run_ok "--batch: two cards submitted" "$RATERM" update -c "$CONF" --batch "$T/job.yaml" --yes \
    --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/batch.txt"
expect_match "batch: card 1 header" "^== Card 1 of 2 \($T/job.yaml:5\): reader \"$RB\", procedure tc-redo ==" "$T/batch.txt"
expect_match "batch: card 1 9d done" "^  9d +Redo +done +written to the card, read back and tested" "$T/batch.txt"
expect_match "batch: card 2 9c done" "^  9c +Redo +done +written to the card, read back and tested" "$T/batch.txt"
expect_eq "batch: both confirmed" 2 "$(grep -c '^Confirmed to the CM host' "$T/batch.txt")"
expect_match "batch: summary" "^Job $T/job.yaml: 2 cards, 2 done, 0 failed, 0 not run" "$T/batch.txt"
expect_match "batch: card 2 done" "^  card 2 +\(line 8\) +\"$VPIV_READER3\" +done\$" "$T/batch.txt"
run_ok "batch: show card B" "$RATERM" show -r "$RB" --transport-ca "$PKI/transport-ca.pem"
expect_match "batch: 9d of B from the CM host" "^9d +RSA2048 +Card 40000002 KeyMgmt +raterm Demo Is" "$OUT"
expect_match "batch: 9c of B still a TC" "^9c +ECCP256 +Card 40000002 Sign .* TC\$" "$OUT"
expect_match "batch: audit card B" 'card="serial 40000002" slot=9d action=redo procedure="tc-redo" serial=[0-9a-f]* result="ok' "$T/var/audit.log"
expect_match "batch: audit card E" 'card="serial 40000005" slot=9c action=redo procedure="renew" serial=[0-9a-f]* result="ok' "$T/var/audit.log"
cmhost_certs "$T/certs-batch.txt"
expect_match "batch: 9d of B confirmed at the CM host" "confirmed .*CN=Card 40000002 KeyMgmt" "$T/certs-batch.txt"
stack_stop

# ---- the card pulled mid-write -------------------------------------------------------
# A rehearsal on a copy of card C finds the APDU that starts writing the
# second certificate; the real run pulls card C there.
cp "$T/c.state" "$T/c-copy.state"
# (the officer card sits in the second pair: the trace and the fault are
# the first pair's)
stack_start --mode connect --readers 4 --card "$T/c-copy.state" --card - \
    --card "$T/officer.state" --serve-arg --trace --serve-arg "$T/trace.txt" || finish
run_ok "rehearsal" "$RATERM" update -c "$CONF" -r "$VPIV_READER0" --officer-reader "$VPIV_READER2" \
    --procedure tc-redo --action 9a=redo --action 9c=redo --action 9d=redo --yes \
    --pin-fd 3 3<"$PINS"
stack_stop
N=$(awk '/^> / { n++; if ($2 ~ /^[01]0DB/ && ++w == 2) { print n; exit } }' "$T/trace.txt")
[ -n "$N" ] || N=60
stack_start --mode connect --readers 4 --card "$T/c.state" --card - \
    --card "$T/officer.state" --serve-arg --drop-at --serve-arg "$N" || finish
RC=$VPIV_READER0
run_rc "card pulled while writing 9c (APDU $N)" 3 "$RATERM" update -c "$CONF" -r "$RC" \
    --officer-reader "$VPIV_READER2" --procedure tc-redo --action 9a=redo --action 9c=redo \
    --action 9d=redo --yes --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/pulled.txt"
expect_match "pulled: 9a on the card" "^  9a +Redo +done +written to the card" "$T/pulled.txt"
# 9c's write was sent and its answer lost: unknown, never rejected; 9d not
# written; no certConf: the operation stays open until the card is back
expect_match "pulled: 9c outcome unknown" "^  9c +Redo +FAILED +outcome unknown.*CARD_REMOVED" "$T/pulled.txt"
expect_match "pulled: 9d not written" "^  9d +Redo +not run +not written" "$T/pulled.txt"
expect_match "pulled: not confirmed" "^NOT confirmed to the CM host" "$T/pulled.txt"
J=$(grep -l "card=serial%2040000003" "$T"/var/journal/*.journal | sort | tail -n 1)
expect_match "journal: the write of 9c was announced" "step=write .*slot=9c" "$J"
expect_match "journal: 9a written" "step=written .*slot=9a" "$J"
expect_no_match "journal: no certConf, open" "step=(confirm|end|abort)" "$J"
stack_toggle 0
wait_card present "$RC" 5
run_ok "recover with card C back" "$RATERM" recover -c "$CONF" -r "$RC" \
    --officer-reader "$VPIV_READER2" --pin-fd 3 3<"$PINS"
expect_match "recover: 9a accepted" "9a redo serial .*: accept \(on the card\)" "$OUT"
expect_match "recover: 9c rejected" "9c redo serial .*: reject \(not on the card\)" "$OUT"
expect_match "recover: 9d rejected" "9d redo serial .*: reject \(never written" "$OUT"
expect_match "journal: certConf accepted 9a, rejected 9c and 9d" "step=confirm .*9a%3Daccept%209c%3Dreject%209d%3Dreject" "$J"
expect_match "journal: ended" "step=end" "$J"
cmhost_certs "$T/certs3.txt"
expect_match "cmhost: 9a of card C confirmed" "confirmed .*CN=Card 40000003 Auth" "$T/certs3.txt"
expect_match "cmhost: 9c of card C rejected" "(rejected|revoked) .*CN=Card 40000003 Sign" "$T/certs3.txt"
expect_match "cmhost: 9d of card C rejected" "(rejected|revoked) .*CN=Card 40000003 KeyMgmt" "$T/certs3.txt"
expect_match "audit: the failure" 'card="serial 40000003" slot=9c action=redo .*result="recovered: rejected' "$T/var/audit.log"
stack_stop

# ---- the officer card pulled before certConf, then `raterm recover` ------------------------
# A rehearsal finds the officer card's PIN check before its last signature
# (the certConf); the real run pulls the officer card there: the
# certificates are on card D, the CM host has not been told.
run_ok "TC card D" tc_card "$T/d.state" 40000004
cp "$T/d.state" "$T/d-copy.state"
cp "$T/officer.state" "$T/officer-copy.state"
stack_start --mode connect --readers 4 --card "$T/officer-copy.state" --card - \
    --card "$T/d-copy.state" --serve-arg --trace --serve-arg "$T/otrace.txt" || finish
run_ok "rehearsal (officer card traced)" "$RATERM" update -c "$CONF" -r "$VPIV_READER2" \
    --officer-reader "$VPIV_READER0" --procedure tc-redo --action 9a=redo --action 9c=redo \
    --yes --pin-fd 3 3<"$PINS"
stack_stop
N=$(awk '/^> / { n++; if ($2 ~ /^00200080/) last = n } END { print last }' "$T/otrace.txt")
stack_start --mode connect --readers 4 --card "$T/officer.state" --card - \
    --card "$T/d.state" --serve-arg --drop-at --serve-arg "$N" || finish
run_rc "officer card pulled before certConf (APDU $N)" 3 "$RATERM" update -c "$CONF" \
    -r "$VPIV_READER2" --officer-reader "$VPIV_READER0" --procedure tc-redo \
    --action 9a=redo --action 9c=redo --yes --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/unconfirmed.txt"
expect_match "not confirmed: said" "NOT confirmed to the CM host: run 'raterm recover'" "$T/unconfirmed.txt"
expect_match "not confirmed: 9a on the card" "^  9a +Redo +FAILED +not confirmed" "$T/unconfirmed.txt"
stack_stop
run_rc "recover --list" 1 "$RATERM" recover -c "$CONF" --list
expect_match "recover lists the operation" "card \"serial 40000004\", procedure tc-redo, last step confirm" "$OUT"
cmhost_certs "$T/certs4.txt"
expect_match "before recover: waiting at the CM host" "waiting .*CN=Card 40000004 Auth" "$T/certs4.txt"
stack_start --mode connect --card "$T/officer.state" --card "$T/d.state" || finish
run_ok "recover" "$RATERM" recover -c "$CONF" -r "$VPIV_READER1" \
    --officer-reader "$VPIV_READER0" --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/recover.txt"
expect_match "recover: 9a accepted" "^  9a redo serial [0-9a-f]+: accept \(on the card\)" "$T/recover.txt"
expect_match "recover: 9c accepted" "^  9c redo serial [0-9a-f]+: accept \(on the card\)" "$T/recover.txt"
expect_match "recover: closed" "confirmed to the CM host: 2 accepted, 0 rejected; closed \(END\)" "$T/recover.txt"
cmhost_certs "$T/certs5.txt"
expect_match "after recover: 9a confirmed" "confirmed .*CN=Card 40000004 Auth" "$T/certs5.txt"
expect_match "after recover: 9c confirmed" "confirmed .*CN=Card 40000004 Sign" "$T/certs5.txt"
expect_match "audit: recovered" 'card="serial 40000004" slot=9a action=redo .*result="recovered: accepted' "$T/var/audit.log"
run_ok "recover: nothing left" "$RATERM" recover -c "$CONF" --list
expect_match "nothing left: said" "No incomplete operations" "$OUT"
stack_stop

# ---- cmhost stopped: a clear error, the card unchanged ---------------------------------
cmhost_stop
stack_start --mode connect --card "$T/b.state" --card "$T/officer.state" || finish
run_rc "cmhost stopped" 8 "$RATERM" update -c "$CONF" -r "$VPIV_READER0" \
    --officer-reader "$VPIV_READER1" --procedure tc-redo --action 9c=redo --yes \
    --pin-fd 3 3<"$PINS"
expect_match "cmhost stopped: named" "Couldn't connect to server.*\[CMP_HTTP\]" "$OUT"
run_ok "show after cmhost stopped" "$RATERM" show -r "$VPIV_READER0" --transport-ca "$PKI/transport-ca.pem"
expect_match "cmhost stopped: the TC stays" "^9c +ECCP256 +Card 40000002 Sign .* TC\$" "$OUT"
finish
