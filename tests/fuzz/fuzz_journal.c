/* fuzz_journal.c - fuzz target for the journal reader (src/engine/
 * journal.c): the input is an operation file of the station's journal
 * (a crash or a disk fault can leave anything there), read as recovery
 * reads it: rt_journal_read on its id, then rt_journal_incomplete over
 * the directory. Whatever the bytes, the reader must say torn, corrupt
 * or read, never crash or leak.
 *
 * Built with libFuzzer (`make fuzz`, clang) or with the replay/mutation
 * driver in driver.c (`make fuzz-smoke`, part of `make check`). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "raterm/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OP_ID "20260101T000000Z-1-fuzz"

static char dir[64];
static char path[128];
static rt_journal *jn;

static void
cleanup(void)
{
	rt_journal_close(jn);
	unlink(path);
	rmdir(dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (jn == NULL) {
		snprintf(dir, sizeof(dir), "/tmp/fuzz-journal-XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(path, sizeof(path), "%s/" OP_ID ".journal", dir);
		rt_err *e = rt_journal_open(dir, &jn);
		if (e != NULL)
			abort();
		atexit(cleanup);
	}
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);

	rt_jop op;
	rt_err *e = rt_journal_read(jn, OP_ID, &op);
	if (e == NULL) {
		for (size_t i = 0; i < op.nrecs; i++)
			(void)rt_jstep_name(op.recs[i].step);
		rt_jop_free(&op);
	} else
		rt_err_free(e);

	rt_jop *ops = NULL;
	size_t n = 0;
	if ((e = rt_journal_incomplete(jn, &ops, &n)) == NULL)
		rt_jops_free(ops, n);
	else
		rt_err_free(e);
	return 0;
}
