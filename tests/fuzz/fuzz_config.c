/* fuzz_config.c - fuzz target for the configuration parsers: every input
 * is parsed as a station configuration (raterm.yaml), as a procedure
 * (a file of procedures.d) and as an update job file (raterm update
 * --batch), and every diagnostic is formatted. Whatever the
 * bytes, the parsers must end with diagnostics, never a crash or a leak.
 *
 * Built with libFuzzer (`make fuzz`, clang) or with the replay/mutation
 * driver in driver.c (`make fuzz-smoke`, part of `make check`). */
#include <stdint.h>
#include <stdlib.h>

#include "raterm/config.h"
#include "raterm/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
run(size_t (*parse)(rt_config *, const char *, const char *, size_t),
    const uint8_t *data, size_t size)
{
	rt_config *c = NULL;
	char line[512];
	rt_err *e = rt_config_new(&c);
	if (e != NULL) {
		rt_err_free(e);
		return;
	}
	size_t nerr = parse(c, "fuzz.yaml", (const char *)data, size);
	if (nerr > c->ndiags)
		abort();	/* an error counted but not recorded */
	for (size_t i = 0; i < c->ndiags; i++)
		rt_cfg_diag_format(&c->diags[i], line, sizeof(line));
	rt_config_free(c);
}

static void
run_job(const uint8_t *data, size_t size)
{
	rt_job *j = NULL;
	char line[512];
	rt_err *e = rt_job_new(&j);
	if (e != NULL) {
		rt_err_free(e);
		return;
	}
	size_t nerr = rt_job_parse(j, "fuzz-job.yaml", (const char *)data, size);
	if (nerr > j->ndiags)
		abort();
	for (size_t i = 0; i < j->ndiags; i++)
		rt_cfg_diag_format(&j->diags[i], line, sizeof(line));
	rt_job_free(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(rt_config_parse_station, data, size);
	run(rt_config_parse_procedure, data, size);
	run_job(data, size);
	return 0;
}
