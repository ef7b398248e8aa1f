/* transport.c - the in-process transport bound to a virtual card core
 * through its card ops (rt_vcard_transport; vpiv's rt_vpiv_transport and
 * vp15's rt_vp15_transport bind their cards with it). */
#include "raterm/vcard.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
	const vcard_ops *ops;
	void *card;
	bool owned;
} vt_t;

static rt_err *
vt_transmit(rt_transport *t, const uint8_t *cmd, size_t clen, uint8_t *rsp,
    size_t cap, size_t *rlen)
{
	vt_t *v = t->impl;
	rt_err *e = v->ops->apdu(v->card, cmd, clen, rsp, cap, rlen);
	if (e != NULL)
		return rt_err_new(RT_E_CARD_REMOVED, e,
		    "virtual card \"%s\" removed", t->reader);
	return NULL;
}

static void
vt_close(rt_transport *t)
{
	vt_t *v = t->impl;
	if (v != NULL && v->owned)
		v->ops->free(v->card);
	free(v);
	free(t);
}

static const rt_transport_ops vt_ops = {
	.kind = "vcard",
	.transmit = vt_transmit,
	.close = vt_close,
};

rt_err *
rt_vcard_transport(const vcard_ops *ops, void *card, bool take,
    const char *name, rt_transport **out)
{
	rt_transport *t = calloc(1, sizeof(*t));
	vt_t *v = calloc(1, sizeof(*v));
	if (t == NULL || v == NULL) {
		free(t);
		free(v);
		if (take)
			ops->free(card);
		return rt_err_new(RT_E_NOMEM, NULL, "%s transport", ops->name);
	}
	v->ops = ops;
	v->card = card;
	v->owned = take;
	t->ops = &vt_ops;
	t->impl = v;
	snprintf(t->reader, sizeof(t->reader), "%s", name ? name : ops->name);
	t->atr_len = vcard_atr(ops->io(card), t->atr, sizeof(t->atr));
	rt_transport_atr_caps(t);
	*out = t;
	return NULL;
}
