#!/bin/sh
# t_cmp_tls.sh - raterm and cmhost over HTTPS: cmhost with listen.tls_cert
# and tls_key (a server certificate for localhost / IP 127.0.0.1 from a TLS
# CA made here with openssl) on a free loopback port; raterm cacerts,
# request and revoke with --tls-ca; refused: a wrong TLS CA bundle (nothing
# issued), a server certificate for another name, http:// to the TLS port
# (bounded, no hang); `openssl cmp -tls_used` as the referee (p10cr); the
# card management key is not handed out over plain HTTP when
# listen.mgmt_keys_over_http is no.
. "$(dirname "$0")/lib.sh"
need openssl
CMHOST=${CMHOST:-$BUILD/cmhost}
[ -x "$CMHOST" ] || skip_all "cmhost not built"
D=$T/cm
SRV_PID=

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

# ---- the CM host, TLS material --------------------------------------------------
PORT=$((20000 + ($$ + 7919) % 20000))
run_ok "cmhost init" "$CMHOST" init "$D" --port $PORT || finish
(
	set -e
	cd "$T"
	ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >ca.ext
	for ca in tlsca wrongca; do
		ec $ca.key
		openssl req -new -key $ca.key -subj "/O=raterm test/CN=$ca" -out $ca.csr
		openssl x509 -req -in $ca.csr -signkey $ca.key -days 30 -extfile ca.ext \
		    -out $ca.pem
	done
	# leaf NAME SAN: a TLS server certificate from tlsca
	leaf() {
		ec "$1.key"
		openssl req -new -key "$1.key" -subj "/O=raterm test/CN=$2" -out "$1.csr"
		printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' \
		    "$3" >"$1.ext"
		openssl x509 -req -in "$1.csr" -CA tlsca.pem -CAkey tlsca.key \
		    -set_serial "$4" -days 30 -extfile "$1.ext" -out "$1.pem"
	}
	leaf srv localhost "DNS:localhost,IP:127.0.0.1" 11
	leaf other other.example "DNS:other.example" 12
	ec u.key
	openssl req -new -key u.key -subj "/CN=Tess Tls/O=raterm demo" -out u.csr
	ec r.key
	openssl req -new -key r.key -subj "/CN=Otto Openssl/O=raterm demo" -out r.csr
) >"$T/setup.log" 2>&1 || { fail "TLS material" "$(tail -n 3 "$T/setup.log")"; finish; }
ok "TLS CA, server certificates, CSRs"

# conf CERT MGMT: $D/t.yaml with listen.tls_cert (none: plain HTTP) and
# listen.mgmt_keys_over_http
conf() {
	if [ "$1" = none ]; then _tls=; else
		_tls="  tls_cert: $T/$1.pem\\
  tls_key: $T/$1.key\\
"
	fi
	_m=
	[ -n "$2" ] && _m="  mgmt_keys_over_http: $2"
	sed "/^  threads:/a\\
${_tls}${_m}" "$D/cmhost.yaml" >"$D/t.yaml"
	sed -i "s/^  port: [0-9]*/  port: $PORT/" "$D/t.yaml"
}

# start_server: cmhost -c $D/t.yaml on a free port (bounded lifetime)
start_server() {
	stop_server
	_try=0
	: >"$T/server.log"
	while [ $_try -lt 10 ]; do
		sed -i "s/^  port: [0-9]*/  port: $PORT/" "$D/t.yaml"
		rm -f "$T/cmhost.pid"
		timeout -k 5 90 "$CMHOST" -c "$D/t.yaml" --pidfile "$T/cmhost.pid" \
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
		: >"$T/server.log"
		PORT=$((PORT + 1))
		_try=$((_try + 1))
	done
	fail "cmhost start" "$(tail -n 3 "$T/server.log")"
	return 1
}

# rat CMD ARGS...: raterm with the officer token from cmhost init
# shellcheck disable=SC2317
rat() {
	_cmd=$1
	shift
	printf 'signature=%s\n' "$(head -n 1 "$D/officer.pass")" >"$T/pin"
	"$RATERM" "$_cmd" --officer-token "$D/officer.key" \
	    --officer-cert "$D/officer-chain.pem" --trust "$D/root.pem" \
	    --timeout 10 --pin-fd 3 "$@" 3<"$T/pin"
}
ncerts() { "$CMHOST" certs -c "$D/t.yaml" 2>/dev/null | wc -l; }
# mgmtkey URL TLS_CA|-: what `raterm update` asks (cmp_client_mgmt_key)
# shellcheck disable=SC2317
mgmtkey() {
	"$TOOLS/cmp_mgmtkey" "$1" "$2" "$D/root.pem" "$D/officer.key" \
	    "$D/officer-chain.pem" "$D/officer.pass" "$CARD"
}
CARD=00112233445566778899aabbccddeeff
MKEY=0f0e0d0c0b0a09080706050403020100

conf srv no
run_ok "cmhost check (TLS)" "$CMHOST" check -c "$D/t.yaml"
echo "$MKEY" >"$T/mkey"
run_ok "cmhost mgmt-key" "$CMHOST" mgmt-key -c "$D/t.yaml" --card "$CARD" --alg aes128 \
    --key-fd 3 3<"$T/mkey"
start_server || finish
ok "cmhost serves HTTPS on port $PORT"
URL=https://127.0.0.1:$PORT/cmp
LURL=https://localhost:$PORT/cmp

# ---- raterm over HTTPS ------------------------------------------------------------
run_ok "cacerts over HTTPS" rat cacerts --server "$URL" --tls-ca "$T/tlsca.pem" -o "$T/cacerts.pem"
expect_match "CA certificates received" "BEGIN CERTIFICATE" "$T/cacerts.pem"
# the CA certificates are public: no officer token, no PIN, no terminal
run_ok "cacerts without an officer" "$RATERM" cacerts --server "$URL" --tls-ca "$T/tlsca.pem" \
    --trust "$D/root.pem" -o "$T/cacerts-public.pem" </dev/null
expect_eq "the same certificates" "$(cat "$T/cacerts.pem")" "$(cat "$T/cacerts-public.pem")"
run_ok "request over HTTPS" rat request --csr "$T/u.csr" --profile user \
    --server "$URL" --tls-ca "$T/tlsca.pem" -o "$T/u.pem"
expect_match "issued and confirmed" "^Issued: .*confirmed$" "$OUT"
run_ok "issued certificate verifies" openssl verify -CAfile "$D/root.pem" \
    -untrusted "$D/ca-chain.pem" "$T/u.pem"
run_ok "cacerts by host name (localhost)" rat cacerts --server "$LURL" \
    --tls-ca "$T/tlsca.pem" -o "$T/cacerts2.pem"
run_ok "revoke over HTTPS" rat revoke --cert "$T/u.pem" --reason superseded \
    --server "$URL" --tls-ca "$T/tlsca.pem"
"$CMHOST" certs -c "$D/t.yaml" >"$T/certs.txt" 2>&1
expect_match "cmhost: revoked" "revoked" "$T/certs.txt"

# ---- refused ------------------------------------------------------------------------
n0=$(ncerts)
run_rc "wrong TLS CA bundle refused" 8 rat request --csr "$T/u.csr" --profile user \
    --server "$URL" --tls-ca "$T/wrongca.pem" -o "$T/no.pem"
expect_match "error names TLS certificate verification" \
    "TLS server certificate not accepted .*wrongca\.pem.*local issuer" "$OUT"
expect_eq "nothing issued" "$n0" "$(ncerts)"
run_rc "system store does not know the TLS CA" 8 rat cacerts --server "$URL" \
    -o "$T/no.pem"
_t0=$(date +%s)
run_rc "http:// to the TLS port fails" 8 rat cacerts \
    --server "http://127.0.0.1:$PORT/cmp" -o "$T/no.pem"
expect_match "... and says why" "an HTTPS server\\? then https://" "$OUT"
expect_eq "... and does not hang" yes "$([ $(($(date +%s) - _t0)) -le 15 ] && echo yes || echo no)"
expect_eq "still nothing issued" "$n0" "$(ncerts)"

# ---- the card management key ---------------------------------------------------------------
run_ok "management key over HTTPS" mgmtkey "$URL" "$T/tlsca.pem"
expect_match "the key stored" "^alg=8 key=$MKEY$" "$OUT"
run_rc "management key over HTTPS, wrong TLS CA" 1 mgmtkey "$URL" "$T/wrongca.pem"

# ---- referee: openssl cmp over TLS ----------------------------------------------------
run_ok "openssl cmp p10cr over TLS" openssl cmp -server "https://127.0.0.1:$PORT/cmp" \
    -tls_used -tls_trusted "$T/tlsca.pem" -trusted "$D/root.pem" \
    -cert "$D/officer.pem" -key "$D/officer.key" -keypass "file:$D/officer.pass" \
    -cmd p10cr -csr "$T/r.csr" -certout "$T/r.pem"
run_ok "openssl's certificate verifies" openssl verify -CAfile "$D/root.pem" \
    -untrusted "$D/ca-chain.pem" "$T/r.pem"
run_fail "openssl cmp with the wrong TLS CA fails" openssl cmp \
    -server "https://127.0.0.1:$PORT/cmp" -tls_used -tls_trusted "$T/wrongca.pem" \
    -trusted "$D/root.pem" -cert "$D/officer.pem" -key "$D/officer.key" \
    -keypass "file:$D/officer.pass" -cmd genm

# ---- a server certificate for another name -----------------------------------------------
conf other no
start_server || finish
run_rc "server certificate for other.example refused" 8 rat request --csr "$T/u.csr" \
    --profile user --server "https://127.0.0.1:$PORT/cmp" --tls-ca "$T/tlsca.pem" \
    -o "$T/no.pem"
expect_match "error names the host name check" \
    "TLS server certificate not accepted.*subject name matches target host" "$OUT"
n1=$(ncerts)
expect_eq "nothing issued by the misnamed server" "$((n0 + 1))" "$n1"

# ---- plain HTTP: management keys only where listen.mgmt_keys_over_http allows
conf none no
start_server || finish
HURL=http://127.0.0.1:$PORT/cmp
run_ok "cacerts over plain HTTP" rat cacerts --server "$HURL" -o "$T/cacerts3.pem"
run_rc "management key over HTTP refused (mgmt_keys_over_http: no)" 4 mgmtkey "$HURL" -
expect_match "the CM host names HTTPS" "notAuthorized.*HTTPS only" "$OUT"
expect_no_match "no key in the refusal" "$MKEY" "$OUT"
if command -v sqlite3 >/dev/null 2>&1; then
	sqlite3 "$D/cmhost.db" "select * from audit" >"$T/audit.txt" 2>&1
	expect_match "refusal audited" "cardMgmtKey $CARD.*HTTPS only" "$T/audit.txt"
fi
conf none ""
start_server || finish
run_ok "management key over loopback HTTP (default: loopback)" mgmtkey \
    "http://127.0.0.1:$PORT/cmp" -
expect_match "the key" "^alg=8 key=$MKEY$" "$OUT"

stop_server
expect_no_match "no sanitizer reports" "AddressSanitizer|LeakSanitizer|runtime error" \
    "$T/server.log"
finish
