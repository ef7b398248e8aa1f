#!/bin/sh
# demo.sh - the embedded default, end to end on this machine: a test PKI, a
# local CM host (cmhost, SQLite, on 127.0.0.1), two virtual PIV cards (an
# officer card, and a pre-personalized user card with transport
# certificates) in a private pcscd on loopback, and raterm: list the
# readers, show both cards, verify the transport certificates, make a
# request on the user card's key and have the CM host issue it, signed by
# the officer's card; then the officer's whole flow: the plan of a tc-redo
# update (Redo on every key of the pre-personalized card), the update
# itself, the card afterwards and the CM host's records. On a terminal it
# opens the officer's screen (raterm ui) on that stack instead of the
# walk-through (DEMO_SCRIPTED=1 keeps the walk-through). Everything it
# starts is stopped when it ends (when the screen is quit).
#
# Files stay in build/demo/ (PKI, cmhost, the station configuration
# raterm.yaml, card state files, journal and audit log); a second run
# reuses them, with a freshly pre-personalized user card. The demo PINs are
# the test cards' defaults (123456), fed to raterm on a file descriptor as
# an operator would type them.
# DEMO_KEEP=1 leaves the stack and cmhost running and says how to reach them.
# DEMO_PORT (default 8829) is cmhost's port on 127.0.0.1.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac	# the config's paths
export BUILD
RATERM=$BUILD/raterm
VPIV=$BUILD/vpiv
CMHOST=$BUILD/cmhost
D=$BUILD/demo
PKI=$D/pki
CM=$D/cmhost
STACK=$D/stack
PORT=${DEMO_PORT:-8829}

die() {
	echo "demo: $*" >&2
	exit 1
}
step() {
	printf '\n\033[1m$ %s\033[0m\n' "$*"
}

mkdir -p "$D" || die "cannot create $D"
sh "$REPO/scripts/mkpki.sh" "$PKI" >/dev/null || die "test PKI"
[ -f "$CM/cmhost.yaml" ] || "$CMHOST" init "$CM" --port "$PORT" >/dev/null ||
	die "cmhost init"
URL=$(sed -n 's/^  port: *//p' "$CM/cmhost.yaml" | head -n 1)
URL="http://127.0.0.1:$URL/cmp"

if [ ! -f "$D/officer-card.state" ]; then
	"$VPIV" init "$D/officer-card.state" --serial 20000001 >/dev/null &&
	"$VPIV" personalize "$D/officer-card.state" --slot 9c --alg eccp256 \
	    --ca-cert "$CM/officer-ca.pem" --ca-key "$CM/officer-ca.key" \
	    --subject "CN=raterm Demo Officer,O=raterm demo" --bind none >/dev/null ||
		die "officer card"
fi
# the user card is pre-personalized afresh on every run: the update below
# replaces its transport certificates
rm -f "$D/user-card.state"
if [ ! -f "$D/user-card.state" ]; then
	"$VPIV" init "$D/user-card.state" --serial 10000001 >/dev/null &&
	"$VPIV" personalize "$D/user-card.state" \
	    --ca-cert "$PKI/transport-ca.pem" --ca-key "$PKI/transport-ca.key" \
	    --slot 9a --alg eccp256 --subject "CN=Card 10000001 Authentication,O=raterm demo" \
	    --slot 9c --alg eccp256 --subject "CN=Card 10000001 Signature,O=raterm demo" \
	    --slot 9d --alg rsa2048 --subject "CN=Card 10000001 Key Management,O=raterm demo" \
	    >/dev/null &&
	"$VPIV" personalize "$D/user-card.state" --slot 9e --alg eccp256 --key-only >/dev/null ||
		die "user card"
fi

stop_all() {
	sh "$REPO/scripts/stack.sh" stop "$STACK"
	if [ -f "$D/cmhost.pid" ]; then
		kill "$(cat "$D/cmhost.pid")" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			[ -f "$D/cmhost.pid" ] || break
			sleep 0.2
		done
	fi
}
stop_all 2>/dev/null
if [ "${DEMO_KEEP:-0}" != 1 ]; then
	trap stop_all EXIT
	trap 'exit 1' INT TERM HUP
fi
sh "$REPO/scripts/stack.sh" start "$STACK" --card "$D/officer-card.state" \
    --card "$D/user-card.state" || die "the private pcscd did not start (see $STACK/pcscd.log)"
. "$STACK/env"
"$CMHOST" -c "$CM/cmhost.yaml" --pidfile "$D/cmhost.pid" >"$D/cmhost.log" 2>&1 &
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	[ -f "$D/cmhost.pid" ] && break
	sleep 0.1
done
[ -f "$D/cmhost.pid" ] || die "cmhost did not start (see $D/cmhost.log)"
OFF=$VPIV_READER0
USR=$VPIV_READER1

# the station configuration of the demo: the shipped procedures, this
# demo's CM host, transport CA and officer CA
mkdir -p "$D/var/journal"
cat >"$D/raterm.yaml" <<EOF
# raterm station configuration of the demo (written by scripts/demo.sh)
readers:
  officer: auto
  target: auto
officer:
  token: card
  slot: 9c
  officer_cas: $CM/officer-ca.pem
cmhost:
  url: $URL
  trust: $CM/root.pem
transport_cas: $PKI/transport-ca.pem
journal: $D/var/journal
audit: $D/var/audit.log
procedures: $REPO/conf/procedures.d
EOF

CONF=$D/raterm.yaml
# On a terminal: the officer's screen on this stack (quitting it stops
# everything); without one (CI, a pipe) or with DEMO_SCRIPTED=1: the
# scripted walk-through below.
if [ -t 0 ] && [ -t 1 ] && [ "${DEMO_SCRIPTED:-0}" != 1 ]; then
	GUID=$("$RATERM" show -r "$USR" --json | sed -n 's/.*"guid": *"\([0-9a-f]*\)".*/\1/p')
	# the CM host holds the card's management key: no operator credential
	printf '%s\n' 010203040506070801020304050607080102030405060708 |
	    "$CMHOST" mgmt-key -c "$CM/cmhost.yaml" --card "$GUID" --alg 3des \
	    --key-fd 0 >/dev/null || die "cmhost mgmt-key"
	echo "private pcscd on $PCSCLITE_CSOCK_NAME; CM host at $URL"
	echo "Opening the officer's screen: the demo PINs are 123456 (officer card"
	echo "and user card). Tab to Procedure, Enter, choose tc-redo; r on each TC"
	echo "row; Tab to the Signature PIN, type it, F2. F1 is the help, F10 quits."
	sleep 1
	"$RATERM" ui -c "$CONF"
	rc=$?
	echo "(the private pcscd, the virtual cards and cmhost stop now)"
	exit $rc
fi

echo "private pcscd on $PCSCLITE_CSOCK_NAME; CM host at $URL"
step raterm readers
"$RATERM" readers
step raterm show -r "\"$OFF\"" "      # the officer's card"
"$RATERM" show -r "$OFF"
step raterm show -r "\"$USR\"" --transport-ca pki/transport-ca.pem --verify-tc
"$RATERM" show -r "$USR" --transport-ca "$PKI/transport-ca.pem" --verify-tc \
    --pin-fd 3 3<<EOF
card=123456
EOF
step raterm csr -r "\"$USR\"" --slot 9a -o 9a.csr "      # signed by the card's key"
"$RATERM" csr -r "$USR" --slot 9a -o "$D/9a.csr" --pin-fd 3 3<<EOF || die "csr"
card=123456
EOF
openssl req -in "$D/9a.csr" -noout -verify -subject 2>&1 | sed 's/^/  /'
step raterm request --csr 9a.csr --profile user --server "$URL" --trust cmhost/root.pem \
    --officer-reader "\"$OFF\"" -o 9a.pem
"$RATERM" request --csr "$D/9a.csr" --profile user --server "$URL" \
    --trust "$CM/root.pem" --officer-reader "$OFF" -o "$D/9a.pem" \
    --pin-fd 3 3<<EOF || die "request"
signature=123456
EOF
openssl x509 -in "$D/9a.pem" -noout -subject -issuer -enddate | sed 's/^/  /'

step raterm procedures -c raterm.yaml
"$RATERM" procedures -c "$CONF"
step raterm update -c raterm.yaml --procedure tc-redo --action 9a=redo --action 9c=redo \
    --action 9d=redo --dry-run "      # the plan: nothing is sent"
"$RATERM" update -c "$CONF" --procedure tc-redo --action 9a=redo --action 9c=redo \
    --action 9d=redo --dry-run --pin-fd 3 3<<EOF || die "update plan"
card=123456
EOF
GUID=$("$RATERM" show -r "$USR" --json | sed -n 's/.*"guid": *"\([0-9a-f]*\)".*/\1/p')
step cmhost mgmt-key -c cmhost/cmhost.yaml --card "$GUID" --alg 3des --key-fd 3 \
    "      # the CM host holds the card's management key"
"$CMHOST" mgmt-key -c "$CM/cmhost.yaml" --card "$GUID" --alg 3des --key-fd 3 3<<EOF ||
010203040506070801020304050607080102030405060708
EOF
	die "cmhost mgmt-key"
step raterm update -c raterm.yaml --procedure tc-redo --action 9a=redo --action 9c=redo \
    --action 9d=redo --yes "      # Signature PIN, then the card's PINs"
"$RATERM" update -c "$CONF" --procedure tc-redo --action 9a=redo --action 9c=redo \
    --action 9d=redo --yes --pin-fd 3 3<<EOF || die "update"
signature=123456
card=123456
card2=123456
EOF
step raterm show -r "\"$USR\"" "      # the CM host's certificates, no TC left"
"$RATERM" show -r "$USR"
step cmhost certs -c cmhost/cmhost.yaml
"$CMHOST" certs -c "$CM/cmhost.yaml" >"$D/certs.txt"
head -n 1 "$D/certs.txt"
tail -n 5 "$D/certs.txt"
step tail -n 3 var/audit.log
tail -n 3 "$D/var/audit.log"
echo
if [ "${DEMO_KEEP:-0}" = 1 ]; then
	echo "The stack and cmhost keep running. To use them:"
	echo "  . $STACK/env; $RATERM show -r 1"
	echo "  kill \$(cat $D/cmhost.pid); sh scripts/stack.sh stop $STACK"
else
	echo "(the private pcscd, the virtual cards and cmhost stop now; DEMO_KEEP=1 keeps them)"
fi
