#!/bin/sh
# t_show_revocation.sh - `raterm show --check-revocation` through the real
# stack (private pcscd, vpiv cards, cmhost on loopback, stopped by pid):
#   after a Redo the card's new certificates are good (OCSP at their AIA
#   URL), the transport certificates not checked (issuer unknown);
#   `raterm revoke` of one: show marks it REVOKED with time and reason
#   (text and --json), and `openssl ocsp`, `openssl crl` and `openssl
#   verify -crl_check` agree; the screen (tmux, 80x24)
#   shows the row REVOKED and names it on the status line; with revocation.ocsp_url:
#   none the CRL answers the same; the CM host down: nothing checked, each
#   row says why, exit status 0; offline (no cmhost.url) and
#   revocation.check: off: a warning, exit status 0; no option: not asked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tmux.sh"
need openssl yubico-piv-tool
PKI=$T/pki
D=$T/cm

test_pki
cmhost_init "$D" 6271
if cmhost_start "$D"; then ok "cmhost serves on port $PORT"; else
	fail "cmhost start" "$(tail -n 3 "$T/server.log")"
	finish
fi
officer_card "$T/officer.state" 40000019
run_ok "TC card A" tc_card "$T/a.state" 40000011
CONF=$T/raterm.yaml
station_conf "$CONF"
PINS=$T/pins
printf 'signature=123456\ncard=123456\ncard2=123456\noperator=default\n' >"$PINS"
stack_start --mode connect --readers 2 --card "$T/officer.state" \
    --card "$T/a.state" || finish
OFF=$VPIV_READER0
RA=$VPIV_READER1

run_ok "Redo 9a and 9c" "$RATERM" update -c "$CONF" -r "$RA" \
    --officer-reader "$OFF" --procedure tc-redo --action 9a=redo \
    --action 9c=redo --yes --pin-fd 3 3<"$PINS"

run_ok "show without --check-revocation" "$RATERM" show -c "$CONF" -r "$RA"
expect_no_match "not asked: no REVOCATION section" "^REVOCATION" "$OUT"

run_ok "show --check-revocation" "$RATERM" show -c "$CONF" -r "$RA" \
    --check-revocation
cp "$OUT" "$T/good.txt"
expect_match "a REVOCATION section" "^REVOCATION \(asked 20[0-9-]+T" "$T/good.txt"
expect_match "9a good by OCSP" "^9a +good \(OCSP\)" "$T/good.txt"
expect_match "9c good by OCSP" "^9c +good \(OCSP\)" "$T/good.txt"
expect_match "9d (a TC) not checked: issuer unknown, a transport certificate" \
    "^9d +not checked: issuer unknown \(a transport certificate: raterm Test Transport CA is not" "$T/good.txt"
expect_no_match "nothing REVOKED" "REVOKED" "$T/good.txt"
run_ok "show --check-revocation --json" "$RATERM" show -c "$CONF" -r "$RA" \
    --check-revocation --json
expect_match "JSON: 9a good" '"slot": "9a".*"revocation": \{"state": "good", "source": "ocsp"' "$OUT"
expect_match "JSON: 9d not checked, why" '"slot": "9d".*"revocation": \{"state": "not checked", "source": null.*"why": "issuer unknown' "$OUT"

# ---- revoked by raterm revoke ----------------------------------------------------
run_ok "read 9a's certificate" sh -c "yubico-piv-tool -r '$RA' -a read-cert \
    -s 9a >'$T/9a.pem'"
run_ok "raterm revoke 9a's certificate (keyCompromise)" "$RATERM" revoke \
    -c "$CONF" --officer-reader "$OFF" --cert "$T/9a.pem" \
    --reason keyCompromise --pin-fd 3 3<"$PINS"
run_ok "show --check-revocation after the revocation" "$RATERM" show \
    -c "$CONF" -r "$RA" --check-revocation
cp "$OUT" "$T/revoked.txt"
expect_match "9a flagged REVOKED in the table" "^9a .*REVOKED" "$T/revoked.txt"
expect_match "9a revoked, when and why, by OCSP" \
    "^9a +revoked 20[0-9-]+T[0-9:]+Z keyCompromise \(OCSP\)" "$T/revoked.txt"
expect_match "9c still good" "^9c +good \(OCSP\)" "$T/revoked.txt"
run_ok "show --json after the revocation" "$RATERM" show -c "$CONF" -r "$RA" \
    --check-revocation --json
expect_match "JSON: 9a revoked, reason" '"slot": "9a".*"revocation": \{"state": "revoked", "source": "ocsp", "revoked_at": "20[^"]*", "reason": "keyCompromise"' "$OUT"
run_ok "openssl ocsp agrees" openssl ocsp -issuer "$D/ca.pem" -cert "$T/9a.pem" \
    -url "http://127.0.0.1:$PORT/ocsp" -CAfile "$D/root.pem" \
    -verify_other "$D/ca-chain.pem"
expect_match "openssl ocsp: revoked" "9a.pem: revoked" "$OUT"
run_ok "GET the CRL" python3 -c "import urllib.request,sys; open(sys.argv[2],'wb').write(urllib.request.urlopen(sys.argv[1],timeout=10).read())" \
    "http://127.0.0.1:$PORT/crl/ca.crl" "$T/ca.crl"
run_ok "openssl crl -verify" openssl crl -inform DER -in "$T/ca.crl" \
    -CAfile "$D/ca.pem" -noout -text
SERIAL=$(openssl x509 -in "$T/9a.pem" -noout -serial | sed 's/serial=//')
expect_match "the CRL lists 9a's serial" "Serial Number: $SERIAL" "$OUT"
run_ok "openssl verify -crl_check refuses 9a's certificate" sh -c "openssl verify \
    -crl_check -CAfile '$D/root.pem' -untrusted '$D/ca-chain.pem' \
    -CRLfile '$T/ca.crl' '$T/9a.pem'; test \$? -ne 0"

# ---- the screen: the row says REVOKED, the status line names it ------------------------
tmux_start LANG=C.UTF-8 -- "$RATERM" ui -c "$CONF"
tmux_wait "the screen: 9a REVOKED" "9a +ECCP256 +Card 40000011 Auth +20[0-9-]+ +REVOKED"
tmux_wait "the status line names it" "REVOKED: 9a \\(the CA says so"
tmux_snap "$T/screen.txt"
expect_match "9c not marked" "9c +ECCP256 +Card 40000011 Sign +20[0-9-]+ +Blank" "$T/screen.txt"
expect_match "9d still shows its TC status" "9d +RSA2048 +Card 40000011 KeyMgmt +20[0-9-]+ +TC not checked" "$T/screen.txt"
tmux_keys F10
if tmux_exited 10; then ok "F10 quits"; else fail "F10 quits" "still running"; fi
tmux_stop

# ---- the CRL when OCSP is not asked -------------------------------------------------
station_conf "$T/crl.yaml" "revocation:" "  ocsp_url: none"
run_ok "show --check-revocation, OCSP off: the CRL" "$RATERM" show \
    -c "$T/crl.yaml" -r "$RA" --check-revocation
expect_match "9a revoked by the CRL" \
    "^9a +revoked 20[0-9-]+T[0-9:]+Z keyCompromise \(CRL\)" "$OUT"
expect_match "9c good by the CRL" "^9c +good \(CRL\)" "$OUT"
expect_match "why OCSP was not asked" "OCSP off \(revocation.ocsp_url: none\)" "$OUT"

# ---- nothing to ask -------------------------------------------------------------
station_conf "$T/off.yaml" "revocation:" "  check: off"
run_ok "revocation.check: off" "$RATERM" show -c "$T/off.yaml" -r "$RA" \
    --check-revocation
expect_match "rows say it is off" "^9a +not checked: revocation checks are off" "$OUT"
expect_match "a warning names the setting" "revocation not checked: .*revocation.check is off" "$OUT"
# no configuration at all: no CM host to ask (/etc/raterm/raterm.yaml, the
# default, must not exist for that: make install does not write it)
if [ -e /etc/raterm/raterm.yaml ]; then
	fail "offline" "/etc/raterm/raterm.yaml exists: the default configuration is not the empty one"
else
	run_ok "offline (no configuration, no --server)" env -u RATERM_CONFIG \
	    "$RATERM" show -r "$RA" --check-revocation
	expect_match "rows say offline" "^9a +not checked: offline" "$OUT"
	expect_match "a warning: offline" "revocation not checked: the station is offline" "$OUT"
fi

cmhost_stop
run_ok "the CM host down: exit status 0" "$RATERM" show -c "$CONF" -r "$RA" \
    --check-revocation
expect_match "9a not checked, why named" "^9a +not checked: .*(refused|connect)" "$OUT"
expect_no_match "nothing called good or revoked" "^9[ac] +(good|revoked)" "$OUT"

finish
