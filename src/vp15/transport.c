/* transport.c - the in-process transport bound to a vp15 card core
 * (rt_vp15_transport in include/raterm/vp15.h). */
#include "raterm/vp15.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
	vp15 *card;
	bool owned;
} v15t;

static rt_err *
v15t_transmit(rt_transport *t, const uint8_t *cmd, size_t clen, uint8_t *rsp,
    size_t cap, size_t *rlen)
{
	v15t *v = t->impl;
	rt_err *e = vp15_apdu(v->card, cmd, clen, rsp, cap, rlen);
	if (e != NULL)
		return rt_err_new(RT_E_CARD_REMOVED, e,
		    "virtual card \"%s\" removed", t->reader);
	return NULL;
}

static void
v15t_close(rt_transport *t)
{
	v15t *v = t->impl;
	if (v != NULL && v->owned)
		vp15_free(v->card);
	free(v);
	free(t);
}

static const rt_transport_ops v15t_ops = {
	.kind = "vp15",
	.transmit = v15t_transmit,
	.close = v15t_close,
};

rt_err *
rt_vp15_transport(vp15 *card, bool take, const char *name, rt_transport **out)
{
	rt_transport *t = calloc(1, sizeof(*t));
	v15t *v = calloc(1, sizeof(*v));
	if (t == NULL || v == NULL) {
		free(t);
		free(v);
		if (take)
			vp15_free(card);
		return rt_err_new(RT_E_NOMEM, NULL, "vp15 transport");
	}
	v->card = card;
	v->owned = take;
	t->ops = &v15t_ops;
	t->impl = v;
	snprintf(t->reader, sizeof(t->reader), "%s", name ? name : "vp15");
	t->atr_len = vp15_atr(card, t->atr, sizeof(t->atr));
	rt_transport_atr_caps(t);
	*out = t;
	return NULL;
}
