/* transport.c - vp15's card ops (the vpcd front end's and the in-process
 * transport's view of a card) and rt_vp15_transport. */
#include "raterm/vp15.h"
#include "raterm/vpiv_transport.h"

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
static size_t v_atr(const void *card, uint8_t *atr, size_t cap) { return vp15_atr(card, atr, cap); }
static void v_set_trace(void *card, FILE *f) { vp15_set_trace(card, f); }
static uint64_t v_apdu_count(const void *card) { return vp15_apdu_count(card); }
static void v_drop_at(void *card, uint64_t n) { vp15_fault_drop_at(card, n); }
static void v_sw_at(void *card, uint64_t n, uint16_t sw) { vp15_fault_sw_at(card, n, sw); }
static void v_stall_at(void *card, uint64_t n, unsigned ms) { vp15_fault_stall_at(card, n, ms); }

static rt_err *
v_apdu(void *card, const uint8_t *cmd, size_t clen, uint8_t *rsp, size_t cap,
    size_t *rlen)
{
	return vp15_apdu(card, cmd, clen, rsp, cap, rlen);
}

const vpiv_serve_card vp15_card_ops = {
	.name = "vp15", .open = v_open, .free = v_free, .apdu = v_apdu,
	.reset = v_reset, .atr = v_atr, .set_trace = v_set_trace,
	.apdu_count = v_apdu_count, .fault_drop_at = v_drop_at,
	.fault_sw_at = v_sw_at, .fault_stall_at = v_stall_at,
};

rt_err *
rt_vp15_transport(vp15 *card, bool take, const char *name, rt_transport **out)
{
	return rt_vcard_transport(&vp15_card_ops, card, take, name, out);
}
