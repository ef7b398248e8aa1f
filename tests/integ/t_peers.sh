#!/bin/sh
# t_peers.sh - third-party PIV clients against a vpiv card through the
# private pcscd: yubico-piv-tool writes a key and a certificate, OpenSC
# (opensc-tool, pkcs15-tool, pkcs11-tool) reads them and signs, openssl
# verifies the signature with the certificate's public key.
. "$(dirname "$0")/lib.sh"
need pcscd yubico-piv-tool opensc-tool pkcs15-tool pkcs11-tool openssl

PIN=123456
P11=${OPENSC_PKCS11:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
[ -f "$P11" ] || P11=$(find /usr/lib -name opensc-pkcs11.so 2>/dev/null | head -n 1)
[ -n "$P11" ] && [ -f "$P11" ] || skip_all "opensc-pkcs11.so not found"
# OpenSC keeps a file cache under $HOME: keep it in the test's directory
HOME=$T
export HOME

stack_start --card "$T/card.state" || finish
R=$VPIV_READER0
ypt() {
	yubico-piv-tool -r "$R" "$@"
}

# ---- yubico-piv-tool ----------------------------------------------------
run_ok "ypt status" ypt -a status
expect_match "ypt status: version or CHUID" "Version|CHUID|PIN tries" "$OUT"
run_ok "ypt verify-pin" ypt -a verify-pin -P "$PIN"
run_rc "ypt wrong PIN refused" 1 ypt -a verify-pin -P 999999
expect_match "ypt wrong PIN: tries left" "tries|wrong|incorrect|failed" "$OUT"
run_ok "ypt verify-pin again (counter reset)" ypt -a verify-pin -P "$PIN"
run_ok "ypt generate 9a ECCP256" ypt -a generate -s 9a -A ECCP256 -o "$T/pub.pem"
expect_match "generate wrote a public key" "BEGIN PUBLIC KEY" "$T/pub.pem"
# yubico-piv-tool 2.2.0's selfsign-certificate / request-certificate fail
# with OpenSSL 3 before any APDU is sent ("Failed signing certificate",
# Yubico/yubico-piv-tool#388), so a test CA certifies the card's key.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$T/ca.key" -out "$T/ca.pem" -subj "/CN=peer test CA" 2>"$OUT" || fail "test CA" "openssl req"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/dummy.key" -out "$T/dummy.csr" -subj "/CN=vpiv peer test" 2>"$OUT" || fail "CSR" "openssl req"
run_ok "certificate for the card's key" openssl x509 -req -in "$T/dummy.csr" \
    -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -force_pubkey "$T/pub.pem" \
    -days 30 -out "$T/cert.pem"
run_ok "certificate parses" openssl x509 -in "$T/cert.pem" -noout -subject
expect_match "certificate subject" "vpiv peer test" "$OUT"
run_ok "ypt import-certificate 9a" ypt -a import-certificate -s 9a -i "$T/cert.pem"
run_ok "ypt read-certificate 9a" ypt -a read-certificate -s 9a -o "$T/read.pem"
f1=$(openssl x509 -in "$T/cert.pem" -noout -fingerprint -sha256 2>&1)
f2=$(openssl x509 -in "$T/read.pem" -noout -fingerprint -sha256 2>&1)
expect_eq "certificate read back unchanged" "$f1" "$f2"
run_ok "ypt test-signature 9a" ypt -a verify-pin -P "$PIN" -a test-signature -s 9a -i "$T/cert.pem"
run_ok "ypt status after import" ypt -a status
expect_match "status shows slot 9a" "Slot 9a" "$OUT"

# ---- OpenSC ---------------------------------------------------------------
run_ok "opensc-tool -l" opensc-tool -l
expect_match "opensc-tool lists the vpiv reader" "vpiv 00 00" "$OUT"
run_ok "opensc-tool -n (card driver)" opensc-tool -r "$R" -n
expect_match "OpenSC sees a PIV card" "PIV|Yubi|Personal Identity Verification" "$OUT"
run_ok "pkcs15-tool list" pkcs15-tool -r "$R" --list-certificates --list-keys
expect_match "pkcs15: certificate" "X.509 Certificate" "$OUT"
expect_match "pkcs15: EC private key" "Private EC Key|EC" "$OUT"
run_ok "pkcs11-tool -L" pkcs11-tool --module "$P11" -L
expect_match "pkcs11: token present" "token (label|present)|token label" "$OUT"
run_ok "pkcs11-tool -O" pkcs11-tool --module "$P11" --slot-index 0 -O
expect_match "pkcs11: certificate object" "Certificate Object" "$OUT"

printf 'raterm peer test data\n' >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/data.sha256"
run_ok "pkcs11-tool sign with 9a" pkcs11-tool --module "$P11" --slot-index 0 \
    --login --pin "$PIN" --sign --id 01 --mechanism ECDSA \
    --signature-format openssl -i "$T/data.sha256" -o "$T/sig.der"
openssl x509 -in "$T/read.pem" -pubkey -noout >"$T/certpub.pem" 2>"$OUT"
run_ok "openssl verifies the card's signature" openssl dgst -sha256 \
    -verify "$T/certpub.pem" -signature "$T/sig.der" "$T/data"
expect_match "signature verified" "Verified OK" "$OUT"

# the card state survived on disk: a new stack with the same state file
stack_stop
stack_start --card "$T/card.state" || finish
R=$VPIV_READER0
run_ok "certificate persists in the state file" ypt -a read-certificate -s 9a -o "$T/read2.pem"
f3=$(openssl x509 -in "$T/read2.pem" -noout -fingerprint -sha256 2>&1)
expect_eq "persisted certificate unchanged" "$f1" "$f3"
finish
