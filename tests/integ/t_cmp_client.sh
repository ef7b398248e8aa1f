#!/bin/sh
# t_cmp_client.sh - raterm as CMP client against `openssl cmp`'s built-in
# HTTP mock server on 127.0.0.1: p10cr and cr enrollment with certConf,
# implicit confirmation, polling, revocation, genm; raterm verifies the
# server's protection, and refuses responses that are unprotected, signed
# by an untrusted key, have a corrupted signature (a relay flips a bit) or
# belong to another transaction (a replayed response); HTTPS with a pinned
# CA bundle (through a TLS relay); server errors are shown with their
# PKIFailureInfo names. The officer signs with a software token (encrypted
# PKCS#8) made by openssl from the test PKI, or with an officer card (an
# in-process virtual card).
. "$(dirname "$0")/lib.sh"
need openssl
PKI=$T/pki
PASS="officer passphrase"
SRV_PID=
RELAY_PID=

srv_stop() {
	for _p in $SRV_PID $RELAY_PID; do
		kill "$_p" 2>/dev/null
		wait "$_p" 2>/dev/null
	done
	SRV_PID=
	RELAY_PID=
}
trap 'srv_stop; _lib_cleanup' EXIT

# srv_start MAX_MSGS [mock server options]: a mock server for MAX_MSGS
# messages (and at most 60 s); sets PORT and URL.
srv_start() {
	srv_stop
	_n=$1
	shift
	: >"$T/srv.log"
	timeout 60 openssl cmp -port 0 -max_msgs "$_n" \
	    -srv_cert "$T/srv.pem" -srv_key "$T/srv.key" \
	    -srv_trusted "$PKI/root.pem" -srv_untrusted "$PKI/officer-ca.pem" \
	    -rsp_cert "$T/issued.pem" -rsp_extracerts "$PKI/issuing.pem" \
	    -rsp_capubs "$PKI/root.pem" "$@" >"$T/srv.log" 2>&1 &
	SRV_PID=$!
	PORT=
	for _i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		PORT=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\) PID=.*/\1/p' "$T/srv.log")
		[ -n "$PORT" ] && break
		sleep 0.2
	done
	[ -n "$PORT" ] || { fail "mock server start" "$(tail -n 2 "$T/srv.log")"; return 1; }
	URL=http://127.0.0.1:$PORT/pkix/
}

# rat CMD ARGS...: raterm with the officer token, its passphrase on fd 3
# (called through run_ok and run_rc)
# shellcheck disable=SC2317
rat() {
	_cmd=$1
	shift
	printf 'signature=%s\n' "$PASS" >"$T/pin"
	"$RATERM" "$_cmd" --officer-token "$T/officer.key" \
	    --officer-cert "$T/officer-chain.pem" --pin-fd 3 "$@" 3<"$T/pin"
}

# ---- test PKI, officer token, mock server identity, a CSR ---------------------
run_ok "test PKI" sh "$REPO/scripts/mkpki.sh" "$PKI" || finish
(
	set -e
	cd "$T"
	printf 'keyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\n' >ee.ext
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out off.key
	openssl req -new -key off.key -subj "/O=raterm test/CN=Officer Jane" -out off.csr
	openssl x509 -req -in off.csr -CA "$PKI/officer-ca.pem" -CAkey "$PKI/officer-ca.key" \
	    -set_serial 1001 -days 30 -extfile ee.ext -out officer.pem
	cat officer.pem "$PKI/officer-ca.pem" >officer-chain.pem
	openssl pkcs8 -topk8 -in off.key -out officer.key -v2 aes-256-cbc -passout "pass:$PASS"
	rm off.key
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out srv.key
	openssl req -new -key srv.key -subj "/O=raterm test/CN=Mock CM host" -out srv.csr
	openssl x509 -req -in srv.csr -CA "$PKI/issuing.pem" -CAkey "$PKI/issuing.key" \
	    -set_serial 1002 -days 30 -extfile ee.ext -out srv.pem
	# the same name from a CA nobody trusts
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out rogue-ca.key
	openssl req -x509 -new -key rogue-ca.key -subj "/O=raterm test/CN=Rogue CA" \
	    -days 30 -out rogue-ca.pem
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out rogue.key
	openssl req -new -key rogue.key -subj "/O=raterm test/CN=Mock CM host" -out rogue.csr
	openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key \
	    -set_serial 1003 -days 30 -extfile ee.ext -out rogue.pem
	# a TLS server certificate for 127.0.0.1
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out tls.key
	openssl req -new -key tls.key -subj "/CN=127.0.0.1" -out tls.csr
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >tls.ext
	openssl x509 -req -in tls.csr -CA "$PKI/issuing.pem" -CAkey "$PKI/issuing.key" \
	    -set_serial 1004 -days 30 -extfile tls.ext -out tls-leaf.pem
	cat tls-leaf.pem "$PKI/issuing.pem" >tls.pem
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ee.key
	openssl req -new -key ee.key -subj "/O=raterm test/CN=Card User" -out ee.csr
	openssl x509 -req -in ee.csr -CA "$PKI/issuing.pem" -CAkey "$PKI/issuing.key" \
	    -set_serial 0x2001 -days 30 -out issued.pem
) >"$T/setup.log" 2>&1 || { fail "setup" "$(tail -n 3 "$T/setup.log")"; finish; }
ok "officer token, server identity, CSR"
# The CM host's trust anchor: its issuing CA (the mock server sends the
# chain only with certificate responses).
TRUST=$PKI/issuing.pem

# ---- enrollment ----------------------------------------------------------------
srv_start 2 || finish
run_ok "p10cr enrollment" rat request -v --csr "$T/ee.csr" --profile tls-client \
    --server "$URL" --trust "$TRUST" -o "$T/got.pem"
expect_match "p10cr sent" "-> p10cr" "$OUT"
expect_match "certConf sent, pkiConf received" "<- pkiconf" "$OUT"
expect_match "issued and confirmed" "^Issued: .*CN=Card User.*confirmed$" "$OUT"
expect_match "software token warning" "software officer token is not recommended" "$OUT"
run_ok "issued certificate verifies" openssl verify -CAfile "$PKI/root.pem" \
    -untrusted "$PKI/issuing.pem" "$T/got.pem"
expect_eq "the certificate the server issued" "$(openssl x509 -in "$T/issued.pem" -outform DER | sha256sum)" \
    "$(openssl x509 -in "$T/got.pem" -outform DER | sha256sum)"

srv_start 2 -accept_raverified || finish
# (with raterm's generalInfo id-it-raterm-cardId: OpenSSL ignores it)
run_ok "cr enrollment (raVerified, cardId)" rat request -v --cmd cr --csr "$T/ee.csr" \
    --profile tls-client --server "$URL" --trust "$TRUST" -o "$T/got-cr.pem" \
    --card 02625a01
expect_match "cr sent" "-> cr " "$OUT"
expect_match "cr confirmed" "<- pkiconf" "$OUT"

srv_start 1 -grant_implicitconf || finish
run_ok "implicit confirmation" rat request -v --implicit-confirm --csr "$T/ee.csr" \
    --profile p --server "$URL" --trust "$TRUST" -o "$T/got-ic.pem"
expect_match "granted" "confirmed implicitly" "$OUT"
expect_no_match "no certConf" "certConf" "$OUT"

srv_start 4 -poll_count 2 -check_after 1 || finish
run_ok "polling while waiting" rat request -v --csr "$T/ee.csr" --profile p \
    --server "$URL" --trust "$TRUST" -o "$T/got-poll.pem"
expect_eq "two pollReq" 2 "$(grep -c -- '-> pollReq' "$OUT")"
expect_match "polled to the certificate" "^Issued: " "$OUT"

# the trust anchor may be the root: the chain comes in extraCerts
srv_start 2 || finish
run_ok "root as trust anchor" rat request --csr "$T/ee.csr" --profile p \
    --server "$URL" --trust "$PKI/root.pem" -o "$T/got-root.pem"

# ---- revocation, genm -------------------------------------------------------------
srv_start 1 || finish
run_ok "revocation" rat revoke --cert "$T/got.pem" --reason keyCompromise \
    --server "$URL" --trust "$TRUST"
expect_match "revoked" "^Revoked: .*CN=Card User, reason keyCompromise" "$OUT"
srv_start 1 || finish
run_ok "genm caCerts" rat cacerts --server "$URL" --trust "$TRUST" -o "$T/ca.pem"
expect_match "cacerts answered" "CA certificates? written" "$OUT"
# without an officer the genm goes unprotected: a server that wants every
# request protected (openssl cmp's) refuses it, and says so
srv_start 1 || finish
run_rc "caCerts unprotected, refused by this server" 8 "$RATERM" cacerts --server "$URL" \
    --trust "$TRUST" </dev/null
expect_match "refused: missing protection" "missing protection.*\[CMP_STATUS\]" "$OUT"

# ---- refusals -------------------------------------------------------------------------
srv_start 1 -send_unprotected || finish
run_rc "unprotected response refused" 7 rat request --csr "$T/ee.csr" --profile p \
    --server "$URL" --trust "$TRUST" -o "$T/bad1.pem"
expect_match "named" "not protected \[CMP_PROTECTION\]" "$OUT"
expect_eq "nothing written" no "$([ -e "$T/bad1.pem" ] && echo yes || echo no)"

srv_start 1 -srv_cert "$T/rogue.pem" -srv_key "$T/rogue.key" \
    -rsp_extracerts "$T/rogue-ca.pem" || finish
run_rc "untrusted server key refused" 7 rat request --csr "$T/ee.csr" --profile p \
    --server "$URL" --trust "$TRUST"
expect_match "named" "does not chain to the CM host trust.*\[CMP_TRUST\]" "$OUT"

srv_start 1 || finish
run_rc "wrong trust anchor" 7 rat request --csr "$T/ee.csr" --profile p \
    --server "$URL" --trust "$PKI/transport-ca.pem"
expect_match "named" "\[CMP_TRUST\]" "$OUT"

srv_start 1 -pkistatus 2 -failurebits 514 || finish
run_rc "rejection with failure names" 8 rat request --csr "$T/ee.csr" --profile p \
    --server "$URL" --trust "$TRUST"
expect_match "names" "rejection \(badMessageCheck, badPOP\) \[CMP_STATUS\]" "$OUT"

srv_start 1 -send_error -failure 23 || finish
run_rc "error message" 8 rat revoke --cert "$T/got.pem" --server "$URL" --trust "$TRUST"
expect_match "readable error" "CM host error: rejection.*\[CMP_STATUS\]" "$OUT"

# a relay between raterm and the server: flips a bit of the response's
# protection, answers with a response recorded earlier (replay), or
# serves HTTPS
if command -v python3 >/dev/null 2>&1; then
	cat >"$T/relay.py" <<'EOF'
import http.server, socketserver, ssl, sys, urllib.request
mode, upstream, portfile = sys.argv[1], sys.argv[2], sys.argv[3]
saved = []

def der_len(b, i):
    n = b[i]
    if n < 0x80:
        return n, i + 1
    k = n & 0x7F
    return int.from_bytes(b[i + 1:i + 1 + k], "big"), i + 1 + k

def protection_offset(b):
    _, i = der_len(b, 1)             # inside the PKIMessage
    for _ in range(2):               # header, body
        n, j = der_len(b, i + 1)
        i = j + n
    assert b[i] == 0xA0
    _, j = der_len(b, i + 1)         # [0] -> BIT STRING
    n, k = der_len(b, j + 1)
    return k + 1 + (n - 1) // 2      # the middle of the signature

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        req = urllib.request.Request(upstream, data=body,
            headers={"Content-Type": "application/pkixcmp"})
        rsp = urllib.request.urlopen(req).read()
        if mode == "flip":
            b = bytearray(rsp)
            b[protection_offset(b)] ^= 0x01
            rsp = bytes(b)
        elif mode == "replay":
            saved.append(rsp)
            rsp = saved[0]
        self.send_response(200)
        self.send_header("Content-Type", "application/pkixcmp")
        self.send_header("Content-Length", str(len(rsp)))
        self.end_headers()
        self.wfile.write(rsp)
    def log_message(self, *a):
        pass

with socketserver.TCPServer(("127.0.0.1", 0), H) as s:
    if mode == "tls":                # HTTPS in front of the mock server
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        s.socket = ctx.wrap_socket(s.socket, server_side=True)
    open(portfile, "w").write(str(s.server_address[1]))
    s.serve_forever()
EOF
	relay_start() {
		rm -f "$T/relay.port"
		_m=$1
		shift
		timeout 60 python3 "$T/relay.py" "$_m" "$URL" "$T/relay.port" "$@" &
		RELAY_PID=$!
		for _i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
			[ -s "$T/relay.port" ] && break
			sleep 0.2
		done
		RURL=http://127.0.0.1:$(cat "$T/relay.port")/pkix/
	}
	srv_start 1 || finish
	relay_start flip
	run_rc "corrupted protection refused" 7 rat request --csr "$T/ee.csr" --profile p \
	    --server "$RURL" --trust "$TRUST" -o "$T/bad2.pem"
	expect_match "named" "signature does not verify.*\[CMP_PROTECTION\]" "$OUT"
	expect_eq "nothing written" no "$([ -e "$T/bad2.pem" ] && echo yes || echo no)"

	srv_start 2 || finish
	relay_start replay
	run_ok "first exchange through the replaying relay" rat revoke --cert "$T/got.pem" \
	    --server "$RURL" --trust "$TRUST"
	run_rc "replayed response refused" 7 rat revoke --cert "$T/got.pem" \
	    --server "$RURL" --trust "$TRUST"
	expect_match "named" "transactionID does not match \[CMP_MISMATCH\]" "$OUT"

	# HTTPS with a pinned CA bundle
	srv_start 2 || finish
	relay_start tls "$T/tls.pem" "$T/tls.key"
	SURL=https://127.0.0.1:$(cat "$T/relay.port")/pkix/
	run_rc "HTTPS: server not in the pinned bundle" 8 rat cacerts --server "$SURL" \
	    --trust "$TRUST" --tls-ca "$T/rogue-ca.pem"
	expect_match "named" "\[CMP_HTTP\]" "$OUT"
	run_ok "HTTPS with the pinned CA" rat request --csr "$T/ee.csr" --profile p \
	    --server "$SURL" --trust "$TRUST" --tls-ca "$PKI/root.pem" -o "$T/got-tls.pem"
	expect_match "confirmed over HTTPS" "^Issued: .*confirmed$" "$OUT"
	srv_stop
else
	echo "  skip - python3 not installed: corrupted and replayed responses"
fi

# ---- an officer card (in-process virtual card: vpiv:STATE) ----------------------------
run_ok "officer card" "$VPIV" init "$T/officer.state" --serial 20000001
run_ok "officer key and certificate in 9c" "$VPIV" personalize "$T/officer.state" \
    --slot 9c --alg eccp256 --ca-cert "$PKI/officer-ca.pem" \
    --ca-key "$PKI/officer-ca.key" --subject "CN=Officer Card,O=raterm test"
printf 'signature=123456\n' >"$T/cardpin"
srv_start 2 || finish
run_ok "enrollment signed on the officer card" "$RATERM" request -v --csr "$T/ee.csr" \
    --profile p --server "$URL" --trust "$TRUST" --officer-reader "vpiv:$T/officer.state" \
    --officer-chain "$PKI/officer-ca.pem" --pin-fd 3 -o "$T/got-card.pem" 3<"$T/cardpin"
expect_match "confirmed" "^Issued: .*confirmed$" "$OUT"
expect_no_match "no software token warning" "software officer token" "$OUT"
printf 'signature=654321\n' >"$T/cardpin"
srv_start 1 || finish
run_rc "wrong officer PIN" 5 "$RATERM" request --csr "$T/ee.csr" --profile p \
    --server "$URL" --trust "$TRUST" --officer-reader "vpiv:$T/officer.state" \
    --officer-chain "$PKI/officer-ca.pem" --pin-fd 3 3<"$T/cardpin"
expect_match "named" "PIN_WRONG" "$OUT"
srv_stop

# ---- usage and local errors --------------------------------------------------------------
RATERM_CONFIG=$T/none.yaml run_rc "procedure without a configuration" 2 rat request --csr "$T/ee.csr" \
    --procedure smartcard --server http://127.0.0.1:9/ --trust "$TRUST"
expect_match "names the configuration" "configuration .*none.yaml.*cannot read.*\\[CONFIG\\]" "$OUT"
run_rc "--server required" 2 rat request --csr "$T/ee.csr" --profile p --trust "$TRUST"
run_rc "--card not hex" 2 rat request --csr "$T/ee.csr" --profile p --trust "$TRUST" \
    --server http://127.0.0.1:1/ --card xyz
run_rc "no PIN on the command line" 2 "$RATERM" request --csr "$T/ee.csr" --profile p \
    --server http://127.0.0.1:9/ --trust "$TRUST" --officer-token "$T/officer.key" \
    --pin "$PASS"
printf 'signature=wrong\n' >"$T/badpin"
run_rc "wrong passphrase (before anything is sent)" 5 "$RATERM" request --csr "$T/ee.csr" \
    --profile p --officer-token "$T/officer.key" \
    --officer-cert "$T/officer-chain.pem" --pin-fd 3 --server http://127.0.0.1:9/ \
    --trust "$TRUST" 3<"$T/badpin"
run_rc "unreachable CM host" 8 rat cacerts --server http://127.0.0.1:9/ --trust "$TRUST"
expect_match "named" "\[CMP_HTTP\]" "$OUT"
run_rc "bad URL scheme" 2 rat cacerts --server ftp://127.0.0.1/ --trust "$TRUST"

finish
