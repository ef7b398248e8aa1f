#!/bin/sh
# t_show.sh - `raterm readers` and `raterm show` through the private pcscd:
# blank and pre-personalized (TC) vpiv cards, JSON output, what peers write
# is shown by raterm, what raterm's card layer writes is read and used by the
# peers, and the bad cases (no service, no reader, no card, not PIV, card
# pulled mid-read, malformed objects) as one-line errors with exit codes.
. "$(dirname "$0")/lib.sh"
need openssl yubico-piv-tool pkcs15-tool pkcs11-tool
HOME=$T
export HOME
PIN=123456
P11=${OPENSC_PKCS11:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
PIVTOOL=$TOOLS/pivtool
PKI=$T/pki

run_ok "test PKI" sh "$REPO/scripts/mkpki.sh" "$PKI"
run_ok "vpiv init TC card" "$VPIV" init "$T/tc.state" --serial 10000001
for s in 9a 9c 9d; do
	run_ok "personalize TC $s" "$VPIV" personalize "$T/tc.state" --slot $s \
	    --alg eccp256 --ca-cert "$PKI/transport-ca.pem" \
	    --ca-key "$PKI/transport-ca.key" --subject "CN=Card 10000001 $s,O=raterm tests"
done
run_ok "vpiv init blank card" "$VPIV" init "$T/blank.state" --serial 10000002

stack_start --mode connect --readers 4 --card "$T/blank.state" --card "$T/tc.state" --card - || finish
R0=$VPIV_READER0
R1=$VPIV_READER1
R2=$VPIV_READER2

# ---- readers ---------------------------------------------------------------
run_ok "readers" "$RATERM" readers
expect_match "reader 0 holds a card" "^0 +yes +$R0\$" "$OUT"
expect_match "reader 2 is empty" "^2 +no +$R2\$" "$OUT"
run_ok "readers --json" "$RATERM" readers --json
expect_match "readers json" "\"name\": \"$R1\", \"card\": true" "$OUT"

# ---- show ------------------------------------------------------------------
run_ok "show blank card" "$RATERM" show -r "$R0"
expect_match "blank: serial" "^Serial: +10000002" "$OUT"
expect_match "blank: PIN retries" "^PIN: +3 retries left" "$OUT"
expect_match "blank: no keys" "No keys or certificates" "$OUT"

run_ok "show TC card" "$RATERM" show -r "$R1" --transport-ca "$PKI/transport-ca.pem"
cp "$OUT" "$T/show-tc.txt"
for s in 9a 9c 9d; do
	expect_match "TC card: $s row" "^$s +ECCP256 +Card 10000001 $s .* TC\$" "$T/show-tc.txt"
done
expect_match "TC card: serial" "^Serial: +10000001" "$T/show-tc.txt"
run_ok "show by reader number" "$RATERM" show -r 1
expect_match "reader number selects the TC card" "Card 10000001 9a" "$OUT"
expect_no_match "no TC flag without transport CA" " TC\$" "$OUT"
run_ok "show --json" "$RATERM" show -r "$R1" --json --transport-ca "$PKI/transport-ca.pem"
cp "$OUT" "$T/show.json"
expect_match "json: profile" '"profile": "piv"' "$T/show.json"
expect_match "json: serial" '"serial": 10000001' "$T/show.json"
expect_match "json: pin_retries" '"pin_retries": 3' "$T/show.json"
expect_match "json: guid" '"guid": "[0-9a-f]{32}"' "$T/show.json"
expect_eq "json: three TC keys" 3 "$(grep -c '"tc": true' "$T/show.json")"
expect_match "json: certificate fields" '"subject_cn": "Card 10000001 9c", "issuer": "[^"]*", "issuer_cn": "[^"]+", "serial": "[0-9a-f]+", "not_before": "[0-9-]+T[0-9:]+Z", "not_after": "[0-9-]+T[0-9:]+Z", "sha256": "[0-9a-f]{64}"' "$T/show.json"
run_ok "in-process card (vpiv:)" "$RATERM" show -r "vpiv:$T/blank-copy.state"

# ---- peers write, raterm shows ---------------------------------------------
run_ok "ypt generate 9e" yubico-piv-tool -r "$R0" -a generate -s 9e -A ECCP256 -o "$T/9e.pub"
# (yubico-piv-tool 2.2.0's selfsign fails on OpenSSL 3: a test CA certifies)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/dummy.key" -subj "/CN=Written by ypt" -out "$T/dummy.csr" 2>/dev/null
run_ok "certify the ypt key" openssl x509 -req -in "$T/dummy.csr" \
    -force_pubkey "$T/9e.pub" -CA "$PKI/issuing.pem" -CAkey "$PKI/issuing.key" \
    -CAcreateserial -days 30 -out "$T/9e.pem"
run_ok "ypt import 9e" yubico-piv-tool -r "$R0" -a import-certificate -s 9e -i "$T/9e.pem"
run_ok "show after ypt" "$RATERM" show -r "$R0" --json
expect_match "raterm shows the ypt certificate" '"slot": "9e", "algorithm": "ECCP256".*"subject_cn": "Written by ypt"' "$OUT"
fp=$(openssl x509 -in "$T/9e.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
expect_match "sha256 matches openssl's fingerprint" "\"sha256\": \"$fp\"" "$OUT"

# ---- raterm's card layer writes, peers read and sign ------------------------
run_ok "card layer: generate 9a" "$PIVTOOL" -r "$R0" generate 9a ECCP256 "$T/9a.pub"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/dummy.key" -subj "/CN=Written by raterm" -out "$T/dummy2.csr" 2>/dev/null
run_ok "issue a certificate for the card key" openssl x509 -req -in "$T/dummy2.csr" \
    -force_pubkey "$T/9a.pub" -CA "$PKI/issuing.pem" -CAkey "$PKI/issuing.key" \
    -CAcreateserial -days 30 -out "$T/9a.pem"
run_ok "card layer: write certificate 9a" "$PIVTOOL" -r "$R0" write-cert 9a "$T/9a.pem"
run_ok "ypt reads raterm's certificate" yubico-piv-tool -r "$R0" -a read-certificate -s 9a -o "$T/9a-read.pem"
expect_eq "ypt: certificate unchanged" \
    "$(openssl x509 -in "$T/9a.pem" -noout -fingerprint -sha256)" \
    "$(openssl x509 -in "$T/9a-read.pem" -noout -fingerprint -sha256)"
run_ok "ypt signs with raterm's key" yubico-piv-tool -r "$R0" -a verify-pin -P "$PIN" \
    -a test-signature -s 9a -i "$T/9a.pem"
run_ok "pkcs15-tool lists raterm's certificate" pkcs15-tool -r "$R0" --list-certificates
expect_match "pkcs15: PIV authentication certificate" "Certificate for PIV Authentication" "$OUT"
pkcs15-tool -r "$R0" --read-certificate 01 >"$T/9a-p15.pem" 2>/dev/null
run_ok "pkcs15-tool reads raterm's certificate" openssl x509 -in "$T/9a-p15.pem" -noout -subject
expect_match "pkcs15: subject" "Written by raterm" "$OUT"
printf 'signed through OpenSC\n' >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/data.sha256"
run_ok "pkcs11-tool signs with raterm's key" pkcs11-tool --module "$P11" --slot-index 0 \
    --login --pin "$PIN" --sign --id 01 --mechanism ECDSA --signature-format openssl \
    -i "$T/data.sha256" -o "$T/sig.der"
openssl x509 -in "$T/9a.pem" -pubkey -noout >"$T/9a-cert.pub"
run_ok "openssl verifies the pkcs11 signature" openssl dgst -sha256 \
    -verify "$T/9a-cert.pub" -signature "$T/sig.der" "$T/data"
printf '123456\n' | "$PIVTOOL" -r "$R0" sign 9a ECCP256 "$T/data.sha256" "$T/sig2.der" >"$OUT" 2>&1
expect_eq "card layer signs" 0 $?
run_ok "openssl verifies the card layer's signature" openssl dgst -sha256 \
    -verify "$T/9a-cert.pub" -signature "$T/sig2.der" "$T/data"
run_ok "card layer: delete certificate 9e" "$PIVTOOL" -r "$R0" delete-cert 9e
run_rc "ypt: 9e certificate gone" 1 yubico-piv-tool -r "$R0" -a read-certificate -s 9e

# ---- malformed objects ------------------------------------------------------
printf '\160\003\001\002\003\161\001\000\376\000' >"$T/notcert.bin"   # 70 03 010203 71 01 00 FE 00
run_ok "ypt writes a non-certificate into 9c" yubico-piv-tool -r "$R0" -a write-object \
    --id 0x5fc10a -f binary -i "$T/notcert.bin"
printf '\160\010\060\003' >"$T/badtlv.bin"                         # 70 08 3003: truncated
run_ok "ypt writes a truncated TLV into 9d" yubico-piv-tool -r "$R0" -a write-object \
    --id 0x5fc10b -f binary -i "$T/badtlv.bin"
run_rc "show: unreadable objects exit 6" 6 "$RATERM" show -r "$R0"
expect_match "show: still lists 9a" "^9a +ECCP256 +Written by raterm" "$OUT"
expect_match "show: 9c named, does not parse" "^raterm: slot 9c on .*does not parse.*\[CERT\]" "$OUT"
expect_match "show: 9d named, TLV" "^raterm: slot 9d on .*\[TLV\]" "$OUT"

# ---- bad environment --------------------------------------------------------
run_rc "no such reader" 3 "$RATERM" show -r "no such reader"
expect_match "no such reader: message" "^raterm: no reader matches \"no such reader\" \[NO_READER\]\$" "$OUT"
run_rc "empty reader" 3 "$RATERM" show -r "$R2"
expect_match "empty reader: message" "no card in reader \"$R2\" \[NO_CARD\]" "$OUT"
# an ambiguous reader is NO_READER (exit 3), as in raterm update
run_rc "several cards, no -r" 3 "$RATERM" show
expect_match "several cards: asks for -r" "choose one with -r" "$OUT"
PCSCLITE_CSOCK_NAME=$T/no-pcscd.sock run_rc "no pcscd" 3 "$RATERM" readers
expect_match "no pcscd: message" "is pcscd running.*\[NO_SERVICE\]" "$OUT"
run_rc "usage error" 2 "$RATERM" show --bogus
run_rc "unknown command" 2 "$RATERM" frobnicate
run_ok "--help" "$RATERM" --help
run_ok "--version" "$RATERM" --version
expect_match "version" "^raterm [0-9]+\.[0-9]+" "$OUT"
stack_stop

# not a PIV card: the card answers SELECT with 6A82
stack_start --card "$T/tc.state" --serve-arg --sw-at --serve-arg 1:6A82 || finish
run_rc "not a PIV card" 4 "$RATERM" show -r "$VPIV_READER0"
expect_match "not PIV: message" "has no PIV application.*\[NOT_PIV, SW 6A82\]" "$OUT"
stack_stop

# the card is pulled in the middle of reading the certificates
stack_start --mode connect --card "$T/tc.state" --serve-arg --drop-at --serve-arg 8 || finish
run_rc "card pulled mid-read" 3 "$RATERM" show -r "$VPIV_READER0"
expect_eq "pulled: one line" 1 "$(wc -l <"$OUT" | tr -d ' ')"
expect_match "pulled: names the reader" "reading the card in \"$VPIV_READER0\".*\[CARD_REMOVED\]" "$OUT"
finish
