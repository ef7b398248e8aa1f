/* config.c - raterm.yaml and procedures.d/NAME.yaml with libyaml; see
 * include/raterm/config.h and docs/configuration.md. */
#include "raterm/config.h"
#include "raterm/card.h"
#include "raterm/util.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "cfg_int.h"

#define MAX_FILE_BYTES (1024 * 1024)

/* ---- names ------------------------------------------------------------------- */

static const char *const action_names[RT_ACT__COUNT] = {
	"blank", "issue", "redo", "add",
};
static const char *const action_titles[RT_ACT__COUNT] = {
	"Blank", "Issue", "Redo", "Add",
};

const char *
rt_action_name(rt_action a)
{
	return (unsigned)a < RT_ACT__COUNT ? action_names[a] : "?";
}

const char *
rt_action_title(rt_action a)
{
	return (unsigned)a < RT_ACT__COUNT ? action_titles[a] : "?";
}

bool
rt_action_parse(const char *s, rt_action *a)
{
	for (unsigned i = 0; i < RT_ACT__COUNT; i++)
		if (strcasecmp(s, action_names[i]) == 0) {
			*a = (rt_action)i;
			return true;
		}
	return false;
}

const char *
rt_source_name(rt_source s)
{
	switch (s) {
	case RT_SRC_NONE: return "none";
	case RT_SRC_TC: return "tc";
	case RT_SRC_CARD: return "card";
	case RT_SRC_OFFICER: return "officer";
	}
	return "?";
}

bool
rt_reader_sel_matches(const rt_reader_sel *sel, const char *name)
{
	switch (sel->match) {
	case RT_READER_AUTO: return true;
	case RT_READER_NAME: return strcmp(sel->value, name) == 0;
	case RT_READER_PATTERN: return fnmatch(sel->value, name, 0) == 0;
	}
	return false;
}

const char *
rt_procedure_profile(const rt_procedure *p, uint8_t slot)
{
	for (size_t i = 0; i < p->nprofiles; i++)
		if (p->profiles[i].slot == slot)
			return p->profiles[i].profile;
	return NULL;
}

bool
rt_procedure_alg_ok(const rt_procedure *p, const char *alg)
{
	if (p->nalgorithms == 0)
		return true;
	if (alg == NULL || alg[0] == '\0')
		return false;
	piv_alg a = piv_alg_from_name(alg);
	for (size_t i = 0; i < p->nalgorithms; i++)
		if (p->algorithms[i] == a)
			return true;
	return false;
}

const char *
rt_config_path(const char *cli)
{
	if (cli != NULL && cli[0] != '\0')
		return cli;
	const char *env = getenv(RT_CONFIG_ENV);
	if (env != NULL && env[0] != '\0')
		return env;
	return RT_CONFIG_DEFAULT;
}

/* ---- the configuration object --------------------------------------------------- */

rt_err *
rt_config_new(rt_config **out)
{
	rt_config *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "configuration");
	c->officer.kind = RT_OFFICER_CARD;
	c->officer.slot = PIV_SLOT_SIGN;
	*out = c;
	return NULL;
}

void
rt_config_free(rt_config *c)
{
	if (c == NULL)
		return;
	free(c->procs);
	free(c->diags);
	free(c);
}

void
rt_config_diag_add(rt_config *c, const char *file, unsigned line,
    const char *field, bool warning, const char *fmt, ...)
{
	if (c->ndiags % 16 == 0) {
		rt_cfg_diag *n = realloc(c->diags,
		    (c->ndiags + 16) * sizeof(*n));
		if (n == NULL)
			return;
		c->diags = n;
	}
	rt_cfg_diag *d = &c->diags[c->ndiags++];
	memset(d, 0, sizeof(*d));
	snprintf(d->file, sizeof(d->file), "%s", file ? file : "");
	d->line = line;
	snprintf(d->field, sizeof(d->field), "%s", field ? field : "");
	d->warning = warning;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
	if (!warning)
		c->nerrors++;
}

void
rt_cfg_diag_format(const rt_cfg_diag *d, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s:%u: %s%s%s%s", d->file, d->line, d->field,
	    d->field[0] ? ": " : "", d->warning ? "warning: " : "", d->msg);
}

const rt_procedure *
rt_config_procedure(const rt_config *c, const char *name)
{
	for (size_t i = 0; i < c->nprocs; i++)
		if (strcmp(c->procs[i].name, name) == 0)
			return &c->procs[i];
	return NULL;
}

/* ---- YAML helpers ------------------------------------------------------------------ */

unsigned
cy_line_of(const yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.line + 1 : 0;
}

void
cy_err_at(pctx *p, const yaml_node_t *n, const char *field, const char *fmt, ...)
{
	char msg[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rt_config_diag_add(p->c, p->file, cy_line_of(n), field, false, "%s", msg);
	p->errors++;
}

const char *
cy_node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "nothing";
	}
}

yaml_node_t *
cy_node(pctx *p, int i)
{
	return yaml_document_get_node(p->doc, i);
}

/* A scalar's text (NUL-terminated by libyaml), NULL if not a scalar. */
const char *
cy_scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
	    : NULL;
}

bool
cy_is_null_scalar(const yaml_node_t *n)
{
	const char *s = cy_scalar(n);
	return s != NULL && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0);
}

void
cy_fieldname(char *out, size_t cap, const char *parent, const char *key)
{
	if (parent == NULL || parent[0] == '\0')
		snprintf(out, cap, "%s", key);
	else
		snprintf(out, cap, "%s.%s", parent, key);
}

/* Text value. Returns false (and records) when n is not a non-empty
 * scalar that fits. */
bool
cy_get_str(pctx *p, const yaml_node_t *n, const char *field, char *out, size_t cap)
{
	const char *s = cy_scalar(n);
	if (s == NULL || cy_is_null_scalar(n)) {
		cy_err_at(p, n, field, "expected a text value, got %s",
		    s ? "an empty value" : cy_node_kind(n));
		return false;
	}
	if (strlen(s) >= cap) {
		cy_err_at(p, n, field, "value too long (at most %zu characters)",
		    cap - 1);
		return false;
	}
	snprintf(out, cap, "%s", s);
	return true;
}

bool
cy_get_bool(pctx *p, const yaml_node_t *n, const char *field, bool *out)
{
	const char *s = cy_scalar(n);
	if (s != NULL && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (!strcasecmp(s, "true") || !strcasecmp(s, "yes")) {
			*out = true;
			return true;
		}
		if (!strcasecmp(s, "false") || !strcasecmp(s, "no")) {
			*out = false;
			return true;
		}
	}
	cy_err_at(p, n, field, "expected yes or no (true/false), got %s%s%s",
	    s ? "'" : "", s ? s : cy_node_kind(n), s ? "'" : "");
	return false;
}

bool
cy_get_uint(pctx *p, const yaml_node_t *n, const char *field, unsigned min,
    unsigned max, unsigned *out)
{
	const char *s = cy_scalar(n);
	char *end;
	if (s != NULL && s[0] >= '0' && s[0] <= '9') {
		errno = 0;
		unsigned long v = strtoul(s, &end, 10);
		if (*end == '\0' && errno == 0 && v >= min && v <= max) {
			*out = (unsigned)v;
			return true;
		}
	}
	cy_err_at(p, n, field, "expected a whole number from %u to %u, got %s%s%s",
	    min, max, s ? "'" : "", s ? s : cy_node_kind(n), s ? "'" : "");
	return false;
}

bool
cy_get_slot(pctx *p, const yaml_node_t *n, const char *field, uint8_t *slot)
{
	const char *s = cy_scalar(n);
	uint8_t v;
	if (s != NULL && piv_slot_parse(s, &v) && piv_cert_tag(v) != 0) {
		*slot = v;
		return true;
	}
	cy_err_at(p, n, field, "expected a PIV key slot (9a, 9c, 9d, 9e or 82..95), "
	    "got %s%s%s", s ? "'" : "", s ? s : cy_node_kind(n), s ? "'" : "");
	return false;
}

/* A key of the target card: a PIV slot or a PKCS#15 key iD (rt_key_parse). */
bool
cy_get_key(pctx *p, const yaml_node_t *n, const char *field, uint8_t *key)
{
	const char *s = cy_scalar(n);
	if (s != NULL && rt_key_parse(s, key))
		return true;
	cy_err_at(p, n, field, "expected a PIV key slot (9a, 9c, 9d, 9e or "
	    "82..95) or a PKCS#15 key iD (01..ff), got %s%s%s", s ? "'" : "",
	    s ? s : cy_node_kind(n), s ? "'" : "");
	return false;
}

/* A path: resolved against the directory of the file naming it. */
bool
cy_get_path(pctx *p, const yaml_node_t *n, const char *field, char *out,
    size_t cap)
{
	char v[RT_PATH_MAX];
	if (!cy_get_str(p, n, field, v, sizeof(v)))
		return false;
	rt_config *c = p->c;
	if (c->nlines < sizeof(c->lines) / sizeof(c->lines[0])) {
		snprintf(c->lines[c->nlines].field,
		    sizeof(c->lines[0].field), "%s", field);
		c->lines[c->nlines++].line = cy_line_of(n);
	}
	if (v[0] == '/' || strchr(p->file, '/') == NULL) {
		snprintf(out, cap, "%s", v);
		return true;
	}
	const char *slash = strrchr(p->file, '/');
	int dl = (int)(slash - p->file);
	if ((size_t)snprintf(out, cap, "%.*s/%s", dl, p->file, v) >= cap) {
		cy_err_at(p, n, field, "path too long");
		return false;
	}
	return true;
}

/* One of `names` (NULL-terminated) -> its index, or -1 (recorded). */
int
cy_get_enum(pctx *p, const yaml_node_t *n, const char *field,
    const char *const *names)
{
	const char *s = cy_scalar(n);
	if (s != NULL)
		for (int i = 0; names[i] != NULL; i++)
			if (strcasecmp(s, names[i]) == 0)
				return i;
	char exp[200];
	size_t o = 0;
	exp[0] = '\0';
	for (int i = 0; names[i] != NULL && o < sizeof(exp); i++)
		o += (size_t)snprintf(exp + o, sizeof(exp) - o, "%s%s",
		    i ? (names[i + 1] ? ", " : " or ") : "", names[i]);
	cy_err_at(p, n, field, "expected %s, got %s%s%s", exp, s ? "'" : "",
	    s ? s : cy_node_kind(n), s ? "'" : "");
	return -1;
}

/* A list node: a sequence, or a single scalar taken as a one-item list.
 * Calls fn for each item. */
bool
cy_each_item(pctx *p, const yaml_node_t *n, const char *field, item_fn fn,
    void *arg)
{
	if (n->type == YAML_SCALAR_NODE && !cy_is_null_scalar(n)) {
		fn(p, n, field, arg);
		return true;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		cy_err_at(p, n, field, "expected a list, got %s",
		    cy_is_null_scalar(n) ? "an empty value" : cy_node_kind(n));
		return false;
	}
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++)
		fn(p, cy_node(p, *it), field, arg);
	return true;
}

bool
cy_walk_map(pctx *p, const yaml_node_t *n, const char *parent,
    const key_handler *h, void *obj, unsigned *seen)
{
	char field[96];
	if (n == NULL || n->type != YAML_MAPPING_NODE) {
		cy_err_at(p, n, parent && parent[0] ? parent : "(document)",
		    "expected a mapping of keys, got %s",
		    n ? (cy_is_null_scalar(n) ? "an empty value" : cy_node_kind(n)) :
		    "an empty document");
		return false;
	}
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	    pr < n->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = cy_node(p, pr->key), *v = cy_node(p, pr->value);
		const char *ks = cy_scalar(k);
		if (ks == NULL) {
			cy_err_at(p, k, parent, "keys must be plain text");
			continue;
		}
		cy_fieldname(field, sizeof(field), parent, ks);
		int i;
		for (i = 0; h[i].key != NULL; i++)
			if (strcmp(h[i].key, ks) == 0)
				break;
		if (h[i].key == NULL && p->unknown_key != NULL &&
		    p->unknown_key(p, k, field))
			continue;	/* recorded by the hook */
		if (h[i].key == NULL) {
			char exp[400];
			size_t o = 0;
			exp[0] = '\0';
			for (int j = 0; h[j].key != NULL && o < sizeof(exp); j++)
				o += (size_t)snprintf(exp + o, sizeof(exp) - o,
				    "%s%s", j ? ", " : "", h[j].key);
			cy_err_at(p, k, field, "unknown key (expected one of: %s)",
			    exp);
			continue;
		}
		if (*seen & (1u << i)) {
			cy_err_at(p, k, field, "given twice");
			continue;
		}
		*seen |= 1u << i;
		h[i].fn(p, v, field, obj);
	}
	return true;
}

int
cy_key_index(const key_handler *h, const char *key)
{
	for (int i = 0; h[i].key != NULL; i++)
		if (strcmp(h[i].key, key) == 0)
			return i;
	return -1;
}

/* Records a missing required key. */
void
cy_require(pctx *p, const yaml_node_t *map, const key_handler *h, unsigned seen,
    const char *parent, const char *key, const char *what)
{
	int i = cy_key_index(h, key);
	if (i >= 0 && !(seen & (1u << i))) {
		char field[96];
		cy_fieldname(field, sizeof(field), parent, key);
		cy_err_at(p, map, field, "missing (%s)", what);
	}
}

unsigned long
rt_yaml_too_deep(const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	unsigned depth = 0;
	unsigned long line = 0;
	if (!yaml_parser_initialize(&parser))
		return 0;	/* the loader reports it */
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	/* events are scanned lazily: stopping at the first too deep
	 * collection costs little, whatever follows */
	while (line == 0 && yaml_parser_parse(&parser, &ev)) {
		yaml_event_type_t t = ev.type;
		if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
			if (++depth > RT_YAML_MAX_DEPTH)
				line = (unsigned long)ev.start_mark.line + 1;
		} else if (t == YAML_SEQUENCE_END_EVENT ||
		    t == YAML_MAPPING_END_EVENT)
			depth--;
		yaml_event_delete(&ev);
		if (t == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&parser);	/* a syntax error: the loader says */
	return line;
}

/* Loads the YAML document of text into doc. Returns false (recorded) on a
 * syntax error, nesting deeper than RT_YAML_MAX_DEPTH or an
 * empty/multi-document file. */
bool
cy_load_doc(pctx *p, const char *text, size_t len, yaml_document_t *doc)
{
	yaml_parser_t parser;
	unsigned long deep = rt_yaml_too_deep(text, len);
	if (deep != 0) {
		rt_config_diag_add(p->c, p->file, (unsigned)deep, "", false,
		    "nested deeper than %d levels", RT_YAML_MAX_DEPTH);
		p->errors++;
		return false;
	}
	if (!yaml_parser_initialize(&parser)) {
		cy_err_at(p, NULL, "", "out of memory");
		return false;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, doc)) {
		rt_config_diag_add(p->c, p->file,
		    (unsigned)parser.problem_mark.line + 1, "", false,
		    "YAML syntax error: %s%s%s",
		    parser.problem ? parser.problem : "malformed",
		    parser.context ? " " : "", parser.context ? parser.context : "");
		p->errors++;
		yaml_parser_delete(&parser);
		return false;
	}
	yaml_node_t *root = yaml_document_get_root_node(doc);
	if (root == NULL) {
		cy_err_at(p, NULL, "", "the file is empty (expected a mapping of keys)");
		yaml_document_delete(doc);
		yaml_parser_delete(&parser);
		return false;
	}
	/* a second document is not allowed */
	yaml_document_t extra;
	if (yaml_parser_load(&parser, &extra)) {
		if (yaml_document_get_root_node(&extra) != NULL) {
			cy_err_at(p, yaml_document_get_root_node(&extra), "",
			    "a second YAML document (one per file expected)");
			yaml_document_delete(&extra);
			yaml_document_delete(doc);
			yaml_parser_delete(&parser);
			return false;
		}
		yaml_document_delete(&extra);
	}
	yaml_parser_delete(&parser);
	return true;
}

/* ---- raterm.yaml ---------------------------------------------------------------------- */

static void
reader_sel(pctx *p, const yaml_node_t *v, const char *field, void *obj)
{
	rt_reader_sel *sel = obj;
	const char *s = cy_scalar(v);
	if (s != NULL) {
		if (strcmp(s, "auto") == 0) {
			sel->match = RT_READER_AUTO;
			return;
		}
		cy_err_at(p, v, field, "expected auto, {name: READER} or "
		    "{pattern: GLOB}, got '%s'", s);
		return;
	}
	if (v->type != YAML_MAPPING_NODE ||
	    v->data.mapping.pairs.top - v->data.mapping.pairs.start != 1) {
		cy_err_at(p, v, field, "expected auto, {name: READER} or "
		    "{pattern: GLOB}, got %s", cy_node_kind(v));
		return;
	}
	yaml_node_pair_t *pr = v->data.mapping.pairs.start;
	const char *k = cy_scalar(cy_node(p, pr->key));
	char sub[96];
	cy_fieldname(sub, sizeof(sub), field, k ? k : "?");
	if (k != NULL && strcmp(k, "name") == 0)
		sel->match = RT_READER_NAME;
	else if (k != NULL && strcmp(k, "pattern") == 0)
		sel->match = RT_READER_PATTERN;
	else {
		cy_err_at(p, cy_node(p, pr->key), sub, "unknown key (expected name or "
		    "pattern)");
		return;
	}
	if (!cy_get_str(p, cy_node(p, pr->value), sub, sel->value, sizeof(sel->value)))
		sel->match = RT_READER_AUTO;
}

static void r_officer(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ reader_sel(p, v, f, &((rt_config *)o)->officer_reader); }
static void r_target(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ reader_sel(p, v, f, &((rt_config *)o)->target_reader); }

static const key_handler readers_keys[] = {
	{ "officer", r_officer }, { "target", r_target }, { NULL, NULL },
};

static void
k_readers(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	unsigned seen = 0;
	cy_walk_map(p, v, f, readers_keys, o, &seen);
}

static void
o_token(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	static const char *const names[] = { "card", "software", NULL };
	int i = cy_get_enum(p, v, f, names);
	if (i >= 0)
		((rt_config *)o)->officer.kind = (rt_officer_kind)i;
}
static void o_slot(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)cy_get_slot(p, v, f, &((rt_config *)o)->officer.slot); }
static void o_key(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ rt_config *c = o; (void)cy_get_path(p, v, f, c->officer.key_file, sizeof(c->officer.key_file)); }
static void o_cert(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ rt_config *c = o; (void)cy_get_path(p, v, f, c->officer.cert_file, sizeof(c->officer.cert_file)); }
static void o_cas(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ rt_config *c = o; (void)cy_get_path(p, v, f, c->officer.officer_cas, sizeof(c->officer.officer_cas)); }

static const key_handler officer_keys[] = {
	{ "token", o_token }, { "slot", o_slot }, { "key_file", o_key },
	{ "cert_file", o_cert }, { "officer_cas", o_cas }, { NULL, NULL },
};

static void
k_officer(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	rt_config *c = o;
	unsigned seen = 0;
	if (!cy_walk_map(p, v, f, officer_keys, o, &seen))
		return;
	int ki = cy_key_index(officer_keys, "key_file");
	int si = cy_key_index(officer_keys, "slot");
	if (c->officer.kind == RT_OFFICER_SOFTWARE) {
		rt_config_diag_add(p->c, p->file, cy_line_of(v), "officer.token",
		    true, "a software officer token is not recommended (an "
		    "officer card keeps the key off the station); raterm warns "
		    "every time it is used");
		cy_require(p, v, officer_keys, seen, f, "key_file",
		    "token: software needs the encrypted key file");
		if (seen & (1u << si))
			cy_err_at(p, v, "officer.slot", "a slot is only for token: "
			    "card");
	} else if (seen & (1u << ki))
		cy_err_at(p, v, "officer.key_file", "a key file is only for token: "
		    "software");
}

static void
h_url(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	rt_config *c = o;
	if (!cy_get_str(p, v, f, c->cmhost_url, sizeof(c->cmhost_url)))
		return;
	if (strncmp(c->cmhost_url, "http://", 7) != 0 &&
	    strncmp(c->cmhost_url, "https://", 8) != 0) {
		cy_err_at(p, v, f, "expected an http:// or https:// URL, got '%s'",
		    c->cmhost_url);
		c->cmhost_url[0] = '\0';
	}
}
static void h_trust(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ rt_config *c = o; (void)cy_get_path(p, v, f, c->cmhost_trust, sizeof(c->cmhost_trust)); }

static const key_handler cmhost_keys[] = {
	{ "url", h_url }, { "trust", h_trust }, { NULL, NULL },
};

static void
k_cmhost(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	unsigned seen = 0;
	if (cy_walk_map(p, v, f, cmhost_keys, o, &seen))
		cy_require(p, v, cmhost_keys, seen, f, "url",
		    "the CM host's CMP URL, http:// or https://");
}

static void
rv_check(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	static const char *const names[] = { "auto", "off", NULL };
	int i = cy_get_enum(p, v, f, names);
	if (i >= 0)
		((rt_config *)o)->rev_check_off = i == 1;
}
static void
rv_ocsp(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	rt_config *c = o;
	if (!cy_get_str(p, v, f, c->rev_ocsp_url, sizeof(c->rev_ocsp_url)))
		return;
	if (strcmp(c->rev_ocsp_url, "none") != 0 &&
	    strncmp(c->rev_ocsp_url, "http://", 7) != 0 &&
	    strncmp(c->rev_ocsp_url, "https://", 8) != 0) {
		cy_err_at(p, v, f, "expected an http:// or https:// URL or none, "
		    "got '%s'", c->rev_ocsp_url);
		c->rev_ocsp_url[0] = '\0';
	}
}
static void
rv_crl(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	bool on = true;
	if (cy_get_bool(p, v, f, &on))
		((rt_config *)o)->rev_crl_off = !on;
}
static void rv_timeout(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)cy_get_uint(p, v, f, 1, 300, &((rt_config *)o)->rev_timeout); }

static const key_handler revocation_keys[] = {
	{ "check", rv_check }, { "ocsp_url", rv_ocsp }, { "crl", rv_crl },
	{ "timeout", rv_timeout }, { NULL, NULL },
};

static void
k_revocation(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	unsigned seen = 0;
	cy_walk_map(p, v, f, revocation_keys, o, &seen);
}

static void
u_echo(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	static const char *const names[] = { "star", "none", NULL };
	int i = cy_get_enum(p, v, f, names);
	if (i >= 0)
		((rt_config *)o)->ui_pin_none = i == 1;
}
static void u_ascii(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)cy_get_bool(p, v, f, &((rt_config *)o)->ui_ascii); }

static const key_handler ui_keys[] = {
	{ "pin_echo", u_echo }, { "ascii", u_ascii }, { NULL, NULL },
};

static void
k_ui(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	unsigned seen = 0;
	cy_walk_map(p, v, f, ui_keys, o, &seen);
}

static void pr_feed(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ rt_config *c = o; (void)cy_get_str(p, v, f, c->printer_feed, sizeof(c->printer_feed)); }
static void pr_eject(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ rt_config *c = o; (void)cy_get_str(p, v, f, c->printer_eject, sizeof(c->printer_eject)); }

static const key_handler printer_keys[] = {
	{ "feed", pr_feed }, { "eject", pr_eject }, { NULL, NULL },
};

static void
k_printer(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	unsigned seen = 0;
	cy_walk_map(p, v, f, printer_keys, o, &seen);
}

#define PATH_KEY(fn, member) \
static void fn(pctx *p, const yaml_node_t *v, const char *f, void *o) \
{ rt_config *c = o; (void)cy_get_path(p, v, f, c->member, sizeof(c->member)); }
PATH_KEY(k_tcas, transport_cas)
PATH_KEY(k_attest, attestation_roots)
PATH_KEY(k_journal, journal)
PATH_KEY(k_audit, audit)
PATH_KEY(k_procs, procedures_dir)

static const key_handler station_keys[] = {
	{ "readers", k_readers },
	{ "officer", k_officer },
	{ "cmhost", k_cmhost },
	{ "revocation", k_revocation },
	{ "transport_cas", k_tcas },
	{ "attestation_roots", k_attest },
	{ "journal", k_journal },
	{ "audit", k_audit },
	{ "procedures", k_procs },
	{ "ui", k_ui },
	{ "printer", k_printer },
	{ NULL, NULL },
};

size_t
rt_config_parse_station(rt_config *c, const char *name, const char *text,
    size_t len)
{
	pctx p = { .c = c, .file = name };
	yaml_document_t doc;
	snprintf(c->file, sizeof(c->file), "%s", name);
	if (!cy_load_doc(&p, text, len, &doc))
		return p.errors;
	p.doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	unsigned seen = 0;
	if (cy_walk_map(&p, root, "", station_keys, c, &seen)) {
		cy_require(&p, root, station_keys, seen, "", "cmhost",
		    "the CM host: {url: ..., trust: ...}");
		cy_require(&p, root, station_keys, seen, "", "transport_cas",
		    "transport CA certificate file or directory");
		cy_require(&p, root, station_keys, seen, "", "journal",
		    "journal directory");
		cy_require(&p, root, station_keys, seen, "", "audit",
		    "audit log file");
		if (!(seen & (1u << cy_key_index(station_keys, "procedures")))) {
			char pth[RT_PATH_MAX];
			const char *slash = strrchr(name, '/');
			if (slash != NULL)
				snprintf(pth, sizeof(pth), "%.*s/procedures.d",
				    (int)(slash - name), name);
			else
				snprintf(pth, sizeof(pth), "procedures.d");
			snprintf(c->procedures_dir, sizeof(c->procedures_dir),
			    "%s", pth);
		}
	}
	yaml_document_delete(&doc);
	return p.errors;
}

/* ---- procedures ------------------------------------------------------------------------ */

typedef struct {
	rt_procedure *pr;
	bool san_types_given, attestation_given, qc_given;
	const yaml_node_t *attestation_node, *san_types_node;
} proc_parse;

static void
p_name(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	rt_procedure *pr = ((proc_parse *)o)->pr;
	if (!cy_get_str(p, v, f, pr->name, sizeof(pr->name)))
		return;
	pr->line = cy_line_of(v);
	for (const char *s = pr->name; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '_' || *s == '.')) {
			cy_err_at(p, v, f, "expected lowercase letters, digits, "
			    "'-', '_' or '.', got '%s'", pr->name);
			pr->name[0] = '\0';
			return;
		}
}

static void p_desc(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ rt_procedure *pr = ((proc_parse *)o)->pr; (void)cy_get_str(p, v, f, pr->description, sizeof(pr->description)); }

static void
action_item(pctx *p, const yaml_node_t *it, const char *f, void *arg)
{
	rt_procedure *pr = arg;
	rt_action a;
	const char *s = cy_scalar(it);
	if (s == NULL || !rt_action_parse(s, &a)) {
		cy_err_at(p, it, f, "expected issue, redo, add or blank, got %s%s%s",
		    s ? "'" : "", s ? s : cy_node_kind(it), s ? "'" : "");
		return;
	}
	pr->allowed[a] = true;
}

static void p_actions(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)cy_each_item(p, v, f, action_item, ((proc_parse *)o)->pr); }

static void
tcc_item(pctx *p, const yaml_node_t *it, const char *f, void *arg)
{
	static const char *const names[] = { "chain", "possession", "binding",
	    "attestation", NULL };
	int i = cy_get_enum(p, it, f, names);
	if (i >= 0)
		((rt_procedure *)arg)->tc_controls |= 1u << i;
}

static void
p_tcc(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	rt_procedure *pr = ((proc_parse *)o)->pr;
	const char *s = cy_scalar(v);
	if (s != NULL && strcmp(s, "none") == 0)
		return;
	if (s != NULL && strcmp(s, "all") == 0) {
		pr->tc_controls = RT_TCC_ALL;
		return;
	}
	if (v->type == YAML_SEQUENCE_NODE && v->data.sequence.items.top ==
	    v->data.sequence.items.start)
		return;		/* [] */
	if (!cy_each_item(p, v, f, tcc_item, pr))
		return;
	if (pr->tc_controls != 0 &&
	    (pr->tc_controls & (RT_TCC_CHAIN | RT_TCC_POSSESSION)) !=
	    (RT_TCC_CHAIN | RT_TCC_POSSESSION))
		cy_err_at(p, v, f, "chain and possession are required whenever TC "
		    "controls are configured (binding and attestation build on "
		    "them); expected e.g. [chain, possession, binding]");
}

static void
p_attestation(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	static const char *const names[] = { "if-offered", "required", NULL };
	proc_parse *pp = o;
	int i = cy_get_enum(p, v, f, names);
	pp->attestation_given = true;
	pp->attestation_node = v;
	if (i >= 0)
		pp->pr->attestation_required = i == 1;
}

static void
p_profiles(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	rt_procedure *pr = ((proc_parse *)o)->pr;
	char field[96];
	if (v->type != YAML_MAPPING_NODE) {
		cy_err_at(p, v, f, "expected a mapping of key slot to CM host "
		    "certificate profile, e.g. {9a: piv-auth}, got %s",
		    cy_node_kind(v));
		return;
	}
	for (yaml_node_pair_t *pair = v->data.mapping.pairs.start;
	    pair < v->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = cy_node(p, pair->key), *val = cy_node(p, pair->value);
		const char *ks = cy_scalar(k);
		cy_fieldname(field, sizeof(field), f, ks ? ks : "?");
		uint8_t slot;
		if (!cy_get_key(p, k, field, &slot))
			continue;
		if (rt_procedure_profile(pr, slot) != NULL) {
			cy_err_at(p, k, field, "slot given twice");
			continue;
		}
		rt_slot_profile *sp = &pr->profiles[pr->nprofiles];
		if (cy_get_str(p, val, field, sp->profile, sizeof(sp->profile))) {
			sp->slot = slot;
			pr->nprofiles++;
		}
	}
	if (pr->nprofiles == 0 && v->data.mapping.pairs.top ==
	    v->data.mapping.pairs.start)
		cy_err_at(p, v, f, "expected at least one slot with a profile");
}

static void
p_subject(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	static const char *const names[] = { "tc", "card", "officer", NULL };
	int i = cy_get_enum(p, v, f, names);
	if (i >= 0)
		((proc_parse *)o)->pr->subject = (rt_source)(i + 1);
}

static void
p_san(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	static const char *const names[] = { "none", "tc", "card", "officer",
	    NULL };
	int i = cy_get_enum(p, v, f, names);
	if (i >= 0)
		((proc_parse *)o)->pr->san = (rt_source)i;
}

static void
san_type_item(pctx *p, const yaml_node_t *it, const char *f, void *arg)
{
	static const char *const names[] = { "email", "upn", "dns", NULL };
	int i = cy_get_enum(p, it, f, names);
	if (i >= 0)
		((rt_procedure *)arg)->san_types |= 1u << i;
}

static void
p_san_types(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	proc_parse *pp = o;
	pp->san_types_given = true;
	pp->san_types_node = v;
	(void)cy_each_item(p, v, f, san_type_item, pp->pr);
}

static void
alg_item(pctx *p, const yaml_node_t *it, const char *f, void *arg)
{
	rt_procedure *pr = arg;
	const char *s = cy_scalar(it);
	piv_alg a = s ? piv_alg_from_name(s) : PIV_ALG_NONE;
	if (a != PIV_ALG_RSA1024 && a != PIV_ALG_RSA2048 && a != PIV_ALG_RSA3072 &&
	    a != PIV_ALG_RSA4096 && a != PIV_ALG_ECCP256 && a != PIV_ALG_ECCP384) {
		cy_err_at(p, it, f, "expected a key algorithm (RSA2048, RSA3072, "
		    "RSA4096, ECCP256, ECCP384), got %s%s%s", s ? "'" : "",
		    s ? s : cy_node_kind(it), s ? "'" : "");
		return;
	}
	if (pr->nalgorithms >= sizeof(pr->algorithms) / sizeof(pr->algorithms[0])) {
		cy_err_at(p, it, f, "too many algorithms");
		return;
	}
	pr->algorithms[pr->nalgorithms++] = a;
}

static void p_algs(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)cy_each_item(p, v, f, alg_item, ((proc_parse *)o)->pr); }

static const char *const qc_names[] = { "compliance", "sscd", "esign",
    "eseal", "web", NULL };

static void
qc_fixed_item(pctx *p, const yaml_node_t *it, const char *f, void *arg)
{
	rt_procedure *pr = arg;
	int i = cy_get_enum(p, it, f, qc_names);
	if (i < 0)
		return;
	pr->has_qc_fixed = true;
	switch (i) {
	case 0: pr->qc_fixed.compliance = true; break;
	case 1: pr->qc_fixed.sscd = true; break;
	case 2: pr->qc_fixed.types |= RT_QC_TYPE_ESIGN; break;
	case 3: pr->qc_fixed.types |= RT_QC_TYPE_ESEAL; break;
	case 4: pr->qc_fixed.types |= RT_QC_TYPE_WEB; break;
	}
}

static void
qc_opt_item(pctx *p, const yaml_node_t *it, const char *f, void *arg)
{
	int i = cy_get_enum(p, it, f, qc_names);
	if (i >= 0)
		((rt_procedure *)arg)->qc_optional |= 1u << i;
}

static void q_fixed(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)cy_each_item(p, v, f, qc_fixed_item, ((proc_parse *)o)->pr); }
static void q_opt(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)cy_each_item(p, v, f, qc_opt_item, ((proc_parse *)o)->pr); }

static void
q_retention(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	rt_procedure *pr = ((proc_parse *)o)->pr;
	unsigned y;
	if (cy_get_uint(p, v, f, 1, 100, &y)) {
		pr->qc_fixed.retention_years = (int)y;
		pr->has_qc_fixed = true;
	}
}

static void
q_cc(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	rt_procedure *pr = ((proc_parse *)o)->pr;
	char cc[8];
	if (!cy_get_str(p, v, f, cc, sizeof(cc)))
		return;
	if (strlen(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' ||
	    cc[1] > 'Z') {
		cy_err_at(p, v, f, "expected a two-letter country code (ISO 3166, "
		    "upper case), got '%s'", cc);
		return;
	}
	memcpy(pr->qc_fixed.cc[0], cc, 3);
	pr->qc_fixed.ncc = 1;
	pr->has_qc_fixed = true;
}

static const key_handler qc_keys[] = {
	{ "fixed", q_fixed }, { "officer_may_add", q_opt },
	{ "retention_years", q_retention }, { "legislation", q_cc },
	{ NULL, NULL },
};

static void
p_qc(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	unsigned seen = 0;
	cy_walk_map(p, v, f, qc_keys, o, &seen);
}

static void
p_pins(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	unsigned n;
	if (cy_get_uint(p, v, f, 1, 2, &n))
		((proc_parse *)o)->pr->card_pins = n;
}

static void c_op(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)cy_get_bool(p, v, f, &((proc_parse *)o)->pr->operator_credential); }
static void c_write(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)cy_get_bool(p, v, f, &((proc_parse *)o)->pr->write_ca_certs); }

static const key_handler ca_keys[] = {
	{ "operator_credential", c_op }, { "write_to_card", c_write },
	{ "write", c_write },	/* the short name: {write: true} */
	{ NULL, NULL },
};

static void
p_ca(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	unsigned seen = 0;
	cy_walk_map(p, v, f, ca_keys, o, &seen);
}

static const key_handler proc_keys[] = {
	{ "name", p_name },
	{ "description", p_desc },
	{ "actions", p_actions },
	{ "tc_controls", p_tcc },
	{ "attestation", p_attestation },
	{ "profiles", p_profiles },
	{ "subject", p_subject },
	{ "san", p_san },
	{ "san_types", p_san_types },
	{ "key_algorithms", p_algs },
	{ "qc_statements", p_qc },
	{ "card_pins", p_pins },
	{ "ca_certificates", p_ca },
	{ NULL, NULL },
};

size_t
rt_config_parse_procedure(rt_config *c, const char *name, const char *text,
    size_t len)
{
	pctx p = { .c = c, .file = name };
	yaml_document_t doc;
	if (!cy_load_doc(&p, text, len, &doc))
		return p.errors;
	p.doc = &doc;
	rt_procedure pr;
	memset(&pr, 0, sizeof(pr));
	snprintf(pr.file, sizeof(pr.file), "%s", name);
	pr.allowed[RT_ACT_BLANK] = true;
	pr.card_pins = 1;
	pr.subject = RT_SRC_CARD;
	pr.san = RT_SRC_NONE;
	proc_parse pp = { .pr = &pr };
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	unsigned seen = 0;
	if (!cy_walk_map(&p, root, "", proc_keys, &pp, &seen))
		goto out;
	cy_require(&p, root, proc_keys, seen, "", "name",
	    "the procedure's name, e.g. tc-redo");
	cy_require(&p, root, proc_keys, seen, "", "description",
	    "one line shown to the officer");
	cy_require(&p, root, proc_keys, seen, "", "actions",
	    "a list of issue, redo, add");
	cy_require(&p, root, proc_keys, seen, "", "profiles",
	    "the CM host certificate profile per key slot, e.g. {9a: piv-auth}");
	if ((seen & (1u << cy_key_index(proc_keys, "actions"))) &&
	    !pr.allowed[RT_ACT_ISSUE] && !pr.allowed[RT_ACT_REDO] &&
	    !pr.allowed[RT_ACT_ADD])
		cy_err_at(&p, root, "actions", "expected at least one of issue, "
		    "redo, add");
	if (pp.attestation_given && !(pr.tc_controls & RT_TCC_ATTESTATION))
		cy_err_at(&p, pp.attestation_node, "attestation", "only meaningful "
		    "when tc_controls includes attestation");
	if (pr.subject == RT_SRC_TC && pr.tc_controls == 0)
		cy_err_at(&p, root, "subject", "'tc' takes the subject from the "
		    "transport certificate, which needs tc_controls (a subject "
		    "from an unverified TC is not trusted)");
	if (pr.san == RT_SRC_TC && pr.tc_controls == 0)
		cy_err_at(&p, root, "san", "'tc' needs tc_controls");
	if (pr.san == RT_SRC_OFFICER && pr.san_types == 0)
		cy_err_at(&p, pp.san_types_node ? pp.san_types_node : root,
		    "san_types", "san: officer needs the types the officer "
		    "types, e.g. [email, upn]");
	if (pp.san_types_given && pr.san != RT_SRC_OFFICER)
		cy_err_at(&p, pp.san_types_node, "san_types", "only meaningful "
		    "with san: officer");
	if (p.errors == 0 && pr.name[0]) {
		const rt_procedure *dup = rt_config_procedure(c, pr.name);
		if (dup != NULL) {
			cy_err_at(&p, root, "name", "procedure '%s' is already "
			    "defined in %s:%u", pr.name, dup->file, dup->line);
			goto out;
		}
		rt_procedure *n = realloc(c->procs,
		    (c->nprocs + 1) * sizeof(*n));
		if (n == NULL) {
			cy_err_at(&p, NULL, "", "out of memory");
			goto out;
		}
		c->procs = n;
		c->procs[c->nprocs++] = pr;
	}
out:
	yaml_document_delete(&doc);
	return p.errors;
}

/* ---- files ------------------------------------------------------------------------------- */

/* Reads a whole file; NULL (diagnostic added) on failure. */
char *
cy_read_file(rt_config *c, const char *path, size_t *len)
{
	uint8_t *buf;
	rt_err *e = rt_file_read(path, MAX_FILE_BYTES, &buf, len);
	if (e == NULL)
		return (char *)buf;
	if (rt_err_has(e, RT_E_TOO_BIG))
		rt_config_diag_add(c, path, 0, "", false, "larger than %d bytes",
		    MAX_FILE_BYTES);
	else if (rt_err_has(e, RT_E_IO))
		rt_config_diag_add(c, path, 0, "", false, "cannot read: %s",
		    strerror(rt_err_detail(e)));
	else
		rt_config_diag_add(c, path, 0, "", false, "out of memory");
	rt_err_free(e);
	return NULL;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t
rt_config_load_procedures(rt_config *c, const char *dir)
{
	size_t before = c->nerrors;
	DIR *d = opendir(dir);
	if (d == NULL) {
		rt_config_diag_add(c, c->file[0] ? c->file : dir, 0, "procedures",
		    false, "cannot open the procedures directory %s: %s", dir,
		    strerror(errno));
		return c->nerrors - before;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.')
			continue;
		if (!((l > 5 && strcmp(de->d_name + l - 5, ".yaml") == 0) ||
		    (l > 4 && strcmp(de->d_name + l - 4, ".yml") == 0)))
			continue;
		char **nn = realloc(names, (n + 1) * sizeof(*nn));
		if (nn == NULL)
			break;
		names = nn;
		if ((names[n] = strdup(de->d_name)) == NULL)
			break;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char path[RT_PATH_MAX * 2];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		size_t len;
		char *text = cy_read_file(c, path, &len);
		if (text != NULL) {
			(void)rt_config_parse_procedure(c, path, text, len);
			free(text);
		}
		free(names[i]);
	}
	free(names);
	if (n == 0)
		rt_config_diag_add(c, dir, 0, "procedures", true,
		    "no procedure files (*.yaml) in this directory");
	return c->nerrors - before;
}

static void
check_file(rt_config *c, const char *path, const char *field, bool strict)
{
	struct stat st;
	if (path[0] == '\0' || stat(path, &st) == 0)
		return;
	int err = errno;
	unsigned line = 0;
	for (size_t i = 0; i < c->nlines; i++)
		if (strcmp(c->lines[i].field, field) == 0)
			line = c->lines[i].line;
	rt_config_diag_add(c, c->file, line, field, !strict, "%s: %s (expected "
	    "an existing file or directory)", path, strerror(err));
}

void
rt_config_check_files(rt_config *c, bool strict)
{
	check_file(c, c->transport_cas, "transport_cas", strict);
	check_file(c, c->attestation_roots, "attestation_roots", strict);
	check_file(c, c->cmhost_trust, "cmhost.trust", strict);
	check_file(c, c->officer.officer_cas, "officer.officer_cas", strict);
	check_file(c, c->officer.key_file, "officer.key_file", strict);
	check_file(c, c->officer.cert_file, "officer.cert_file", strict);
}

rt_err *
rt_config_load(const char *path, rt_config **out)
{
	rt_config *c = NULL;
	rt_err *e = rt_config_new(&c);
	if (e != NULL)
		return e;
	*out = c;
	size_t len;
	char *text = cy_read_file(c, path, &len);
	if (text != NULL) {
		(void)rt_config_parse_station(c, path, text, len);
		free(text);
		if (c->procedures_dir[0] != '\0')
			(void)rt_config_load_procedures(c, c->procedures_dir);
	}
	if (c->nerrors == 0)
		return NULL;
	char first[1024] = "";
	for (size_t i = 0; i < c->ndiags; i++)
		if (!c->diags[i].warning) {
			rt_cfg_diag_format(&c->diags[i], first, sizeof(first));
			break;
		}
	if (c->nerrors == 1)
		return rt_err_new(RT_E_CONFIG, NULL, "%s", first);
	return rt_err_new(RT_E_CONFIG, NULL, "%s (and %zu more errors; see "
	    "'raterm check-config')", first, c->nerrors - 1);
}
