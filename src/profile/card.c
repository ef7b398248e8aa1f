/* card.c - the card-profile interface: opening a card with the profile
 * that answers (PIV, then PKCS#15), and the dispatch to it; see
 * include/raterm/card.h. */
#include "raterm/card.h"
#include "profile_int.h"
#include "raterm/piv.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const rt_card_caps caps_unknown = {
	.name = "unknown", .id = "",
	.multi_cert_per_key = false, .ca_certs_on_card = false,
	.one_cert_reason = "the card profile is not known to hold more than "
	    "one certificate per key",
	.no_ca_reason = "the card profile is not known to hold CA "
	    "certificates",
	.operator_name = "operator credential",
};

const rt_card_caps *
rt_card_caps_of_profile(const char *id)
{
	if (id != NULL && strcmp(id, prof_piv_ops.caps->id) == 0)
		return prof_piv_ops.caps;
	if (id != NULL && strcmp(id, prof_p15_ops.caps->id) == 0)
		return prof_p15_ops.caps;
	return &caps_unknown;
}

bool
rt_card_gone(const rt_err *e)
{
	return rt_err_has(e, RT_E_CARD_REMOVED) || rt_err_has(e, RT_E_NO_CARD) ||
	    rt_err_has(e, RT_E_TRANSPORT) || rt_err_has(e, RT_E_PCSC) ||
	    rt_err_has(e, RT_E_FAULT);
}

bool
rt_key_parse(const char *s, uint8_t *key)
{
	uint8_t v;
	if (s == NULL)
		return false;
	if (piv_slot_parse(s, &v)) {		/* a PIV certificate slot */
		*key = v;
		return true;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (strlen(s) != 2 || !isxdigit((unsigned char)s[0]) ||
	    !isxdigit((unsigned char)s[1]))
		return false;
	unsigned long n = strtoul(s, NULL, 16);
	if (n == 0)
		return false;
	*key = (uint8_t)n;
	return true;
}

bool
prof_card_gone(const rt_err *e)
{
	return rt_err_has(e, RT_E_CARD_REMOVED) || rt_err_has(e, RT_E_TRANSPORT) ||
	    rt_err_has(e, RT_E_PCSC) || rt_err_has(e, RT_E_NOMEM);
}

rt_err *
rt_card_open(rt_transport *t, rt_card **out)
{
	*out = NULL;
	rt_card *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "card");
	c->t = t;
	c->ops = &prof_piv_ops;
	rt_err *e = prof_piv_open(t, &c->impl);
	if (e != NULL && rt_err_kind_of(e) == RT_E_NOT_PIV) {
		/* not PIV: a PKCS#15 application? */
		rt_err *e2 = prof_p15_open(t, &c->impl);
		if (e2 == NULL) {
			rt_err_free(e);
			e = NULL;
			c->ops = &prof_p15_ops;
		} else if (rt_err_kind_of(e2) == RT_E_NOT_PIV) {
			rt_err_free(e2);
		} else {
			rt_err_free(e);
			e = e2;
		}
	}
	if (e != NULL) {
		free(c);
		return e;
	}
	*out = c;
	return NULL;
}

rt_err *
rt_card_from_piv(struct piv_card *piv, rt_card **out)
{
	*out = NULL;
	rt_card *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "card");
	c->ops = &prof_piv_ops;
	c->impl = piv;
	c->t = piv_transport(piv);
	c->borrowed = true;
	*out = c;
	return NULL;
}

void
rt_card_close(rt_card *c)
{
	if (c == NULL)
		return;
	if (c->ops != NULL && c->ops->close != NULL && !c->borrowed)
		c->ops->close(c->impl);
	free(c);
}

const rt_card_caps *
rt_card_caps_get(const rt_card *c)
{
	return c->ops->caps;
}

rt_transport *
rt_card_transport(const rt_card *c)
{
	return c->t;
}

struct piv_card *
rt_card_piv(rt_card *c)
{
	return c->ops == &prof_piv_ops ? c->impl : NULL;
}

rt_err *
rt_card_ident_read(rt_card *c, rt_card_ident *out)
{
	memset(out, 0, sizeof(*out));
	return c->ops->ident(c->impl, out);
}

rt_err *
rt_card_keys(rt_card *c, unsigned flags, rt_card_key *out, size_t cap,
    size_t *n, bool *has_metadata)
{
	*n = 0;
	if (has_metadata != NULL)
		*has_metadata = false;
	rt_err *e = c->ops->keys(c->impl, flags, out, cap, n, has_metadata);
	if (e != NULL) {
		rt_card_keys_free(out, *n);
		*n = 0;
	}
	return e;
}

void
rt_card_keys_free(rt_card_key *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(k[i].der);
		k[i].der = NULL;
	}
}

rt_err *
rt_card_pin_retries(rt_card *c, int *retries)
{
	*retries = -1;
	return c->ops->pin_retries(c->impl, retries);
}

rt_err *
rt_card_verify_pin(rt_card *c, const char *pin, size_t len)
{
	return c->ops->verify_pin(c->impl, pin, len);
}

rt_err *
rt_card_verify_pin_n(rt_card *c, unsigned which, const char *pin, size_t len)
{
	return c->ops->verify_pin_n(c->impl, which, pin, len);
}

unsigned
rt_card_key_pin(rt_card *c, uint8_t key)
{
	return c->ops->key_pin(c->impl, key);
}

rt_err *
rt_card_read_cert(rt_card *c, uint8_t key, uint8_t **der, size_t *len)
{
	*der = NULL;
	*len = 0;
	return c->ops->read_cert(c->impl, key, der, len);
}

rt_err *
rt_card_write_cert(rt_card *c, uint8_t key, int index, const uint8_t *der,
    size_t len)
{
	if (index == RT_CARD_CERT_NEW && !c->ops->caps->multi_cert_per_key)
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "key %02x: %s", key,
		    c->ops->caps->one_cert_reason);
	return c->ops->write_cert(c->impl, key, index, der, len);
}

rt_err *
rt_card_holds_cert(rt_card *c, uint8_t key, const uint8_t *der, size_t len,
    bool *held)
{
	*held = false;
	return c->ops->holds_cert(c->impl, key, der, len, held);
}

rt_err *
rt_card_ca_certs(rt_card *c, rt_card_ca *out, size_t cap, size_t *n)
{
	*n = 0;
	if (!c->ops->caps->ca_certs_on_card)
		return NULL;
	rt_err *e = c->ops->ca_certs(c->impl, out, cap, n);
	if (e != NULL) {
		rt_card_ca_free(out, *n);
		*n = 0;
	}
	return e;
}

void
rt_card_ca_free(rt_card_ca *ca, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ca[i].der);
		ca[i].der = NULL;
	}
}

rt_err *
rt_card_write_ca_certs(rt_card *c, const rt_card_ca *ca, size_t n,
    bool replace)
{
	if (!c->ops->caps->ca_certs_on_card)
		return rt_err_new(RT_E_NOT_SUPPORTED, NULL, "CA certificates: %s",
		    c->ops->caps->no_ca_reason);
	return c->ops->write_ca_certs(c->impl, ca, n, replace);
}

rt_err *
rt_card_public_key(rt_card *c, uint8_t key, mbedtls_pk_context *pk)
{
	return c->ops->public_key(c->impl, key, pk);
}

rt_err *
rt_card_operator_auth(rt_card *c, int alg, const uint8_t *cred, size_t len)
{
	return c->ops->operator_auth(c->impl, alg, cred, len);
}

rt_err *
rt_card_signer(rt_card *c, const rt_card_signer_spec *sp, rt_signer **out)
{
	*out = NULL;
	return c->ops->signer(c->impl, sp, out);
}

rt_err *
rt_card_verify_tc(rt_card *c, const rt_card_id *id, uint8_t key,
    const uint8_t *der, size_t len, const rt_tc_config *cfg,
    rt_tc_result *res)
{
	return c->ops->verify_tc(c->impl, id, key, der, len, cfg, res);
}
