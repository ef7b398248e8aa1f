/* inproc.c - cmhost's CMP service behind a cmp_client transport in the
 * same process, for tests; see include/raterm/cmhost_inproc.h */
#define _XOPEN_SOURCE 700	/* nftw */
#include "raterm/cmhost_inproc.h"
#include "raterm/cmhost_kek.h"
#include "raterm/softtoken.h"
#include "raterm/util.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/x509_crt.h>

#define NTYPES 32

struct cmh_inproc {
	char tmp[PATH_MAX];	/* our temporary directory, "" none */
	char dir[PATH_MAX];	/* the cmhost init directory */
	char db_made[PATH_MAX];	/* a database file we made, "" none */
	bool plain_http;
	cmh_config *cfg;
	cmh_ca *ca;
	cmh_db *db;
	cmh_kek *kek;		/* the demo's KEK file (secrets at rest) */
	cmh_service *svc;
	mbedtls_x509_crt root;
	cmh_inproc_fault fault[NTYPES];
	unsigned handled[NTYPES];
	unsigned calls;
	FILE *quiet;		/* the software token's warnings (the signers
				 * of cmh_inproc_officer keep it) */
};

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static rt_err *
pathf(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= cap)
		return rt_err_new(RT_E_ARG, NULL, "%s/%s: path too long", dir,
		    name);
	return NULL;
}

rt_err *
cmh_inproc_new(const cmh_inproc_opts *o, cmh_inproc **out)
{
	static const cmh_inproc_opts none;
	cmh_inproc *ip;
	char path[PATH_MAX];
	rt_err *e = NULL;

	*out = NULL;
	if (o == NULL)
		o = &none;
	if ((ip = calloc(1, sizeof(*ip))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "in-process CM host");
	mbedtls_x509_crt_init(&ip->root);
	ip->plain_http = o->plain_http;
	if (o->dir == NULL || o->db_path == NULL) {
		const char *t = getenv("TMPDIR");
		snprintf(ip->tmp, sizeof(ip->tmp), "%s/raterm-inproc.XXXXXX",
		    t && t[0] ? t : "/tmp");
		if (mkdtemp(ip->tmp) == NULL) {
			e = rt_err_new(RT_E_IO, NULL, "%s: %s", ip->tmp,
			    strerror(errno));
			ip->tmp[0] = '\0';
			goto fail;
		}
	}
	if (o->dir != NULL)
		snprintf(ip->dir, sizeof(ip->dir), "%s", o->dir);
	else {
		bool created;
		if ((e = pathf(ip->dir, sizeof(ip->dir), ip->tmp, "cmhost")) !=
		    NULL || (e = cmh_init(ip->dir, 0, &created)) != NULL)
			goto fail;
	}
	if ((e = pathf(path, sizeof(path), ip->dir, "cmhost.yaml")) != NULL ||
	    (e = cmh_config_load(path, &ip->cfg)) != NULL)
		goto fail;
	free(ip->cfg->db_path);
	ip->cfg->db_path = NULL;
	if (o->db_path != NULL)
		ip->cfg->db_path = strdup(o->db_path);
	else {
		if ((e = pathf(ip->db_made, sizeof(ip->db_made), ip->tmp,
		    "inproc.db")) != NULL)
			goto fail;
		ip->cfg->db_path = strdup(ip->db_made);
	}
	if (ip->cfg->db_path == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "in-process CM host");
		goto fail;
	}
	if ((e = cmh_ca_load(ip->cfg, &ip->ca)) != NULL ||
	    (e = cmh_db_open(ip->cfg->db_path, &ip->db)) != NULL ||
	    (e = cmh_kek_attach(ip->cfg, ip->db, &ip->kek, NULL)) != NULL ||
	    (e = cmh_service_new(ip->cfg, ip->ca, ip->db, &ip->svc)) != NULL)
		goto fail;
	if ((e = pathf(path, sizeof(path), ip->dir, "root.pem")) != NULL)
		goto fail;
	if (mbedtls_x509_crt_parse_file(&ip->root, path) != 0) {
		e = rt_err_new(RT_E_CERT, NULL, "%s: does not parse", path);
		goto fail;
	}
	*out = ip;
	return NULL;
fail:
	cmh_inproc_free(ip);
	return e;
}

void
cmh_inproc_free(cmh_inproc *ip)
{
	if (ip == NULL)
		return;
	cmh_service_free(ip->svc);
	cmh_db_close(ip->db);
	cmh_kek_free(ip->kek);
	cmh_ca_free(ip->ca);
	cmh_config_free(ip->cfg);
	mbedtls_x509_crt_free(&ip->root);
	if (ip->quiet != NULL)
		fclose(ip->quiet);
	if (ip->db_made[0] != '\0') {
		/* SQLite's WAL files beside it */
		char p[PATH_MAX + 8];
		remove(ip->db_made);
		snprintf(p, sizeof(p), "%s-wal", ip->db_made);
		remove(p);
		snprintf(p, sizeof(p), "%s-shm", ip->db_made);
		remove(p);
	}
	if (ip->tmp[0] != '\0')
		(void)nftw(ip->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(ip);
}

static rt_err *
transport(void *ctx, const uint8_t *req, size_t len, uint8_t **rsp,
    size_t *rsp_len)
{
	cmh_inproc *ip = ctx;
	cmp_msg *m = NULL;
	int type = -1;
	rt_err *e;

	ip->calls++;
	if ((e = cmp_msg_decode(req, len, &m)) == NULL)
		type = m->type;
	rt_err_free(e);
	cmp_msg_free(m);
	cmh_inproc_fault f = type >= 0 && type < NTYPES ? ip->fault[type] :
	    CMH_INPROC_DELIVER;
	if (f == CMH_INPROC_DROP) {
		e = rt_err_new(RT_E_CMP_HTTP, NULL, "in-process CM host: "
		    "unreachable (%s not delivered)", cmp_body_name(type));
		rt_err_set_detail(e, CMP_NOT_SENT);
		return e;
	}
	if (type >= 0 && type < NTYPES)
		ip->handled[type]++;
	e = cmh_service_http(ip->svc, req, len, "inproc", !ip->plain_http,
	    rsp, rsp_len, NULL);
	if (e != NULL)
		return rt_err_new(RT_E_CMP_HTTP, e, "in-process CM host: HTTP 500");
	if (f == CMH_INPROC_LOSE_ANSWER) {
		rt_wipe(*rsp, *rsp_len);
		free(*rsp);
		*rsp = NULL;
		*rsp_len = 0;
		return rt_err_new(RT_E_CMP_HTTP, NULL, "in-process CM host: the "
		    "connection was lost after the %s was sent (it may have "
		    "reached the CM host)", cmp_body_name(type));
	}
	return NULL;
}

void
cmh_inproc_client_opts(cmh_inproc *ip, cmp_client_opts *co)
{
	co->url = "inproc:cmhost";
	co->tls_ca = NULL;
	co->trust = &ip->root;
	co->transport = transport;
	co->transport_ctx = ip;
}

rt_err *
cmh_inproc_officer(cmh_inproc *ip, rt_signer **out)
{
	char kp[PATH_MAX], cp[PATH_MAX], pp[PATH_MAX], pass[128];
	rt_err *e;
	*out = NULL;
	if ((e = pathf(kp, sizeof(kp), ip->dir, "officer.key")) != NULL ||
	    (e = pathf(cp, sizeof(cp), ip->dir, "officer-chain.pem")) != NULL ||
	    (e = pathf(pp, sizeof(pp), ip->dir, "officer.pass")) != NULL)
		return e;
	FILE *f = fopen(pp, "r");
	if (f == NULL)
		return rt_err_new(RT_E_IO, NULL, "%s: %s", pp, strerror(errno));
	bool got = fgets(pass, sizeof(pass), f) != NULL;
	fclose(f);
	if (!got)
		return rt_err_new(RT_E_IO, NULL, "%s: empty", pp);
	pass[strcspn(pass, "\r\n")] = '\0';
	if (ip->quiet == NULL && (ip->quiet = fopen("/dev/null", "w")) == NULL) {
		rt_wipe(pass, sizeof(pass));
		return rt_err_new(RT_E_IO, NULL, "/dev/null: %s", strerror(errno));
	}
	e = rt_signer_soft(kp, cp, pass, strlen(pass), ip->quiet, out);
	rt_wipe(pass, sizeof(pass));
	return e;
}

const char *
cmh_inproc_dir(const cmh_inproc *ip)
{
	return ip->dir;
}

cmh_config *
cmh_inproc_config(cmh_inproc *ip)
{
	return ip->cfg;
}

cmh_db *
cmh_inproc_db(cmh_inproc *ip)
{
	return ip->db;
}

void
cmh_inproc_fault_set(cmh_inproc *ip, int type, cmh_inproc_fault f)
{
	for (int t = 0; t < NTYPES; t++)
		if (type < 0 || t == type)
			ip->fault[t] = f;
}

unsigned
cmh_inproc_handled(const cmh_inproc *ip, int type)
{
	unsigned n = 0;
	for (int t = 0; t < NTYPES; t++)
		if (type < 0 || t == type)
			n += ip->handled[t];
	return n;
}

unsigned
cmh_inproc_calls(const cmh_inproc *ip)
{
	return ip->calls;
}
