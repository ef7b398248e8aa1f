/* fuzz_vpiv.c - fuzz target for vpiv's card core as a hostile host sees
 * it: a blank in-memory card (default PIN, PUK and management key) gets
 * a sequence of command APDUs cut from the input, each a 2-byte
 * big-endian length then that many bytes (cut to what is left), at most
 * 64 of them. Whatever the commands, the card must answer with a status
 * word and never write past the response buffer, crash or leak.
 *
 * Built with libFuzzer (`make fuzz`, clang) or with the replay/mutation
 * driver in driver.c (`make fuzz-smoke`, part of `make check`). */
#include <stdint.h>
#include <stdlib.h>

#include "raterm/vpiv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RSP_CAP 4096

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t rsp[RSP_CAP];
	vpiv *v = NULL;
	rt_err *e = vpiv_open(NULL, &v);
	if (e != NULL) {
		rt_err_free(e);
		return 0;
	}
	for (int n = 0; n < 64 && size >= 2; n++) {
		size_t len = (size_t)data[0] << 8 | data[1];
		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		if (len == 0) {		/* an empty command: a power cycle */
			vpiv_reset(v);
			continue;
		}
		size_t rlen = 0;
		if ((e = vpiv_apdu(v, data, len, rsp, sizeof(rsp), &rlen)) != NULL)
			rt_err_free(e);
		else if (rlen < 2 || rlen > sizeof(rsp))
			abort();	/* every answer ends with a status word */
		data += len;
		size -= len;
	}
	vpiv_free(v);
	return 0;
}
