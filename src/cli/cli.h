/* cli.h - shared pieces of the raterm command line (src/cli only). */
#ifndef RATERM_CLI_H
#define RATERM_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "raterm/err.h"
#include "raterm/transport.h"
#include "raterm/util.h"

typedef struct {
	const char *trace_path;	/* --trace FILE */
	FILE *trace;
	bool verbose;
} cli_global;

/* Prints "raterm: <error>" on stderr and returns the exit code. */
int cli_fail(rt_err *e);
/* Prints a usage error and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) RT_PRINTF(2, 3);

/* Opens the reader named by spec: a PC/SC reader (see rt_pcsc_open) or
 * "vpiv:PATH" for an in-process virtual card. */
rt_err *cli_open_reader(const cli_global *g, const char *spec,
    rt_transport **out) RT_MUST;

/* JSON output: strings with rt_json_str() (raterm/util.h); bytes as a
 * hex string. */
void json_hex(FILE *f, const unsigned char *b, size_t n);

int cmd_readers(cli_global *g, int argc, char **argv);
int cmd_show(cli_global *g, int argc, char **argv);
/* the target card's PIN and PUK (cmd_pin.c) */
int cmd_pin(cli_global *g, int argc, char **argv);
/* crypto commands (cmd_crypto.c) */
int cmd_csr(cli_global *g, int argc, char **argv);
int cmd_verify_tc(cli_global *g, int argc, char **argv);
/* CMP commands (cmd_cmp.c) */
int cmd_request(cli_global *g, int argc, char **argv);
int cmd_revoke(cli_global *g, int argc, char **argv);
int cmd_cacerts(cli_global *g, int argc, char **argv);
/* configuration (cmd_config.c) and the update engine (cmd_update.c) */
int cmd_check_config(cli_global *g, int argc, char **argv);
int cmd_procedures(cli_global *g, int argc, char **argv);
int cmd_update(cli_global *g, int argc, char **argv);
int cmd_recover(cli_global *g, int argc, char **argv);

#endif
