/* Unit tests: the station (station.h) driven directly, as the CLI and the
 * screen drive it. The target and the officer card are vpiv cores in
 * process behind the reader names "target" and "officer" (the fixture
 * owns them, so a test can swap the card behind a name or pull it); the
 * configuration is YAML written into a temporary directory and read with
 * rt_config_load; the PKI is made in process with mbedTLS: a transport CA
 * issuing the TCs onto the target card's keys, and the demo PKI of
 * `cmhost init` (its officer CA issues the officer certificate in the
 * officer card's slot 9C).
 *
 * Covered: reload (Contents rows, TC marks, card id, the one fitting
 * procedure preselected), the procedures a TC card is offered, a card
 * swapped or changed between reload and submit (CARD_CHANGED naming both),
 * no card / no reader, the dialog table (confirm declined or absent,
 * cancel after the Signature PIN, the Signature PIN asked once and
 * verified on the officer card before anything is sent, a wrong one
 * stopping with the tries left), the secrets of one submit, incomplete
 * journal operations and their recovery; with the CM host in process
 * (cmhost's service code over a temporary SQLite database, reached
 * through the CMP client's transport hook, set by cmp_hook): Redo of the
 * TC keys end to end (two requests: cr, certConf; once more over cmhost's
 * HTTP server on a loopback port: the two on one kept-alive connection),
 * Issue, the CM host lost before the certConf then recovered, a
 * rejection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "raterm/cmhost.h"
#include "raterm/cmhost_db.h"
#include "raterm/cmp.h"
#include "raterm/config.h"
#include "raterm/engine.h"
#include "raterm/journal.h"
#include "raterm/signer.h"
#include "raterm/station.h"
#include "raterm/vpiv.h"
#include "raterm/vpiv_transport.h"

#define TC_SERIAL 10000001u
#define TC2_SERIAL 10000002u
#define PLAIN_SERIAL 10000003u
#define OFFICER_SERIAL 20000001u
#define OFFICER_PIN "123456"
#define CARD_PIN "123456"

/* ---- the test PKI (once per run) ------------------------------------------- */

static char top[64];		/* temporary directory of the run */
static char pki[128];		/* cmhost init: root, CA, officer CA */

static void
pathf(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < cap);
}

static void
put_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Asserts an error of kind with every part in its message; frees e. */
static void
expect(rt_err *e, rt_err_kind kind, const char *part1, const char *part2)
{
	char m[1200];
	if (e == NULL)
		fail_msg("expected %s, got success", rt_err_kind_name(kind));
	rt_err_format(e, m, sizeof(m));
	if (!rt_err_has(e, kind) || (part1 && strstr(m, part1) == NULL) ||
	    (part2 && strstr(m, part2) == NULL))
		fail_msg("expected %s with \"%s\" \"%s\", got: %s",
		    rt_err_kind_name(kind), part1 ? part1 : "",
		    part2 ? part2 : "", m);
	rt_err_free(e);
}

static void
ok(rt_err *e)
{
	if (e != NULL) {
		char m[1200];
		rt_err_format(e, m, sizeof(m));
		rt_err_free(e);
		fail_msg("unexpected error: %s", m);
	}
}

/* A self-signed P-256 CA (certificate and key as PEM files). */
static void
make_ca(const char *subject, const char *cert_path, const char *key_path)
{
	mbedtls_pk_context k;
	mbedtls_x509write_cert w;
	mbedtls_mpi sn;
	unsigned char buf[4096];
	mbedtls_pk_init(&k);
	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&sn);
	assert_int_equal(mbedtls_pk_setup(&k,
	    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
	    mbedtls_pk_ec(k), rt_rng, NULL), 0);
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, &k);
	mbedtls_x509write_crt_set_issuer_key(&w, &k);
	assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, subject), 0);
	assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w, subject), 0);
	assert_int_equal(mbedtls_mpi_lset(&sn, 7001), 0);
	assert_int_equal(mbedtls_x509write_crt_set_serial(&w, &sn), 0);
	assert_int_equal(mbedtls_x509write_crt_set_validity(&w, "20200101000000",
	    "20491231235959"), 0);
	assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(&w, 1, 0),
	    0);
	assert_int_equal(mbedtls_x509write_crt_set_key_usage(&w,
	    MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN), 0);
	assert_int_equal(mbedtls_x509write_crt_set_subject_key_identifier(&w),
	    0);
	assert_int_equal(mbedtls_x509write_crt_pem(&w, buf, sizeof(buf), rt_rng,
	    NULL), 0);
	put_file(cert_path, buf, strlen((char *)buf));
	assert_int_equal(mbedtls_pk_write_key_pem(&k, buf, sizeof(buf)), 0);
	put_file(key_path, buf, strlen((char *)buf));
	mbedtls_mpi_free(&sn);
	mbedtls_x509write_crt_free(&w);
	mbedtls_pk_free(&k);
}

static int
group_setup(void **state)
{
	char a[200], b[200];
	bool created;
	(void)state;
	/* the CM host is on loopback: never through a proxy of the
	 * environment (libcurl follows http_proxy) */
	setenv("no_proxy", "127.0.0.1", 1);
	setenv("NO_PROXY", "127.0.0.1", 1);
	snprintf(top, sizeof(top), "/tmp/raterm-station.XXXXXX");
	if (mkdtemp(top) == NULL)
		return -1;
	snprintf(pki, sizeof(pki), "%s/pki", top);
	rt_err *e = cmh_init(pki, 18002, &created);
	if (e != NULL) {
		rt_err_free(e);
		return -1;
	}
	pathf(a, sizeof(a), pki, "transport-ca.pem");
	pathf(b, sizeof(b), pki, "transport-ca.key");
	make_ca("CN=raterm Test Transport CA,O=raterm tests", a, b);
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];
	(void)state;
	if (getenv("KEEP") != NULL) {
		fprintf(stderr, "kept %s\n", top);
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- cards ------------------------------------------------------------------ */

static vpiv *
new_card(uint32_t serial)
{
	vpiv *v;
	vpiv_params p;
	memset(&p, 0, sizeof(p));
	p.serial = serial;
	assert_null(vpiv_create(NULL, &p, false, &v));
	return v;
}

/* A key in slot and a certificate for it from the CA ca (files in pki/). */
static void
key_and_cert(vpiv *v, uint8_t slot, const char *ca, const char *subject,
    int bind)
{
	char cp[200], kp[200], c[64], k[64];
	snprintf(c, sizeof(c), "%s.pem", ca);
	snprintf(k, sizeof(k), "%s.key", ca);
	pathf(cp, sizeof(cp), pki, c);
	pathf(kp, sizeof(kp), pki, k);
	assert_null(vpiv_generate_key(v, slot, VPIV_ALG_ECCP256,
	    VPIV_POLICY_DEFAULT, VPIV_POLICY_DEFAULT));
	vpiv_issue_req r = {
		.ca_cert_path = cp, .ca_key_path = kp, .subject = subject,
		.bind = bind,
	};
	assert_null(vpiv_issue_cert(v, slot, &r));
}

/* A pre-personalized card: TCs on 9A and 9C, bound to the serial. */
static vpiv *
tc_card(uint32_t serial)
{
	vpiv *v = new_card(serial);
	key_and_cert(v, 0x9a, "transport-ca", "CN=Card 9a,O=raterm tests",
	    VPIV_BIND_SERIAL);
	key_and_cert(v, 0x9c, "transport-ca", "CN=Card 9c,O=raterm tests",
	    VPIV_BIND_SERIAL);
	return v;
}

/* A card in use: certificates from the CM host's issuing CA. */
static vpiv *
plain_card(uint32_t serial)
{
	vpiv *v = new_card(serial);
	key_and_cert(v, 0x9a, "ca", "CN=Jane 9a,O=raterm demo", VPIV_BIND_NONE);
	key_and_cert(v, 0x9c, "ca", "CN=Jane 9c,O=raterm demo", VPIV_BIND_NONE);
	return v;
}

/* The officer's card: the officer certificate in 9C (PIN-always). */
static vpiv *
officer_card(void)
{
	vpiv *v = new_card(OFFICER_SERIAL);
	key_and_cert(v, 0x9c, "officer-ca", "CN=raterm Demo Officer,O=raterm demo",
	    VPIV_BIND_NONE);
	return v;
}

static int
pin_left(const vpiv *v)
{
	int pt, pl, ut, ul;
	vpiv_retries(v, &pt, &pl, &ut, &ul);
	return pl;
}

/* ---- the fixture: a station over the cards ---------------------------------- */

typedef struct {
	char dir[200];		/* this test's directory */
	char journal[240];
	vpiv *target;		/* the card in reader "target"; NULL none */
	vpiv *officer;		/* the card in reader "officer" */
	bool no_target_reader;	/* reader "target" unplugged */
	vpiv *cards[4];		/* every card made (freed at teardown) */
	size_t ncards;
	rt_config *cfg;
	rt_station *st;
	rt_station_opts o;
	unsigned opens;		/* readers opened */
	struct cmhost_fx *cm;	/* the CM host in process; NULL none */
} fx;

static vpiv *
keep(fx *f, vpiv *v)
{
	assert_true(f->ncards < 4);
	f->cards[f->ncards++] = v;
	return v;
}

/* The reader-opening hook: as rt_pcsc_open, over the fixture's cards. */
static rt_err *
open_reader(void *ctx, const char *name, rt_transport **out)
{
	fx *f = ctx;
	vpiv *c;
	f->opens++;
	if (strcmp(name, "target") == 0 && !f->no_target_reader)
		c = f->target;
	else if (strcmp(name, "officer") == 0)
		c = f->officer;
	else
		return rt_err_new(RT_E_NO_READER, NULL, "no reader matches \"%s\"",
		    name);
	if (c == NULL)
		return rt_err_new(RT_E_NO_CARD, NULL, "no card in reader \"%s\"",
		    name);
	return rt_vpiv_transport(c, false, name, out);
}

static const char station_yaml[] =
"readers:\n"
"  officer: {name: officer}\n"
"  target: %s\n"
"officer:\n"
"  token: card\n"
"  slot: 9c\n"
"  officer_cas: %s/officer-ca.pem\n"
"cmhost:\n"
"  url: http://127.0.0.1:1/cmp\n"
"  trust: %s/root.pem\n"
"transport_cas: %s/transport-ca.pem\n"
"journal: %s/journal\n"
"audit: %s/audit.log\n"
"procedures: procedures.d\n";

/* For a TC card: verify the TCs, then replace them (Redo) or issue. */
static const char proc_tc[] =
"name: tc-redo\n"
"description: Pre-personalized card - verify the TCs, then replace them\n"
"actions: [redo, issue]\n"
"tc_controls: [chain, possession, binding]\n"
"profiles: {9a: piv-auth, 9c: piv-sign}\n"
"subject: tc\n"
"san: none\n"
"key_algorithms: [ECCP256]\n"
"card_pins: 2\n"
"ca_certificates: {operator_credential: yes, write_to_card: no}\n";

/* For a card in use. */
static const char proc_renew[] =
"name: renew\n"
"description: Card in use - renew in place or issue\n"
"actions: [redo, issue]\n"
"tc_controls: none\n"
"profiles: {9a: piv-auth, 9c: piv-sign}\n"
"subject: card\n"
"san: none\n"
"key_algorithms: [ECCP256]\n"
"card_pins: 1\n"
"ca_certificates: {operator_credential: yes, write_to_card: no}\n";

/* Writes raterm.yaml (target: the readers.target value) and procedures.d,
 * and loads them. */
static void
write_config(fx *f, const char *target)
{
	char path[300], text[2048];
	pathf(path, sizeof(path), f->dir, "procedures.d");
	assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
	pathf(path, sizeof(path), f->dir, "procedures.d/tc-redo.yaml");
	put_file(path, proc_tc, strlen(proc_tc));
	pathf(path, sizeof(path), f->dir, "procedures.d/renew.yaml");
	put_file(path, proc_renew, strlen(proc_renew));
	int n = snprintf(text, sizeof(text), station_yaml, target, pki, pki, pki,
	    f->dir, f->dir);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	pathf(path, sizeof(path), f->dir, "raterm.yaml");
	put_file(path, text, (size_t)n);
	rt_err *e = rt_config_load(path, &f->cfg);
	if (e != NULL) {
		char m[600];
		rt_err_format(e, m, sizeof(m));
		for (size_t i = 0; f->cfg != NULL && i < f->cfg->ndiags; i++) {
			rt_cfg_diag_format(&f->cfg->diags[i], m, sizeof(m));
			fprintf(stderr, "%s\n", m);
		}
		fail_msg("configuration: %s", m);
	}
}

static void
open_station(fx *f)
{
	rt_station_close(f->st);
	f->st = NULL;
	f->o.open_reader = open_reader;
	f->o.open_ctx = f;
	assert_null(rt_station_open(f->cfg, &f->o, &f->st));
}

/* ---- the CM host in process ------------------------------------------------- */

/* cmhost's service code over a temporary SQLite database; the station's
 * CM host client reaches it through its transport hook (cmp_hook sets
 * it), or over HTTP: cmhost's server on a loopback port of its own, the
 * client's log kept to count the exchanges and connections. A request of
 * body type fail_type does not reach the service: the CM host lost at
 * that exchange (over HTTP: answered with HTTP 500). */
typedef struct cmhost_fx {
	cmh_config *cfg;
	cmh_ca *ca;
	cmh_db *db;
	cmh_service *svc;
	cmh_server *srv;	/* NULL: in process */
	char url[80];
	FILE *log;		/* HTTP: the CMP client's log */
	int nreq[32];		/* requests seen, per body type */
	int fail_type;		/* -1: none */
} cmhost_fx;

static rt_err *
cm_handle(void *ctx, const uint8_t *req, size_t len, const char *station,
    bool confidential, uint8_t **rsp, size_t *rsp_len, cmh_req_info *info)
{
	cmhost_fx *cm = ctx;
	cmp_msg *m = NULL;
	int type = -1;
	rt_err *e = cmp_msg_decode(req, len, &m);
	if (e == NULL) {
		type = m->type;
		cmp_msg_free(m);
	}
	rt_err_free(e);
	if (type >= 0 && type < 32)
		cm->nreq[type]++;
	if (type == cm->fail_type)
		return rt_err_new(RT_E_IO, NULL, "the CM host is lost");
	return cmh_service_http(cm->svc, req, len, station, confidential, rsp,
	    rsp_len, info);
}

/* The client's transport: as over HTTPS (management keys may go). */
static rt_err *
cm_transport(void *ctx, const uint8_t *req, size_t len, uint8_t **rsp,
    size_t *rsp_len)
{
	return cm_handle(ctx, req, len, "in-process", true, rsp, rsp_len, NULL);
}

static unsigned
free_port(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void
cmp_hook(void *ctx, cmp_client_opts *co)
{
	fx *f = ctx;
	co->url = f->cm->url;
	co->total_timeout = 10;
	if (f->cm->srv != NULL) {
		co->log = f->cm->log;
	} else {
		co->transport = cm_transport;
		co->transport_ctx = f->cm;
	}
}

/* Starts the CM host of this test (its database in the test's
 * directory), in process or behind its HTTP server, and points the
 * station at it. */
static void
cmhost_start_as(fx *f, bool http)
{
	char path[300];
	cmhost_fx *cm = calloc(1, sizeof(*cm));
	assert_non_null(cm);
	cm->fail_type = -1;
	pathf(path, sizeof(path), pki, "cmhost.yaml");
	ok(cmh_config_load(path, &cm->cfg));
	pathf(path, sizeof(path), f->dir, "cmhost.db");
	free(cm->cfg->db_path);
	cm->cfg->db_path = strdup(path);
	assert_non_null(cm->cfg->db_path);
	cm->cfg->threads = 2;
	ok(cmh_ca_load(cm->cfg, &cm->ca));
	ok(cmh_db_open(cm->cfg->db_path, &cm->db));
	ok(cmh_service_new(cm->cfg, cm->ca, cm->db, &cm->svc));
	if (http) {
		cm->cfg->port = free_port();
		ok(cmh_server_start(cm->cfg, cm_handle, cm, &cm->srv));
		snprintf(cm->url, sizeof(cm->url), "http://127.0.0.1:%u/cmp",
		    cm->cfg->port);
		assert_non_null(cm->log = tmpfile());
	} else {
		snprintf(cm->url, sizeof(cm->url), "in-process");
	}
	f->cm = cm;
	f->o.cmp_hook = cmp_hook;
	f->o.cmp_hook_ctx = f;
	open_station(f);
}

static void
cmhost_start(fx *f)
{
	cmhost_start_as(f, false);
}

/* Lines of the CMP client's log (HTTP) that start with `prefix` and
 * contain `part` (NULL: any). */
static int
cm_log_lines(const fx *f, const char *prefix, const char *part)
{
	char line[400];
	int n = 0;
	assert_non_null(f->cm->log);
	fflush(f->cm->log);
	rewind(f->cm->log);
	while (fgets(line, sizeof(line), f->cm->log) != NULL)
		if (strncmp(line, prefix, strlen(prefix)) == 0 &&
		    (part == NULL || strstr(line, part) != NULL))
			n++;
	fseek(f->cm->log, 0, SEEK_END);	/* the client writes on at the end */
	return n;
}

static void
cmhost_stop(fx *f)
{
	cmhost_fx *cm = f->cm;
	if (cm == NULL)
		return;
	if (cm->srv != NULL)
		cmh_server_stop(cm->srv);
	if (cm->log != NULL)
		fclose(cm->log);
	cmh_service_free(cm->svc);
	cmh_db_close(cm->db);
	cmh_ca_free(cm->ca);
	cmh_config_free(cm->cfg);
	free(cm);
	f->cm = NULL;
}

/* Requests the CM host has seen. */
static int
cm_requests(const fx *f)
{
	int n = 0;
	for (size_t i = 0; i < 32; i++)
		n += f->cm->nreq[i];
	return n;
}

typedef struct {
	unsigned n, waiting, confirmed, rejected;
	char card[80];
} cert_states;

static void
count_state(void *ctx, const cmh_cert_rec *r)
{
	cert_states *cs = ctx;
	cs->n++;
	cs->waiting += r->state == CMH_CERT_WAITING;
	cs->confirmed += r->state == CMH_CERT_CONFIRMED;
	cs->rejected += r->state == CMH_CERT_REJECTED;
	snprintf(cs->card, sizeof(cs->card), "%s", r->card);
}

/* What the CM host's database holds. */
static cert_states
cm_certs(fx *f)
{
	cert_states cs;
	memset(&cs, 0, sizeof(cs));
	ok(cmh_db_certs_each(f->cm->db, count_state, &cs));
	return cs;
}

static int
setup(void **state)
{
	static unsigned n;
	fx *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/t%02u", top, ++n);
	if (mkdir(f->dir, 0700) != 0)
		return -1;
	pathf(f->journal, sizeof(f->journal), f->dir, "journal");
	f->officer = keep(f, officer_card());
	write_config(f, "{name: target}");
	open_station(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;
	rt_station_close(f->st);
	cmhost_stop(f);
	rt_config_free(f->cfg);
	for (size_t i = 0; i < f->ncards; i++)
		vpiv_free(f->cards[i]);
	free(f);
	return 0;
}

/* Operation files in the journal directory (0 when it does not exist). */
static size_t
journal_files(const fx *f)
{
	DIR *d = opendir(f->journal);
	size_t n = 0;
	if (d == NULL)
		return 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ---- the dialogs, answered from a table -------------------------------------- */

typedef struct {
	const char *sig;	/* the Signature PIN typed */
	const char *pin;	/* the target card's PIN (1 and 2) */
	bool no;		/* confirm answers no */
	bool cancel;		/* cancel answers true */
	int cancel_from;	/* ... from its cancel_from-th poll on (1..) */
	int nsig, npin[3], nconfirm, ncancel, nop;
	vpiv **swap;		/* at the confirmation: *swap = swap_to (a card */
	vpiv *swap_to;		/* swapped while the officer reads the plan) */
	int nsig_at_cancel;	/* Signature PINs asked when cancel first ran */
	int npin_at_sig;	/* card PINs asked when the Signature PIN was */
	char sig_prompt[400];
} answers;

static rt_err *
give(const char *v, char *buf, size_t cap, size_t *len)
{
	if (v == NULL)
		return rt_err_new(RT_E_USAGE, NULL, "no answer");
	assert_true(strlen(v) <= cap);
	memcpy(buf, v, strlen(v));
	*len = strlen(v);
	return NULL;
}

static rt_err *
a_sig(void *ctx, const char *prompt, char *buf, size_t cap, size_t *len)
{
	answers *a = ctx;
	a->nsig++;
	a->npin_at_sig = a->npin[1] + a->npin[2];
	snprintf(a->sig_prompt, sizeof(a->sig_prompt), "%s", prompt);
	return give(a->sig, buf, cap, len);
}

static rt_err *
a_pin(void *ctx, unsigned which, const char *prompt, char *buf, size_t cap,
    size_t *len)
{
	answers *a = ctx;
	(void)prompt;
	assert_true(which == 1 || which == 2);
	a->npin[which]++;
	return give(a->pin, buf, cap, len);
}

static rt_err *
a_confirm(void *ctx, const rt_plan *p, bool *yes)
{
	answers *a = ctx;
	assert_true(p->nsteps > 0);
	a->nconfirm++;
	if (a->swap != NULL)
		*a->swap = a->swap_to;
	*yes = !a->no;
	return NULL;
}

static bool
a_cancel(void *ctx)
{
	answers *a = ctx;
	if (a->ncancel++ == 0)
		a->nsig_at_cancel = a->nsig;
	if (a->cancel_from > 0 && a->ncancel >= a->cancel_from)
		return true;
	return a->cancel;
}

static rt_err *
a_operator(void *ctx, const char *prompt, uint8_t *buf, size_t cap,
    size_t *len)
{
	answers *a = ctx;
	(void)prompt;
	(void)buf;
	(void)cap;
	a->nop++;
	*len = 0;	/* the card's default management key */
	return NULL;
}

static rt_update_dialogs
dialogs(answers *a)
{
	rt_update_dialogs d = {
		.ctx = a, .card_pin = a_pin, .operator_credential = a_operator,
		.signature_pin = a_sig, .confirm = a_confirm, .cancel = a_cancel,
	};
	return d;
}

/* Reloads and chooses action a on slot under procedure proc. */
static void
choose(fx *f, const char *proc, uint8_t slot, rt_action a)
{
	ok(rt_station_reload(f->st));
	rt_update *u = rt_station_update(f->st);
	assert_non_null(u);
	ok(rt_update_set_procedure(u, rt_config_procedure(f->cfg, proc)));
	ok(rt_update_set_action(u, slot, a));
}

/* choose, then the plan (the dialogs answering what it asks). */
static void
planned(fx *f, const char *proc, uint8_t slot, rt_action a,
    const rt_update_dialogs *d, rt_plan *plan)
{
	choose(f, proc, slot, a);
	ok(rt_station_plan(f->st, d, false, plan));
}

/* ---- reload and procedures ------------------------------------------------- */

static void
test_reload(void **state)
{
	fx *f = *state;
	f->target = keep(f, tc_card(TC_SERIAL));
	assert_null(rt_station_contents(f->st));
	assert_null(rt_station_update(f->st));
	assert_string_equal(rt_station_card_id(f->st), "");
	ok(rt_station_reload(f->st));
	const rt_contents *ct = rt_station_contents(f->st);
	assert_non_null(ct);
	assert_int_equal(ct->nrows, 2);
	assert_true(ct->has_serial);
	assert_int_equal(ct->serial, TC_SERIAL);
	assert_int_equal(ct->rows[0].slot, 0x9a);
	assert_int_equal(ct->rows[1].slot, 0x9c);
	for (size_t i = 0; i < 2; i++) {
		assert_true(ct->rows[i].has_cert);
		assert_true(ct->rows[i].tc);
		assert_string_equal(ct->rows[i].alg, "ECCP256");
		assert_string_equal(ct->rows[i].cert.issuer_cn,
		    "raterm Test Transport CA");
	}
	assert_string_equal(ct->rows[0].cert.subject_cn, "Card 9a");
	assert_string_equal(ct->rows[1].cert.subject_cn, "Card 9c");
	assert_string_equal(rt_station_card_id(f->st), "serial 10000001");
	/* the one procedure for a TC card is preselected, actions Blank */
	rt_update *u = rt_station_update(f->st);
	assert_non_null(u->proc);
	assert_string_equal(u->proc->name, "tc-redo");
	assert_int_equal(u->action[0], RT_ACT_BLANK);
	assert_int_equal(u->action[1], RT_ACT_BLANK);
	assert_false(u->tc_ran);
	/* nothing chosen: an empty plan, nothing asked, nothing sent */
	answers a = { .sig = OFFICER_PIN, .pin = CARD_PIN };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	ok(rt_station_plan(f->st, &d, false, &plan));
	assert_int_equal(plan.nsteps, 0);
	ok(rt_station_submit(f->st, &d, 0, &plan, &res));
	assert_int_equal(a.nsig + a.nconfirm + a.npin[1], 0);
	assert_false(res.sent);
	assert_int_equal(journal_files(f), 0);

	/* another card in the reader, read again: a card in use, two
	 * procedures fit, none is preselected; what was chosen is dropped */
	ok(rt_update_set_action(u, 0x9a, RT_ACT_REDO));
	f->target = keep(f, plain_card(PLAIN_SERIAL));
	ok(rt_station_reload(f->st));
	ct = rt_station_contents(f->st);
	assert_int_equal(ct->nrows, 2);
	assert_false(ct->rows[0].tc);
	assert_false(ct->rows[1].tc);
	assert_string_equal(ct->rows[0].cert.subject_cn, "Jane 9a");
	assert_string_equal(rt_station_card_id(f->st), "serial 10000003");
	u = rt_station_update(f->st);
	assert_null(u->proc);
	assert_int_equal(u->action[0], RT_ACT_BLANK);
	/* the reader is free after the reload: it was opened once per read */
	assert_int_equal(f->opens, 2);
}

static void
test_procedures_offered(void **state)
{
	fx *f = *state;
	const rt_procedure *p[4];
	f->target = keep(f, tc_card(TC_SERIAL));
	assert_int_equal(rt_station_procedures(f->st, p, 4), 0);	/* no card */
	ok(rt_station_reload(f->st));
	/* a TC card gets only procedures with TC controls */
	assert_int_equal(rt_station_procedures(f->st, p, 4), 1);
	assert_string_equal(p[0]->name, "tc-redo");
	assert_true(p[0]->tc_controls != 0);
	rt_update *u = rt_station_update(f->st);
	expect(rt_update_set_procedure(u, rt_config_procedure(f->cfg, "renew")),
	    RT_E_RULE, "no TC-authenticity controls", NULL);
	assert_string_equal(u->proc->name, "tc-redo");
	/* Add is never offered on PIV, and refused on a TC key */
	expect(rt_update_check_action(u, 0x9a, RT_ACT_ADD, 0), RT_E_RULE,
	    "transport certificate", NULL);
	ok(rt_update_check_action(u, 0x9a, RT_ACT_REDO, 0));

	/* a card in use gets both, in configuration order */
	f->target = keep(f, plain_card(PLAIN_SERIAL));
	ok(rt_station_reload(f->st));
	assert_int_equal(rt_station_procedures(f->st, p, 4), 2);
	assert_string_equal(p[0]->name, "renew");
	assert_string_equal(p[1]->name, "tc-redo");
	assert_int_equal(rt_station_procedures(f->st, p, 1), 1);
}

/* ---- the card behind the station's back ----------------------------------- */

static void
test_card_swapped(void **state)
{
	fx *f = *state;
	answers a = { .sig = OFFICER_PIN, .pin = CARD_PIN };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	vpiv *first = keep(f, tc_card(TC_SERIAL));
	f->target = first;
	choose(f, "tc-redo", 0x9a, RT_ACT_REDO);
	ok(rt_station_plan(f->st, &d, false, &plan));	/* TC controls */
	assert_int_equal(plan.nsteps, 1);
	assert_true(plan.tc_verified);
	assert_int_equal(a.npin[1], 1);

	/* another card of the same kind behind the same reader name */
	f->target = keep(f, tc_card(TC2_SERIAL));
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_CARD_CHANGED,
	    "serial 10000002", "serial 10000001");
	assert_int_equal(a.nconfirm + a.nsig, 0);	/* nothing asked */
	assert_false(res.sent);
	assert_int_equal(journal_files(f), 0);
	assert_false(rt_station_card_pin_kept(f->st));	/* wiped */

	/* the first card back, but a certificate changed behind the
	 * station's back (a new TC on 9C) */
	f->target = first;
	key_and_cert(first, 0x9c, "transport-ca", "CN=Card 9c,O=raterm tests",
	    VPIV_BIND_SERIAL);
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_CARD_CHANGED,
	    "serial 10000001", "changed since it was read");
	assert_int_equal(a.nconfirm + a.nsig, 0);
	assert_int_equal(journal_files(f), 0);
	/* swapped while the officer reads the plan and types the PIN: the
	 * card is checked again before anything is sent */
	f->target = first;
	choose(f, "tc-redo", 0x9a, RT_ACT_REDO);
	a.npin[1] = 0;
	ok(rt_station_plan(f->st, &d, false, &plan));
	a.swap = &f->target;
	a.swap_to = f->cards[2];
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_CARD_CHANGED,
	    "serial 10000002", "serial 10000001");
	assert_int_equal(a.nconfirm, 1);
	assert_int_equal(a.nsig, 1);
	assert_int_equal(a.npin[2], 0);
	assert_false(res.sent);
	assert_int_equal(journal_files(f), 0);
	assert_int_equal(pin_left(f->cards[2]), 3);
	a.swap = NULL;
	a.nconfirm = a.nsig = 0;
	f->target = first;
	/* the TC controls run again after a reload see the new card */
	a.npin[1] = 0;
	planned(f, "tc-redo", 0x9a, RT_ACT_REDO, &d, &plan);
	assert_int_equal(a.npin[1], 1);
	assert_true(plan.tc_verified);
	/* and the TC controls themselves refuse a swapped card */
	f->target = f->cards[2];
	choose(f, "tc-redo", 0x9a, RT_ACT_REDO);
	f->target = first;
	expect(rt_station_plan(f->st, &d, false, &plan), RT_E_CARD_CHANGED,
	    "serial 10000001", "serial 10000002");
}

static void
test_no_card(void **state)
{
	fx *f = *state;
	/* nothing found yet: no target reader */
	expect(rt_station_require_target(f->st), RT_E_NO_READER,
	    "no target reader", NULL);
	/* the reader is there, without a card */
	expect(rt_station_reload(f->st), RT_E_NO_CARD, "no card in reader "
	    "\"target\"", NULL);
	ok(rt_station_require_target(f->st));
	assert_null(rt_station_contents(f->st));
	assert_null(rt_station_update(f->st));
	assert_string_equal(rt_station_card_id(f->st), "");
	/* the reader is unplugged */
	f->no_target_reader = true;
	expect(rt_station_reload(f->st), RT_E_NO_READER, "target", NULL);
	/* a card read, then pulled: reload drops the old Contents */
	f->no_target_reader = false;
	f->target = keep(f, plain_card(PLAIN_SERIAL));
	ok(rt_station_reload(f->st));
	assert_non_null(rt_station_contents(f->st));
	f->target = NULL;
	expect(rt_station_reload(f->st), RT_E_NO_CARD, NULL, NULL);
	assert_null(rt_station_contents(f->st));
	assert_string_equal(rt_station_card_id(f->st), "");
	rt_plan plan;
	expect(rt_station_plan(f->st, NULL, true, &plan), RT_E_ARG, "Reload",
	    NULL);
	/* back to the configuration's choice: nothing chosen until found */
	ok(rt_station_set_target(f->st, NULL));
	expect(rt_station_require_target(f->st), RT_E_NO_READER, NULL, NULL);
	expect(rt_station_set_target(f->st, "officer"), RT_E_ARG,
	    "officer's reader", NULL);
	f->target = f->cards[1];
	ok(rt_station_set_target(f->st, "target"));
	ok(rt_station_reload(f->st));
}

/* readers.target by pattern on a station without PC/SC service: the
 * reload says why there is no target, and require_target says the same */
static void
test_no_reader_pattern(void **state)
{
	fx *f = *state;
	char sock[260], why[600], why2[600];
	rt_config_free(f->cfg);
	f->cfg = NULL;
	pathf(sock, sizeof(sock), f->dir, "no-pcscd.comm");
	setenv("PCSCLITE_CSOCK_NAME", sock, 1);
	write_config(f, "{pattern: \"targ*\"}");
	open_station(f);
	f->target = keep(f, plain_card(PLAIN_SERIAL));
	rt_station_readers_info info;
	ok(rt_station_find_readers(f->st, &info));
	assert_string_equal(info.officer, "officer");
	assert_string_equal(info.target, "");
	assert_true(info.target_why[0] != '\0');
	rt_err *e = rt_station_reload(f->st);
	assert_non_null(e);
	rt_err_kind k = rt_err_kind_of(e);
	assert_true(k == RT_E_NO_SERVICE || k == RT_E_NO_READER ||
	    k == RT_E_PCSC);
	rt_err_format(e, why, sizeof(why));
	rt_err_free(e);
	e = rt_station_require_target(f->st);
	assert_non_null(e);
	assert_int_equal(rt_err_kind_of(e), k);
	rt_err_format(e, why2, sizeof(why2));
	rt_err_free(e);
	assert_string_equal(why, why2);
	assert_null(rt_station_contents(f->st));
	assert_int_equal(f->opens, 0);	/* no reader was opened */
	unsetenv("PCSCLITE_CSOCK_NAME");
}

/* ---- the dialog table ------------------------------------------------------ */

static void
test_confirm_declined(void **state)
{
	fx *f = *state;
	answers a = { .sig = OFFICER_PIN, .pin = CARD_PIN, .no = true };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	cmhost_start(f);
	f->target = keep(f, plain_card(PLAIN_SERIAL));
	planned(f, "renew", 0x9a, RT_ACT_ISSUE, &d, &plan);
	assert_int_equal(plan.nsteps, 1);
	assert_int_equal(a.npin[1], 0);	/* no TC: nothing asked yet */
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_CANCELLED,
	    "not confirmed", NULL);
	assert_int_equal(a.nconfirm, 1);
	assert_int_equal(a.nsig, 0);	/* the plan first, then the PIN */
	assert_int_equal(a.npin[1], 0);
	assert_false(res.sent);
	assert_string_equal(res.op_id, "");
	assert_int_equal(journal_files(f), 0);
	assert_int_equal(pin_left(f->officer), 3);

	/* no one to confirm and no RT_SUBMIT_YES: a usage error */
	d.confirm = NULL;
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_USAGE,
	    "confirm", "nothing was sent");
	assert_int_equal(a.nsig, 0);
	assert_int_equal(journal_files(f), 0);

	/* RT_SUBMIT_YES: on to the Signature PIN; cancel answers true
	 * after it: cancelled, nothing sent */
	a.cancel = true;
	expect(rt_station_submit(f->st, &d, RT_SUBMIT_YES, &plan, &res),
	    RT_E_CANCELLED, "nothing was sent", NULL);
	assert_int_equal(a.nconfirm, 1);
	assert_int_equal(a.nsig, 1);
	assert_int_equal(a.nsig_at_cancel, 1);	/* asked after the PIN */
	assert_int_equal(a.npin[1], 0);
	assert_false(res.sent);
	assert_int_equal(journal_files(f), 0);
	/* the PIN was verified (a good one: the counter is full) */
	assert_int_equal(pin_left(f->officer), 3);
	assert_int_equal(pin_left(f->target), 3);
	assert_int_equal(cm_requests(f), 0);
}

static void
test_cancel_after_signature_pin(void **state)
{
	fx *f = *state;
	answers a = { .sig = OFFICER_PIN, .pin = CARD_PIN, .cancel = true };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	cmhost_start(f);
	f->target = keep(f, tc_card(TC_SERIAL));
	planned(f, "tc-redo", 0x9c, RT_ACT_REDO, &d, &plan);
	assert_int_equal(a.npin[1], 1);
	assert_true(rt_station_card_pin_kept(f->st));
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_CANCELLED,
	    "cancelled", "nothing was sent");
	assert_int_equal(a.nconfirm, 1);
	assert_int_equal(a.nsig, 1);
	assert_int_equal(a.nsig_at_cancel, 1);
	assert_int_equal(a.npin[1], 1);
	assert_int_equal(a.npin[2], 0);
	assert_false(res.sent);
	assert_int_equal(journal_files(f), 0);
	/* the card PIN kept for the submit is gone with it */
	assert_false(rt_station_card_pin_kept(f->st));
	assert_string_equal(rt_station_busy_op(f->st), "");
	assert_int_equal(cm_requests(f), 0);
	assert_int_equal(pin_left(f->target), 3);
}

static void
test_signature_pin_wrong(void **state)
{
	fx *f = *state;
	answers a = { .sig = "999999", .pin = CARD_PIN };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	cmhost_start(f);
	f->target = keep(f, plain_card(PLAIN_SERIAL));
	planned(f, "renew", 0x9a, RT_ACT_ISSUE, &d, &plan);
	rt_err *e = rt_station_submit(f->st, &d, 0, &plan, &res);
	assert_int_equal(rt_err_detail(e), 2);	/* tries left */
	expect(e, RT_E_PIN_WRONG, "Signature PIN", "\"officer\"");
	assert_int_equal(a.nconfirm, 1);
	assert_int_equal(a.nsig, 1);
	/* the prompt named the officer's reader and the tries left */
	assert_non_null(strstr(a.sig_prompt, "\"officer\""));
	assert_non_null(strstr(a.sig_prompt, "3 tries left"));
	assert_int_equal(a.npin[1], 0);	/* stopped before the card's PIN */
	assert_false(res.sent);
	assert_int_equal(cm_requests(f), 0);	/* nothing sent */
	assert_int_equal(journal_files(f), 0);
	assert_int_equal(pin_left(f->officer), 2);	/* down by one */
	rt_station_officer_info oi;
	ok(rt_station_officer_refresh(f->st, &oi));
	assert_int_equal(oi.pin_retries, 2);
	assert_string_equal(oi.name, "raterm Demo Officer");
	assert_false(oi.software);
	/* never presented again: the next submit asks again */
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_PIN_WRONG,
	    NULL, NULL);
	assert_int_equal(a.nsig, 2);
	assert_non_null(strstr(a.sig_prompt, "2 tries left"));
	assert_int_equal(pin_left(f->officer), 1);
	assert_int_equal(cm_requests(f), 0);
	/* a right one resets the counter, the update goes through */
	a.sig = OFFICER_PIN;
	ok(rt_station_submit(f->st, &d, 0, &plan, &res));
	assert_int_equal(a.nsig, 3);
	assert_int_equal(pin_left(f->officer), 3);
	assert_true(res.confirmed);
}

/* ---- secrets of one submit ------------------------------------------------- */

static void
test_secrets(void **state)
{
	fx *f = *state;
	answers a = { .sig = OFFICER_PIN, .pin = CARD_PIN };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	f->target = keep(f, tc_card(TC_SERIAL));
	choose(f, "tc-redo", 0x9a, RT_ACT_REDO);
	ok(rt_update_set_action(rt_station_update(f->st), 0x9c, RT_ACT_REDO));
	/* the TC controls need the card PIN: asked once (9C, PIN-always,
	 * gets the kept one again), kept for the submit */
	ok(rt_station_plan(f->st, &d, false, &plan));
	assert_int_equal(plan.nsteps, 2);
	assert_int_equal(plan.card_pins, 2);
	assert_true(plan.tc_verified);
	assert_int_equal(a.npin[1], 1);
	assert_true(rt_station_card_pin_kept(f->st));
	/* a dry plan asks nothing and needs nothing more now */
	ok(rt_station_plan(f->st, NULL, true, &plan));
	assert_int_equal(a.npin[1], 1);
	/* the submit: the kept PIN serves it, the second is asked; it fails
	 * at the CM host (not reachable) before anything is issued */
	rt_err *e = rt_station_submit(f->st, &d, 0, &plan, &res);
	expect(e, RT_E_CMP_HTTP, NULL, NULL);
	assert_int_equal(a.nsig, 1);
	assert_int_equal(a.npin[1], 1);
	assert_int_equal(a.npin[2], 1);
	/* the Signature PIN before the second card PIN */
	assert_int_equal(a.npin_at_sig, 1);
	/* the CM host is first reached by the cr (the management key rides
	 * in it): the journal holds that operation, aborted, nothing issued */
	assert_int_equal(journal_files(f), 1);
	assert_false(rt_station_card_pin_kept(f->st));
	assert_int_equal(pin_left(f->target), 3);
	/* next time everything is asked again */
	e = rt_station_submit(f->st, &d, 0, &plan, &res);
	expect(e, RT_E_CMP_HTTP, NULL, NULL);
	assert_int_equal(a.nsig, 2);
	assert_int_equal(a.npin[1], 2);
	assert_int_equal(a.npin[2], 2);
	assert_false(rt_station_card_pin_kept(f->st));

	/* a reload forgets a PIN kept by the plan */
	planned(f, "tc-redo", 0x9a, RT_ACT_REDO, &d, &plan);
	assert_int_equal(a.npin[1], 3);
	assert_true(rt_station_card_pin_kept(f->st));
	ok(rt_station_reload(f->st));
	assert_false(rt_station_card_pin_kept(f->st));
	/* ... and so does forget_secrets */
	ok(rt_update_set_action(rt_station_update(f->st), 0x9a, RT_ACT_REDO));
	ok(rt_station_plan(f->st, &d, false, &plan));
	assert_true(rt_station_card_pin_kept(f->st));
	rt_station_forget_secrets(f->st);
	assert_false(rt_station_card_pin_kept(f->st));

	/* a wrong card PIN in the plan is forgotten at once: the TC
	 * controls stop, one try spent */
	choose(f, "tc-redo", 0x9a, RT_ACT_REDO);
	a.pin = "000000";
	expect(rt_station_plan(f->st, &d, false, &plan), RT_E_PIN_WRONG, NULL,
	    NULL);
	assert_false(rt_station_card_pin_kept(f->st));
	assert_int_equal(pin_left(f->target), 2);
	/* typed again, the controls run again */
	a.pin = CARD_PIN;
	ok(rt_station_plan(f->st, &d, false, &plan));
	assert_true(plan.tc_verified);
	assert_int_equal(pin_left(f->target), 3);
}

/* The card PIN dialog of the TC controls cancelled: USAGE, nothing kept,
 * and the next plan asks again and runs the controls. An empty plan
 * submitted after a plan that kept the PIN forgets it too. */
static void
test_plan_pin_cancelled(void **state)
{
	fx *f = *state;
	answers a = { .sig = OFFICER_PIN, .pin = NULL };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan, empty;
	rt_submit_result res;
	f->target = keep(f, tc_card(TC_SERIAL));
	choose(f, "tc-redo", 0x9a, RT_ACT_REDO);
	expect(rt_station_plan(f->st, &d, false, &plan), RT_E_USAGE, NULL,
	    NULL);
	assert_int_equal(a.npin[1], 1);
	assert_false(rt_station_card_pin_kept(f->st));
	assert_int_equal(pin_left(f->target), 3);
	/* without a PIN dialog, a dry plan says which PIN it needs */
	expect(rt_station_plan(f->st, NULL, true, &plan), RT_E_USAGE,
	    "card's PIN", NULL);
	a.pin = CARD_PIN;
	ok(rt_station_plan(f->st, &d, false, &plan));
	assert_int_equal(a.npin[1], 2);
	assert_true(plan.tc_verified);
	assert_true(rt_station_card_pin_kept(f->st));
	/* the action set back to Blank: an empty plan, nothing sent, and
	 * the PIN kept for a submit is forgotten when the submit ends */
	ok(rt_update_set_action(rt_station_update(f->st), 0x9a, RT_ACT_BLANK));
	ok(rt_station_plan(f->st, &d, false, &empty));
	assert_int_equal(empty.nsteps, 0);
	ok(rt_station_submit(f->st, &d, 0, &empty, &res));
	assert_false(res.sent);
	assert_int_equal(a.nsig + a.nconfirm, 0);
	assert_false(rt_station_card_pin_kept(f->st));
}

/* ---- open operations ------------------------------------------------------- */

/* An operation of card left open in the journal (BEGIN, PLAN, REQUEST). */
static void
open_op(fx *f, const char *card, char *id, size_t cap)
{
	rt_journal *j;
	rt_jop_file *jf;
	rt_jop_info info;
	memset(&info, 0, sizeof(info));
	snprintf(info.card, sizeof(info.card), "%s", card);
	snprintf(info.reader, sizeof(info.reader), "target");
	snprintf(info.procedure, sizeof(info.procedure), "renew");
	snprintf(info.officer, sizeof(info.officer), "CN=raterm Demo Officer");
	ok(rt_journal_open(f->journal, &j));
	ok(rt_journal_begin(j, &info, id, cap, &jf));
	rt_jrec r;
	memset(&r, 0, sizeof(r));
	r.step = RT_J_REQUEST;
	snprintf(r.text, sizeof(r.text), "cr for 1 key(s)");
	ok(rt_journal_append(jf, &r));
	rt_journal_file_close(jf);
	rt_journal_close(j);
}

static void
test_open_ops(void **state)
{
	fx *f = *state;
	answers a = { .sig = OFFICER_PIN, .pin = CARD_PIN, .no = true };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	char id[64], other[64];
	rt_jop *ops;
	size_t n;
	f->target = keep(f, plain_card(PLAIN_SERIAL));
	ok(rt_station_open_ops(f->st, &ops, &n));
	assert_int_equal(n, 0);
	rt_jops_free(ops, n);
	/* another card's open operation does not stop this one */
	open_op(f, "serial 99999999", other, sizeof(other));
	planned(f, "renew", 0x9a, RT_ACT_ISSUE, &d, &plan);
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_CANCELLED,
	    NULL, NULL);
	assert_int_equal(a.nconfirm, 1);
	/* this card's does: RULE naming it, nothing asked */
	open_op(f, "serial 10000003", id, sizeof(id));
	ok(rt_station_open_ops(f->st, &ops, &n));
	assert_int_equal(n, 2);
	bool seen = false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(ops[i].id, id) == 0) {
			seen = true;
			assert_string_equal(ops[i].info.card, "serial 10000003");
			assert_int_equal(ops[i].last, RT_J_REQUEST);
		}
	assert_true(seen);
	rt_jops_free(ops, n);
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_RULE, id,
	    "recover");
	assert_int_equal(a.nconfirm, 1);
	assert_int_equal(a.nsig, 0);
	assert_false(res.sent);
	/* --ignore-open: on to the confirmation */
	f->o.ignore_open = true;
	open_station(f);
	planned(f, "renew", 0x9a, RT_ACT_ISSUE, &d, &plan);
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_CANCELLED,
	    NULL, NULL);
	assert_int_equal(a.nconfirm, 2);
	assert_int_equal(journal_files(f), 2);	/* none added */
}

/* Recovery of operations that issued nothing: no CM host exchange. The
 * Signature PIN is asked once for all the operations of one recovery; a
 * refused one is asked again, never presented again. */
static void
test_recover_nothing_issued(void **state)
{
	fx *f = *state;
	answers a = { .sig = "999999", .pin = CARD_PIN };
	rt_update_dialogs d = dialogs(&a);
	rt_recover_result rr;
	char id1[64], id2[64];
	rt_jop *ops;
	size_t n;
	open_op(f, "serial 10000003", id1, sizeof(id1));
	open_op(f, "serial 10000003", id2, sizeof(id2));
	ok(rt_station_open_ops(f->st, &ops, &n));
	assert_int_equal(n, 2);
	/* no card in the target reader: not needed when nothing was issued */
	rt_err *e = rt_station_recover(f->st, &ops[0], &d, &rr);
	assert_int_equal(rt_err_detail(e), 2);
	expect(e, RT_E_PIN_WRONG, "Signature PIN", NULL);
	assert_int_equal(a.nsig, 1);
	assert_int_equal(pin_left(f->officer), 2);
	assert_false(rr.finished);
	a.sig = OFFICER_PIN;
	ok(rt_station_recover(f->st, &ops[0], &d, &rr));
	assert_int_equal(a.nsig, 2);	/* asked again */
	assert_int_equal(pin_left(f->officer), 3);
	assert_true(rr.finished);
	assert_int_equal(rr.nissued, 0);
	assert_non_null(strstr(rr.summary, "nothing was issued"));
	ok(rt_station_recover(f->st, &ops[1], &d, &rr));
	assert_int_equal(a.nsig, 2);	/* once for the whole recovery */
	assert_true(rr.finished);
	rt_station_recover_done(f->st);
	rt_jops_free(ops, n);
	ok(rt_station_open_ops(f->st, &ops, &n));
	assert_int_equal(n, 0);
	rt_jops_free(ops, n);
	assert_int_equal(journal_files(f), 2);
}

/* ---- with the CM host -------------------------------------------------------- */

/* The journal's record of operation id. */
static void
read_op(fx *f, const char *id, rt_jop *op)
{
	rt_journal *j;
	ok(rt_journal_open(f->journal, &j));
	ok(rt_journal_read(j, id, op));
	rt_journal_close(j);
}

/* The certificate in slot, as the card holds it (DER, malloc'ed). */
static uint8_t *
slot_cert(vpiv *v, uint8_t slot, size_t *len)
{
	const uint8_t *obj;
	size_t ol;
	ok(vpiv_get_object(v, vpiv_cert_object(slot), &obj, &ol));
	uint8_t *c = malloc(ol);
	assert_non_null(c);
	memcpy(c, obj, ol);
	*len = ol;
	return c;
}

/* Redo of every TC key of a pre-personalized card, end to end: two
 * requests (cr, certConf), the management key asked in the cr; over HTTP
 * both on one connection. */
static void
redo_tc(void **state, bool http)
{
	fx *f = *state;
	answers a = { .sig = OFFICER_PIN, .pin = CARD_PIN };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	rt_jop op;
	cmhost_start_as(f, http);
	f->target = keep(f, tc_card(TC_SERIAL));
	choose(f, "tc-redo", 0x9a, RT_ACT_REDO);
	ok(rt_update_set_action(rt_station_update(f->st), 0x9c, RT_ACT_REDO));
	ok(rt_station_plan(f->st, &d, false, &plan));
	assert_int_equal(plan.nsteps, 2);
	assert_true(plan.tc_verified);
	ok(rt_station_submit(f->st, &d, 0, &plan, &res));
	for (size_t i = 0; i < plan.nsteps; i++) {
		assert_int_equal(res.state[i], RT_STEP_DONE);
		assert_true(res.serial[i][0] != '\0');
	}
	assert_true(res.sent);
	assert_true(res.issued);
	assert_true(res.confirmed);
	/* asked once each: the officer signed more than one message */
	assert_int_equal(a.nconfirm, 1);
	assert_int_equal(a.nsig, 1);
	assert_int_equal(a.npin[1], 1);		/* typed for the TC controls */
	assert_int_equal(a.npin[2], 1);
	assert_int_equal(a.nop, 1);		/* the CM host holds no key */
	/* two requests: the management key rode in the cr (no genm) */
	assert_int_equal(f->cm->nreq[CMP_BODY_CR], 1);
	assert_int_equal(f->cm->nreq[CMP_BODY_CERTCONF], 1);
	assert_int_equal(f->cm->nreq[CMP_BODY_GENM], 0);
	assert_int_equal(cm_requests(f), 2);
	if (http) {
		/* two HTTP exchanges, one TCP connection */
		assert_int_equal(cm_log_lines(f, "cmp: -> ", NULL), 2);
		assert_int_equal(cm_log_lines(f, "cmp: HTTP 200", NULL), 2);
		assert_int_equal(cm_log_lines(f, "cmp: HTTP ",
		    "on a new connection"), 1);
		assert_int_equal(cm_log_lines(f, "cmp: HTTP ",
		    "on the kept-alive connection"), 1);
	}
	assert_int_equal(pin_left(f->officer), 3);
	assert_int_equal(pin_left(f->target), 3);
	assert_false(rt_station_card_pin_kept(f->st));
	assert_string_equal(rt_station_busy_op(f->st), "");
	/* the journal: one operation, complete */
	assert_int_equal(journal_files(f), 1);
	read_op(f, res.op_id, &op);
	assert_true(op.complete);
	assert_int_equal(op.last, RT_J_END);
	assert_string_equal(op.info.card, "serial 10000001");
	assert_string_equal(op.info.procedure, "tc-redo");
	rt_jop_free(&op);
	/* the CM host: both confirmed, for this card */
	cert_states cs = cm_certs(f);
	assert_int_equal(cs.n, 2);
	assert_int_equal(cs.confirmed, 2);
	/* the card: no TC left, the CM host's certificates, same subjects */
	ok(rt_station_reload(f->st));
	const rt_contents *ct = rt_station_contents(f->st);
	assert_int_equal(ct->nrows, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_false(ct->rows[i].tc);
		assert_string_equal(ct->rows[i].cert.issuer_cn,
		    "raterm Demo Issuing CA");
	}
	assert_string_equal(ct->rows[0].cert.subject_cn, "Card 9a");
	assert_string_equal(ct->rows[1].cert.subject_cn, "Card 9c");
	/* nothing kept: the next submit asks everything again */
	rt_update *u = rt_station_update(f->st);
	ok(rt_update_set_procedure(u, rt_config_procedure(f->cfg, "renew")));
	ok(rt_update_set_action(u, 0x9a, RT_ACT_ISSUE));
	ok(rt_station_plan(f->st, &d, false, &plan));
	ok(rt_station_submit(f->st, &d, 0, &plan, &res));
	assert_int_equal(a.nsig, 2);
	assert_int_equal(a.npin[1], 2);
	assert_int_equal(journal_files(f), 2);
}

static void
test_cm_redo_tc(void **state)
{
	redo_tc(state, false);
}

static void
test_cm_redo_tc_http(void **state)
{
	redo_tc(state, true);
}

/* Cancel between two writes: the first certificate is on the card and
 * accepted, the second is not written and is rejected in the certConf;
 * the operation is complete (nothing left for recover). The polls: after
 * the Signature PIN (1), before the request (2), before each write (3,
 * 4). */
static void
test_cm_cancel_between_writes(void **state)
{
	fx *f = *state;
	answers a = { .sig = OFFICER_PIN, .pin = CARD_PIN, .cancel_from = 4 };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	rt_jop op;
	cmhost_start(f);
	f->target = keep(f, tc_card(TC_SERIAL));
	choose(f, "tc-redo", 0x9a, RT_ACT_REDO);
	ok(rt_update_set_action(rt_station_update(f->st), 0x9c, RT_ACT_REDO));
	ok(rt_station_plan(f->st, &d, false, &plan));
	assert_int_equal(plan.nsteps, 2);
	rt_err *e = rt_station_submit(f->st, &d, 0, &plan, &res);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_CANCELLED));
	rt_err_free(e);
	assert_int_equal(res.state[0], RT_STEP_DONE);
	assert_int_equal(res.state[1], RT_STEP_ROLLED_BACK);
	assert_true(res.confirmed);
	cert_states cs = cm_certs(f);
	assert_int_equal(cs.n, 2);
	assert_int_equal(cs.confirmed, 1);
	assert_int_equal(cs.waiting, 0);
	read_op(f, res.op_id, &op);
	assert_true(op.complete);
	rt_jop_free(&op);
	/* the card: 9a the CM host's, 9c still its TC */
	ok(rt_station_reload(f->st));
	const rt_contents *ct = rt_station_contents(f->st);
	assert_false(ct->rows[0].tc);
	assert_true(ct->rows[1].tc);
}

/* Cancel after the Signature PIN is checked, before the request: nothing
 * is sent, nothing journaled. */
static void
test_cm_cancel_before_request(void **state)
{
	fx *f = *state;
	answers a = { .sig = OFFICER_PIN, .pin = CARD_PIN, .cancel_from = 2 };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	cmhost_start(f);
	f->target = keep(f, tc_card(TC_SERIAL));
	choose(f, "tc-redo", 0x9a, RT_ACT_REDO);
	ok(rt_station_plan(f->st, &d, false, &plan));
	rt_err *e = rt_station_submit(f->st, &d, 0, &plan, &res);
	assert_non_null(e);
	assert_true(rt_err_has(e, RT_E_CANCELLED));
	rt_err_free(e);
	assert_false(res.sent);
	assert_int_equal(f->cm->nreq[CMP_BODY_CR], 0);
	assert_int_equal(journal_files(f), 0);
	assert_int_equal(cm_certs(f).n, 0);
}

/* Issue: the certificate is saved on the station, the card unchanged. */
static void
test_cm_issue(void **state)
{
	fx *f = *state;
	answers a = { .sig = OFFICER_PIN, .pin = CARD_PIN };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	size_t l0, l1;
	cmhost_start(f);
	f->target = keep(f, plain_card(PLAIN_SERIAL));
	uint8_t *before = slot_cert(f->target, 0x9a, &l0);
	planned(f, "renew", 0x9a, RT_ACT_ISSUE, &d, &plan);
	assert_false(plan.steps[0].writes_card);
	ok(rt_station_submit(f->st, &d, 0, &plan, &res));
	assert_int_equal(res.state[0], RT_STEP_DONE);
	assert_true(res.confirmed);
	assert_int_equal(a.nsig, 1);
	assert_int_equal(a.npin[1], 1);	/* the card's key signs the POPO */
	assert_int_equal(a.nop, 0);	/* nothing written: no credential */
	/* saved beside the journal, as PEM */
	char want[300];
	pathf(want, sizeof(want), f->dir, "issued/");
	assert_memory_equal(res.saved[0], want, strlen(want));
	FILE *fp = fopen(res.saved[0], "r");
	assert_non_null(fp);
	char line[64] = "";
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	assert_string_equal(line, "-----BEGIN CERTIFICATE-----\n");
	/* the card holds what it held */
	uint8_t *after = slot_cert(f->target, 0x9a, &l1);
	assert_int_equal(l0, l1);
	assert_memory_equal(before, after, l0);
	free(before);
	free(after);
	cert_states cs = cm_certs(f);
	assert_int_equal(cs.n, 1);
	assert_int_equal(cs.confirmed, 1);
	rt_jop *ops;
	size_t n;
	ok(rt_station_open_ops(f->st, &ops, &n));
	assert_int_equal(n, 0);
	rt_jops_free(ops, n);
	/* the reload sees the same card: nothing changed behind its back */
	ok(rt_station_submit(f->st, &d, 0, &plan, &res));
	assert_int_equal(a.nsig, 2);
}

/* The CM host lost before the certConf: the certificate is on the card,
 * the operation stays open (and stops the next update of the card);
 * rt_station_recover confirms it later. */
static void
test_cm_lost_before_certconf(void **state)
{
	fx *f = *state;
	answers a = { .sig = OFFICER_PIN, .pin = CARD_PIN };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	rt_recover_result rr;
	rt_jop *ops;
	size_t n;
	cmhost_start(f);
	f->cm->fail_type = CMP_BODY_CERTCONF;
	f->target = keep(f, tc_card(TC_SERIAL));
	planned(f, "tc-redo", 0x9a, RT_ACT_REDO, &d, &plan);
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_CMP_HTTP,
	    "stays open", res.op_id);
	assert_true(res.issued);
	assert_false(res.confirmed);
	assert_int_equal(res.state[0], RT_STEP_FAILED);
	assert_non_null(strstr(res.message[0], "recover"));
	assert_int_equal(f->cm->nreq[CMP_BODY_CERTCONF], 1);
	assert_string_equal(rt_station_busy_op(f->st), "");
	cert_states cs = cm_certs(f);
	assert_int_equal(cs.n, 1);
	assert_int_equal(cs.waiting, 1);
	/* on the card already */
	ok(rt_station_reload(f->st));
	const rt_contents *ct = rt_station_contents(f->st);
	assert_false(ct->rows[0].tc);
	assert_string_equal(ct->rows[0].cert.issuer_cn, "raterm Demo Issuing CA");
	assert_true(ct->rows[1].tc);
	/* open in the journal: the next update of this card is refused */
	ok(rt_station_open_ops(f->st, &ops, &n));
	assert_int_equal(n, 1);
	assert_string_equal(ops[0].id, res.op_id);
	assert_int_equal(ops[0].last, RT_J_CONFIRM);
	ok(rt_update_set_action(rt_station_update(f->st), 0x9c, RT_ACT_REDO));
	int nsig = a.nsig;
	ok(rt_station_plan(f->st, &d, false, &plan));
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_RULE,
	    ops[0].id, "recover");
	assert_int_equal(a.nsig, nsig);
	/* the CM host is back: recover confirms what is on the card */
	f->cm->fail_type = -1;
	ok(rt_station_recover(f->st, &ops[0], &d, &rr));
	rt_station_recover_done(f->st);
	assert_true(rr.finished);
	assert_false(rr.skipped);
	assert_int_equal(rr.nissued, 1);
	assert_int_equal(rr.naccepted, 1);
	assert_int_equal(rr.nrejected, 0);
	assert_int_equal(a.nsig, nsig + 1);
	assert_int_equal(f->cm->nreq[CMP_BODY_CERTCONF], 2);
	rt_jops_free(ops, n);
	ok(rt_station_open_ops(f->st, &ops, &n));
	assert_int_equal(n, 0);
	rt_jops_free(ops, n);
	cs = cm_certs(f);
	assert_int_equal(cs.confirmed, 1);
	assert_int_equal(pin_left(f->officer), 3);
}

/* A procedure whose CM host profile refuses the card's subject. */
static const char proc_qualified[] =
"name: qualified-test\n"
"description: a profile that needs C in the subject\n"
"actions: [issue]\n"
"tc_controls: none\n"
"profiles: {9a: qualified}\n"
"subject: card\n"
"san: none\n"
"card_pins: 1\n";

/* Rejected by the CM host: nothing issued, the card unchanged, the
 * journal operation closed. */
static void
test_cm_rejected(void **state)
{
	fx *f = *state;
	answers a = { .sig = OFFICER_PIN, .pin = CARD_PIN };
	rt_update_dialogs d = dialogs(&a);
	rt_plan plan;
	rt_submit_result res;
	rt_jop op;
	char path[300];
	size_t l0, l1;
	pathf(path, sizeof(path), f->dir, "procedures.d/z-qualified.yaml");
	put_file(path, proc_qualified, strlen(proc_qualified));
	rt_station_close(f->st);
	f->st = NULL;
	rt_config_free(f->cfg);
	f->cfg = NULL;
	write_config(f, "{name: target}");
	cmhost_start(f);
	f->target = keep(f, plain_card(PLAIN_SERIAL));
	uint8_t *before = slot_cert(f->target, 0x9a, &l0);
	planned(f, "qualified-test", 0x9a, RT_ACT_ISSUE, &d, &plan);
	expect(rt_station_submit(f->st, &d, 0, &plan, &res), RT_E_CMP_STATUS,
	    "requires subject attribute C", NULL);
	assert_true(res.sent);
	assert_false(res.issued);
	assert_int_equal(res.state[0], RT_STEP_FAILED);
	assert_int_equal(f->cm->nreq[CMP_BODY_CERTCONF], 0);
	read_op(f, res.op_id, &op);
	assert_true(op.complete);
	assert_int_equal(op.last, RT_J_ABORT);
	rt_jop_free(&op);
	assert_int_equal(cm_certs(f).n, 0);
	uint8_t *after = slot_cert(f->target, 0x9a, &l1);
	assert_int_equal(l0, l1);
	assert_memory_equal(before, after, l0);
	free(before);
	free(after);
	assert_false(rt_station_card_pin_kept(f->st));
	assert_int_equal(pin_left(f->officer), 3);
}

int
main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_reload),
		T(test_procedures_offered),
		T(test_card_swapped),
		T(test_no_card),
		T(test_no_reader_pattern),
		T(test_confirm_declined),
		T(test_cancel_after_signature_pin),
		T(test_signature_pin_wrong),
		T(test_secrets),
		T(test_plan_pin_cancelled),
		T(test_open_ops),
		T(test_recover_nothing_issued),
		T(test_cm_redo_tc),
		T(test_cm_redo_tc_http),
		T(test_cm_issue),
		T(test_cm_cancel_between_writes),
		T(test_cm_cancel_before_request),
		T(test_cm_lost_before_certconf),
		T(test_cm_rejected),
	};
#undef T
	return cmocka_run_group_tests_name("station", tests, group_setup,
	    group_teardown);
}
