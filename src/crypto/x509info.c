/* x509info.c - certificate facts and CA sets; see include/raterm/x509.h */
#include "raterm/x509.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

struct rt_castore {
	mbedtls_x509_crt chain;
	size_t count;
};

static void
find_cn(const mbedtls_x509_name *n, char *out, size_t cap)
{
	out[0] = '\0';
	for (; n != NULL; n = n->next) {
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) {
			size_t l = n->val.len < cap - 1 ? n->val.len : cap - 1;
			memcpy(out, n->val.p, l);
			out[l] = '\0';
			for (size_t i = 0; i < l; i++)
				if ((unsigned char)out[i] < 0x20)
					out[i] = '?';
		}
	}
}

time_t
rt_x509_time_epoch(const mbedtls_x509_time *t)
{
	/* days from civil, proleptic Gregorian (H. Hinnant's algorithm) */
	int y = t->year, m = t->mon, d = t->day;
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	long days = era * 146097 + doe - 719468;
	return (time_t)days * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
}

static void
fmt_time(const mbedtls_x509_time *t, char *out, size_t cap)
{
	snprintf(out, cap, "%04u-%02u-%02uT%02u:%02u:%02uZ",
	    (unsigned)t->year % 10000, (unsigned)t->mon % 100,
	    (unsigned)t->day % 100, (unsigned)t->hour % 100,
	    (unsigned)t->min % 100, (unsigned)t->sec % 100);
}

static void
key_name(const mbedtls_pk_context *pk, char *out, size_t cap)
{
	mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
	size_t bits = mbedtls_pk_get_bitlen(pk);
	if (t == MBEDTLS_PK_RSA)
		snprintf(out, cap, "RSA%zu", bits);
	else if (t == MBEDTLS_PK_ECKEY || t == MBEDTLS_PK_ECDSA) {
		const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
		if (ec->grp.id == MBEDTLS_ECP_DP_SECP256R1)
			snprintf(out, cap, "ECCP256");
		else if (ec->grp.id == MBEDTLS_ECP_DP_SECP384R1)
			snprintf(out, cap, "ECCP384");
		else
			snprintf(out, cap, "EC%zu", bits);
	} else
		snprintf(out, cap, "UNKNOWN");
}

rt_err *
rt_cert_info_parse(const uint8_t *der, size_t len, rt_cert_info *out)
{
	mbedtls_x509_crt crt;
	int rc;

	memset(out, 0, sizeof(*out));
	mbedtls_x509_crt_init(&crt);
	rc = mbedtls_x509_crt_parse_der(&crt, der, len);
	if (rc != 0) {
		char msg[128];
		mbedtls_x509_crt_free(&crt);
		snprintf(msg, sizeof(msg), "-0x%04x", (unsigned)-rc);
		return rt_err_new(RT_E_CERT, NULL,
		    "certificate of %zu bytes does not parse (mbedTLS %s)", len, msg);
	}
	if (mbedtls_x509_dn_gets(out->subject, sizeof(out->subject),
	    &crt.subject) < 0)
		out->subject[0] = '\0';
	if (mbedtls_x509_dn_gets(out->issuer, sizeof(out->issuer), &crt.issuer) < 0)
		out->issuer[0] = '\0';
	find_cn(&crt.subject, out->subject_cn, sizeof(out->subject_cn));
	find_cn(&crt.issuer, out->issuer_cn, sizeof(out->issuer_cn));
	size_t o = 0;
	for (size_t i = 0; i < crt.serial.len && o + 3 < sizeof(out->serial); i++)
		o += (size_t)snprintf(out->serial + o, sizeof(out->serial) - o,
		    "%02x", crt.serial.p[i]);
	fmt_time(&crt.valid_from, out->not_before, sizeof(out->not_before));
	fmt_time(&crt.valid_to, out->not_after, sizeof(out->not_after));
	out->nb = rt_x509_time_epoch(&crt.valid_from);
	out->na = rt_x509_time_epoch(&crt.valid_to);
	key_name(&crt.pk, out->key_alg, sizeof(out->key_alg));
	out->is_ca = crt.ca_istrue != 0;
	mbedtls_x509_crt_free(&crt);
	mbedtls_sha256_ret(der, len, out->sha256, 0);
	return NULL;
}

static rt_err *
load_file(rt_castore *s, const char *path)
{
	int rc = mbedtls_x509_crt_parse_file(&s->chain, path);
	if (rc != 0)
		return rt_err_new(RT_E_CERT, NULL,
		    "%s: %s (mbedTLS -0x%04x)", path,
		    rc > 0 ? "some certificates do not parse" :
		    "no certificate could be read", (unsigned)(rc < 0 ? -rc : rc));
	return NULL;
}

static bool
has_ext(const char *name, const char *ext)
{
	size_t n = strlen(name), e = strlen(ext);
	return n > e && strcmp(name + n - e, ext) == 0;
}

rt_err *
rt_castore_load(const char *path, rt_castore **out)
{
	struct stat st;
	rt_castore *s;
	rt_err *e = NULL;

	if (stat(path, &st) != 0)
		return rt_err_new(RT_E_IO, NULL, "%s: no such file or directory",
		    path);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "CA store");
	mbedtls_x509_crt_init(&s->chain);
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		if (d == NULL) {
			rt_castore_free(s);
			return rt_err_new(RT_E_IO, NULL, "%s: cannot open directory",
			    path);
		}
		while (e == NULL && (de = readdir(d)) != NULL) {
			if (!has_ext(de->d_name, ".pem") && !has_ext(de->d_name, ".crt") &&
			    !has_ext(de->d_name, ".der"))
				continue;
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
			e = load_file(s, p);
		}
		closedir(d);
	} else
		e = load_file(s, path);
	if (e != NULL) {
		rt_castore_free(s);
		return e;
	}
	for (mbedtls_x509_crt *c = &s->chain; c != NULL && c->raw.len; c = c->next)
		s->count++;
	*out = s;
	return NULL;
}

void
rt_castore_free(rt_castore *s)
{
	if (s == NULL)
		return;
	mbedtls_x509_crt_free(&s->chain);
	free(s);
}

size_t
rt_castore_count(const rt_castore *s)
{
	return s ? s->count : 0;
}

rt_err *
rt_castore_add(rt_castore **s, const uint8_t *der, size_t len)
{
	if (*s == NULL) {
		if ((*s = calloc(1, sizeof(**s))) == NULL)
			return rt_err_new(RT_E_NOMEM, NULL, "CA store");
		mbedtls_x509_crt_init(&(*s)->chain);
	}
	int rc = mbedtls_x509_crt_parse_der(&(*s)->chain, der, len);
	if (rc != 0)
		return rt_err_new(RT_E_CERT, NULL, "CA certificate does not parse "
		    "(mbedTLS -0x%04x)", (unsigned)-rc);
	(*s)->count++;
	return NULL;
}

const struct mbedtls_x509_crt *
rt_castore_issuer(const rt_castore *s, const uint8_t *der, size_t len)
{
	mbedtls_x509_crt crt;
	const mbedtls_x509_crt *found = NULL;
	if (s == NULL || s->count == 0)
		return NULL;
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_der(&crt, der, len) != 0)
		goto out;
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(crt.sig_md);
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	if (md == NULL || mbedtls_md(md, crt.tbs.p, crt.tbs.len, hash) != 0)
		goto out;
	for (const mbedtls_x509_crt *ca = &s->chain; ca != NULL && ca->raw.len;
	    ca = ca->next) {
		if (crt.issuer_raw.len != ca->subject_raw.len ||
		    memcmp(crt.issuer_raw.p, ca->subject_raw.p,
		    crt.issuer_raw.len) != 0)
			continue;
		if (mbedtls_pk_verify_ext(crt.sig_pk, crt.sig_opts,
		    (mbedtls_pk_context *)(uintptr_t)&ca->pk, crt.sig_md, hash,
		    mbedtls_md_get_size(md), crt.sig.p, crt.sig.len) == 0) {
			found = ca;
			break;
		}
	}
out:
	mbedtls_x509_crt_free(&crt);
	return found;
}

bool
rt_castore_issued(const rt_castore *s, const uint8_t *der, size_t len)
{
	return rt_castore_issuer(s, der, len) != NULL;
}

const mbedtls_x509_crt *
rt_castore_crts(const rt_castore *s)
{
	return s != NULL && s->count > 0 ? &s->chain : NULL;
}
