#!/bin/sh
# Installs the Debian packages raterm needs to build, test and demo.
# Idempotent: does nothing when every package is present.
set -eu
# build: compiler, libraries; tests: pcscd + vpcd (private stack), the peers
# (yubico-piv-tool, OpenSC, openssl), python3 (a relay that corrupts CMP
# responses in t_cmp_client; pty_answer.py for the terminal tests), tmux
# (terminal tests), sqlite3 (the tests read cmhost's audit table)
# postgresql + libpq-dev: cmhost's PostgreSQL backend and its tests (a private
# cluster, scripts/pgcluster.sh); haproxy: the load balancer of docs/scaling.md
PKGS="build-essential pkg-config make
libpcsclite-dev pcscd vsmartcard-vpcd zlib1g-dev
libmbedtls-dev libcmocka-dev libncurses-dev libcurl4-openssl-dev libyaml-dev
libmicrohttpd-dev libsqlite3-dev libssl-dev
openssl yubico-piv-tool opensc opensc-pkcs11 tmux python3 sqlite3
postgresql haproxy libpq-dev"
# only for `make bench` (`deps.sh --bench`): cfssl, the peer of cmhost's
# bench; failing to install it is not fatal (the bench says so and goes on)
BENCH_PKGS=""
[ "${1:-}" = "--bench" ] && BENCH_PKGS="golang-cfssl"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
bench_missing=""
for p in $BENCH_PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		bench_missing="$bench_missing $p"
done
[ -z "$missing$bench_missing" ] && exit 0
echo "deps: installing$missing$bench_missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ -n "$missing" ]; then
	$SUDO apt-get update -q
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -q --no-install-recommends $missing
fi
if [ -n "$bench_missing" ]; then
	[ -n "$missing" ] || $SUDO apt-get update -q || true
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -q --no-install-recommends $bench_missing ||
		echo "deps: could not install$bench_missing (make bench skips cfssl)" >&2
fi
