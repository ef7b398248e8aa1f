#!/bin/sh
# mkpki.sh DIR [--rsa] - creates a test PKI with the openssl command line:
#   DIR/root.{pem,key}          root CA (self-signed)
#   DIR/issuing.{pem,key}       issuing CA, signed by the root
#   DIR/officer-ca.{pem,key}    officer CA, signed by the root
#   DIR/transport-ca.{pem,key}  transport CA (issues TCs), signed by the root
# Keys are EC P-256 (RSA-2048 with --rsa), unencrypted PKCS#8: TEST MATERIAL.
# Idempotent: does nothing if DIR/root.pem exists.
set -eu

usage() {
	echo "usage: mkpki.sh DIR [--rsa]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
case "$1" in -h|--help) echo "usage: mkpki.sh DIR [--rsa]"; exit 0 ;; -*) usage ;; esac
dir=$1
alg=ec
if [ $# -ge 2 ]; then
	[ "$2" = "--rsa" ] || usage
	alg=rsa
fi

if [ -f "$dir/root.pem" ]; then
	exit 0
fi
command -v openssl >/dev/null 2>&1 || { echo "mkpki.sh: openssl not found" >&2; exit 1; }
mkdir -p "$dir"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkpki.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

genkey() {
	if [ "$alg" = rsa ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
	else
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			-pkeyopt ec_param_enc:named_curve -out "$1" 2>/dev/null
	fi
	chmod 600 "$1"
}

cat > "$tmp/ext.cnf" <<'EOF'
[ca_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[sub_ext]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

# root CA
genkey "$tmp/root.key"
openssl req -new -x509 -sha256 -days 7300 -key "$tmp/root.key" \
	-subj "/O=raterm test/CN=raterm Test Root CA" \
	-config "$tmp/ext.cnf" -extensions ca_ext -out "$tmp/root.pem"

# subordinate CAs signed by the root
sub() { # name "CN"
	genkey "$tmp/$1.key"
	openssl req -new -sha256 -key "$tmp/$1.key" -subj "/O=raterm test/CN=$2" \
		-out "$tmp/$1.csr"
	openssl x509 -req -sha256 -days 3650 -in "$tmp/$1.csr" \
		-CA "$tmp/root.pem" -CAkey "$tmp/root.key" -set_serial "0x$(openssl rand -hex 12)" \
		-extfile "$tmp/ext.cnf" -extensions sub_ext -out "$tmp/$1.pem" 2>/dev/null
	rm -f "$tmp/$1.csr"
}
sub issuing "raterm Test Issuing CA"
sub officer-ca "raterm Test Officer CA"
sub transport-ca "raterm Test Transport CA"

for n in issuing officer-ca transport-ca; do
	openssl verify -CAfile "$tmp/root.pem" "$tmp/$n.pem" >/dev/null
done

# move into place, root.pem last: its presence marks a complete PKI
for n in issuing officer-ca transport-ca root; do
	cp "$tmp/$n.key" "$dir/$n.key"
	chmod 600 "$dir/$n.key"
done
for n in issuing officer-ca transport-ca root; do
	cp "$tmp/$n.pem" "$dir/$n.pem"
done
echo "mkpki.sh: test PKI in $dir ($alg)"
