#!/bin/sh
# t_cmhost_haproxy.sh - two cmhost instances on one PostgreSQL behind
# HAProxy (scripts/scale.sh: a private cluster, the instances and HAProxy
# made from contrib/haproxy-cmhost.cfg, on loopback ports of their own, all
# stopped by pid), a confirm grace of 8 s (docs/scaling.md, "HAProxy in
# front"):
#   a cr and its certConf land on different instances (their request logs);
#   the client address is the one HAProxy adds to X-Forwarded-For, not one
#   the client sent; a card management key through HAProxy to a loopback
#   station, refused to a remote one (a second HAProxy stands in for its
#   proxy) that sends "X-Forwarded-For: 127.0.0.1" itself;
#   load: `raterm update` of cards A and C (two officer cards) and openssl
#   cmp clients (cr + certConf, every fourth revoked by rr) in parallel;
#   one instance SIGKILLed with a cp in flight (faultproxy): that
#   certificate ends revoked by the other instance's sweep; card C's
#   station loses the answer to its cr (faultproxy): `raterm recover`
#   rejects what was issued, the update again succeeds; clients that fail
#   retry with a new transaction and succeed;
#   PostgreSQL stopped during load (card B, more clients): /health 503
#   naming the database, requests fail cleanly, no instance exits, all
#   works again once it is back;
#   afterwards, past the grace: nothing waits, serials unique, every
#   certificate a client holds recorded once and confirmed (revoked: the
#   rr ones), the CRL through HAProxy lists exactly the revoked and
#   rejected, the cards hold certificates the database says are confirmed.
. "$(dirname "$0")/lib.sh"
need openssl python3 haproxy
[ -x "$CMHOST" ] || skip_all "cmhost not built"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
	skip_all "PostgreSQL server not installed (make deps)"
SCALE="$REPO/scripts/scale.sh"
PKI=$T/pki

# the cluster's directory: the postgres user must reach it (not under $T)
SD=$(mktemp -d /tmp/raterm-scale.XXXXXX) && chmod 711 "$SD" || exit 1
XPIDS=	# the test's other daemons (faultproxy, a second HAProxy), by pid
trap 'kill -TERM $XPIDS 2>/dev/null; sh "$SCALE" stop "$SD" >/dev/null 2>&1; rm -rf "$SD"; _lib_cleanup' EXIT

run_ok "two instances on PostgreSQL behind HAProxy" sh "$SCALE" start "$SD" \
    -n 2 --grace 8 --timeout 240 --cmhost "$CMHOST" || finish
. "$SD/env"
CMHOST_DIR=$CM
psql_q() {	# psql_q SQL: one query's rows (run from / for the postgres user)
	(cd / && sh "$REPO/scripts/pgcluster.sh" psql "$SD/pg" -qAt -c "$1")
}
cd "$T" || exit 1
cat >get.py <<'PY'
import sys, urllib.request, urllib.error
# get.py URL [OUT|- [HEADER]]: the status, the body to OUT or stdout
req = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 3:
    req.add_header(*sys.argv[3].split(": ", 1))
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        code, data = r.status, r.read()
except urllib.error.HTTPError as e:
    code, data = e.code, e.read()
print(code)
if len(sys.argv) > 2 and sys.argv[2] != "-":
    open(sys.argv[2], "wb").write(data)
else:
    sys.stdout.write(data.decode(errors="replace") + "\n")
PY
OFFICER="-cert $CM/officer.pem -key $CM/officer.key -keypass file:$CM/officer.pass"
cmp_ha() {	# cmp_ha ARGS...: openssl cmp through HAProxy
	# shellcheck disable=SC2086
	openssl cmp -server "127.0.0.1:$HAPORT" -path cmp -trusted "$CM/root.pem" \
	    $OFFICER "$@"
}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out k.key 2>/dev/null

# ---- cr and certConf on different instances ----------------------------------------
run_ok "cr + certConf through HAProxy" cmp_ha -cmd cr -newkey k.key \
    -subject "/CN=HA First/O=raterm demo" -certout first.pem
S=$(openssl x509 -in first.pem -noout -serial | sed 's/serial=//' | tr 'A-F' 'a-f' | sed 's/^0*//')
cr_at=$(grep -l "\"body\":\"cr\".*$S" "$SD/i1.log" "$SD/i2.log" | head -n 1)
cc_at=$(grep -l "\"body\":\"certConf\".*$S" "$SD/i1.log" "$SD/i2.log" | head -n 1)
if [ -n "$cr_at" ] && [ -n "$cc_at" ] && [ "$cr_at" != "$cc_at" ]; then
	ok "the cr on $(basename "$cr_at" .log), its certConf on $(basename "$cc_at" .log)"
else
	fail "cr and certConf on different instances" "cr in '$cr_at', certConf in '$cc_at'"
fi
expect_match "the client's address from X-Forwarded-For" \
    '"client":"127.0.0.1 \(via 127.0.0.1:[0-9]+\)"' "$cr_at"

# a header the client sent itself: HAProxy adds its own line after it, the
# instance takes the proxy's (the last line), not the client's invention
run_ok "GET /health with a forged X-Forwarded-For" python3 get.py \
    "http://127.0.0.1:$HAPORT/health" - "X-Forwarded-For: 198.51.100.9"
sleep 0.3
cat "$SD/i1.log" "$SD/i2.log" >logs.txt
expect_no_match "the forged address is not taken for the client's" \
    '"client":"198\.51\.100\.9' logs.txt

# ---- card management keys through the proxy ------------------------------------------
# listen.mgmt_keys_over_http is loopback (the default): a station on
# loopback gets the key through HAProxy; a station elsewhere does not,
# also when it sends "X-Forwarded-For: 127.0.0.1" itself. A second HAProxy
# stands in for the proxy of a remote station: its frontend adds the
# forged line, then the line a proxy adds for a client at 192.0.2.10.
CARD=00112233445566778899aabbccddeeff
echo 0f0e0d0c0b0a09080706050403020100 >mkey
run_ok "cmhost mgmt-key (on PostgreSQL)" "$CMHOST" mgmt-key -c "$CM/cmhost.yaml" \
    --card "$CARD" --alg aes128 --key-fd 3 3<mkey
mgmtkey() {
	"$TOOLS/cmp_mgmtkey" "$1" - "$CM/root.pem" "$CM/officer.key" \
	    "$CM/officer-chain.pem" "$CM/officer.pass" "$CARD"
}
run_ok "management key through HAProxy to a loopback station" mgmtkey "$URL"
expect_match "the key" "^alg=8 key=$(cat mkey)$" "$OUT"
RPORT=$(sh "$REPO/scripts/pgcluster.sh" port $((HAPORT + 1)))
printf '%s\n' defaults "	mode http" "	option http-server-close" \
    "	timeout connect 5s" "	timeout client 30s" "	timeout server 30s" \
    "frontend remote" "	bind 127.0.0.1:$RPORT" \
    "	http-request add-header X-Forwarded-For 127.0.0.1" \
    "	http-request add-header X-Forwarded-For 192.0.2.10" \
    "	default_backend cmhost" "backend cmhost" "	server cm1 127.0.0.1:$PORT1" \
    >remote.cfg
timeout -k 5 60 haproxy -f remote.cfg -db >remote.log 2>&1 &
RPID=$!
XPIDS="$XPIDS $RPID"
python3 -c 'import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
        break
    except OSError:
        time.sleep(0.1)' "$RPORT"
run_rc "management key refused to a remote station with a forged X-Forwarded-For" 4 \
    mgmtkey "http://127.0.0.1:$RPORT/cmp"
expect_match "the CM host names HTTPS" "HTTPS only" "$OUT"
expect_no_match "no key in the refusal" "$(cat mkey)" "$OUT"
expect_match "the instance names the remote station" \
    '"client":"192\.0\.2\.10 \(via 127\.0\.0\.1:[0-9]+\)","method":"POST"' "$SD/i1.log"
kill -TERM "$RPID" 2>/dev/null
wait "$RPID" 2>/dev/null

# ---- cards and the station ---------------------------------------------------------
# two officer cards (two updates at once each use one), TC cards A, B, C
test_pki
officer_card "$T/officer.state" 40000029
officer_card "$T/officer2.state" 40000030
run_ok "TC card A" tc_card "$T/a.state" 40000021
run_ok "TC card B" tc_card "$T/b.state" 40000022
run_ok "TC card C" tc_card "$T/c.state" 40000023
stack_start --mode connect --readers 6 --card "$T/officer.state" \
    --card "$T/a.state" --card "$T/b.state" --card "$T/c.state" \
    --card "$T/officer2.state" || finish
OFF1=$VPIV_READER0
OFF2=$VPIV_READER4
PINS=$T/pins
printf 'signature=123456\ncard=123456\ncard2=123456\noperator=default\n' >"$PINS"
for c in a b c; do
	PORT=$HAPORT
	station_conf "$T/$c.yaml"
	sed -i "s|^journal: .*|journal: $T/var$c/journal|; s|^audit: .*|audit: $T/var$c/audit.log|" "$T/$c.yaml"
	mkdir -p "$T/var$c"
done

# update_card C READER OFFICER_READER: raterm update (Redo 9a 9c); on
# failure as an officer does: `raterm recover` with the card until the
# journal holds nothing open (the CM host may be failing over: a pause
# between tries, all well within the grace), then the update again if the
# card still holds its TCs (at most 4 updates); outputs in $T/upd-C.N.txt,
# rec-C.N.M.txt
update_card() {
	_n=0
	while [ $_n -lt 4 ]; do
		_n=$((_n + 1))
		if "$RATERM" update -c "$T/$1.yaml" -r "$2" --officer-reader "$3" \
		    --procedure tc-redo --action 9a=redo --action 9c=redo --yes \
		    --pin-fd 3 3<"$PINS" >"$T/upd-$1.$_n.txt" 2>&1; then
			echo "$_n" >"$T/upd-$1.tries"
			return 0
		fi
		_r=0
		while [ $_r -lt 8 ]; do
			_r=$((_r + 1))
			sleep 1
			"$RATERM" recover -c "$T/$1.yaml" -r "$2" --officer-reader "$3" \
			    --pin-fd 3 3<"$PINS" >"$T/rec-$1.$_n.$_r.txt" 2>&1
			"$RATERM" recover -c "$T/$1.yaml" --list >/dev/null 2>&1 && break
		done
		"$RATERM" show -r "$2" --transport-ca "$PKI/transport-ca.pem" \
		    >"$T/show-$1.$_n.txt" 2>&1
		if ! grep -q "^9a .* TC" "$T/show-$1.$_n.txt" &&
		    ! grep -q "^9c .* TC" "$T/show-$1.$_n.txt"; then
			echo "$_n (recovered after $_r)" >"$T/upd-$1.tries"
			return 0	# the recovery finished the update
		fi
	done
	return 1
}
# check_update C PID: the update of card C (job PID) succeeded
check_update() {
	if wait "$2"; then ok "raterm update of card $1 succeeded (tries: $(cat "$T/upd-$1.tries"))"; else
		fail "raterm update of card $1" "$(tail -n 5 "$T"/upd-"$1".*.txt "$T"/rec-"$1".*.txt 2>/dev/null)"
	fi
}

# client I K: K enrollments by openssl cmp, each retried (a new
# transaction) up to 30 times with a pause; certificates in cI-J.pem;
# every fourth one revoked again (rr, retried the same way; a retry
# answered "already revoked" is done: the first rr was recorded, its
# answer lost), listed in rr.list
client() {
	_j=1
	while [ "$_j" -le "$2" ]; do
		_t=0
		until cmp_ha -cmd cr -newkey k.key -subject "/CN=HA $1-$_j/O=raterm demo" \
		    -certout "c$1-$_j.pem" >"c$1-$_j.out" 2>&1; do
			rm -f "c$1-$_j.pem"
			_t=$((_t + 1))
			[ "$_t" -lt 30 ] || { echo "client $1: $_j failed" >>clients.err; break; }
			echo "retry" >>"c$1.retries"
			sleep 0.5
		done
		if [ $((_j % 4)) = 0 ] && [ -s "c$1-$_j.pem" ]; then
			_t=0
			until cmp_ha -cmd rr -oldcert "c$1-$_j.pem" -revreason 4 \
			    >"r$1-$_j.out" 2>&1 || { [ "$_t" -gt 0 ] &&
			    grep -q "already revoked" "r$1-$_j.out"; }; do
				_t=$((_t + 1))
				[ "$_t" -lt 30 ] || { echo "client $1: rr $_j failed" >>clients.err; break; }
				echo "retry" >>"c$1.retries"
				sleep 0.5
			done
			echo "c$1-$_j.pem" >>rr.list
		fi
		_j=$((_j + 1))
	done
}

# wait_certs N: until the clients hold N certificates (at most 30 s)
wait_certs() {
	_w=0
	while [ "$(ls c[1-5]-*.pem 2>/dev/null | wc -l)" -lt "$1" ] && [ $_w -lt 300 ]; do
		sleep 0.1
		_w=$((_w + 1))
	done
}

# ---- load, one instance SIGKILLed ---------------------------------------------------
# A cr whose answer dies with the instance: faultproxy (exchange 1, notify)
# in front of instance 1 forwards it and holds the cp; once instance 1 has
# answered it is SIGKILLed, the client's connection reset. The client
# enrolls again (a new transaction) through HAProxy; the first certificate,
# never confirmed, must end revoked by instance 2's sweep after the grace.
# lose_answer NAME UPSTREAM MS: faultproxy on a free port (NAME.port) in
# front of 127.0.0.1:UPSTREAM: it forwards the first request, writes
# "forwarded 1" to NAME.notify, holds the answer until UPSTREAM closes the
# connection or MS pass, then resets the client's; its log NAME.log
lose_answer() {
	"$TOOLS/faultproxy" --upstream "$2" --portfile "$1.port" --fault-at 1 \
	    --fault notify --notify "$1.notify" --delay-ms "$3" --log "$1.log" \
	    --max-seconds 120 >"$1.err" 2>&1 &
	XPIDS="$XPIDS $!"
	wait_log "$1.port" '[0-9]' 10
}
: >clients.err
: >rr.list
lose_answer lost "$PORT1" 30000
pids=
for i in 1 2 3; do client "$i" 12 & pids="$pids $!"; done
update_card a "$VPIV_READER1" "$OFF1" & UPA=$!
# card C's station reaches HAProxy through a faultproxy that loses the
# answer to its update's cr (exchange 1; the genm of its management
# key comes after): held 3 s, then the connection reset
lose_answer fpc "$HAPORT" 3000
sed -i "s|http://127.0.0.1:[0-9]*/cmp|http://127.0.0.1:$(cat fpc.port)/cmp|" "$T/c.yaml"
update_card c "$VPIV_READER3" "$OFF2" & UPC=$!
wait_certs 8
openssl cmp -server "127.0.0.1:$(cat lost.port)" -path cmp -trusted "$CM/root.pem" \
    $OFFICER -cmd cr -newkey k.key -subject "/CN=HA Lost/O=raterm demo" \
    -certout lost.pem >lost.out 2>&1 &
LOSTPID=$!
wait_log lost.notify forwarded 20
# until instance 1 has recorded the certificate (waiting for its certConf)
w=0
until [ "$(psql_q "SELECT count(*) FROM certs WHERE subject LIKE '%HA Lost%'")" = 1 ] ||
    [ $w -ge 100 ]; do
	sleep 0.1
	w=$((w + 1))
done
run_ok "SIGKILL of instance 1 with a cp in flight, during the load" sh "$SCALE" kill "$SD" 1
if wait "$LOSTPID"; then fail "the cr whose answer died fails" "openssl cmp succeeded"; else
	ok "the cr whose answer died fails"; fi
if [ -s lost.pem ]; then fail "no certificate for it" "lost.pem written"; else
	ok "no certificate for it"; fi
# the client again, through HAProxy: until its check marks instance 1
# down (2 checks, 1 s apart) HAProxy answers 503 for the requests it sends
# there (no retries: a CMP request is never replayed)
t=1
until cmp_ha -cmd cr -newkey k.key -subject "/CN=HA Lost/O=raterm demo" \
    -certout lost2.pem >lost2.out 2>&1 || [ $t -ge 30 ]; do
	t=$((t + 1))
	sleep 0.5
done
if [ -s lost2.pem ]; then ok "enrolled again (a new transaction) through HAProxy, try $t"; else
	fail "enrolled again (a new transaction) through HAProxy" "$(tail -n 3 lost2.out)"; fi
# shellcheck disable=SC2086
wait $pids
check_update a "$UPA"
check_update c "$UPC"
expect_match "card C's cr lost its answer, then recovered" '^1 cr .*\[notify\]' fpc.log
expect_eq "every openssl cmp client succeeded (retrying)" "" "$(cat clients.err)"
n=$(ls c[123]-*.pem 2>/dev/null | wc -l)
expect_eq "36 certificates held by the clients" 36 "$n"

# ---- PostgreSQL restarted during load ---------------------------------------------
run_ok "instance 1 started again" sh "$SCALE" restart "$SD" 1
. "$SD/env"
sleep 2	# HAProxy's check sees it up
pids=
for i in 4 5; do client "$i" 12 & pids="$pids $!"; done
update_card b "$VPIV_READER2" "$OFF1" & UPB=$!
wait_certs 44
run_ok "PostgreSQL stopped during the load" sh "$SCALE" pg stop "$SD"
run_ok "GET /health of instance 2" python3 get.py "http://127.0.0.1:$PORT2/health"
expect_match "503" "^503" "$OUT"
expect_match "naming the database" '"status":"fail","database":"[^o]' "$OUT"
run_fail "a request while the database is down fails" cmp_ha -cmd cr -newkey k.key \
    -subject "/CN=HA Down/O=raterm demo" -certout down.pem
expect_match "a CMP error or an HTTP error, said" "received ERROR|HTTP|error" "$OUT"
if [ -s down.pem ]; then fail "no certificate handed out" "down.pem written"; else
	ok "no certificate handed out"; fi
if kill -0 "$PID1" 2>/dev/null && kill -0 "$PID2" 2>/dev/null; then
	ok "both instances running while the database is down"; else
	fail "both instances running while the database is down" "one is gone"; fi
sleep 1
run_ok "PostgreSQL started again" sh "$SCALE" pg start "$SD"
# shellcheck disable=SC2086
wait $pids
check_update b "$UPB"
expect_eq "the clients succeeded after the restart (retrying)" "" "$(cat clients.err)"
n=$(ls c[45]-*.pem 2>/dev/null | wc -l)
expect_eq "24 more certificates" 24 "$n"
run_ok "both instances healthy again" python3 get.py "http://127.0.0.1:$PORT1/health"
expect_match "200" "^200" "$OUT"
cat "$SD/i1.err" "$SD/i2.err" >errs.txt
expect_no_match "no crash in the instances' output" \
    "Segmentation|Aborted|AddressSanitizer|runtime error|assert" errs.txt

# ---- afterwards -----------------------------------------------------------------------
# past the grace (8 s) and a sweep tick (grace/4): nothing waits
sleep 11
run_ok "the database: no certificate waiting" psql_q \
    "SELECT count(*) FROM certs WHERE state = 'waiting'"
expect_eq "none waiting" 0 "$(cat "$OUT")"
run_ok "the database: serials" psql_q "SELECT count(*) - count(DISTINCT serial) FROM certs"
expect_eq "serials unique" 0 "$(cat "$OUT")"
run_ok "the database: the cr whose answer died" psql_q \
    "SELECT state FROM certs WHERE subject LIKE '%HA Lost%' ORDER BY seq"
# (a retry whose certConf met the dead instance before HAProxy's check
# marked it down left one more unconfirmed: revoked the same way)
tr '\n' ' ' <"$OUT" >lost.states
expect_match "its certificate revoked by the sweep, the new transaction's confirmed" \
    '^(revoked )+confirmed $' lost.states
psql_q "SELECT serial || ' ' || state FROM certs" | sort >db.txt
serial_of() {
	openssl x509 -in "$1" -noout -serial | sed 's/serial=//' | tr 'A-F' 'a-f' | sed 's/^0*//'
}
held=0
good=0
for f in first.pem lost2.pem c[1-5]-*.pem; do
	s=$(serial_of "$f")
	want=confirmed
	grep -qx "$f" rr.list && want=revoked
	held=$((held + 1))
	[ "$(grep -c "^0*$s $want$" db.txt)" = 1 ] && good=$((good + 1))
done
expect_eq "every certificate a client holds: recorded once, confirmed (revoked: the ones of an rr)" \
    "$held" "$good"
# the cards' certificates
for c in a b c; do
	case $c in a) r=$VPIV_READER1 ;; b) r=$VPIV_READER2 ;; c) r=$VPIV_READER3 ;; esac
	run_ok "raterm show card ${c}" "$RATERM" show -r "$r" --json
	python3 - "$OUT" db.txt "$PKI" >"cards-$c.txt" <<'PY'
import json, sys
ct = json.load(open(sys.argv[1]))
db = dict(l.split() for l in open(sys.argv[2]) if l.strip())
for k in ct["keys"]:
    c = k.get("certificate")
    if not c or k["slot"] not in ("9a", "9c"):
        continue
    s = c["serial"].lstrip("0")
    print(k["slot"], s, db.get(s, "absent"))
PY
	expect_eq "card $c: 9a and 9c hold certificates the database says are confirmed" \
	    "9a confirmed 9c confirmed" "$(awk '{ printf "%s%s %s", (NR > 1 ? " " : ""), $1, $3 }' "cards-$c.txt")"
done
# the CRL through HAProxy: exactly the revoked and rejected
run_ok "the CRL through HAProxy" python3 get.py "http://127.0.0.1:$HAPORT/crl/ca.crl" crl.der
run_ok "it verifies" openssl crl -inform DER -in crl.der -CAfile "$CM/ca.pem" -noout -text
sed -n 's/.*Serial Number: *\([0-9A-Fa-f]*\).*/\1/p' "$OUT" | tr 'A-F' 'a-f' |
    sed 's/^0*//' | sort >crl.txt
grep -E " (revoked|rejected)$" db.txt | cut -d' ' -f1 | sed 's/^0*//' | sort >dbrev.txt
expect_eq "the CRL lists exactly the revoked and rejected" "$(cat dbrev.txt)" "$(cat crl.txt)"
ok "certificates: $(wc -l <db.txt) issued, $(wc -l <dbrev.txt) revoked or rejected, $(wc -l <rr.list) of them by rr (retries: $(cat c*.retries 2>/dev/null | wc -l))"

finish
