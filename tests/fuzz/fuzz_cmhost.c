/* fuzz_cmhost.c - fuzz target for cmhost's request handling: the input is
 * a whole HTTP request body (a DER PKIMessage or anything else) handed to
 * the CMP service in process (cmhost_inproc.h: a `cmhost init` PKI and a
 * SQLite database in a temporary directory, made once), as the HTTP
 * server hands it over. Whatever the bytes, the service must answer (a
 * CMP error message for every refusal), never crash or leak.
 *
 * Built with libFuzzer (`make fuzz`, clang) or with the replay/mutation
 * driver in driver.c (`make fuzz-smoke`, part of `make check`). */
#include <stdint.h>
#include <stdlib.h>

#include "raterm/cmhost_inproc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cmh_inproc *ip;
static cmp_client_opts co;

static void
cleanup(void)
{
	cmh_inproc_free(ip);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (ip == NULL) {
		rt_err *e = cmh_inproc_new(NULL, &ip);
		if (e != NULL)
			abort();
		cmh_inproc_client_opts(ip, &co);
		atexit(cleanup);
	}
	uint8_t *rsp = NULL;
	size_t rlen = 0;
	rt_err *e = co.transport(co.transport_ctx, data, size, &rsp, &rlen);
	if (e == NULL && (rsp == NULL || rlen == 0))
		abort();	/* an answer for every request */
	free(rsp);
	rt_err_free(e);
	return 0;
}
