#!/bin/sh
# t_cmhost.sh - cmhost, the reference CM host, with `openssl cmp` as the
# client (the referee): cmhost init (idempotent, encrypted officer key),
# config errors, then a server on 127.0.0.1 (a free port, bounded
# lifetime, stopped by pid): p10cr, cr, kur, rr, genm signed by the
# officer's software token; the certificates verify with `openssl verify`;
# refused: an untrusted signer, an officer not configured, an unprotected
# request (p10cr, cr, genm; but an unprotected genm for caCerts alone is
# answered, also to `raterm cacerts` without an officer), a replayed
# request, a request that breaks the profile; a
# rejected and a never-confirmed certificate are revoked after the grace
# time; `cmhost certs` shows every state; HTTP errors; SIGTERM stops it.
. "$(dirname "$0")/lib.sh"
need openssl
CMHOST=${CMHOST:-$BUILD/cmhost}
[ -x "$CMHOST" ] || skip_all "cmhost not built"
D=$T/demo
SRV_PID=
GRACE=4

stop_server() {
	if [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; then
		kill -TERM "$SRV_PID" 2>/dev/null
		_i=0
		while kill -0 "$SRV_PID" 2>/dev/null && [ $_i -lt 50 ]; do
			sleep 0.1
			_i=$((_i + 1))
		done
		kill -KILL "$SRV_PID" 2>/dev/null
	fi
	SRV_PID=
}
trap 'stop_server; _lib_cleanup' EXIT

# ---- init --------------------------------------------------------------------
PORT=$((20000 + $$ % 20000))
run_ok "cmhost init" "$CMHOST" init "$D" --port $PORT
expect_match "init prints the URL" "^http://127\.0\.0\.1:$PORT/cmp$" "$OUT"
for f in cmhost.yaml ca-chain.pem root.pem officer.pem officer.key officer.pass \
    officer-ca.pem officer-ca.key ca.pem ca.key; do
	[ -s "$D/$f" ] || fail "init made $f" "missing"
done
sums() { (cd "$D" && cat ./*.pem ./*.key ./*.pass ./*.yaml | cksum); }
before=$(sums)
run_ok "cmhost init again" "$CMHOST" init "$D" --port 1234
expect_eq "second init changes nothing" "$before" "$(sums)"
expect_match "second init keeps the URL" ":$PORT/cmp" "$OUT"
run_ok "officer key opens with officer.pass" \
    openssl pkey -in "$D/officer.key" -passin "file:$D/officer.pass" -noout
run_fail "officer key is encrypted" \
    openssl pkey -in "$D/officer.key" -passin pass:wrong -noout
run_ok "officer chain verifies" openssl verify -CAfile "$D/root.pem" \
    -untrusted "$D/officer-ca.pem" "$D/officer.pem"
run_ok "CA chain verifies" openssl verify -CAfile "$D/root.pem" "$D/ca.pem"

# ---- config errors name file, line, field ---------------------------------------------
sed 's/^  port:/  prot:/' "$D/cmhost.yaml" > "$D/bad.yaml"
run_rc "unknown key refused" 6 "$CMHOST" check -c "$D/bad.yaml"
expect_match "error names file, line, field" \
    "bad\.yaml:7: listen\.prot: unknown key" "$OUT"
sed 's/^    profiles: \[.\*.\]/    profiles: [nosuch]/' "$D/cmhost.yaml" > "$D/bad2.yaml"
run_rc "unknown profile refused" 6 "$CMHOST" check -c "$D/bad2.yaml"
expect_match "error names the profile" "officers\[0\]\.profiles\[0\]: no profile named 'nosuch'" "$OUT"
run_rc "usage error" 2 "$CMHOST" certs

# a short grace time so that the sweep can be seen
sed "s/confirm_grace: 600/confirm_grace: $GRACE/" "$D/cmhost.yaml" > "$D/t.yaml"
run_ok "cmhost check" "$CMHOST" check -c "$D/t.yaml"

# ---- start: a free port, bounded lifetime --------------------------------------------
start_server() {
	_try=0
	while [ $_try -lt 10 ]; do
		sed -i "s/^  port: [0-9]*/  port: $PORT/" "$D/t.yaml"
		rm -f "$T/cmhost.pid"
		timeout -k 5 150 "$CMHOST" -c "$D/t.yaml" --pidfile "$T/cmhost.pid" \
		    >>"$T/server.log" 2>&1 &
		_w=0
		while [ ! -s "$T/cmhost.pid" ] && [ $_w -lt 100 ]; do
			grep -q "cannot listen" "$T/server.log" 2>/dev/null && break
			sleep 0.1
			_w=$((_w + 1))
		done
		if [ -s "$T/cmhost.pid" ]; then
			SRV_PID=$(cat "$T/cmhost.pid")
			return 0
		fi
		wait 2>/dev/null
		: >"$T/server.log"
		PORT=$((PORT + 1))
		_try=$((_try + 1))
	done
	return 1
}
if start_server; then ok "cmhost serves on port $PORT"; else
	fail "cmhost start" "$(tail -n 3 "$T/server.log")"
	finish
fi

CMP="openssl cmp -server 127.0.0.1:$PORT -path cmp -trusted $D/root.pem"
OFFICER="-cert $D/officer.pem -key $D/officer.key -keypass file:$D/officer.pass"
cd "$T" || exit 1
newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# ---- enrollments -------------------------------------------------------------------
newkey u.key
openssl req -new -key u.key -subj "/CN=Jane Doe/O=raterm demo" -out u.csr
# shellcheck disable=SC2086
run_ok "p10cr" $CMP $OFFICER -cmd p10cr -csr u.csr -certout u.pem
run_ok "p10cr certificate verifies" openssl verify -CAfile "$D/root.pem" \
    -untrusted "$D/ca-chain.pem" u.pem
openssl x509 -in u.pem -noout -text > u.txt
expect_match "p10cr subject as requested" "Subject: CN ?= ?Jane Doe, O ?= ?raterm demo" u.txt
expect_match "profile key usage" "Digital Signature, Key Encipherment" u.txt
expect_match "profile EKU" "TLS Web Client Authentication" u.txt

newkey c.key
# shellcheck disable=SC2086
run_ok "cr" $CMP $OFFICER -cmd cr -newkey c.key -subject "/CN=Carl Card/O=raterm demo" \
    -certout c.pem
run_ok "cr certificate verifies" openssl verify -CAfile "$D/root.pem" \
    -untrusted "$D/ca-chain.pem" c.pem

newkey k.key
# shellcheck disable=SC2086
run_ok "kur" $CMP $OFFICER -cmd kur -newkey k.key -oldcert c.pem -certout k.pem
run_ok "kur certificate verifies" openssl verify -CAfile "$D/root.pem" \
    -untrusted "$D/ca-chain.pem" k.pem
expect_eq "kur keeps the subject" "$(openssl x509 -in c.pem -noout -subject)" \
    "$(openssl x509 -in k.pem -noout -subject)"

# shellcheck disable=SC2086
run_ok "rr" $CMP $OFFICER -cmd rr -oldcert u.pem -revreason 1
# shellcheck disable=SC2086
run_fail "rr twice refused" $CMP $OFFICER -cmd rr -oldcert u.pem -revreason 1
expect_match "names certRevoked" "certRevoked" "$OUT"
# shellcheck disable=SC2086
run_ok "genm" $CMP $OFFICER -cmd genm
expect_match "genp received" "received GENP" "$OUT"

# implicit confirmation: no certConf, confirmed at once
newkey i.key
# shellcheck disable=SC2086
run_ok "cr with implicit confirmation" $CMP $OFFICER -cmd cr -newkey i.key \
    -subject "/CN=Implicit/O=raterm demo" -implicit_confirm -certout i.pem
expect_no_match "no certConf sent" "sending CERTCONF" "$OUT"

# never confirmed (no certConf) and rejected by the client (certConf with a
# rejection: the new certificate does not verify against -out_trusted)
newkey w.key
# shellcheck disable=SC2086
run_ok "cr without certConf" $CMP $OFFICER -cmd cr -newkey w.key \
    -subject "/CN=Waiting/O=raterm demo" -disable_confirm -certout w.pem
sh "$REPO/scripts/mkpki.sh" "$T/other" >/dev/null
newkey r.key
# shellcheck disable=SC2086
run_fail "cr rejected by the client" $CMP $OFFICER -cmd cr -newkey r.key \
    -subject "/CN=Rejected/O=raterm demo" -out_trusted "$T/other/root.pem" \
    -certout r.pem
run_ok "cmhost certs" "$CMHOST" certs -c "$D/t.yaml"
cp "$OUT" certs1.txt
expect_match "p10cr revoked by rr" "revoked .*CN=Jane Doe" certs1.txt
expect_match "cr confirmed" "confirmed .*CN=Carl Card" certs1.txt
expect_match "implicit confirmed" "confirmed .*CN=Implicit" certs1.txt
expect_match "waiting for certConf" "waiting .*CN=Waiting" certs1.txt
expect_match "rejected by certConf" "rejected .*CN=Rejected" certs1.txt
expect_match "officer and profile shown" "user +demo-officer" certs1.txt

# ---- refusals: nothing is issued ------------------------------------------------------------
count() { "$CMHOST" certs -c "$D/t.yaml" --json | grep -c '"serial"'; }
n0=$(count)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout x.key \
    -subj "/CN=raterm Demo Officer/O=raterm demo" -out x.csr 2>/dev/null
openssl x509 -req -in x.csr -CA other/officer-ca.pem -CAkey other/officer-ca.key \
    -CAcreateserial -days 3 -out x.pem 2>/dev/null
# shellcheck disable=SC2086
run_fail "untrusted signer refused" $CMP -cert x.pem -key x.key \
    -extracerts other/officer-ca.pem -cmd p10cr -csr u.csr -certout z.pem
expect_match "names signerNotTrusted" "signerNotTrusted" "$OUT"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout m.key \
    -subj "/CN=Mallory/O=raterm demo" -out m.csr 2>/dev/null
openssl x509 -req -in m.csr -CA "$D/officer-ca.pem" -CAkey "$D/officer-ca.key" \
    -CAcreateserial -days 3 -out m.pem 2>/dev/null
# shellcheck disable=SC2086
run_fail "unknown officer refused" $CMP -cert m.pem -key m.key \
    -extracerts "$D/officer-ca.pem" -cmd p10cr -csr u.csr -certout z.pem
expect_match "names notAuthorized" "notAuthorized.*Mallory.*not a configured officer" "$OUT"
# shellcheck disable=SC2086
run_fail "unprotected request refused" $CMP -unprotected_requests -subject /CN=x \
    -cmd p10cr -csr u.csr -certout z.pem
expect_match "names badMessageCheck" "badMessageCheck.*not protected" "$OUT"
# shellcheck disable=SC2086
run_fail "unprotected cr refused" $CMP -unprotected_requests -cmd cr -newkey c.key \
    -subject "/CN=Carl Card/O=raterm demo" -certout z.pem
expect_match "names badMessageCheck" "badMessageCheck.*not protected" "$OUT"
# the CA certificates are public: an unprotected genm for caCerts alone is
# answered (unprotected_cacerts, default on), any other genm is not
# shellcheck disable=SC2086
run_ok "unprotected caCerts genm answered" $CMP -unprotected_requests -subject /CN=x \
    -cmd genm -infotype caCerts
expect_match "genp with caCerts" "genp contains ITAV of type: id-it-caCerts" "$OUT"
# shellcheck disable=SC2086
run_fail "other unprotected genm refused" $CMP -unprotected_requests -subject /CN=x \
    -cmd genm -infotype rootCaKeyUpdate
expect_match "names badMessageCheck" "badMessageCheck.*not protected" "$OUT"
# raterm cacerts with no officer, no PIN, no terminal: the same unprotected
# genm, the answer verified against the root
if [ -x "$RATERM" ]; then
	run_ok "raterm cacerts without an officer" "$RATERM" cacerts \
	    --server "http://127.0.0.1:$PORT/cmp" --trust "$D/root.pem" \
	    -o "$T/cacerts.pem" </dev/null
	expect_eq "raterm cacerts: the CA chain" \
	    "$(openssl x509 -in "$D/ca.pem" -noout -fingerprint)" \
	    "$(openssl x509 -in "$T/cacerts.pem" -noout -fingerprint)"
	run_rc "raterm cacerts: the answer checked against the trust" 7 \
	    "$RATERM" cacerts --server "http://127.0.0.1:$PORT/cmp" \
	    --trust "$D/officer-ca.pem" -o "$T/cacerts-x.pem" </dev/null
fi
# shellcheck disable=SC2086
run_ok "request saved for replay" $CMP $OFFICER -cmd p10cr -csr u.csr \
    -implicit_confirm -reqout req.der -certout z1.pem
n0=$((n0 + 1))
# shellcheck disable=SC2086
run_fail "replayed request refused" $CMP $OFFICER -cmd p10cr -csr u.csr \
    -reqin req.der -certout z2.pem
expect_match "names the replay" "badSenderNonce.*used before" "$OUT"
openssl req -new -key u.key -subj "/CN=Jane/ST=Bavaria" -out st.csr
# shellcheck disable=SC2086
run_fail "profile violation refused" $CMP $OFFICER -cmd p10cr -csr st.csr \
    -certout z.pem
expect_match "names badCertTemplate" "badCertTemplate.*ST is not allowed" "$OUT"
expect_eq "nothing issued by refused requests" "$n0" "$(count)"

# ---- HTTP ----------------------------------------------------------------------------------------
if command -v curl >/dev/null 2>&1; then
	expect_eq "GET refused" 405 "$(curl -s -o /dev/null -w '%{http_code}' \
	    "http://127.0.0.1:$PORT/cmp")"
	expect_eq "wrong path" 404 "$(curl -s -o /dev/null -w '%{http_code}' \
	    -H 'Content-Type: application/pkixcmp' --data-binary @req.der \
	    "http://127.0.0.1:$PORT/other")"
	expect_eq "wrong content type" 415 "$(curl -s -o /dev/null -w '%{http_code}' \
	    -H 'Content-Type: text/plain' --data-binary @req.der \
	    "http://127.0.0.1:$PORT/cmp")"
fi

# ---- grace time: waiting and rejected are revoked ------------------------------------------------
sleep $((GRACE + 2))
run_ok "cmhost certs --json" "$CMHOST" certs -c "$D/t.yaml" --json
cp "$OUT" certs2.json
expect_match "never confirmed: revoked" '"subject": "CN=Waiting, O=raterm demo".*"state": "revoked"' certs2.json
expect_match "rejected: revoked" '"subject": "CN=Rejected, O=raterm demo".*"state": "revoked"' certs2.json
expect_match "confirmed stays" '"subject": "CN=Carl Card, O=raterm demo".*"state": "confirmed"' certs2.json
expect_match "serial as openssl shows it" "\"serial\": \"$(openssl x509 -in k.pem -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')\"" certs2.json

# ---- stop ---------------------------------------------------------------------------------------
kill -TERM "$SRV_PID"
_i=0
while kill -0 "$SRV_PID" 2>/dev/null && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
if kill -0 "$SRV_PID" 2>/dev/null; then fail "SIGTERM stops cmhost" "still running"; else
	ok "SIGTERM stops cmhost"; fi
SRV_PID=
expect_match "graceful stop logged" "cmhost: stopped" "$T/server.log"
[ -e "$T/cmhost.pid" ] && fail "pidfile removed" "still there"
expect_no_match "no sanitizer reports" "AddressSanitizer|LeakSanitizer|runtime error" \
    "$T/server.log"
finish
