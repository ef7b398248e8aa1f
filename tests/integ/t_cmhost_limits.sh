#!/bin/sh
# t_cmhost_limits.sh - cmhost against slow and many connections (issue 11,
# defect 6): 200 connections from one address (127.0.0.2) that send their
# headers and then one body byte a second do not lock out another client
# (`openssl cmp` from 127.0.0.1 is answered while they run); that address
# gets at most listen.max_connections_per_client connections; a slow
# request is cut after listen.request_timeout; a claimed 1 GB body is
# answered 413 at once, before any body byte; X-Forwarded-For counts only
# from listen.trusted_proxies; cmhost's secret files are 0600 whatever the
# umask. Everything on loopback, bounded by timeout.
. "$(dirname "$0")/lib.sh"
need openssl python3
CMHOST=${CMHOST:-$BUILD/cmhost}
[ -x "$CMHOST" ] || skip_all "cmhost not built"
D=$T/cm
cmhost_init "$D" 4447 || finish
# small limits so that the test is quick
sed -i "s/^  port: \([0-9]*\)/  port: \1\n  max_connections_per_client: 8\n  idle_timeout: 3\n  request_timeout: 4/" \
    "$D/cmhost.yaml"
run_ok "cmhost check with the limits" "$CMHOST" check -c "$D/cmhost.yaml"
cmhost_start "$D" 120 || { fail "cmhost start" "$(cat "$T/server.log")"; finish; }

cat >"$T/slow.py" <<'PY'
import socket, sys, time
host, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
socks, refused = [], 0
for i in range(n):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.bind(("127.0.0.2", 0))
        s.connect((host, port))
        s.sendall(b"POST /cmp HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkixcmp\r\nContent-Length: 100000\r\n\r\n")
        socks.append(s)
    except OSError:
        refused += 1
t0 = time.time()
alive = len(socks)
while time.time() - t0 < secs and socks:
    for s in list(socks):
        try:
            s.sendall(b"x")
            s.settimeout(0.01)
            try:
                if s.recv(1) == b"":
                    raise OSError
            except socket.timeout:
                pass
        except OSError:
            socks.remove(s)
    time.sleep(1)
print("opened %d refused %d alive-after %d" % (alive, refused, len(socks)))
PY
timeout 60 python3 "$T/slow.py" 127.0.0.1 "$PORT" 200 8 >"$T/slow.out" 2>&1 &
SLOW=$!
sleep 1
CMP="openssl cmp -server 127.0.0.1:$PORT -path cmp -trusted $D/root.pem"
# shellcheck disable=SC2086
run_ok "a valid client is answered during the attack" timeout 20 $CMP \
    -unprotected_requests -subject /CN=x -cmd genm -infotype caCerts
wait "$SLOW"
slow=$(cat "$T/slow.out")
opened=$(echo "$slow" | sed -n 's/^opened \([0-9]*\) .*/\1/p')
alive=$(echo "$slow" | sed -n 's/.*alive-after \([0-9]*\)$/\1/p')
if [ -n "$opened" ] && [ "$alive" = 0 ]; then
	ok "slow senders cut after request_timeout ($slow)"
else
	fail "slow senders cut after request_timeout" "$slow"
fi
# a claimed 1 GB body: 413 at once, nothing read
cat >"$T/big.py" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"POST /cmp HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkixcmp\r\nContent-Length: 1000000000\r\n\r\n")
print(s.recv(200).split(b"\r\n")[0].decode())
PY
run_ok "a claimed 1 GB body" timeout 10 python3 "$T/big.py" 127.0.0.1 "$PORT"
expect_match "answered 413 before any body byte" "413" "$OUT"

# X-Forwarded-For from an untrusted peer is ignored: the audit names the
# peer, not the address the header claims
cat >"$T/xff.py" <<'PY'
import socket, sys
body = open(sys.argv[3], "rb").read()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"POST /cmp HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\nContent-Type: application/pkixcmp\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
print(s.recv(100).split(b"\r\n")[0].decode())
PY
# shellcheck disable=SC2086
run_ok "a request to replay" $CMP -unprotected_requests -subject /CN=x \
    -cmd genm -infotype caCerts -reqout "$T/genm.der"
run_ok "X-Forwarded-For from an untrusted peer" timeout 10 python3 "$T/xff.py" \
    127.0.0.1 "$PORT" "$T/genm.der"
run_ok "audit" sqlite3 "$D/cmhost.db" "select station from audit"
expect_no_match "the claimed address is not recorded" "203\.0\.113\.9" "$OUT"
cmhost_stop

# secret files 0600 whatever the umask (defect 7): the CA and officer keys
# of `cmhost init`, the database (card management keys) and its WAL files
(umask 000 && "$CMHOST" init "$T/cm0" --port "$PORT" >/dev/null 2>&1 &&
    "$CMHOST" check -c "$T/cm0/cmhost.yaml" >/dev/null 2>&1)
modes=$(cd "$T/cm0" && stat -c '%a %n' ./*.key ./*.pass cmhost.db* 2>&1)
if echo "$modes" | grep -q '^600 cmhost.db$' &&
    ! echo "$modes" | grep -qv '^600 '; then
	ok "secret files 0600 with umask 000"
else
	fail "secret files 0600 with umask 000" "$modes"
fi
chmod 644 "$T/cm0/cmhost.db"
"$CMHOST" check -c "$T/cm0/cmhost.yaml" >/dev/null 2>&1
expect_eq "an existing database loses group and other rights" \
    "$(stat -c %a "$T/cm0/cmhost.db")" 600

# from a trusted proxy, the header names the client
sed -i "s/^  port: \([0-9]*\)/  port: \1\n  trusted_proxies: [127.0.0.1]/" \
    "$D/cmhost.yaml"
cmhost_start "$D" 60 || { fail "cmhost restart" "$(cat "$T/server.log")"; finish; }
# shellcheck disable=SC2086
run_ok "another request" $CMP -unprotected_requests -subject /CN=x \
    -cmd genm -infotype caCerts -reqout "$T/genm2.der"
run_ok "X-Forwarded-For from a trusted proxy" timeout 10 python3 "$T/xff.py" \
    127.0.0.1 "$PORT" "$T/genm2.der"
run_ok "audit" sqlite3 "$D/cmhost.db" "select station from audit"
expect_match "the client behind the proxy is recorded" \
    "203\.0\.113\.9 .via 127\.0\.0\.1:" "$OUT"
cmhost_stop
finish
