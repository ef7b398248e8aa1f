/*
 * perso.c - personalization and inspection of a virtual card without
 * APDUs: key generation, data objects, certificates issued by a CA from
 * files, and read access to the card's identity and counters.
 */
#include "vpiv_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

static rt_err *
slot_index(uint8_t slot, int *idx)
{
	*idx = vpiv_slot_index(slot);
	if (*idx < 0)
		return rt_err_new(RT_E_ARG, NULL, "%02X is not a key slot", slot);
	return NULL;
}

rt_err *
vpiv_slot_get(const vpiv *v, uint8_t slot, vpiv_slot_info *out)
{
	int idx;
	rt_err *e = slot_index(slot, &idx);
	memset(out, 0, sizeof(*out));
	if (e != NULL)
		return e;
	const struct vpiv_key *k = &v->keys[idx];
	out->present = k->present;
	out->alg = k->alg;
	out->pin_policy = k->pin_policy;
	out->touch_policy = k->touch_policy;
	out->origin = k->origin;
	return NULL;
}

rt_err *
vpiv_generate_key(vpiv *v, uint8_t slot, uint8_t alg, uint8_t pin_policy,
    uint8_t touch_policy)
{
	int idx;
	rt_err *e = slot_index(slot, &idx);
	if (e != NULL)
		return e;
	if (pin_policy > 3 || touch_policy > 3)
		return rt_err_new(RT_E_ARG, NULL, "bad PIN or touch policy");
	if ((e = vk_generate(v, &v->keys[idx], alg)) != NULL)
		return rt_err_wrap(e, "slot %02X", slot);
	struct vpiv_key *k = &v->keys[idx];
	k->pin_policy = pin_policy ? pin_policy : vpiv_default_pin_policy(slot);
	k->touch_policy = touch_policy ? touch_policy : VPIV_TOUCH_NEVER;
	return vpiv_save(v);
}

rt_err *
vpiv_slot_pubkey_der(const vpiv *v, uint8_t slot, uint8_t *buf, size_t cap,
    size_t *len)
{
	int idx;
	rt_err *e = slot_index(slot, &idx);
	if (e != NULL)
		return e;
	const struct vpiv_key *k = &v->keys[idx];
	if (!k->present)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "slot %02X is empty", slot);
	/* mbedtls_pk_write_pubkey_der takes a non-const context */
	int n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)&k->pk, buf, cap);
	if (n <= 0)
		return rt_err_new(RT_E_TOO_BIG, NULL, "slot %02X public key", slot);
	memmove(buf, buf + cap - (size_t)n, (size_t)n);
	*len = (size_t)n;
	return NULL;
}

rt_err *
vpiv_put_object(vpiv *v, uint32_t tag, const uint8_t *data, size_t len)
{
	if (tag == 0 || tag > 0xFFFFFF)
		return rt_err_new(RT_E_ARG, NULL, "bad object tag %X", tag);
	rt_err *e = vpiv_obj_set(v, tag, data, len);
	if (e != NULL)
		return e;
	if (tag == 0x5FC102) {
		const uint8_t *g;
		size_t gl;
		e = tlv_find(data, len, 0x34, &g, &gl);
		if (e == NULL && gl == 16)
			memcpy(v->guid, g, 16);
		rt_err_free(e);
	}
	return vpiv_save(v);
}

rt_err *
vpiv_get_object(const vpiv *v, uint32_t tag, const uint8_t **data, size_t *len)
{
	struct vpiv_obj *o = vpiv_obj_find(v, tag);
	if (o == NULL)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "object %X not on card", tag);
	*data = o->data;
	*len = o->len;
	return NULL;
}

rt_err *
vpiv_put_cert(vpiv *v, uint8_t slot, const uint8_t *der, size_t len)
{
	rt_err *e = vk_store_cert(v, slot, der, len);
	if (e != NULL)
		return e;
	return vpiv_save(v);
}

uint32_t vpiv_serial(const vpiv *v) { return v->serial; }
void vpiv_guid(const vpiv *v, uint8_t guid[16]) { memcpy(guid, v->guid, 16); }

void
vpiv_retries(const vpiv *v, int *pin_total, int *pin_left, int *puk_total,
    int *puk_left)
{
	*pin_total = v->pin_total;
	*pin_left = v->pin_left;
	*puk_total = v->puk_total;
	*puk_left = v->puk_left;
}

uint8_t
vpiv_mgmt_alg(const vpiv *v, bool *is_default)
{
	if (is_default != NULL)
		*is_default = v->mgmt_default;
	return v->mgmt_alg;
}

/* ---- certificate issuance ---- */

static bool
valid_time(const char *s)
{
	if (strlen(s) != 14)
		return false;
	for (int i = 0; i < 14; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* YYYYMMDDhhmmss + days, UTC. */
static int
add_days(const char *from, int days, char out[15])
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(from, "%4d%2d%2d%2d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	t += (time_t)days * 86400;
	struct tm r;
	if (gmtime_r(&t, &r) == NULL)
		return -1;
	strftime(out, 15, "%Y%m%d%H%M%S", &r);
	return 0;
}

rt_err *
vpiv_issue_cert(vpiv *v, uint8_t slot, const vpiv_issue_req *r)
{
	int idx, rc;
	rt_err *e = slot_index(slot, &idx);
	if (e != NULL)
		return e;
	struct vpiv_key *k = &v->keys[idx];
	if (!k->present)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "slot %02X has no key", slot);
	if (r->subject == NULL || r->subject[0] == '\0')
		return rt_err_new(RT_E_ARG, NULL, "a subject is needed");
	if (r->ca_cert_path == NULL || r->ca_key_path == NULL)
		return rt_err_new(RT_E_ARG, NULL, "a CA certificate and key are needed");

	char nb[15], na[15];
	if (r->not_before != NULL) {
		if (!valid_time(r->not_before))
			return rt_err_new(RT_E_ARG, NULL,
			    "not-before '%s' is not YYYYMMDDhhmmss", r->not_before);
		memcpy(nb, r->not_before, 15);
	} else {
		vk_now(nb, -60);
	}
	if (r->not_after != NULL) {
		if (!valid_time(r->not_after))
			return rt_err_new(RT_E_ARG, NULL,
			    "not-after '%s' is not YYYYMMDDhhmmss", r->not_after);
		memcpy(na, r->not_after, 15);
	} else if (add_days(nb, r->days > 0 ? r->days : 365, na) != 0) {
		return rt_err_new(RT_E_ARG, NULL, "cannot compute not-after");
	}
	if (strcmp(nb, na) >= 0)
		return rt_err_new(RT_E_ARG, NULL, "not-after %s is not after not-before %s",
		    na, nb);

	char subject[512];
	int n;
	if (r->bind == VPIV_BIND_SERIAL)
		n = snprintf(subject, sizeof(subject), "%s,serialNumber=%u",
		    r->subject, v->serial);
	else if (r->bind == VPIV_BIND_GUID) {
		char g[33];
		rt_hex_encode(v->guid, 16, g, sizeof(g), RT_HEX_UPPER);
		n = snprintf(subject, sizeof(subject), "%s,serialNumber=%s", r->subject, g);
	} else
		n = snprintf(subject, sizeof(subject), "%s", r->subject);
	if (n < 0 || (size_t)n >= sizeof(subject))
		return rt_err_new(RT_E_ARG, NULL, "subject too long");

	mbedtls_x509_crt ca;
	mbedtls_pk_context cakey;
	uint8_t *der = NULL;
	size_t dlen = 0;
	vk_exts x;
	mbedtls_x509_crt_init(&ca);
	mbedtls_pk_init(&cakey);

	if ((rc = mbedtls_x509_crt_parse_file(&ca, r->ca_cert_path)) != 0) {
		e = rt_err_new(RT_E_CERT, NULL, "%s: cannot parse CA certificate "
		    "(mbedTLS -0x%04x)", r->ca_cert_path, (unsigned)-rc);
		goto out;
	}
	if ((rc = mbedtls_pk_parse_keyfile(&cakey, r->ca_key_path, r->ca_pass)) != 0) {
		e = rt_err_new(RT_E_CRYPTO, NULL, "%s: cannot read CA key "
		    "(mbedTLS -0x%04x)", r->ca_key_path, (unsigned)-rc);
		goto out;
	}
	if ((rc = mbedtls_pk_check_pair(&ca.pk, &cakey)) != 0) {
		e = rt_err_new(RT_E_CERT, NULL, "%s does not belong to %s",
		    r->ca_key_path, r->ca_cert_path);
		goto out;
	}
	if ((e = vk_exts_std(&x, r->is_ca, r->is_ca ? RT_KU_KEY_CERT_SIGN |
	    RT_KU_CRL_SIGN : k->alg == VPIV_ALG_RSA2048 ?
	    RT_KU_DIGITAL_SIGNATURE | RT_KU_KEY_ENCIPHERMENT :
	    RT_KU_DIGITAL_SIGNATURE | RT_KU_KEY_AGREEMENT, &k->pk, &ca.pk)) !=
	    NULL)
		goto out;
	e = vk_cert_write(v, &cakey, ca.subject_raw.p, ca.subject_raw.len,
	    subject, &k->pk, nb, na, x.x, x.n, &der, &dlen);
	if (e != NULL)
		goto out;
	if ((e = vk_store_cert(v, slot, der, dlen)) == NULL)
		e = vpiv_save(v);
out:
	free(der);
	mbedtls_pk_free(&cakey);
	mbedtls_x509_crt_free(&ca);
	if (e != NULL)
		return rt_err_wrap(e, "issuing a certificate for slot %02X", slot);
	return NULL;
}
