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
	    (e = cmh_db_open(h->cfg->db_path, &h->db)) != NULL ||
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

/* ---- serve ------------------------------------------------------------------------ */

/* The CRL (GET /crl/ca.crl) and the OCSP responder (POST /ocsp with
 * application/ocsp-request, GET /ocsp/BASE64 as RFC 6960 A.1). */
typedef struct {
	host *h;
	cmh_publisher *crl;
} pubctx;

static rt_err *
pub_handle(void *ctx, const char *method, const char *url,
    const char *ctype_in, const uint8_t *body, size_t len, unsigned *status,
    const char **ctype, uint8_t **rsp, size_t *rsp_len)
{
	pubctx *pc = ctx;
	const cmh_ca *ca = pc->h->ca;
	time_t now = time(NULL);
	*status = 0;
	if (strcmp(method, "GET") == 0 && strcmp(url, "/crl/ca.crl") == 0) {
		*status = 200;
		*ctype = "application/pkix-crl";
		return cmh_publisher_crl(pc->crl, now, rsp, rsp_len, NULL);
	}
	if (strncmp(url, "/ocsp", 5) != 0)
		return NULL;
	uint8_t *req = NULL;
	size_t rlen = 0;
	if (strcmp(method, "POST") == 0 && strcmp(url, "/ocsp") == 0) {
		if (strncasecmp(ctype_in, "application/ocsp-request", 24) != 0) {
			*status = 415;
			*ctype = "text/plain";
			const char m[] = "Content-Type must be application/ocsp-request\n";
			if ((*rsp = malloc(sizeof(m) - 1)) == NULL)
				return rt_err_new(RT_E_NOMEM, NULL, "OCSP");
			memcpy(*rsp, m, sizeof(m) - 1);
			*rsp_len = sizeof(m) - 1;
			return NULL;
		}
		req = (uint8_t *)(uintptr_t)body;
		rlen = len;
	} else if (strcmp(method, "GET") == 0 && url[5] == '/') {
		/* the request, base64 (the path is URL-decoded already) */
		size_t cap = strlen(url + 6);
		if ((req = malloc(cap + 1)) == NULL)
			return rt_err_new(RT_E_NOMEM, NULL, "OCSP");
		if (mbedtls_base64_decode(req, cap, &rlen,
		    (const unsigned char *)url + 6, strlen(url + 6)) != 0)
			rlen = 0;	/* malformed: answered malformedRequest */
	} else
		return NULL;
	const mbedtls_x509_crt *rcert;
	rt_signer *rs = cmh_ca_ocsp_signer(ca, &rcert);
	rt_err *e = cmh_ocsp_answer(cmh_ca_cert(ca), rcert, rs, pc->h->db,
	    req, rlen, now, pc->h->cfg->ocsp_validity, rsp, rsp_len);
	if (req != body)
		free(req);
	*status = 200;
	*ctype = "application/ocsp-response";
	return e;
}

static void
sweep(host *h)
{
	unsigned n = 0;
	time_t now = time(NULL);
	rt_err *e = cmh_db_sweep(h->db, (int64_t)now, h->cfg->grace_seconds, &n);
	if (e == NULL && n > 0) {
		char d[80];
		snprintf(d, sizeof(d), "%u unconfirmed or rejected certificate(s)",
		    n);
		e = cmh_db_audit(h->db, (int64_t)now, "cmhost", "-", "revoke",
		    d, "ok: confirmation grace time over");
		fprintf(stderr, "cmhost: revoked %s\n", d);
	}
	if (e != NULL)
		(void)report(e);
}

static int
cmd_serve(const char *file, const char *pidfile)
{
	host h;
	cmh_server *srv = NULL;
	sigset_t set;
	rt_err *e;
	int rc = 0;

	/* block the signals before any thread starts; wait for them below */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((e = host_open(file, HOST_FULL, &h)) != NULL)
		return report(e);
	if (pidfile == NULL)
		pidfile = h.cfg->pidfile;
	sweep(&h);
	pubctx pc = { &h, NULL };
	if ((e = cmh_publisher_new(cmh_ca_cert(h.ca), cmh_ca_signer(h.ca), h.db,
	    h.cfg->crl_validity, h.cfg->crl_file, &pc.crl)) != NULL) {
		host_close(&h);
		return report(e);
	}
	if (h.cfg->crl_file != NULL) {
		/* published at start; later when it changes */
		uint8_t *c;
		size_t cl;
		if ((e = cmh_publisher_crl(pc.crl, time(NULL), &c, &cl, NULL)) !=
		    NULL) {
			cmh_publisher_free(pc.crl);
			host_close(&h);
			return report(e);
		}
		free(c);
	}
	if ((e = cmh_server_start_pub(h.cfg, cmh_service_http, h.svc, pub_handle,
	    &pc, &srv)) != NULL) {
		cmh_publisher_free(pc.crl);
		host_close(&h);
		return report(e);
	}
	if (pidfile != NULL) {
		FILE *f = fopen(pidfile, "w");
		if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 ||
		    fclose(f) != 0) {
			fprintf(stderr, "cmhost: %s: %s\n", pidfile, strerror(errno));
			cmh_server_stop(srv);
			cmh_publisher_free(pc.crl);
			host_close(&h);
			return 1;
		}
	}
	char url[300];
	cmh_config_url(h.cfg, url, sizeof(url));
	fprintf(stderr, "cmhost: serving %s (%u threads, database %s)\n", url,
	    h.cfg->threads, h.cfg->db_path);

	unsigned interval = h.cfg->grace_seconds / 4;
	if (interval < 1)
		interval = 1;
	if (interval > 60)
		interval = 60;
	for (;;) {
		struct timespec ts = { (time_t)interval, 0 };
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
			fprintf(stderr, "cmhost: signal %d: stopping\n", sig);
			break;
		}
		if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "cmhost: sigtimedwait: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		if (sig < 0 && errno == EAGAIN) {
			sweep(&h);
			if (h.cfg->crl_file != NULL) {
				/* a new CRL file when something was revoked */
				uint8_t *c = NULL;
				size_t cl;
				rt_err *ce = cmh_publisher_crl(pc.crl, time(NULL), &c,
				    &cl, NULL);
				free(c);
				if (ce != NULL)
					(void)report(ce);
			}
		}
	}
	cmh_server_stop(srv);
	cmh_publisher_free(pc.crl);
	if (pidfile != NULL)
		unlink(pidfile);
	host_close(&h);
	fprintf(stderr, "cmhost: stopped\n");
	return rc;
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
