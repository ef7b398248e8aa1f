#!/bin/sh
# t_tc.sh - transport-certificate verification and CSRs through the private
# pcscd with vpiv cards personalized by the project's scripts:
#   card A (genuine): TCs in 9a (bound to the serial), 9c (bound to the GUID,
#     PIN before every signature), 9d (RSA), attestation key issued by the
#     test root; every TC verifies, attestation included;
#   card B (bad): 9a from an unknown CA, 9c expired, 9d a TC for a key that
#     is not on the card, 9e bound to card A's GUID, 82 a tampered signature
#     - each fails with its own error name and exit status 7.
# Then `raterm csr` on card A's keys, checked with `openssl req -verify`.
. "$(dirname "$0")/lib.sh"
need openssl od
PKI=$T/pki
PINS=$T/pins
echo "card=123456" > "$PINS"
GUID_A=00112233445566778899aabbccddeeff

run_ok "test PKI" sh "$REPO/scripts/mkpki.sh" "$PKI"
TCA="--ca-cert $PKI/transport-ca.pem --ca-key $PKI/transport-ca.key"

# ---- card A: genuine --------------------------------------------------------
run_ok "init card A" "$VPIV" init "$T/a.state" --serial 20000001 --guid $GUID_A
# shellcheck disable=SC2086
run_ok "personalize card A" "$VPIV" personalize "$T/a.state" $TCA \
    --slot 9a --subject "CN=TC A 9a,O=raterm tests" --bind serial \
    --slot 9c --subject "CN=TC A 9c,O=raterm tests" --bind guid \
    --slot 9d --alg rsa2048 --subject "CN=TC A 9d,O=raterm tests"
run_ok "card A attestation key from the test root" "$VPIV" personalize "$T/a.state" \
    --ca-cert "$PKI/root.pem" --ca-key "$PKI/root.key" \
    --slot f9 --subject "CN=vpiv Attestation,O=raterm tests"

# ---- card B: one failure per slot ----------------------------------------------
run_ok "init card B" "$VPIV" init "$T/b.state" --serial 20000002
run_ok "B 9a: TC from an unknown CA" "$VPIV" personalize "$T/b.state" \
    --ca-cert "$PKI/issuing.pem" --ca-key "$PKI/issuing.key" \
    --slot 9a --subject "CN=TC B 9a,O=raterm tests"
# shellcheck disable=SC2086
run_ok "B 9c: expired TC" "$VPIV" personalize "$T/b.state" $TCA \
    --slot 9c --subject "CN=TC B 9c,O=raterm tests" \
    --not-before 20200101000000 --not-after 20210101000000
# 9d: a key on the card, but the TC certifies another key
run_ok "B 9d: key" "$VPIV" personalize "$T/b.state" --slot 9d --key-only
run_ok "B 9d: TC for a foreign key" sh -c "cd '$T' &&
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out foreign.key &&
    openssl req -new -key foreign.key -subj '/CN=TC B 9d/serialNumber=20000002' -out foreign.csr &&
    openssl x509 -req -in foreign.csr -CA pki/transport-ca.pem -CAkey pki/transport-ca.key \
        -CAcreateserial -days 30 -outform DER -out foreign.der"
run_ok "B 9d: store" "$VPIV" personalize "$T/b.state" --slot 9d --cert-only "$T/foreign.der"
# shellcheck disable=SC2086
run_ok "B 9e: TC bound to card A's GUID" "$VPIV" personalize "$T/b.state" $TCA \
    --slot 9e --bind none --subject "CN=TC B 9e,O=raterm tests,serialNumber=$GUID_A"
# 82: a genuine-looking TC whose signature was altered
run_ok "B 82: tampered TC" sh -c "cd '$T' &&
    openssl x509 -req -in foreign.csr -CA pki/transport-ca.pem -CAkey pki/transport-ca.key \
        -CAcreateserial -days 30 -outform DER -out good.der &&
    n=\$(wc -c < good.der) && last=\$(tail -c 1 good.der | od -An -tu1 | tr -d ' ') &&
    head -c \$((n - 1)) good.der > tampered.der &&
    if [ \"\$last\" = 1 ]; then printf '\\002' >> tampered.der; else printf '\\001' >> tampered.der; fi"
run_ok "B 82: store" "$VPIV" personalize "$T/b.state" --slot 82 --cert-only "$T/tampered.der"

stack_start --card "$T/a.state" --card "$T/b.state" || finish
RA=$VPIV_READER0
RB=$VPIV_READER1

# ---- genuine card ---------------------------------------------------------------
run_ok "verify-tc card A" "$RATERM" verify-tc -r "$RA" --transport-ca "$PKI/transport-ca.pem" \
    --pin-fd 3 3<"$PINS"
for s in 9a 9c 9d; do
	expect_match "A $s verified" "^$s +verified +passed +passed +passed +skipped" "$OUT"
done
run_ok "verify-tc card A with attestation" "$RATERM" verify-tc -r "$RA" \
    --transport-ca "$PKI/transport-ca.pem" --attestation-root "$PKI/root.pem" \
    --json --pin-fd 3 3<"$PINS"
expect_eq "A: three TCs verified with attestation" 3 \
    "$(grep -c '"verified": true, "error": null.*"attestation": "passed"' "$OUT")"
run_rc "A: wrong attestation root" 7 "$RATERM" verify-tc -r "$RA" \
    --transport-ca "$PKI/transport-ca.pem" --attestation-root "$PKI/transport-ca.pem" \
    --pin-fd 3 3<"$PINS"
expect_match "A: TC_ATTESTATION named" "^9a +FAILED .*TC_ATTESTATION" "$OUT"
run_rc "A: other transport CA configured" 7 "$RATERM" verify-tc -r "$RA" \
    --transport-ca "$PKI/officer-ca.pem" --json --pin-fd 3 3<"$PINS"
expect_eq "A: every slot TC_UNKNOWN_CA" 3 "$(grep -c '"error": "TC_UNKNOWN_CA"' "$OUT")"
run_rc "A: transport CA file missing" 1 "$RATERM" verify-tc -r "$RA" \
    --transport-ca "$T/nonexistent.pem"
run_ok "show --verify-tc" "$RATERM" show -r "$RA" --transport-ca "$PKI/transport-ca.pem" \
    --verify-tc --pin-fd 3 3<"$PINS"
expect_match "show: TC section" "^Transport certificates:" "$OUT"
expect_match "show: 9c verified" "^9c +verified" "$OUT"
run_ok "show --verify-tc --json" "$RATERM" show -r "$RA" --json \
    --transport-ca "$PKI/transport-ca.pem" --verify-tc --pin-fd 3 3<"$PINS"
expect_match "show json: tc_verification list" '"tc_verification": \[' "$OUT"
expect_match "show json: closed object" '^\]\}$' "$OUT"
run_rc "wrong PIN stops verification" 5 "$RATERM" verify-tc -r "$RA" \
    --transport-ca "$PKI/transport-ca.pem" --pin-fd 3 3<<EOF
card=999999
EOF
expect_match "wrong PIN named with retries" "PIN_WRONG" "$OUT"
run_ok "correct PIN after the wrong one" "$RATERM" verify-tc -r "$RA" \
    --transport-ca "$PKI/transport-ca.pem" --pin-fd 3 3<"$PINS"

# ---- bad card: one named error per control ------------------------------------
check_slot() {	# SLOT ERROR
	run_rc "B $1: $2" 7 "$RATERM" verify-tc -r "$RB" --slot "$1" \
	    --transport-ca "$PKI/transport-ca.pem" --json --pin-fd 3 3<"$PINS"
	expect_match "B $1: error $2" "\"slot\": \"$1\", \"verified\": false, \"error\": \"$2\"" "$OUT"
}
check_slot 9a TC_UNKNOWN_CA
check_slot 9c TC_EXPIRED
check_slot 9d TC_POSSESSION
check_slot 9e TC_BINDING
check_slot 82 TC_SIGNATURE
run_rc "verify-tc card B: all TCs" 7 "$RATERM" verify-tc -r "$RB" \
    --transport-ca "$PKI/transport-ca.pem" --pin-fd 3 3<"$PINS"
expect_match "B list: expired" "^9c +FAILED .*TC_EXPIRED" "$OUT"
expect_match "B list: possession" "^9d +FAILED +passed +failed .*TC_POSSESSION" "$OUT"
expect_match "B list: binding" "^9e +FAILED +passed +passed +failed .*TC_BINDING" "$OUT"
expect_match "B list: tampered" "^82 +FAILED .*TC_SIGNATURE" "$OUT"
expect_no_match "B list: 9a is no TC of this CA" "^9a " "$OUT"

# ---- CSRs signed on the card -----------------------------------------------------
run_ok "csr 9a" "$RATERM" csr -r "$RA" --slot 9a --subject "CN=Jane Doe,O=raterm tests" \
    --email jane@example.org --upn jdoe@corp.example --dns host.example.org \
    --key-usage digitalSignature --eku clientAuth,smartcardLogon \
    --qc compliance,sscd,esign --qc-retention 10 -o "$T/a9a.csr" --pin-fd 3 3<"$PINS"
run_ok "openssl req -verify 9a" openssl req -in "$T/a9a.csr" -noout -verify
run_ok "csr 9a text" openssl req -in "$T/a9a.csr" -noout -text
expect_match "csr: UPN" "othername: UPN::jdoe@corp.example" "$OUT"
expect_match "csr: qcStatements" "qcStatements" "$OUT"
run_ok "csr 9c (PIN before the signature)" "$RATERM" csr -r "$RA" --slot 9c \
    -o "$T/a9c.csr" --pin-fd 3 3<"$PINS"
run_ok "openssl req -verify 9c" openssl req -in "$T/a9c.csr" -noout -verify
run_ok "csr 9c subject from the TC" openssl req -in "$T/a9c.csr" -noout -subject
expect_match "csr 9c subject" "CN ?= ?TC A 9c" "$OUT"
run_ok "csr 9d RSA-PSS" "$RATERM" csr -r "$RA" --slot 9d --pss --hash sha384 \
    --subject "CN=RSA PSS" -o "$T/a9d.csr" --pin-fd 3 3<"$PINS"
run_ok "openssl req -verify 9d" openssl req -in "$T/a9d.csr" -noout -verify
run_rc "csr without a PIN source and no terminal" 2 "$RATERM" csr -r "$RA" --slot 9c
run_rc "csr on an empty slot" 4 "$RATERM" csr -r "$RA" --slot 9e --subject CN=x \
    --pin-fd 3 3<"$PINS"
finish
