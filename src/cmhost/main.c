/* main.c - the cmhost program: the reference CM host (see docs/cmhost.md
 * and cmhost(8)). The dispatcher, `init` and `serve` are here; the
 * administrator's subcommands (check, certs, audit, revoke, mgmt-key) and
 * every subcommand's usage are in admin.c.
 *
 *   cmhost init DIR [--port N]
 *   cmhost -c FILE [--pidfile FILE]          (also: cmhost serve -c FILE)
 *   cmhost SUBCOMMAND --help, cmhost -V | --version
 */
#include "cli.h"
#include "raterm/cmhost.h"
#include "raterm/cmhost_db.h"
#include "raterm/cmhost_kek.h"
#include "raterm/cmhost_publish.h"
#include "raterm/util.h"

#include <errno.h>
#include <stdint.h>
#include <strings.h>

#include <mbedtls/base64.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int
usage(const char *why)
{
	return cmh_usage("init", why);
}

int
report(rt_err *e)
{
	char m[600];
	int rc = rt_err_exit_code(e);
	rt_err_format(e, m, sizeof(m));
	fprintf(stderr, "cmhost: %s\n", m);
	rt_err_free(e);
	return rc;
}

/* ---- init ------------------------------------------------------------------ */

static int
cmd_init(int argc, char **argv)
{
	const char *dir = NULL;
	unsigned long port = 0;
	bool created;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			char *end;
			port = strtoul(argv[++i], &end, 10);
			if (*end != '\0' || port == 0 || port > 65535)
				return usage("--port: a number from 1 to 65535");
		} else if (argv[i][0] == '-') {
			char m[300];
			snprintf(m, sizeof(m), "unknown option '%s'", argv[i]);
			return usage(m);
		}
		else if (dir == NULL)
			dir = argv[i];
		else
			return usage("one directory");
	}
	if (dir == NULL)
		return usage("which directory?");
	rt_err *e = cmh_init(dir, (unsigned)port, &created);
	if (e != NULL)
		return report(e);
	char path[4096];
	cmh_config *c;
	snprintf(path, sizeof(path), "%s/cmhost.yaml", dir);
	if ((e = cmh_config_load(path, &c)) != NULL)
		return report(e);
	char url[300];
	cmh_config_url(c, url, sizeof(url));
	cmh_config_free(c);
	if (!created)
		fprintf(stderr, "cmhost: %s exists: nothing changed\n", path);
	printf("%s\n", url);
	return 0;
}

/* ---- common: open what a config names ------------------------------------------ */

void
host_close(host *h)
{
	cmh_service_free(h->svc);
	cmh_ca_free(h->ca);
	cmh_db_close(h->db);
	cmh_kek_free(h->kek);
	cmh_config_free(h->cfg);
	memset(h, 0, sizeof(*h));
}

/* The KEK of the management keys (secrets at rest): rows an older
 * database kept in clear are sealed now. */
static rt_err *
host_kek(host *h)
{
	unsigned n = 0;
	rt_err *e = cmh_kek_attach(h->cfg, h->db, &h->kek, &n);
	if (e == NULL && n > 0)
		fprintf(stderr, "cmhost: %u management key(s) kept in clear "
		    "sealed under the key-encryption key %s\n", n,
		    cmh_kek_source(h->kek));
	return e;
}

rt_err *
host_open(const char *file, unsigned what, host *h)
{
	rt_err *e;
	memset(h, 0, sizeof(*h));
	if ((e = cmh_config_load(file, &h->cfg)) != NULL ||
	    (e = cmh_db_open_config(h->cfg, false, &h->db)) != NULL ||
	    ((what & HOST_KEK) && (e = host_kek(h)) != NULL))
		goto fail;
	if ((what & HOST_FULL) == HOST_FULL && ((e = cmh_ca_load(h->cfg, &h->ca)) != NULL ||
	    (e = cmh_service_new(h->cfg, h->ca, h->db, &h->svc)) != NULL))
		goto fail;
	return NULL;
fail:
	host_close(h);
	return e;
}

/* ---- main -------------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	const char *cmd = "serve", *file = NULL, *pidfile = NULL;
	int i = 1;

	rt_no_core_dumps();
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return cmh_help(NULL);
	if (argc >= 2 && (!strcmp(argv[1], "-V") ||
	    !strcmp(argv[1], "--version"))) {
		printf("cmhost %s\n", RATERM_VERSION);
		return 0;
	}
	if (argc >= 2 && argv[1][0] != '-') {
		cmd = argv[1];
		i = 2;
	}
	if (cmh_wants_help(argc - i, argv + i))
		return cmh_help(cmd);
	if (!strcmp(cmd, "init"))
		return cmd_init(argc - i, argv + i);
	if (strcmp(cmd, "serve") != 0)
		return cmh_admin(cmd, argc - i, argv + i);
	for (; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;
		char m[300];
		if (!strcmp(a, "-c") && has)
			file = argv[++i];
		else if (!strcmp(a, "--pidfile") && has)
			pidfile = argv[++i];
		else {
			if (a[0] != '-')
				snprintf(m, sizeof(m), "unexpected argument '%s'", a);
			else if (!strcmp(a, "-c") || !strcmp(a, "--pidfile"))
				snprintf(m, sizeof(m), "option '%s' needs a value", a);
			else
				snprintf(m, sizeof(m), "unknown option '%s'", a);
			return cmh_usage("serve", m);
		}
	}
	if (file == NULL)
		return cmh_usage("serve", "-c FILE is required");
	return cmd_serve(file, pidfile);
}
