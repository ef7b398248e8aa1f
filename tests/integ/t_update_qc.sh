#!/bin/sh
# t_update_qc.sh - what each new certificate is requested with, through the
# real stack (a private pcscd with an officer card and vpiv cards, cmhost
# from `cmhost init` on a free loopback port, stopped by pid):
#   qualified-sign (subject from the TC, email SAN typed by the officer,
#     the procedure's QC statements) on a TC card with attestation: the
#     plan (text and --json) shows subject, SAN and QC per key; a missing
#     typed value, a bad address and a QC statement the procedure does not
#     let the officer add are refused before anything is sent (the CM host
#     issued nothing); the certificate written to 9c has the email SAN
#     and qcStatements with the ETSI statements (openssl asn1parse);
#   renew (san: card) on that card keeps the SAN of the slot's
#     certificate;
#   a job file gives the SAN per card (san: {9c: [...]}).
. "$(dirname "$0")/lib.sh"
need openssl
PKI=$T/pki
D=$T/cm

test_pki
cmhost_init "$D" 4099
expect_match "cmhost init: piv-sign-qualified takes an email SAN" \
    "subject_alt_names: \[email\]" "$D/cmhost.yaml"
if cmhost_start "$D"; then ok "cmhost serves on port $PORT"; else
	fail "cmhost start" "$(tail -n 3 "$T/server.log")"
	finish
fi

# ---- cards ------------------------------------------------------------------------
officer_card "$T/officer.state" 40000019
# a TC card whose attestation key chains to the test root
qc_card() {	# STATE SERIAL
	"$VPIV" init "$1" --serial "$2" >/dev/null &&
	"$VPIV" personalize "$1" --ca-cert "$PKI/transport-ca.pem" \
	    --ca-key "$PKI/transport-ca.key" \
	    --slot 9c --subject "CN=Jane Doe,O=raterm tests" >/dev/null &&
	"$VPIV" personalize "$1" --ca-cert "$PKI/root.pem" --ca-key "$PKI/root.key" \
	    --slot f9 --subject "CN=vpiv Attestation,O=raterm tests" >/dev/null
}
run_ok "TC card Q" qc_card "$T/q.state" 40000021
run_ok "TC card J" qc_card "$T/j.state" 40000022

CONF=$T/raterm.yaml
station_conf "$CONF" "attestation_roots: $PKI/root.pem"
PINS=$T/pins
printf 'signature=123456\ncard=123456\ncard2=123456\noperator=default\n' > "$PINS"

stack_start --mode connect --readers 3 --card "$T/officer.state" --card "$T/q.state" \
    --card "$T/j.state" || finish
OFF=$VPIV_READER0
RQ=$VPIV_READER1
RJ=$VPIV_READER2

certs_count() {
	cmhost_certs "$T/certs.txt"
	grep -c "piv-" "$T/certs.txt"
}

# ---- the plan -------------------------------------------------------------------------
run_ok "qualified-sign dry run" "$RATERM" update -c "$CONF" -r "$RQ" \
    --procedure qualified-sign --action 9c=redo --san 9c=email:jane@example.org \
    --dry-run --pin-fd 3 3<"$PINS"
# the plan fits 80 columns: the subject's source wraps under it
expect_match "plan: subject from the TC" "subject CN=Jane Doe, ?O=raterm tests" "$OUT"
expect_match "plan: subject from the TC (source)" "^ {27}.*\(tc\)\$" "$OUT"
expect_match "plan: the SAN typed" "subjectAltName email:jane@example.org \(officer\)" "$OUT"
expect_match "plan: the QC statements" "QC statements QcCompliance, QcSSCD, QcType=eSign," "$OUT"
expect_match "plan: the QC statements (wrapped)" "^ {27}QcRetentionPeriod=10" "$OUT"
run_ok "qualified-sign dry run --json" "$RATERM" update -c "$CONF" -r "$RQ" \
    --procedure qualified-sign --action 9c=redo --san 9c=email:jane@example.org \
    --dry-run --json --pin-fd 3 3<"$PINS"
expect_match "json: subject, SAN, QC per key" '"subject_source": "tc", "san": "email:jane@example.org", "san_source": "officer", "qc": "QcCompliance, QcSSCD, QcType=eSign, QcRetentionPeriod=10", "to_be_typed": \[\]' "$OUT"
run_ok "dry run without the SAN: shown as to be typed" "$RATERM" update -c "$CONF" \
    -r "$RQ" --procedure qualified-sign --action 9c=redo --dry-run --json \
    --pin-fd 3 3<"$PINS"
expect_match "json: to be typed" '"san": null, "san_source": "officer", .*"to_be_typed": \["email"\]' "$OUT"

# ---- refused before anything is sent -----------------------------------------------------
run_rc "missing SAN with --pin-fd: usage error" 2 "$RATERM" update -c "$CONF" -r "$RQ" \
    --procedure qualified-sign --action 9c=redo --yes --pin-fd 3 3<"$PINS"
expect_match "missing SAN: slot and field named" "slot 9c: email: not given and not asked with --pin-fd; give --san 9c=email:VALUE" "$OUT"
run_rc "bad email address" 2 "$RATERM" update -c "$CONF" -r "$RQ" \
    --procedure qualified-sign --action 9c=redo --san 9c=email:jane.example.org \
    --yes --pin-fd 3 3<"$PINS"
expect_match "bad address: named" "slot 9c: email 'jane.example.org': expected local@domain" "$OUT"
run_rc "a SAN type the procedure does not take" 9 "$RATERM" update -c "$CONF" \
    -r "$RQ" --procedure qualified-sign --action 9c=redo --san 9c=dns:host.example.org \
    --yes --pin-fd 3 3<"$PINS"
expect_match "SAN type: the rule" "slot 9c: dns: procedure 'qualified-sign' allows subjectAltName types email only.*\[RULE\]" "$OUT"
run_rc "a QC statement the officer may not add" 9 "$RATERM" update -c "$CONF" -r "$RQ" \
    --procedure qualified-sign --action 9c=redo --san 9c=email:jane@example.org \
    --qc 9c=eseal --yes --pin-fd 3 3<"$PINS"
expect_match "QC: the rule" "slot 9c: QC statement eseal: procedure 'qualified-sign' does not let the officer add it.*\[RULE\]" "$OUT"
run_rc "--subject where the subject comes from the TC" 9 "$RATERM" update -c "$CONF" \
    -r "$RQ" --procedure qualified-sign --action 9c=redo --subject "9c=CN=Other" \
    --san 9c=email:jane@example.org --yes --pin-fd 3 3<"$PINS"
expect_match "subject: the rule" "slot 9c: subject: procedure 'qualified-sign' takes the subject from the transport certificate" "$OUT"
# at a terminal the missing SAN is asked (echoed), shown in the plan; Submit
# answered no: nothing is sent
run_rc "at a terminal: SAN asked, Submit declined" 10 python3 "$REPO/tests/tools/pty_answer.py" \
    --answer 'subjectAltName email for slot 9c.*: *$=jane.typed@example.org' \
    --answer 'PIN.*: *$=123456' --answer 'Submit .*\[y/N\] *$=n' -- \
    "$RATERM" update -c "$CONF" -r "$RQ" --officer-reader "$OFF" \
    --procedure qualified-sign --action 9c=redo
expect_match "terminal: the SAN asked" "^subjectAltName email for slot 9c" "$OUT"
expect_match "terminal: the typed SAN in the plan" "subjectAltName email:jane.typed@example.org \(officer\)" "$OUT"
expect_match "terminal: declined" "not confirmed: nothing was sent and the card is unchanged" "$OUT"
expect_eq "nothing issued by the refused runs" 0 "$(certs_count)"
expect_eq "nothing journaled by the refused runs" 0 "$(find "$T/var" -name "*.journal" 2>/dev/null | wc -l)"

# ---- the qualified certificate --------------------------------------------------------------
run_ok "qualified-sign Redo of 9c" "$RATERM" update -c "$CONF" -r "$RQ" --officer-reader "$OFF" \
    --procedure qualified-sign --action 9c=redo --san 9c=email:jane@example.org \
    --yes --pin-fd 3 3<"$PINS"
expect_match "redo done" "^  9c +Redo +done +written to the card" "$OUT"
expect_match "confirmed" "^Confirmed to the CM host" "$OUT"
expect_eq "the CM host issued one certificate" 1 "$(certs_count)"

if yubico-piv-tool -r "$RQ" -a read-cert -s 9c >"$T/q9c.pem" 2>"$T/ypt.err"; then
	openssl x509 -in "$T/q9c.pem" -noout -text >"$T/q9c.txt" 2>&1
	expect_match "9c: the email SAN" "email:jane@example.org" "$T/q9c.txt"
	expect_match "9c: the subject from the TC" "Subject: .*CN ?= ?Jane Doe" "$T/q9c.txt"
	expect_match "9c: qcStatements" "qcStatements|1\.3\.6\.1\.5\.5\.7\.1\.3" "$T/q9c.txt"
	openssl asn1parse -in "$T/q9c.pem" >"$T/q9c.asn1" 2>&1
	QOFF=$(awk '/:qcStatements|:1\.3\.6\.1\.5\.5\.7\.1\.3/ { getline; split($1, a, ":"); print a[1]; exit }' "$T/q9c.asn1")
	openssl asn1parse -in "$T/q9c.pem" -strparse "${QOFF:-0}" >"$T/qcs.asn1" 2>&1
	for o in 0.4.0.1862.1.1 0.4.0.1862.1.4 0.4.0.1862.1.6 0.4.0.1862.1.6.1 0.4.0.1862.1.3; do
		expect_match "qcStatements: $o" ":$o\$" "$T/qcs.asn1"
	done
	expect_match "qcStatements: retention 10 years" "INTEGER +:0?A\$" "$T/qcs.asn1"
	run_ok "9c: openssl verifies the chain" openssl verify -CAfile "$D/root.pem" \
	    -untrusted "$D/ca-chain.pem" "$T/q9c.pem"
	SERIAL1=$(openssl x509 -in "$T/q9c.pem" -noout -serial | sed 's/.*=//')
else
	fail "yubico-piv-tool read-cert 9c" "$(cat "$T/ypt.err")"
fi

# ---- renew: the SAN comes from the slot's certificate ------------------------------------------
run_ok "renew 9c: dry run shows the card's SAN" "$RATERM" update -c "$CONF" -r "$RQ" \
    --procedure renew --action 9c=redo --dry-run
expect_match "renew plan: SAN from the card" "subjectAltName email:jane@example.org \(card\)" "$OUT"
run_ok "renew 9c" "$RATERM" update -c "$CONF" -r "$RQ" --officer-reader "$OFF" \
    --procedure renew --action 9c=redo --yes --pin-fd 3 3<"$PINS"
expect_match "renew done" "^  9c +Redo +done +written to the card" "$OUT"
if yubico-piv-tool -r "$RQ" -a read-cert -s 9c >"$T/r9c.pem" 2>"$T/ypt.err"; then
	openssl x509 -in "$T/r9c.pem" -noout -text >"$T/r9c.txt" 2>&1
	expect_match "renewed 9c keeps the email SAN" "email:jane@example.org" "$T/r9c.txt"
	SERIAL2=$(openssl x509 -in "$T/r9c.pem" -noout -serial | sed 's/.*=//')
	if [ -n "$SERIAL2" ] && [ "$SERIAL2" != "${SERIAL1:-}" ]; then
		ok "renewed 9c is a new certificate"
	else
		fail "renewed 9c is a new certificate" "serial $SERIAL2"
	fi
else
	fail "yubico-piv-tool read-cert 9c after renew" "$(cat "$T/ypt.err")"
fi

# ---- a job file gives the SAN -------------------------------------------------------------------
cat > "$T/job.yaml" <<EOF2
reader: "$RJ"
procedure: qualified-sign
actions: {9c: redo}
san: {9c: ["email:john@example.org"]}
EOF2
run_ok "job: qualified-sign with the SAN from the job" "$RATERM" update -c "$CONF" \
    --officer-reader "$OFF" --batch "$T/job.yaml" --yes --pin-fd 3 3<"$PINS"
expect_match "job: plan shows the SAN" "subjectAltName email:john@example.org \(officer\)" "$OUT"
expect_match "job: done" "^  9c +Redo +done" "$OUT"
if yubico-piv-tool -r "$RJ" -a read-cert -s 9c >"$T/j9c.pem" 2>"$T/ypt.err"; then
	openssl x509 -in "$T/j9c.pem" -noout -text >"$T/j9c.txt" 2>&1
	expect_match "job: the email SAN on the card" "email:john@example.org" "$T/j9c.txt"
fi
cat > "$T/badjob.yaml" <<EOF2
reader: "$RJ"
procedure: qualified-sign
actions: {9c: redo}
san: {9c: ["john@example.org"]}
EOF2
run_rc "job: a SAN without its type" 2 "$RATERM" update -c "$CONF" --batch "$T/badjob.yaml" \
    --dry-run
expect_match "job: file:line: field" "badjob.yaml:4: san.9c\[1\]: expected TYPE:VALUE" "$OUT"
finish
