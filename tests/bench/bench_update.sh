#!/bin/sh
# bench_update.sh - `make bench`: the officer's whole flow, figures only.
# A pre-personalized vpiv card with four keys (9a 9c 9e P-256, 9d RSA-2048)
# and transport certificates, an officer card, the private pcscd and
# cmhost on loopback: one `raterm update --procedure tc-redo` (TC controls,
# one cr for the four keys, four certificates written, read back and
# test-signed, certConf), then BENCH_UPDATE_RUNS (default 10) updates of
# the same four keys with the `renew` procedure. Prints the wall time
# (median, min), peak RSS and the APDUs the target card received per
# update, and by instruction, and the CM host traffic of one card: HTTP
# exchanges (CMP messages) and the TCP connections they took (raterm -v
# logs each exchange and whether libcurl opened a connection for it).
#
# There is no peer tool that runs this flow; as a yardstick the same card
# work done with yubico-piv-tool is timed beside it: for each of the four
# certificates the update wrote, one run that verifies the PIN,
# authenticates with the management key and imports it (no CM host, no TC
# controls, no read-back). The PIN is on its command line: test cards only.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
export BUILD
RUNS=${BENCH_UPDATE_RUNS:-10}
B=$BUILD/bench-update
RATERM=$BUILD/raterm
VPIV=$BUILD/vpiv
CMHOST=$BUILD/cmhost
RUNSTAT=$BUILD/tools/runstat
STACK=$B/stack
PORT=${BENCH_UPDATE_PORT:-18845}

die() {
	echo "bench-update: $*" >&2
	exit 1
}

rm -rf "$B"
mkdir -p "$B/var/journal" || die "cannot create $B"
sh "$REPO/scripts/mkpki.sh" "$B/pki" >/dev/null || die "test PKI"
"$CMHOST" init "$B/cmhost" --port "$PORT" >/dev/null || die "cmhost init"
"$VPIV" init "$B/officer.state" --serial 20000001 >/dev/null &&
"$VPIV" personalize "$B/officer.state" --slot 9c --alg eccp256 \
    --ca-cert "$B/cmhost/officer-ca.pem" --ca-key "$B/cmhost/officer-ca.key" \
    --subject "CN=raterm Demo Officer,O=raterm demo" --bind none >/dev/null ||
	die "officer card"
"$VPIV" init "$B/user.state" --serial 10000001 >/dev/null &&
"$VPIV" personalize "$B/user.state" \
    --ca-cert "$B/pki/transport-ca.pem" --ca-key "$B/pki/transport-ca.key" \
    --slot 9a --alg eccp256 --subject "CN=Card 10000001 Authentication,O=raterm bench" \
    --slot 9c --alg eccp256 --subject "CN=Card 10000001 Signature,O=raterm bench" \
    --slot 9d --alg rsa2048 --subject "CN=Card 10000001 Key Management,O=raterm bench" \
    --slot 9e --alg eccp256 --subject "CN=Card 10000001 Card Auth,O=raterm bench" \
    >/dev/null || die "user card"

cat >"$B/raterm.yaml" <<EOF
readers:
  officer: auto
  target: auto
officer:
  token: card
  slot: 9c
  officer_cas: $B/cmhost/officer-ca.pem
cmhost:
  url: http://127.0.0.1:$PORT/cmp
  trust: $B/cmhost/root.pem
transport_cas: $B/pki/transport-ca.pem
journal: $B/var/journal
audit: $B/var/audit.log
procedures: $REPO/conf/procedures.d
EOF
printf 'signature=123456\ncard=123456\ncard2=123456\noperator=default\n' >"$B/pins"

stop_all() {
	sh "$REPO/scripts/stack.sh" stop "$STACK"
	[ -f "$B/cmhost.pid" ] && kill "$(cat "$B/cmhost.pid")" 2>/dev/null
}
trap stop_all EXIT
trap 'exit 1' INT TERM HUP
# the user card alone in the first pair of readers (the traced one), the
# officer card in the second
sh "$REPO/scripts/stack.sh" start "$STACK" --mode connect --readers 4 --card "$B/user.state" \
    --card - --card "$B/officer.state" \
    --serve-arg --trace --serve-arg "$B/trace.log" >/dev/null || die "stack"
. "$STACK/env"
timeout 600 "$CMHOST" -c "$B/cmhost/cmhost.yaml" --pidfile "$B/cmhost.pid" \
    >"$B/cmhost.log" 2>&1 &
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	[ -s "$B/cmhost.pid" ] && break
	sleep 0.1
done
[ -s "$B/cmhost.pid" ] || die "cmhost did not start (see $B/cmhost.log)"
USR=$VPIV_READER0

UPD="$RATERM update -c $B/raterm.yaml -r '$USR' --yes --pin-fd 3 --action 9a=redo \
--action 9c=redo --action 9d=redo --action 9e=redo"

# the user card's APDUs since a mark of its trace, in all and by instruction
count() {	# count FROM_LINE
	tail -n +"$(($1 + 1))" "$B/trace.log" | grep -c '^>'
}
breakdown() {	# breakdown FROM_LINE
	tail -n +"$(($1 + 1))" "$B/trace.log" | grep '^>' | cut -c5-6 | sort | uniq -c |
	    awk 'BEGIN { nm["A4"] = "SELECT"; nm["CB"] = "GET DATA"; nm["C0"] = "GET RESPONSE";
		nm["DB"] = "PUT DATA"; nm["87"] = "GENERAL AUTHENTICATE"; nm["20"] = "VERIFY";
		nm["F8"] = "GET SERIAL"; nm["F7"] = "GET METADATA"; nm["F9"] = "ATTEST" }
		{ n = ($2 in nm) ? nm[$2] : "INS " $2; printf "%s%s %d", sep, n, $1; sep = ", " }'
}

mark=$(wc -l <"$B/trace.log")
t0=$(date +%s%N)
sh -c "exec $UPD --procedure tc-redo 3<'$B/pins'" >"$B/first.log" 2>&1 ||
	die "the tc-redo update failed (see $B/first.log)"
t1=$(date +%s%N)
first_ms=$(( (t1 - t0) / 1000000 ))
first_apdus=$(count "$mark")
first_break=$(breakdown "$mark")

mark=$(wc -l <"$B/trace.log")
sh -c "exec $UPD --procedure renew -v 3<'$B/pins'" >"$B/renew-v.log" 2>&1 ||
	die "renew failed (see $B/renew-v.log)"
renew_apdus=$(count "$mark")
# one card's CM host traffic: one line per CMP message sent, one per HTTP
# exchange saying whether it opened a connection
http_xchg=$(grep -c '^cmp: HTTP ' "$B/renew-v.log")
http_conn=$(grep -c '^cmp: HTTP .* on a new connection' "$B/renew-v.log")
cmp_msgs=$(grep '^cmp: -> ' "$B/renew-v.log" | awk '{ printf "%s%s", sep, $3; sep = ", " }')
renew_break=$(breakdown "$mark")
st_renew=$("$RUNSTAT" "$RUNS" renew -- sh -c "exec $UPD --procedure renew 3<'$B/pins'")

# the yardstick: yubico-piv-tool writes the four certificates the update wrote
for s in 9a 9c 9d 9e; do
	yubico-piv-tool -r "$USR" -a read-certificate -s "$s" -o "$B/$s.pem" >/dev/null 2>&1 ||
		die "yubico-piv-tool could not read $s"
done
YPT=true
for s in 9a 9c 9d 9e; do	# one slot per yubico-piv-tool run
	YPT="$YPT && yubico-piv-tool -r '$USR' -a verify-pin -P 123456 \
-a import-certificate -s $s -i '$B/$s.pem'"
done
mark=$(wc -l <"$B/trace.log")
sh -c "$YPT" >/dev/null 2>&1 || die "yubico-piv-tool import failed"
ypt_apdus=$(count "$mark")
st_ypt=$("$RUNSTAT" "$RUNS" ypt -- sh -c "$YPT")

field() {	# field LINE NAME
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
certs=$("$CMHOST" certs -c "$B/cmhost/cmhost.yaml" | grep -c confirmed)
echo "update: 4 keys (9a 9c 9e P-256, 9d RSA-2048), vpiv through the private pcscd,"
echo "cmhost on loopback; $RUNS renew runs after one tc-redo"
echo
printf '%-44s %6s %10s %8s %12s %6s\n' "run" "APDUs" "median ms" "min ms" "peak RSS KB" "fails"
printf '%-44s %6s %10s %8s %12s %6s\n' "raterm update tc-redo (first, TC controls)" \
    "$first_apdus" "$first_ms" "-" "-" "0"
printf '%-44s %6s %10s %8s %12s %6s\n' "raterm update renew (Redo 4 keys)" "$renew_apdus" \
    "$(field "$st_renew" median_ms)" "$(field "$st_renew" min_ms)" \
    "$(field "$st_renew" max_rss_kb)" "$(field "$st_renew" fails)"
printf '%-44s %6s %10s %8s %12s %6s\n' "yubico-piv-tool: 4 x (PIN + import)" \
    "$ypt_apdus" "$(field "$st_ypt" median_ms)" "$(field "$st_ypt" min_ms)" \
    "$(field "$st_ypt" max_rss_kb)" "$(field "$st_ypt" fails)"
echo
echo "user card APDUs, tc-redo: $first_break"
echo "user card APDUs, renew:   $renew_break"
echo "CM host per card (renew): $http_xchg HTTP exchanges ($cmp_msgs) on $http_conn TCP connection(s)"
awk -v a="$(field "$st_renew" median_ms)" -v b="$(field "$st_ypt" median_ms)" 'BEGIN {
	if (b > 0) printf "time  raterm update (whole flow) / yubico-piv-tool (card writes only) = %.2f\n", a / b }'
echo "certificates confirmed at cmhost: $certs (expected $((4 * (RUNS + 2))))"
