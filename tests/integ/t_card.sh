#!/bin/sh
# t_card.sh - raterm's PIV card layer through the private pcscd: PIN retry
# counter, wrong PIN with retries left (never retried), blocking, change and
# unblock with the PUK; management-key authentication with 3DES and
# AES-128/192/256 (and a wrong key refused); key generation RSA-2048, P-256,
# P-384 with signatures checked by openssl and yubico-piv-tool; a compressed
# certificate object written by yubico-piv-tool shown by raterm.
. "$(dirname "$0")/lib.sh"
need openssl yubico-piv-tool
HOME=$T
export HOME
PIVTOOL=$TOOLS/pivtool
PKI=$T/pki
run_ok "test PKI" sh "$REPO/scripts/mkpki.sh" "$PKI"

printf 'mgmt=%s\n' 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f >"$T/aes256.secrets"
printf 'mgmt=%s\n' 000102030405060708090a0b0c0d0e0f >"$T/aes128.secrets"
printf 'mgmt=%s\n' 000102030405060708090a0b0c0d0e0f1011121314151617 >"$T/aes192.secrets"
for a in aes128 aes192 aes256; do
	sed 's/^mgmt=//' "$T/$a.secrets" >"$T/$a.key"
	run_ok "vpiv init $a card" "$VPIV" init "$T/$a.state" --mgmt-alg $a --secrets "$T/$a.secrets"
done
run_ok "vpiv init 3DES card" "$VPIV" init "$T/des.state" --serial 4242

stack_start --readers 4 --card "$T/des.state" --card "$T/aes128.state" \
    --card "$T/aes192.state" --card "$T/aes256.state" || finish
R0=$VPIV_READER0

# ---- PIN --------------------------------------------------------------------
run_ok "retries: 3" "$PIVTOOL" -r "$R0" retries
expect_eq "three tries" 3 "$(cat "$OUT")"
printf '999999\n' | "$PIVTOOL" -r "$R0" verify-pin >"$OUT" 2>&1
expect_eq "wrong PIN fails" 1 $?
expect_match "wrong PIN: retries left, named" "2 retries left \[PIN_WRONG, SW 63C2\]" "$OUT"
run_ok "retries: 2" "$PIVTOOL" -r "$R0" retries
expect_eq "two tries left (not retried)" 2 "$(cat "$OUT")"
run_ok "raterm show: 2 retries" "$RATERM" show -r "$R0"
expect_match "show: PIN line" "^PIN: +2 retries left" "$OUT"
printf '123456\n' | "$PIVTOOL" -r "$R0" verify-pin >"$OUT" 2>&1
expect_eq "right PIN" 0 $?
printf '123456\n654321\n' | "$PIVTOOL" -r "$R0" change-pin >"$OUT" 2>&1
expect_eq "change PIN" 0 $?
printf '123456\n' | "$PIVTOOL" -r "$R0" verify-pin >"$OUT" 2>&1
expect_eq "old PIN refused" 1 $?
printf '12345\n' | "$PIVTOOL" -r "$R0" verify-pin >"$OUT" 2>&1
expect_match "short PIN refused before the card" "6 to 8 characters.*\[PIN_FORMAT\]" "$OUT"
for i in 1 2; do
	printf '000000\n' | "$PIVTOOL" -r "$R0" verify-pin >/dev/null 2>&1
done
printf '654321\n' | "$PIVTOOL" -r "$R0" verify-pin >"$OUT" 2>&1
expect_match "blocked PIN" "\[PIN_BLOCKED" "$OUT"
run_ok "raterm show: blocked" "$RATERM" show -r "$R0"
expect_match "show: blocked" "^PIN: +0 retries left \(blocked\)" "$OUT"
printf '11111111\n222222\n' | "$PIVTOOL" -r "$R0" unblock-pin >"$OUT" 2>&1
expect_match "wrong PUK" "2 retries left \[PIN_WRONG" "$OUT"
printf '12345678\n222222\n' | "$PIVTOOL" -r "$R0" unblock-pin >"$OUT" 2>&1
expect_eq "unblock with the PUK" 0 $?
printf '222222\n' | "$PIVTOOL" -r "$R0" verify-pin >"$OUT" 2>&1
expect_eq "new PIN works" 0 $?

# ---- management keys ---------------------------------------------------------
run_ok "3DES default key" "$PIVTOOL" -r "$R0" auth-mgmt
i=1
for a in aes128 aes192 aes256; do
	R=$(eval echo "\$VPIV_READER$i")
	A=$(echo $a | tr a-z A-Z)
	run_ok "$a key" "$PIVTOOL" -r "$R" -m "$A:$T/$a.key" auth-mgmt
	run_rc "$a card refuses the 3DES default" 1 "$PIVTOOL" -r "$R" auth-mgmt
	expect_match "$a: authentication error" "\[AUTH" "$OUT"
	i=$((i + 1))
done
printf '%s\n' 0f0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f >"$T/wrong.key"
run_rc "wrong AES-256 key" 1 "$PIVTOOL" -r "$VPIV_READER3" -m "AES256:$T/wrong.key" auth-mgmt
expect_match "wrong key named" "\[AUTH" "$OUT"

# ---- keys and signatures -----------------------------------------------------
R3=$VPIV_READER3
run_ok "generate P-384 in 9c (AES-256 card)" "$PIVTOOL" -r "$R3" -m "AES256:$T/aes256.key" generate 9c ECCP384 "$T/9c.pub"
printf 'P-384 data\n' >"$T/d384"
openssl dgst -sha384 -binary "$T/d384" >"$T/d384.hash"
printf '123456\n' | "$PIVTOOL" -r "$R3" sign 9c ECCP384 "$T/d384.hash" "$T/d384.sig" >"$OUT" 2>&1
expect_eq "P-384 signature" 0 $?
run_ok "openssl verifies P-384" openssl dgst -sha384 -verify "$T/9c.pub" -signature "$T/d384.sig" "$T/d384"

run_ok "generate RSA-2048 in 9d" "$PIVTOOL" -r "$R0" generate 9d RSA2048 "$T/9d.pub"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/d.key" \
    -subj "/CN=RSA key on card" -out "$T/d.csr" 2>/dev/null
run_ok "certify the RSA key" openssl x509 -req -in "$T/d.csr" -force_pubkey "$T/9d.pub" \
    -CA "$PKI/issuing.pem" -CAkey "$PKI/issuing.key" -CAcreateserial -days 30 -out "$T/9d.pem"
run_ok "write the RSA certificate" "$PIVTOOL" -r "$R0" write-cert 9d "$T/9d.pem"
run_ok "ypt signs with the RSA key" yubico-piv-tool -r "$R0" -a verify-pin -P 222222 \
    -a test-signature -s 9d -i "$T/9d.pem"
run_ok "raterm shows the RSA key" "$RATERM" show -r "$R0"
expect_match "RSA2048 row" "^9d +RSA2048 +RSA key on card" "$OUT"

# ---- compressed certificate object (SP 800-73-4 CertInfo bit 0) -------------
openssl x509 -in "$PKI/issuing.pem" -outform der | gzip -9 -n >"$T/cert.gz"
n=$(wc -c <"$T/cert.gz" | tr -d ' ')
{
	printf '\160\202'; printf "\\$(printf %03o $((n / 256)))\\$(printf %03o $((n % 256)))"
	cat "$T/cert.gz"
	printf '\161\001\001\376\000'
} >"$T/compressed.obj"
run_ok "ypt writes a compressed certificate object" yubico-piv-tool -r "$R0" -a write-object \
    --id 0x5fc10d -f binary -i "$T/compressed.obj"
run_ok "raterm reads the compressed certificate" "$RATERM" show -r "$R0" --json
expect_match "inflated certificate shown" '"slot": "82".*"subject_cn": "raterm Test Issuing CA' "$OUT"
finish
