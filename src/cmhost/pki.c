/* pki.c - `cmhost init DIR`: a demo PKI and config made with mbedTLS, and
 * the encrypted PKCS#8 writer for the officer's key; see
 * include/raterm/cmhost.h and docs/cmhost.md.
 *
 *   root (self-signed) ── ca (issuing CA, signs certificates and CMP)
 *                     └── officer-ca ── officer (software officer token)
 *
 * Keys are EC P-256. The CA keys are written unencrypted (0600) as demo
 * material; the officer key is encrypted (PBES2: PBKDF2-HMAC-SHA256,
 * AES-256-CBC), its passphrase in officer.pass. */
#include "raterm/cmhost.h"
#include "raterm/cmhost_kek.h"
#include "raterm/csr.h"
#include "raterm/signer.h"
#include "raterm/softtoken.h"
#include "raterm/x509write.h"
#include "raterm/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/aes.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/x509_crt.h>

#define PBKDF2_ITER 10000

/* ---- encrypted PKCS#8 ------------------------------------------------------ */

#define CHK(x) do { int r_ = (x); if (r_ < 0) goto asn1; len += (size_t)r_; } \
	while (0)

static int
write_seq(unsigned char **p, unsigned char *start, size_t inner)
{
	int a = mbedtls_asn1_write_len(p, start, inner);
	if (a < 0)
		return a;
	int b = mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE);
	return b < 0 ? b : a + b;
}

rt_err *
cmh_pkcs8_encrypt_pem(mbedtls_pk_context *key, const char *pass, char **pem)
{
	unsigned char sec1[1600], pki[2000], enc[2048], out[2600];
	unsigned char salt[16], iv[16], dk[32], ivc[16];
	mbedtls_md_context_t md;
	mbedtls_aes_context aes;
	size_t len, plen;
	unsigned char *p;
	rt_err *e = NULL;
	int r;

	*pem = NULL;
	mbedtls_md_init(&md);
	mbedtls_aes_init(&aes);
	/* PrivateKeyInfo around the key mbedTLS writes (SEC1 or PKCS#1) */
	r = mbedtls_pk_write_key_der(key, sec1, sizeof(sec1));
	if (r <= 0) {
		e = rt_err_new(RT_E_CRYPTO, NULL, "cannot write the key");
		goto done;
	}
	size_t klen = (size_t)r;
	p = pki + sizeof(pki);
	len = 0;
	CHK(mbedtls_asn1_write_raw_buffer(&p, pki, sec1 + sizeof(sec1) - klen,
	    klen));
	CHK(mbedtls_asn1_write_len(&p, pki, klen));
	CHK(mbedtls_asn1_write_tag(&p, pki, MBEDTLS_ASN1_OCTET_STRING));
	{
		const char *oid;
		size_t oid_len, alen = 0;
		int a;
		if (mbedtls_pk_get_type(key) == MBEDTLS_PK_RSA) {
			a = mbedtls_asn1_write_null(&p, pki);
			if (a < 0)
				goto asn1;
			alen += (size_t)a;
		} else {
			const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*key);
			if (mbedtls_oid_get_oid_by_ec_grp(ec->grp.id, &oid,
			    &oid_len) != 0)
				goto asn1;
			a = mbedtls_asn1_write_oid(&p, pki, oid, oid_len);
			if (a < 0)
				goto asn1;
			alen += (size_t)a;
		}
		if (mbedtls_oid_get_oid_by_pk_alg(mbedtls_pk_get_type(key), &oid,
		    &oid_len) != 0)
			goto asn1;
		a = mbedtls_asn1_write_oid(&p, pki, oid, oid_len);
		if (a < 0)
			goto asn1;
		alen += (size_t)a;
		len += alen;
		CHK(write_seq(&p, pki, alen));
	}
	CHK(mbedtls_asn1_write_int(&p, pki, 0));
	CHK(write_seq(&p, pki, len));
	size_t pki_len = len;
	/* encrypt: PKCS#7 padding, AES-256-CBC with a PBKDF2 key */
	plen = pki_len + 16 - pki_len % 16;
	if (plen > sizeof(enc)) {
		e = rt_err_new(RT_E_TOO_BIG, NULL, "key too large");
		goto done;
	}
	memcpy(enc, p, pki_len);
	memset(enc + pki_len, (int)(plen - pki_len), plen - pki_len);
	if ((e = rt_random(salt, sizeof(salt))) != NULL ||
	    (e = rt_random(iv, sizeof(iv))) != NULL)
		goto done;
	if (mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
	    1) != 0 ||
	    mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)pass,
	    strlen(pass), salt, sizeof(salt), PBKDF2_ITER, sizeof(dk), dk) != 0 ||
	    mbedtls_aes_setkey_enc(&aes, dk, 256) != 0) {
		e = rt_err_new(RT_E_CRYPTO, NULL, "key derivation");
		goto done;
	}
	memcpy(ivc, iv, sizeof(iv));
	if (mbedtls_aes_crypt_cbc(&aes, MBEDTLS_AES_ENCRYPT, plen, ivc, enc,
	    enc) != 0) {
		e = rt_err_new(RT_E_CRYPTO, NULL, "encryption");
		goto done;
	}
	/* EncryptedPrivateKeyInfo */
	p = out + sizeof(out);
	len = 0;
	CHK(mbedtls_asn1_write_octet_string(&p, out, enc, plen));
	{
		size_t l0 = len, s;
		/* encryptionScheme: aes256-CBC with IV */
		CHK(mbedtls_asn1_write_octet_string(&p, out, iv, sizeof(iv)));
		CHK(mbedtls_asn1_write_oid(&p, out, MBEDTLS_OID_AES "\x2a", 9));
		CHK(write_seq(&p, out, len - l0));
		s = len;
		/* keyDerivationFunc: PBKDF2 (salt, iterations, hmacWithSHA256) */
		CHK(mbedtls_asn1_write_null(&p, out));
		CHK(mbedtls_asn1_write_oid(&p, out, MBEDTLS_OID_HMAC_SHA256,
		    MBEDTLS_OID_SIZE(MBEDTLS_OID_HMAC_SHA256)));
		CHK(write_seq(&p, out, len - s));
		CHK(mbedtls_asn1_write_int(&p, out, PBKDF2_ITER));
		CHK(mbedtls_asn1_write_octet_string(&p, out, salt, sizeof(salt)));
		CHK(write_seq(&p, out, len - s));
		CHK(mbedtls_asn1_write_oid(&p, out, MBEDTLS_OID_PKCS5_PBKDF2,
		    MBEDTLS_OID_SIZE(MBEDTLS_OID_PKCS5_PBKDF2)));
		CHK(write_seq(&p, out, len - s));
		CHK(write_seq(&p, out, len - l0));	/* PBES2-params */
		CHK(mbedtls_asn1_write_oid(&p, out, MBEDTLS_OID_PKCS5_PBES2,
		    MBEDTLS_OID_SIZE(MBEDTLS_OID_PKCS5_PBES2)));
		CHK(write_seq(&p, out, len - l0));	/* AlgorithmIdentifier */
	}
	CHK(write_seq(&p, out, len));
	e = rt_pem_encode("ENCRYPTED PRIVATE KEY", p, len, pem);
	goto done;
asn1:
	e = rt_err_new(RT_E_CRYPTO, NULL, "cannot encode the encrypted key");
done:
	rt_wipe(sec1, sizeof(sec1));
	rt_wipe(pki, sizeof(pki));
	rt_wipe(enc, sizeof(enc));
	rt_wipe(dk, sizeof(dk));
	mbedtls_md_free(&md);
	mbedtls_aes_free(&aes);
	return e;
}

/* ---- the demo PKI ------------------------------------------------------------ */

typedef struct {
	mbedtls_pk_context key;
	mbedtls_x509_crt crt;
	char subject[128];
} ent;

static rt_err *
genkey(mbedtls_pk_context *k)
{
	mbedtls_pk_init(k);
	if (mbedtls_pk_setup(k, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0
	    || mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*k),
	    rt_rng, NULL) != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "key generation failed");
	return NULL;
}

/* Makes e->crt for e->key signed by issuer (NULL: self-signed), through
 * the one certificate writer (x509write.h). ca_pathlen: the path length
 * constraint (-1: none). */
static rt_err *
mkcert(ent *e, ent *issuer, int ca_pathlen, bool is_ca, unsigned ku,
    int days, bool client_auth)
{
	uint8_t snb[12], name[512], iname[512], spki[300], ispki[300];
	uint8_t bc[16], kub[8], ski[32], aki[40], eku[32], kid[20], ikid[20];
	uint8_t *der = NULL;
	size_t name_len, iname_len, n, len = 0;
	rt_signer *s = NULL;
	rt_ext x[6];
	size_t nx = 0;
	time_t now = time(NULL);
	rt_err *err;
	static const char *const client[] = { "clientAuth" };

	if ((err = rt_random(snb, sizeof(snb))) != NULL)
		return err;
	snb[0] = (snb[0] & 0x7f) | 0x01;
	int sl = mbedtls_pk_write_pubkey_der(&e->key, spki, sizeof(spki));
	int il = mbedtls_pk_write_pubkey_der(issuer ? &issuer->key : &e->key,
	    ispki, sizeof(ispki));
	if (sl <= 0 || il <= 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "%s: public key", e->subject);
	const uint8_t *sp = spki + sizeof(spki) - sl, *ip = ispki +
	    sizeof(ispki) - il;
	if ((err = rt_dn_encode(e->subject, name, sizeof(name), &name_len)) !=
	    NULL || (err = rt_dn_encode(issuer ? issuer->subject : e->subject,
	    iname, sizeof(iname), &iname_len)) != NULL ||
	    (err = rt_key_id(sp, (size_t)sl, kid)) != NULL ||
	    (err = rt_key_id(ip, (size_t)il, ikid)) != NULL)
		goto out;
	if ((err = rt_ext_basic_constraints(is_ca, ca_pathlen, bc, sizeof(bc),
	    &n)) != NULL)
		goto out;
	x[nx++] = (rt_ext){ "2.5.29.19", is_ca, bc, n };
	if ((err = rt_ext_ski(kid, sizeof(kid), ski, sizeof(ski), &n)) != NULL)
		goto out;
	x[nx++] = (rt_ext){ "2.5.29.14", false, ski, n };
	if ((err = rt_ext_aki(ikid, sizeof(ikid), aki, sizeof(aki), &n)) != NULL)
		goto out;
	x[nx++] = (rt_ext){ "2.5.29.35", false, aki, n };
	if ((err = rt_ext_key_usage(ku, kub, sizeof(kub), &n)) != NULL)
		goto out;
	x[nx++] = (rt_ext){ "2.5.29.15", true, kub, n };
	if (client_auth) {
		if ((err = rt_ext_eku(client, 1, eku, sizeof(eku), &n)) != NULL)
			goto out;
		x[nx++] = (rt_ext){ "2.5.29.37", false, eku, n };
	}
	rt_cert_tmpl t = {
		.serial = snb, .serial_len = sizeof(snb),
		.issuer = iname, .issuer_len = iname_len,
		.subject = name, .subject_len = name_len,
		.not_before = now - 3600, .not_after = now + (time_t)days * 86400,
		.spki = sp, .spki_len = (size_t)sl, .exts = x, .nexts = nx,
	};
	if ((err = rt_signer_key(issuer ? &issuer->key : &e->key, "demo PKI",
	    &s)) != NULL || (err = rt_cert_write(&t, s, &der, &len)) != NULL)
		goto out;
	mbedtls_x509_crt_init(&e->crt);
	if (mbedtls_x509_crt_parse_der(&e->crt, der, len) != 0)
		err = rt_err_new(RT_E_CRYPTO, NULL, "the certificate of %s does "
		    "not parse back", e->subject);
out:
	free(der);
	rt_signer_free(s);
	return err ? rt_err_wrap(err, "making the certificate of %s",
	    e->subject) : NULL;
}

/* Writes a file atomically (tmp + rename) with the given mode. */
static rt_err *
put(const char *dir, const char *name, const void *data, size_t len,
    mode_t mode)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return rt_file_write(path, data, len, (unsigned)mode);
}

static rt_err *
put_cert(const char *dir, const char *name, const mbedtls_x509_crt *a,
    const mbedtls_x509_crt *b)
{
	char *pa = NULL, *pb = NULL;
	rt_err *e = rt_pem_encode("CERTIFICATE", a->raw.p, a->raw.len, &pa);
	if (e == NULL && b != NULL)
		e = rt_pem_encode("CERTIFICATE", b->raw.p, b->raw.len, &pb);
	if (e == NULL) {
		size_t la = strlen(pa), lb = pb ? strlen(pb) : 0;
		char *all = malloc(la + lb + 1);
		if (all == NULL)
			e = rt_err_new(RT_E_NOMEM, NULL, "init");
		else {
			memcpy(all, pa, la);
			if (pb)
				memcpy(all + la, pb, lb);
			e = put(dir, name, all, la + lb, 0644);
			free(all);
		}
	}
	free(pa);
	free(pb);
	return e;
}

static rt_err *
put_key(const char *dir, const char *name, mbedtls_pk_context *k)
{
	unsigned char buf[2048];
	if (mbedtls_pk_write_key_pem(k, buf, sizeof(buf)) != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "cannot write %s", name);
	rt_err *e = put(dir, name, buf, strlen((char *)buf), 0600);
	rt_wipe(buf, sizeof(buf));
	return e;
}

static const char config_tmpl[] =
"# cmhost.yaml - made by `cmhost init`: a demo CM host for tests and the\n"
"# embedded default. The keys in this directory are TEST MATERIAL.\n"
"# Reference: docs/cmhost.md. Relative paths are taken from this file's\n"
"# directory.\n"
"listen:\n"
"  address: 127.0.0.1\n"
"  port: %u\n"
"  path: /cmp\n"
"  threads: 4\n"
"database:\n"
"  path: cmhost.db\n"
"  confirm_grace: 600        # seconds a certificate may wait for certConf\n"
"  kek_file: kek.key          # key-encryption key of the card management\n"
"                             # keys; keep it apart from the database\n"
"revocation:                  # published in every certificate issued\n"
"  crl_url: http://127.0.0.1:%u/crl/ca.crl\n"
"  ocsp_url: http://127.0.0.1:%u/ocsp\n"
"default_profile: user       # for requests without id-it-certProfile\n"
"ca:\n"
"  cert: ca.pem\n"
"  key: ca.key\n"
"  chain: ca-chain.pem\n"
"officer_cas:\n"
"  - officer-ca.pem\n"
"officers:\n"
"  - name: demo-officer\n"
"    cn: raterm Demo Officer\n"
"    profiles: ['*']\n"
"    revoke: true\n"
"    management_keys: true\n"
"profiles:\n"
"  - name: user\n"
"    validity_days: 365\n"
"    key_types: [rsa, p256, p384]\n"
"    subject:\n"
"      required: [CN]\n"
"      allowed: [CN, O, OU, C, L, serialNumber, emailAddress, GN, SN, title]\n"
"    subject_alt_names: [email, upn]\n"
"    key_usage: [digitalSignature, keyEncipherment]\n"
"    extended_key_usage: [clientAuth, emailProtection, smartcardLogon]\n"
"    qc:\n"
"      ra_may_add: [compliance, sscd, type, retention, pds, legislation,\n"
"                   semantics]\n"
"  # the per-slot profiles of the shipped procedures (conf/procedures.d)\n"
"  - name: piv-auth\n"
"    validity_days: 365\n"
"    key_types: [rsa, p256, p384]\n"
"    subject:\n"
"      required: [CN]\n"
"      allowed: [CN, O, OU, C, L, serialNumber, emailAddress, GN, SN, title]\n"
"    subject_alt_names: [email, upn]\n"
"    key_usage: [digitalSignature]\n"
"    extended_key_usage: [clientAuth, smartcardLogon]\n"
"  - name: piv-sign\n"
"    validity_days: 365\n"
"    key_types: [rsa, p256, p384]\n"
"    subject:\n"
"      required: [CN]\n"
"      allowed: [CN, O, OU, C, L, serialNumber, emailAddress, GN, SN, title]\n"
"    subject_alt_names: [email, upn]\n"
"    key_usage: [digitalSignature, nonRepudiation]\n"
"    extended_key_usage: [emailProtection]\n"
"    qc:\n"
"      ra_may_add: [compliance, sscd, type, retention, pds]\n"
"  - name: piv-keymgmt\n"
"    validity_days: 365\n"
"    key_types: [rsa, p256, p384]\n"
"    subject:\n"
"      required: [CN]\n"
"      allowed: [CN, O, OU, C, L, serialNumber, emailAddress, GN, SN, title]\n"
"    subject_alt_names: [email, upn]\n"
"    key_usage: [keyEncipherment, keyAgreement]\n"
"    extended_key_usage: [emailProtection]\n"
"  - name: piv-cardauth\n"
"    validity_days: 365\n"
"    key_types: [rsa, p256, p384]\n"
"    subject:\n"
"      required: [CN]\n"
"      allowed: [CN, O, OU, C, L, serialNumber, GN, SN]\n"
"    key_usage: [digitalSignature]\n"
"  - name: piv-sign-qualified\n"
"    validity_days: 730\n"
"    key_types: [p256, p384, rsa]\n"
"    subject:\n"
"      required: [CN]\n"
"      allowed: [CN, O, OU, C, L, serialNumber, GN, SN, title]\n"
"    subject_alt_names: [email]\n"
"    key_usage: [nonRepudiation]\n"
"    qc:\n"
"      fixed:\n"
"        compliance: true\n"
"        sscd: true\n"
"        type: [esign]\n"
"      ra_may_add: [pds, legislation, retention, semantics]\n"
"  - name: qualified\n"
"    validity_days: 730\n"
"    key_types: [p256, p384, rsa]\n"
"    subject:\n"
"      required: [CN, C]\n"
"    key_usage: [nonRepudiation]\n"
"    qc:\n"
"      fixed:\n"
"        compliance: true\n"
"        sscd: true\n"
"        type: [esign]\n"
"      ra_may_add: [pds, legislation, retention, semantics]\n";

rt_err *
cmh_init(const char *dir, unsigned port, bool *created)
{
	char path[4096], pass[40], *keypem = NULL;
	ent root, ca, oca, off;
	rt_err *e;
	struct stat st;

	*created = false;
	snprintf(path, sizeof(path), "%s/cmhost.yaml", dir);
	if (stat(path, &st) == 0)
		return NULL;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return rt_err_new(RT_E_IO, NULL, "%s: %s", dir, strerror(errno));
	if (port == 0)
		port = 8829;
	memset(&root, 0, sizeof(root));
	memset(&ca, 0, sizeof(ca));
	memset(&oca, 0, sizeof(oca));
	memset(&off, 0, sizeof(off));
	ent *all[] = { &root, &ca, &oca, &off };
	for (size_t i = 0; i < 4; i++) {
		mbedtls_pk_init(&all[i]->key);
		mbedtls_x509_crt_init(&all[i]->crt);
	}
	snprintf(root.subject, sizeof(root.subject),
	    "CN=raterm Demo Root CA,O=raterm demo");
	snprintf(ca.subject, sizeof(ca.subject),
	    "CN=raterm Demo Issuing CA,O=raterm demo");
	snprintf(oca.subject, sizeof(oca.subject),
	    "CN=raterm Demo Officer CA,O=raterm demo");
	snprintf(off.subject, sizeof(off.subject),
	    "CN=raterm Demo Officer,O=raterm demo");
	for (size_t i = 0; i < 4; i++)
		if ((e = genkey(&all[i]->key)) != NULL)
			goto out;
	unsigned ca_ku = RT_KU_KEY_CERT_SIGN | RT_KU_CRL_SIGN;
	if ((e = mkcert(&root, NULL, -1, true, ca_ku, 7300, false)) != NULL ||
	    /* the issuing CA also signs CMP messages: digitalSignature */
	    (e = mkcert(&ca, &root, 0, true, ca_ku | RT_KU_DIGITAL_SIGNATURE,
	    3650, false)) != NULL ||
	    (e = mkcert(&oca, &root, 0, true, ca_ku, 3650, false)) != NULL ||
	    (e = mkcert(&off, &oca, -1, false, RT_KU_DIGITAL_SIGNATURE, 730,
	    true)) != NULL)
		goto out;
	/* passphrase: 24 characters from a 64-letter alphabet (144 bits) */
	{
		static const char al[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopq"
		    "rstuvwxyz23456789-_+=.,@";
		_Static_assert(sizeof(al) == 65, "64 letters");
		unsigned char rnd[24];
		if ((e = rt_random(rnd, sizeof(rnd))) != NULL)
			goto out;
		for (size_t i = 0; i < sizeof(rnd); i++)
			pass[i] = al[rnd[i] % 64];
		pass[24] = '\n';
		pass[25] = '\0';
	}
	pass[24] = '\0';
	if ((e = cmh_pkcs8_encrypt_pem(&off.key, pass, &keypem)) != NULL)
		goto out;
	pass[24] = '\n';
	char cfg[sizeof(config_tmpl) + 48];
	snprintf(cfg, sizeof(cfg), config_tmpl, port, port, port);
	/* the KEK of the management keys: kept when a partial run made it */
	snprintf(path, sizeof(path), "%s/kek.key", dir);
	if (lstat(path, &st) != 0 && (e = cmh_kek_generate_file(path)) != NULL)
		goto out;
	if ((e = put_key(dir, "root.key", &root.key)) != NULL ||
	    (e = put_key(dir, "ca.key", &ca.key)) != NULL ||
	    (e = put_key(dir, "officer-ca.key", &oca.key)) != NULL ||
	    (e = put(dir, "officer.key", keypem, strlen(keypem), 0600)) != NULL ||
	    (e = put(dir, "officer.pass", pass, 25, 0600)) != NULL ||
	    (e = put_cert(dir, "root.pem", &root.crt, NULL)) != NULL ||
	    (e = put_cert(dir, "ca.pem", &ca.crt, NULL)) != NULL ||
	    (e = put_cert(dir, "ca-chain.pem", &ca.crt, &root.crt)) != NULL ||
	    (e = put_cert(dir, "officer-ca.pem", &oca.crt, NULL)) != NULL ||
	    (e = put_cert(dir, "officer.pem", &off.crt, NULL)) != NULL ||
	    (e = put_cert(dir, "officer-chain.pem", &off.crt, &oca.crt)) != NULL ||
	    /* the config last: its presence marks a complete directory */
	    (e = put(dir, "cmhost.yaml", cfg, strlen(cfg), 0644)) != NULL)
		goto out;
	*created = true;
out:
	rt_wipe(pass, sizeof(pass));
	if (keypem != NULL) {
		rt_wipe(keypem, strlen(keypem));
		free(keypem);
	}
	for (size_t i = 0; i < 4; i++) {
		mbedtls_pk_free(&all[i]->key);
		mbedtls_x509_crt_free(&all[i]->crt);
	}
	return e;
}
