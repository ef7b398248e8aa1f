/* main.c - the cmhost program: the reference CM host (see docs/cmhost.md).
 *
 *   cmhost init DIR [--port N]
 *   cmhost -c FILE [--pidfile FILE]          (also: cmhost serve -c FILE)
 *   cmhost certs -c FILE [--json]
 *   cmhost check -c FILE
 *   cmhost mgmt-key -c FILE --card HEX --alg 3des|aes128|aes192|aes256
 *                   --key-fd N
 */
#include "raterm/cmhost.h"
#include "raterm/cmhost_db.h"
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

static const char usage_text[] =
	"usage: cmhost init DIR [--port N]\n"
	"       cmhost [serve] -c FILE [--pidfile FILE]\n"
	"       cmhost certs -c FILE [--json]\n"
	"       cmhost check -c FILE\n"
	"       cmhost mgmt-key -c FILE --card HEX --alg ALG --key-fd N\n"
	"       cmhost --version | --help\n";

static int
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "cmhost: %s\n", why);
	fputs(usage_text, stderr);
	return 2;
}

static int
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
		} else if (argv[i][0] == '-')
			return usage("init: unknown option");
		else if (dir == NULL)
			dir = argv[i];
		else
			return usage("init: one directory");
	}
	if (dir == NULL)
		return usage("init: which directory?");
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

typedef struct {
	cmh_config *cfg;
	cmh_db *db;
	cmh_ca *ca;
	cmh_service *svc;
} host;

static void
host_close(host *h)
{
	cmh_service_free(h->svc);
	cmh_ca_free(h->ca);
	cmh_db_close(h->db);
	cmh_config_free(h->cfg);
	memset(h, 0, sizeof(*h));
}

static rt_err *
host_open(const char *file, bool full, host *h)
{
	rt_err *e;
	memset(h, 0, sizeof(*h));
	if ((e = cmh_config_load(file, &h->cfg)) != NULL ||
	    (e = cmh_db_open(h->cfg->db_path, &h->db)) != NULL)
		goto fail;
	if (full && ((e = cmh_ca_load(h->cfg, &h->ca)) != NULL ||
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

	if ((e = host_open(file, true, &h)) != NULL)
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

/* ---- certs ------------------------------------------------------------------------- */

typedef struct {
	bool json;
	size_t n;
	/* the table: rows kept so that the columns fit the data */
	cmh_cert_rec *rows;
	size_t cap;
	bool nomem;
} lister;

static void
iso(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
list_one(void *ctx, const cmh_cert_rec *r)
{
	lister *l = ctx;
	char issued[32], na[32], st[32];
	iso(r->issued_at, issued, sizeof(issued));
	iso(r->not_after, na, sizeof(na));
	iso(r->state_at, st, sizeof(st));
	if (l->json) {
		printf("%s\n  {\"serial\": ", l->n ? "," : "");
		rt_json_str(stdout, r->serial);
		printf(", \"subject\": ");
		rt_json_str(stdout, r->subject);
		printf(", \"profile\": ");
		rt_json_str(stdout, r->profile);
		printf(", \"officer\": ");
		rt_json_str(stdout, r->officer);
		printf(", \"card\": ");
		rt_json_str(stdout, r->card);
		printf(", \"state\": \"%s\", \"issued\": \"%s\", \"not_after\": "
		    "\"%s\", \"state_since\": \"%s\"", cmh_cert_state_name(r->state),
		    issued, na, st);
		if (r->revocation_reason >= 0)
			printf(", \"revocation_reason\": %d", r->revocation_reason);
		printf(", \"transaction\": \"%s\"}", r->tid);
	} else {
		if (l->n == l->cap) {
			size_t nc = l->cap ? 2 * l->cap : 64;
			cmh_cert_rec *nr = realloc(l->rows, nc * sizeof(*nr));
			if (nr == NULL) {
				l->nomem = true;
				return;
			}
			l->rows = nr;
			l->cap = nc;
		}
		l->rows[l->n] = *r;
	}
	l->n++;
}

static int
width(int w, const char *s)
{
	size_t n = strlen(s);
	return n > (size_t)w ? (int)n : w;
}

/* The table, every column as wide as its longest entry. */
static void
print_table(const lister *l)
{
	int ws = width(0, "SERIAL"), wt = width(0, "STATE"),
	    wp = width(0, "PROFILE"), wo = width(0, "OFFICER"),
	    wc = width(0, "CARD"), wi = (int)strlen("YYYY-MM-DDTHH:MM:SSZ");
	for (size_t i = 0; i < l->n; i++) {
		const cmh_cert_rec *r = &l->rows[i];
		ws = width(ws, r->serial);
		wt = width(wt, cmh_cert_state_name(r->state));
		wp = width(wp, r->profile);
		wo = width(wo, r->officer);
		wc = width(wc, r->card);
	}
	printf("%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", ws, "SERIAL", wt,
	    "STATE", wp, "PROFILE", wo, "OFFICER", wc, "CARD", wi, "ISSUED",
	    "SUBJECT");
	for (size_t i = 0; i < l->n; i++) {
		const cmh_cert_rec *r = &l->rows[i];
		char issued[32];
		iso(r->issued_at, issued, sizeof(issued));
		printf("%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", ws, r->serial,
		    wt, cmh_cert_state_name(r->state), wp, r->profile, wo,
		    r->officer, wc, r->card[0] ? r->card : "-", wi, issued,
		    r->subject);
	}
}

static int
cmd_certs(const char *file, bool json)
{
	host h;
	lister l = { .json = json };
	rt_err *e = host_open(file, false, &h);
	if (e != NULL)
		return report(e);
	if (json)
		printf("[");
	e = cmh_db_certs_each(h.db, list_one, &l);
	if (e == NULL && l.nomem)
		e = rt_err_new(RT_E_NOMEM, NULL, "certificate list");
	if (json)
		printf("%s]\n", l.n ? "\n" : "");
	else if (e == NULL)
		print_table(&l);
	free(l.rows);
	host_close(&h);
	return e ? report(e) : 0;
}

/* ---- mgmt-key ------------------------------------------------------------------------ */

static int
cmd_mgmt_key(const char *file, const char *card, const char *alg, int fd)
{
	static const struct { const char *name; size_t len; } algs[] = {
		{ "3des", 24 }, { "aes128", 16 }, { "aes192", 24 }, { "aes256", 32 },
	};
	uint8_t cid[32], key[32];
	char line[80], card_hex[80];
	size_t cl = 0, kl = 0, want = 0;
	host h;
	rt_err *e;

	for (size_t i = 0; i < 4; i++)
		if (!strcmp(alg, algs[i].name))
			want = algs[i].len;
	if (want == 0)
		return usage("--alg: 3des, aes128, aes192 or aes256");
	rt_err *he = rt_hex_decode(card, strlen(card), cid, sizeof(cid), &cl,
	    0);
	bool bad = he != NULL;
	rt_err_free(he);
	if (bad || cl == 0)
		return usage("--card: the card's GUID or serial in hex");
	rt_hex_encode(cid, cl, card_hex, sizeof(card_hex), 0);
	/* the key comes from a file descriptor, never from argv */
	FILE *f = fdopen(fd, "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
		if (f)
			fclose(f);
		return usage("--key-fd: cannot read the key (hex, one line)");
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	he = rt_hex_decode(line, strlen(line), key, sizeof(key), &kl, 0);
	bad = he != NULL;
	rt_err_free(he);
	rt_wipe(line, sizeof(line));
	if (bad || kl != want) {
		rt_wipe(key, sizeof(key));
		return usage("the key must be hex of the algorithm's length");
	}
	if ((e = host_open(file, false, &h)) == NULL) {
		e = cmh_db_mgmt_key_set(h.db, card_hex, alg, key, kl,
		    (int64_t)time(NULL));
		if (e == NULL)
			e = cmh_db_audit(h.db, (int64_t)time(NULL), "cmhost", "-",
			    "mgmt-key", card_hex, "ok: stored");
		host_close(&h);
	}
	rt_wipe(key, sizeof(key));
	return e ? report(e) : 0;
}

/* ---- main -------------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	const char *cmd = "serve", *file = NULL, *pidfile = NULL;
	const char *card = NULL, *alg = NULL;
	int key_fd = -1;
	bool json = false;
	int i = 1;

	rt_no_core_dumps();
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		printf("cmhost %s\n", RATERM_VERSION);
		return 0;
	}
	if (argc >= 2 && argv[1][0] != '-') {
		cmd = argv[1];
		i = 2;
	}
	if (!strcmp(cmd, "init"))
		return cmd_init(argc - i, argv + i);
	for (; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;
		if (!strcmp(a, "-c") && has)
			file = argv[++i];
		else if (!strcmp(a, "--pidfile") && has)
			pidfile = argv[++i];
		else if (!strcmp(a, "--json"))
			json = true;
		else if (!strcmp(a, "--card") && has)
			card = argv[++i];
		else if (!strcmp(a, "--alg") && has)
			alg = argv[++i];
		else if (!strcmp(a, "--key-fd") && has)
			key_fd = atoi(argv[++i]);
		else {
			char m[300];
			snprintf(m, sizeof(m), "unknown argument '%s'", a);
			return usage(m);
		}
	}
	if (file == NULL)
		return usage("-c FILE is required");
	if (!strcmp(cmd, "serve"))
		return cmd_serve(file, pidfile);
	if (!strcmp(cmd, "certs"))
		return cmd_certs(file, json);
	if (!strcmp(cmd, "check")) {
		host h;
		rt_err *e = host_open(file, true, &h);
		if (e != NULL)
			return report(e);
		char url[300];
		cmh_config_url(h.cfg, url, sizeof(url));
		printf("%s: ok (%zu profiles, %zu officers) %s\n", file,
		    h.cfg->nprofiles, h.cfg->nofficers, url);
		host_close(&h);
		return 0;
	}
	if (!strcmp(cmd, "mgmt-key")) {
		if (card == NULL || alg == NULL || key_fd < 0)
			return usage("mgmt-key needs --card, --alg and --key-fd");
		return cmd_mgmt_key(file, card, alg, key_fd);
	}
	return usage("unknown command");
}
