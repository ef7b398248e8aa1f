/* fuzz_cmp.c - fuzz target for what the CMP code reads from the network:
 * the strict PKIMessage decoder (every body type, generalInfo, extraCerts),
 * then on what it accepts the protection check (with the message's last
 * extraCerts entry as trust anchor, so that chain building and signature
 * verification run), the POPO checks of certificate requests, and a
 * re-encoding that must decode again.
 *
 * Built with libFuzzer (`make fuzz`, clang) or with the replay/mutation
 * driver in driver.c (`make fuzz-smoke`, part of `make check`). */
#include <stdint.h>
#include <stdlib.h>

#include <mbedtls/x509_crt.h>

#include "raterm/cmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_protection(const cmp_msg *m)
{
	mbedtls_x509_crt trust;
	if (m->nextra_certs == 0)
		return;
	mbedtls_x509_crt_init(&trust);
	const cmp_buf *a = &m->extra_certs[m->nextra_certs - 1];
	if (mbedtls_x509_crt_parse_der(&trust, a->p, a->len) == 0) {
		cmp_verify_opts o = { 0 };
		size_t idx = 0;
		o.trust = &trust;
		o.now = 1795000000;	/* fixed: deterministic runs */
		o.max_skew = 300;
		o.transaction_id = m->hdr.transaction_id;
		rt_err_free(cmp_msg_verify(m, &o, &idx));
	}
	mbedtls_x509_crt_free(&trust);
}

static void
check_reencode(cmp_msg *m)
{
	uint8_t *der = NULL;
	size_t len = 0;
	cmp_msg *again = NULL;
	rt_err *e = cmp_msg_encode(m, NULL, NULL, &der, &len);
	if (e != NULL) {
		rt_err_free(e);	/* a model the encoder refuses: fine */
		return;
	}
	e = cmp_msg_decode(der, len, &again);
	if (e != NULL)
		abort();	/* we wrote what we cannot read */
	if (again->type != m->type || again->nreq != m->nreq ||
	    again->nresp != m->nresp || again->nconf != m->nconf)
		abort();
	cmp_msg_free(again);
	free(der);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cmp_msg *m = NULL;
	rt_err *e = cmp_msg_decode(data, size, &m);
	if (e != NULL) {
		rt_err_free(e);
		return 0;
	}
	check_protection(m);
	for (size_t i = 0; i < m->nreq; i++)
		if (m->req[i].popo == CMP_POPO_SIGNATURE)
			rt_err_free(cmp_popo_verify(m, i));
	check_reencode(m);
	cmp_msg_free(m);
	return 0;
}
