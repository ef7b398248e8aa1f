#!/bin/sh
# bench_p15.sh - `make bench`: a PKCS#15 card, figures only. A vp15 card
# (vp15 personalize --keys 4 --so-pin) with six certificates of 1.5 to 3 KB
# (keys 01 and 04 one each, 02 and 03 two each, from the test PKI's issuing
# CA), behind the private pcscd:
#   `raterm show` against `pkcs15-tool --list-certificates` (OpenSC) on the
#     same card, interleaved (A B, A B, ...: BENCH_P15_RUNS rounds, default
#     30, after one warm-up each): median and minimum wall time, peak RSS,
#     and the median of the rounds' paired ratios raterm / pkcs15-tool;
#   APDUs per read (counted at the card, vp15 --trace), by instruction;
#   APDUs per Redo: one `raterm update` Redo of key 01 (the SO PIN as the
#     operator credential, cmhost on loopback), by instruction, and of an
#     Add on key 04.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
export BUILD
RUNS=${BENCH_P15_RUNS:-30}
B=$BUILD/bench-p15
RATERM=$BUILD/raterm
VPIV=$BUILD/vpiv
VP15=$BUILD/vp15
CMHOST=$BUILD/cmhost
RUNSTAT=$BUILD/tools/runstat
STACK=$B/stack
PORT=${BENCH_P15_PORT:-18861}

die() {
	echo "bench-p15: $*" >&2
	exit 1
}

rm -rf "$B"
mkdir -p "$B/certs" "$B/home" "$B/var/journal" "$B/procedures.d" ||
	die "cannot create $B"
sh "$REPO/scripts/mkpki.sh" "$B/pki" >/dev/null || die "test PKI"
"$CMHOST" init "$B/cmhost" --port "$PORT" >/dev/null || die "cmhost init"
"$VPIV" init "$B/officer.state" --serial 20000002 >/dev/null &&
"$VPIV" personalize "$B/officer.state" --slot 9c --alg eccp256 \
    --ca-cert "$B/cmhost/officer-ca.pem" --ca-key "$B/cmhost/officer-ca.key" \
    --subject "CN=raterm Demo Officer,O=raterm demo" --bind none >/dev/null ||
	die "officer card"
"$VP15" init "$B/card.state" >/dev/null &&
"$VP15" personalize "$B/card.state" --keys 4 --so-pin --serial 5000041 >/dev/null ||
	die "vp15 card"

# six certificates of 1.5 to 3 KB for the card's keys (vp15 key references
# 0..3: iDs 01..04), a subjectAltName list sized to reach each target size
set -- 0:1500 1:1800 1:2100 2:2400 2:2700 3:3000
i=0
for spec in "$@"; do
	ref=${spec%%:*}
	target=${spec#*:}
	i=$((i + 1))
	"$VP15" pubkey "$B/card.state" "$ref" >"$B/certs/pub$ref.pem" || die "vp15 pubkey $ref"
	n=$(( (target - 600) / 30 ))
	while :; do
		j=0
		san="DNS:host-000.bench.raterm.test"
		while [ $j -lt "$n" ]; do
			j=$((j + 1))
			san="$san,DNS:host-$(printf %03d $j).bench.raterm.test"
		done
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		    -keyout "$B/certs/throw.key" -subj "/CN=Bench key $ref cert $i/O=raterm bench" \
		    -addext "subjectAltName=$san" -out "$B/certs/$i.csr" 2>/dev/null ||
			die "openssl req"
		openssl x509 -req -in "$B/certs/$i.csr" -force_pubkey "$B/certs/pub$ref.pem" \
		    -CA "$B/pki/issuing.pem" -CAkey "$B/pki/issuing.key" -set_serial "$((0x4100 + i))" \
		    -days 365 -copy_extensions copy -outform der -out "$B/certs/$i.der" 2>/dev/null ||
			die "openssl x509"
		size=$(wc -c <"$B/certs/$i.der" | tr -d ' ')
		[ "$size" -ge "$target" ] && break
		n=$((n + (target - size) / 28 + 1))
	done
	"$VP15" add-cert "$B/card.state" --key "$ref" "$B/certs/$i.der" \
	    --label "Bench $i" >/dev/null || die "vp15 add-cert $i"
done
sizes=$(i=0; for spec in "$@"; do i=$((i + 1)); printf ' %02x:%sB' $((${spec%%:*} + 1)) \
    "$(wc -c <"$B/certs/$i.der" | tr -d ' ')"; done)

cat >"$B/procedures.d/p15-bench.yaml" <<EOF
name: p15-bench
description: PKCS#15 card - renew or add a certificate
actions: [redo, add]
profiles:
  01: piv-auth
  02: piv-auth
  03: piv-auth
  04: piv-auth
subject: card
san: none
key_algorithms: [ECCP256]
card_pins: 1
ca_certificates:
  operator_credential: yes   # the SO PIN
EOF
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
procedures: $B/procedures.d
EOF
printf 'signature=123456\ncard=123456\noperator=87654321\n' >"$B/pins"

stop_all() {
	sh "$REPO/scripts/stack.sh" stop "$STACK"
	[ -f "$B/cmhost.pid" ] && kill "$(cat "$B/cmhost.pid")" 2>/dev/null
}
trap stop_all EXIT
trap 'exit 1' INT TERM HUP
# the vp15 card in the first pair of readers (traced), the officer's in
# the second
sh "$REPO/scripts/stack.sh" start "$STACK" --mode connect --readers 4 \
    --card "vp15:$B/card.state" --card - --card "$B/officer.state" \
    --serve-arg --trace --serve-arg "$B/trace.log" >/dev/null || die "stack"
. "$STACK/env"
R=$VPIV_READER0
OFF=$VPIV_READER2
HOME=$B/home		# OpenSC's file cache, if it is on
export HOME

# the card's APDUs since a mark of its trace, in all and by instruction
count() {	# count FROM_LINE
	tail -n +"$(($1 + 1))" "$B/trace.log" | grep -c '^vp15 >'
}
breakdown() {	# breakdown FROM_LINE
	tail -n +"$(($1 + 1))" "$B/trace.log" | grep '^vp15 >' | cut -c10-11 | sort | uniq -c |
	    awk 'BEGIN { nm["A4"] = "SELECT"; nm["B0"] = "READ BINARY"; nm["D6"] = "UPDATE BINARY";
		nm["E0"] = "CREATE FILE"; nm["E4"] = "DELETE FILE"; nm["20"] = "VERIFY";
		nm["22"] = "MSE SET"; nm["2A"] = "PSO"; nm["C0"] = "GET RESPONSE" }
		{ n = ($2 in nm) ? nm[$2] : "INS " $2; printf "%s%s %d", sep, n, $1; sep = ", " }'
}
field() {	# field LINE NAME
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
median() {	# median < numbers, one a line
	sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a";
	    else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- the read ------------------------------------------------------------------------
_m=$(wc -l <"$B/trace.log")
"$RATERM" show -r "$R" >"$B/show.txt" 2>&1 || die "raterm show failed (see $B/show.txt)"
rt_apdus=$(count "$_m")
rt_break=$(breakdown "$_m")
_m=$(wc -l <"$B/trace.log")
pkcs15-tool -r "$R" --list-certificates >"$B/p15.txt" 2>&1 ||
	die "pkcs15-tool failed (see $B/p15.txt)"
p15_apdus=$(count "$_m")
p15_break=$(breakdown "$_m")
ncerts=$(grep -c '^X.509 Certificate' "$B/p15.txt")
nshow=$(grep -cE '^0[1-4](\.[0-9])? ' "$B/show.txt")

# interleaved: raterm, pkcs15-tool, raterm, pkcs15-tool, ... (one run each
# per round; runstat 1 measures it), the paired ratio per round
: >"$B/rounds"
r=0
while [ "$r" -le "$RUNS" ]; do	# round 0: the warm-up, not counted
	a=$("$RUNSTAT" 1 raterm -- "$RATERM" show -r "$R")
	b=$("$RUNSTAT" 1 pkcs15 -- pkcs15-tool -r "$R" --list-certificates)
	[ "$r" -gt 0 ] && echo "$(field "$a" median_ms) $(field "$b" median_ms)" \
	    "$(field "$a" max_rss_kb) $(field "$b" max_rss_kb)" \
	    "$(field "$a" fails) $(field "$b" fails)" >>"$B/rounds"
	r=$((r + 1))
done
rt_med=$(cut -d' ' -f1 "$B/rounds" | median)
p15_med=$(cut -d' ' -f2 "$B/rounds" | median)
rt_min=$(cut -d' ' -f1 "$B/rounds" | sort -n | head -n 1)
p15_min=$(cut -d' ' -f2 "$B/rounds" | sort -n | head -n 1)
rt_rss=$(cut -d' ' -f3 "$B/rounds" | sort -n | tail -n 1)
p15_rss=$(cut -d' ' -f4 "$B/rounds" | sort -n | tail -n 1)
rt_fails=$(awk '{ s += $5 } END { print s + 0 }' "$B/rounds")
p15_fails=$(awk '{ s += $6 } END { print s + 0 }' "$B/rounds")
ratio=$(awk '$2 > 0 { printf "%.4f\n", $1 / $2 }' "$B/rounds" | median)

# ---- the writes: a Redo of key 01, an Add on key 04 ------------------------------------
timeout 600 "$CMHOST" -c "$B/cmhost/cmhost.yaml" --pidfile "$B/cmhost.pid" \
    >"$B/cmhost.log" 2>&1 &
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	[ -s "$B/cmhost.pid" ] && break
	sleep 0.1
done
[ -s "$B/cmhost.pid" ] || die "cmhost did not start (see $B/cmhost.log)"
UPD="$RATERM update -c $B/raterm.yaml -r '$R' --officer-reader '$OFF' --yes --pin-fd 3 \
--procedure p15-bench"
_m=$(wc -l <"$B/trace.log")
sh -c "exec $UPD --action 01=redo 3<'$B/pins'" >"$B/redo.log" 2>&1 ||
	die "the Redo failed (see $B/redo.log)"
redo_apdus=$(count "$_m")
redo_break=$(breakdown "$_m")
_m=$(wc -l <"$B/trace.log")
sh -c "exec $UPD --action 04=add 3<'$B/pins'" >"$B/add.log" 2>&1 ||
	die "the Add failed (see $B/add.log)"
add_apdus=$(count "$_m")
add_break=$(breakdown "$_m")

echo "PKCS#15 card: vp15, 4 keys, $ncerts certificates (raterm show lists $nshow),$sizes;"
echo "reader \"$R\" via private pcscd; $RUNS interleaved rounds"
echo
printf '%-36s %6s %10s %8s %12s %6s\n' "command" "APDUs" "median ms" "min ms" "peak RSS KB" "fails"
printf '%-36s %6s %10s %8s %12s %6s\n' "raterm show" "$rt_apdus" "$rt_med" "$rt_min" \
    "$rt_rss" "$rt_fails"
printf '%-36s %6s %10s %8s %12s %6s\n' "pkcs15-tool --list-certificates" "$p15_apdus" \
    "$p15_med" "$p15_min" "$p15_rss" "$p15_fails"
printf '%-36s %6s\n' "raterm update: Redo of key 01" "$redo_apdus"
printf '%-36s %6s\n' "raterm update: Add on key 04" "$add_apdus"
echo
echo "raterm show APDUs:      $rt_break"
echo "pkcs15-tool APDUs:      $p15_break"
echo "Redo (01) APDUs:        $redo_break"
echo "Add (04) APDUs:         $add_break"
echo "time  raterm show / pkcs15-tool = $ratio   (median of $RUNS paired ratios)"
awk -v a="$rt_apdus" -v b="$p15_apdus" 'BEGIN {
	if (b > 0) printf "APDUs raterm show / pkcs15-tool = %.2f\n", a / b }'
