/* issue.c - the CA of cmhost: loading its certificate, key and chain, the
 * CMP signer, and issuing certificates with mbedTLS; see
 * include/raterm/cmhost.h. */
#include "raterm/cmhost.h"
#include "raterm/csr.h"
#include "raterm/signer.h"
#include "raterm/softtoken.h"
#include "raterm/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/oid.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

struct cmh_ca {
	mbedtls_x509_crt cert;		/* the issuing CA */
	mbedtls_pk_context key;
	mbedtls_x509_crt chain;		/* extraCerts: CMP signer, CA, ... root */
	mbedtls_x509_crt cmp_cert;	/* dedicated CMP signer (if any) */
	mbedtls_pk_context cmp_key;
	bool dedicated;
	rt_signer *signer;
};

/* Loads a private key: unencrypted PEM/DER, or encrypted with the first
 * line of pass_file (any form softtoken.h reads). */
static rt_err *
load_key(const char *path, const char *pass_file, mbedtls_pk_context *key)
{
	uint8_t *buf, *pass = NULL;
	size_t len, plen = 0;
	rt_err *e;
	int rc;

	if ((e = rt_file_read(path, 4u << 20, &buf, &len)) != NULL)
		return e;
	if (pass_file != NULL) {
		if ((e = rt_file_read(pass_file, 4u << 20, &pass,
		    &plen)) != NULL) {
			rt_wipe(buf, len);
			free(buf);
			return e;
		}
		plen = strcspn((char *)pass, "\r\n");
		mbedtls_x509_crt dummy;
		mbedtls_x509_crt_init(&dummy);
		e = rt_softkey_parse(buf, len, (char *)pass, plen, key, &dummy);
		mbedtls_x509_crt_free(&dummy);
		if (e != NULL)
			e = rt_err_wrap(e, "%s", path);
	} else {
		mbedtls_pk_init(key);
		size_t l = strstr((char *)buf, "-----BEGIN") ? len + 1 : len;
#if MBEDTLS_VERSION_MAJOR >= 3
		rc = mbedtls_pk_parse_key(key, buf, l, NULL, 0, rt_rng, NULL);
#else
		rc = mbedtls_pk_parse_key(key, buf, l, NULL, 0);
#endif
		if (rc != 0)
			e = rt_err_new(RT_E_FORMAT, NULL, "%s: not an unencrypted "
			    "private key (mbedTLS -0x%04x); an encrypted key needs "
			    "a key_pass_file", path, (unsigned)-rc);
	}
	if (pass != NULL) {
		rt_wipe(pass, plen);
		free(pass);
	}
	rt_wipe(buf, len);
	free(buf);
	return e;
}

static rt_err *
load_cert(const char *path, mbedtls_x509_crt *crt)
{
	int rc = mbedtls_x509_crt_parse_file(crt, path);
	if (rc != 0)
		return rt_err_new(RT_E_CERT, NULL, "%s: %s (mbedTLS -0x%04x)", path,
		    rc > 0 ? "some certificates do not parse" :
		    "no certificate could be read", (unsigned)(rc < 0 ? -rc : rc));
	return NULL;
}

/* ---- the CMP signer: a software key held in memory ------------------------- */

typedef struct {
	mbedtls_pk_context *key;
} ca_signer;

static rt_err *
ca_sign(void *impl, rt_hash h, rt_scheme scheme, const uint8_t *digest,
    size_t dlen, uint8_t *sig, size_t cap, size_t *sig_len)
{
	ca_signer *s = impl;
	int rc;
	if (scheme == RT_SCHEME_PSS)
		return rt_err_new(RT_E_ARG, NULL, "the CA signer does not do PSS");
	if (cap < MBEDTLS_PK_SIGNATURE_MAX_SIZE &&
	    cap < mbedtls_pk_get_len(s->key) + 16)
		return rt_err_new(RT_E_TOO_BIG, NULL, "signature buffer");
#if MBEDTLS_VERSION_MAJOR >= 3
	rc = mbedtls_pk_sign(s->key, rt_hash_md(h), digest, dlen, sig, cap,
	    sig_len, rt_rng, NULL);
#else
	rc = mbedtls_pk_sign(s->key, rt_hash_md(h), digest, dlen, sig, sig_len,
	    rt_rng, NULL);
#endif
	if (rc != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "CA signature failed "
		    "(mbedTLS -0x%04x)", (unsigned)-rc);
	return NULL;
}

static void
ca_signer_free(void *impl)
{
	free(impl);
}

static const rt_signer_ops ca_signer_ops = { "ca", ca_sign, ca_signer_free };

/* One signature at load time: mbedTLS fills the EC key's precomputed
 * table on first use, which must not happen concurrently later. */
static rt_err *
warm_up(rt_signer *s)
{
	uint8_t d[32] = { 0 }, sig[1024];
	size_t n;
	return rt_signer_sign(s, RT_HASH_SHA256, RT_SCHEME_DEFAULT, d, sizeof(d),
	    sig, sizeof(sig), &n);
}

rt_err *
cmh_ca_load(const cmh_config *c, cmh_ca **out)
{
	cmh_ca *ca;
	rt_err *e;
	int rc;

	*out = NULL;
	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "CA");
	mbedtls_x509_crt_init(&ca->cert);
	mbedtls_x509_crt_init(&ca->chain);
	mbedtls_x509_crt_init(&ca->cmp_cert);
	mbedtls_pk_init(&ca->key);
	mbedtls_pk_init(&ca->cmp_key);
	if ((e = load_cert(c->ca_cert, &ca->cert)) != NULL ||
	    (e = load_key(c->ca_key, c->ca_key_pass_file, &ca->key)) != NULL)
		goto fail;
#if MBEDTLS_VERSION_MAJOR >= 3
	rc = mbedtls_pk_check_pair(&ca->cert.pk, &ca->key, rt_rng, NULL);
#else
	rc = mbedtls_pk_check_pair(&ca->cert.pk, &ca->key);
#endif
	if (rc != 0) {
		e = rt_err_new(RT_E_CERT, NULL, "%s does not match the key in %s",
		    c->ca_cert, c->ca_key);
		goto fail;
	}
	if (!ca->cert.ca_istrue) {
		e = rt_err_new(RT_E_CERT, NULL, "%s is not a CA certificate",
		    c->ca_cert);
		goto fail;
	}
	mbedtls_pk_context *skey = &ca->key;
	mbedtls_x509_crt *scert = &ca->cert;
	if (c->cmp_cert != NULL) {
		if ((e = load_cert(c->cmp_cert, &ca->cmp_cert)) != NULL ||
		    (e = load_key(c->cmp_key, c->cmp_key_pass_file, &ca->cmp_key))
		    != NULL)
			goto fail;
#if MBEDTLS_VERSION_MAJOR >= 3
		rc = mbedtls_pk_check_pair(&ca->cmp_cert.pk, &ca->cmp_key, rt_rng,
		    NULL);
#else
		rc = mbedtls_pk_check_pair(&ca->cmp_cert.pk, &ca->cmp_key);
#endif
		if (rc != 0) {
			e = rt_err_new(RT_E_CERT, NULL, "%s does not match the key "
			    "in %s", c->cmp_cert, c->cmp_key);
			goto fail;
		}
		ca->dedicated = true;
		skey = &ca->cmp_key;
		scert = &ca->cmp_cert;
		if ((rc = mbedtls_x509_crt_parse_der(&ca->chain, scert->raw.p,
		    scert->raw.len)) != 0) {
			e = rt_err_new(RT_E_CERT, NULL, "chain");
			goto fail;
		}
	}
	/* the chain: the CA itself, then the chain file minus duplicates */
	if (mbedtls_x509_crt_parse_der(&ca->chain, ca->cert.raw.p,
	    ca->cert.raw.len) != 0) {
		e = rt_err_new(RT_E_CERT, NULL, "chain");
		goto fail;
	}
	if (c->ca_chain != NULL) {
		mbedtls_x509_crt file;
		mbedtls_x509_crt_init(&file);
		if ((e = load_cert(c->ca_chain, &file)) != NULL) {
			mbedtls_x509_crt_free(&file);
			goto fail;
		}
		for (mbedtls_x509_crt *x = &file; x != NULL && x->raw.len;
		    x = x->next) {
			bool dup = false;
			for (mbedtls_x509_crt *y = &ca->chain; y && y->raw.len;
			    y = y->next)
				dup |= y->raw.len == x->raw.len &&
				    !memcmp(y->raw.p, x->raw.p, x->raw.len);
			if (!dup && mbedtls_x509_crt_parse_der(&ca->chain, x->raw.p,
			    x->raw.len) != 0) {
				mbedtls_x509_crt_free(&file);
				e = rt_err_new(RT_E_CERT, NULL, "chain");
				goto fail;
			}
		}
		mbedtls_x509_crt_free(&file);
	}
	ca_signer *cs = calloc(1, sizeof(*cs));
	if (cs == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "CA");
		goto fail;
	}
	cs->key = skey;
	if ((e = rt_signer_new(&ca_signer_ops, cs, &scert->pk, ca->dedicated ?
	    "CMP signer" : "CA", &ca->signer)) != NULL)
		goto fail;
	for (mbedtls_x509_crt *x = &ca->chain; x != NULL && x->raw.len;
	    x = x->next)
		if ((e = rt_signer_add_cert(ca->signer, x->raw.p, x->raw.len))
		    != NULL)
			goto fail;
	if ((e = warm_up(ca->signer)) != NULL)
		goto fail;
	if (ca->dedicated) {
		/* the CA key signs certificates: warm it up too */
		ca_signer tmp = { &ca->key };
		uint8_t d[32] = { 0 }, sig[1024];
		size_t n;
		if ((e = ca_sign(&tmp, RT_HASH_SHA256, RT_SCHEME_DEFAULT, d,
		    sizeof(d), sig, sizeof(sig), &n)) != NULL)
			goto fail;
	}
	*out = ca;
	return NULL;
fail:
	cmh_ca_free(ca);
	return e;
}

void
cmh_ca_free(cmh_ca *ca)
{
	if (ca == NULL)
		return;
	rt_signer_free(ca->signer);
	mbedtls_x509_crt_free(&ca->cert);
	mbedtls_x509_crt_free(&ca->chain);
	mbedtls_x509_crt_free(&ca->cmp_cert);
	mbedtls_pk_free(&ca->key);
	mbedtls_pk_free(&ca->cmp_key);
	free(ca);
}

const mbedtls_x509_crt *
cmh_ca_cert(const cmh_ca *ca)
{
	return &ca->cert;
}

const mbedtls_x509_crt *
cmh_ca_chain(const cmh_ca *ca)
{
	return &ca->chain;
}

struct rt_signer *
cmh_ca_cmp_signer(const cmh_ca *ca)
{
	return ca->signer;
}

const mbedtls_x509_crt *
cmh_ca_cmp_cert(const cmh_ca *ca)
{
	return ca->dedicated ? &ca->cmp_cert : &ca->cert;
}

/* ---- issuance ------------------------------------------------------------------ */

/* Copies a parsed name into mbedTLS's writer list, keeping string tags.
 * The writer emits the list back to front, so each entry is prepended. */
static rt_err *
names_copy(const mbedtls_x509_name *n, mbedtls_asn1_named_data **head)
{
	for (; n != NULL; n = n->next) {
		mbedtls_asn1_named_data *d = calloc(1, sizeof(*d));
		if (d == NULL)
			return rt_err_new(RT_E_NOMEM, NULL, "name");
		d->oid.p = malloc(n->oid.len);
		d->val.p = malloc(n->val.len ? n->val.len : 1);
		d->next = *head;
		*head = d;
		if (d->oid.p == NULL || d->val.p == NULL)
			return rt_err_new(RT_E_NOMEM, NULL, "name");
		memcpy(d->oid.p, n->oid.p, n->oid.len);
		d->oid.len = n->oid.len;
		d->oid.tag = MBEDTLS_ASN1_OID;
		memcpy(d->val.p, n->val.p, n->val.len);
		d->val.len = n->val.len;
		d->val.tag = n->val.tag;
	}
	return NULL;
}

static void
fmt_gtime(time_t t, char *out, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, cap, "%04u%02u%02u%02u%02u%02u",
	    (unsigned)(tm.tm_year + 1900) % 10000, (unsigned)(tm.tm_mon + 1) % 100,
	    (unsigned)tm.tm_mday % 100, (unsigned)tm.tm_hour % 100,
	    (unsigned)tm.tm_min % 100, (unsigned)tm.tm_sec % 100);
}

static time_t
x509_epoch(const mbedtls_x509_time *t)
{
	int y = t->year, m = t->mon, d = t->day;
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	long days = era * 146097 + doe - 719468;
	return (time_t)days * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
}

static rt_err *
set_eku(mbedtls_x509write_cert *w, char *const *ekus, size_t n)
{
	unsigned char buf[512], *p = buf + sizeof(buf);
	unsigned char oid[64];
	int len = 0, r;
	for (size_t i = n; i-- > 0;) {
		mbedtls_asn1_buf ob = { 0, sizeof(oid), oid };
		/* dotted -> DER content */
		const char *s = ekus[i];
		unsigned long arcs[32];
		size_t na = 0;
		while (*s && na < 32) {
			arcs[na++] = strtoul(s, (char **)&s, 10);
			if (*s == '.')
				s++;
		}
		size_t ol = 0;
		if (na < 2)
			return rt_err_new(RT_E_ARG, NULL, "EKU %s", ekus[i]);
		unsigned long first = arcs[0] * 40 + arcs[1];
		for (size_t a = 1; a < na; a++) {
			unsigned long v = a == 1 ? first : arcs[a];
			unsigned char tmp[10];
			size_t tl = 0;
			do {
				tmp[tl++] = v & 0x7f;
				v >>= 7;
			} while (v != 0);
			while (tl > 0 && ol < sizeof(oid)) {
				tl--;
				oid[ol++] = (unsigned char)(tmp[tl] |
				    (tl > 0 ? 0x80 : 0));
			}
		}
		ob.len = ol;
		if ((r = mbedtls_asn1_write_oid(&p, buf, (const char *)ob.p,
		    ob.len)) < 0)
			return rt_err_new(RT_E_CRYPTO, NULL, "EKU");
		len += r;
	}
	if ((r = mbedtls_asn1_write_len(&p, buf, (size_t)len)) < 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "EKU");
	len += r;
	if ((r = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_ASN1_SEQUENCE)) < 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "EKU");
	len += r;
	if (mbedtls_x509write_crt_set_extension(w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, p,
	    (size_t)len) != 0)
		return rt_err_new(RT_E_CRYPTO, NULL, "EKU");
	return NULL;
}

rt_err *
cmh_issue(cmh_ca *ca, const cmh_profile *p, const cmh_checked *c, time_t now,
    uint8_t **der, size_t *len, char *serial)
{
	mbedtls_x509write_cert w;
	mbedtls_mpi sn;
	uint8_t snb[16];
	char nb[20], na[20];
	uint8_t *qc = NULL;
	size_t qclen = 0;
	unsigned char *buf = NULL;
	rt_err *e = NULL;
	int rc;

	*der = NULL;
	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&sn);
	if ((e = rt_random(snb, sizeof(snb))) != NULL)
		goto out;
	snb[0] = (snb[0] & 0x7f) | 0x40;	/* positive, 16 bytes, no 00 */
	rt_hex_encode(snb, sizeof(snb), serial, 2 * sizeof(snb) + 1, 0);
	time_t nbt = now - 60;
	time_t nat = now + (time_t)p->validity_days * 86400;
	time_t ca_na = x509_epoch(&ca->cert.valid_to);
	if (nat > ca_na)
		nat = ca_na;
	fmt_gtime(nbt, nb, sizeof(nb));
	fmt_gtime(nat, na, sizeof(na));

	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, rt_hash_md(rt_pk_default_hash(
	    &ca->key)));
	mbedtls_x509write_crt_set_subject_key(&w, (mbedtls_pk_context *)&c->pub);
	mbedtls_x509write_crt_set_issuer_key(&w, &ca->key);
	if (mbedtls_mpi_read_binary(&sn, snb, sizeof(snb)) != 0 ||
	    mbedtls_x509write_crt_set_serial(&w, &sn) != 0 ||
	    mbedtls_x509write_crt_set_validity(&w, nb, na) != 0) {
		e = rt_err_new(RT_E_CRYPTO, NULL, "certificate serial/validity");
		goto out;
	}
	if ((e = names_copy(&ca->cert.subject, &w.issuer)) != NULL ||
	    (e = names_copy(c->subject, &w.subject)) != NULL)
		goto out;
	if ((rc = mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_subject_key_identifier(&w)) != 0 ||
	    (rc = mbedtls_x509write_crt_set_authority_key_identifier(&w)) != 0 ||
	    (p->key_usage != 0 &&
	    (rc = mbedtls_x509write_crt_set_key_usage(&w, p->key_usage)) != 0)) {
		e = rt_err_new(RT_E_CRYPTO, NULL, "certificate extensions "
		    "(mbedTLS -0x%04x)", (unsigned)-rc);
		goto out;
	}
	if (p->nekus > 0 && (e = set_eku(&w, p->ekus, p->nekus)) != NULL)
		goto out;
	if (c->san != NULL && mbedtls_x509write_crt_set_extension(&w,
	    MBEDTLS_OID_SUBJECT_ALT_NAME,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, c->san,
	    c->san_len) != 0) {
		e = rt_err_new(RT_E_CRYPTO, NULL, "subjectAltName");
		goto out;
	}
	if (c->has_qc) {
		static const char qcs_oid[] = "\x2b\x06\x01\x05\x05\x07\x01\x03";
		if ((e = rt_qc_encode(&c->qc, &qc, &qclen)) != NULL)
			goto out;
		if (mbedtls_x509write_crt_set_extension(&w, qcs_oid,
		    sizeof(qcs_oid) - 1, 0, qc, qclen) != 0) {
			e = rt_err_new(RT_E_CRYPTO, NULL, "qcStatements");
			goto out;
		}
	}
	size_t cap = 4096 + c->san_len + qclen + mbedtls_pk_get_len(&c->pub) * 2;
	if ((buf = malloc(cap)) == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "certificate");
		goto out;
	}
	rc = mbedtls_x509write_crt_der(&w, buf, cap, rt_rng, NULL);
	if (rc <= 0) {
		e = rt_err_new(RT_E_CRYPTO, NULL, "signing the certificate failed "
		    "(mbedTLS -0x%04x)", (unsigned)-rc);
		goto out;
	}
	memmove(buf, buf + cap - (size_t)rc, (size_t)rc);
	*der = buf;
	*len = (size_t)rc;
	buf = NULL;
out:
	free(buf);
	free(qc);
	mbedtls_mpi_free(&sn);
	mbedtls_x509write_crt_free(&w);
	return e;
}
