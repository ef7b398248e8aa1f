#!/bin/sh
# t_p15_update.sh - `raterm update` on a PKCS#15 card through the real stack
# (private pcscd, vpcd, a vp15 card beside the officer's vpiv card, cmhost
# on a free loopback port stopped by pid), OpenSC as the referee. The card
# (vp15 personalize --keys 3 --sign-pin --so-pin): key 01 and key 03 (the
# signature key, its own PIN) with TCs from the test transport CA, key 02
# with a certificate in use; the transport CA as a CA certificate.
#   Redo on every TC: each TC replaced by a certificate of the CM host; the
#     procedure writes the CM host's CA certificates, keeping the card's;
#   Add on key 02 (no TC): a second certificate beside the first; then a
#     Redo of exactly that one (02.1), the first untouched;
#   Replace CA certificate(s) alone: the card's CA certificates become the
#     CM host's;
#   after each: pkcs15-tool and pkcs11-tool -O show exactly the expected
#     objects, pkcs11-tool --sign with the key verifies (openssl) against
#     the new certificate;
#   a wrong card PIN and a wrong SO PIN cost exactly one try;
#   torn writes (the card pulled at the APDU a rehearsal found): an Add
#     pulled after its certificate's EF, before its CDF entry, is unknown,
#     and recover with the card back rejects it (not on the card), the
#     orphan EF taken by the next Add; a Redo pulled at the deletion of the
#     old EF is unknown, and recover accepts it (the CDF names the new one).
. "$(dirname "$0")/lib.sh"
need pcscd pkcs15-tool pkcs11-tool openssl

VP15=${VP15:-$BUILD/vp15}
[ -x "$VP15" ] || skip_all "vp15 not built"
P11=${OPENSC_PKCS11:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
[ -f "$P11" ] || P11=$(find /usr/lib -name opensc-pkcs11.so 2>/dev/null | head -n 1)
[ -n "$P11" ] && [ -f "$P11" ] || skip_all "opensc-pkcs11.so not found"
HOME=$T		# OpenSC's file cache
export HOME
SERIAL=5000001
PIN=123456
SIGN_PIN=654321
SO_PIN=87654321

test_pki
D=$T/cm
cmhost_init "$D" 7333
if cmhost_start "$D"; then ok "cmhost serves on port $PORT"; else
	fail "cmhost start" "$(tail -n 3 "$T/server.log")"
	finish
fi

# ---- the cards ---------------------------------------------------------------------
officer_card "$T/officer.state" 40000019
CARD=$T/p15.state
run_ok "vp15 card: TCs on 01 and 03, a certificate in use on 02, the transport CA" \
    p15_tc_card "$CARD" "$SERIAL"

# the station: the shipped procedures and one for this card
mkdir -p "$T/procedures.d"
cp "$REPO"/conf/procedures.d/*.yaml "$T/procedures.d/"
cat >"$T/procedures.d/p15-update.yaml" <<EOF
name: p15-update
description: PKCS#15 card - TCs verified and replaced, certificates added, CA certificates
actions: [redo, add]
tc_controls: [chain, possession, binding]
profiles:
  01: piv-auth
  02: piv-auth
  03: piv-sign
subject: card            # the TC's, or the certificate in use's
san: none
key_algorithms: [ECCP256]
card_pins: 2             # the authentication PIN and the signature PIN
ca_certificates:
  operator_credential: yes   # the SO PIN
  write: true
EOF
CONF=$T/raterm.yaml
station_conf "$CONF"
sed -i "s|^procedures: .*|procedures: $T/procedures.d|" "$CONF"
PINS=$T/pins
printf 'signature=123456\ncard=%s\ncard2=%s\noperator=%s\n' "$PIN" "$SIGN_PIN" \
    "$SO_PIN" >"$PINS"

# the officer's vpiv card in pair 0, the vp15 card in pair 1 (its partner a
# blank vp15 card)
stack_start --readers 4 --card "$T/officer.state" --card - --card "vp15:$CARD" \
    --card - || finish
OFF=$VPIV_READER0
R=$VPIV_READER2

run_ok "raterm cacerts" "$RATERM" cacerts -c "$CONF" -o "$T/cacerts.pem"
NCA=$(grep -c 'BEGIN CERTIFICATE' "$T/cacerts.pem")
if [ "$NCA" -ge 1 ]; then ok "the CM host has $NCA CA certificate(s)"; else
	fail "the CM host's CA certificates" "none"
fi

# p11_slot PATTERN: the PKCS#11 slot id whose token label matches PATTERN
# (the vp15 card's user PIN slot, its Signature PIN slot)
p11_slot() {
	pkcs11-tool --module "$P11" -L 2>/dev/null | awk -v pat="$1" '
	    /^Slot [0-9]+ \(0x[0-9a-f]+\)/ { id = $3; gsub(/[()]/, "", id) }
	    /token label/ && $0 ~ pat { print id; exit }'
}

# objects WHEN CERTS CA LABEL03: OpenSC lists 3 keys, CERTS certificates (CA of
# them authority certificates) and 3 PINs; opensc-pkcs11 the same objects:
# key 03 and its certificate in the Signature PIN's slot, the rest in the
# user PIN's
objects() {
	run_ok "pkcs15-tool --list-keys --list-certificates --list-pins ($1)" \
	    pkcs15-tool -r "$R" --list-keys --list-certificates --list-pins
	cp "$OUT" "$T/p15-$1.txt"
	expect_eq "three private keys ($1)" 3 "$(grep -c '^Private EC Key' "$T/p15-$1.txt")"
	expect_eq "$2 certificates ($1)" "$2" "$(grep -c '^X.509 Certificate' "$T/p15-$1.txt")"
	expect_eq "$3 authority certificates ($1)" "$3" \
	    "$(grep -c 'Authority *: yes' "$T/p15-$1.txt")"
	expect_eq "three PINs ($1)" 3 "$(grep -c '^PIN ' "$T/p15-$1.txt")"
	run_ok "pkcs11-tool -O ($1)" pkcs11-tool --module "$P11" --slot "$USLOT" \
	    --login --pin "$PIN" -O
	cp "$OUT" "$T/p11-$1.txt"
	expect_eq "pkcs11: $(($2 - 1)) certificates in the user PIN's slot ($1)" \
	    "$(($2 - 1))" "$(grep -c '^Certificate Object' "$T/p11-$1.txt")"
	expect_eq "pkcs11: keys 01 and 02 there ($1)" 2 \
	    "$(grep -c '^Private Key Object' "$T/p11-$1.txt")"
	run_ok "pkcs11-tool -O, Signature PIN's slot ($1)" pkcs11-tool --module "$P11" \
	    --slot "$SSLOT" --login --pin "$SIGN_PIN" -O
	expect_eq "pkcs11: key 03 there ($1)" 1 "$(grep -c '^Private Key Object' "$OUT")"
	expect_match "pkcs11: its certificate \"$4\" there ($1)" "label: +$4\$" "$OUT"
}
# signs ID SLOT PIN CERT WHAT: pkcs11-tool signs with key ID, openssl
# verifies against CERT
signs() {
	printf 'raterm p15 update %s\n' "$5" >"$T/data"
	run_ok "pkcs11-tool --sign with key $1 ($5)" pkcs11-tool --module "$P11" \
	    --slot "$2" --login --pin "$3" --sign --id "$1" \
	    --mechanism ECDSA-SHA1 --signature-format openssl -i "$T/data" -o "$T/sig.der"
	openssl x509 -in "$4" -pubkey -noout >"$T/sigpub.pem" 2>/dev/null
	run_ok "openssl verifies it against the new certificate ($5)" openssl dgst \
	    -sha1 -verify "$T/sigpub.pem" -signature "$T/sig.der" "$T/data"
}
# card_cert SLOT LABEL OUT: the certificate labelled LABEL (PEM)
card_cert() {
	pkcs11-tool --module "$P11" --slot "$1" --read-object --type cert \
	    --label "$2" -o "$T/cc.der" >/dev/null 2>&1 &&
	openssl x509 -inform DER -in "$T/cc.der" -out "$3" 2>/dev/null
}

USLOT=$(p11_slot 'vp15 \\(User PIN\\)')
SSLOT=$(p11_slot 'vp15 \\(Signature PIN\\)')
if [ -n "$USLOT" ] && [ -n "$SSLOT" ]; then
	ok "opensc-pkcs11: a slot per PIN ($USLOT, $SSLOT)"
else
	fail "opensc-pkcs11 slots" "$(pkcs11-tool --module "$P11" -L 2>&1 | grep -i 'token label')"
fi
objects before 4 1 "Key 03 TC"
run_ok "raterm show" "$RATERM" show -r "$R" --transport-ca "$PKI/transport-ca.pem"
expect_match "key 01 with its TC" "^01 +ECCP256 +Card $SERIAL Key 1 .* TC" "$OUT"
expect_match "key 03 with its TC" "^03 +ECCP256 +Card $SERIAL Key 3 .* TC" "$OUT"
expect_match "the CA certificate in its own section" "^CA +raterm Test Transport CA" "$OUT"

run_rc "Add refused on a key holding a TC" 9 "$RATERM" update -c "$CONF" -r "$R" \
    --procedure p15-update --action 01=add --dry-run
expect_match "the reason: the TC would stay" "transport certificate" "$OUT"

# ---- a wrong card PIN costs exactly one try, nothing issued -----------------------
printf 'signature=123456\ncard=111111\ncard2=%s\noperator=%s\n' "$SIGN_PIN" \
    "$SO_PIN" >"$T/badpins"
run_fail "a wrong card PIN" "$RATERM" update -c "$CONF" -r "$R" --officer-reader "$OFF" \
    --procedure p15-update --action 01=redo --action 03=redo --yes --pin-fd 3 3<"$T/badpins"
expect_match "refused: the PIN" "PIN" "$OUT"
run_ok "vp15 info" "$VP15" info "$CARD"
expect_match "the PIN lost exactly one try" "PIN 1: +2 of 3 tries left" "$OUT"
expect_match "the signature PIN lost none" "PIN 3: +3 of 3 tries left" "$OUT"

# ---- Redo on every TC (and the CM host's CA certificates added) --------------------
run_ok "Redo every TC" "$RATERM" update -c "$CONF" -r "$R" --officer-reader "$OFF" \
    --procedure p15-update --action 01=redo --action 03=redo --yes --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/redo.txt"
for k in 01 03; do
	expect_match "redo $k done" "^  $k +Redo +done +written to the card, read back and tested" "$T/redo.txt"
done
expect_match "redo confirmed" "^Confirmed to the CM host" "$T/redo.txt"
expect_match "CA certificates written" "^  CA certificates done" "$T/redo.txt"
run_ok "vp15 info after Redo" "$VP15" info "$CARD"
expect_match "the PIN's tries restored" "PIN 1: +3 of 3 tries left" "$OUT"
run_ok "raterm show after Redo" "$RATERM" show -r "$R" --transport-ca "$PKI/transport-ca.pem"
cp "$OUT" "$T/show-redo.txt"
expect_no_match "no TC left" " TC\$" "$T/show-redo.txt"
objects redo $((4 + NCA)) $((1 + NCA)) "Signature Key 2"
run_ok "key 01's new certificate" card_cert "$USLOT" "Authentication Key 0" "$T/new01.pem"
run_ok "it chains to the CM host's CA" openssl verify -CAfile "$D/root.pem" \
    -untrusted "$D/ca-chain.pem" "$T/new01.pem"
signs 01 "$USLOT" "$PIN" "$T/new01.pem" "redo 01"
run_ok "key 03's new certificate" card_cert "$SSLOT" "Signature Key 2" "$T/new03.pem"
signs 03 "$SSLOT" "$SIGN_PIN" "$T/new03.pem" "redo 03"

# ---- Add on key 02 (no TC): a second certificate beside the first --------------------
run_ok "Add on key 02" "$RATERM" update -c "$CONF" -r "$R" --officer-reader "$OFF" \
    --procedure p15-update --action 02=add --yes --pin-fd 3 3<"$PINS"
cp "$OUT" "$T/add.txt"
expect_match "add 02 done" "^  02 +Add +done +written to the card, read back and tested" "$T/add.txt"
run_ok "raterm show after Add" "$RATERM" show -r "$R"
expect_eq "key 02 with two certificates" 2 "$(grep -cE '^02(\.1)? +ECCP256' "$OUT")"
expect_match "the second one listed as 02.1 (--action 02.1=...)" "^02\.1 +ECCP256 +Card $SERIAL Key 2" "$OUT"
objects add $((5 + NCA)) $((1 + NCA)) "Signature Key 2"
run_ok "the certificate in use is still there" card_cert "$USLOT" "Key 02 in use" "$T/old02.pem"
run_ok "key 02's added certificate" card_cert "$USLOT" "Authentication Key 1" "$T/new02.pem"
signs 02 "$USLOT" "$PIN" "$T/new02.pem" "add 02"

# ---- Redo of exactly the added certificate (02.1): the one in use stays ------------
run_ok "Redo of key 02's second certificate" "$RATERM" update -c "$CONF" -r "$R" \
    --officer-reader "$OFF" --procedure p15-update --action 02.1=redo --yes \
    --pin-fd 3 3<"$PINS"
expect_match "redo 02.1 done" "^  02.1 +Redo +done +written to the card, read back and tested" "$OUT"
objects "redo 02.1" $((5 + NCA)) $((1 + NCA)) "Signature Key 2"
run_ok "the certificate in use is untouched" card_cert "$USLOT" "Key 02 in use" "$T/old02b.pem"
run_ok "... the same bytes" cmp "$T/old02.pem" "$T/old02b.pem"
run_ok "key 02's redone certificate" card_cert "$USLOT" "Authentication Key 1" "$T/redo02.pem"
run_fail "... not the one Add wrote" cmp "$T/new02.pem" "$T/redo02.pem"
signs 02 "$USLOT" "$PIN" "$T/redo02.pem" "redo 02.1"

# ---- Replace CA certificate(s): a wrong SO PIN costs one try, then the CM host's --------
printf 'signature=123456\noperator=11111111\n' >"$T/badso"
run_fail "Replace CA certificate(s) with a wrong SO PIN" "$RATERM" update -c "$CONF" -r "$R" \
    --officer-reader "$OFF" --procedure p15-update --replace-ca-certs --yes \
    --pin-fd 3 3<"$T/badso"
expect_match "refused: the SO PIN" "SO PIN" "$OUT"
run_ok "vp15 info after a wrong SO PIN" "$VP15" info "$CARD"
expect_match "the SO PIN lost exactly one try" "PIN 5: +2 of 3 tries left" "$OUT"
expect_match "the user PIN lost none" "PIN 1: +3 of 3 tries left" "$OUT"
objects "wrong SO PIN" $((5 + NCA)) $((1 + NCA)) "Signature Key 2"
run_ok "Replace CA certificate(s)" "$RATERM" update -c "$CONF" -r "$R" \
    --officer-reader "$OFF" --procedure p15-update --replace-ca-certs --yes \
    --pin-fd 3 3<"$PINS"
expect_match "CA certificates replaced" "^  CA certificates done .*replaced" "$OUT"
run_ok "vp15 info after Replace" "$VP15" info "$CARD"
expect_match "the SO PIN's tries restored" "PIN 5: +3 of 3 tries left" "$OUT"
objects replace $((4 + NCA)) "$NCA" "Signature Key 2"
run_ok "raterm show after Replace" "$RATERM" show -r "$R"
expect_no_match "no transport CA left" "^CA +raterm Test Transport CA" "$OUT"
expect_eq "the CM host's CA certificates" "$NCA" "$(grep -cE '^CA  ' "$OUT")"
run_ok "the journal: nothing open" "$RATERM" recover -c "$CONF" --list
expect_no_match "no open operation" "^op-|open" "$OUT"

# ---- a wrong SO PIN in an update of keys and CA certificates: one try, not two ---------
printf 'signature=123456\ncard=%s\ncard2=%s\noperator=11111111\n' "$PIN" \
    "$SIGN_PIN" >"$T/badso2"
run_fail "a Redo with a wrong SO PIN" "$RATERM" update -c "$CONF" -r "$R" \
    --officer-reader "$OFF" --procedure p15-update --action 02.1=redo --yes \
    --pin-fd 3 3<"$T/badso2"
expect_match "the Redo rejected, nothing written" "02(\.1)? +Redo +rejected not stored" "$OUT"
expect_match "the CA certificates: the SO PIN not tried again" "not tried a second time" "$OUT"
run_ok "vp15 info after the wrong SO PIN" "$VP15" info "$CARD"
expect_match "the SO PIN lost exactly one try" "PIN 5: +2 of 3 tries left" "$OUT"
run_ok "the journal: nothing open after it" "$RATERM" recover -c "$CONF" --list
expect_no_match "no open operation after it" "^op-|open" "$OUT"

# ---- torn writes: the card pulled between the steps of a write --------------------------
# The card in the first reader pair (its trace and faults), the officer's
# in the second. A rehearsal on a copy finds the APDU numbers: the CDF's
# UPDATE BINARY of an Add (the certificate's EF written, its CDF entry
# not), the DELETE FILE of a Redo's old EF (the CDF entry already points
# at the new one).
stack_stop
cp "$CARD" "$T/base.state"
cp "$T/base.state" "$T/rehearsal.state"
stack_start --mode connect --readers 4 --card "vp15:$T/rehearsal.state" --card - \
    --card "$T/officer.state" --serve-arg --trace --serve-arg "$T/trace.txt" || finish
R=$VPIV_READER0
OFF=$VPIV_READER2
# upd ARGS...: raterm update of the card in $R under p15-update, secrets on fd 3
upd() {
	"$RATERM" update -c "$CONF" -r "$R" --officer-reader "$OFF" \
	    --procedure p15-update --yes --pin-fd 3 "$@"
}
run_ok "rehearsal: Add on key 01" upd --action 01=add 3<"$PINS"
run_ok "rehearsal: Redo of key 03" upd --action 03=redo 3<"$PINS"
stack_stop
# WA: the CDF's UPDATE BINARY (after SELECT 5015 4404) of the Add; WD: the
# first DELETE FILE (the Redo's old EF)
WA=$(awk '/^vp15 > / { n++; if (sel && $3 ~ /^[01]0D6/) { print n; exit }
    sel = ($3 ~ /^00A4080[04]0450154404/) }' "$T/trace.txt")
WD=$(awk '/^vp15 > / { n++; if ($3 ~ /^00E4/) { print n; exit } }' "$T/trace.txt")
if [ -n "$WA" ] && [ -n "$WD" ]; then ok "rehearsal: the CDF written at APDU $WA, the old EF deleted at $WD"; else
	fail "rehearsal: not found in the trace" "WA=$WA WD=$WD"
	finish
fi

# Add torn after the certificate's EF: the card does not hold it
cp "$T/base.state" "$T/torn.state"
stack_start --mode connect --readers 4 --card "vp15:$T/torn.state" --card - \
    --card "$T/officer.state" --serve-arg --drop-at --serve-arg "$WA" || finish
R=$VPIV_READER0
OFF=$VPIV_READER2
run_fail "Add pulled before its CDF entry (APDU $WA)" upd --action 01=add 3<"$PINS"
expect_match "torn Add: outcome unknown" "^  01 +Add +FAILED +outcome unknown" "$OUT"
run_rc "torn Add: the operation stays open" 1 "$RATERM" recover -c "$CONF" --list
stack_toggle 0
wait_card present "$R" 5
run_ok "recover with the card back" "$RATERM" recover -c "$CONF" -r "$R" \
    --officer-reader "$OFF" --pin-fd 3 3<"$PINS"
expect_match "recover: not on the card, rejected" "01 add serial .*: reject \(not on the card\)" "$OUT"
run_ok "recover: nothing left open" "$RATERM" recover -c "$CONF" --list
run_ok "raterm show after the torn Add" "$RATERM" show -r "$R"
expect_eq "key 01 still with its one certificate" 1 "$(grep -cE '^01(\.[0-9])? +ECCP256' "$OUT")"
run_ok "pkcs15-tool after the torn Add" pkcs15-tool -r "$R" --list-certificates
expect_eq "OpenSC: the certificates as before" "$((4 + NCA))" "$(grep -c '^X.509 Certificate' "$OUT")"
# the orphan EF is taken by the next write
run_ok "Add again" upd --action 01=add 3<"$PINS"
expect_match "Add again: done" "^  01 +Add +done" "$OUT"
run_ok "vp15 info after Add again" "$VP15" info "$T/torn.state"
EFS_TORN=$(grep -cE '^ +34[0-9A-F]{2} EF' "$OUT")
stack_stop
run_ok "vp15 info (rehearsal card)" "$VP15" info "$T/rehearsal.state"
expect_eq "no orphan left: as many certificate EFs as after the rehearsal's Add and Redo" \
    "$(grep -cE '^ +34[0-9A-F]{2} EF' "$OUT")" "$EFS_TORN"

# Redo torn at the old EF's deletion: the card holds the new certificate
cp "$T/base.state" "$T/torn2.state"
stack_start --mode connect --readers 4 --card "vp15:$T/torn2.state" --card - \
    --card "$T/officer.state" --serve-arg --drop-at --serve-arg "$WD" || finish
R=$VPIV_READER0
OFF=$VPIV_READER2
# (the same APDU numbers: the Add first, as in the rehearsal)
run_ok "Add (as in the rehearsal)" upd --action 01=add 3<"$PINS"
run_fail "Redo pulled at the old EF's deletion (APDU $WD)" upd --action 03=redo 3<"$PINS"
expect_match "torn Redo: outcome unknown" "^  03 +Redo +FAILED +outcome unknown" "$OUT"
stack_toggle 0
wait_card present "$R" 5
run_ok "recover with the card back (Redo)" "$RATERM" recover -c "$CONF" -r "$R" \
    --officer-reader "$OFF" --pin-fd 3 3<"$PINS"
expect_match "recover: on the card, accepted" "03 redo serial .*: accept" "$OUT"
run_ok "recover: nothing left open (Redo)" "$RATERM" recover -c "$CONF" --list
run_ok "pkcs15-tool after the torn Redo" pkcs15-tool -r "$R" --list-certificates
expect_eq "OpenSC: one more certificate (the Add), the Redo in place" "$((5 + NCA))" \
    "$(grep -c '^X.509 Certificate' "$OUT")"
SSLOT=$(p11_slot 'vp15 \\(Signature PIN\\)')
run_ok "key 03's certificate after recovery" card_cert "$SSLOT" "Signature Key 2" "$T/torn03.pem"
signs 03 "$SSLOT" "$SIGN_PIN" "$T/torn03.pem" "torn Redo 03"

finish
