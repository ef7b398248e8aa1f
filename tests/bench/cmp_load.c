/*
 * cmp_load - the load generator of `make bench` (not a test).
 *
 *   cmp_load gen-csr N FILE
 *       N P-256 keys and PKCS#10 requests (mbedTLS, SHA-256), written as
 *       PEM to FILE (each key before its CSR). Made before any timing: the
 *       enrollment and cfssl runs read the same file, so CSR signing is
 *       not part of what is timed.
 *
 *   cmp_load cmp --url URL --trust ROOT --key KEY --cert CHAIN --pass FILE
 *                --csrs FILE [-k KEYS] [-b BACKEND] [--server-pid PID]
 *                [-c CLIENTS] [-n COUNT] [-t SECONDS] [-T THREADS]
 *       Full enrollments against a CMP server with libcurl multi: CLIENTS
 *       concurrent clients (default 32), spread over THREADS event loops
 *       (default 2, one per core, since the client does crypto too), each
 *       on one kept-alive connection. One enrollment = a cr for KEYS keys
 *       (1 to 8, default 1: templates from the CSRs of the file, round
 *       robin, each with its POPO signature by the CSR's key) protected by
 *       the officer's signature, its cp verified (protection chained to
 *       ROOT, transactionID, recipNonce, status, KEYS certificates), a
 *       certConf with the certificates' hashes (protected), its pkiConf
 *       verified. The client's crypto runs on BACKEND: libcrypto (the
 *       default, so that the client is not the bottleneck) or mbedtls;
 *       the server's CMP certificate chain is validated once. Stops
 *       starting enrollments after COUNT (default 2000) or SECONDS
 *       (default 20); those in flight finish.
 *
 *   cmp_load cfssl --url URL --csrs FILE [--server-pid PID] [-c -n -t -T]
 *       The same CSRs POSTed as JSON {"certificate_request": PEM} to
 *       cfssl's /api/v1/cfssl/sign; success = "success":true.
 *
 *       CPU: the load generator's own (getrusage) and, with --server-pid,
 *       the server's (/proc/PID/stat) over the timed part: load_cpu_s,
 *       server_cpu_s, server_cpu_ms_per_cert.
 *
 *   cmp_load crypto --key KEY --pass FILE --ca-key CAKEY --dir DIR
 *                   [-t SECONDS] [-T THREADS]
 *       The crypto-only limit: the signatures and verifications of one
 *       enrollment (listed in OPS below) in a tight loop on THREADS
 *       threads, once with mbedTLS and once with OpenSSL's libcrypto, with
 *       the demo PKI's real keys (DIR: officer-ca.pem, ca.pem, root.pem).
 *
 * Output: "key=value" lines (bench_cmhost.sh reads them), e.g.
 *   result mode=cmp keys=1 enrollments=2000 secs=9.81 rate=203.9
 *       cert_rate=203.9 p50_ms=151.2 p99_ms=301.0 errors=0 certs=2000
 *       http_sent=4000 http_answered=4000 load_cpu_s=3.1 server_cpu_s=9.2
 *       server_cpu_ms_per_cert=4.6
 */
#define _GNU_SOURCE	/* memmem */
#include "raterm/cmp.h"
#include "raterm/err.h"
#include "raterm/signer.h"
#include "raterm/signer_ossl.h"
#include "raterm/softtoken.h"
#include "raterm/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static void
die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "cmp_load: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
die_err(const char *what, rt_err *e)
{
	char m[400];
	rt_err_format(e, m, sizeof(m));
	die("%s: %s", what, m);
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap + 1);
	size_t r;
	while (b != NULL && (r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			cap *= 2;
			b = realloc(b, cap + 1);
		}
	}
	fclose(f);
	if (b == NULL)
		die("out of memory");
	b[n] = '\0';
	*len = n;
	return b;
}

/* ---- options ------------------------------------------------------------- */

typedef struct {
	const char *url, *trust, *key, *cert, *pass, *csrs, *ca_key, *dir;
	const char *backend;
	int clients, threads, keys;
	long count, server_pid;
	double secs;
} opts;

static void
parse_opts(int argc, char **argv, opts *o)
{
	o->clients = 32;
	o->threads = 2;
	o->count = 2000;
	o->secs = 20;
	o->keys = 1;
	o->backend = "libcrypto";
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			die("%s needs a value", a);
		i++;
		if (!strcmp(a, "--url")) o->url = v;
		else if (!strcmp(a, "--trust")) o->trust = v;
		else if (!strcmp(a, "--key")) o->key = v;
		else if (!strcmp(a, "--cert")) o->cert = v;
		else if (!strcmp(a, "--pass")) o->pass = v;
		else if (!strcmp(a, "--csrs")) o->csrs = v;
		else if (!strcmp(a, "--ca-key")) o->ca_key = v;
		else if (!strcmp(a, "--dir")) o->dir = v;
		else if (!strcmp(a, "-b")) o->backend = v;
		else if (!strcmp(a, "-k")) o->keys = atoi(v);
		else if (!strcmp(a, "--server-pid")) o->server_pid = atol(v);
		else if (!strcmp(a, "-c")) o->clients = atoi(v);
		else if (!strcmp(a, "-T")) o->threads = atoi(v);
		else if (!strcmp(a, "-n")) o->count = atol(v);
		else if (!strcmp(a, "-t")) o->secs = atof(v);
		else
			die("unknown option %s", a);
	}
	if (o->clients < 1 || o->threads < 1 || o->threads > o->clients ||
	    o->count < 1 || o->secs <= 0)
		die("bad -c/-T/-n/-t");
	if (o->keys < 1 || o->keys > CMP_MAX_REQS)
		die("-k: 1 to %d keys per request", CMP_MAX_REQS);
	if (strcmp(o->backend, "libcrypto") != 0 &&
	    strcmp(o->backend, "mbedtls") != 0)
		die("-b: libcrypto or mbedtls");
}

static char *
read_pass(const char *path)
{
	size_t n;
	char *p = slurp(path, &n);
	p[strcspn(p, "\r\n")] = '\0';
	return p;
}

/* ---- CSRs ------------------------------------------------------------------ */

static int
gen_csr(int argc, char **argv)
{
	if (argc != 4)
		die("usage: cmp_load gen-csr N FILE");
	long n = atol(argv[2]);
	FILE *f = fopen(argv[3], "w");
	if (f == NULL || n < 1)
		die("%s: cannot write", argv[3]);
	for (long i = 0; i < n; i++) {
		mbedtls_pk_context k;
		mbedtls_x509write_csr w;
		unsigned char pem[4096];
		char subj[128];
		mbedtls_pk_init(&k);
		mbedtls_x509write_csr_init(&w);
		if (mbedtls_pk_setup(&k, mbedtls_pk_info_from_type(
		    MBEDTLS_PK_ECKEY)) != 0 || mbedtls_ecp_gen_key(
		    MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(k), rt_rng, NULL) != 0)
			die("key generation");
		snprintf(subj, sizeof(subj), "CN=Bench User %06ld,O=raterm bench",
		    i);
		mbedtls_x509write_csr_set_key(&w, &k);
		mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
		if (mbedtls_pk_write_key_pem(&k, pem, sizeof(pem)) != 0)
			die("key");
		fputs((char *)pem, f);
		if (mbedtls_x509write_csr_set_subject_name(&w, subj) != 0 ||
		    mbedtls_x509write_csr_pem(&w, pem, sizeof(pem), rt_rng,
		    NULL) != 0)
			die("CSR");
		fputs((char *)pem, f);
		mbedtls_x509write_csr_free(&w);
		mbedtls_pk_free(&k);
	}
	if (fclose(f) != 0)
		die("%s: write error", argv[3]);
	printf("csrs n=%ld file=%s\n", n, argv[3]);
	return 0;
}

typedef struct {
	char *pem;		/* one PEM block */
	uint8_t *der;
	size_t der_len;
	char *key_pem;		/* the key before it in the file (or NULL) */
	rt_signer *pop;		/* the key, for POPO signatures (cmp) */
	cmp_cert_req tmpl;	/* subject, public key from the CSR (cmp) */
} csr_t;

static csr_t *
load_csrs(const char *path, size_t *n)
{
	size_t len, cap = 64;
	char *all = slurp(path, &len), *p = all;
	csr_t *v = malloc(cap * sizeof(*v));
	*n = 0;
	static const char *end = "-----END CERTIFICATE REQUEST-----\n";
	char *b;
	while ((b = strstr(p, "-----BEGIN CERTIFICATE REQUEST-----")) != NULL) {
		char *e = strstr(b, end);
		if (e == NULL)
			break;
		e += strlen(end);
		if (*n == cap)
			v = realloc(v, (cap *= 2) * sizeof(*v));
		csr_t *c = &v[(*n)++];
		memset(c, 0, sizeof(*c));
		/* the key written before it by gen-csr */
		static const char *kb = "-----BEGIN EC PRIVATE KEY-----";
		char *k = strstr(p, kb);
		if (k != NULL && k < b)
			c->key_pem = strndup(k, (size_t)(b - k));
		c->pem = strndup(b, (size_t)(e - b));
		mbedtls_pem_context pc;
		size_t used;
		mbedtls_pem_init(&pc);
		if (mbedtls_pem_read_buffer(&pc, "-----BEGIN CERTIFICATE REQUEST-----",
		    "-----END CERTIFICATE REQUEST-----", (unsigned char *)c->pem,
		    NULL, 0, &used) != 0)
			die("%s: CSR %zu does not parse", path, *n);
		size_t dl = pc.buflen;
		const unsigned char *d = pc.buf;
		c->der = malloc(dl);
		memcpy(c->der, d, dl);
		c->der_len = dl;
		mbedtls_pem_free(&pc);
		p = e;
	}
	free(all);
	if (*n == 0)
		die("%s: no CSR", path);
	return v;
}

/* ---- the load: shared state --------------------------------------------------- */

typedef struct {
	const opts *o;
	csr_t *csrs;
	size_t ncsr;
	int cmp;			/* 1: CMP enrollments, 0: cfssl */
	rt_signer *signer;
	const rt_verifier *verifier;
	mbedtls_x509_crt trust;
	/* the server's CMP certificate whose chain was validated */
	uint8_t *known;
	size_t known_len;
	double t0, deadline;
	atomic_long started, done, errors, certs, http_sent, http_answered;
	pthread_mutex_t mu;
	double *lat;			/* ms, one per finished enrollment */
	size_t nlat, caplat;
	char first_error[300];
} load;

static void
note_error(load *L, const char *fmt, ...)
{
	va_list ap;
	atomic_fetch_add(&L->errors, 1);
	pthread_mutex_lock(&L->mu);
	if (L->first_error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(L->first_error, sizeof(L->first_error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&L->mu);
}

static void
note_latency(load *L, double ms)
{
	pthread_mutex_lock(&L->mu);
	if (L->nlat == L->caplat) {
		L->caplat = L->caplat ? 2 * L->caplat : 4096;
		L->lat = realloc(L->lat, L->caplat * sizeof(double));
	}
	L->lat[L->nlat++] = ms;
	pthread_mutex_unlock(&L->mu);
}

/* One client: one enrollment at a time. */
typedef struct {
	load *L;
	CURL *h;
	struct curl_slist *hdrs;
	int step;			/* 0 idle, 1 p10cr sent, 2 certConf sent */
	double t_start;
	uint8_t *req;			/* DER sent (kept until the answer) */
	size_t req_len;
	uint8_t *rsp;
	size_t rsp_len, rsp_cap;
	uint8_t tid[16], nonce[16];
	uint8_t srv_nonce[32];
	size_t srv_nonce_len;
	size_t nreq;			/* certificates of this enrollment */
	uint8_t hash[CMP_MAX_REQS][64];
	size_t hash_len[CMP_MAX_REQS];
	long req_id[CMP_MAX_REQS];
	char *json;			/* cfssl body */
} client;

static size_t
on_data(char *p, size_t sz, size_t nm, void *ud)
{
	client *c = ud;
	size_t n = sz * nm;
	if (c->rsp_len + n > c->rsp_cap) {
		size_t nc = c->rsp_cap ? c->rsp_cap : 8192;
		while (nc < c->rsp_len + n)
			nc *= 2;
		uint8_t *b = realloc(c->rsp, nc);
		if (b == NULL)
			return 0;
		c->rsp = b;
		c->rsp_cap = nc;
	}
	memcpy(c->rsp + c->rsp_len, p, n);
	c->rsp_len += n;
	return n;
}

static void
post(client *c, CURLM *m, const void *body, size_t len)
{
	c->rsp_len = 0;
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_multi_add_handle(m, c->h);
	atomic_fetch_add(&c->L->http_sent, 1);
}

/* Encodes and sends the cr (step 1: KEYS requests from the CSRs from
 * csr_i on) or the certConf (step 2). */
static int
cmp_send(client *c, CURLM *m, size_t csr_i)
{
	cmp_msg msg;
	rt_err *e;
	uint8_t *pop[CMP_MAX_REQS] = { NULL };
	cmp_msg_init(&msg);
	free(c->req);
	c->req = NULL;
	if ((e = rt_random(c->nonce, sizeof(c->nonce))) != NULL)
		die_err("random", e);
	msg.hdr.transaction_id = (cmp_buf){ c->tid, sizeof(c->tid) };
	msg.hdr.sender_nonce = (cmp_buf){ c->nonce, sizeof(c->nonce) };
	msg.hdr.message_time = time(NULL);
	if (c->step == 1) {
		msg.type = CMP_BODY_CR;
		c->nreq = (size_t)c->L->o->keys;
		for (size_t i = 0; i < c->nreq; i++) {
			csr_t *q = &c->L->csrs[(csr_i + i) % c->L->ncsr];
			msg.req[i] = q->tmpl;
			msg.req[i].cert_req_id = (long)i;
			if ((e = cmp_popo_sign(&msg.req[i], q->pop, &pop[i])) !=
			    NULL)
				die_err("POPO", e);
		}
		msg.nreq = c->nreq;
	} else {
		msg.type = CMP_BODY_CERTCONF;
		msg.hdr.recip_nonce = (cmp_buf){ c->srv_nonce, c->srv_nonce_len };
		for (size_t i = 0; i < c->nreq; i++) {
			msg.conf[i].cert_hash = (cmp_buf){ c->hash[i],
			    c->hash_len[i] };
			msg.conf[i].cert_req_id = c->req_id[i];
		}
		msg.nconf = c->nreq;
	}
	e = cmp_msg_encode(&msg, c->L->signer, NULL, &c->req, &c->req_len);
	for (size_t i = 0; i < CMP_MAX_REQS; i++)
		free(pop[i]);
	if (e != NULL)
		die_err("encode", e);
	post(c, m, c->req, c->req_len);
	return 0;
}

/* The server's CMP certificate: its chain validated once, as cmhost does
 * with officers' (the load generator must not be the bottleneck). */
static bool
chain_known(void *ctx, cmp_buf cert)
{
	load *L = ctx;
	pthread_mutex_lock(&L->mu);
	bool k = L->known != NULL && L->known_len == cert.len &&
	    memcmp(L->known, cert.p, cert.len) == 0;
	pthread_mutex_unlock(&L->mu);
	return k;
}

static void
chain_validated(void *ctx, cmp_buf cert, time_t not_after)
{
	load *L = ctx;
	(void)not_after;	/* the run is shorter */
	pthread_mutex_lock(&L->mu);
	free(L->known);
	if ((L->known = malloc(cert.len)) != NULL) {
		memcpy(L->known, cert.p, cert.len);
		L->known_len = cert.len;
	}
	pthread_mutex_unlock(&L->mu);
}

/* Decodes and verifies an answer; returns it, or NULL (error noted). */
static cmp_msg *
cmp_answer(client *c, int want)
{
	cmp_msg *r = NULL;
	rt_err *e;
	if ((e = cmp_msg_decode(c->rsp, c->rsp_len, &r)) != NULL) {
		char m[200];
		rt_err_format(e, m, sizeof(m));
		rt_err_free(e);
		note_error(c->L, "answer does not decode: %s", m);
		return NULL;
	}
	cmp_verify_opts vo = {
		.trust = &c->L->trust,
		.transaction_id = { c->tid, sizeof(c->tid) },
		.recip_nonce = { c->nonce, sizeof(c->nonce) },
		.verifier = c->L->verifier,
		.chain_known = chain_known,
		.chain_validated = chain_validated,
		.chain_ctx = c->L,
	};
	if ((e = cmp_msg_verify(r, &vo, NULL)) != NULL) {
		char m[200];
		rt_err_format(e, m, sizeof(m));
		rt_err_free(e);
		note_error(c->L, "%s: %s", cmp_body_name(r->type), m);
		cmp_msg_free(r);
		return NULL;
	}
	if (r->type != want) {
		char m[200] = "";
		if (r->type == CMP_BODY_ERROR)
			cmp_status_format(&r->error, m, sizeof(m));
		note_error(c->L, "got %s where %s was expected %s",
		    cmp_body_name(r->type), cmp_body_name(want), m);
		cmp_msg_free(r);
		return NULL;
	}
	if (r->hdr.sender_nonce.len == 0 || r->hdr.sender_nonce.len > 32) {
		note_error(c->L, "answer without a usable senderNonce");
		cmp_msg_free(r);
		return NULL;
	}
	memcpy(c->srv_nonce, r->hdr.sender_nonce.p, r->hdr.sender_nonce.len);
	c->srv_nonce_len = r->hdr.sender_nonce.len;
	return r;
}

/* Starts the next enrollment if count and time allow; 0: none started. */
static int
start_next(client *c, CURLM *m)
{
	load *L = c->L;
	if (now_s() >= L->deadline)
		return 0;
	long i = atomic_fetch_add(&L->started, 1);
	if (i >= L->o->count) {
		atomic_fetch_sub(&L->started, 1);
		return 0;
	}
	c->t_start = now_s();
	size_t ci = (size_t)i * (size_t)L->o->keys % L->ncsr;
	if (L->cmp) {
		rt_err *e;
		if ((e = rt_random(c->tid, sizeof(c->tid))) != NULL)
			die_err("random", e);
		c->step = 1;
		return cmp_send(c, m, ci) == 0;
	}
	/* cfssl: {"certificate_request": "<PEM with \n escaped>"} */
	const char *pem = L->csrs[ci].pem;
	size_t o = 0, cap = strlen(pem) * 2 + 64;
	free(c->json);
	c->json = malloc(cap);
	o += (size_t)snprintf(c->json, cap, "{\"certificate_request\": \"");
	for (const char *p = pem; *p; p++) {
		if (*p == '\n') {
			c->json[o++] = '\\';
			c->json[o++] = 'n';
		} else
			c->json[o++] = *p;
	}
	o += (size_t)snprintf(c->json + o, cap - o, "\"}");
	c->step = 1;
	post(c, m, c->json, o);
	return 1;
}

/* A transfer finished: advance the client. Returns 1 if it is busy again. */
static int
advance(client *c, CURLM *m, CURLcode res)
{
	load *L = c->L;
	long status = 0;
	curl_multi_remove_handle(m, c->h);
	if (res != CURLE_OK) {
		note_error(L, "HTTP: %s", curl_easy_strerror(res));
		goto next;
	}
	atomic_fetch_add(&L->http_answered, 1);
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		note_error(L, "HTTP status %ld", status);
		goto next;
	}
	if (!L->cmp) {
		if (c->rsp_len > 0 && memmem(c->rsp, c->rsp_len, "\"success\":true",
		    14) != NULL && memmem(c->rsp, c->rsp_len, "BEGIN CERTIFICATE",
		    17) != NULL) {
			atomic_fetch_add(&L->certs, 1);
			atomic_fetch_add(&L->done, 1);
			note_latency(L, (now_s() - c->t_start) * 1e3);
		} else
			note_error(L, "cfssl: %.*s", (int)(c->rsp_len < 200 ?
			    c->rsp_len : 200), (const char *)c->rsp);
		goto next;
	}
	if (c->step == 1) {
		cmp_msg *r = cmp_answer(c, CMP_BODY_CP);
		if (r == NULL)
			goto next;
		rt_err *e = NULL;
		size_t i;
		if (r->nresp != c->nreq) {
			note_error(L, "cp with %zu answers to %zu requests", r->nresp,
			    c->nreq);
			cmp_msg_free(r);
			goto next;
		}
		for (i = 0; i < c->nreq; i++) {
			if (r->resp[i].status.status > 1 || r->resp[i].cert.len == 0) {
				char st[200];
				cmp_status_format(&r->resp[i].status, st, sizeof(st));
				note_error(L, "cp without a certificate: %s", st);
				break;
			}
			if ((e = cmp_cert_hash(r->resp[i].cert.p, r->resp[i].cert.len,
			    c->hash[i], &c->hash_len[i])) != NULL) {
				rt_err_free(e);
				note_error(L, "issued certificate does not parse");
				break;
			}
			c->req_id[i] = r->resp[i].cert_req_id;
		}
		cmp_msg_free(r);
		if (i < c->nreq)
			goto next;
		atomic_fetch_add(&L->certs, (long)c->nreq);
		c->step = 2;
		cmp_send(c, m, 0);
		return 1;
	}
	cmp_msg *r = cmp_answer(c, CMP_BODY_PKICONF);
	if (r != NULL) {
		cmp_msg_free(r);
		atomic_fetch_add(&L->done, 1);
		note_latency(L, (now_s() - c->t_start) * 1e3);
	}
next:
	c->step = 0;
	return start_next(c, m);
}

typedef struct {
	load *L;
	int nclients;
} worker_arg;

static void *
worker(void *arg)
{
	worker_arg *w = arg;
	load *L = w->L;
	CURLM *m = curl_multi_init();
	client *cs = calloc((size_t)w->nclients, sizeof(*cs));
	int busy = 0;
	for (int i = 0; i < w->nclients; i++) {
		client *c = &cs[i];
		c->L = L;
		c->h = curl_easy_init();
		c->hdrs = curl_slist_append(NULL, L->cmp ?
		    "Content-Type: application/pkixcmp" :
		    "Content-Type: application/json");
		c->hdrs = curl_slist_append(c->hdrs, "Expect:");
		curl_easy_setopt(c->h, CURLOPT_URL, L->o->url);
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
		curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
		curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
		curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 60L);
		curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
		busy += start_next(c, m);
	}
	while (busy > 0) {
		int running, q;
		CURLMsg *msg;
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &q)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			client *c;
			CURLcode res = msg->data.result;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&c);
			if (!advance(c, m, res))
				busy--;
		}
		if (busy > 0)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (int i = 0; i < w->nclients; i++) {
		curl_easy_cleanup(cs[i].h);
		curl_slist_free_all(cs[i].hdrs);
		free(cs[i].req);
		free(cs[i].rsp);
		free(cs[i].json);
	}
	free(cs);
	curl_multi_cleanup(m);
	return NULL;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
pct(const double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* CPU seconds (user + system) of this process, and of process pid from
 * /proc (0: none). */
static double
self_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double
pid_cpu(long pid)
{
	char path[64], buf[1024];
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after "(comm)": state is field 3, utime 14, stime 15 */
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
	    "%*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The officer's signer on the chosen backend; the CSRs' templates and
 * POPO signers. */
static void
cmp_setup(load *L, const opts *o)
{
	rt_err *e;
	bool ossl = !strcmp(o->backend, "libcrypto");
	size_t len;
	char *buf = slurp(o->key, &len), *pass = read_pass(o->pass);
	mbedtls_pk_context k;
	mbedtls_x509_crt chain;
	mbedtls_x509_crt_init(&chain);
	if ((e = rt_softkey_parse((uint8_t *)buf, len, pass, strlen(pass), &k,
	    &chain)) != NULL)
		die_err("officer token", e);
	rt_wipe(pass, strlen(pass));
	rt_wipe(buf, len);
	free(pass);
	free(buf);
	if (chain.raw.len == 0) {
		mbedtls_x509_crt_free(&chain);
		mbedtls_x509_crt_init(&chain);
		if (mbedtls_x509_crt_parse_file(&chain, o->cert) != 0)
			die("%s: does not parse", o->cert);
	}
	e = ossl ? rt_signer_ossl(&k, "officer", &L->signer) :
	    rt_signer_key(&k, "officer", &L->signer);
	if (e != NULL)
		die_err("officer signer", e);
	mbedtls_pk_free(&k);
	for (mbedtls_x509_crt *c = &chain; c != NULL && c->raw.len > 0;
	    c = c->next)
		if ((e = rt_signer_add_cert(L->signer, c->raw.p, c->raw.len)) !=
		    NULL)
			die_err("officer certificate", e);
	mbedtls_x509_crt_free(&chain);
	L->verifier = ossl ? &rt_verifier_ossl : &rt_verifier_mbedtls;
	for (size_t i = 0; i < L->ncsr; i++) {
		csr_t *q = &L->csrs[i];
		if (q->key_pem == NULL)
			die("%s: CSR %zu without its key (made by an older gen-csr?)",
			    o->csrs, i);
		if ((e = cmp_req_from_csr(q->der, q->der_len, &q->tmpl)) != NULL)
			die_err("CSR", e);
		mbedtls_pk_init(&k);
		if (mbedtls_pk_parse_key(&k, (unsigned char *)q->key_pem,
		    strlen(q->key_pem) + 1, NULL, 0) != 0)
			die("%s: key %zu does not parse", o->csrs, i);
		e = ossl ? rt_signer_ossl(&k, "key", &q->pop) :
		    rt_signer_key(&k, "key", &q->pop);
		if (e != NULL)
			die_err("key", e);
		mbedtls_pk_free(&k);
	}
}

static int
run_load(int argc, char **argv, int is_cmp)
{
	opts o;
	load L;
	memset(&o, 0, sizeof(o));
	memset(&L, 0, sizeof(L));
	parse_opts(argc, argv, &o);
	if (o.url == NULL || o.csrs == NULL)
		die("--url and --csrs are required");
	L.o = &o;
	L.cmp = is_cmp;
	pthread_mutex_init(&L.mu, NULL);
	L.csrs = load_csrs(o.csrs, &L.ncsr);
	mbedtls_x509_crt_init(&L.trust);
	if (is_cmp) {
		rt_err *e;
		if (o.trust == NULL || o.key == NULL || o.cert == NULL ||
		    o.pass == NULL)
			die("cmp needs --trust, --key, --cert, --pass");
		if (mbedtls_x509_crt_parse_file(&L.trust, o.trust) != 0)
			die("%s: does not parse", o.trust);
		cmp_setup(&L, &o);
		/* mbedTLS fills an EC key's table for G on first use: do that
		 * here, not concurrently in the threads (the officer key; the
		 * trust anchor's is filled by the warm-up verification) */
		uint8_t d[32] = { 0 }, sig[200];
		size_t sl;
		if ((e = rt_signer_sign(L.signer, RT_HASH_SHA256, RT_SCHEME_DEFAULT,
		    d, 32, sig, sizeof(sig), &sl)) != NULL)
			die_err("officer signature", e);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (is_cmp) {
		/* warm-up: one enrollment, single-threaded, not counted */
		opts wo = o;
		wo.count = 1;
		wo.clients = 1;
		L.o = &wo;
		L.deadline = now_s() + 30;
		worker_arg wa = { &L, 1 };
		worker(&wa);
		if (atomic_load(&L.done) != 1)
			die("warm-up enrollment failed: %s", L.first_error);
		L.o = &o;
		atomic_store(&L.started, 0);
		atomic_store(&L.done, 0);
		atomic_store(&L.certs, 0);
		atomic_store(&L.http_sent, 0);
		atomic_store(&L.http_answered, 0);
		L.nlat = 0;
	}
	pthread_t th[64];
	worker_arg wa[64];
	int nt = o.threads > 64 ? 64 : o.threads;
	double cpu0 = self_cpu(), scpu0 = pid_cpu(o.server_pid);
	L.t0 = now_s();
	L.deadline = L.t0 + o.secs;
	for (int i = 0; i < nt; i++) {
		wa[i].L = &L;
		wa[i].nclients = o.clients / nt + (i < o.clients % nt);
		pthread_create(&th[i], NULL, worker, &wa[i]);
	}
	for (int i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	double secs = now_s() - L.t0;
	double lcpu = self_cpu() - cpu0, scpu = pid_cpu(o.server_pid) - scpu0;
	qsort(L.lat, L.nlat, sizeof(double), cmp_d);
	long done = atomic_load(&L.done), certs = atomic_load(&L.certs);
	printf("result mode=%s keys=%d backend=%s clients=%d threads=%d "
	    "enrollments=%ld secs=%.2f rate=%.1f cert_rate=%.1f p50_ms=%.1f "
	    "p99_ms=%.1f errors=%ld certs=%ld http_sent=%ld http_answered=%ld "
	    "load_cpu_s=%.2f load_cpu_share=%.2f server_cpu_s=%.2f "
	    "server_cpu_ms_per_cert=%.3f\n", is_cmp ? "cmp" : "cfssl",
	    is_cmp ? o.keys : 1, is_cmp ? o.backend : "-", o.clients, nt, done,
	    secs, (double)done / secs, (double)certs / secs,
	    pct(L.lat, L.nlat, 0.50), pct(L.lat, L.nlat, 0.99),
	    atomic_load(&L.errors), certs, atomic_load(&L.http_sent),
	    atomic_load(&L.http_answered), lcpu,
	    lcpu / (secs * (double)sysconf(_SC_NPROCESSORS_ONLN)), scpu,
	    certs > 0 ? scpu * 1e3 / (double)certs : 0.0);
	if (L.first_error[0])
		printf("first_error %s\n", L.first_error);
	rt_signer_free(L.signer);
	for (size_t i = 0; i < L.ncsr; i++)
		rt_signer_free(L.csrs[i].pop);
	free(L.known);
	mbedtls_x509_crt_free(&L.trust);
	curl_global_cleanup();
	return 0;
}

/* ---- the crypto-only limit ----------------------------------------------------- */

/* The signatures and verifications of one 1-key enrollment (cr +
 * certConf), all ECDSA P-256 with SHA-256, as the code path makes them
 * now that both sides validate a certificate chain once (cmhost its
 * officers', cmp_load the CMP signer's; docs/bench.md):
 *   client  sign    cr protection                  officer key
 *   client  sign    POPO                           the request's key
 *   server  verify  cr protection                  officer certificate key
 *   server  verify  POPO                           the request's key
 *   server  sign    the certificate                CA key
 *   server  sign    cp protection                  CA key (CMP signer)
 *   client  verify  cp protection                  CA certificate key
 *   client  sign    certConf protection            officer key
 *   server  verify  certConf protection            officer certificate key
 *   server  sign    pkiConf protection             CA key
 *   client  verify  pkiConf protection             CA certificate key
 * = 6 signatures (3 client, 3 server) and 5 verifications (3 server, 2
 * client); a k-key request adds k-1 of POPO, POPO check and certificate.
 * The POPO is signed with the officer key here (same cost). Which key
 * signs: 0 officer, 1 CA. Which key verifies: 0 officer, 1 officer CA
 * (unused: chains are cached), 2 CSR key, 3 CA, 4 root (unused). */
enum { K_OFF, K_CA };
enum { V_OFF, V_OFFCA, V_CSR, V_CA, V_ROOT, NV };
static const struct {
	int sign;		/* 1 sign, 0 verify */
	int key;
	int server;
} OPS[] = {
	{ 1, K_OFF, 0 }, { 1, K_OFF, 0 }, { 0, V_OFF, 1 }, { 0, V_CSR, 1 },
	{ 1, K_CA, 1 }, { 1, K_CA, 1 }, { 0, V_CA, 0 },
	{ 1, K_OFF, 0 }, { 0, V_OFF, 1 }, { 1, K_CA, 1 }, { 0, V_CA, 0 },
};
#define NOPS (sizeof(OPS) / sizeof(OPS[0]))
#define MSG_LEN 1200	/* about a p10cr's ProtectedPart */

typedef struct {
	int ossl;
	int server_only;
	double secs;
	/* mbedTLS */
	mbedtls_pk_context *msign[2];
	mbedtls_pk_context *mver[NV];
	/* OpenSSL */
	EVP_PKEY *osign[2];
	EVP_PKEY *over[NV];
	/* what each verifying key verifies: the real signed data */
	const uint8_t *data[NV];
	size_t data_len[NV];
	uint8_t sig[NV][160];
	size_t sig_len[NV];
	long units;
	long nsign, nverify;
	int fail;
} cwork;

static uint8_t the_msg[MSG_LEN];

static int
m_sign(mbedtls_pk_context *k, uint8_t *sig, size_t *sl)
{
	uint8_t h[32];
	mbedtls_sha256_ret(the_msg, sizeof(the_msg), h, 0);
	return mbedtls_pk_sign(k, MBEDTLS_MD_SHA256, h, 32, sig, sl, rt_rng,
	    NULL);
}

static int
m_verify(mbedtls_pk_context *k, const uint8_t *data, size_t len,
    const uint8_t *sig, size_t sl)
{
	uint8_t h[32];
	mbedtls_sha256_ret(data, len, h, 0);
	return mbedtls_pk_verify(k, MBEDTLS_MD_SHA256, h, 32, sig, sl);
}

static int
o_sign(EVP_PKEY *k, uint8_t *sig, size_t *sl)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	*sl = 128;
	int ok = c && EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k) == 1 &&
	    EVP_DigestSign(c, sig, sl, the_msg, sizeof(the_msg)) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

static int
o_verify(EVP_PKEY *k, const uint8_t *data, size_t len, const uint8_t *sig,
    size_t sl)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, k) == 1 &&
	    EVP_DigestVerify(c, sig, sl, data, len) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

static void *
crypto_thread(void *arg)
{
	cwork *w = arg;
	double end = now_s() + w->secs;
	uint8_t sig[128];
	size_t sl;
	while (now_s() < end) {
		for (size_t i = 0; i < NOPS; i++) {
			int rc;
			if (w->server_only && !OPS[i].server)
				continue;
			if (OPS[i].sign) {
				rc = w->ossl ? o_sign(w->osign[OPS[i].key], sig, &sl) :
				    m_sign(w->msign[OPS[i].key], sig, &sl);
				w->nsign++;
			} else {
				int k = OPS[i].key;
				rc = w->ossl ? o_verify(w->over[k], w->data[k],
				    w->data_len[k], w->sig[k], w->sig_len[k]) :
				    m_verify(w->mver[k], w->data[k], w->data_len[k],
				    w->sig[k], w->sig_len[k]);
				w->nverify++;
			}
			if (rc != 0)
				w->fail = 1;
		}
		w->units++;
	}
	return NULL;
}

static EVP_PKEY *
o_key(const char *path, const char *pass)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, (void *)pass);
	fclose(f);
	if (k == NULL)
		die("%s: OpenSSL cannot read the key", path);
	return k;
}

static EVP_PKEY *
o_cert_key(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		die("%s: OpenSSL cannot read the certificate", path);
	EVP_PKEY *k = X509_get_pubkey(x);
	X509_free(x);
	return k;
}

static int
crypto_limit(int argc, char **argv)
{
	opts o;
	char path[NV][512];
	memset(&o, 0, sizeof(o));
	parse_opts(argc, argv, &o);
	if (o.key == NULL || o.pass == NULL || o.ca_key == NULL || o.dir == NULL ||
	    o.csrs == NULL)
		die("crypto needs --key, --pass, --ca-key, --dir, --csrs");
	for (size_t i = 0; i < sizeof(the_msg); i++)
		the_msg[i] = (uint8_t)i;
	snprintf(path[V_OFF], sizeof(path[0]), "%s/officer.pem", o.dir);
	snprintf(path[V_OFFCA], sizeof(path[0]), "%s/officer-ca.pem", o.dir);
	snprintf(path[V_CA], sizeof(path[0]), "%s/ca.pem", o.dir);
	snprintf(path[V_ROOT], sizeof(path[0]), "%s/root.pem", o.dir);
	char *pass = read_pass(o.pass);

	/* mbedTLS keys: signers from the key files, verifiers from the
	 * certificates (and the first CSR) */
	mbedtls_pk_context msign[2], mver[NV];
	mbedtls_x509_crt crt[NV];
	mbedtls_x509_csr csr;
	mbedtls_x509_csr_init(&csr);
	for (int i = 0; i < 2; i++) {
		size_t len;
		char *b = slurp(i == K_OFF ? o.key : o.ca_key, &len);
		mbedtls_x509_crt chain;
		mbedtls_x509_crt_init(&chain);
		rt_err *e;
		if (i == K_OFF) {
			if ((e = rt_softkey_parse((uint8_t *)b, len, pass,
			    strlen(pass), &msign[i], &chain)) != NULL)
				die_err(o.key, e);
		} else {
			mbedtls_pk_init(&msign[i]);
			if (mbedtls_pk_parse_key(&msign[i], (unsigned char *)b,
			    len + 1, NULL, 0) != 0)
				die("%s: does not parse", o.ca_key);
		}
		mbedtls_x509_crt_free(&chain);
		free(b);
	}
	size_t ncsr;
	csr_t *csrs = load_csrs(o.csrs, &ncsr);
	if (mbedtls_x509_csr_parse_der(&csr, csrs[0].der, csrs[0].der_len) != 0)
		die("CSR does not parse");
	for (int i = 0; i < NV; i++) {
		mbedtls_x509_crt_init(&crt[i]);
		if (i == V_CSR) {
			mver[i] = csr.pk;
			continue;
		}
		if (mbedtls_x509_crt_parse_file(&crt[i], path[i]) != 0)
			die("%s: does not parse", path[i]);
		mver[i] = crt[i].pk;
	}
	/* OpenSSL: the same keys */
	EVP_PKEY *osign[2], *over[NV];
	osign[K_OFF] = o_key(o.key, pass);
	osign[K_CA] = o_key(o.ca_key, NULL);
	for (int i = 0; i < NV; i++) {
		if (i == V_CSR) {
			const unsigned char *p = csrs[0].der;
			X509_REQ *rq = d2i_X509_REQ(NULL, &p, (long)csrs[0].der_len);
			if (rq == NULL)
				die("OpenSSL: CSR");
			over[i] = X509_REQ_get_pubkey(rq);
			X509_REQ_free(rq);
		} else
			over[i] = o_cert_key(path[i]);
	}
	/* What each key verifies in an enrollment: the officer's and the
	 * CA's signatures over a message (made here with their keys), the
	 * officer certificate (signed by the officer CA), the CA certificate
	 * (signed by the root), the CSR (its own signature). */
	cwork tmpl;
	memset(&tmpl, 0, sizeof(tmpl));
	for (int i = 0; i < 2; i++) {
		tmpl.msign[i] = &msign[i];
		tmpl.osign[i] = osign[i];
	}
	for (int i = 0; i < NV; i++) {
		tmpl.mver[i] = &mver[i];
		tmpl.over[i] = over[i];
		const mbedtls_x509_buf *d = NULL, *sg = NULL;
		if (i == V_OFF || i == V_CA) {
			tmpl.data[i] = the_msg;
			tmpl.data_len[i] = sizeof(the_msg);
			if (m_sign(&msign[i == V_OFF ? K_OFF : K_CA], tmpl.sig[i],
			    &tmpl.sig_len[i]) != 0)
				die("mbedTLS sign");
			continue;
		}
		if (i == V_OFFCA) {
			d = &crt[V_OFF].tbs;
			sg = &crt[V_OFF].sig;
		} else if (i == V_ROOT) {
			d = &crt[V_CA].tbs;
			sg = &crt[V_CA].sig;
		} else {
			d = &csr.cri;
			sg = &csr.sig;
		}
		tmpl.data[i] = d->p;
		tmpl.data_len[i] = d->len;
		if (sg->len > sizeof(tmpl.sig[i]))
			die("signature too long");
		memcpy(tmpl.sig[i], sg->p, sg->len);
		tmpl.sig_len[i] = sg->len;
	}
	/* check them all; this also fills mbedTLS's tables for G before the
	 * threads run */
	for (int i = 0; i < NV; i++)
		if (m_verify(tmpl.mver[i], tmpl.data[i], tmpl.data_len[i],
		    tmpl.sig[i], tmpl.sig_len[i]) != 0 ||
		    o_verify(tmpl.over[i], tmpl.data[i], tmpl.data_len[i],
		    tmpl.sig[i], tmpl.sig_len[i]) != 0)
			die("verification %d does not verify", i);
	(void)over;
	int nsign = 0, nver = 0, ssign = 0, sver = 0;
	for (size_t i = 0; i < NOPS; i++) {
		*(OPS[i].sign ? &nsign : &nver) += 1;
		if (OPS[i].server)
			*(OPS[i].sign ? &ssign : &sver) += 1;
	}
	printf("crypto_ops per_enrollment signs=%d verifies=%d server_signs=%d "
	    "server_verifies=%d client_signs=%d client_verifies=%d\n", nsign,
	    nver, ssign, sver, nsign - ssign, nver - sver);
	for (int so = 0; so < 2; so++)
		for (int ossl = 0; ossl < 2; ossl++) {
			pthread_t th[64];
			cwork w[64];
			int nt = o.threads > 64 ? 64 : o.threads;
			for (int i = 0; i < nt; i++) {
				w[i] = tmpl;
				w[i].ossl = ossl;
				w[i].server_only = so;
				w[i].secs = o.secs;
				pthread_create(&th[i], NULL, crypto_thread, &w[i]);
			}
			long units = 0, ns = 0, nv = 0;
			int fail = 0;
			for (int i = 0; i < nt; i++) {
				pthread_join(th[i], NULL);
				units += w[i].units;
				ns += w[i].nsign;
				nv += w[i].nverify;
				fail |= w[i].fail;
			}
			printf("crypto backend=%s scope=%s threads=%d secs=%.1f "
			    "enrollments_per_s=%.1f signs_per_s=%.0f "
			    "verifies_per_s=%.0f failed=%d\n", ossl ? "libcrypto" :
			    "mbedtls", so ? "server" : "full", nt, o.secs,
			    (double)units / o.secs, (double)ns / o.secs,
			    (double)nv / o.secs, fail);
		}
	/* the primitives alone, one thread: signs/s and verifies/s */
	for (int ossl = 0; ossl < 2; ossl++) {
		double t = now_s(), end = t + o.secs / 4;
		long ns = 0, nv = 0;
		uint8_t sig[128];
		size_t sl;
		while (now_s() < end) {
			(void)(ossl ? o_sign(osign[K_CA], sig, &sl) :
			    m_sign(&msign[K_CA], sig, &sl));
			ns++;
		}
		double ts = now_s() - t;
		t = now_s();
		end = t + o.secs / 4;
		while (now_s() < end) {
			(void)(ossl ? o_verify(over[V_CA], the_msg,
			    sizeof(the_msg), tmpl.sig[V_CA], tmpl.sig_len[V_CA]) :
			    m_verify(&mver[V_CA], the_msg, sizeof(the_msg),
			    tmpl.sig[V_CA], tmpl.sig_len[V_CA]));
			nv++;
		}
		double tv = now_s() - t;
		printf("primitive backend=%s threads=1 signs_per_s=%.0f "
		    "verifies_per_s=%.0f\n", ossl ? "libcrypto" : "mbedtls",
		    (double)ns / ts, (double)nv / tv);
	}
	free(pass);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		goto usage;
	if (!strcmp(argv[1], "gen-csr"))
		return gen_csr(argc, argv);
	if (!strcmp(argv[1], "cmp"))
		return run_load(argc, argv, 1);
	if (!strcmp(argv[1], "cfssl"))
		return run_load(argc, argv, 0);
	if (!strcmp(argv[1], "crypto"))
		return crypto_limit(argc, argv);
usage:
	fprintf(stderr, "usage: cmp_load gen-csr N FILE | cmp OPTIONS | "
	    "cfssl OPTIONS | crypto OPTIONS (see the source)\n");
	return 2;
}
