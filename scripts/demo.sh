#!/bin/sh
# demo.sh - the embedded default, end to end on this machine: a test PKI, two
# virtual PIV cards (an officer card, and a pre-personalized user card with
# transport certificates), a private pcscd with vpcd readers on loopback, and
# raterm reading both cards. Everything it starts is stopped when it ends.
#
# Files stay in build/demo/ (PKI, card state files); a second run reuses them.
# DEMO_KEEP=1 leaves the stack running and prints how to reach it.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
export BUILD
RATERM=$BUILD/raterm
VPIV=$BUILD/vpiv
D=$BUILD/demo
PKI=$D/pki
STACK=$D/stack

die() {
	echo "demo: $*" >&2
	exit 1
}

mkdir -p "$D" || die "cannot create $D"
sh "$REPO/scripts/mkpki.sh" "$PKI" || die "test PKI"

if [ ! -f "$D/officer.state" ]; then
	"$VPIV" init "$D/officer.state" --serial 20000001 >/dev/null &&
	"$VPIV" personalize "$D/officer.state" --slot 9c --alg eccp256 \
	    --ca-cert "$PKI/officer-ca.pem" --ca-key "$PKI/officer-ca.key" \
	    --subject "CN=Olivia Officer,O=raterm demo" --bind none >/dev/null ||
		die "officer card"
fi
if [ ! -f "$D/user.state" ]; then
	"$VPIV" init "$D/user.state" --serial 10000001 >/dev/null &&
	"$VPIV" personalize "$D/user.state" \
	    --ca-cert "$PKI/transport-ca.pem" --ca-key "$PKI/transport-ca.key" \
	    --slot 9a --alg eccp256 --subject "CN=Card 10000001 Authentication,O=raterm demo" \
	    --slot 9c --alg eccp256 --subject "CN=Card 10000001 Signature,O=raterm demo" \
	    --slot 9d --alg rsa2048 --subject "CN=Card 10000001 Key Management,O=raterm demo" \
	    >/dev/null &&
	"$VPIV" personalize "$D/user.state" --slot 9e --alg eccp256 --key-only >/dev/null ||
		die "user card"
fi

sh "$REPO/scripts/stack.sh" stop "$STACK" 2>/dev/null
if [ "${DEMO_KEEP:-0}" != 1 ]; then
	trap 'sh "$REPO/scripts/stack.sh" stop "$STACK"' EXIT
	trap 'exit 1' INT TERM HUP
fi
sh "$REPO/scripts/stack.sh" start "$STACK" --card "$D/officer.state" \
    --card "$D/user.state" || die "the private pcscd did not start (see $STACK/pcscd.log)"
. "$STACK/env"

echo "== private pcscd on $PCSCLITE_CSOCK_NAME"
echo
echo "\$ raterm readers"
"$RATERM" readers
echo
echo "\$ raterm show -r \"$VPIV_READER0\"          # the officer card"
"$RATERM" show -r "$VPIV_READER0"
echo
echo "\$ raterm show -r \"$VPIV_READER1\" --transport-ca pki/transport-ca.pem"
"$RATERM" show -r "$VPIV_READER1" --transport-ca "$PKI/transport-ca.pem"
rc=$?
echo
if [ "${DEMO_KEEP:-0}" = 1 ]; then
	echo "The stack keeps running. To use it:"
	echo "  . $STACK/env; $RATERM show -r 1"
	echo "  sh scripts/stack.sh stop $STACK"
else
	echo "(the private pcscd and the virtual cards stop now; DEMO_KEEP=1 keeps them)"
fi
exit $rc
