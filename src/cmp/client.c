/* client.c - the CMP client over HTTP(S) with libcurl (RFC 6712), or over
 * a caller's transport (cmp_client_opts.transport): transactions, response
 * verification, polling, confirmation; see cmp.h */
#include "cmp_int.h"
#include "raterm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#define NONCE_LEN 16
#define MAX_RESPONSE (1024 * 1024)
#define MAX_PEER_NONCE 128

struct cmp_client {
	char *url;
	char *tls_ca;
	long connect_timeout, total_timeout, max_poll_time;
	const mbedtls_x509_crt *trust;
	cmp_buf server_name;
	rt_signer *signer;
	cmp_protect_opts prot;
	FILE *log;
	cmp_transport_fn transport;
	void *transport_ctx;
	/* HTTP: one easy handle for the client's life, so that libcurl's
	 * connection cache keeps the connection alive between exchanges */
	CURL *curl;
	struct curl_slist *hdrs;
	cmp_client_stats stats;
};

/* The state of one transaction. */
typedef struct {
	bool started;
	uint8_t txid[NONCE_LEN];
	uint8_t my_nonce[NONCE_LEN];
	uint8_t peer_nonce[MAX_PEER_NONCE];
	size_t peer_nonce_len;
	/* the extraCerts of the first response: later responses of the
	 * transaction may leave them out (RFC 9483) */
	uint8_t *prev[CMP_MAX_CERTS];
	cmp_buf prevb[CMP_MAX_CERTS];
	size_t nprev;
	bool unprotected_ok;	/* the request may go without protection */
} txstate;

static void
ts_free(txstate *ts)
{
	for (size_t i = 0; i < ts->nprev; i++)
		free(ts->prev[i]);
	ts->nprev = 0;
}

struct cmp_txn {
	txstate ts;
	size_t n;
	uint8_t *cert[CMP_MAX_REQS];
	size_t cert_len[CMP_MAX_REQS];
	long cert_req_id[CMP_MAX_REQS];
	uint8_t *ca_pub[CMP_MAX_CERTS];
	size_t ca_pub_len[CMP_MAX_CERTS];
	cmp_buf ca_pubs[CMP_MAX_CERTS];
	size_t nca_pubs;
	bool implicit;
	bool done;
	time_t confirm_by;	/* the answer's confirmWaitTime, 0: none */
	/* id-it-raterm-cardMgmtKey of the answer (wiped when done with) */
	bool mgmt_asked;
	uint8_t mgmt_card[CMP_CARD_ID_MAX];
	size_t mgmt_card_len;
	uint8_t *mgmt_der;	/* the CardMgmtKey value, NULL: none given */
	size_t mgmt_der_len;
};

static bool curl_ready;

rt_err *
cmp_client_new(const cmp_client_opts *o, cmp_client **out)
{
	if (o->transport == NULL && (o->url == NULL ||
	    (strncmp(o->url, "http://", 7) != 0 &&
	    strncmp(o->url, "https://", 8) != 0)))
		return rt_err_new(RT_E_ARG, NULL, "CM host URL must be http:// or "
		    "https://, not \"%s\"", o->url ? o->url : "");
	if (o->trust == NULL)
		return rt_err_new(RT_E_ARG, NULL, "no CM host trust anchor");
	if (o->transport == NULL && !curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return rt_err_new(RT_E_IO, NULL, "libcurl initialisation");
		curl_ready = true;
	}
	cmp_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "CMP client");
	c->url = strdup(o->url ? o->url : "in-process");
	c->tls_ca = o->tls_ca ? strdup(o->tls_ca) : NULL;
	c->transport = o->transport;
	c->transport_ctx = o->transport_ctx;
	if (c->transport == NULL) {
		c->curl = curl_easy_init();
		c->hdrs = curl_slist_append(NULL, "Content-Type: "
		    "application/pkixcmp");
		if (c->hdrs != NULL)
			c->hdrs = curl_slist_append(c->hdrs, "Accept: "
			    "application/pkixcmp");
		if (c->hdrs != NULL)
			c->hdrs = curl_slist_append(c->hdrs, "Expect:");
	}
	if (c->url == NULL || (o->tls_ca && c->tls_ca == NULL) ||
	    (c->transport == NULL && (c->curl == NULL || c->hdrs == NULL))) {
		cmp_client_free(c);
		return rt_err_new(RT_E_NOMEM, NULL, "CMP client");
	}
	c->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout : 10;
	c->total_timeout = o->total_timeout > 0 ? o->total_timeout : 60;
	c->max_poll_time = o->max_poll_time > 0 ? o->max_poll_time : 300;
	c->trust = o->trust;
	c->server_name = o->server_name;
	c->signer = o->signer;
	c->prot = o->prot;
	c->log = o->log;
	*out = c;
	return NULL;
}

void
cmp_client_free(cmp_client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);	/* closes the connection */
	if (c->hdrs != NULL)
		curl_slist_free_all(c->hdrs);
	free(c->url);
	free(c->tls_ca);
	free(c);
}

void
cmp_client_get_stats(const cmp_client *c, cmp_client_stats *st)
{
	*st = c->stats;
}

/* ---- HTTP ------------------------------------------------------------------- */

void (*cmp_rbuf_released)(const uint8_t *p, size_t cap);

void
cmp_rbuf_release(cmp_rbuf *b)
{
	if (b->p == NULL)
		return;
	rt_wipe(b->p, b->cap);
	if (cmp_rbuf_released != NULL)
		cmp_rbuf_released(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* The response as it arrives. A cp may carry a card management key: the
 * buffer grows by copying and wiping, never by realloc (which would
 * leave the old bytes behind). */
size_t
cmp_rbuf_append(char *ptr, size_t size, size_t nmemb, void *ud)
{
	cmp_rbuf *b = ud;
	size_t n = size * nmemb;
	if (b->len + n > MAX_RESPONSE) {
		b->too_big = true;
		return 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 8192;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = malloc(cap);
		if (p == NULL)
			return 0;
		size_t len = b->len;
		if (len > 0)
			memcpy(p, b->p, len);
		cmp_rbuf_release(b);
		b->p = p;
		b->len = len;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, ptr, n);
	b->len += n;
	return n;
}

/* The request body, handed to libcurl by on_read. */
typedef struct {
	const uint8_t *p;
	size_t len, off;
} wbuf;

static size_t
on_read(char *ptr, size_t size, size_t nmemb, void *ud)
{
	wbuf *w = ud;
	size_t n = size * nmemb;
	if (n > w->len - w->off)
		n = w->len - w->off;
	memcpy(ptr, w->p + w->off, n);
	w->off += n;
	return n;
}

/* libcurl would rewind the body to send the request again on a fresh
 * connection when a reused one turns out dead after (part of) the request
 * went out: refused, since the CM host may have received and acted on it
 * (a cr issued twice). The exchange fails with CURLE_SEND_FAIL_REWIND. */
int
cmp_http_seek(void *ud, long long offset, int origin)
{
	(void)ud;
	(void)offset;
	(void)origin;
	return CURL_SEEKFUNC_FAIL;
}

static int
on_seek(void *ud, curl_off_t offset, int origin)
{
	return cmp_http_seek(ud, (long long)offset, origin);
}

/* One HTTP exchange on the client's handle: POST body as ctype (NULL
 * ctype: the CMP headers), or GET when body is NULL; the answer must have
 * Content-Type accept and, outside CMP, HTTP status 200. timeout 0: the
 * client's. */
static rt_err *
http_exchange(cmp_client *c, const char *url, const char *ctype,
    const uint8_t *req, size_t len, const char *accept, long timeout,
    uint8_t **rsp, size_t *rsp_len)
{
	CURL *h = c->curl;
	cmp_rbuf b = { 0 };
	wbuf w = { req, len, 0 };
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = c->hdrs;
	bool cmp = ctype == NULL && req != NULL;
	rt_err *e = NULL;

	if (!cmp) {
		char line[160];
		hdrs = NULL;
		if (req != NULL) {
			snprintf(line, sizeof(line), "Content-Type: %s", ctype);
			hdrs = curl_slist_append(hdrs, line);
		}
		if (accept != NULL && (req == NULL || hdrs != NULL)) {
			snprintf(line, sizeof(line), "Accept: %s", accept);
			hdrs = curl_slist_append(hdrs, line);
		}
		if (hdrs != NULL)
			hdrs = curl_slist_append(hdrs, "Expect:");
		if (hdrs == NULL)
			return rt_err_new(RT_E_NOMEM, NULL, "%s: HTTP headers", url);
	}
	/* no curl_easy_reset: the same options every time, and the handle
	 * keeps its connection */
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (req != NULL) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &w);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, &w);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, timeout > 0 &&
	    timeout < c->connect_timeout ? timeout : c->connect_timeout);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout > 0 ? timeout :
	    c->total_timeout);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cmp_rbuf_append);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "raterm/" RATERM_VERSION);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->tls_ca != NULL) {
		/* pinned: only this bundle, not the system store */
		curl_easy_setopt(h, CURLOPT_CAINFO, c->tls_ca);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
	CURLcode rc = curl_easy_perform(h);
	long status = 0, nconn = 0;
	curl_off_t sent = 0;
	char *ctype_in = NULL;
	curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &sent);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype_in);
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn);
	c->stats.exchanges++;
	if (nconn > 0)
		c->stats.connections += (unsigned long)nconn;
	if (c->log != NULL)
		fprintf(c->log, "%s: HTTP %ld on %s connection\n", cmp ? "cmp" :
		    url, status, nconn > 0 ? "a new" : "the kept-alive");
	size_t alen = accept != NULL ? strlen(accept) : 0;
	bool type_ok = accept == NULL || (ctype_in != NULL &&
	    strncasecmp(ctype_in, accept, alen) == 0 && (ctype_in[alen] ==
	    '\0' || ctype_in[alen] == ';' || ctype_in[alen] == ' '));
	if (b.too_big)
		e = rt_err_new(RT_E_CMP_HTTP, NULL, "%s: response larger than %d "
		    "bytes", url, MAX_RESPONSE);
	else if (rc == CURLE_PEER_FAILED_VERIFICATION)
		/* the server's certificate is not from a CA of the bundle, or
		 * not for the host name of the URL */
		e = rt_err_new(RT_E_CMP_HTTP, NULL, "%s: TLS server certificate "
		    "not accepted (trusted CAs: %s): %s", url, c->tls_ca ?
		    c->tls_ca : "the system store", errbuf[0] ? errbuf :
		    curl_easy_strerror(rc));
	else if (rc == CURLE_SEND_FAIL_REWIND)
		/* on_seek: not sent again by libcurl */
		e = rt_err_new(RT_E_CMP_HTTP, NULL, "%s: the connection was lost "
		    "while the request was sent (it may have reached the CM "
		    "host; not sent again)", url);
	else if ((rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR ||
	    rc == CURLE_RECV_ERROR) && strncasecmp(url, "http:", 5) == 0)
		/* a TLS server drops a plain request before or while it is
		 * sent, depending on its size */
		e = rt_err_new(RT_E_CMP_HTTP, NULL, "%s: %s (an HTTPS server? "
		    "then https://)", url, errbuf[0] ? errbuf :
		    curl_easy_strerror(rc));
	else if (rc != CURLE_OK)
		e = rt_err_new(RT_E_CMP_HTTP, NULL, "%s: %s", url, errbuf[0] ?
		    errbuf : curl_easy_strerror(rc));
	else if (status >= 300 && status < 400) {
		char *loc = NULL;
		curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc);
		e = rt_err_new(RT_E_CMP_HTTP, NULL, "%s: HTTP %ld redirect to %s "
		    "refused", url, status, loc ? loc : "?");
	} else if (!cmp && status != 200)
		e = rt_err_new(RT_E_CMP_HTTP, NULL, "%s: HTTP %ld", url, status);
	else if (!type_ok || b.len == 0)
		e = rt_err_new(RT_E_CMP_HTTP, NULL, "%s: HTTP %ld, %s%s%s%s", url,
		    status, b.len == 0 ? "empty response" : "Content-Type is "
		    "not ", b.len == 0 ? "" : accept, b.len == 0 ? "" : ": ",
		    b.len == 0 ? "" : ctype_in ? ctype_in : "(none)");
	/* a PKIMessage with another HTTP status (some servers send errors
	 * with 4xx/5xx) is decoded all the same */
	/* nothing of the request went out (no connection, TLS refused):
	 * certainly not delivered */
	if (e != NULL && rc != CURLE_OK && sent == 0)
		rt_err_set_detail(e, CMP_NOT_SENT);
	/* the handle keeps pointers to these until the next exchange */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_READDATA, NULL);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
	if (!cmp) {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->hdrs);
		curl_slist_free_all(hdrs);
	}
	if (e != NULL) {
		cmp_rbuf_release(&b);
		return e;
	}
	*rsp = b.p;
	*rsp_len = b.len;
	return NULL;
}

static rt_err *
http_post(cmp_client *c, const uint8_t *req, size_t len, uint8_t **rsp,
    size_t *rsp_len)
{
	return http_exchange(c, c->url, NULL, req, len, "application/pkixcmp",
	    0, rsp, rsp_len);
}

rt_err *
cmp_client_http(cmp_client *c, const char *url, const char *ctype,
    const uint8_t *body, size_t len, const char *accept, long timeout,
    uint8_t **rsp, size_t *rsp_len)
{
	*rsp = NULL;
	*rsp_len = 0;
	if (c->transport != NULL)
		return rt_err_new(RT_E_UNAVAILABLE, NULL, "%s: no HTTP on the CM "
		    "host client's own transport (%s)", url, c->url);
	if (url == NULL || (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0))
		return rt_err_new(RT_E_ARG, NULL, "URL must be http:// or "
		    "https://, not \"%s\"", url ? url : "");
	if (body != NULL && ctype == NULL)
		return rt_err_new(RT_E_ARG, NULL, "%s: a POST needs its "
		    "Content-Type", url);
	return http_exchange(c, url, ctype, body, len, accept, timeout, rsp,
	    rsp_len);
}

/* One request out, one response in: the caller's transport or HTTP. */
static rt_err *
post(cmp_client *c, const uint8_t *req, size_t len, uint8_t **rsp,
    size_t *rsp_len)
{
	if (c->transport == NULL)
		return http_post(c, req, len, rsp, rsp_len);
	*rsp = NULL;
	*rsp_len = 0;
	c->stats.exchanges++;
	rt_err *e = c->transport(c->transport_ctx, req, len, rsp, rsp_len);
	if (e == NULL && (*rsp == NULL || *rsp_len == 0)) {
		free(*rsp);
		*rsp = NULL;
		e = rt_err_new(RT_E_CMP_HTTP, NULL, "%s: empty response",
		    c->url);
	}
	if (e != NULL && !rt_err_has(e, RT_E_CMP_HTTP))
		e = rt_err_new(RT_E_CMP_HTTP, e, "%s", c->url);
	return e;
}

bool
cmp_err_not_sent(const rt_err *e)
{
	for (; e != NULL; e = rt_err_cause(e))
		if (rt_err_kind_of(e) == RT_E_CMP_HTTP &&
		    rt_err_detail(e) == CMP_NOT_SENT)
			return true;
	return false;
}

/* ---- one exchange ------------------------------------------------------------- */

static rt_err *
error_body_err(const cmp_msg *r, const char *prefix)
{
	char st[512], det[512] = "";
	size_t o = 0;
	cmp_status_format(&r->error, st, sizeof(st));
	for (size_t i = 0; i < r->nerror_details && o < sizeof(det); i++) {
		int w = snprintf(det + o, sizeof(det) - o, "%s%.*s", i ? "; " :
		    " — ", (int)r->error_details[i].len,
		    (const char *)r->error_details[i].p);
		if (w > 0)
			o += (size_t)w;
	}
	if (r->error_code >= 0 && o < sizeof(det))
		snprintf(det + o, sizeof(det) - o, " (errorCode %ld)",
		    r->error_code);
	return rt_err_new(RT_E_CMP_STATUS, NULL, "%sCM host error: %s%s", prefix,
	    st, det);
}

static rt_err *
xchg(cmp_client *c, cmp_msg *req, txstate *ts, cmp_msg **rsp)
{
	rt_err *e;
	uint8_t *der = NULL, *rder = NULL;
	size_t len = 0, rlen = 0;
	cmp_msg *r = NULL;

	*rsp = NULL;
	if (!ts->started) {
		if ((e = rt_random(ts->txid, sizeof(ts->txid))) != NULL)
			return e;
		ts->started = true;
		ts->peer_nonce_len = 0;
	}
	if ((e = rt_random(ts->my_nonce, sizeof(ts->my_nonce))) != NULL)
		return e;
	req->hdr.transaction_id = (cmp_buf){ ts->txid, sizeof(ts->txid) };
	req->hdr.sender_nonce = (cmp_buf){ ts->my_nonce, sizeof(ts->my_nonce) };
	req->hdr.recip_nonce = (cmp_buf){ ts->peer_nonce, ts->peer_nonce_len };
	if (req->hdr.recipient.len == 0)
		req->hdr.recipient = c->server_name;
	req->hdr.message_time = time(NULL);
	if (c->signer == NULL && !ts->unprotected_ok)
		return rt_err_new(RT_E_ARG, NULL, "a CMP %s must be protected and "
		    "the client has no officer signer", cmp_body_name(req->type));
	if ((e = cmp_msg_encode(req, c->signer, &c->prot, &der, &len)) != NULL)
		return e;
	if (c->log != NULL)
		fprintf(c->log, "cmp: -> %s (%zu bytes) to %s\n",
		    cmp_body_name(req->type), len, c->url);
	e = post(c, der, len, &rder, &rlen);
	free(der);
	if (e != NULL)
		return e;
	e = cmp_msg_decode(rder, rlen, &r);
	rt_wipe(rder, rlen);	/* it may carry a card management key */
	free(rder);
	if (e != NULL)
		return rt_err_wrap(e, "response to %s", cmp_body_name(req->type));
	if (c->log != NULL)
		fprintf(c->log, "cmp: <- %s (%zu bytes)%s\n", cmp_body_name(r->type),
		    rlen, r->protection.len ? "" : " unprotected");
	cmp_verify_opts vo = {
		.trust = c->trust,
		.transaction_id = req->hdr.transaction_id,
		.recip_nonce = req->hdr.sender_nonce,
		.sender = c->server_name,
		.untrusted = ts->prevb,
		.nuntrusted = ts->nprev,
	};
	e = cmp_msg_verify(r, &vo, NULL);
	if (e != NULL) {
		if (r->type == CMP_BODY_ERROR) {
			/* say what the unverified error said, but refuse it */
			rt_err *said = error_body_err(r, "unverified: ");
			e = rt_err_new(rt_err_kind_of(e), e, "%s",
			    rt_err_msg(said));
			rt_err_free(said);
		}
		cmp_msg_free(r);
		return e;
	}
	if (r->hdr.sender_nonce.len == 0 || r->hdr.sender_nonce.len >
	    MAX_PEER_NONCE) {
		cmp_msg_free(r);
		return rt_err_new(RT_E_CMP_FORMAT, NULL, "%s response without a "
		    "usable senderNonce", cmp_body_name(r->type));
	}
	memcpy(ts->peer_nonce, r->hdr.sender_nonce.p, r->hdr.sender_nonce.len);
	ts->peer_nonce_len = r->hdr.sender_nonce.len;
	if (ts->nprev == 0) {
		size_t k;
		for (k = 0; k < r->nextra_certs; k++) {
			if ((ts->prev[k] = malloc(r->extra_certs[k].len)) == NULL)
				break;
			memcpy(ts->prev[k], r->extra_certs[k].p,
			    r->extra_certs[k].len);
			ts->prevb[k] = (cmp_buf){ ts->prev[k], r->extra_certs[k].len };
		}
		ts->nprev = k;	/* fewer on lack of memory: fewer candidates */
	}
	if (r->type == CMP_BODY_ERROR) {
		e = error_body_err(r, "");
		cmp_msg_free(r);
		return e;
	}
	*rsp = r;
	return NULL;
}

rt_err *
cmp_client_exchange(cmp_client *c, cmp_msg *req, cmp_msg **rsp)
{
	txstate ts = { 0 };
	if (req->hdr.transaction_id.len == NONCE_LEN) {
		memcpy(ts.txid, req->hdr.transaction_id.p, NONCE_LEN);
		ts.started = true;
		if (req->hdr.recip_nonce.len > 0 && req->hdr.recip_nonce.len <=
		    MAX_PEER_NONCE) {
			memcpy(ts.peer_nonce, req->hdr.recip_nonce.p,
			    req->hdr.recip_nonce.len);
			ts.peer_nonce_len = req->hdr.recip_nonce.len;
		}
	}
	rt_err *e = xchg(c, req, &ts, rsp);
	ts_free(&ts);
	req->hdr.transaction_id.len = 0;	/* pointed into ts */
	req->hdr.sender_nonce.len = 0;
	req->hdr.recip_nonce.len = 0;
	return e;
}

static rt_err *
expect_type(const cmp_msg *r, int type, const char *after)
{
	if (r->type == type)
		return NULL;
	return rt_err_new(RT_E_CMP_FORMAT, NULL, "expected %s after %s, got %s",
	    cmp_body_name(type), after, cmp_body_name(r->type));
}

/* ---- enrollment ----------------------------------------------------------------- */

static rt_err *
same_key(const uint8_t *cert, size_t len, cmp_buf spki, size_t i)
{
	mbedtls_x509_crt c;
	uint8_t buf[1100];
	rt_err *e = NULL;
	mbedtls_x509_crt_init(&c);
	if (mbedtls_x509_crt_parse_der(&c, cert, len) != 0) {
		mbedtls_x509_crt_free(&c);
		return rt_err_new(RT_E_CMP_FORMAT, NULL, "issued certificate %zu "
		    "does not parse", i);
	}
	int n = mbedtls_pk_write_pubkey_der(&c.pk, buf, sizeof(buf));
	if (n <= 0 || !cmp_buf_eq((cmp_buf){ buf + sizeof(buf) - n, (size_t)n },
	    spki))
		e = rt_err_new(RT_E_CMP_MISMATCH, NULL, "issued certificate %zu is "
		    "for another key than requested", i);
	mbedtls_x509_crt_free(&c);
	return e;
}

/* CertId ::= SEQUENCE { issuer GeneralName, serialNumber INTEGER } */
static rt_err *
old_cert_id(const uint8_t *cert, size_t len, rt_der *out)
{
	cmp_rev_details rd;
	rt_err *e = cmp_rev_from_cert(cert, len, -1, &rd);
	if (e != NULL)
		return e;
	rt_der in;
	der_init(&in);
	der_explicit(&in, 0xA4, rd.issuer);
	der_tlv(&in, 0x02, rd.serial.p, rd.serial.len);
	der_wrap(out, 0x30, &in);
	der_free(&in);
	return der_check(out);
}

void
cmp_txn_free(cmp_txn *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->cert[i]);
	for (size_t i = 0; i < t->nca_pubs; i++)
		free(t->ca_pub[i]);
	cmp_txn_wipe_mgmt_key(t);
	ts_free(&t->ts);
	free(t);
}

void
cmp_txn_wipe_mgmt_key(cmp_txn *t)
{
	if (t == NULL || t->mgmt_der == NULL)
		return;
	rt_wipe(t->mgmt_der, t->mgmt_der_len);
	free(t->mgmt_der);
	t->mgmt_der = NULL;
	t->mgmt_der_len = 0;
}

rt_err *
cmp_txn_mgmt_key(const cmp_txn *t, int *alg, uint8_t *key, size_t cap,
    size_t *key_len)
{
	cmp_mgmt_key got;
	rt_err *e;
	if (!t->mgmt_asked)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "the card's management "
		    "key was not asked for");
	if (t->mgmt_der == NULL)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "the CM host gave no "
		    "management key for this card");
	if ((e = cmp_mgmt_key_parse((cmp_buf){ t->mgmt_der, t->mgmt_der_len },
	    true, &got)) != NULL)
		return rt_err_wrap(e, "the CM host's answer of the card's "
		    "management key");
	if (!cmp_buf_eq(got.card_id, (cmp_buf){ t->mgmt_card,
	    t->mgmt_card_len }))
		return rt_err_new(RT_E_CMP_MISMATCH, NULL, "the CM host sent the "
		    "management key of another card");
	if (got.key.len > cap)
		return rt_err_new(RT_E_TOO_BIG, NULL, "management key");
	memcpy(key, got.key.p, got.key.len);
	*key_len = got.key.len;
	*alg = got.alg;
	return NULL;
}

size_t
cmp_txn_count(const cmp_txn *t)
{
	return t->n;
}

cmp_buf
cmp_txn_cert(const cmp_txn *t, size_t i)
{
	cmp_buf b = { 0 };
	if (i < t->n) {
		b.p = t->cert[i];
		b.len = t->cert_len[i];
	}
	return b;
}

size_t
cmp_txn_ca_pubs(const cmp_txn *t, const cmp_buf **certs)
{
	*certs = t->ca_pubs;
	return t->nca_pubs;
}

time_t
cmp_txn_confirm_by(const cmp_txn *t)
{
	return t->confirm_by;
}

bool
cmp_txn_implicit(const cmp_txn *t)
{
	return t->implicit;
}

static rt_err *
copy_out(const uint8_t *p, size_t len, uint8_t **out)
{
	*out = malloc(len ? len : 1);
	if (*out == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "certificate");
	if (len > 0)
		memcpy(*out, p, len);
	return NULL;
}

void
cmp_txn_get_state(const cmp_txn *t, cmp_txn_state *st)
{
	memset(st, 0, sizeof(*st));
	memcpy(st->txid, t->ts.txid, NONCE_LEN);
	st->txid_len = NONCE_LEN;
	memcpy(st->peer_nonce, t->ts.peer_nonce, t->ts.peer_nonce_len);
	st->peer_nonce_len = t->ts.peer_nonce_len;
}

rt_err *
cmp_txn_resume(const cmp_txn_state *st, const cmp_buf *certs, size_t n,
    cmp_txn **out)
{
	if (st->txid_len != NONCE_LEN || st->peer_nonce_len == 0 ||
	    st->peer_nonce_len > MAX_PEER_NONCE || n == 0 || n > CMP_MAX_REQS)
		return rt_err_new(RT_E_ARG, NULL, "transaction state incomplete "
		    "(transactionID of %d bytes, a server nonce, 1 to %d "
		    "certificates)", NONCE_LEN, CMP_MAX_REQS);
	cmp_txn *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "transaction");
	t->ts.started = true;
	memcpy(t->ts.txid, st->txid, NONCE_LEN);
	memcpy(t->ts.peer_nonce, st->peer_nonce, st->peer_nonce_len);
	t->ts.peer_nonce_len = st->peer_nonce_len;
	for (size_t i = 0; i < n; i++) {
		rt_err *e = copy_out(certs[i].p, certs[i].len, &t->cert[i]);
		if (e != NULL) {
			cmp_txn_free(t);
			return e;
		}
		t->cert_len[i] = certs[i].len;
		t->cert_req_id[i] = (long)i;
		t->n++;
	}
	*out = t;
	return NULL;
}

/* Polls until no response is waiting: pollReq / pollRep, then the final
 * answer of type `want` replaces *r. */
static rt_err *
poll_until_done(cmp_client *c, txstate *ts, int want, cmp_msg **r)
{
	time_t start = time(NULL);
	for (;;) {
		cmp_msg *cur = *r;
		bool waiting = false;
		for (size_t i = 0; i < cur->nresp; i++)
			if (cur->resp[i].status.status == CMP_STATUS_WAITING)
				waiting = true;
		if (cur->type == want && !waiting)
			return NULL;
		long wait = 1;
		if (cur->type == CMP_BODY_POLLREP) {
			for (size_t i = 0; i < cur->npoll; i++)
				if (cur->poll[i].check_after > wait)
					wait = cur->poll[i].check_after;
		}
		long left = c->max_poll_time - (long)(time(NULL) - start);
		if (left <= 0)
			return rt_err_new(RT_E_CMP_STATUS, NULL, "CM host still "
			    "waiting after %ld s of polling", c->max_poll_time);
		if (wait > left)
			wait = left;
		if (c->log != NULL)
			fprintf(c->log, "cmp: waiting %ld s before polling\n", wait);
		sleep((unsigned)wait);
		cmp_msg pr;
		cmp_msg_init(&pr);
		pr.type = CMP_BODY_POLLREQ;
		if (cur->type == CMP_BODY_POLLREP) {
			for (size_t i = 0; i < cur->npoll; i++)
				pr.poll[pr.npoll++].cert_req_id =
				    cur->poll[i].cert_req_id;
		} else {
			for (size_t i = 0; i < cur->nresp; i++)
				if (cur->resp[i].status.status == CMP_STATUS_WAITING)
					pr.poll[pr.npoll++].cert_req_id =
					    cur->resp[i].cert_req_id;
		}
		cmp_msg *nr = NULL;
		rt_err *e = xchg(c, &pr, ts, &nr);
		if (e != NULL)
			return rt_err_wrap(e, "polling");
		if (nr->type != CMP_BODY_POLLREP && nr->type != want) {
			e = expect_type(nr, want, "pollReq");
			cmp_msg_free(nr);
			return e;
		}
		cmp_msg_free(*r);
		*r = nr;
	}
}

rt_err *
cmp_client_enroll(cmp_client *c, const cmp_enroll_req *q, cmp_txn **out)
{
	cmp_msg *m = NULL, *r = NULL;
	cmp_txn *t = NULL;
	rt_err *e;
	uint8_t *popo_bufs[CMP_MAX_REQS] = { 0 };
	uint8_t *mk_req = NULL;
	size_t mk_req_len = 0;
	rt_der oid;
	int want;
	der_init(&oid);

	switch (q->type) {
	case CMP_BODY_IR: want = CMP_BODY_IP; break;
	case CMP_BODY_CR: want = CMP_BODY_CP; break;
	case CMP_BODY_P10CR: want = CMP_BODY_CP; break;
	case CMP_BODY_KUR: want = CMP_BODY_KUP; break;
	default:
		return rt_err_new(RT_E_ARG, NULL, "not an enrollment: %s",
		    cmp_body_name(q->type));
	}
	size_t nreq = q->tmpl != NULL ? q->ntmpl : q->ncsr;
	if (q->tmpl != NULL && (q->type == CMP_BODY_P10CR || q->csr != NULL))
		return rt_err_new(RT_E_ARG, NULL, "templates are for cr, ir or "
		    "kur without CSRs");
	if (nreq == 0 || nreq > CMP_MAX_REQS ||
	    (q->type == CMP_BODY_P10CR && q->ncsr != 1))
		return rt_err_new(RT_E_ARG, NULL, "%s wants %s CSR", cmp_body_name(
		    q->type), q->type == CMP_BODY_P10CR ? "exactly one" :
		    "1 to 8");
	if ((e = cmp_msg_new(&m)) != NULL)
		return e;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "transaction");
		goto out;
	}
	m->type = q->type;
	m->hdr.implicit_confirm = q->implicit_confirm;
	if (q->card_id_len > CMP_CARD_ID_MAX) {
		e = rt_err_new(RT_E_ARG, NULL, "card id of %zu bytes (at most %d)",
		    q->card_id_len, CMP_CARD_ID_MAX);
		goto out;
	}
	m->hdr.card_id = (cmp_buf){ q->card_id, q->card_id_len };
	if (q->mgmt_key) {
		/* the card's management key, asked in the request itself */
		cmp_mgmt_key mk = { { q->card_id, q->card_id_len }, 0, { 0 } };
		if (q->card_id_len == 0) {
			e = rt_err_new(RT_E_ARG, NULL, "the management key is "
			    "asked for a card: card_id needed");
			goto out;
		}
		if ((e = cmp_mgmt_key_encode(&mk, false, &mk_req, &mk_req_len)) !=
		    NULL)
			goto out;
		m->hdr.has_mgmt_key = true;
		m->hdr.mgmt_key = (cmp_buf){ mk_req, mk_req_len };
		t->mgmt_asked = true;
		memcpy(t->mgmt_card, q->card_id, q->card_id_len);
		t->mgmt_card_len = q->card_id_len;
	}
	if (q->profiles != NULL) {
		for (size_t i = 0; i < nreq; i++)
			m->hdr.cert_profile[i] = cmp_buf_str(q->profiles[i]);
		m->hdr.ncert_profile = nreq;
	} else if (q->profile != NULL) {
		m->hdr.cert_profile[0] = cmp_buf_str(q->profile);
		m->hdr.ncert_profile = 1;
	}
	cmp_buf spki[CMP_MAX_REQS];
	if (q->type == CMP_BODY_P10CR) {
		cmp_cert_req tmp;
		if ((e = cmp_req_from_csr(q->csr[0], q->csr_len[0], &tmp)) != NULL)
			goto out;
		spki[0] = tmp.public_key;
		m->p10 = (cmp_buf){ q->csr[0], q->csr_len[0] };
	} else {
		if (q->type == CMP_BODY_KUR && q->old_cert != NULL &&
		    (e = old_cert_id(q->old_cert, q->old_cert_len, &oid)) != NULL)
			goto out;
		m->nreq = nreq;
		for (size_t i = 0; i < nreq; i++) {
			cmp_cert_req *cr = &m->req[i];
			if (q->tmpl != NULL) {
				*cr = (cmp_cert_req){ .subject = q->tmpl[i].subject,
				    .public_key = q->tmpl[i].public_key,
				    .extensions = q->tmpl[i].extensions };
				if (cr->public_key.len == 0) {
					e = rt_err_new(RT_E_ARG, NULL, "request %zu: "
					    "template without a public key", i);
					goto out;
				}
			} else if ((e = cmp_req_from_csr(q->csr[i], q->csr_len[i],
			    cr)) != NULL) {
				e = rt_err_wrap(e, "request %zu", i);
				goto out;
			}
			cr->cert_req_id = (long)i;
			spki[i] = cr->public_key;
			if (oid.len > 0)
				cr->old_cert_id = (cmp_buf){ oid.p, oid.len };
			if (q->ra_verified)
				cr->popo = CMP_POPO_RA_VERIFIED;
			else if (q->popo_signers != NULL && q->popo_signers[i] != NULL) {
				if ((e = cmp_popo_sign(cr, q->popo_signers[i],
				    &popo_bufs[i])) != NULL)
					goto out;
			} else {
				e = rt_err_new(RT_E_ARG, NULL, "request %zu: no proof of "
				    "possession (raVerified or a signer)", i);
				goto out;
			}
		}
	}
	if (q->txid != NULL) {
		memcpy(t->ts.txid, q->txid, sizeof(t->ts.txid));
		t->ts.started = true;
		t->ts.peer_nonce_len = 0;
	}
	if ((e = xchg(c, m, &t->ts, &r)) != NULL)
		goto out;
	if (r->type != want && r->type != CMP_BODY_POLLREP) {
		e = expect_type(r, want, cmp_body_name(q->type));
		goto out;
	}
	if ((e = poll_until_done(c, &t->ts, want, &r)) != NULL)
		goto out;
	if (r->nresp != nreq) {
		e = rt_err_new(RT_E_CMP_FORMAT, NULL, "%zu certificate responses "
		    "for %zu requests", r->nresp, nreq);
		goto out;
	}
	for (size_t i = 0; i < r->nresp; i++) {
		const cmp_cert_resp *cr = &r->resp[i];
		char what[48];
		snprintf(what, sizeof(what), "request %zu", i);
		if ((e = cmp_status_err(&cr->status, what)) != NULL)
			goto out;
		long want_id = q->type == CMP_BODY_P10CR ? 0 : (long)i;
		if (cr->cert_req_id != want_id && !(q->type == CMP_BODY_P10CR &&
		    cr->cert_req_id == -1)) {
			e = rt_err_new(RT_E_CMP_MISMATCH, NULL, "response for certReqId "
			    "%ld where %ld was expected", cr->cert_req_id, want_id);
			goto out;
		}
		if (cr->cert.len == 0) {
			e = rt_err_new(RT_E_CMP_FORMAT, NULL, "%s accepted without a "
			    "certificate", what);
			goto out;
		}
		if ((e = same_key(cr->cert.p, cr->cert.len, spki[i], i)) != NULL)
			goto out;
	}
	for (size_t i = 0; i < r->nresp; i++) {
		if ((e = copy_out(r->resp[i].cert.p, r->resp[i].cert.len,
		    &t->cert[i])) != NULL)
			goto out;
		t->cert_len[i] = r->resp[i].cert.len;
		t->cert_req_id[i] = r->resp[i].cert_req_id;
		t->n++;
	}
	for (size_t i = 0; i < r->nca_pubs; i++) {
		if ((e = copy_out(r->ca_pubs[i].p, r->ca_pubs[i].len,
		    &t->ca_pub[i])) != NULL)
			goto out;
		t->ca_pub_len[i] = r->ca_pubs[i].len;
		t->ca_pubs[i] = (cmp_buf){ t->ca_pub[i], t->ca_pub_len[i] };
		t->nca_pubs++;
	}
	if (t->mgmt_asked && r->hdr.has_mgmt_key && r->hdr.mgmt_key.len > 0) {
		/* checked when taken (cmp_txn_mgmt_key): a bad value must not
		 * lose the issued certificates */
		if ((t->mgmt_der = malloc(r->hdr.mgmt_key.len)) == NULL) {
			e = rt_err_new(RT_E_NOMEM, NULL, "management key");
			goto out;
		}
		memcpy(t->mgmt_der, r->hdr.mgmt_key.p, r->hdr.mgmt_key.len);
		t->mgmt_der_len = r->hdr.mgmt_key.len;
	}
	if (c->log != NULL && t->mgmt_asked)
		fprintf(c->log, "cmp: card management key %s\n", t->mgmt_der ?
		    "received" : r->hdr.has_mgmt_key ? "not given by the CM host" :
		    "not answered (the CM host does not know the InfoType)");
	t->implicit = q->implicit_confirm && r->hdr.implicit_confirm;
	t->confirm_by = r->hdr.confirm_wait_time;
	t->done = t->implicit;
	if (c->log != NULL && t->implicit)
		fprintf(c->log, "cmp: implicit confirmation granted\n");
out:
	for (size_t i = 0; i < CMP_MAX_REQS; i++)
		free(popo_bufs[i]);
	der_free(&oid);
	free(mk_req);
	cmp_msg_free(m);
	if (r != NULL && r->hdr.mgmt_key.len > 0)
		rt_wipe(r->raw, r->raw_len);	/* the key is in there */
	cmp_msg_free(r);
	if (e != NULL) {
		cmp_txn_free(t);
		return e;
	}
	*out = t;
	return NULL;
}

rt_err *
cmp_client_confirm(cmp_client *c, cmp_txn *t, bool accept, const char *reason)
{
	bool acc[CMP_MAX_REQS];
	const char *why[CMP_MAX_REQS];
	for (size_t i = 0; i < CMP_MAX_REQS; i++) {
		acc[i] = accept;
		why[i] = reason;
	}
	return cmp_client_confirm_each(c, t, acc, why);
}

rt_err *
cmp_client_confirm_each(cmp_client *c, cmp_txn *t, const bool *accept,
    const char *const *reasons)
{
	if (t->done)
		return NULL;
	cmp_msg m, *r = NULL;
	uint8_t hash[CMP_MAX_REQS][64];
	rt_err *e;
	cmp_msg_init(&m);
	m.type = CMP_BODY_CERTCONF;
	for (size_t i = 0; i < t->n; i++) {
		cmp_cert_status *s = &m.conf[m.nconf++];
		size_t hl;
		if ((e = cmp_cert_hash(t->cert[i], t->cert_len[i], hash[i], &hl)) !=
		    NULL)
			return e;
		s->cert_hash = (cmp_buf){ hash[i], hl };
		s->cert_req_id = t->cert_req_id[i];	/* -1 for p10cr (RFC 9480) */
		if (!accept[i]) {
			const char *reason = reasons != NULL ? reasons[i] : NULL;
			s->has_status = true;
			s->status.status = CMP_STATUS_REJECTION;
			if (reason != NULL) {
				s->status.text[0] = cmp_buf_str(reason);
				s->status.ntext = 1;
			}
		}
	}
	if ((e = xchg(c, &m, &t->ts, &r)) != NULL)
		return rt_err_wrap(e, "certConf");
	e = expect_type(r, CMP_BODY_PKICONF, "certConf");
	cmp_msg_free(r);
	if (e == NULL)
		t->done = true;
	return e;
}

/* ---- revocation, general messages ----------------------------------------------- */

rt_err *
cmp_client_revoke(cmp_client *c, const uint8_t *cert, size_t len, int reason)
{
	cmp_msg m, *r = NULL;
	txstate ts = { 0 };
	rt_err *e;
	cmp_msg_init(&m);
	m.type = CMP_BODY_RR;
	m.nrev = 1;
	if ((e = cmp_rev_from_cert(cert, len, reason, &m.rev[0])) != NULL)
		return e;
	e = xchg(c, &m, &ts, &r);
	ts_free(&ts);
	if (e != NULL)
		return e;
	if ((e = expect_type(r, CMP_BODY_RP, "rr")) == NULL) {
		if (r->nrev_status != 1)
			e = rt_err_new(RT_E_CMP_FORMAT, NULL, "rp with %zu statuses "
			    "for one revocation", r->nrev_status);
		else
			e = cmp_status_err(&r->rev_status[0], "revocation");
	}
	cmp_msg_free(r);
	return e;
}

static rt_err *
genm(cmp_client *c, const char *oid, cmp_buf value, cmp_msg **rsp,
    const cmp_itav **found)
{
	cmp_msg m;
	txstate ts = { 0 };
	/* the CA certificates are public: asked without protection when
	 * there is no officer */
	ts.unprotected_ok = strcmp(oid, CMP_OID_IT_CA_CERTS) == 0;
	rt_err *e;
	cmp_msg_init(&m);
	m.type = CMP_BODY_GENM;
	m.nitav = 1;
	if ((e = cmp_itav_set(&m.itav[0], oid)) != NULL)
		return e;
	m.itav[0].value = value;
	e = xchg(c, &m, &ts, rsp);
	ts_free(&ts);
	if (e != NULL)
		return e;
	if ((e = expect_type(*rsp, CMP_BODY_GENP, "genm")) != NULL) {
		cmp_msg_free(*rsp);
		*rsp = NULL;
		return e;
	}
	*found = NULL;
	for (size_t i = 0; i < (*rsp)->nitav; i++)
		if (cmp_itav_is(&(*rsp)->itav[i], oid))
			*found = &(*rsp)->itav[i];
	return NULL;
}

void
cmp_certs_free(uint8_t **certs, size_t *lens, size_t n)
{
	if (certs != NULL)
		for (size_t i = 0; i < n; i++)
			free(certs[i]);
	free(certs);
	free(lens);
}

rt_err *
cmp_client_cacerts(cmp_client *c, uint8_t ***certs, size_t **lens, size_t *n)
{
	cmp_msg *r = NULL;
	const cmp_itav *it;
	cmp_buf list[CMP_MAX_CERTS];
	size_t cnt = 0;
	rt_err *e = genm(c, CMP_OID_IT_CA_CERTS, (cmp_buf){ 0 }, &r, &it);
	if (e != NULL)
		return e;
	if (it == NULL) {
		cmp_msg_free(r);
		return rt_err_new(RT_E_CMP_FORMAT, NULL, "genp without caCerts");
	}
	if (it->value.len > 0 && (e = cmp_certs_parse(it->value, list,
	    CMP_MAX_CERTS, &cnt)) != NULL) {
		cmp_msg_free(r);
		return e;
	}
	*certs = calloc(cnt + 1, sizeof(**certs));
	*lens = calloc(cnt + 1, sizeof(**lens));
	*n = 0;
	if (*certs == NULL || *lens == NULL)
		e = rt_err_new(RT_E_NOMEM, NULL, "CA certificates");
	for (size_t i = 0; e == NULL && i < cnt; i++) {
		if ((e = copy_out(list[i].p, list[i].len, &(*certs)[i])) == NULL) {
			(*lens)[i] = list[i].len;
			(*n)++;
		}
	}
	cmp_msg_free(r);
	if (e != NULL) {
		cmp_certs_free(*certs, *lens, *n);
		*certs = NULL;
		*lens = NULL;
		*n = 0;
	}
	return e;
}

rt_err *
cmp_client_mgmt_key(cmp_client *c, const uint8_t *card_id, size_t card_id_len,
    int *alg, uint8_t *key, size_t cap, size_t *key_len)
{
	cmp_mgmt_key req = { { card_id, card_id_len }, 0, { 0 } }, got;
	uint8_t *v = NULL;
	size_t vl;
	cmp_msg *r = NULL;
	const cmp_itav *it;
	rt_err *e = cmp_mgmt_key_encode(&req, false, &v, &vl);
	if (e != NULL)
		return e;
	e = genm(c, CMP_OID_IT_CARD_MGMT_KEY, (cmp_buf){ v, vl }, &r, &it);
	free(v);
	if (e != NULL)
		return e;
	if (it == NULL || it->value.len == 0)
		e = rt_err_new(RT_E_NOT_FOUND, NULL, "the CM host holds no "
		    "management key for this card");
	else if ((e = cmp_mgmt_key_parse(it->value, true, &got)) == NULL) {
		if (!cmp_buf_eq(got.card_id, req.card_id))
			e = rt_err_new(RT_E_CMP_MISMATCH, NULL, "management key for "
			    "another card");
		else if (got.key.len > cap)
			e = rt_err_new(RT_E_TOO_BIG, NULL, "management key");
		else {
			memcpy(key, got.key.p, got.key.len);
			*key_len = got.key.len;
			*alg = got.alg;
		}
	}
	if (r != NULL) {
		/* the key sits in the decoded copy: wipe it */
		rt_wipe(r->raw, r->raw_len);
		cmp_msg_free(r);
	}
	return e;
}

rt_err *
cmp_client_tx_status(cmp_client *c, const uint8_t *txid, size_t txid_len,
    cmp_tx_status *out, uint8_t **buf)
{
	cmp_tx_status req;
	uint8_t *v = NULL;
	size_t vl;
	cmp_msg *r = NULL;
	const cmp_itav *it;
	rt_err *e;

	*buf = NULL;
	memset(&req, 0, sizeof(req));
	req.txid = (cmp_buf){ txid, txid_len };
	if ((e = cmp_tx_status_encode(&req, false, &v, &vl)) != NULL)
		return e;
	e = genm(c, CMP_OID_IT_TX_STATUS, (cmp_buf){ v, vl }, &r, &it);
	free(v);
	if (e != NULL)
		return e;
	if (it == NULL || it->value.len == 0)
		e = rt_err_new(RT_E_CMP_FORMAT, NULL, "the CM host does not answer "
		    "txStatus (not a cmhost?)");
	else if ((*buf = malloc(it->value.len)) == NULL)
		e = rt_err_new(RT_E_NOMEM, NULL, "txStatus");
	else {
		memcpy(*buf, it->value.p, it->value.len);
		e = cmp_tx_status_parse((cmp_buf){ *buf, it->value.len }, true,
		    out);
		if (e == NULL && !cmp_buf_eq(out->txid, req.txid))
			e = rt_err_new(RT_E_CMP_MISMATCH, NULL, "txStatus answers for "
			    "another transaction");
	}
	if (e != NULL) {
		free(*buf);
		*buf = NULL;
	}
	cmp_msg_free(r);
	return e;
}
