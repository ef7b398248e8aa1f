/* job.c - update job files (`raterm update --batch`), read with the YAML
 * helpers of config.c; see include/raterm/job.h and docs/configuration.md. */
#include "raterm/job.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_int.h"

rt_err *
rt_job_new(rt_job **out)
{
	rt_job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "job");
	*out = j;
	return NULL;
}

void
rt_job_free(rt_job *j)
{
	if (j == NULL)
		return;
	free(j->cards);
	free(j->diags);
	free(j);
}

/* Moves the diagnostics collected in the scratch configuration c to j. */
static void
take_diags(rt_job *j, rt_config *c)
{
	if (c->ndiags == 0)
		return;
	rt_cfg_diag *n = realloc(j->diags, (j->ndiags + c->ndiags) * sizeof(*n));
	if (n == NULL)
		return;
	memcpy(n + j->ndiags, c->diags, c->ndiags * sizeof(*n));
	j->diags = n;
	j->ndiags += c->ndiags;
	j->nerrors += c->nerrors;
}

/* ---- secrets are refused ------------------------------------------------------------ */

/* True for a key that would hold a PIN, a passphrase or a key: any of its
 * words (split at '_', '-', '.', ' ') is pin, pin2, puk, passphrase,
 * password, secret, ... */
static bool
secret_key(const char *key)
{
	static const char *const words[] = { "pin", "pins", "puk", "passphrase",
	    "password", "passwd", "pass", "secret", "secrets", "credential",
	    "mgmkey", "mgmtkey", "mgm", "mgmt", "management", "operator",
	    NULL };
	char w[64];
	const char *s = key;
	while (*s != '\0') {
		size_t n = 0;
		while (*s != '\0' && strchr("_-. ", *s) == NULL) {
			if (n < sizeof(w) - 1)
				w[n++] = (char)tolower((unsigned char)*s);
			s++;
		}
		w[n] = '\0';
		if (*s != '\0')
			s++;
		/* pin1, pin2, puk2 */
		while (n > 0 && isdigit((unsigned char)w[n - 1]))
			w[--n] = '\0';
		for (int i = 0; words[i] != NULL; i++)
			if (strcmp(w, words[i]) == 0)
				return true;
	}
	return false;
}

static bool
unknown_key(pctx *p, const yaml_node_t *key, const char *field)
{
	const char *ks = cy_scalar(key);
	if (ks == NULL || !secret_key(ks))
		return false;
	cy_err_at(p, key, field, "PINs, passphrases and keys are never read "
	    "from a job file: they are asked on the terminal or read from "
	    "--pin-fd");
	return true;
}

/* ---- cards ----------------------------------------------------------------------------- */

typedef struct {
	rt_job *j;
	rt_job_card top;		/* reader, procedure, actions at the top */
	unsigned seen_top;		/* SEEN_*: given (even if broken) */
	const yaml_node_t *cards_node;
	const yaml_node_t *reader_node;
} job_parse;

#define SEEN_READER 1u
#define SEEN_PROC   2u
#define SEEN_ACTS   4u
#define SEEN_REQ_S  8u
#define SEEN_REQ_A  16u
#define SEEN_REQ_Q  32u

static bool
get_reader(pctx *p, const yaml_node_t *v, const char *f, rt_job_card *c)
{
	if (!cy_get_str(p, v, f, c->reader, sizeof(c->reader)))
		return false;
	c->reader_line = cy_line_of(v);
	return true;
}

static bool
get_procedure(pctx *p, const yaml_node_t *v, const char *f, rt_job_card *c)
{
	if (!cy_get_str(p, v, f, c->procedure, sizeof(c->procedure)))
		return false;
	c->procedure_line = cy_line_of(v);
	return true;
}

/* actions: {9a: redo, 9c: issue} */
static bool
get_actions(pctx *p, const yaml_node_t *v, const char *f, rt_job_card *c)
{
	char field[96];
	if (v->type != YAML_MAPPING_NODE) {
		cy_err_at(p, v, f, "expected a mapping of key slot to action, "
		    "e.g. {9a: redo, 9c: issue}, got %s", cy_is_null_scalar(v) ?
		    "an empty value" : cy_node_kind(v));
		return false;
	}
	size_t before = p->errors;
	c->nactions = 0;
	for (yaml_node_pair_t *pr = v->data.mapping.pairs.start;
	    pr < v->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = cy_node(p, pr->key), *val = cy_node(p, pr->value);
		const char *ks = cy_scalar(k);
		cy_fieldname(field, sizeof(field), f, ks ? ks : "?");
		if (ks != NULL && secret_key(ks)) {
			(void)unknown_key(p, k, field);
			continue;
		}
		uint8_t slot;
		if (!cy_get_key(p, k, field, &slot))
			continue;
		bool dup = false;
		for (size_t i = 0; i < c->nactions; i++)
			if (c->actions[i].slot == slot) {
				cy_err_at(p, k, field, "slot given twice (first on "
				    "line %u)", c->actions[i].line);
				dup = true;
			}
		if (dup)
			continue;
		const char *as = cy_scalar(val);
		rt_action a;
		if (as == NULL || !rt_action_parse(as, &a)) {
			cy_err_at(p, val, field, "expected blank, issue, redo or "
			    "add, got %s%s%s", as ? "'" : "", as ? as :
			    cy_node_kind(val), as ? "'" : "");
			continue;
		}
		if (c->nactions >= PIV_NUM_CERT_SLOTS) {
			cy_err_at(p, k, field, "too many slots");
			continue;
		}
		c->actions[c->nactions].slot = slot;
		c->actions[c->nactions].action = a;
		c->actions[c->nactions++].line = cy_line_of(k);
	}
	if (c->nactions == 0 && p->errors == before) {
		cy_err_at(p, v, f, "expected at least one key slot with an action, "
		    "e.g. {9a: redo}");
		return false;
	}
	return p->errors == before;
}

/* One value of subject/san/qc for slot: a non-empty string. */
static void
add_req(pctx *p, const yaml_node_t *v, const char *f, rt_job_card *c,
    char kind, uint8_t slot)
{
	const char *sv = cy_scalar(v);
	if (sv == NULL || cy_is_null_scalar(v)) {
		cy_err_at(p, v, f, "expected %s, got %s", kind == 's' ?
		    "a DN, e.g. \"CN=Jane Doe,O=Example,C=DE\"" : kind == 'a' ?
		    "TYPE:VALUE, e.g. email:jane@example.org" :
		    "a QC statement (compliance, sscd, esign, eseal, web)",
		    sv ? "an empty value" : cy_node_kind(v));
		return;
	}
	if (kind == 'a' && strchr(sv, ':') == NULL) {
		cy_err_at(p, v, f, "expected TYPE:VALUE (email, upn or dns), e.g. "
		    "email:jane@example.org, got '%s'", sv);
		return;
	}
	if (strlen(sv) >= sizeof(c->reqs[0].value)) {
		cy_err_at(p, v, f, "longer than %zu characters",
		    sizeof(c->reqs[0].value) - 1);
		return;
	}
	if (c->nreqs >= RT_JOB_MAX_REQS) {
		cy_err_at(p, v, f, "too many subject/san/qc values (at most %d "
		    "per card)", RT_JOB_MAX_REQS);
		return;
	}
	rt_job_req *r = &c->reqs[c->nreqs++];
	r->kind = kind;
	r->slot = slot;
	snprintf(r->value, sizeof(r->value), "%s", sv);
	r->line = cy_line_of(v);
}

/* subject: {9c: "CN=..."}; san: {9c: [email:..., ...]} or {9c: email:..};
 * qc: {9c: [esign]} or [esign] (every key with an action) */
static bool
get_reqs(pctx *p, const yaml_node_t *v, const char *f, rt_job_card *c,
    char kind)
{
	char field[96], ifield[112];
	size_t before = p->errors;
	/* reset what this key gave before (a card's own replaces the top's) */
	size_t k = 0;
	for (size_t i = 0; i < c->nreqs; i++)
		if (c->reqs[i].kind != kind)
			c->reqs[k++] = c->reqs[i];
	c->nreqs = k;
	if (kind == 'q' && v->type == YAML_SEQUENCE_NODE) {
		size_t i = 0;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		    it < v->data.sequence.items.top; it++, i++) {
			snprintf(ifield, sizeof(ifield), "%s[%zu]", f, i + 1);
			add_req(p, cy_node(p, *it), ifield, c, kind, 0);
		}
		return p->errors == before;
	}
	if (v->type != YAML_MAPPING_NODE) {
		cy_err_at(p, v, f, "expected a mapping of key slot to %s, got %s",
		    kind == 's' ? "a DN, e.g. {9c: \"CN=Jane Doe\"}" :
		    kind == 'a' ? "names, e.g. {9c: [\"email:jane@example.org\"]}" :
		    "QC statements, e.g. {9c: [esign]}",
		    cy_is_null_scalar(v) ? "an empty value" : cy_node_kind(v));
		return false;
	}
	for (yaml_node_pair_t *pr = v->data.mapping.pairs.start;
	    pr < v->data.mapping.pairs.top; pr++) {
		yaml_node_t *kn = cy_node(p, pr->key), *val = cy_node(p, pr->value);
		const char *ks = cy_scalar(kn);
		uint8_t slot;
		cy_fieldname(field, sizeof(field), f, ks ? ks : "?");
		if (ks != NULL && secret_key(ks)) {
			(void)unknown_key(p, kn, field);
			continue;
		}
		if (!cy_get_key(p, kn, field, &slot))
			continue;
		bool dup = false;
		for (size_t i = 0; i < c->nreqs; i++)
			if (c->reqs[i].kind == kind && c->reqs[i].slot == slot)
				dup = true;
		if (dup) {
			cy_err_at(p, kn, field, "slot given twice");
			continue;
		}
		if (kind != 's' && val->type == YAML_SEQUENCE_NODE) {
			size_t i = 0;
			for (yaml_node_item_t *it = val->data.sequence.items.start;
			    it < val->data.sequence.items.top; it++, i++) {
				snprintf(ifield, sizeof(ifield), "%s[%zu]", field,
				    i + 1);
				add_req(p, cy_node(p, *it), ifield, c, kind, slot);
			}
		} else
			add_req(p, val, field, c, kind, slot);
	}
	return p->errors == before;
}

static void t_subject(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)get_reqs(p, v, f, &((job_parse *)o)->top, 's'); }
static void t_san(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)get_reqs(p, v, f, &((job_parse *)o)->top, 'a'); }
static void t_qc(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)get_reqs(p, v, f, &((job_parse *)o)->top, 'q'); }

static void t_reader(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ job_parse *jp = o; jp->reader_node = v; (void)get_reader(p, v, f, &jp->top); jp->seen_top |= SEEN_READER; }
static void t_proc(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ job_parse *jp = o; (void)get_procedure(p, v, f, &jp->top); jp->seen_top |= SEEN_PROC; }
static void t_acts(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ job_parse *jp = o; (void)get_actions(p, v, f, &jp->top); jp->seen_top |= SEEN_ACTS; }
static void t_cards(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ (void)p; (void)f; ((job_parse *)o)->cards_node = v; }

/* the entries of `cards:` */
typedef struct {
	rt_job_card *c;
	unsigned seen;
} card_parse;

static void c_reader(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ card_parse *cp = o; (void)get_reader(p, v, f, cp->c); cp->seen |= SEEN_READER; }
static void c_proc(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ card_parse *cp = o; (void)get_procedure(p, v, f, cp->c); cp->seen |= SEEN_PROC; }
static void c_acts(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ card_parse *cp = o; (void)get_actions(p, v, f, cp->c); cp->seen |= SEEN_ACTS; }

static void c_subject(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ card_parse *cp = o; (void)get_reqs(p, v, f, cp->c, 's'); cp->seen |= SEEN_REQ_S; }
static void c_san(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ card_parse *cp = o; (void)get_reqs(p, v, f, cp->c, 'a'); cp->seen |= SEEN_REQ_A; }
static void c_qc(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ card_parse *cp = o; (void)get_reqs(p, v, f, cp->c, 'q'); cp->seen |= SEEN_REQ_Q; }

static const key_handler card_keys[] = {
	{ "reader", c_reader }, { "procedure", c_proc }, { "actions", c_acts },
	{ "subject", c_subject }, { "san", c_san }, { "qc", c_qc },
	{ NULL, NULL },
};

static bool
add_card(pctx *p, rt_job *j, const rt_job_card *c)
{
	rt_job_card *n = realloc(j->cards, (j->ncards + 1) * sizeof(*n));
	if (n == NULL) {
		cy_err_at(p, NULL, "", "out of memory");
		return false;
	}
	j->cards = n;
	j->cards[j->ncards++] = *c;
	return true;
}

static bool
j_listed(const job_parse *jp)
{
	return jp->cards_node != NULL;
}

/* Fills in the top-level procedure and actions where a card has none and
 * records what is still missing. */
static void
complete_card(pctx *p, job_parse *jp, const yaml_node_t *at, rt_job_card *c,
    unsigned seen)
{
	char field[96];
	if (!(seen & SEEN_PROC)) {
		if (jp->seen_top & SEEN_PROC) {
			memcpy(c->procedure, jp->top.procedure,
			    sizeof(c->procedure));
			c->procedure_line = jp->top.procedure_line;
			c->procedure_shared = j_listed(jp);
		} else {
			cy_fieldname(field, sizeof(field), c->field, "procedure");
			cy_err_at(p, at, field, "missing (a procedure of the "
			    "station, e.g. tc-redo; 'raterm procedures' lists them)");
		}
	}
	/* subject/san/qc at the top serve every card that gives none */
	static const struct { unsigned bit; char kind; } rk[] = {
		{ SEEN_REQ_S, 's' }, { SEEN_REQ_A, 'a' }, { SEEN_REQ_Q, 'q' },
	};
	for (size_t k = 0; k < sizeof(rk) / sizeof(rk[0]); k++) {
		if (seen & rk[k].bit)
			continue;
		for (size_t i = 0; i < jp->top.nreqs &&
		    c->nreqs < RT_JOB_MAX_REQS; i++)
			if (jp->top.reqs[i].kind == rk[k].kind)
				c->reqs[c->nreqs++] = jp->top.reqs[i];
	}
	if (!(seen & SEEN_ACTS)) {
		if (jp->seen_top & SEEN_ACTS) {
			memcpy(c->actions, jp->top.actions, sizeof(c->actions));
			c->nactions = jp->top.nactions;
		} else {
			cy_fieldname(field, sizeof(field), c->field, "actions");
			cy_err_at(p, at, field, "missing (the action per key slot, "
			    "e.g. {9a: redo, 9c: issue})");
		}
	}
}

static void
parse_cards(pctx *p, job_parse *jp)
{
	const yaml_node_t *v = jp->cards_node;
	rt_job *j = jp->j;
	j->listed = true;
	if (v->type != YAML_SEQUENCE_NODE ||
	    v->data.sequence.items.top == v->data.sequence.items.start) {
		cy_err_at(p, v, "cards", "expected a list of cards, each "
		    "{reader: ..., actions: {...}}, got %s",
		    v->type == YAML_SEQUENCE_NODE ? "an empty list" :
		    cy_is_null_scalar(v) ? "an empty value" : cy_node_kind(v));
		return;
	}
	if (jp->reader_node != NULL)
		cy_err_at(p, jp->reader_node, "reader", "with cards:, each card "
		    "names its reader (cards[N].reader)");
	size_t n = (size_t)(v->data.sequence.items.top -
	    v->data.sequence.items.start);
	if (n > RT_JOB_MAX_CARDS) {
		cy_err_at(p, v, "cards", "at most %d cards in one job, got %zu",
		    RT_JOB_MAX_CARDS, n);
		return;
	}
	size_t i = 0;
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	    it < v->data.sequence.items.top; it++, i++) {
		const yaml_node_t *item = cy_node(p, *it);
		rt_job_card c;
		memset(&c, 0, sizeof(c));
		snprintf(c.field, sizeof(c.field), "cards[%zu]", i + 1);
		c.line = cy_line_of(item);
		card_parse cp = { .c = &c };
		size_t before = p->errors;
		if (!cy_walk_map(p, item, c.field, card_keys, &cp, &cp.seen))
			continue;
		complete_card(p, jp, item, &c, cp.seen);
		if (!(cp.seen & SEEN_READER) && n > 1) {
			char field[96];
			cy_fieldname(field, sizeof(field), c.field, "reader");
			cy_err_at(p, item, field, "missing (with several cards, "
			    "each names its reader)");
		}
		for (size_t k = 0; k < j->ncards; k++)
			if (c.reader[0] && strcmp(j->cards[k].reader,
			    c.reader) == 0) {
				char field[96];
				cy_fieldname(field, sizeof(field), c.field,
				    "reader");
				cy_err_at(p, item, field, "the same reader as %s "
				    "(line %u)", j->cards[k].field,
				    j->cards[k].line);
			}
		if (p->errors == before)
			(void)add_card(p, j, &c);
	}
}

/* ---- officer and overrides --------------------------------------------------------------- */

static void
opt_path(pctx *p, const yaml_node_t *v, const char *f, rt_job_opt *o)
{
	if (cy_get_path(p, v, f, o->value, sizeof(o->value)))
		o->line = cy_line_of(v);
}

static void
opt_str(pctx *p, const yaml_node_t *v, const char *f, rt_job_opt *o)
{
	if (cy_get_str(p, v, f, o->value, sizeof(o->value)))
		o->line = cy_line_of(v);
}

#define JOB(o) (((job_parse *)(o))->j)

static void of_reader(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ opt_str(p, v, f, &JOB(o)->officer_reader); }
static void of_token(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ opt_path(p, v, f, &JOB(o)->officer_token); }
static void of_cert(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ opt_path(p, v, f, &JOB(o)->officer_cert); }

static void
of_slot(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	rt_job *j = JOB(o);
	if (cy_get_slot(p, v, f, &j->officer_slot))
		j->officer_slot_line = cy_line_of(v);
}

static const key_handler officer_keys[] = {
	{ "reader", of_reader }, { "slot", of_slot }, { "token", of_token },
	{ "cert", of_cert }, { NULL, NULL },
};

/* An error at a line recorded earlier (the node is gone by then). */
static void RT_PRINTF(4, 5)
err_line(pctx *p, unsigned line, const char *field, const char *fmt, ...)
{
	char msg[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rt_config_diag_add(p->c, p->file, line, field, false, "%s", msg);
	p->errors++;
}

static void
t_officer(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	rt_job *j = JOB(o);
	unsigned seen = 0;
	if (!cy_walk_map(p, v, f, officer_keys, o, &seen))
		return;
	if (v->data.mapping.pairs.top == v->data.mapping.pairs.start)
		cy_err_at(p, v, f, "expected reader: READER or token: FILE");
	if (j->officer_reader.line && j->officer_token.line)
		err_line(p, j->officer_token.line, "officer.token", "give reader "
		    "(the officer's card) or token (a software token), not both");
	if (j->officer_cert.line && !j->officer_token.line)
		err_line(p, j->officer_cert.line, "officer.cert", "only "
		    "meaningful with token (the software token's certificate)");
	if (j->officer_slot_line && j->officer_token.line)
		err_line(p, j->officer_slot_line, "officer.slot", "a slot is only "
		    "for the officer's card, not with token");
}

static void
t_server(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	rt_job_opt *s = &JOB(o)->server;
	opt_str(p, v, f, s);
	if (s->line && strncmp(s->value, "http://", 7) != 0 &&
	    strncmp(s->value, "https://", 8) != 0) {
		cy_err_at(p, v, f, "expected an http:// or https:// URL, got "
		    "'%s'", s->value);
		memset(s, 0, sizeof(*s));
	}
}

static void t_trust(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ opt_path(p, v, f, &JOB(o)->trust); }
static void t_tls_ca(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ opt_path(p, v, f, &JOB(o)->tls_ca); }
static void t_tca(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ opt_path(p, v, f, &JOB(o)->transport_ca); }
static void t_root(pctx *p, const yaml_node_t *v, const char *f, void *o)
{ opt_path(p, v, f, &JOB(o)->attestation_root); }

static void
t_timeout(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	rt_job *j = JOB(o);
	unsigned s;
	if (cy_get_uint(p, v, f, 1, 3600, &s)) {
		j->timeout = (long)s;
		j->timeout_line = cy_line_of(v);
	}
}

static void
t_on_failure(pctx *p, const yaml_node_t *v, const char *f, void *o)
{
	static const char *const names[] = { "stop", "continue", NULL };
	int i = cy_get_enum(p, v, f, names);
	if (i >= 0)
		JOB(o)->keep_going = i == 1;
}

static const key_handler job_keys[] = {
	{ "reader", t_reader },
	{ "procedure", t_proc },
	{ "actions", t_acts },
	{ "subject", t_subject },
	{ "san", t_san },
	{ "qc", t_qc },
	{ "cards", t_cards },
	{ "on_failure", t_on_failure },
	{ "officer", t_officer },
	{ "server", t_server },
	{ "trust", t_trust },
	{ "tls_ca", t_tls_ca },
	{ "transport_ca", t_tca },
	{ "attestation_root", t_root },
	{ "timeout", t_timeout },
	{ NULL, NULL },
};

size_t
rt_job_parse(rt_job *j, const char *name, const char *text, size_t len)
{
	rt_config *sink = NULL;
	rt_err *e = rt_config_new(&sink);
	if (e != NULL) {
		rt_err_free(e);
		j->nerrors++;
		return 1;
	}
	pctx p = { .c = sink, .file = name, .unknown_key = unknown_key };
	yaml_document_t doc;
	snprintf(j->file, sizeof(j->file), "%s", name);
	if (!cy_load_doc(&p, text, len, &doc))
		goto out;
	p.doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	job_parse jp = { .j = j };
	unsigned seen = 0;
	if (cy_walk_map(&p, root, "", job_keys, &jp, &seen)) {
		if (jp.cards_node != NULL)
			parse_cards(&p, &jp);
		else {
			rt_job_card c = jp.top;
			c.line = cy_line_of(root);
			c.field[0] = '\0';
			/* the top's subject/san/qc are this card's already */
			complete_card(&p, &jp, root, &c, jp.seen_top |
			    SEEN_REQ_S | SEEN_REQ_A | SEEN_REQ_Q);
			if (p.errors == 0)
				(void)add_card(&p, j, &c);
		}
	}
	yaml_document_delete(&doc);
	if (p.errors != 0)
		j->ncards = 0;	/* a job with errors runs nothing */
out:
	take_diags(j, sink);
	size_t n = p.errors;
	rt_config_free(sink);
	return n;
}

size_t
rt_job_check(rt_job *j, const rt_config *cfg)
{
	rt_config *sink = NULL;
	rt_err *e = rt_config_new(&sink);
	if (e != NULL) {
		rt_err_free(e);
		j->nerrors++;
		return 1;
	}
	for (size_t i = 0; i < j->ncards; i++) {
		const rt_job_card *c = &j->cards[i];
		if (rt_config_procedure(cfg, c->procedure) != NULL)
			continue;
		/* reported once where a shared top-level procedure is named */
		bool dup = false;
		for (size_t k = 0; k < i; k++)
			if (c->procedure_shared && j->cards[k].procedure_shared)
				dup = true;
		if (dup)
			continue;
		char field[96];
		cy_fieldname(field, sizeof(field), c->procedure_shared ? "" :
		    c->field, "procedure");
		rt_config_diag_add(sink, j->file, c->procedure_line, field,
		    false, "no procedure '%s' in %s ('raterm procedures' lists "
		    "them)", c->procedure, cfg->procedures_dir);
	}
	size_t n = sink->nerrors;
	take_diags(j, sink);
	rt_config_free(sink);
	return n;
}

rt_err *
rt_job_load(const char *path, const rt_config *cfg, rt_job **out)
{
	rt_job *j = NULL;
	rt_err *e = rt_job_new(&j);
	if (e != NULL)
		return e;
	*out = j;
	rt_config *sink = NULL;
	if ((e = rt_config_new(&sink)) != NULL)
		return e;
	size_t len = 0;
	char *text = cy_read_file(sink, path, &len);
	if (text == NULL) {
		snprintf(j->file, sizeof(j->file), "%s", path);
		take_diags(j, sink);
	} else {
		(void)rt_job_parse(j, path, text, len);
		free(text);
		if (j->nerrors == 0 && cfg != NULL)
			(void)rt_job_check(j, cfg);
	}
	rt_config_free(sink);
	if (j->nerrors == 0)
		return NULL;
	char first[1024] = "";
	for (size_t i = 0; i < j->ndiags; i++)
		if (!j->diags[i].warning) {
			rt_cfg_diag_format(&j->diags[i], first, sizeof(first));
			break;
		}
	if (j->nerrors == 1)
		return rt_err_new(RT_E_CONFIG, NULL, "%s", first);
	return rt_err_new(RT_E_CONFIG, NULL, "%s (and %zu more errors in the "
	    "job file)", first, j->nerrors - 1);
}
