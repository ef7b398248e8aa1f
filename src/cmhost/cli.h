/* cli.h - the parts of the cmhost program (not in libcmhost): main.c has
 * the dispatcher, `init` and `serve`; admin.c the administrator's
 * subcommands (check, certs, audit, revoke, mgmt-key) and every
 * subcommand's usage. */
#ifndef CMHOST_CLI_H
#define CMHOST_CLI_H

#include <stdbool.h>

#include "raterm/cmhost.h"
#include "raterm/cmhost_db.h"
#include "raterm/err.h"

/* What a configuration file names, opened (main.c). */
typedef struct {
	cmh_config *cfg;
	cmh_db *db;
	struct cmh_kek *kek;	/* database.kek_file / kek_passphrase; NULL */
	cmh_ca *ca;
	cmh_service *svc;
} host;

/* What host_open opens beyond the configuration and the database: the
 * key-encryption key (asked on the terminal with kek_passphrase: ask, so
 * only for what handles management keys), the CA and the service. */
#define HOST_KEK  0x01
#define HOST_FULL 0x03		/* KEK, CA and service */
/* On error nothing stays open. */
rt_err *host_open(const char *file, unsigned what, host *h) RT_MUST;
void host_close(host *h);
/* `cmhost serve` (serve.c): returns the exit status. */
int cmd_serve(const char *file, const char *pidfile);
/* Prints "cmhost: MESSAGE" to stderr, frees e, returns its exit code. */
int report(rt_err *e);

/* Usage of subcommand cmd (NULL: of all) to stderr after "cmhost: why"
 * (when why is not NULL); returns 2. */
int cmh_usage(const char *cmd, const char *why);
/* `--help`: the usage and description of cmd (NULL: of all) to stdout;
 * returns 0, or 2 when cmd is no subcommand. */
int cmh_help(const char *cmd);
/* Whether argv[0..argc) asks for help (-h or --help). */
bool cmh_wants_help(int argc, char **argv);
/* Runs administrator subcommand cmd with its arguments (after its name);
 * returns the exit status (2 and the usage for an unknown cmd). */
int cmh_admin(const char *cmd, int argc, char **argv);

#endif
