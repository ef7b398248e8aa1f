/* server.c - CMP over HTTP(S) (RFC 6712) with libmicrohttpd; see
 * include/raterm/cmhost.h. The server knows nothing of CMP: it hands
 * request bodies to a handler and sends back what it returns. */
#include "raterm/cmhost.h"
#include "raterm/cmhost_observe.h"
#include "raterm/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <pthread.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

#define CMP_CT "application/pkixcmp"
#define HTTP_TOO_LARGE 413	/* MHD renamed its constant in 0.9.74 */

/* The TLS certificate chain and key, as GnuTLS hands them to a
 * handshake. A reload makes new ones; the old stay until the server
 * stops (a handshake may still hold them; reloads are rare). */
typedef struct tls_creds {
	gnutls_pcert_st pcert[8];
	unsigned npcert;
	gnutls_privkey_t key;
	struct tls_creds *older;
} tls_creds;

struct cmh_server {
	struct MHD_Daemon *d;
	const cmh_config *cfg;
	cmh_handler_fn fn;
	void *ctx;
	cmh_pub_fn pub;		/* other paths: the CRL, OCSP; NULL: 404 */
	void *pub_ctx;
	cmh_log *log;
	cmh_metrics *metrics;
	tls_creds *tls;		/* the current ones (tls_mu) */
	/* requests whose headers arrived and whose answer is not yet sent
	 * (on_request to on_completed): what a stop waits for, where idle
	 * keep-alive connections are closed at once */
	atomic_uint inflight;
	atomic_bool stopping;	/* answers say Connection: close */
};

/* GnuTLS's certificate callback has no closure: the process's one TLS
 * server (cmhost serves one) */
static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;
static cmh_server *tls_server;

typedef struct {
	uint8_t *buf;
	size_t len, cap;
	int refuse;		/* HTTP status to answer with, 0: fine so far */
	bool pub;		/* for s->pub, not CMP */
	char ctype[80];		/* pub: the request's Content-Type */
	struct timespec start;	/* the headers' arrival (CLOCK_MONOTONIC) */
	/* for the request log and metrics (on_completed) */
	struct timespec at;	/* the headers' arrival (CLOCK_REALTIME) */
	char method[12];
	char path[120];
	char client[160];
	unsigned status;	/* the answer's, 0: none sent */
	cmh_req_info info;
} upload;

#define HTTP_REQUEST_TIMEOUT 408

static MHD_Result_t
reply(cmh_server *s, struct MHD_Connection *conn, unsigned status,
    const void *body, size_t len, const char *ct,
    enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len,
	    (void *)body, mode);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	/* stopping: the connection closes after this answer, not kept
	 * alive for another request the server would not finish */
	if (atomic_load(&s->stopping))
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	MHD_Result_t rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static MHD_Result_t
reply_text(cmh_server *s, struct MHD_Connection *conn, unsigned status,
    const char *text)
{
	return reply(s, conn, status, text, strlen(text), "text/plain",
	    MHD_RESPMEM_PERSISTENT);
}

/* Whether the text address a (no port) is a loopback address
 * (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). */
static bool
is_loopback(const char *a)
{
	struct in_addr v4;
	struct in6_addr v6;
	if (inet_pton(AF_INET, a, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, a, &v6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&v6) ||
		    (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
	return false;
}

/* The peer's address (no port) into addr and "addr:port" into out. */
static void
peer_of(struct MHD_Connection *conn, char *addr, size_t acap, char *out,
    size_t cap)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(addr, acap, "?");
	snprintf(out, cap, "?");
	if (ci == NULL || ci->client_addr == NULL)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, addr, (socklen_t)acap);
		snprintf(out, cap, "%s:%u", addr, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, addr, (socklen_t)acap);
		snprintf(out, cap, "[%s]:%u", addr, ntohs(s6->sin6_port));
	}
}

/* MHD_get_connection_values iterator: the last X-Forwarded-For header
 * line into *cls. A proxy such as HAProxy (option forwardfor) adds a line
 * of its own after any the client sent, so the first line may be the
 * client's invention. */
static MHD_Result_t
last_xff(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	(void)kind;
	if (key != NULL && value != NULL &&
	    strcasecmp(key, "X-Forwarded-For") == 0)
		*(const char **)cls = value;
	return MHD_YES;
}

/* The client of a request: the peer, or, when the peer is a configured
 * trusted proxy, the last address of its last X-Forwarded-For line (the
 * one the proxy appended; earlier ones come from the client and prove
 * nothing). out: "addr:port" of the peer, or "addr (via proxy:port)".
 * Returns whether the client is on loopback. */
static bool
station_of(const cmh_server *s, struct MHD_Connection *conn, char *out,
    size_t cap)
{
	char addr[INET6_ADDRSTRLEN], peer[80];
	peer_of(conn, addr, sizeof(addr), peer, sizeof(peer));
	snprintf(out, cap, "%s", peer);
	bool trusted = false;
	for (size_t i = 0; i < s->cfg->ntrusted_proxies && !trusted; i++) {
		unsigned char a[16], b[16];
		int fa = strchr(addr, ':') ? AF_INET6 : AF_INET;
		int fb = strchr(s->cfg->trusted_proxies[i], ':') ? AF_INET6 :
		    AF_INET;
		trusted = fa == fb && inet_pton(fa, addr, a) == 1 &&
		    inet_pton(fb, s->cfg->trusted_proxies[i], b) == 1 &&
		    memcmp(a, b, fa == AF_INET ? 4 : 16) == 0;
	}
	const char *xff = NULL;
	if (trusted)
		MHD_get_connection_values(conn, MHD_HEADER_KIND, last_xff,
		    &xff);
	if (xff == NULL)
		return is_loopback(addr);
	const char *last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	while (*last == ' ' || *last == '\t')
		last++;
	char client[INET6_ADDRSTRLEN];
	size_t n = strcspn(last, " \t");
	unsigned char tmp[16];
	if (n == 0 || n >= sizeof(client))
		return false;	/* a proxy that says nothing usable */
	memcpy(client, last, n);
	client[n] = '\0';
	if (inet_pton(AF_INET, client, tmp) != 1 &&
	    inet_pton(AF_INET6, client, tmp) != 1)
		return false;
	snprintf(out, cap, "%s (via %s)", client, peer);
	return is_loopback(client);
}

static double
elapsed(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* An error of the handlers: to the log (with its cause), else stderr;
 * the request's outcome says it. Frees e. */
static void
report_err(cmh_server *s, upload *u, const char *what, rt_err *e)
{
	char msg[300];
	rt_err_format(e, msg, sizeof(msg));
	rt_err_free(e);
	if (s->log != NULL)
		cmh_log_error(s->log, what, msg);
	else
		fprintf(stderr, "cmhost: %s: %s\n", what, msg);
	u->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	snprintf(u->info.outcome, sizeof(u->info.outcome), "error: %.240s", msg);
}

static MHD_Result_t
refusal(cmh_server *s, struct MHD_Connection *conn, upload *u, int status)
{
	u->status = (unsigned)status;
	snprintf(u->info.outcome, sizeof(u->info.outcome), "refused: HTTP %d",
	    status);
	switch (status) {
	case MHD_HTTP_NOT_FOUND:
		return reply_text(s, conn, status, "not found\n");
	case MHD_HTTP_METHOD_NOT_ALLOWED:
		return reply_text(s, conn, status, "CMP requests are POSTed\n");
	case MHD_HTTP_UNSUPPORTED_MEDIA_TYPE:
		return reply_text(s, conn, status, "Content-Type must be " CMP_CT
		    "\n");
	case HTTP_REQUEST_TIMEOUT:
		return reply_text(s, conn, status, "request too slow\n");
	default:
		return reply_text(s, conn, status, "request too large\n");
	}
}

static MHD_Result_t
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *data,
    size_t *data_size, void **con_cls)
{
	cmh_server *s = cls;
	upload *u = *con_cls;
	(void)version;

	if (u == NULL) {
		if ((u = calloc(1, sizeof(*u))) == NULL)
			return MHD_NO;
		*con_cls = u;
		atomic_fetch_add(&s->inflight, 1);
		clock_gettime(CLOCK_MONOTONIC, &u->start);
		clock_gettime(CLOCK_REALTIME, &u->at);
		snprintf(u->method, sizeof(u->method), "%s", method);
		snprintf(u->path, sizeof(u->path), "%s", url);
		snprintf(u->info.officer, sizeof(u->info.officer), "-");
		snprintf(u->info.body, sizeof(u->info.body), "-");
		station_of(s, conn, u->client, sizeof(u->client));
		const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_TYPE);
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (strcmp(url, s->cfg->path) != 0 && s->pub != NULL &&
		    (strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0)) {
			/* the CRL and OCSP: bodies of at most max_request */
			u->pub = true;
			snprintf(u->info.body, sizeof(u->info.body), "%s",
			    strncmp(url, "/crl/", 5) == 0 ? "crl" :
			    strncmp(url, "/ocsp", 5) == 0 ? "ocsp" :
			    strcmp(url, "/health") == 0 ? "health" :
			    strcmp(url, "/metrics") == 0 ? "metrics" : "-");
			snprintf(u->ctype, sizeof(u->ctype), "%s", ct ? ct : "");
			if (cl != NULL && strtoull(cl, NULL, 10) >
			    s->cfg->max_request)
				return refusal(s, conn, u, HTTP_TOO_LARGE);
			return MHD_YES;
		}
		if (strcmp(url, s->cfg->path) != 0)
			u->refuse = MHD_HTTP_NOT_FOUND;
		else if (strcmp(method, "POST") != 0)
			u->refuse = MHD_HTTP_METHOD_NOT_ALLOWED;
		else if (ct == NULL || strncasecmp(ct, CMP_CT, strlen(CMP_CT)) != 0
		    || (ct[strlen(CMP_CT)] != '\0' && ct[strlen(CMP_CT)] != ';'))
			u->refuse = MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
		else if (cl != NULL && strtoull(cl, NULL, 10) > s->cfg->max_request)
			u->refuse = HTTP_TOO_LARGE;
		/* refused on its headers: answered now, the body is never read
		 * (libmicrohttpd closes the connection after the answer) */
		if (u->refuse != 0)
			return refusal(s, conn, u, u->refuse);
		return MHD_YES;
	}
	if (*data_size != 0) {
		/* the whole request in request_timeout seconds, however slowly
		 * it trickles in: a slow sender loses its connection */
		if (elapsed(&u->start) > (double)s->cfg->request_timeout)
			return MHD_NO;
		if (u->refuse == 0 && u->len + *data_size > s->cfg->max_request)
			u->refuse = HTTP_TOO_LARGE;
		if (u->refuse == 0) {
			if (u->len + *data_size > u->cap) {
				size_t nc = u->cap ? u->cap : 4096;
				while (nc < u->len + *data_size)
					nc *= 2;
				uint8_t *nb = realloc(u->buf, nc);
				if (nb == NULL)
					return MHD_NO;
				u->buf = nb;
				u->cap = nc;
			}
			memcpy(u->buf + u->len, data, *data_size);
			u->len += *data_size;
		}
		*data_size = 0;
		return MHD_YES;
	}
	if (u->refuse != 0)
		return refusal(s, conn, u, u->refuse);
	if (elapsed(&u->start) > (double)s->cfg->request_timeout)
		return refusal(s, conn, u, HTTP_REQUEST_TIMEOUT);
	if (u->pub) {
		unsigned status = 0;
		const char *ct = "text/plain";
		uint8_t *out = NULL;
		size_t olen = 0;
		rt_err *pe = s->pub(s->pub_ctx, method, url, u->ctype, u->buf,
		    u->len, &status, &ct, &out, &olen);
		if (pe != NULL) {
			char what[160];
			snprintf(what, sizeof(what), "%s %s", method, url);
			report_err(s, u, what, pe);
			free(out);
			return reply_text(s, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
			    "internal error\n");
		}
		if (status == 0) {
			free(out);
			return refusal(s, conn, u, MHD_HTTP_NOT_FOUND);
		}
		u->status = status;
		snprintf(u->info.outcome, sizeof(u->info.outcome), "%s",
		    status < 400 ? "ok" : "refused");
		return reply(s, conn, status, out, olen, ct, MHD_RESPMEM_MUST_FREE);
	}
	char station[160];
	uint8_t *rsp = NULL;
	size_t rlen = 0;
	bool loopback = station_of(s, conn, station, sizeof(station));
	/* card management keys travel in clear inside the genp: only over
	 * TLS, or plain HTTP where listen.mgmt_keys_over_http allows it */
	bool confidential = s->cfg->tls_cert != NULL ||
	    s->cfg->mgmt_over_http == CMH_MGMT_HTTP_ANY ||
	    (s->cfg->mgmt_over_http == CMH_MGMT_HTTP_LOOPBACK && loopback);
	rt_err *e = s->fn(s->ctx, u->buf, u->len, station, confidential, &rsp,
	    &rlen, &u->info);
	if (e != NULL) {
		report_err(s, u, station, e);
		free(rsp);
		return reply_text(s, conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "internal error\n");
	}
	u->status = MHD_HTTP_OK;
	return reply(s, conn, MHD_HTTP_OK, rsp, rlen, CMP_CT,
	    MHD_RESPMEM_MUST_FREE);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	cmh_server *s = cls;
	(void)conn;
	upload *u = *con_cls;
	if (u != NULL) {
		/* the request log and metrics: every request, answered or not */
		double secs = elapsed(&u->start);
		if (u->status == 0)
			snprintf(u->info.outcome, sizeof(u->info.outcome),
			    "no answer: %s", toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED
			    ? "timed out" : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ?
			    "server stopping" : "connection closed");
		else if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
			size_t n = strlen(u->info.outcome);
			snprintf(u->info.outcome + n, sizeof(u->info.outcome) - n,
			    " (answer not delivered)");
		}
		cmh_req_log r = {
			.at = u->at, .client = u->client, .method = u->method,
			.path = u->path, .officer = u->info.officer,
			.body = u->info.body, .serials = u->info.serials,
			.status = u->status, .outcome = u->info.outcome,
			.ms = secs * 1000.0,
		};
		cmh_log_request(s->log, &r);
		if (u->info.error[0] != '\0') {
			if (s->log != NULL)
				cmh_log_error(s->log, u->client, u->info.error);
			else
				fprintf(stderr, "cmhost: %s: %s\n", u->client,
				    u->info.error);
		}
		cmh_metrics_request(s->metrics, u->info.body, u->status,
		    u->info.refused, secs);
		free(u->buf);
		free(u);
		*con_cls = NULL;
		atomic_fetch_sub(&s->inflight, 1);
	}
}

static void
on_log(void *cls, const char *fmt, va_list ap)
{
	cmh_server *s = cls;
	char m[512];
	vsnprintf(m, sizeof(m), fmt, ap);
	size_t n = strlen(m);
	while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == '\r'))
		m[--n] = '\0';
	/* its messages do not all end with a newline */
	if (s != NULL && s->log != NULL)
		cmh_log_error(s->log, "libmicrohttpd", m);
	else
		fprintf(stderr, "cmhost: libmicrohttpd: %s\n", m);
}

/* ---- TLS credentials ------------------------------------------------------- */

static void
creds_free(tls_creds *c)
{
	while (c != NULL) {
		tls_creds *older = c->older;
		for (unsigned i = 0; i < c->npcert; i++)
			gnutls_pcert_deinit(&c->pcert[i]);
		if (c->key != NULL)
			gnutls_privkey_deinit(c->key);
		free(c);
		c = older;
	}
}

/* The chain (PEM, leaf first) and its key, checked to match. */
static rt_err *
creds_load(const char *cert, const char *key, tls_creds **out)
{
	uint8_t *cb = NULL, *kb = NULL;
	size_t cl, kl;
	rt_err *e;
	int rc;
	tls_creds *c = calloc(1, sizeof(*c));
	*out = NULL;
	if (c == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "TLS");
	if ((e = rt_file_read(cert, 1u << 20, &cb, &cl)) != NULL ||
	    (e = rt_file_read(key, 1u << 20, &kb, &kl)) != NULL)
		goto out;
	gnutls_datum_t cd = { cb, (unsigned)cl }, kd = { kb, (unsigned)kl };
	c->npcert = sizeof(c->pcert) / sizeof(c->pcert[0]);
	if ((rc = gnutls_pcert_list_import_x509_raw(c->pcert, &c->npcert, &cd,
	    GNUTLS_X509_FMT_PEM, 0)) < 0 || c->npcert == 0) {
		c->npcert = 0;
		e = rt_err_new(RT_E_CERT, NULL, "%s: no certificate (%s)", cert,
		    gnutls_strerror(rc));
		goto out;
	}
	if ((rc = gnutls_privkey_init(&c->key)) < 0 ||
	    (rc = gnutls_privkey_import_x509_raw(c->key, &kd,
	    GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		e = rt_err_new(RT_E_CERT, NULL, "%s: not a private key (%s)", key,
		    gnutls_strerror(rc));
		goto out;
	}
	/* the key must be the leaf's: sign and verify a test message */
	gnutls_datum_t msg = { (unsigned char *)"cmhost", 6 }, sig = { 0 };
	gnutls_pubkey_t pub = c->pcert[0].pubkey;
	int alg = gnutls_pubkey_get_pk_algorithm(pub, NULL);
	gnutls_sign_algorithm_t sa = gnutls_pk_to_sign(alg, GNUTLS_DIG_SHA256);
	if (gnutls_privkey_sign_data(c->key, GNUTLS_DIG_SHA256, 0, &msg,
	    &sig) < 0 || gnutls_pubkey_verify_data2(pub, sa, 0, &msg, &sig) < 0)
		e = rt_err_new(RT_E_CERT, NULL, "%s does not match the key in %s",
		    cert, key);
	gnutls_free(sig.data);
out:
	free(cb);
	if (kb != NULL) {
		rt_wipe(kb, kl);
		free(kb);
	}
	if (e != NULL)
		creds_free(c);
	else
		*out = c;
	return e;
}

static int
cert_cb(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
    const gnutls_pk_algorithm_t *algos, int nalgos, gnutls_pcert_st **pcert,
    unsigned int *npcert, gnutls_privkey_t *key)
{
	(void)session;
	(void)req_ca_dn;
	(void)nreqs;
	(void)algos;
	(void)nalgos;
	pthread_mutex_lock(&tls_mu);
	tls_creds *c = tls_server != NULL ? tls_server->tls : NULL;
	if (c != NULL) {
		*pcert = c->pcert;
		*npcert = c->npcert;
		*key = c->key;
	}
	pthread_mutex_unlock(&tls_mu);
	return c != NULL ? 0 : -1;
}

rt_err *
cmh_server_reload_tls(cmh_server *s, const char *cert, const char *key)
{
	tls_creds *c;
	rt_err *e;
	if (s->tls == NULL)
		return rt_err_new(RT_E_ARG, NULL, "TLS is not on: adding "
		    "listen.tls_cert needs a restart");
	if ((e = creds_load(cert, key, &c)) != NULL)
		return e;
	pthread_mutex_lock(&tls_mu);
	c->older = s->tls;
	s->tls = c;
	pthread_mutex_unlock(&tls_mu);
	return NULL;
}

/* ---- the server ------------------------------------------------------------- */

rt_err *
cmh_server_start(const cmh_config *c, cmh_handler_fn fn, void *ctx,
    cmh_server **out)
{
	cmh_server_opts o = { .fn = fn, .ctx = ctx };
	return cmh_server_start_opts(c, &o, out);
}

rt_err *
cmh_server_start_pub(const cmh_config *c, cmh_handler_fn fn, void *ctx,
    cmh_pub_fn pub, void *pub_ctx, cmh_server **out)
{
	cmh_server_opts o = { .fn = fn, .ctx = ctx, .pub = pub,
		.pub_ctx = pub_ctx };
	return cmh_server_start_opts(c, &o, out);
}

rt_err *
cmh_server_start_opts(const cmh_config *c, const cmh_server_opts *o,
    cmh_server **out)
{
	struct sockaddr_storage ss;
	cmh_server *s;
	rt_err *e;

	*out = NULL;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (void *)&ss;
	struct sockaddr_in6 *s6 = (void *)&ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
	    MHD_USE_ERROR_LOG;
	if (inet_pton(AF_INET, c->address, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)c->port);
	} else if (inet_pton(AF_INET6, c->address, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)c->port);
		flags |= MHD_USE_IPv6;
	} else
		return rt_err_new(RT_E_ARG, NULL, "%s: listen.address '%s' is not "
		    "an IPv4 or IPv6 address", c->file, c->address);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "server");
	atomic_init(&s->inflight, 0);
	atomic_init(&s->stopping, false);
	s->cfg = c;
	s->fn = o->fn;
	s->ctx = o->ctx;
	s->pub = o->pub;
	s->pub_ctx = o->pub_ctx;
	s->log = o->log;
	s->metrics = o->metrics;
	if (c->tls_cert != NULL) {
		pthread_mutex_lock(&tls_mu);
		bool taken = tls_server != NULL;
		pthread_mutex_unlock(&tls_mu);
		if (taken) {
			free(s);
			return rt_err_new(RT_E_ARG, NULL, "one TLS server per "
			    "process");
		}
		if ((e = creds_load(c->tls_cert, c->tls_key, &s->tls)) != NULL) {
			free(s);
			return e;
		}
		pthread_mutex_lock(&tls_mu);
		tls_server = s;
		pthread_mutex_unlock(&tls_mu);
		flags |= MHD_USE_TLS;
	}
	/* TLS: the certificate comes from cert_cb at every handshake, so
	 * that a reload (cmh_server_reload_tls) reaches new connections */
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)cert_cb },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct MHD_OptionItem none[] = { { MHD_OPTION_END, 0, NULL } };
	s->d = MHD_start_daemon(flags, (uint16_t)c->port, NULL, NULL,
	    on_request, s,
	    MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)c->threads,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->idle_timeout,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)c->per_client,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)256,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_ARRAY, c->tls_cert ? tls : none,
	    MHD_OPTION_END);
	if (s->d == NULL) {
		cmh_server_stop(s);
		return rt_err_new(RT_E_IO, NULL, "cannot listen on %s port %u "
		    "(address in use, or TLS files not usable)", c->address,
		    c->port);
	}
	*out = s;
	return NULL;
}

void
cmh_server_stop(cmh_server *s)
{
	if (s == NULL)
		return;
	if (s->d != NULL) {
		/* no new connections; the requests in flight finish (up to
		 * request_timeout or idle_timeout, at least 10 s), answered
		 * with Connection: close; then the connections left, idle
		 * keep-alive ones, are closed without waiting for their
		 * idle_timeout */
		atomic_store(&s->stopping, true);
		MHD_socket ls = MHD_quiesce_daemon(s->d);
		if (ls != MHD_INVALID_SOCKET)
			close(ls);
		unsigned w = s->cfg->request_timeout > s->cfg->idle_timeout ?
		    s->cfg->request_timeout : s->cfg->idle_timeout;
		unsigned waits = 10 * (w > 10 ? w : 10);
		for (unsigned i = 0; i < waits; i++) {
			if (atomic_load(&s->inflight) == 0)
				break;
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		MHD_stop_daemon(s->d);
	}
	pthread_mutex_lock(&tls_mu);
	if (tls_server == s)
		tls_server = NULL;
	pthread_mutex_unlock(&tls_mu);
	creds_free(s->tls);
	free(s);
}
