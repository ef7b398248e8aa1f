#!/bin/sh
# t_cmhost_publish.sh - what relying parties learn of cmhost's
# certificates, with OpenSSL as referee: the CRL (GET /crl/ca.crl, and the
# file of revocation.crl_file) verifies against the CA and is empty, then
# lists a certificate revoked by `openssl cmp -cmd rr` with its reason;
# the OCSP responder (POST /ocsp, GET /ocsp/BASE64) answers good, then
# revoked (keyCompromise), unknown for a serial never issued; the answers
# verify (`openssl ocsp`), the nonce is echoed. Loopback, bounded.
. "$(dirname "$0")/lib.sh"
need openssl python3
CMHOST=${CMHOST:-$BUILD/cmhost}
[ -x "$CMHOST" ] || skip_all "cmhost not built"
D=$T/cm
cmhost_init "$D" 5557 || finish
# into the revocation block cmhost init writes (its CRL and OCSP URLs)
printf '  crl_validity: 3600\n  ocsp_validity: 600\n  crl_file: %s\n' \
    "$T/published.crl" >"$T/rev.yaml"
sed -i "/^revocation:/r $T/rev.yaml" "$D/cmhost.yaml"
run_ok "cmhost check with revocation" "$CMHOST" check -c "$D/cmhost.yaml"
cmhost_start "$D" 120 || { fail "cmhost start" "$(cat "$T/server.log")"; finish; }
URL=http://127.0.0.1:$PORT
cd "$T" || exit 1
cat >get.py <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    sys.stdout.write(r.headers.get("Content-Type") + "\n")
    open(sys.argv[2], "wb").write(r.read())
PY
run_ok "the CRL file is published at start" test -s "$T/published.crl"
run_ok "GET /crl/ca.crl" python3 get.py "$URL/crl/ca.crl" crl1.der
expect_match "Content-Type application/pkix-crl" "application/pkix-crl" "$OUT"
run_ok "the CRL verifies against the CA" openssl crl -inform DER -in crl1.der \
    -CAfile "$D/ca.pem" -noout
expect_match "verify OK" "verify OK" "$OUT"
run_ok "the CRL" openssl crl -inform DER -in crl1.der -noout -text
expect_no_match "empty at first" "Serial Number" "$OUT"

CMP="openssl cmp -server 127.0.0.1:$PORT -path cmp -trusted $D/root.pem"
OFFICER="-cert $D/officer.pem -key $D/officer.key -keypass file:$D/officer.pass"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out c.key 2>/dev/null
# shellcheck disable=SC2086
run_ok "cr" $CMP $OFFICER -cmd cr -newkey c.key -subject "/CN=Relying Test" \
    -certout c.pem
OCSP="openssl ocsp -issuer $D/ca.pem -cert c.pem -url $URL/ocsp -CAfile $D/root.pem -verify_other $D/ca-chain.pem"
# shellcheck disable=SC2086
run_ok "OCSP: good" $OCSP
expect_match "good" "c.pem: good" "$OUT"
expect_match "the response verifies" "Response verify OK" "$OUT"
expect_no_match "the nonce echoed" "WARNING: no nonce|Nonce Verify error" "$OUT"

# shellcheck disable=SC2086
run_ok "rr" $CMP $OFFICER -cmd rr -oldcert c.pem -revreason 1
# shellcheck disable=SC2086
run_ok "OCSP: revoked" $OCSP
expect_match "revoked" "c.pem: revoked" "$OUT"
expect_match "the reason" "Reason: keyCompromise" "$OUT"
run_ok "GET /crl/ca.crl again" python3 get.py "$URL/crl/ca.crl" crl2.der
run_ok "the new CRL" openssl crl -inform DER -in crl2.der -CAfile "$D/ca.pem" \
    -noout -text
SERIAL=$(openssl x509 -in c.pem -noout -serial | sed 's/serial=//')
expect_match "lists the revoked certificate" "Serial Number: $SERIAL" "$OUT"
expect_match "with its reason" "Key Compromise" "$OUT"
run_ok "openssl verify -crl_check refuses it" sh -c "openssl verify -crl_check \
    -CAfile $D/root.pem -untrusted $D/ca-chain.pem -CRLfile crl2.der c.pem; test \$? -ne 0"

# GET /ocsp/BASE64 (RFC 6960 A.1): an unknown serial
openssl ocsp -issuer "$D/ca.pem" -serial 0x4242 -reqout unk.der -no_nonce 2>/dev/null
B64=$(base64 -w0 unk.der)
run_ok "GET /ocsp/BASE64" python3 get.py "$URL/ocsp/$B64" unk.rsp
run_ok "OCSP: unknown" openssl ocsp -respin unk.rsp -resp_text -noverify
expect_match "unknown" "Cert Status: unknown" "$OUT"

# a delegated responder (RFC 6960 4.2.2.2): a certificate of the CA for
# id-kp-OCSPSigning signs the answers, and OpenSSL accepts them
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout resp.key -subj "/CN=Test OCSP Responder" -out resp.csr 2>/dev/null
printf 'extendedKeyUsage=OCSPSigning\nkeyUsage=critical,digitalSignature\n' >resp.ext
openssl x509 -req -in resp.csr -CA "$D/ca.pem" -CAkey "$D/ca.key" \
    -set_serial 0x7e01 -days 30 -extfile resp.ext -out resp.pem 2>/dev/null
openssl x509 -req -in resp.csr -CA "$D/ca.pem" -CAkey "$D/ca.key" \
    -set_serial 0x7e02 -days 30 -out noeku.pem 2>/dev/null
cp "$D/cmhost.yaml" "$D/noeku.yaml"
sed -i "/^ca:/a\\  ocsp_cert: $T/noeku.pem\\n  ocsp_key: $T/resp.key" "$D/noeku.yaml"
run_fail "a responder without OCSPSigning is refused" "$CMHOST" check -c "$D/noeku.yaml"
expect_match "naming the certificate and the EKU" "noeku.pem: .*OCSPSigning" "$OUT"
cmhost_stop
sed -i "/^ca:/a\\  ocsp_cert: $T/resp.pem\\n  ocsp_key: $T/resp.key" "$D/cmhost.yaml"
run_ok "cmhost check with a delegated responder" "$CMHOST" check -c "$D/cmhost.yaml"
cmhost_start "$D" 120 || { fail "cmhost restart" "$(cat "$T/server.log")"; finish; }
URL=http://127.0.0.1:$PORT
OCSP="openssl ocsp -issuer $D/ca.pem -cert c.pem -url $URL/ocsp -CAfile $D/root.pem -verify_other $D/ca-chain.pem -resp_text"
# shellcheck disable=SC2086
run_ok "OCSP from the delegated responder" $OCSP
expect_match "still revoked" "c.pem: revoked" "$OUT"
expect_match "the delegated answer verifies" "Response verify OK" "$OUT"
expect_match "the responder's certificate is in the answer" "Test OCSP Responder" "$OUT"
cmhost_stop
finish
