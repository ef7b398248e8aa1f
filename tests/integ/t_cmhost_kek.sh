#!/bin/sh
# t_cmhost_kek - secrets at rest, the certificates' revocation pointers and
# the certConf that never came (issue 12):
# - a stolen cmhost.db (the file and a `sqlite3 .dump`) holds no card
#   management key, neither in binary nor in hex, while the server with
#   the key-encryption key (kek.key of cmhost init) hands the right key out;
#   a wrong KEK is refused at start naming the file; without a KEK no key
#   is stored; `cmhost rekey` rotates (the old KEK then refused);
# - the certificates carry crlDistributionPoints and authorityInfoAccess
#   with the demo's URLs (openssl x509 -text), a profile may opt out;
# - a certificate whose certConf never came (openssl cmp -disable_confirm)
#   answers good while waiting, and after a 2 s grace shows as revoked to
#   openssl ocsp and openssl verify -crl_check (GET /crl and crl_file).
. "$(dirname "$0")/lib.sh"
need openssl
need sqlite3
need python3

D=$T/cm
cmhost_init "$D" 6151 || finish
Y=$D/cmhost.yaml
expect_match "init names its KEK file" "kek_file: kek.key" "$Y"
expect_eq "kek.key is the owner's alone" "600" "$(stat -c %a "$D/kek.key")"

# ---- secrets at rest ----------------------------------------------------------
CARD=0a0b0c0d
MKEY=5f4e3d2c1b0a99887766554433221100ffeeddccbbaa0011
echo "$MKEY" >"$T/mk.hex"
run_ok "mgmt-key stored" "$CMHOST" mgmt-key -c "$Y" --card "$CARD" --alg 3des \
    --key-fd 3 3<"$T/mk.hex"
# the stolen copies
cp "$D/cmhost.db" "$T/stolen.db"
[ -f "$D/cmhost.db-wal" ] && cp "$D/cmhost.db-wal" "$T/stolen.db-wal"
sqlite3 "$T/stolen.db" .dump >"$T/dump.sql"
run_ok "the dump has the row" grep -q "INSERT INTO mgmt_keys" "$T/dump.sql"
cat >"$T/has.py" <<'PY'
import sys
key = bytes.fromhex(sys.argv[1])
for f in sys.argv[2:]:
    try:
        d = open(f, "rb").read()
    except FileNotFoundError:
        continue
    for pat in (key, key.hex().encode(), key.hex().upper().encode()):
        if pat in d:
            print(f, "holds the key"); sys.exit(1)
PY
run_ok "no key in the database file, its WAL or the dump (binary, hex)" \
    python3 "$T/has.py" "$MKEY" "$T/stolen.db" "$T/stolen.db-wal" "$T/dump.sql"

sed -i 's/^  confirm_grace: 600 /  confirm_grace: 2 /' "$Y"
cmhost_start "$D" 150 || { fail "cmhost start" "$(cat "$T/server.log")"; finish; }
URL=http://127.0.0.1:$PORT
mgmtkey() {
	"$TOOLS/cmp_mgmtkey" "$URL/cmp" - "$D/root.pem" "$D/officer.key" \
	    "$D/officer-chain.pem" "$D/officer.pass" "$CARD"
}
run_ok "the server hands the key out" mgmtkey
expect_eq "the right key" "alg=3 key=$MKEY" "$(cat "$OUT")"
cmhost_stop

# a wrong KEK: refused at start, naming the file
head -c 32 /dev/urandom >"$T/other.key"
chmod 600 "$T/other.key"
sed "s|kek_file: kek.key|kek_file: $T/other.key|" "$Y" >"$D/wrong.yaml"
run_rc "cmhost check with another KEK" 1 "$CMHOST" check -c "$D/wrong.yaml"
expect_match "names the file" "$T/other.key: not the key-encryption key" "$OUT"
chmod 644 "$T/other.key"
run_rc "a KEK file others may read" 2 "$CMHOST" check -c "$D/wrong.yaml"
expect_match "says so" "mode 0644 lets group or others read" "$OUT"
# no KEK: nothing stored, the key not given
grep -v "kek_file" "$Y" >"$D/nokek.yaml"
run_rc "mgmt-key without a KEK" 2 "$CMHOST" mgmt-key -c "$D/nokek.yaml" \
    --card 0101 --alg 3des --key-fd 3 3<"$T/mk.hex"
expect_match "clear error" "no key-encryption key configured" "$OUT"

# rotation
run_ok "cmhost rekey" "$CMHOST" rekey -c "$Y" --new-kek-file "$D/kek2.key"
expect_match "one row re-sealed" "1 management key\\(s\\) from KEK" "$OUT"
expect_eq "the new key file 0600" "600" "$(stat -c %a "$D/kek2.key")"
run_rc "the old KEK no longer opens the database" 1 "$CMHOST" check -c "$Y"
expect_match "names the old file" "kek.key: not the key-encryption key" "$OUT"
sed -i "s|kek_file: kek.key|kek_file: kek2.key|" "$Y"
run_ok "cmhost check with the new KEK" "$CMHOST" check -c "$Y"
sqlite3 "$D/cmhost.db" .dump >"$T/dump2.sql"
run_ok "still no key in the dump" python3 "$T/has.py" "$MKEY" "$T/dump2.sql" \
    "$D/cmhost.db"

# ---- revocation pointers, the certConf that never came ------------------------
printf '  crl_file: %s\n' "$T/pub.crl" >"$T/crlfile"
sed -i "/^revocation:/r $T/crlfile" "$Y"
cmhost_start "$D" 150 || { fail "cmhost start" "$(cat "$T/server.log")"; finish; }
URL=http://127.0.0.1:$PORT
run_ok "the new KEK serves the key" mgmtkey
expect_eq "the right key after rotation" "alg=3 key=$MKEY" "$(cat "$OUT")"
cd "$T" || exit 1
CMP="openssl cmp -server 127.0.0.1:$PORT -path cmp -trusted $D/root.pem"
OFFICER="-cert $D/officer.pem -key $D/officer.key -keypass file:$D/officer.pass"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.key 2>/dev/null
# shellcheck disable=SC2086
run_ok "cr, no certConf" $CMP $OFFICER -cmd cr -newkey k.key \
    -subject "/CN=Never Confirmed" -disable_confirm -certout nc.pem
run_ok "openssl x509 -text" openssl x509 -in nc.pem -noout -text
expect_match "CRL distribution point" "X509v3 CRL Distribution Points" "$OUT"
expect_match "its URL" "URI:http://127.0.0.1:[0-9]*/crl/ca.crl" "$OUT"
expect_match "authority information access" "Authority Information Access" "$OUT"
expect_match "the OCSP URL" "OCSP - URI:http://127.0.0.1:[0-9]*/ocsp" "$OUT"
OCSP_URL=$(openssl x509 -in nc.pem -noout -ocsp_uri)
OCSP="openssl ocsp -issuer $D/ca.pem -cert nc.pem -url $OCSP_URL -CAfile $D/root.pem -verify_other $D/ca-chain.pem"
# shellcheck disable=SC2086
run_ok "waiting for its certConf: good" $OCSP
expect_match "good" "nc.pem: good" "$OUT"
# the grace (2 s) runs out; the sweep runs every second
i=0
while [ $i -lt 100 ]; do
	# shellcheck disable=SC2086
	$OCSP >"$T/ocsp.out" 2>&1
	grep -q "nc.pem: revoked" "$T/ocsp.out" && break
	sleep 0.1
	i=$((i + 1))
done
expect_match "after the grace: revoked" "nc.pem: revoked" "$T/ocsp.out"
expect_match "cessationOfOperation" "Reason: cessationOfOperation" "$T/ocsp.out"
expect_match "the answer verifies" "Response verify OK" "$T/ocsp.out"
CRL_URL=$(openssl x509 -in nc.pem -noout -ext crlDistributionPoints | sed -n 's/.*URI://p')
cat >get.py <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    open(sys.argv[2], "wb").write(r.read())
PY
run_ok "GET the CRL its distribution point names" python3 get.py "$CRL_URL" crl.der
run_ok "openssl verify -crl_check: revoked" sh -c "openssl verify -crl_check \
    -CAfile $D/root.pem -untrusted $D/ca-chain.pem -CRLfile crl.der nc.pem 2>&1; \
    test \$? -ne 0"
expect_match "certificate revoked" "certificate revoked" "$OUT"
S=$(openssl x509 -in nc.pem -noout -serial | sed 's/serial=//')
i=0
while [ $i -lt 50 ]; do
	openssl crl -inform DER -in "$T/pub.crl" -noout -text >"$T/pub.txt" 2>&1
	grep -q "Serial Number: $S" "$T/pub.txt" && break
	sleep 0.1
	i=$((i + 1))
done
expect_match "crl_file rewritten with it" "Serial Number: $S" "$T/pub.txt"
cmhost_stop

# a profile that opts out
python3 - "$Y" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("  - name: user\n", "  - name: user\n    revocation: none\n", 1)
open(p, "w").write(s)
PY
cmhost_start "$D" 150 || { fail "cmhost start" "$(cat "$T/server.log")"; finish; }
CMP="openssl cmp -server 127.0.0.1:$PORT -path cmp -trusted $D/root.pem"
# shellcheck disable=SC2086
run_ok "cr under a profile with revocation: none" $CMP $OFFICER -cmd cr \
    -newkey k.key -subject "/CN=No Pointers" -certout np.pem
run_ok "openssl x509 -text" openssl x509 -in np.pem -noout -text
expect_no_match "no CRL distribution point" "CRL Distribution Points" "$OUT"
expect_no_match "no authority information access" "Authority Information Access" "$OUT"
cmhost_stop
finish
