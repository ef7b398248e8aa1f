/* fuzz_pinfd.c - fuzz target for the --pin-fd parser (src/cli/pin.c):
 * the input is what the caller writes to the descriptor (NAME=VALUE
 * lines), read through a pipe by cli_secrets_open, then every name the
 * command line asks for is looked up, known and forgotten. Whatever the
 * bytes, the parser must refuse or answer within the caller's buffer.
 *
 * Built with libFuzzer (`make fuzz`, clang) or with the replay/mutation
 * driver in driver.c (`make fuzz-smoke`, part of `make check`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/cli/cli_crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
	"card", "puk", "new", "officer", "mgmt", "key", "", "=", "card=",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd[2];
	if (size > 8192)	/* the pipe holds it; the parser reads 4 KiB */
		size = 8192;
	if (pipe(fd) != 0)
		abort();
	if (size > 0 && write(fd[1], data, size) != (ssize_t)size)
		abort();
	close(fd[1]);
	cli_secrets *s = NULL;
	rt_err *e = cli_secrets_open(fd[0], &s);	/* closes fd[0] */
	if (e != NULL) {
		rt_err_free(e);
		return 0;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char buf[16];
		size_t len = 0;
		(void)cli_secret_known(s, names[i]);
		if ((e = cli_secret_get(s, names[i], "fuzz", buf, sizeof(buf),
		    &len)) == NULL) {
			if (len > sizeof(buf))
				abort();
		} else
			rt_err_free(e);
		cli_secret_forget(s, names[i]);
	}
	cli_secrets_free(s);
	return 0;
}
