/* record.c - makes seed inputs for fuzz_card.c: reads a vpiv card state
 * file in process as `raterm show` does and writes every card response in
 * the fuzz feed format (2-byte big-endian length + bytes).
 *
 *   fuzz-record STATE OUT */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "raterm/contents.h"
#include "raterm/piv.h"
#include "raterm/vpiv_transport.h"

static FILE *out;
static rt_transport *inner;

static rt_err *
rec_transmit(rt_transport *t, const uint8_t *cmd, size_t clen, uint8_t *rsp,
    size_t cap, size_t *rlen)
{
	(void)t;
	rt_err *e = inner->ops->transmit(inner, cmd, clen, rsp, cap, rlen);
	if (e == NULL) {
		fputc((int)(*rlen >> 8), out);
		fputc((int)(*rlen & 0xFF), out);
		fwrite(rsp, 1, *rlen, out);
	}
	return e;
}

static void
rec_close(rt_transport *t)
{
	(void)t;
}

static const rt_transport_ops rec_ops = {
	.kind = "record", .transmit = rec_transmit, .close = rec_close,
};

int
main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: fuzz-record STATE OUT\n");
		return 2;
	}
	rt_err *e = rt_vpiv_open_file(argv[1], &inner);
	if (e != NULL)
		return 1;
	out = fopen(argv[2], "wb");
	if (out == NULL)
		return 1;
	rt_transport t;
	memset(&t, 0, sizeof(t));
	t.ops = &rec_ops;
	t.ext_len = inner->ext_len;
	rt_card *c;
	rt_contents ct;
	if ((e = rt_card_open(&t, &c)) == NULL) {
		if ((e = rt_contents_read(c, NULL, time(NULL),
		    RT_CONTENTS_ALL_SLOTS, &ct)) == NULL)
			rt_contents_free(&ct);
		rt_card_close(c);
	}
	rt_err_free(e);
	fclose(out);
	rt_transport_close(inner);
	return 0;
}
