/* serve.c - `cmhost serve`: the server around the CMP service, the CRL
 * and OCSP (publish.c), /health and /metrics, the request log, the
 * grace-period sweep, and the signals: SIGHUP reloads officers, profiles,
 * policy and the TLS files without dropping a connection; SIGTERM and
 * SIGINT stop accepting and let the requests in flight finish. See
 * docs/cmhost.md ("Logs, health and metrics", "Signals"). */
#include "cli.h"
#include "raterm/cmhost.h"
#include "raterm/cmhost_db.h"
#include "raterm/cmhost_observe.h"
#include "raterm/cmhost_publish.h"
#include "raterm/util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/base64.h>

typedef struct {
	const char *file;
	host h;			/* h.cfg and h.svc: the current ones (lock) */
	cmh_config *first;	/* the configuration the server started with:
				 * the listener keeps it (listen.*) */
	pthread_rwlock_t lock;	/* requests read h.cfg/h.svc, a reload swaps */
	cmh_publisher *crl;
	cmh_log *log;
	cmh_metrics *metrics;
	cmh_server *srv;
	time_t started;
} serving;

/* A message of the server's life (start, reload, stop): stderr, and the
 * log when it is a file. */
static void note(serving *sv, const char *fmt, ...) RT_PRINTF(2, 3);
static void
note(serving *sv, const char *fmt, ...)
{
	char m[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	fprintf(stderr, "cmhost: %s\n", m);
	if (sv->log != NULL && sv->first != NULL && sv->first->log_file != NULL)
		cmh_log_info(sv->log, m);
}

/* An error of the server's own work (sweep, CRL file): stderr and log. */
static void
note_err(serving *sv, const char *what, rt_err *e)
{
	char m[500];
	rt_err_format(e, m, sizeof(m));
	rt_err_free(e);
	note(sv, "%s: %s", what, m);
}

/* ---- CMP, through the current service ----------------------------------- */

static rt_err *
serve_cmp(void *ctx, const uint8_t *req, size_t len, const char *station,
    bool confidential, uint8_t **rsp, size_t *rsp_len, cmh_req_info *info)
{
	serving *sv = ctx;
	pthread_rwlock_rdlock(&sv->lock);
	rt_err *e = cmh_service_http(sv->h.svc, req, len, station,
	    confidential, rsp, rsp_len, info);
	pthread_rwlock_unlock(&sv->lock);
	return e;
}

/* ---- /health and /metrics ------------------------------------------------- */

/* The answer written to an open_memstream of *buf, *n: closed (which
 * sets them) and handed over. */
static rt_err *
memstream_done(FILE *f, char **buf, size_t *n, uint8_t **rsp,
    size_t *rsp_len)
{
	if (fclose(f) != 0) {
		free(*buf);
		return rt_err_new(RT_E_NOMEM, NULL, "answer");
	}
	*rsp = (uint8_t *)*buf;
	*rsp_len = *n;
	return NULL;
}

/* 200 when the database answers, the CA key is loaded and the CRL is
 * fresh (made, nextUpdate ahead); else 503 naming what is wrong. */
static rt_err *
health(serving *sv, time_t now, unsigned *status, uint8_t **rsp,
    size_t *rsp_len)
{
	char db[300] = "ok", crl[300] = "ok", next[40] = "";
	rt_err *e;
	if ((e = cmh_db_ping(sv->h.db)) != NULL) {
		rt_err_format(e, db, sizeof(db));
		rt_err_free(e);
	}
	uint8_t *c = NULL;
	size_t cl;
	if ((e = cmh_publisher_crl(sv->crl, now, &c, &cl, NULL)) != NULL) {
		rt_err_format(e, crl, sizeof(crl));
		rt_err_free(e);
	}
	free(c);
	time_t nu = cmh_publisher_next_update(sv->crl);
	if (nu != 0)
		rt_time_iso((int64_t)nu, -1, next, sizeof(next));
	if (e == NULL && nu <= now)
		snprintf(crl, sizeof(crl), "stale: nextUpdate %s has passed",
		    nu ? next : "(none)");
	bool ca = sv->h.ca != NULL && cmh_ca_signer(sv->h.ca) != NULL;
	bool ok = strcmp(db, "ok") == 0 && strcmp(crl, "ok") == 0 && ca;
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (f == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "health");
	fprintf(f, "{\"status\":\"%s\",\"database\":", ok ? "ok" : "fail");
	rt_json_str(f, db);
	fprintf(f, ",\"ca_key\":\"%s\",\"crl\":", ca ? "ok" : "not loaded");
	rt_json_str(f, crl);
	fputs(",\"crl_next_update\":", f);
	rt_json_str(f, nu ? next : NULL);
	fputs("}\n", f);
	*status = ok ? 200 : 503;
	return memstream_done(f, &buf, &n, rsp, rsp_len);
}

static rt_err *
metrics(serving *sv, uint8_t **rsp, size_t *rsp_len)
{
	cmh_metrics_certs certs = { 0 };
	unsigned n[CMH_CERT_NSTATES];
	rt_err *e = cmh_db_cert_states(sv->h.db, n);
	if (e == NULL) {
		certs.have = true;
		for (int i = 0; i < CMH_CERT_NSTATES && i < 4; i++)
			certs.n[i] = n[i];
	} else
		rt_err_free(e);
	char *out;
	size_t len;
	if ((e = cmh_metrics_render(sv->metrics, &certs, sv->started, &out,
	    &len)) != NULL)
		return e;
	*rsp = (uint8_t *)out;
	*rsp_len = len;
	return NULL;
}

/* ---- the CRL, OCSP, /health, /metrics ------------------------------------ */

/* GET /crl/ca.crl; POST /ocsp (application/ocsp-request) and GET
 * /ocsp/BASE64 (RFC 6960 A.1); GET /health; GET /metrics. */
static rt_err *
pub_handle(void *ctx, const char *method, const char *url,
    const char *ctype_in, const uint8_t *body, size_t len, unsigned *status,
    const char **ctype, uint8_t **rsp, size_t *rsp_len)
{
	serving *sv = ctx;
	time_t now = time(NULL);
	*status = 0;
	if (strcmp(method, "GET") == 0 && strcmp(url, "/crl/ca.crl") == 0) {
		*status = 200;
		*ctype = "application/pkix-crl";
		return cmh_publisher_crl(sv->crl, now, rsp, rsp_len, NULL);
	}
	if (strcmp(method, "GET") == 0 && strcmp(url, "/health") == 0) {
		*ctype = "application/json";
		return health(sv, now, status, rsp, rsp_len);
	}
	if (strcmp(method, "GET") == 0 && strcmp(url, "/metrics") == 0) {
		*status = 200;
		*ctype = "text/plain; version=0.0.4";
		return metrics(sv, rsp, rsp_len);
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
	rt_signer *rs = cmh_ca_ocsp_signer(sv->h.ca, &rcert);
	pthread_rwlock_rdlock(&sv->lock);
	int64_t validity = sv->h.cfg->ocsp_validity;
	pthread_rwlock_unlock(&sv->lock);
	rt_err *e = cmh_ocsp_answer(cmh_ca_cert(sv->h.ca), rcert, rs, sv->h.db,
	    req, rlen, now, validity, rsp, rsp_len);
	if (req != body)
		free(req);
	*status = 200;
	*ctype = "application/ocsp-response";
	return e;
}

/* ---- the grace-period sweep -------------------------------------------- */

static void
sweep(serving *sv)
{
	unsigned n = 0;
	time_t now = time(NULL);
	rt_err *e = cmh_db_sweep(sv->h.db, (int64_t)now,
	    sv->h.cfg->grace_seconds, &n);
	if (e == NULL && n > 0) {
		char d[80];
		snprintf(d, sizeof(d), "%u unconfirmed or rejected certificate(s)",
		    n);
		e = cmh_db_audit(sv->h.db, (int64_t)now, "cmhost", "-", "revoke",
		    d, "ok: confirmation grace time over");
		note(sv, "revoked %s", d);
	}
	if (e != NULL)
		note_err(sv, "sweep", e);
}

/* revocation.crl_file: written when the CRL changed (a revocation, half
 * its validity gone) */
static rt_err *
publish_file(serving *sv)
{
	uint8_t *c = NULL;
	size_t cl;
	rt_err *e = NULL;
	if (sv->first->crl_file != NULL)
		e = cmh_publisher_crl(sv->crl, time(NULL), &c, &cl, NULL);
	free(c);
	return e;
}

/* ---- SIGHUP ------------------------------------------------------------- */

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Names the settings of n that differ from o but take a restart: the
 * listener, the database, the keys, the log, the CRL publisher. */
static void
needs_restart(const cmh_config *o, const cmh_config *n, char *out, size_t cap)
{
	struct { const char *name; bool same; } f[] = {
		{ "listen.address", same_str(o->address, n->address) },
		{ "listen.port", o->port == n->port },
		{ "listen.path", same_str(o->path, n->path) },
		{ "listen.threads", o->threads == n->threads },
		{ "listen.tls_cert (on/off)",
		    (o->tls_cert == NULL) == (n->tls_cert == NULL) },
		{ "listen.max_request", o->max_request == n->max_request },
		{ "listen.max_connections_per_client",
		    o->per_client == n->per_client },
		{ "listen.idle_timeout", o->idle_timeout == n->idle_timeout },
		{ "listen.request_timeout",
		    o->request_timeout == n->request_timeout },
		{ "listen.mgmt_keys_over_http",
		    o->mgmt_over_http == n->mgmt_over_http },
		{ "listen.trusted_proxies",
		    o->ntrusted_proxies == n->ntrusted_proxies },
		{ "log", o->log_json == n->log_json &&
		    same_str(o->log_file, n->log_file) },
		{ "database", same_str(o->db_path, n->db_path) &&
		    same_str(o->db_url, n->db_url) &&
		    same_str(o->db_password_file, n->db_password_file) &&
		    same_str(o->kek_file, n->kek_file) && o->kek_ask == n->kek_ask &&
		    o->db_pool == n->db_pool },
		{ "ca", same_str(o->ca_cert, n->ca_cert) &&
		    same_str(o->ca_key, n->ca_key) &&
		    same_str(o->ca_chain, n->ca_chain) &&
		    same_str(o->cmp_cert, n->cmp_cert) &&
		    same_str(o->cmp_key, n->cmp_key) &&
		    same_str(o->ocsp_cert, n->ocsp_cert) &&
		    same_str(o->ocsp_key, n->ocsp_key) },
		{ "revocation.crl_validity", o->crl_validity == n->crl_validity },
		{ "revocation.crl_file", same_str(o->crl_file, n->crl_file) },
	};
	for (size_t i = 0; i < o->ntrusted_proxies && f[10].same; i++)
		f[10].same = strcmp(o->trusted_proxies[i],
		    n->trusted_proxies[i]) == 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (f[i].same)
			continue;
		size_t l = strlen(out);
		snprintf(out + l, cap - l, "%s%s", l ? ", " : "", f[i].name);
	}
}

/* The configuration file read again: officers, officer CAs, profiles,
 * the policy settings, OCSP validity, revocation URLs, the grace time and
 * the TLS files take effect for the next request; what takes a restart is
 * named and stays as it runs. All or nothing: a file that does not load
 * (or TLS files that do not) leaves everything as it was. Requests in
 * flight finish on the old service; none waits longer than the swap. */
static void
reload(serving *sv)
{
	cmh_config *nc = NULL;
	cmh_service *ns = NULL;
	rt_err *e;
	if ((e = cmh_config_load(sv->file, &nc)) == NULL &&
	    (e = cmh_service_new(nc, sv->h.ca, sv->h.db, &ns)) == NULL &&
	    sv->first->tls_cert != NULL && nc->tls_cert != NULL)
		e = cmh_server_reload_tls(sv->srv, nc->tls_cert, nc->tls_key);
	if (e != NULL) {
		cmh_service_free(ns);
		cmh_config_free(nc);
		cmh_metrics_reload(sv->metrics, false);
		note_err(sv, "SIGHUP: the configuration stays as it runs", e);
		return;
	}
	char fixed[600];
	needs_restart(sv->first, nc, fixed, sizeof(fixed));
	pthread_rwlock_wrlock(&sv->lock);
	cmh_config *oc = sv->h.cfg;
	cmh_service *os = sv->h.svc;
	sv->h.cfg = nc;
	sv->h.svc = ns;
	pthread_rwlock_unlock(&sv->lock);
	cmh_service_free(os);
	if (oc != sv->first)
		cmh_config_free(oc);
	if ((e = cmh_log_reopen(sv->log)) != NULL)
		note_err(sv, "SIGHUP: log file", e);
	cmh_metrics_reload(sv->metrics, true);
	note(sv, "SIGHUP: reloaded %s (%zu officers, %zu profiles%s)%s%s",
	    sv->file, nc->nofficers, nc->nprofiles,
	    nc->tls_cert != NULL && sv->first->tls_cert != NULL ?
	    ", TLS files" : "", fixed[0] ? "; needs a restart, kept as "
	    "running: " : "", fixed);
}

/* ---- serve ---------------------------------------------------------------- */

static int
stop_all(serving *sv, const char *pidfile, int rc)
{
	cmh_server_stop(sv->srv);
	cmh_publisher_free(sv->crl);
	if (pidfile != NULL && sv->srv != NULL)
		unlink(pidfile);
	if (sv->h.cfg != sv->first)
		cmh_config_free(sv->first);
	host_close(&sv->h);
	cmh_metrics_free(sv->metrics);
	cmh_log_close(sv->log);
	pthread_rwlock_destroy(&sv->lock);
	return rc;
}

int
cmd_serve(const char *file, const char *pidfile)
{
	serving sv;
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

	memset(&sv, 0, sizeof(sv));
	sv.file = file;
	sv.started = time(NULL);
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	/* a reload waits for the requests in flight, new ones wait for it */
	pthread_rwlockattr_setkind_np(&ra,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&sv.lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	if ((e = host_open(file, HOST_FULL, &sv.h)) != NULL) {
		pthread_rwlock_destroy(&sv.lock);
		return report(e);
	}
	sv.first = sv.h.cfg;
	if (pidfile == NULL)
		pidfile = sv.first->pidfile;
	if ((e = cmh_log_open(sv.first->log_json ? CMH_LOG_JSON : CMH_LOG_PLAIN,
	    sv.first->log_file, &sv.log)) != NULL ||
	    (e = cmh_metrics_new(&sv.metrics)) != NULL ||
	    (e = cmh_publisher_new(cmh_ca_cert(sv.h.ca), cmh_ca_signer(sv.h.ca),
	    sv.h.db, sv.first->crl_validity, sv.first->crl_file, &sv.crl)) !=
	    NULL)
		return stop_all(&sv, NULL, report(e));
	sweep(&sv);
	if ((e = publish_file(&sv)) != NULL)	/* published at start */
		return stop_all(&sv, NULL, report(e));
	cmh_server_opts so = {
		.fn = serve_cmp, .ctx = &sv, .pub = pub_handle, .pub_ctx = &sv,
		.log = sv.log, .metrics = sv.metrics,
	};
	if ((e = cmh_server_start_opts(sv.first, &so, &sv.srv)) != NULL)
		return stop_all(&sv, NULL, report(e));
	if (pidfile != NULL) {
		FILE *f = fopen(pidfile, "w");
		if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 ||
		    fclose(f) != 0) {
			fprintf(stderr, "cmhost: %s: %s\n", pidfile, strerror(errno));
			return stop_all(&sv, pidfile, 1);
		}
	}
	char url[300];
	cmh_config_url(sv.first, url, sizeof(url));
	note(&sv, "serving %s (%u threads, database %s)", url,
	    sv.first->threads, cmh_db_label(sv.h.db));

	for (;;) {
		unsigned interval = sv.h.cfg->grace_seconds / 4;
		interval = interval < 1 ? 1 : interval > 60 ? 60 : interval;
		struct timespec ts = { (time_t)interval, 0 };
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGHUP) {
			reload(&sv);
			continue;
		}
		if (sig == SIGTERM || sig == SIGINT) {
			note(&sv, "signal %d: stopping (requests in flight "
			    "finish)", sig);
			break;
		}
		if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "cmhost: sigtimedwait: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		if (sig < 0 && errno == EAGAIN) {
			sweep(&sv);
			if ((e = publish_file(&sv)) != NULL)
				note_err(&sv, "CRL file", e);
		}
	}
	rc = stop_all(&sv, pidfile, rc);
	fprintf(stderr, "cmhost: stopped\n");
	return rc;
}
