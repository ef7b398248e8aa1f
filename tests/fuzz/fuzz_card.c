/* fuzz_card.c - fuzz target for everything that parses card input: the
 * BER-TLV reader, the PIV buffer parsers (CHUID, certificate objects with
 * inflate, metadata, public keys), certificate facts, and a whole
 * `raterm show` read (SELECT, CHUID, serial, PIN counter, 24 certificate
 * objects, metadata) against a card whose every answer comes from the input.
 *
 * Built with libFuzzer (`make fuzz`, clang) or with the replay/mutation
 * driver in driver.c (`make fuzz-smoke`, part of `make check`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raterm/contents.h"
#include "raterm/piv.h"
#include "raterm/tlv.h"
#include "raterm/transport.h"
#include "raterm/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
	const uint8_t *p;
	size_t left;
} feed_t;

/* Each response: 2-byte big-endian length, then that many bytes (cut to
 * what is left). An exhausted input is a pulled card. */
static rt_err *
feed_transmit(rt_transport *t, const uint8_t *cmd, size_t clen, uint8_t *rsp,
    size_t cap, size_t *rlen)
{
	feed_t *f = t->impl;
	(void)cmd;
	(void)clen;
	if (f->left < 2)
		return rt_err_new(RT_E_CARD_REMOVED, NULL, "fuzz: input exhausted");
	size_t n = (size_t)f->p[0] << 8 | f->p[1];
	f->p += 2;
	f->left -= 2;
	if (n > f->left)
		n = f->left;
	if (n > cap)
		n = cap;
	memcpy(rsp, f->p, n);
	f->p += n;
	f->left -= n;
	*rlen = n;
	return NULL;
}

static void
feed_close(rt_transport *t)
{
	(void)t;
}

static const rt_transport_ops feed_ops = {
	.kind = "fuzz",
	.transmit = feed_transmit,
	.close = feed_close,
};

static void
parsers(const uint8_t *data, size_t size)
{
	tlv_cur c;
	uint32_t tag;
	const uint8_t *v;
	size_t l;
	rt_err *e;

	tlv_init(&c, data, size);
	while (!tlv_at_end(&c)) {
		if ((e = tlv_next(&c, &tag, &v, &l)) != NULL) {
			rt_err_free(e);
			break;
		}
		tlv_cur in;
		tlv_init(&in, v, l);
		while (!tlv_at_end(&in)) {
			if ((e = tlv_next(&in, &tag, &v, &l)) != NULL) {
				rt_err_free(e);
				break;
			}
		}
	}
	piv_chuid ch;
	rt_err_free(piv_chuid_parse(data, size, &ch));
	uint8_t *der = NULL;
	size_t dl;
	if ((e = piv_cert_parse(data, size, &der, &dl)) == NULL) {
		rt_cert_info info;
		rt_err_free(rt_cert_info_parse(der, dl, &info));
		free(der);
	} else
		rt_err_free(e);
	piv_metadata md;
	rt_err_free(piv_metadata_parse(data, size, &md));
	piv_pubkey pk;
	rt_err_free(piv_pubkey_parse(PIV_ALG_ECCP256, data, size, &pk));
	rt_err_free(piv_pubkey_parse(PIV_ALG_RSA2048, data, size, &pk));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parsers(data, size);

	feed_t f = { data, size };
	rt_transport t;
	memset(&t, 0, sizeof(t));
	t.ops = &feed_ops;
	t.impl = &f;
	t.ext_len = size & 1;	/* both APDU paths */
	rt_card *card;
	rt_err *e = rt_card_open(&t, &card);
	if (e != NULL) {
		rt_err_free(e);
		return 0;
	}
	rt_contents ct;
	e = rt_contents_read(card, NULL, (time_t)1700000000, RT_CONTENTS_ALL_SLOTS,
	    &ct);
	if (e == NULL)
		rt_contents_free(&ct);
	rt_err_free(e);
	rt_card_close(card);
	return 0;
}
