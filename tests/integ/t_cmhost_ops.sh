#!/bin/sh
# t_cmhost_ops.sh - what an administrator watches and does to a running
# cmhost: GET /health (JSON) and /metrics (Prometheus text, parsed), the
# request log in JSON (one valid line per request: officer, body, serial,
# status), SIGHUP with a changed officer list (the officer refused after
# it, accepted again after the next), a broken file on SIGHUP (the server
# keeps serving as it ran, the reload counted as failed), a request in
# flight across a SIGHUP and across a SIGTERM (both answered; the server
# then stops, without waiting for an idle keep-alive connection's
# idle_timeout), and the TLS certificate renewed by SIGHUP (new connections
# get the new one). Also: an officer added by SIGHUP accepted while the
# one removed is refused, /health 503 naming the CRL while publishing it
# fails (revocation.crl_file replaced by a directory), the client behind
# a trusted proxy (X-Forwarded-For) in the log, plain log lines, an audit
# row the database refuses logged as an error with its cause.
# Loopback, bounded.
. "$(dirname "$0")/lib.sh"
need openssl python3 sqlite3
CMHOST=${CMHOST:-$BUILD/cmhost}
[ -x "$CMHOST" ] || skip_all "cmhost not built"
D=$T/cm
cmhost_init "$D" 6113 || finish
printf 'log:\n  format: json\n  file: %s\n' "$T/requests.log" >>"$D/cmhost.yaml"
# idle_timeout far above the test's waits: a stop that waited for idle
# connections would show; the CRL published to a file; this host a proxy
sed -i '/^  threads:/a\  idle_timeout: 300\n  trusted_proxies: [127.0.0.1]' "$D/cmhost.yaml"
sed -i '/^revocation:/a\  crl_file: crl.der' "$D/cmhost.yaml"
run_ok "cmhost check with a JSON log" "$CMHOST" check -c "$D/cmhost.yaml"
cmhost_start "$D" 120 || { fail "cmhost start" "$(cat "$T/server.log")"; finish; }
URL=http://127.0.0.1:$PORT
cd "$T" || exit 1

cat >get.py <<'PY'
import ssl, sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], headers=dict(
    a.split(": ", 1) for a in sys.argv[2:]))
try:
    with urllib.request.urlopen(req, timeout=10,
                                context=ssl._create_unverified_context()) as r:
        code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
print(code)
sys.stdout.write(body.decode())
PY
# metrics.py URL NAME LABEL=VALUE...: the sample's value (0 if none);
# every line must parse as the text exposition format
cat >metrics.py <<'PY'
import re, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
want = dict(a.split("=", 1) for a in sys.argv[3:])
val = 0
for line in text.splitlines():
    if line.startswith("#"):
        assert re.match(r"# (HELP|TYPE) [a-z_]+ .+", line), line
        continue
    m = re.match(r'([a-z_]+)(\{(.*)\})? (\S+)$', line)
    assert m, "not a sample: " + line
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
    float(m.group(4))
    if m.group(1) == sys.argv[2] and all(labels.get(k) == v for k, v in want.items()):
        val = m.group(4)
print(val)
PY

run_ok "GET /health" python3 get.py "$URL/health"
expect_match "200 and status ok" '^200' "$OUT"
cp "$OUT" health.out
run_ok "/health is JSON" python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read().split('\n',1)[1]); assert d['status']=='ok' and d['database']=='ok' and d['crl']=='ok', d" health.out
run_ok "GET /metrics parses" python3 metrics.py "$URL/metrics" cmhost_certificates state=confirmed
expect_match "no certificate yet" '^0$' "$OUT"

CMP="openssl cmp -server 127.0.0.1:$PORT -path cmp -trusted $D/root.pem"
OFFICER="-cert $D/officer.pem -key $D/officer.key -keypass file:$D/officer.pass"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out c.key 2>/dev/null
# shellcheck disable=SC2086
run_ok "cr" $CMP $OFFICER -cmd cr -newkey c.key -subject "/CN=Ops Test" -certout c1.pem
SERIAL=$(openssl x509 -in c1.pem -noout -serial | sed 's/serial=//' | tr 'A-F' 'a-f')
run_ok "metrics: the cr counted" python3 metrics.py "$URL/metrics" cmhost_requests_total body=cr status=200 refused=false
expect_match "one cr" '^1$' "$OUT"
run_ok "metrics: the certificate confirmed" python3 metrics.py "$URL/metrics" cmhost_certificates state=confirmed
expect_match "one confirmed" '^1$' "$OUT"
run_ok "metrics: latency histogram" python3 metrics.py "$URL/metrics" cmhost_request_duration_seconds_count
expect_no_match "requests timed" '^0$' "$OUT"
run_ok "every log line is JSON" python3 -c "
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, 'empty log'
for l in lines:
    json.loads(l)
" "$T/requests.log"
run_ok "the cr's log line" python3 -c "
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get('body') == 'cr':
        assert d['officer'] == 'demo-officer', d
        assert sys.argv[2] in d['serials'], d
        assert d['status'] == 200 and d['outcome'] == 'ok', d
        assert d['client'].startswith('127.0.0.1:') and d['ms'] >= 0, d
        sys.exit(0)
sys.exit('no cr line')
" "$T/requests.log" "$SERIAL"

# the client behind a trusted proxy: the last X-Forwarded-For address
run_ok "GET /health through a proxy" python3 get.py "$URL/health" "X-Forwarded-For: 198.51.100.9, 203.0.113.7"
run_ok "the proxied client in the log" python3 -c "
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])][-1]
assert d['body'] == 'health' and d['client'].startswith('203.0.113.7 (via 127.0.0.1:'), d
" "$T/requests.log"

# a second officer of the officer CA, not (yet) in the configuration
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout officer2.key -subj "/CN=Second Officer/O=raterm demo" \
    -out officer2.csr 2>/dev/null
printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >officer2.ext
openssl x509 -req -in officer2.csr -CA "$D/officer-ca.pem" \
    -CAkey "$D/officer-ca.key" -CAcreateserial -days 2 -extfile officer2.ext \
    -out officer2.pem 2>/dev/null
OFFICER2="-cert officer2.pem -key officer2.key"
# shellcheck disable=SC2086
run_fail "an officer not configured is refused" $CMP $OFFICER2 -cmd cr -newkey c.key -subject "/CN=Ops Test" -certout c2.pem

# SIGHUP: the officer list changed (demo-officer out, second-officer in)
# takes effect for the next request
cp "$D/cmhost.yaml" before-hup.yaml
sed -i 's/- name: demo-officer/- name: second-officer/; s/cn: raterm Demo Officer/cn: Second Officer/' "$D/cmhost.yaml"
kill -HUP "$SRV_PID"
sleep 0.5
run_ok "still running after SIGHUP" kill -0 "$SRV_PID"
# shellcheck disable=SC2086
run_fail "the removed officer is refused" $CMP $OFFICER -cmd cr -newkey c.key -subject "/CN=Ops Test" -certout c2.pem
run_ok "the refusal's log line" python3 -c "
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])][-1]
assert d['body'] == 'cr' and d['outcome'] != 'ok', d
" "$T/requests.log"
# shellcheck disable=SC2086
run_ok "the added officer is accepted" $CMP $OFFICER2 -cmd cr -newkey c.key -subject "/CN=Ops Test 2" -certout c2.pem
run_ok "the added officer's log line" python3 -c "
import json, sys
d = [json.loads(l) for l in open(sys.argv[1]) if 'body' in l][-1]
assert d['body'] == 'certConf' and d['officer'] == 'second-officer' and d['outcome'] == 'ok', d
" "$T/requests.log"
cp before-hup.yaml "$D/cmhost.yaml"
kill -HUP "$SRV_PID"
sleep 0.5
# shellcheck disable=SC2086
run_ok "the officer back after the next SIGHUP" $CMP $OFFICER -cmd cr -newkey c.key -subject "/CN=Ops Test" -certout c3.pem
run_ok "reloads counted" python3 metrics.py "$URL/metrics" cmhost_reloads_total result=ok
expect_match "two reloads" '^2$' "$OUT"

# /health 503 while the CRL cannot be published: its file replaced by a
# directory, a revocation makes the CRL due
mv "$D/crl.der" crl.good
mkdir "$D/crl.der" && : >"$D/crl.der/x"
# shellcheck disable=SC2086
run_ok "rr" $CMP $OFFICER -cmd rr -oldcert c3.pem -revreason 4
run_ok "GET /health, the CRL not publishable" python3 get.py "$URL/health"
expect_match "503" '^503' "$OUT"
cp "$OUT" health503.out
run_ok "/health names the CRL" python3 -c "
import json, sys
d = json.loads(open(sys.argv[1]).read().split('\n', 1)[1])
assert d['status'] == 'fail' and d['database'] == 'ok' and 'publishing the CRL' in d['crl'], d
" health503.out
run_ok "metrics: the 503 counted" python3 metrics.py "$URL/metrics" cmhost_requests_total body=health status=503
expect_match "one 503" '^1$' "$OUT"
rm -r "$D/crl.der"
run_ok "GET /health, published again" python3 get.py "$URL/health"
expect_match "200 again" '^200' "$OUT"
C3SERIAL=$(openssl x509 -in c3.pem -noout -serial | sed 's/serial=//')
run_ok "the CRL file lists the revoked" sh -c "openssl crl -inform DER -in '$D/crl.der' -noout -text | grep -qi '$C3SERIAL'"

# settings that take a restart: named, and kept as they run
cp "$D/cmhost.yaml" good.yaml
sed -i "s/^  port: $PORT/  port: $((PORT + 1))/; s/^  threads: .*/  threads: 3/" "$D/cmhost.yaml"
kill -HUP "$SRV_PID"
sleep 0.5
expect_match "the restart-only settings named" "needs a restart, kept as running: listen.port, listen.threads" "$T/server.log"
run_ok "still on the old port" python3 get.py "$URL/health"
expect_match "healthy there" '"status":"ok"' "$OUT"
cp good.yaml "$D/cmhost.yaml"

# a broken file: the server keeps serving as it ran
cp "$D/cmhost.yaml" good.yaml
printf 'officers: [\n' >>"$D/cmhost.yaml"
kill -HUP "$SRV_PID"
sleep 0.5
run_ok "serving after a broken SIGHUP" python3 get.py "$URL/health"
expect_match "healthy" '"status":"ok"' "$OUT"
expect_match "the broken reload said why" "SIGHUP: the configuration stays as it runs: .*cmhost.yaml" "$T/server.log"
run_ok "failed reload counted" python3 metrics.py "$URL/metrics" cmhost_reloads_total result=failed
expect_match "one failed" '^1$' "$OUT"
cp good.yaml "$D/cmhost.yaml"

# the audit row refused (a trigger): the answer stands, the log says why
sqlite3 "$D/cmhost.db" "CREATE TRIGGER t_no_audit BEFORE INSERT ON audit
    WHEN NEW.action = 'genm' BEGIN SELECT RAISE(ABORT, 'refused by the test');
    END;"
# shellcheck disable=SC2086
$CMP $OFFICER -cmd genm >genm.out 2>&1
run_ok "the audit failure logged with its cause" python3 -c "
import json, sys
d = [json.loads(l) for l in open(sys.argv[1])]
e = [x for x in d if x.get('level') == 'error']
assert e and e[-1]['what'].startswith('127.0.0.1:'), d[-3:]
assert e[-1]['message'].startswith('audit: ') and 'refused by the test' in e[-1]['message'], e
g = [x for x in d if x.get('body') == 'genm']
assert g and g[-1]['status'] == 200, d[-3:]
" "$T/requests.log"
sqlite3 "$D/cmhost.db" "DROP TRIGGER t_no_audit;"

# a request in flight across SIGHUP and across SIGTERM: its body
# trickles in for 2 s; the signal comes in the middle; it is answered
openssl cmp -server 127.0.0.1:1 -path cmp -cmd genm -unprotected_requests \
    -ref slow -reqout genm.der >/dev/null 2>&1 || true
cat >slow.py <<'PY'
import socket, sys, time
body = open(sys.argv[2], "rb").read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"POST /cmp HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkixcmp\r\n"
          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
half = len(body) // 2
s.sendall(body[:half]); time.sleep(2); s.sendall(body[half:])
rsp = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    rsp += b
print(rsp.split(b"\r\n", 1)[0].decode())
with open(sys.argv[3], "w") as h:
    h.write(rsp.split(b"\r\n\r\n", 1)[0].decode(errors="replace") + "\n")
PY
if [ -s genm.der ]; then
	python3 slow.py "$PORT" genm.der slow1.hdr >slow1.out 2>&1 &
	SLOW=$!
	sleep 0.7
	kill -HUP "$SRV_PID"
	wait "$SLOW"
	run_ok "a request in flight across SIGHUP is answered" grep -q "HTTP/1.1 200" slow1.out
	# an idle keep-alive connection beside it: the stop does not wait
	# for its idle_timeout (300 s), it is closed once the slow one is done
	cat >idle.py <<'PY'
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
c.request("GET", "/health")
r = c.getresponse()
r.read()
print(r.status, r.getheader("Connection"), flush=True)
time.sleep(60)
PY
	python3 idle.py "$PORT" >idle.out 2>&1 &
	IDLE=$!
	python3 slow.py "$PORT" genm.der slow2.hdr >slow2.out 2>&1 &
	SLOW=$!
	sleep 0.7
	kill -TERM "$SRV_PID"
	wait "$SLOW"
	run_ok "a request in flight across SIGTERM is answered" grep -q "HTTP/1.1 200" slow2.out
	expect_match "kept alive before the SIGTERM" "^200 None" idle.out
	expect_match "closed after the answer while stopping" "^Connection: close" slow2.hdr
	i=0
	while kill -0 "$SRV_PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	run_fail "then the server stopped (the idle connection not waited for)" kill -0 "$SRV_PID"
	kill "$IDLE" 2>/dev/null
	wait "$IDLE" 2>/dev/null
	expect_match "stopped logged" "cmhost: stopped" "$T/server.log"
else
	fail "openssl cmp -reqout made no request" "$(ls)"
fi
cmhost_stop

# TLS renewed by SIGHUP
D2=$T/tls
cmhost_init "$D2" 6217 || finish
mk_tls() {	# mk_tls NAME: a server certificate for 127.0.0.1 from the test CA
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$D2/$1.key" -subj "/CN=$1" -out "$D2/$1.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\n' >"$D2/san.ext"
	openssl x509 -req -in "$D2/$1.csr" -CA "$D2/ca.pem" -CAkey "$D2/ca.key" \
	    -CAcreateserial -days 2 -extfile "$D2/san.ext" -out "$D2/$1.pem" 2>/dev/null
}
mk_tls first
mk_tls second
cp "$D2/first.pem" "$D2/tls.pem"
cp "$D2/first.key" "$D2/tls.key"
sed -i '/^  threads:/a\  tls_cert: tls.pem\n  tls_key: tls.key' "$D2/cmhost.yaml"
cmhost_start "$D2" 120 || { fail "cmhost start (TLS)" "$(cat "$T/server.log")"; finish; }
peer_cn() {
	echo | openssl s_client -connect "127.0.0.1:$PORT" 2>/dev/null |
	    openssl x509 -noout -subject 2>/dev/null
}
run_ok "TLS: the first certificate" peer_cn
expect_match "CN first" "CN ?= ?first" "$OUT"
cp "$D2/second.pem" "$D2/tls.pem"
cp "$D2/second.key" "$D2/tls.key"
kill -HUP "$SRV_PID"
sleep 0.5
run_ok "TLS: the renewed certificate after SIGHUP" peer_cn
expect_match "CN second" "CN ?= ?second" "$OUT"
cp "$D2/first.pem" "$D2/tls.pem"	# and a key that does not match
kill -HUP "$SRV_PID"
sleep 0.5
run_ok "TLS: a mismatched pair keeps the running one" peer_cn
expect_match "still CN second" "CN ?= ?second" "$OUT"
expect_match "the mismatch named" "tls.pem does not match the key in .*tls.key" "$T/server.log"
# the default log: plain lines on stderr
run_ok "GET /health over HTTPS" python3 "$T/get.py" "https://127.0.0.1:$PORT/health"
expect_match "a plain log line" '^[0-9-]*T[0-9:.]*Z 127\.0\.0\.1:[0-9]* GET /health health officer=- serials=- 200 [0-9.]*ms ok$' "$T/server.log"
cmhost_stop
finish
