#!/bin/sh
# t_vp15.sh - the virtual PKCS#15 card with OpenSC as the referee: a vp15
# card in a reader of the private pcscd is bound by OpenSC's isoApplet
# driver and personalized by pkcs15-init as a third party would (PIN and
# PUK, two EC keys generated on the card, their transport certificates from
# the test transport CA, the transport CA as an authority certificate);
# pkcs15-tool and pkcs11-tool then show exactly those objects, a signature
# made through opensc-pkcs11 verifies against the certificate's public key,
# a wrong PIN costs exactly one try, the directory files are not written
# without the PIN, and everything is still there after a restart. raterm
# show reads the card through the PKCS#15 profile: each key with its TC.
. "$(dirname "$0")/lib.sh"
need pcscd opensc-tool pkcs15-init pkcs15-tool pkcs11-tool openssl

VP15=${VP15:-$BUILD/vp15}
[ -x "$VP15" ] || skip_all "vp15 not built"
PIN=123456
PUK=0123456789abcdef
P11=${OPENSC_PKCS11:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
[ -f "$P11" ] || P11=$(find /usr/lib -name opensc-pkcs11.so 2>/dev/null | head -n 1)
[ -n "$P11" ] && [ -f "$P11" ] || skip_all "opensc-pkcs11.so not found"
# OpenSC keeps a file cache under $HOME: keep it in the test's directory
HOME=$T
export HOME

test_pki
CARD=$T/card.state
run_ok "vp15 init" "$VP15" init "$CARD"
stack_start --card "vp15:$CARD" --serve-arg --trace --serve-arg "$T/trace.txt" || finish
R=$VPIV_READER0

run_ok "opensc-tool -n" opensc-tool -r "$R" -n
expect_match "bound by the isoApplet driver" "IsoApplet" "$OUT"

# ---- personalization by pkcs15-init --------------------------------------
run_ok "pkcs15-init --create-pkcs15" pkcs15-init -r "$R" --create-pkcs15 \
    --so-pin "$PIN" --so-puk "$PUK"
run_ok "vp15 info: operational" "$VP15" info "$CARD"
expect_match "user PIN set" "PIN 1: +3 of 3 tries left" "$OUT"
expect_match "EF.DIR" "^    2F00 EF" "$OUT"
expect_match "DF.PKCS15" "^    5015 DF" "$OUT"

# issue N LABEL: the card's key N, a transport certificate for it
issue() {
	pkcs15-tool -r "$R" --read-public-key "$1" -o "$T/pub$1.pem" || return 1
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/throw.key" -subj "/CN=$2/O=raterm test" \
	    -out "$T/req$1.csr" 2>/dev/null || return 1
	openssl x509 -req -in "$T/req$1.csr" -force_pubkey "$T/pub$1.pem" \
	    -CA "$PKI/transport-ca.pem" -CAkey "$PKI/transport-ca.key" \
	    -days 365 -set_serial "0x100$1" -out "$T/tc$1.pem" 2>/dev/null
}
for k in 01 02; do
	label="Card Key $k"
	run_ok "pkcs15-init --generate-key ec/prime256v1 ($k)" pkcs15-init -r "$R" \
	    --generate-key ec/prime256v1 --auth-id ff --pin "$PIN" --id "$k" \
	    --label "$label" --key-usage sign
	run_ok "transport certificate for key $k" issue "$k" "$label"
	run_ok "pkcs15-init --store-certificate ($k)" pkcs15-init -r "$R" \
	    --store-certificate "$T/tc$k.pem" --id "$k" --label "$label TC" --pin "$PIN"
done
run_ok "pkcs15-init --store-certificate --authority" pkcs15-init -r "$R" \
    --store-certificate "$PKI/transport-ca.pem" --authority --id c1 \
    --label "Transport CA" --pin "$PIN"

# ---- what OpenSC reads back ---------------------------------------------------
# check_objects WHEN EC_KEYS PRIVATE_KEYS: what OpenSC lists
check_objects() {
	run_ok "pkcs15-tool --list-keys --list-certificates --list-pins ($1)" \
	    pkcs15-tool -r "$R" --list-keys --list-certificates --list-pins
	expect_eq "$2 private EC keys ($1)" "$2" "$(grep -c '^Private EC Key' "$OUT")"
	expect_eq "three certificates ($1)" 3 "$(grep -c '^X.509 Certificate' "$OUT")"
	expect_eq "one authority certificate ($1)" 1 "$(grep -c 'Authority *: yes' "$OUT")"
	expect_eq "one PIN ($1)" 1 "$(grep -c '^PIN ' "$OUT")"
	run_ok "pkcs11-tool -O --login ($1)" pkcs11-tool --module "$P11" --slot-index 0 \
	    --login --pin "$PIN" -O
	expect_eq "pkcs11: $3 private keys ($1)" "$3" "$(grep -c '^Private Key Object' "$OUT")"
	expect_eq "pkcs11: three certificates ($1)" 3 "$(grep -c '^Certificate Object' "$OUT")"
	expect_match "pkcs11: the TC of key 01 ($1)" "label: +Card Key 01 TC" "$OUT"
}
check_objects "after personalization" 2 2

# ---- raterm reads the card (the read-only PKCS#15 profile) -------------------
RATERM=${RATERM:-$BUILD/raterm}
run_ok "raterm show" "$RATERM" show -r "$R" --transport-ca "$PKI/transport-ca.pem"
expect_match "profile PKCS#15" "^Profile: +PKCS#15" "$OUT"
expect_match "PIN tries" "^PIN: +3 retries left" "$OUT"
expect_match "key 01 (its iD) with its TC" "^01 +ECCP256 +Card Key 01 .* TC" "$OUT"
expect_match "key 02 with its TC" "^02 +ECCP256 +Card Key 02 .* TC" "$OUT"
expect_eq "two key rows (the CA certificate is not a key)" 2 \
    "$(grep -c -E '^0[12] +ECCP256' "$OUT")"
run_ok "raterm show --json" "$RATERM" show -r "$R" --json
expect_match "json: profile pkcs15" '"profile": "pkcs15"' "$OUT"

# ---- a signature through opensc-pkcs11, verified with the certificate ----------
printf 'raterm vp15 test data\n' >"$T/data"
run_ok "pkcs11-tool --sign with key 02" pkcs11-tool --module "$P11" --slot-index 0 \
    --login --pin "$PIN" --sign --id 02 --mechanism ECDSA-SHA1 \
    --signature-format openssl -i "$T/data" -o "$T/sig.der"
openssl x509 -in "$T/tc02.pem" -pubkey -noout >"$T/tcpub.pem"
run_ok "openssl verifies the card's signature" openssl dgst -sha1 \
    -verify "$T/tcpub.pem" -signature "$T/sig.der" "$T/data"
expect_match "signature verified" "Verified OK" "$OUT"

# ---- keys imported by pkcs15-init (PUT DATA): EC P-256 and RSA 2048 -----------
openssl ecparam -name prime256v1 -genkey -noout -out "$T/imp-ec.key" 2>/dev/null
openssl genrsa -out "$T/imp-rsa.key" 2048 2>/dev/null
for k in ec rsa; do
	id=07
	[ $k = rsa ] && id=08
	run_ok "pkcs15-init --store-private-key ($k)" pkcs15-init -r "$R" \
	    --store-private-key "$T/imp-$k.key" --auth-id ff --pin "$PIN" --id $id \
	    --label "Imported $k"
	openssl pkey -in "$T/imp-$k.key" -pubout -out "$T/imp-$k.pub" 2>/dev/null
done
run_ok "pkcs11-tool --sign with the imported EC key" pkcs11-tool --module "$P11" \
    --slot-index 0 --login --pin "$PIN" --sign --id 07 --mechanism ECDSA-SHA1 \
    --signature-format openssl -i "$T/data" -o "$T/sig-ec.der"
run_ok "openssl verifies it (EC)" openssl dgst -sha1 -verify "$T/imp-ec.pub" \
    -signature "$T/sig-ec.der" "$T/data"
run_ok "pkcs11-tool --sign with the imported RSA key" pkcs11-tool --module "$P11" \
    --slot-index 0 --login --pin "$PIN" --sign --id 08 --mechanism SHA256-RSA-PKCS \
    -i "$T/data" -o "$T/sig-rsa.bin"
run_ok "openssl verifies it (RSA)" openssl dgst -sha256 -verify "$T/imp-rsa.pub" \
    -signature "$T/sig-rsa.bin" "$T/data"
expect_match "trace: PUT DATA sent" "^vp15 > [01]0DB3FFF" "$T/trace.txt"
expect_no_match "trace: no imported private key" "^vp15 > [01]0DB3FFF[0-9A-F]" "$T/trace.txt"
expect_no_match "trace: no PIN" "^vp15 > [01]0(20|24|2C)[0-9A-F]{4}[0-9A-F]" "$T/trace.txt"

# ---- a wrong PIN costs exactly one try; the right one restores them ---------------
run_fail "pkcs11-tool login with a wrong PIN" pkcs11-tool --module "$P11" \
    --slot-index 0 --login --pin 999999 -O
expect_match "wrong PIN refused" "CKR_PIN_INCORRECT" "$OUT"
run_ok "vp15 info after a wrong PIN" "$VP15" info "$CARD"
expect_match "one try gone" "PIN 1: +2 of 3 tries left" "$OUT"
run_ok "login with the PIN" pkcs11-tool --module "$P11" --slot-index 0 \
    --login --pin "$PIN" -O
run_ok "vp15 info after the right PIN" "$VP15" info "$CARD"
expect_match "tries restored" "PIN 1: +3 of 3 tries left" "$OUT"

# ---- the state survives a restart; access conditions -----------------------------
# The card keeps a verified PIN until it is reset (as real cards do, across
# PC/SC connections): the restart gives a card where it is not verified.
stack_stop
stack_start --card "vp15:$CARD" || finish
R=$VPIV_READER0
run_ok "UPDATE BINARY of the CDF (4404) without the PIN" "$TOOLS/pcsc_apdu" "$R" \
    00A4080C0450154404 00D600000100
expect_eq "refused: security status not satisfied" "9000 6982" "$(tr '\n' ' ' <"$OUT" | sed 's/ $//')"
run_ok "READ BINARY of the CDF without the PIN" "$TOOLS/pcsc_apdu" "$R" \
    00A4080C0450154404 00B0000002
expect_match "read: always" "^(A0|30)[0-9A-F]{2}9000$" "$OUT"
check_objects "after a restart" 3 4

# ---- vp15 personalize: the same layout with a Signature PIN for one key --------
CARD2=$T/card2.state
run_ok "vp15 init (card 2)" "$VP15" init "$CARD2"
run_ok "vp15 personalize --keys 3 --sign-pin" "$VP15" personalize "$CARD2" \
    --keys 3 --sign-pin --serial 4000001
run_rc "vp15 personalize refuses a card that is not blank" 2 "$VP15" personalize "$CARD2"
"$VP15" pubkey "$CARD2" 0 >"$T/p2pub0.pem" 2>"$OUT" &&
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/throw.key" -subj "/CN=Card 4000001 Key 0/O=raterm test" \
    -out "$T/p2req0.csr" 2>/dev/null &&
    openssl x509 -req -in "$T/p2req0.csr" -force_pubkey "$T/p2pub0.pem" \
    -CA "$PKI/transport-ca.pem" -CAkey "$PKI/transport-ca.key" -days 365 \
    -set_serial 0x2001 -out "$T/p2tc0.pem" 2>/dev/null
run_ok "vp15 add-cert --key 0" "$VP15" add-cert "$CARD2" --key 0 "$T/p2tc0.pem" --label "Key 0 TC"
run_ok "vp15 add-cert --authority" "$VP15" add-cert "$CARD2" --authority "$PKI/transport-ca.pem"
stack_stop
stack_start --card "vp15:$CARD2" || finish
R=$VPIV_READER0
run_ok "card 2: pkcs15-tool --list-keys --list-certificates --list-pins" \
    pkcs15-tool -r "$R" --list-keys --list-certificates --list-pins
expect_eq "card 2: three private keys" 3 "$(grep -c '^Private EC Key' "$OUT")"
expect_eq "card 2: two certificates" 2 "$(grep -c '^X.509 Certificate' "$OUT")"
expect_eq "card 2: two PINs" 2 "$(grep -c '^PIN ' "$OUT")"
expect_match "card 2: the Signature PIN" "^PIN \\[Signature PIN\\]" "$OUT"
run_ok "card 2: pkcs11-tool -L" pkcs11-tool --module "$P11" -L
expect_match "card 2: a slot for the Signature PIN" "token label +: vp15 \\(Signature PIN\\)" "$OUT"
"$VP15" pubkey "$CARD2" 2 >"$T/p2pub2.pem"
run_ok "card 2: sign with the signature key after the Signature PIN" \
    pkcs11-tool --module "$P11" --slot-index 1 --login --pin 654321 --sign \
    --id 03 --mechanism ECDSA-SHA1 --signature-format openssl -i "$T/data" -o "$T/sig3.der"
run_ok "card 2: openssl verifies it" openssl dgst -sha1 -verify "$T/p2pub2.pem" \
    -signature "$T/sig3.der" "$T/data"
run_fail "card 2: the user PIN does not let the signature key sign" \
    pkcs11-tool --module "$P11" --slot-index 0 --login --pin "$PIN" --sign \
    --id 03 --mechanism ECDSA-SHA1 -i "$T/data" -o "$T/x.der"
run_fail "card 2: a wrong Signature PIN" pkcs11-tool --module "$P11" --slot-index 1 \
    --login --pin 999999 -O
run_ok "vp15 info (card 2)" "$VP15" info "$CARD2"
expect_match "card 2: the Signature PIN lost one try" "PIN 3: +2 of 3 tries left" "$OUT"
expect_match "card 2: the user PIN lost none" "PIN 1: +3 of 3 tries left" "$OUT"
# the PUK (the isoApplet profile's "SO PUK", reference 2): a wrong one costs one try
run_fail "card 2: unblock with a wrong PUK" pkcs15-tool -r "$R" --unblock-pin \
    --auth-id 01 --puk 0123456789abcdeX --new-pin 111111
run_ok "vp15 info after a wrong PUK" "$VP15" info "$CARD2"
expect_match "card 2: the PUK lost one try" "PIN 2: +2 of 3 tries left" "$OUT"
run_ok "raterm show (card 2)" "$RATERM" show -r "$R" --transport-ca "$PKI/transport-ca.pem"
expect_match "card 2: serial from TokenInfo" "^Serial: +4000001" "$OUT"
expect_match "card 2: key 01 with its TC" "^01 +ECCP256 +Card 4000001 Key 0 .* TC" "$OUT"
expect_eq "card 2: three keys" 3 "$(grep -c -E '^0[1-3] +ECCP256' "$OUT")"

finish
