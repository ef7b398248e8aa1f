#!/bin/sh
# t_cmhost_pg.sh - cmhost on PostgreSQL: a private cluster
# (scripts/pgcluster.sh, loopback, its own port, stopped by pid at exit);
# the database unit tests run on it (test_cmhost_db with CMH_TEST_PG_URL);
# database.url in the configuration (path and url together refused, the
# password of a URL never printed), the server refusing an out-of-date
# schema until `cmhost db migrate`; then cmhost serving on it with
# `openssl cmp` (p10cr, cr + certConf, rr), OCSP and the CRL; then two
# instances on the one database: cr on one and certConf on the other
# (a relay that alternates its targets), enrollments in parallel against
# both, afterwards every serial once, every transaction confirmed, the
# CRL of each instance listing exactly the revoked certificates, the same
# CRL on both, and one CRL number sequence across revocations on either.
. "$(dirname "$0")/lib.sh"
need openssl python3
[ -x "$CMHOST" ] || skip_all "cmhost not built"
PGCLUSTER="$REPO/scripts/pgcluster.sh"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
	skip_all "PostgreSQL server not installed (make deps)"
UNIT=$BUILD/tests/test_cmhost_db
[ -x "$UNIT" ] || { fail "unit test binary" "$UNIT not built (make unit)"; finish; }

# the cluster's directory: the postgres user must reach it (not under $T)
PGD=$(mktemp -d /tmp/raterm-pg.XXXXXX) && chmod 711 "$PGD" || exit 1
pg_cleanup() {
	sh "$PGCLUSTER" stop "$PGD/c" 2>/dev/null
	rm -rf "$PGD"
}
A_PID=
B_PID=
RELAY_PID=
trap 'for p in $A_PID $B_PID $RELAY_PID; do kill "$p" 2>/dev/null; done; pg_cleanup; _lib_cleanup' EXIT

run_ok "private PostgreSQL cluster" sh "$PGCLUSTER" start "$PGD/c" || finish
URL=$(sed -n 1p "$OUT")
expect_match "its URL: loopback" "^postgresql://cmhost@127\.0\.0\.1:[0-9]+/cmhost$" "$OUT"

# ---- the database unit tests, on PostgreSQL (a database of their own) ------
run_ok "a database for the unit tests" sh "$PGCLUSTER" psql "$PGD/c" -q -c "CREATE DATABASE unit"
run_ok "test_cmhost_db on SQLite and PostgreSQL" env \
    CMH_TEST_PG_URL="$(echo "$URL" | sed 's|/cmhost$|/unit|')" "$UNIT"
expect_eq "both groups passed" 2 "$(grep -c '^\[  PASSED  \] 10 test(s)' "$OUT")"

# ---- configuration ----------------------------------------------------------
D=$T/cm
Y=$D/cmhost.yaml
cmhost_init "$D" 6211 || finish
cp "$Y" "$D/sqlite.yaml"
# a password in the URL (trust authentication: accepted, never shown)
SECRET_URL=$(echo "$URL" | sed 's|//cmhost@|//cmhost:s3cretpw@|')
sed -i "s|^  path: cmhost.db|  url: \"$SECRET_URL\"|" "$Y"
expect_match "database.url in the configuration" "^  url: \"postgresql://" "$Y"
sed "s|^  url: .*|&\n  path: x.db|" "$Y" >"$D/both.yaml"
run_rc "path and url together refused" 6 "$CMHOST" check -c "$D/both.yaml"
expect_match "naming both" "database: path \\(SQLite\\) and url \\(PostgreSQL\\): one or the other" "$OUT"
run_fail "the server refuses the empty schema" "$CMHOST" check -c "$Y"
expect_match "and says what to run" "schema version 0, this cmhost needs [0-9]+: run .cmhost db migrate -c FILE." "$OUT"
expect_no_match "no password in the error" "s3cretpw" "$OUT"
run_ok "cmhost db --help" "$CMHOST" db --help
expect_match "its usage" "^usage: cmhost db migrate -c FILE" "$OUT"
run_rc "cmhost db frob: usage error" 2 "$CMHOST" db frob -c "$Y"
run_ok "cmhost db migrate" "$CMHOST" db migrate -c "$Y"
expect_match "from 0 to the current version" "PostgreSQL postgresql://cmhost@127\.0\.0\.1:[0-9]+/cmhost: schema version 0 -> [0-9]+" "$OUT"
expect_no_match "no password in its output" "s3cretpw" "$OUT"
run_ok "cmhost db migrate again" "$CMHOST" db migrate -c "$Y"
expect_match "nothing to do" "schema version [0-9]+, current" "$OUT"
run_ok "cmhost check" "$CMHOST" check -c "$Y"
# the password from a file instead (never in argv or the URL)
printf 's3cretpw\n' >"$D/db.pass"
chmod 600 "$D/db.pass"
sed "s|^  url: .*|  url: \"$URL\"\n  password_file: db.pass|" "$Y" >"$D/pwfile.yaml"
run_ok "database.password_file" "$CMHOST" check -c "$D/pwfile.yaml"
sed "s|^  password_file: .*|  password_file: nosuch.pass|" "$D/pwfile.yaml" >"$D/nopw.yaml"
run_fail "a missing password file" "$CMHOST" check -c "$D/nopw.yaml"
expect_match "named" "database.password_file" "$OUT"

# ---- one instance: openssl cmp, OCSP, CRL ------------------------------------
# each instance writes the CRL to a file of its own (revocation.crl_file)
sed -i "s|^revocation:.*|&\n  crl_file: crl-a.der|" "$Y"
cmhost_start "$D" 170 || { fail "cmhost start" "$(cat "$T/server.log")"; finish; }
A_PID=$SRV_PID
A_PORT=$PORT
expect_match "serving on PostgreSQL" "database PostgreSQL postgresql://cmhost@127" "$T/server.log"
expect_no_match "no password in the server's log" "s3cretpw" "$T/server.log"
cd "$T" || exit 1
cat >get.py <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    open(sys.argv[2], "wb").write(r.read())
PY
OFFICER="-cert $D/officer.pem -key $D/officer.key -keypass file:$D/officer.pass"
cmp_at() {	# cmp_at PORT ARGS...: openssl cmp against 127.0.0.1:PORT
	_p=$1
	shift
	# shellcheck disable=SC2086
	openssl cmp -server "127.0.0.1:$_p" -path cmp -trusted "$D/root.pem" \
	    $OFFICER "$@"
}
newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}
newkey k.key
openssl req -new -key k.key -subj "/CN=PG Paula/O=raterm demo" -out p.csr
run_ok "p10cr" cmp_at "$A_PORT" -cmd p10cr -csr p.csr -certout p.pem
run_ok "cr + certConf" cmp_at "$A_PORT" -cmd cr -newkey k.key \
    -subject "/CN=PG Carl/O=raterm demo" -certout c.pem
run_ok "the certificate verifies" openssl verify -CAfile "$D/root.pem" \
    -untrusted "$D/ca-chain.pem" c.pem
run_ok "rr" cmp_at "$A_PORT" -cmd rr -oldcert p.pem -revreason 1
run_fail "rr twice refused" cmp_at "$A_PORT" -cmd rr -oldcert p.pem -revreason 1
OCSP="openssl ocsp -issuer $D/ca.pem -url http://127.0.0.1:$A_PORT/ocsp -CAfile $D/root.pem -verify_other $D/ca-chain.pem"
# shellcheck disable=SC2086
run_ok "OCSP: the revoked one" $OCSP -cert p.pem
expect_match "revoked" "p.pem: revoked" "$OUT"
# shellcheck disable=SC2086
run_ok "OCSP: the confirmed one" $OCSP -cert c.pem
expect_match "good" "c.pem: good" "$OUT"
run_ok "cmhost certs" "$CMHOST" certs -c "$Y" --json
expect_eq "two certificates" 2 "$(grep -c '"serial"' "$OUT")"
run_ok "cmhost audit (the migration audited)" "$CMHOST" audit -c "$Y" --action migrate
expect_match "by cmhost-admin" "cmhost-admin.*schema version 0 ->" "$OUT"

# ---- two instances on one database ------------------------------------------
B_PORT=$((A_PORT + 1))
sed -e "s/^  port: [0-9]*/  port: $B_PORT/" \
    -e "s|^  crl_file: crl-a.der|  crl_file: crl-b.der|" "$Y" >"$D/b.yaml"
timeout -k 5 150 "$CMHOST" -c "$D/b.yaml" --pidfile "$T/b.pid" >>"$T/b.log" 2>&1 &
i=0
while [ ! -s "$T/b.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
B_PID=$(cat "$T/b.pid" 2>/dev/null)
if [ -n "$B_PID" ]; then ok "second instance on port $B_PORT"; else
	fail "second instance" "$(tail -n 5 "$T/b.log")"
	finish
fi

# a relay that sends each request to the next instance in turn: one
# client's cr goes to A, its certConf to B
cat >relay.py <<'PY'
import http.server, sys, urllib.request, threading
targets = sys.argv[2:]
n = [0]
lock = threading.Lock()
log = open("relay.log", "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with lock:
            t = targets[n[0] % len(targets)]
            n[0] += 1
        log.write(t + "\n")
        rq = urllib.request.Request("http://127.0.0.1:%s%s" % (t, self.path),
            data=body, headers={"Content-Type": "application/pkixcmp"})
        try:
            with urllib.request.urlopen(rq, timeout=20) as r:
                code, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, data = e.code, e.read()
        self.send_response(code)
        self.send_header("Content-Type", "application/pkixcmp")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
s.timeout = 1
threading.Timer(120, s.shutdown).start()
s.serve_forever()
PY
R_PORT=$((A_PORT + 2))
timeout -k 5 130 python3 relay.py "$R_PORT" "$A_PORT" "$B_PORT" >relay.out 2>&1 &
RELAY_PID=$!
i=0
while ! python3 -c "import socket; socket.create_connection(('127.0.0.1', $R_PORT), 1)" 2>/dev/null &&
    [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
for n in 1 2 3; do
	run_ok "split enrollment $n: cr on A, certConf on B" cmp_at "$R_PORT" \
	    -cmd cr -newkey k.key -subject "/CN=PG Split $n" -certout "split$n.pem"
done
expect_eq "the relay alternated" "$A_PORT $B_PORT $A_PORT $B_PORT $A_PORT $B_PORT" \
    "$(tr '\n' ' ' <relay.log | sed 's/ $//')"

# enrollments in parallel against both instances
N=6
clients=
for i in $(seq 1 $N); do
	cmp_at "$A_PORT" -cmd cr -newkey k.key -subject "/CN=PG A$i" \
	    -certout "a$i.pem" >"a$i.out" 2>&1 &
	clients="$clients $!"
	cmp_at "$B_PORT" -cmd cr -newkey k.key -subject "/CN=PG B$i" \
	    -certout "b$i.pem" >"b$i.out" 2>&1 &
	clients="$clients $!"
done
# shellcheck disable=SC2086
wait $clients
wait_ok=0
for i in $(seq 1 $N); do
	[ -s "a$i.pem" ] && [ -s "b$i.pem" ] && wait_ok=$((wait_ok + 1))
done
expect_eq "parallel enrollments on both instances" "$N" "$wait_ok"
# revoke some through the other instance than the one that issued them
run_ok "rr on B of a certificate from A" cmp_at "$B_PORT" -cmd rr -oldcert a1.pem -revreason 4
run_ok "rr on A of a certificate from B" cmp_at "$A_PORT" -cmd rr -oldcert b1.pem -revreason 4
run_ok "rr on B of a split one" cmp_at "$B_PORT" -cmd rr -oldcert split1.pem -revreason 4

total=$((2 + 3 + 2 * N))
run_ok "cmhost certs" "$CMHOST" certs -c "$Y" --json
sed -n 's/.*"serial": *"\([0-9a-f]*\)".*/\1/p' "$OUT" | sort >serials.txt
expect_eq "every certificate recorded once" "$total" "$(wc -l <serials.txt)"
expect_eq "serials unique" "$total" "$(sort -u serials.txt | wc -l)"
run_ok "cmhost certs --state waiting" "$CMHOST" certs -c "$Y" --state waiting --json
expect_eq "no transaction left unconfirmed" 0 "$(grep -c '"serial"' "$OUT")"
run_ok "cmhost certs --state confirmed" "$CMHOST" certs -c "$Y" --state confirmed --json
expect_eq "the others confirmed" $((total - 4)) "$(grep -c '"serial"' "$OUT")"
run_ok "cmhost certs --state revoked" "$CMHOST" certs -c "$Y" --state revoked --json
sed -n 's/.*"serial": *"\([0-9a-f]*\)".*/\1/p' "$OUT" | sort >revoked.txt
expect_eq "four revoked" 4 "$(wc -l <revoked.txt)"
for who in A B; do
	[ $who = A ] && p=$A_PORT || p=$B_PORT
	run_ok "CRL of instance $who" python3 get.py "http://127.0.0.1:$p/crl/ca.crl" "crl$who.der"
	run_ok "CRL of $who verifies" openssl crl -inform DER -in "crl$who.der" -CAfile "$D/ca.pem" -noout
	openssl crl -inform DER -in "crl$who.der" -noout -text |
	    sed -n 's/.*Serial Number: *\([0-9A-Fa-f]*\).*/\1/p' | tr 'A-F' 'a-f' |
	    sed 's/^0*//' | sort >"crl$who.txt"
	sed 's/^0*//' revoked.txt | sort >revoked.norm
	expect_eq "CRL of $who lists exactly the revoked" "$(cat revoked.norm)" "$(cat "crl$who.txt")"
done
expect_eq "A and B serve the same CRL (one number, same bytes)" \
    "$(sha256sum <crlA.der)" "$(sha256sum <crlB.der)"

# one CRL number sequence: revocations alternating between the instances,
# each followed by the CRL of the other one, which lists it at once with a
# number greater than any before; both instances then serve that one
crlnum() {	# crlnum FILE: the CRL number (decimal)
	openssl crl -inform DER -in "$1" -noout -crlnumber |
	    sed 's/.*=//' | python3 -c "import sys; print(int(sys.stdin.read().strip(), 16))"
}
last=$(crlnum crlA.der)
seq_ok=1
for i in 2 3 4 5; do
	if [ $((i % 2)) = 0 ]; then rp=$A_PORT; gp=$B_PORT; else rp=$B_PORT; gp=$A_PORT; fi
	cmp_at "$rp" -cmd rr -oldcert "a$i.pem" -revreason 4 >"rr$i.out" 2>&1 || seq_ok=0
	python3 get.py "http://127.0.0.1:$gp/crl/ca.crl" "seq$i.der" >/dev/null 2>&1 || seq_ok=0
	python3 get.py "http://127.0.0.1:$rp/crl/ca.crl" "seq${i}r.der" >/dev/null 2>&1 || seq_ok=0
	s=$(openssl x509 -in "a$i.pem" -noout -serial | sed 's/serial=//')
	openssl crl -inform DER -in "seq$i.der" -noout -text | grep -qi "Serial Number: *$s" || seq_ok=0
	n=$(crlnum "seq$i.der")
	[ "$n" -gt "$last" ] || seq_ok=0
	cmp -s "seq$i.der" "seq${i}r.der" || seq_ok=0
	last=$n
done
if [ $seq_ok = 1 ]; then
	ok "revocations on A and B in turn: the other instance's CRL lists each at once, one increasing CRL number, both serve the same CRL"
else
	fail "one CRL number sequence across instances" "see $T/seq*.der, rr*.out"
fi
run_ok "the last CRL verifies" openssl crl -inform DER -in seq5.der -CAfile "$D/ca.pem" -noout
expect_match "its signature" "verify OK" "$OUT"

# a revocation on A reaches B's CRL file without any request to B (B
# LISTENs; its main loop's own check would come only after grace/4 = 150 s,
# at most 60 s), and B's file is the CRL A serves
run_ok "rr on A" cmp_at "$A_PORT" -cmd rr -oldcert a6.pem -revreason 1
# lists_within FILE CERT TENTHS: waits until the CRL FILE lists CERT, at
# most TENTHS tenths of a second; $i: the tenths it took
lists_within() {
	_s=$(openssl x509 -in "$2" -noout -serial | sed 's/serial=0*//')
	i=0
	while ! openssl crl -inform DER -in "$1" -noout -text 2>/dev/null |
	    grep -qi "Serial Number: *0*$_s\$"; do
		[ $i -lt "$3" ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
}
if lists_within "$D/crl-b.der" a6.pem 50; then ok "B's CRL file lists it after $((i / 10)).$((i % 10)) s (LISTEN/NOTIFY)"; else
	fail "B's CRL file lists A's revocation within 5 s" "$(openssl crl -inform DER -in "$D/crl-b.der" -noout -text 2>&1 | head -20)"
fi
run_ok "A's CRL" python3 get.py "http://127.0.0.1:$A_PORT/crl/ca.crl" crl6a.der
run_ok "B's CRL" python3 get.py "http://127.0.0.1:$B_PORT/crl/ca.crl" crl6b.der
expect_eq "B's file, A's CRL and B's CRL: the same bytes" \
    "$(sha256sum <crl6a.der) $(sha256sum <crl6a.der)" \
    "$(sha256sum <"$D/crl-b.der") $(sha256sum <crl6b.der)"
expect_eq "A's file too" "$(sha256sum <crl6a.der)" "$(sha256sum <"$D/crl-a.der")"
n6=$(crlnum crl6a.der)
if [ "$n6" -gt "$last" ]; then ok "its number $n6 after $last"; else fail "CRL number $n6 after $last" ""; fi
for who in A B; do
	[ $who = A ] && p=$A_PORT || p=$B_PORT
	run_ok "CRL file of $who verifies" openssl crl -inform DER \
	    -in "$D/crl-$(echo $who | tr AB ab).der" -CAfile "$D/ca.pem" -noout
	expect_match "its signature" "verify OK" "$OUT"
	# shellcheck disable=SC2086
	run_ok "OCSP on $who" openssl ocsp -issuer "$D/ca.pem" \
	    -url "http://127.0.0.1:$p/ocsp" -CAfile "$D/root.pem" \
	    -verify_other "$D/ca-chain.pem" -cert a6.pem
	expect_match "revoked" "a6.pem: revoked" "$OUT"
done
run_ok "the instances' connections to PostgreSQL" sh -c "cd / && sh '$PGCLUSTER' \
    psql '$PGD/c' -tA -c \"SELECT count(*) FROM pg_stat_activity WHERE \
    application_name = 'cmhost'\""
expect_eq "each its pool (database.pool: 4) and the CRL's own" 10 "$(tr -d ' ' <"$OUT")"
# shellcheck disable=SC2086
run_ok "OCSP on B of a certificate A revoked" openssl ocsp -issuer "$D/ca.pem" \
    -url "http://127.0.0.1:$B_PORT/ocsp" -CAfile "$D/root.pem" \
    -verify_other "$D/ca-chain.pem" -cert p.pem
expect_match "revoked" "p.pem: revoked" "$OUT"

# every connection of both instances ended by the server (as a restart
# would): a request that meets a lost connection fails, the next use of a
# connection makes it again; B's listening connection comes back and its
# CRL file follows A's next revocation
run_ok "the server ends the instances' connections" sh -c "cd / && sh '$PGCLUSTER' \
    psql '$PGD/c' -tA -c \"SELECT count(pg_terminate_backend(pid)) FROM \
    pg_stat_activity WHERE application_name = 'cmhost'\""
expect_eq "all ten" 10 "$(tr -d ' ' <"$OUT")"
tries=0
until cmp_at "$A_PORT" -cmd rr -oldcert b2.pem -revreason 1 >rr7.out 2>&1; do
	tries=$((tries + 1))
	[ $tries -lt 6 ] || break
done
if [ $tries -lt 6 ]; then ok "rr on A after $tries failed attempt(s) (at most one per lost connection)"; else
	fail "rr on A once the connections are made again" "$(tail -n 5 rr7.out)"
fi
if lists_within "$D/crl-b.der" b2.pem 100; then ok "B's CRL file lists it after $((i / 10)).$((i % 10)) s"; else
	fail "B's CRL file lists A's revocation within 10 s after the connections were lost" ""
fi
run_ok "A's /crl" python3 get.py "http://127.0.0.1:$A_PORT/crl/ca.crl" crl7a.der
expect_eq "the same as B's file" "$(sha256sum <crl7a.der)" "$(sha256sum <"$D/crl-b.der")"

kill "$B_PID" 2>/dev/null
cmhost_stop TERM
finish
