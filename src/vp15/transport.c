/* transport.c - vp15's card ops (the vpcd front end's and the in-process
 * transport's view of a card, vcard.h) and rt_vp15_transport. */
#include "vp15_int.h"

static rt_err *
v_open(const char *state, void **card)
{
	vp15 *c = NULL;
	rt_err *e = vp15_open(state, &c);
	*card = c;
	return e;
}

static void v_free(void *card) { vp15_free(card); }
static void v_reset(void *card) { vp15_reset(card); }
static vcard_io *v_io(void *card) { return &((vp15 *)card)->io; }

static rt_err *
v_apdu(void *card, const uint8_t *cmd, size_t clen, uint8_t *rsp, size_t cap,
    size_t *rlen)
{
	return vp15_apdu(card, cmd, clen, rsp, cap, rlen);
}

const vcard_ops vp15_card_ops = {
	.name = "vp15", .open = v_open, .free = v_free, .apdu = v_apdu,
	.reset = v_reset, .io = v_io,
};

rt_err *
rt_vp15_transport(vp15 *card, bool take, const char *name, rt_transport **out)
{
	return rt_vcard_transport(&vp15_card_ops, card, take, name, out);
}
