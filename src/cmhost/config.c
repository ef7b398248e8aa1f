/* config.c - cmhost's YAML configuration; see include/raterm/cmhost.h and
 * docs/cmhost.md (configuration reference).
 *
 * The file is loaded as a libyaml document and walked node by node; every
 * error names the file, the line of the offending node and the field path
 * ("profiles[1].subject.required[0]"). Unknown keys are errors. */
#include "raterm/cmhost.h"
#include "raterm/cmhost_db.h"
#include "raterm/config.h"
#include "raterm/csr.h"
#include "raterm/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

typedef struct {
	const char *file;
	char base[PATH_MAX];		/* directory of the file, "" for cwd */
	yaml_document_t doc;
	yaml_node_t *cur_key;		/* the key whose value is being read */
	int default_line;		/* line of default_profile */
	rt_err *err;
} cfgctx;

static void
cfail(cfgctx *x, const yaml_node_t *n, const char *field, const char *fmt, ...)
    RT_PRINTF(4, 5);

static void
cfail(cfgctx *x, const yaml_node_t *n, const char *field, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	if (x->err != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	x->err = rt_err_new(RT_E_FORMAT, NULL, "%s:%lu: %s: %s", x->file,
	    n != NULL ? (unsigned long)n->start_mark.line + 1 : 0UL, field, msg);
}

static char *
xstrdup(cfgctx *x, const char *s)
{
	char *d = strdup(s);
	if (d == NULL && x->err == NULL)
		x->err = rt_err_new(RT_E_NOMEM, NULL, "config");
	return d;
}

static const char *
scalar(cfgctx *x, yaml_node_t *n, const char *field)
{
	if (n == NULL || n->type != YAML_SCALAR_NODE) {
		cfail(x, n, field, "expected a single value");
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

static char *
get_str(cfgctx *x, yaml_node_t *n, const char *field)
{
	const char *s = scalar(x, n, field);
	if (s == NULL)
		return NULL;
	if (*s == '\0') {
		cfail(x, n, field, "must not be empty");
		return NULL;
	}
	return xstrdup(x, s);
}

/* A path: relative ones are taken from the config file's directory. */
static char *
get_path(cfgctx *x, yaml_node_t *n, const char *field)
{
	char buf[PATH_MAX];
	const char *s = scalar(x, n, field);
	if (s == NULL)
		return NULL;
	if (*s == '\0') {
		cfail(x, n, field, "must not be empty");
		return NULL;
	}
	if (s[0] == '/' || x->base[0] == '\0')
		return xstrdup(x, s);
	if ((size_t)snprintf(buf, sizeof(buf), "%s/%s", x->base, s) >= sizeof(buf)) {
		cfail(x, n, field, "path too long");
		return NULL;
	}
	return xstrdup(x, buf);
}

static unsigned
get_uint(cfgctx *x, yaml_node_t *n, const char *field, unsigned min,
    unsigned max)
{
	const char *s = scalar(x, n, field);
	char *end;
	if (s == NULL)
		return 0;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v < min ||
	    v > max) {
		cfail(x, n, field, "'%s' is not a whole number from %u to %u", s,
		    min, max);
		return 0;
	}
	return (unsigned)v;
}

static bool
get_bool(cfgctx *x, yaml_node_t *n, const char *field)
{
	const char *s = scalar(x, n, field);
	if (s == NULL)
		return false;
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
		return true;
	if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
		return false;
	cfail(x, n, field, "'%s' is not true or false", s);
	return false;
}

/* Iterates a mapping: checks every key against `known` (NULL-terminated)
 * and calls fn for each pair. */
typedef void (*pair_fn)(cfgctx *x, const char *key, yaml_node_t *val,
    const char *field, void *arg);

static void
walk_map(cfgctx *x, yaml_node_t *n, const char *field, const char *const *known,
    pair_fn fn, void *arg)
{
	char sub[256];
	if (n == NULL || n->type != YAML_MAPPING_NODE) {
		cfail(x, n, field, "expected a mapping (key: value lines)");
		return;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	    p < n->data.mapping.pairs.top && x->err == NULL; p++) {
		yaml_node_t *k = yaml_document_get_node(&x->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&x->doc, p->value);
		const char *ks = scalar(x, k, field);
		if (ks == NULL)
			return;
		if (field[0] != '\0')
			snprintf(sub, sizeof(sub), "%s.%s", field, ks);
		else
			snprintf(sub, sizeof(sub), "%s", ks);
		bool ok = false;
		for (size_t i = 0; known[i] != NULL; i++)
			if (!strcmp(known[i], ks))
				ok = true;
		if (!ok) {
			cfail(x, k, sub, "unknown key");
			return;
		}
		/* a key given twice is an error too */
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = yaml_document_get_node(&x->doc, q->key);
			if (k2 != NULL && k2->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)k2->data.scalar.value, ks)) {
				cfail(x, k, sub, "given twice (first on line %lu)",
				    (unsigned long)k2->start_mark.line + 1);
				return;
			}
		}
		x->cur_key = k;
		fn(x, ks, v, sub, arg);
	}
}

/* A sequence of scalars (a single scalar counts as a list of one). */
static char **
get_list(cfgctx *x, yaml_node_t *n, const char *field, size_t *count)
{
	char sub[256];
	*count = 0;
	if (n != NULL && n->type == YAML_SCALAR_NODE) {
		char **l = calloc(1, sizeof(*l));
		if (l == NULL || (l[0] = get_str(x, n, field)) == NULL) {
			free(l);
			if (x->err == NULL)
				x->err = rt_err_new(RT_E_NOMEM, NULL, "config");
			return NULL;
		}
		*count = 1;
		return l;
	}
	if (n == NULL || n->type != YAML_SEQUENCE_NODE) {
		cfail(x, n, field, "expected a list");
		return NULL;
	}
	size_t cnt = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	char **l = calloc(cnt + 1, sizeof(*l));
	if (l == NULL) {
		x->err = rt_err_new(RT_E_NOMEM, NULL, "config");
		return NULL;
	}
	for (size_t i = 0; i < cnt && x->err == NULL; i++) {
		snprintf(sub, sizeof(sub), "%s[%zu]", field, i);
		yaml_node_t *it = yaml_document_get_node(&x->doc,
		    n->data.sequence.items.start[i]);
		l[i] = get_str(x, it, sub);
		*count = i + 1;
	}
	return l;
}

static void
free_list(char **l, size_t n)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

/* ---- sections ------------------------------------------------------------ */

static void
listen_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f, void *arg)
{
	cmh_config *c = arg;
	if (!strcmp(k, "address")) {
		free(c->address);
		c->address = get_str(x, v, f);
	} else if (!strcmp(k, "port"))
		c->port = get_uint(x, v, f, 1, 65535);
	else if (!strcmp(k, "path")) {
		char *p = get_str(x, v, f);
		if (p != NULL && p[0] != '/') {
			cfail(x, v, f, "must start with '/'");
			free(p);
			return;
		}
		free(c->path);
		c->path = p;
	} else if (!strcmp(k, "threads"))
		c->threads = get_uint(x, v, f, 1, 256);
	else if (!strcmp(k, "max_request"))
		c->max_request = get_uint(x, v, f, 1024, 16u << 20);
	else if (!strcmp(k, "max_connections_per_client"))
		c->per_client = get_uint(x, v, f, 1, 10000);
	else if (!strcmp(k, "idle_timeout"))
		c->idle_timeout = get_uint(x, v, f, 1, 3600);
	else if (!strcmp(k, "request_timeout"))
		c->request_timeout = get_uint(x, v, f, 1, 3600);
	else if (!strcmp(k, "trusted_proxies")) {
		c->trusted_proxies = get_list(x, v, f, &c->ntrusted_proxies);
		for (size_t i = 0; i < c->ntrusted_proxies; i++) {
			unsigned char a[16];
			if (inet_pton(AF_INET, c->trusted_proxies[i], a) != 1 &&
			    inet_pton(AF_INET6, c->trusted_proxies[i], a) != 1)
				cfail(x, v, f, "'%s' is not an IPv4 or IPv6 address",
				    c->trusted_proxies[i]);
		}
	}
	else if (!strcmp(k, "tls_cert"))
		c->tls_cert = get_path(x, v, f);
	else if (!strcmp(k, "tls_key"))
		c->tls_key = get_path(x, v, f);
	else if (!strcmp(k, "mgmt_keys_over_http")) {
		const char *s = scalar(x, v, f);
		if (s == NULL)
			return;
		if (!strcmp(s, "loopback"))
			c->mgmt_over_http = CMH_MGMT_HTTP_LOOPBACK;
		else if (!strcmp(s, "true") || !strcmp(s, "yes"))
			c->mgmt_over_http = CMH_MGMT_HTTP_ANY;
		else if (!strcmp(s, "false") || !strcmp(s, "no"))
			c->mgmt_over_http = CMH_MGMT_HTTP_NEVER;
		else
			cfail(x, v, f, "'%s' is not loopback, yes or no", s);
	}
}

static void
log_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f, void *arg)
{
	cmh_config *c = arg;
	if (!strcmp(k, "format")) {
		const char *s = scalar(x, v, f);
		if (s == NULL)
			return;
		if (!strcmp(s, "plain"))
			c->log_json = false;
		else if (!strcmp(s, "json"))
			c->log_json = true;
		else
			cfail(x, v, f, "'%s' is not plain or json", s);
	} else if (!strcmp(k, "file"))
		c->log_file = get_path(x, v, f);
}

static void
db_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f, void *arg)
{
	cmh_config *c = arg;
	if (!strcmp(k, "path"))
		c->db_path = get_path(x, v, f);
	else if (!strcmp(k, "url")) {
		c->db_url = get_str(x, v, f);
		if (c->db_url != NULL && strncmp(c->db_url, "postgresql://", 13)
		    != 0 && strncmp(c->db_url, "postgres://", 11) != 0)
			cfail(x, v, f, "not a postgresql:// URL");
	} else if (!strcmp(k, "password_file"))
		c->db_password_file = get_path(x, v, f);
	else if (!strcmp(k, "pool"))
		c->db_pool = get_uint(x, v, f, 1, CMH_DB_POOL_MAX);
	else if (!strcmp(k, "confirm_grace"))
		c->grace_seconds = get_uint(x, v, f, 1, 366u * 86400u);
	else if (!strcmp(k, "kek_file"))
		c->kek_file = get_path(x, v, f);
	else if (!strcmp(k, "kek_passphrase")) {
		char *a = get_str(x, v, f);
		if (a != NULL && strcmp(a, "ask") != 0)
			cfail(x, v, f, "'%s': only 'ask' (the passphrase is asked "
			    "on the terminal at start, never written down)", a);
		c->kek_ask = a != NULL;
		free(a);
	}
}

static void
ca_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f, void *arg)
{
	cmh_config *c = arg;
	if (!strcmp(k, "cert"))
		c->ca_cert = get_path(x, v, f);
	else if (!strcmp(k, "key"))
		c->ca_key = get_path(x, v, f);
	else if (!strcmp(k, "key_pass_file"))
		c->ca_key_pass_file = get_path(x, v, f);
	else if (!strcmp(k, "chain"))
		c->ca_chain = get_path(x, v, f);
	else if (!strcmp(k, "cmp_cert"))
		c->cmp_cert = get_path(x, v, f);
	else if (!strcmp(k, "cmp_key"))
		c->cmp_key = get_path(x, v, f);
	else if (!strcmp(k, "cmp_key_pass_file"))
		c->cmp_key_pass_file = get_path(x, v, f);
	else if (!strcmp(k, "ocsp_cert"))
		c->ocsp_cert = get_path(x, v, f);
	else if (!strcmp(k, "ocsp_key"))
		c->ocsp_key = get_path(x, v, f);
	else if (!strcmp(k, "ocsp_key_pass_file"))
		c->ocsp_key_pass_file = get_path(x, v, f);
}

static void
officer_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f, void *arg)
{
	cmh_officer *o = arg;
	if (!strcmp(k, "name"))
		o->name = get_str(x, v, f);
	else if (!strcmp(k, "subject"))
		o->subject = get_str(x, v, f);
	else if (!strcmp(k, "cn"))
		o->cn = get_str(x, v, f);
	else if (!strcmp(k, "profiles"))
		o->profiles = get_list(x, v, f, &o->nprofiles);
	else if (!strcmp(k, "revoke"))
		o->revoke = get_bool(x, v, f);
	else if (!strcmp(k, "management_keys"))
		o->mgmt_keys = get_bool(x, v, f);
}

/* subject attribute short names accepted in rules */
static const char *const subj_attrs[] = {
	"CN", "C", "O", "OU", "L", "ST", "R", "serialNumber", "emailAddress",
	"E", "title", "SN", "GN", "givenName", "initials", "pseudonym",
	"generationQualifier", "DC", "UID", "postalAddress", "postalCode",
	"street", "organizationIdentifier", NULL,
};

static bool
known_attr(const char *a)
{
	for (size_t i = 0; subj_attrs[i] != NULL; i++)
		if (!strcmp(subj_attrs[i], a))
			return true;
	return false;
}

static void
check_attrs(cfgctx *x, yaml_node_t *v, const char *f, char **l, size_t n)
{
	for (size_t i = 0; i < n && x->err == NULL; i++)
		if (l[i] != NULL && !known_attr(l[i]))
			cfail(x, v, f, "unknown subject attribute '%s'", l[i]);
}

static void
fixed_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f, void *arg)
{
	cmh_profile *p = arg;
	if (!known_attr(k)) {
		cfail(x, v, f, "unknown subject attribute '%s'", k);
		return;
	}
	cmh_attr_value *nv = realloc(p->subj_fixed,
	    (p->nsubj_fixed + 1) * sizeof(*nv));
	if (nv == NULL) {
		x->err = rt_err_new(RT_E_NOMEM, NULL, "config");
		return;
	}
	p->subj_fixed = nv;
	nv[p->nsubj_fixed].attr = xstrdup(x, k);
	nv[p->nsubj_fixed].value = get_str(x, v, f);
	p->nsubj_fixed++;
}

static void
subject_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f, void *arg)
{
	cmh_profile *p = arg;
	if (!strcmp(k, "required")) {
		p->subj_required = get_list(x, v, f, &p->nsubj_required);
		check_attrs(x, v, f, p->subj_required, p->nsubj_required);
	} else if (!strcmp(k, "allowed")) {
		p->subj_allowed = get_list(x, v, f, &p->nsubj_allowed);
		check_attrs(x, v, f, p->subj_allowed, p->nsubj_allowed);
	} else if (!strcmp(k, "fixed")) {
		static const char *const any[] = {
			"CN", "C", "O", "OU", "L", "ST", "R", "serialNumber",
			"emailAddress", "E", "title", "SN", "GN", "givenName",
			"initials", "pseudonym", "generationQualifier", "DC", "UID",
			"postalAddress", "postalCode", "street",
			"organizationIdentifier", NULL,
		};
		walk_map(x, v, f, any, fixed_pair, p);
	}
}

typedef struct {
	const char *name;
	unsigned bit;
} namebit;

static bool
lookup_bits(cfgctx *x, yaml_node_t *v, const char *f, const namebit *t,
    unsigned *out)
{
	size_t n;
	char **l = get_list(x, v, f, &n);
	*out = 0;
	for (size_t i = 0; i < n && x->err == NULL; i++) {
		bool found = false;
		for (size_t j = 0; t[j].name != NULL; j++)
			if (l[i] != NULL && !strcasecmp(l[i], t[j].name)) {
				*out |= t[j].bit;
				found = true;
			}
		if (!found && l[i] != NULL)
			cfail(x, v, f, "unknown value '%s'", l[i]);
	}
	free_list(l, n);
	return x->err == NULL;
}

static const namebit qc_bits[] = {
	{ "compliance", CMH_QC_COMPLIANCE }, { "sscd", CMH_QC_SSCD },
	{ "type", CMH_QC_TYPE }, { "retention", CMH_QC_RETENTION },
	{ "pds", CMH_QC_PDS }, { "legislation", CMH_QC_LEGISLATION },
	{ "semantics", CMH_QC_SEMANTICS }, { NULL, 0 },
};

static void
pds_item(cfgctx *x, const char *k, yaml_node_t *v, const char *f, void *arg)
{
	rt_qc_pds *d = arg;
	const char *s = scalar(x, v, f);
	if (s == NULL)
		return;
	if (!strcmp(k, "url")) {
		if (strncmp(s, "https://", 8) != 0 || strlen(s) >= sizeof(d->url))
			cfail(x, v, f, "must be an https:// URL (< 256 chars)");
		else
			snprintf(d->url, sizeof(d->url), "%s", s);
	} else {
		if (strlen(s) != 2)
			cfail(x, v, f, "must be a two-letter ISO 639-1 code");
		else
			snprintf(d->lang, sizeof(d->lang), "%s", s);
	}
}

static void
qcfixed_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f, void *arg)
{
	rt_qc *q = arg;
	char sub[256];
	if (!strcmp(k, "compliance"))
		q->compliance = get_bool(x, v, f);
	else if (!strcmp(k, "sscd"))
		q->sscd = get_bool(x, v, f);
	else if (!strcmp(k, "type")) {
		static const namebit t[] = {
			{ "esign", RT_QC_TYPE_ESIGN }, { "eseal", RT_QC_TYPE_ESEAL },
			{ "web", RT_QC_TYPE_WEB }, { NULL, 0 },
		};
		(void)lookup_bits(x, v, f, t, &q->types);
	} else if (!strcmp(k, "retention"))
		q->retention_years = (int)get_uint(x, v, f, 1, 1000);
	else if (!strcmp(k, "semantics")) {
		const char *s = scalar(x, v, f);
		if (s != NULL && (strlen(s) >= sizeof(q->semantics) ||
		    strspn(s, "0123456789.") != strlen(s) || *s == '\0'))
			cfail(x, v, f, "must be a dotted OID");
		else if (s != NULL)
			snprintf(q->semantics, sizeof(q->semantics), "%s", s);
	} else if (!strcmp(k, "legislation")) {
		size_t n;
		char **l = get_list(x, v, f, &n);
		for (size_t i = 0; i < n && x->err == NULL; i++) {
			if (i >= RT_QC_MAX_CC || strlen(l[i]) != 2)
				cfail(x, v, f, "at most %d two-letter country codes",
				    RT_QC_MAX_CC);
			else
				snprintf(q->cc[q->ncc++], 3, "%s", l[i]);
		}
		free_list(l, n);
	} else if (!strcmp(k, "pds")) {
		static const char *const pk[] = { "url", "lang", NULL };
		if (v == NULL || v->type != YAML_SEQUENCE_NODE) {
			cfail(x, v, f, "expected a list of {url, lang}");
			return;
		}
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		    it < v->data.sequence.items.top && x->err == NULL; it++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", f, q->npds);
			if (q->npds >= RT_QC_MAX_PDS) {
				cfail(x, v, sub, "at most %d entries", RT_QC_MAX_PDS);
				return;
			}
			rt_qc_pds *d = &q->pds[q->npds++];
			yaml_node_t *e = yaml_document_get_node(&x->doc, *it);
			walk_map(x, e, sub, pk, pds_item, d);
			if (x->err == NULL && (d->url[0] == '\0' || d->lang[0] == '\0'))
				cfail(x, e, sub, "needs url and lang");
		}
	}
}

static void
qc_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f, void *arg)
{
	cmh_profile *p = arg;
	if (!strcmp(k, "fixed")) {
		static const char *const keys[] = { "compliance", "sscd", "type",
			"retention", "pds", "legislation", "semantics", NULL };
		walk_map(x, v, f, keys, qcfixed_pair, &p->qc_fixed);
		p->has_qc_fixed = true;
		if (x->err == NULL) {
			uint8_t *der = NULL;
			size_t len;
			rt_err *e = rt_qc_encode(&p->qc_fixed, &der, &len);
			free(der);
			if (e != NULL) {
				char m[200];
				rt_err_format(e, m, sizeof(m));
				rt_err_free(e);
				cfail(x, v, f, "%s", m);
			}
		}
	} else if (!strcmp(k, "ra_may_add"))
		(void)lookup_bits(x, v, f, qc_bits, &p->qc_may_add);
}

/* A URL for crlDistributionPoints / authorityInfoAccess: scheme://...,
 * printable ASCII (an IA5String) without spaces; "none": NULL. */
static char *
get_url(cfgctx *x, yaml_node_t *v, const char *f)
{
	char *u = get_str(x, v, f);
	if (u == NULL || !strcmp(u, "none")) {
		free(u);
		return NULL;
	}
	const char *s = strstr(u, "://");
	bool ok = s != NULL && s > u;
	for (const char *q = u; ok && q < s; q++)
		ok = (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') ||
		    *q == '+' || *q == '-' || *q == '.';
	for (const char *q = u; ok && *q != '\0'; q++)
		ok = *q > 0x20 && *q < 0x7f;
	if (!ok || strlen(u) > 1000) {
		cfail(x, v, f, "'%.200s' is not a URL (scheme://host/path, ASCII, "
		    "no spaces) nor 'none'", u);
		free(u);
		return NULL;
	}
	return u;
}

/* The URLs of revocation.* (c) or of a profile's revocation (p). */
static void
rev_urls(cfgctx *x, const char *k, yaml_node_t *v, const char *f,
    char **crl, char **ocsp, char **issuers, unsigned *own)
{
	char **slot = !strcmp(k, "crl_url") ? crl : !strcmp(k, "ocsp_url") ?
	    ocsp : !strcmp(k, "ca_issuers_url") ? issuers : NULL;
	if (slot == NULL)
		return;
	free(*slot);
	*slot = get_url(x, v, f);
	if (own != NULL)
		*own |= slot == crl ? CMH_REV_CRL : slot == ocsp ? CMH_REV_OCSP :
		    CMH_REV_ISSUERS;
}

static void
profile_rev_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f,
    void *arg)
{
	cmh_profile *p = arg;
	rev_urls(x, k, v, f, &p->crl_url, &p->ocsp_url, &p->ca_issuers_url,
	    &p->rev_own);
}

static void
profile_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f, void *arg)
{
	cmh_profile *p = arg;
	if (!strcmp(k, "name"))
		p->name = get_str(x, v, f);
	else if (!strcmp(k, "validity_days"))
		p->validity_days = get_uint(x, v, f, 1, 36500);
	else if (!strcmp(k, "key_types")) {
		static const namebit t[] = {
			{ "rsa", CMH_KT_RSA }, { "p256", CMH_KT_P256 },
			{ "eccp256", CMH_KT_P256 }, { "p384", CMH_KT_P384 },
			{ "eccp384", CMH_KT_P384 }, { NULL, 0 },
		};
		(void)lookup_bits(x, v, f, t, &p->key_types);
	} else if (!strcmp(k, "min_rsa_bits"))
		p->min_rsa_bits = get_uint(x, v, f, 1024, 16384);
	else if (!strcmp(k, "subject")) {
		static const char *const keys[] = { "required", "allowed", "fixed",
			NULL };
		walk_map(x, v, f, keys, subject_pair, p);
	} else if (!strcmp(k, "subject_alt_names")) {
		static const namebit t[] = {
			{ "email", CMH_SAN_EMAIL }, { "upn", CMH_SAN_UPN },
			{ "dns", CMH_SAN_DNS }, { "uri", CMH_SAN_URI },
			{ "ip", CMH_SAN_IP }, { NULL, 0 },
		};
		(void)lookup_bits(x, v, f, t, &p->san_types);
	} else if (!strcmp(k, "key_usage")) {
		size_t n;
		char **l = get_list(x, v, f, &n);
		for (size_t i = 0; i < n && x->err == NULL; i++) {
			unsigned bits;
			rt_err *e = rt_ku_parse(l[i], &bits);
			if (e != NULL) {
				rt_err_free(e);
				cfail(x, v, f, "unknown key usage '%s'", l[i]);
			} else
				p->key_usage |= bits;
		}
		free_list(l, n);
	} else if (!strcmp(k, "extended_key_usage")) {
		size_t n;
		char **l = get_list(x, v, f, &n);
		p->ekus = calloc(n + 1, sizeof(char *));
		if (p->ekus == NULL && x->err == NULL)
			x->err = rt_err_new(RT_E_NOMEM, NULL, "config");
		for (size_t i = 0; i < n && x->err == NULL; i++) {
			const char *oid = rt_eku_oid(l[i]);
			if (oid == NULL)
				cfail(x, v, f, "unknown extended key usage '%s'", l[i]);
			else
				p->ekus[p->nekus++] = xstrdup(x, oid);
		}
		free_list(l, n);
	} else if (!strcmp(k, "qc")) {
		static const char *const keys[] = { "fixed", "ra_may_add", NULL };
		walk_map(x, v, f, keys, qc_pair, p);
	} else if (!strcmp(k, "revocation")) {
		/* `none`: no URL at all; a map: these URLs instead */
		static const char *const keys[] = { "crl_url", "ocsp_url",
			"ca_issuers_url", NULL };
		if (v != NULL && v->type == YAML_SCALAR_NODE) {
			char *s = get_str(x, v, f);
			if (s != NULL && strcmp(s, "none") != 0)
				cfail(x, v, f, "'%s': 'none' or a map of crl_url, "
				    "ocsp_url, ca_issuers_url", s);
			p->rev_own = CMH_REV_CRL | CMH_REV_OCSP | CMH_REV_ISSUERS;
			free(s);
		} else
			walk_map(x, v, f, keys, profile_rev_pair, p);
	}
}

static const char *const officer_keys[] = { "name", "subject", "cn",
	"profiles", "revoke", "management_keys", NULL };
static const char *const profile_keys[] = { "name", "validity_days",
	"key_types", "min_rsa_bits", "subject", "subject_alt_names",
	"key_usage", "extended_key_usage", "qc", "revocation", NULL };

/* After the whole file: a profile takes the top-level URLs it did not
 * set itself (the keys may come in any order). */
static void
rev_inherit(cfgctx *x, cmh_config *c)
{
	for (size_t i = 0; x->err == NULL && i < c->nprofiles; i++) {
		cmh_profile *p = &c->profiles[i];
		if (!(p->rev_own & CMH_REV_CRL) && c->crl_url != NULL)
			p->crl_url = xstrdup(x, c->crl_url);
		if (!(p->rev_own & CMH_REV_OCSP) && c->ocsp_url != NULL)
			p->ocsp_url = xstrdup(x, c->ocsp_url);
		if (!(p->rev_own & CMH_REV_ISSUERS) && c->ca_issuers_url != NULL)
			p->ca_issuers_url = xstrdup(x, c->ca_issuers_url);
	}
}

static void
revocation_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f,
    void *arg)
{
	cmh_config *c = arg;
	rev_urls(x, k, v, f, &c->crl_url, &c->ocsp_url, &c->ca_issuers_url,
	    NULL);
	if (!strcmp(k, "crl_validity"))
		c->crl_validity = get_uint(x, v, f, 60, 366u * 86400);
	else if (!strcmp(k, "ocsp_validity"))
		c->ocsp_validity = get_uint(x, v, f, 60, 366u * 86400);
	else if (!strcmp(k, "crl_file"))
		c->crl_file = get_path(x, v, f);
}

static void
top_pair(cfgctx *x, const char *k, yaml_node_t *v, const char *f, void *arg)
{
	cmh_config *c = arg;
	char sub[256];
	yaml_node_t *kn = x->cur_key;	/* "missing" errors point at the key */
	if (!strcmp(k, "listen")) {
		static const char *const keys[] = { "address", "port", "path",
			"threads", "max_request", "tls_cert", "tls_key",
			"mgmt_keys_over_http", "max_connections_per_client",
			"idle_timeout", "request_timeout", "trusted_proxies", NULL };
		walk_map(x, v, f, keys, listen_pair, c);
		if (x->err == NULL && (c->tls_cert == NULL) != (c->tls_key == NULL))
			cfail(x, kn, f, "tls_cert and tls_key go together");
	} else if (!strcmp(k, "log")) {
		static const char *const keys[] = { "format", "file", NULL };
		walk_map(x, v, f, keys, log_pair, c);
	} else if (!strcmp(k, "pidfile"))
		c->pidfile = get_path(x, v, f);
	else if (!strcmp(k, "default_profile"))
	{
		c->default_profile = get_str(x, v, f);
		x->default_line = (int)kn->start_mark.line + 1;
	}
	else if (!strcmp(k, "max_clock_skew"))
		c->max_skew = get_uint(x, v, f, 0, 86400);
	else if (!strcmp(k, "require_message_time"))
		c->require_message_time = get_bool(x, v, f);
	else if (!strcmp(k, "audit_unverified_per_minute"))
		c->audit_unverified = get_uint(x, v, f, 0, 100000);
	else if (!strcmp(k, "unprotected_cacerts"))
		c->unprotected_cacerts = get_bool(x, v, f);
	else if (!strcmp(k, "database")) {
		static const char *const keys[] = { "path", "url",
			"password_file", "pool", "confirm_grace", "kek_file",
			"kek_passphrase", NULL };
		walk_map(x, v, f, keys, db_pair, c);
		if (x->err == NULL && c->db_path == NULL && c->db_url == NULL)
			cfail(x, kn, "database.path", "missing (or database.url: "
			    "postgresql://...)");
		if (x->err == NULL && c->db_path != NULL && c->db_url != NULL)
			cfail(x, kn, "database", "path (SQLite) and url "
			    "(PostgreSQL): one or the other");
		if (x->err == NULL && c->db_password_file != NULL &&
		    c->db_url == NULL)
			cfail(x, kn, "database.password_file", "only with "
			    "database.url");
		if (x->err == NULL && c->db_pool != 0 && c->db_url == NULL)
			cfail(x, kn, "database.pool", "only with database.url "
			    "(SQLite keeps one connection)");
		if (x->err == NULL && c->kek_file != NULL && c->kek_ask)
			cfail(x, kn, "database", "kek_file and kek_passphrase: one "
			    "or the other");
	} else if (!strcmp(k, "revocation")) {
		static const char *const keys[] = { "crl_validity",
			"ocsp_validity", "crl_file", "crl_url", "ocsp_url",
			"ca_issuers_url", NULL };
		walk_map(x, v, f, keys, revocation_pair, c);
	} else if (!strcmp(k, "ca")) {
		static const char *const keys[] = { "cert", "key", "key_pass_file",
			"chain", "cmp_cert", "cmp_key", "cmp_key_pass_file",
			"ocsp_cert", "ocsp_key", "ocsp_key_pass_file", NULL };
		walk_map(x, v, f, keys, ca_pair, c);
		if (x->err == NULL && c->ca_cert == NULL)
			cfail(x, kn, "ca.cert", "missing");
		if (x->err == NULL && c->ca_key == NULL)
			cfail(x, kn, "ca.key", "missing");
		if (x->err == NULL && (c->cmp_cert == NULL) != (c->cmp_key == NULL))
			cfail(x, kn, f, "cmp_cert and cmp_key go together");
		if (x->err == NULL && (c->ocsp_cert == NULL) != (c->ocsp_key == NULL))
			cfail(x, kn, f, "ocsp_cert and ocsp_key go together");
	} else if (!strcmp(k, "officer_cas")) {
		char **l = get_list(x, v, f, &c->nofficer_cas);
		c->officer_cas = l;
		for (size_t i = 0; l != NULL && i < c->nofficer_cas; i++) {
			if (l[i] != NULL && l[i][0] != '/' && x->base[0] != '\0') {
				char buf[PATH_MAX];
				if ((size_t)snprintf(buf, sizeof(buf), "%s/%s",
				    x->base, l[i]) >= sizeof(buf)) {
					cfail(x, v, f, "path too long");
					return;
				}
				free(l[i]);
				l[i] = xstrdup(x, buf);
			}
		}
	} else if (!strcmp(k, "officers") || !strcmp(k, "profiles")) {
		bool off = !strcmp(k, "officers");
		if (v == NULL || v->type != YAML_SEQUENCE_NODE) {
			cfail(x, v, f, "expected a list");
			return;
		}
		size_t n = (size_t)(v->data.sequence.items.top -
		    v->data.sequence.items.start);
		void *arr = calloc(n + 1, off ? sizeof(cmh_officer) :
		    sizeof(cmh_profile));
		if (arr == NULL) {
			x->err = rt_err_new(RT_E_NOMEM, NULL, "config");
			return;
		}
		if (off)
			c->officers = arr;
		else
			c->profiles = arr;
		for (size_t i = 0; i < n && x->err == NULL; i++) {
			yaml_node_t *it = yaml_document_get_node(&x->doc,
			    v->data.sequence.items.start[i]);
			snprintf(sub, sizeof(sub), "%s[%zu]", k, i);
			if (off) {
				cmh_officer *o = &c->officers[i];
				c->nofficers = i + 1;
				o->line = it ? (int)it->start_mark.line + 1 : 0;
				walk_map(x, it, sub, officer_keys, officer_pair, o);
				if (x->err == NULL && o->name == NULL)
					cfail(x, it, sub, "missing 'name'");
				if (x->err == NULL && (o->subject == NULL) ==
				    (o->cn == NULL))
					cfail(x, it, sub, "needs exactly one of "
					    "'subject' and 'cn'");
			} else {
				cmh_profile *p = &c->profiles[i];
				c->nprofiles = i + 1;
				p->line = it ? (int)it->start_mark.line + 1 : 0;
				p->validity_days = 365;
				p->key_types = CMH_KT_RSA | CMH_KT_P256 | CMH_KT_P384;
				p->min_rsa_bits = 2048;
				walk_map(x, it, sub, profile_keys, profile_pair, p);
				if (x->err == NULL && p->name == NULL)
					cfail(x, it, sub, "missing 'name'");
				for (size_t j = 0; x->err == NULL && j < i; j++)
					if (!strcmp(c->profiles[j].name, p->name))
						cfail(x, it, sub, "profile '%s' defined "
						    "twice", p->name);
			}
		}
	}
}

static void
check_refs(cfgctx *x, cmh_config *c, yaml_node_t *root)
{
	char f[128];
	if (c->db_path == NULL && c->db_url == NULL)
		cfail(x, root, "database.path", "missing (or database.url: "
		    "postgresql://...)");
	else if (c->ca_cert == NULL)
		cfail(x, root, "ca", "missing");
	else if (c->nofficer_cas == 0)
		cfail(x, root, "officer_cas", "missing (no officer could sign)");
	if (x->err == NULL && c->default_profile != NULL &&
	    cmh_profile_find(c, c->default_profile) == NULL)
		x->err = rt_err_new(RT_E_FORMAT, NULL, "%s:%d: default_profile: "
		    "no profile named '%s'", x->file, x->default_line,
		    c->default_profile);
	for (size_t i = 0; x->err == NULL && i < c->nofficers; i++) {
		const cmh_officer *o = &c->officers[i];
		for (size_t j = 0; x->err == NULL && j < o->nprofiles; j++) {
			if (!strcmp(o->profiles[j], "*") ||
			    cmh_profile_find(c, o->profiles[j]) != NULL)
				continue;
			snprintf(f, sizeof(f), "officers[%zu].profiles[%zu]", i, j);
			x->err = rt_err_new(RT_E_FORMAT, NULL, "%s:%d: %s: no "
			    "profile named '%s'", x->file, o->line, f,
			    o->profiles[j]);
		}
	}
}

void
cmh_config_free(cmh_config *c)
{
	if (c == NULL)
		return;
	free(c->file);
	free(c->address);
	free(c->path);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->pidfile);
	free(c->crl_file);
	free(c->log_file);
	free(c->crl_url);
	free(c->ocsp_url);
	free(c->ca_issuers_url);
	free(c->kek_file);
	free(c->default_profile);
	free(c->db_path);
	free(c->db_url);
	free(c->db_password_file);
	free(c->ca_cert);
	free(c->ca_key);
	free(c->ca_key_pass_file);
	free(c->ca_chain);
	free(c->cmp_cert);
	free(c->cmp_key);
	free(c->cmp_key_pass_file);
	free(c->ocsp_cert);
	free(c->ocsp_key);
	free(c->ocsp_key_pass_file);
	free_list(c->officer_cas, c->nofficer_cas);
	free_list(c->trusted_proxies, c->ntrusted_proxies);
	for (size_t i = 0; c->officers != NULL && i < c->nofficers; i++) {
		cmh_officer *o = &c->officers[i];
		free(o->name);
		free(o->subject);
		free(o->cn);
		free_list(o->profiles, o->nprofiles);
	}
	free(c->officers);
	for (size_t i = 0; c->profiles != NULL && i < c->nprofiles; i++) {
		cmh_profile *p = &c->profiles[i];
		free(p->name);
		free(p->crl_url);
		free(p->ocsp_url);
		free(p->ca_issuers_url);
		free_list(p->subj_required, p->nsubj_required);
		free_list(p->subj_allowed, p->nsubj_allowed);
		for (size_t j = 0; j < p->nsubj_fixed; j++) {
			free(p->subj_fixed[j].attr);
			free(p->subj_fixed[j].value);
		}
		free(p->subj_fixed);
		free_list(p->ekus, p->nekus);
	}
	free(c->profiles);
	free(c);
}

rt_err *
cmh_config_parse(const char *name, const char *text, size_t len,
    cmh_config **out)
{
	static const char *const top_keys[] = { "listen", "log", "pidfile",
		"database",
		"revocation",
		"ca", "officer_cas", "officers", "profiles", "default_profile",
		"max_clock_skew", "unprotected_cacerts", "require_message_time",
		"audit_unverified_per_minute", NULL };
	yaml_parser_t parser;
	cfgctx x;
	cmh_config *c;

	*out = NULL;
	memset(&x, 0, sizeof(x));
	x.file = name;
	const char *slash = strrchr(name, '/');
	if (slash != NULL) {
		size_t bl = (size_t)(slash - name);
		if (bl == 0)
			bl = 1;		/* "/file": the base is "/" */
		if (bl >= sizeof(x.base))
			return rt_err_new(RT_E_ARG, NULL, "%s: path too long", name);
		memcpy(x.base, name, bl);
		x.base[bl] = '\0';
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "config");
	c->file = strdup(name);
	c->address = strdup("127.0.0.1");
	c->path = strdup("/cmp");
	c->port = 8829;
	c->threads = 4;
	c->max_request = 256u << 10;
	c->per_client = 16;
	c->idle_timeout = 10;
	c->request_timeout = 15;
	c->grace_seconds = 600;
	c->crl_validity = 86400;
	c->ocsp_validity = 3600;
	c->unprotected_cacerts = true;
	c->max_skew = 600;
	c->require_message_time = true;
	c->audit_unverified = 30;
	if (c->file == NULL || c->address == NULL || c->path == NULL) {
		cmh_config_free(c);
		return rt_err_new(RT_E_NOMEM, NULL, "config");
	}
	unsigned long deep = rt_yaml_too_deep(text, len);
	if (deep != 0) {
		rt_err *de = rt_err_new(RT_E_FORMAT, NULL, "%s:%lu: nested deeper "
		    "than %d levels", name, deep, RT_YAML_MAX_DEPTH);
		cmh_config_free(c);
		return de;
	}
	if (!yaml_parser_initialize(&parser)) {
		cmh_config_free(c);
		return rt_err_new(RT_E_NOMEM, NULL, "YAML parser");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &x.doc)) {
		rt_err *e = rt_err_new(RT_E_FORMAT, NULL, "%s:%lu: YAML: %s%s%s",
		    name, (unsigned long)parser.problem_mark.line + 1,
		    parser.problem ? parser.problem : "syntax error",
		    parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		cmh_config_free(c);
		return e;
	}
	yaml_parser_delete(&parser);
	yaml_node_t *root = yaml_document_get_root_node(&x.doc);
	if (root == NULL)
		x.err = rt_err_new(RT_E_FORMAT, NULL, "%s:1: the file is empty",
		    name);
	else
		walk_map(&x, root, "", top_keys, top_pair, c);
	if (x.err == NULL)
		check_refs(&x, c, root);
	rev_inherit(&x, c);
	yaml_document_delete(&x.doc);
	if (x.err != NULL) {
		cmh_config_free(c);
		return x.err;
	}
	*out = c;
	return NULL;
}

rt_err *
cmh_config_load(const char *path, cmh_config **out)
{
	uint8_t *buf;
	size_t len;

	*out = NULL;
	rt_err *e = rt_file_read(path, 4u << 20, &buf, &len);
	if (e != NULL)
		return e;
	e = cmh_config_parse(path, (char *)buf, len, out);
	free(buf);
	return e;
}

void
cmh_config_url(const cmh_config *c, char *buf, size_t cap)
{
	bool v6 = strchr(c->address, ':') != NULL;
	snprintf(buf, cap, "%s://%s%s%s:%u%s", c->tls_cert ? "https" : "http",
	    v6 ? "[" : "", c->address, v6 ? "]" : "", c->port, c->path);
}

const cmh_profile *
cmh_profile_find(const cmh_config *c, const char *name)
{
	for (size_t i = 0; i < c->nprofiles; i++)
		if (c->profiles[i].name != NULL && !strcmp(c->profiles[i].name, name))
			return &c->profiles[i];
	return NULL;
}
