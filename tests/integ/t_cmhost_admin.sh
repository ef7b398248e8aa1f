#!/bin/sh
# t_cmhost_admin.sh - cmhost's administrator commands beside a running
# server: `cmhost revoke` revokes as an rr does and the server publishes
# it (OpenSSL as referee: openssl ocsp says revoked with the reason, the
# CRL from GET /crl/ca.crl verifies and lists it, openssl verify
# -crl_check refuses the certificate); an unknown or revoked serial is
# refused with its exit status; `cmhost certs` filters and its revocation
# column; `cmhost audit` and its filters; --help on every subcommand, -V;
# unknown options named; `sqlite3 .backup` taken while the server issues
# certificates is a consistent database that cmhost opens. Loopback,
# bounded.
. "$(dirname "$0")/lib.sh"
need openssl python3 sqlite3
CMHOST=${CMHOST:-$BUILD/cmhost}
[ -x "$CMHOST" ] || skip_all "cmhost not built"
D=$T/cm
Y=$D/cmhost.yaml
cmhost_init "$D" 6007 || finish

# ---- usage: --help on every subcommand, -V, unknown options ---------------
for c in init serve check certs audit revoke mgmt-key rekey; do
	run_ok "cmhost $c --help" "$CMHOST" "$c" --help
	expect_match "$c --help: its usage" "^usage: cmhost \\[?$c" "$OUT"
done
run_ok "cmhost --help" "$CMHOST" --help
expect_match "--help lists revoke" "cmhost revoke -c FILE SERIAL --reason R" "$OUT"
expect_match "--help lists audit" "cmhost audit -c FILE" "$OUT"
run_ok "cmhost -V" "$CMHOST" -V
expect_match "-V: the version" "^cmhost [0-9]" "$OUT"
run_rc "an unknown option: usage error" 2 "$CMHOST" certs -c "$Y" --bogus
expect_match "the option named" "certs: unknown option '--bogus'" "$OUT"
run_rc "an unknown subcommand" 2 "$CMHOST" frobnicate -c "$Y"
expect_match "the subcommand named" "unknown subcommand 'frobnicate'" "$OUT"
run_rc "an option of another subcommand" 2 "$CMHOST" audit -c "$Y" --state revoked
expect_match "named too" "audit: unknown option '--state'" "$OUT"
run_rc "revoke without --reason" 2 "$CMHOST" revoke -c "$Y" 01
expect_match "says so" "--reason is required" "$OUT"
run_rc "revoke --reason certificateHold" 2 "$CMHOST" revoke -c "$Y" 01 \
    --reason certificateHold
expect_match "a hold is no revocation" "--reason 'certificateHold': unspecified" "$OUT"
run_rc "revoke: a serial that is not hex" 2 "$CMHOST" revoke -c "$Y" xyz \
    --reason superseded
expect_match "the serial named" "serial 'xyz'" "$OUT"
run_rc "certs --since not a date" 2 "$CMHOST" certs -c "$Y" --since 2024-02-30
expect_match "the date named" "--since '2024-02-30'" "$OUT"
run_rc "certs --state unknown" 2 "$CMHOST" certs -c "$Y" --state lost
expect_match "the states listed" "--state 'lost': waiting, confirmed" "$OUT"

cmhost_start "$D" 150 || { fail "cmhost start" "$(cat "$T/server.log")"; finish; }
URL=http://127.0.0.1:$PORT
cd "$T" || exit 1
cat >get.py <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    open(sys.argv[2], "wb").write(r.read())
PY
CMP="openssl cmp -server 127.0.0.1:$PORT -path cmp -trusted $D/root.pem"
OFFICER="-cert $D/officer.pem -key $D/officer.key -keypass file:$D/officer.pass"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.key 2>/dev/null
# shellcheck disable=SC2086
run_ok "cr one" $CMP $OFFICER -cmd cr -newkey k.key -subject "/CN=Admin One" \
    -certout one.pem
# shellcheck disable=SC2086
run_ok "cr two" $CMP $OFFICER -cmd cr -newkey k.key -subject "/CN=Admin Two" \
    -certout two.pem
OCSP="openssl ocsp -issuer $D/ca.pem -cert one.pem -url $URL/ocsp -CAfile $D/root.pem -verify_other $D/ca-chain.pem"
# shellcheck disable=SC2086
run_ok "OCSP before: good" $OCSP
expect_match "good" "one.pem: good" "$OUT"
run_ok "GET /crl/ca.crl before" python3 get.py "$URL/crl/ca.crl" crl0.der

# ---- cmhost revoke, seen by the running server -------------------------------
S1=$(openssl x509 -in one.pem -noout -serial | sed 's/serial=//')
S2=$(openssl x509 -in two.pem -noout -serial | sed 's/serial=//')
s1=$(echo "$S1" | tr 'A-F' 'a-f')
run_ok "cmhost revoke (the serial as OpenSSL prints it)" "$CMHOST" revoke \
    -c "$Y" "$S1" --reason keyCompromise
expect_match "says what it revoked" "^revoked $s1 \\(keyCompromise\\)" "$OUT"
# shellcheck disable=SC2086
run_ok "OCSP after: revoked" $OCSP
expect_match "revoked" "one.pem: revoked" "$OUT"
expect_match "with the reason" "Reason: keyCompromise" "$OUT"
expect_match "the answer verifies" "Response verify OK" "$OUT"
run_ok "GET /crl/ca.crl after" python3 get.py "$URL/crl/ca.crl" crl1.der
run_ok "the new CRL verifies against the CA" openssl crl -inform DER -in crl1.der \
    -CAfile "$D/ca.pem" -noout
expect_match "verify OK" "verify OK" "$OUT"
run_ok "the new CRL" openssl crl -inform DER -in crl1.der -noout -text
expect_match "lists the certificate" "Serial Number: $S1" "$OUT"
expect_match "with its reason" "Key Compromise" "$OUT"
expect_no_match "not the other one" "Serial Number: $S2" "$OUT"
run_ok "openssl verify -crl_check refuses it" sh -c "openssl verify -crl_check \
    -CAfile $D/root.pem -untrusted $D/ca-chain.pem -CRLfile crl1.der one.pem; test \$? -ne 0"
run_ok "and accepts the other" openssl verify -crl_check -CAfile "$D/root.pem" \
    -untrusted "$D/ca-chain.pem" -CRLfile crl1.der two.pem
run_rc "revoke it again: exit 3" 3 "$CMHOST" revoke -c "$Y" "$s1" --reason superseded
expect_match "already revoked, when and why" "$s1 is already revoked \\(.*keyCompromise\\)" "$OUT"
run_rc "revoke a serial never issued: exit 4" 4 "$CMHOST" revoke -c "$Y" 0x4242 \
    --reason superseded
expect_match "no such certificate" "no certificate with serial 4242" "$OUT"
# shellcheck disable=SC2086
run_ok "OCSP: still keyCompromise" $OCSP
expect_match "the first reason stays" "Reason: keyCompromise" "$OUT"

# ---- cmhost certs: filters and the revocation column -------------------------
run_ok "certs" "$CMHOST" certs -c "$Y"
expect_match "the revocation columns" "ISSUED +REVOKED +REASON +SUBJECT" "$OUT"
expect_match "revoked: time and reason" "^$s1 +revoked .*Z +[0-9-]+T[0-9:]+Z +keyCompromise +CN=Admin One" "$OUT"
expect_match "confirmed: no revocation" "confirmed .*Z +- +- +CN=Admin Two" "$OUT"
run_ok "certs --state revoked" "$CMHOST" certs -c "$Y" --state revoked
expect_eq "only the revoked one" 1 "$(grep -c "CN=Admin" "$OUT")"
expect_match "it is Admin One" "CN=Admin One" "$OUT"
run_ok "certs --state confirmed --json" "$CMHOST" certs -c "$Y" --state confirmed --json
expect_eq "json: Admin Two alone" "CN=Admin Two|None" "$(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
print("|".join([x["subject"] for x in c] + [str(x["revocation"]) for x in c]))' "$OUT")"
run_ok "certs --state revoked --json" "$CMHOST" certs -c "$Y" --state revoked --json
expect_eq "json: the revocation's reason" "keyCompromise 1" "$(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(c[0]["revocation"]["reason"], c[0]["revocation_reason"])' "$OUT")"
run_ok "certs --officer demo-officer --profile user" "$CMHOST" certs -c "$Y" \
    --officer demo-officer --profile user
expect_eq "both" 2 "$(grep -c "CN=Admin" "$OUT")"
run_ok "certs --officer nobody" "$CMHOST" certs -c "$Y" --officer nobody
expect_eq "none" 0 "$(grep -c "CN=Admin" "$OUT")"
run_ok "certs --profile piv-auth" "$CMHOST" certs -c "$Y" --profile piv-auth
expect_eq "none of that profile" 0 "$(grep -c "CN=Admin" "$OUT")"
run_ok "certs --card 0102" "$CMHOST" certs -c "$Y" --card 0102
expect_eq "none for a card (openssl cmp names none)" 0 "$(grep -c "CN=Admin" "$OUT")"
run_ok "certs --since 2000-01-01" "$CMHOST" certs -c "$Y" --since 2000-01-01
expect_eq "both since 2000" 2 "$(grep -c "CN=Admin" "$OUT")"
TOMORROW=$(date -u -d tomorrow +%Y-%m-%dT%H:%M:%SZ)
run_ok "certs --since tomorrow" "$CMHOST" certs -c "$Y" --since "$TOMORROW"
expect_eq "none since tomorrow" 0 "$(grep -c "CN=Admin" "$OUT")"

# ---- cmhost audit --------------------------------------------------------------
printf '000102030405060708090a0b0c0d0e0f\n' >mk.hex
run_ok "mgmt-key for card 0A0B" sh -c "exec 3<mk.hex; exec \"$CMHOST\" mgmt-key \
    -c \"$Y\" --card 0A0B --alg aes128 --key-fd 3"
run_ok "audit" "$CMHOST" audit -c "$Y"
expect_match "the columns" "^AT +WHO +STATION +ACTION +RESULT +DETAIL" "$OUT"
expect_match "the enrollments" "demo-officer .* cr " "$OUT"
run_ok "audit --action revoke" "$CMHOST" audit -c "$Y" --action revoke
expect_match "the revocation, by cmhost-admin" "cmhost-admin +unix:[^ ]+ +revoke +ok +$s1 \\(keyCompromise\\)" "$OUT"
expect_match "the refusals too" "refused: .*already revoked" "$OUT"
expect_no_match "no enrollment" " cr " "$OUT"
run_ok "audit --officer demo-officer --json" "$CMHOST" audit -c "$Y" \
    --officer demo-officer --json
expect_eq "json: the officer's actions, in order" "cr certConf cr certConf" "$(python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))
print(" ".join(x["action"] for x in a if x["who"] == "demo-officer"))' "$OUT")"
run_ok "audit --card 0a0b" "$CMHOST" audit -c "$Y" --card 0a0b
expect_match "the card's management key" "mgmt-key +ok: stored +card 0a0b" "$OUT"
expect_eq "that alone" 2 "$(wc -l <"$OUT" | tr -d ' ')"
run_ok "audit --since tomorrow" "$CMHOST" audit -c "$Y" --since "$TOMORROW" --json
expect_eq "nothing since tomorrow" "[]" "$(cat "$OUT")"

# ---- a backup taken while the server issues certificates ---------------------
BEFORE=$(sqlite3 "$D/cmhost.db" "SELECT count(*) FROM certs")
(
	i=0
	while [ $i -lt 24 ]; do
		# shellcheck disable=SC2086
		$CMP $OFFICER -cmd cr -newkey k.key -subject "/CN=Load $i" \
		    -certout load.pem >/dev/null 2>&1 || echo "load $i failed"
		i=$((i + 1))
	done
) >load.log 2>&1 &
LOAD=$!
n=0
while [ "$(sqlite3 "$D/cmhost.db" "SELECT count(*) FROM certs")" -le "$((BEFORE + 2))" ] &&
    [ $n -lt 200 ]; do
	sleep 0.1
	n=$((n + 1))
done
k=1
while [ $k -le 3 ]; do
	sqlite3 "$D/cmhost.db" ".backup backup$k.db" 2>>backup.err
	sleep 0.3
	k=$((k + 1))
done
if kill -0 "$LOAD" 2>/dev/null; then
	ok "the backups were taken while certificates were issued"
else
	fail "the backups were taken while certificates were issued" "the load had ended"
fi
wait "$LOAD"
expect_eq "every enrollment of the load succeeded" "" "$(cat load.log)"
AFTER=$(sqlite3 "$D/cmhost.db" "SELECT count(*) FROM certs")
expect_eq "the load issued 24" "$((BEFORE + 24))" "$AFTER"
expect_eq "sqlite3 .backup said nothing" "" "$(cat backup.err)"
k=1
while [ $k -le 3 ]; do
	expect_eq "backup $k: integrity_check" "ok" \
	    "$(sqlite3 "backup$k.db" "PRAGMA integrity_check")"
	N=$(sqlite3 "backup$k.db" "SELECT count(*) FROM certs")
	if [ "$N" -ge "$BEFORE" ] && [ "$N" -le "$AFTER" ]; then
		ok "backup $k: $N certificates, between $BEFORE and $AFTER"
	else
		fail "backup $k: certificates" "$N, not between $BEFORE and $AFTER"
	fi
	# every certificate of a confirmed transaction is there with its audit
	expect_eq "backup $k: no certificate without its transaction" 0 \
	    "$(sqlite3 "backup$k.db" "SELECT count(*) FROM certs WHERE tid NOT IN (SELECT tid FROM transactions)")"
	# beside the configuration: its relative paths (keys, KEK) hold
	sed "s|^  path: .*|  path: $T/backup$k.db|" "$Y" >"$D/backup$k.yaml"
	run_ok "backup $k: cmhost check opens it (and its KEK)" "$CMHOST" check \
	    -c "$D/backup$k.yaml"
	run_ok "backup $k: cmhost certs" "$CMHOST" certs -c "$D/backup$k.yaml" \
	    --state revoked
	expect_match "backup $k: the revocation is in it" "^$s1 +revoked" "$OUT"
	k=$((k + 1))
done
run_ok "the server still serves" python3 get.py "$URL/crl/ca.crl" crl2.der
cmhost_stop
finish
