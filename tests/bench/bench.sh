#!/bin/sh
# bench.sh - `make bench`: figures, not a test. On a vpiv card holding six
# certificates of 1.5-3 KB, through the private pcscd, side by side in one
# run: `raterm show`, `yubico-piv-tool -a status` and
# `pkcs15-tool --list-certificates`. Prints APDUs per run (counted at the
# card), median and minimum wall time, peak RSS, and the ratios against the
# targets (raterm <= 0.8x ypt and <= 0.5x pkcs15-tool in time, RSS <= ypt).
#
# BENCH_RUNS (default 30) runs per tool after one warm-up run.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
export BUILD
RUNS=${BENCH_RUNS:-30}
B=$BUILD/bench
RATERM=$BUILD/raterm
VPIV=$BUILD/vpiv
RUNSTAT=$BUILD/tools/runstat
STACK=$B/stack

die() {
	echo "bench: $*" >&2
	exit 1
}

rm -rf "$B/card.state" "$B/certs" "$B/home"
mkdir -p "$B/certs" "$B/home" || die "cannot create $B"
sh "$REPO/scripts/mkpki.sh" "$B/pki" >/dev/null || die "test PKI"

# six certificates of 1.5 to 3 KB: RSA-2048 keys, a subjectAltName list sized
# to reach each target size
"$VPIV" init "$B/card.state" --serial 30000001 >/dev/null || die "vpiv init"
set -- 9a:1500 9c:1800 9d:2100 9e:2400 82:2700 83:3000
for spec in "$@"; do
	slot=${spec%%:*}
	target=${spec#*:}
	n=$(( (target - 700) / 30 ))
	while :; do
		i=0
		san="DNS:host-000.bench.raterm.test"
		while [ $i -lt "$n" ]; do
			i=$((i + 1))
			san="$san,DNS:host-$(printf %03d $i).bench.raterm.test"
		done
		openssl req -new -newkey rsa:2048 -nodes -keyout "$B/certs/$slot.key" \
		    -subj "/CN=Bench $slot/O=raterm bench" -addext "subjectAltName=$san" \
		    -out "$B/certs/$slot.csr" 2>/dev/null || die "openssl req"
		openssl x509 -req -in "$B/certs/$slot.csr" -CA "$B/pki/issuing.pem" \
		    -CAkey "$B/pki/issuing.key" -CAcreateserial -days 365 -copy_extensions copy \
		    -outform der -out "$B/certs/$slot.der" 2>/dev/null || die "openssl x509"
		size=$(wc -c <"$B/certs/$slot.der" | tr -d ' ')
		[ "$size" -ge "$target" ] && break
		n=$((n + (target - size) / 28 + 1))
	done
	"$VPIV" personalize "$B/card.state" --slot "$slot" --cert-only "$B/certs/$slot.der" \
	    >/dev/null || die "vpiv personalize $slot"
done
sizes=$(for s in 9a 9c 9d 9e 82 83; do printf ' %s:%sB' $s "$(wc -c <"$B/certs/$s.der" | tr -d ' ')"; done)

sh "$REPO/scripts/stack.sh" stop "$STACK" 2>/dev/null
trap 'sh "$REPO/scripts/stack.sh" stop "$STACK"' EXIT
trap 'exit 1' INT TERM HUP
sh "$REPO/scripts/stack.sh" start "$STACK" --card "$B/card.state" \
    --serve-arg --trace --serve-arg "$B/trace.log" >/dev/null || die "stack"
. "$STACK/env"
R=$VPIV_READER0
HOME=$B/home
export HOME

apdus() {	# apdus CMD...: APDUs the card received for one run of CMD
	before=$(grep -c '^>' "$B/trace.log")
	"$@" >/dev/null 2>&1 || echo "bench: warning: '$*' failed" >&2
	after=$(grep -c '^>' "$B/trace.log")
	echo $((after - before))
}

echo "card: 6 certificates,$sizes; reader \"$R\" via private pcscd; $RUNS runs each"
echo
a_rt=$(apdus "$RATERM" show -r "$R")
mark=$(wc -l <"$B/trace.log")
"$RATERM" show -r "$R" >/dev/null 2>&1
rt_breakdown=$(tail -n +"$((mark + 1))" "$B/trace.log" | grep '^>' | cut -c5-6 | sort | uniq -c |
    awk 'BEGIN { nm["A4"] = "SELECT"; nm["CB"] = "GET DATA"; nm["C0"] = "GET RESPONSE";
	nm["F8"] = "GET SERIAL"; nm["20"] = "VERIFY (retry counter)"; nm["F7"] = "GET METADATA" }
	{ n = ($2 in nm) ? nm[$2] : "INS " $2; printf "%s%s %d", sep, n, $1; sep = ", " }')
a_ypt=$(apdus yubico-piv-tool -r "$R" -a status)
a_p15=$(apdus pkcs15-tool -r "$R" --list-certificates)

st_rt=$("$RUNSTAT" "$RUNS" raterm -- "$RATERM" show -r "$R")
st_ypt=$("$RUNSTAT" "$RUNS" ypt -- yubico-piv-tool -r "$R" -a status)
st_p15=$("$RUNSTAT" "$RUNS" pkcs15 -- pkcs15-tool -r "$R" --list-certificates)

field() {	# field LINE NAME
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
printf '%-36s %6s %10s %8s %12s %6s\n' "command" "APDUs" "median ms" "min ms" "peak RSS KB" "fails"
row() {
	printf '%-36s %6s %10s %8s %12s %6s\n' "$1" "$2" "$(field "$3" median_ms)" \
	    "$(field "$3" min_ms)" "$(field "$3" max_rss_kb)" "$(field "$3" fails)"
}
row "raterm show" "$a_rt" "$st_rt"
row "yubico-piv-tool -a status" "$a_ypt" "$st_ypt"
row "pkcs15-tool --list-certificates" "$a_p15" "$st_p15"
echo
echo "raterm APDUs: $rt_breakdown"
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}
r1=$(ratio "$(field "$st_rt" median_ms)" "$(field "$st_ypt" median_ms)")
r2=$(ratio "$(field "$st_rt" median_ms)" "$(field "$st_p15" median_ms)")
r3=$(ratio "$(field "$st_rt" max_rss_kb)" "$(field "$st_ypt" max_rss_kb)")
r4=$(ratio "$a_rt" "$a_ypt")
echo "time  raterm / yubico-piv-tool = $r1   (target <= 0.80)"
echo "time  raterm / pkcs15-tool     = $r2   (target <= 0.50)"
echo "RSS   raterm / yubico-piv-tool = $r3   (target <= 1.00)"
echo "APDUs raterm / yubico-piv-tool = $r4"
