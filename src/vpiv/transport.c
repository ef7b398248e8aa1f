/* transport.c - vpiv's card ops (the vpcd front end's and the in-process
 * transport's view of a card, vcard.h), rt_vpiv_transport and `vpiv
 * serve`. */
#include "vpiv_int.h"

#include <stdio.h>

#include "raterm/vpiv_transport.h"

static rt_err *
v_open(const char *state, void **card)
{
	vpiv *v = NULL;
	rt_err *e = vpiv_open(state, &v);
	*card = v;
	return e;
}

static void v_free(void *card) { vpiv_free(card); }
static void v_reset(void *card) { vpiv_reset(card); }
static vcard_io *v_io(void *card) { return &((vpiv *)card)->io; }

static rt_err *
v_apdu(void *card, const uint8_t *cmd, size_t clen, uint8_t *rsp, size_t cap,
    size_t *rlen)
{
	return vpiv_apdu(card, cmd, clen, rsp, cap, rlen);
}

const vcard_ops vpiv_card_ops = {
	.name = "vpiv", .open = v_open, .free = v_free, .apdu = v_apdu,
	.reset = v_reset, .io = v_io,
};

int
vpiv_serve_main(int argc, char **argv)
{
	return vcard_serve_main(&vpiv_card_ops, argc, argv);
}

rt_err *
rt_vpiv_transport(vpiv *card, bool take, const char *name, rt_transport **out)
{
	return rt_vcard_transport(&vpiv_card_ops, card, take, name, out);
}

rt_err *
rt_vpiv_open_file(const char *path, rt_transport **out)
{
	vpiv *card;
	char name[300];
	rt_err *e = vpiv_open(path, &card);
	if (e != NULL)
		return rt_err_wrap(e, "virtual card %s", path);
	snprintf(name, sizeof(name), "vpiv:%s", path);
	return rt_vpiv_transport(card, true, name, out);
}
