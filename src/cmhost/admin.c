/* admin.c - cmhost's administrator subcommands (see docs/cmhost.md and
 * cmhost(8)): check, certs, audit, revoke, mgmt-key; the usage of every
 * subcommand and their option parsing. main.c dispatches here. They open
 * the database beside a running server (SQLite WAL): what they change,
 * the server sees at once (a revocation: its next CRL and OCSP answers).
 *
 *   cmhost check -c FILE
 *   cmhost certs -c FILE [--json] [--state S] [--card HEX] [--officer NAME]
 *                [--profile NAME] [--since DATE]
 *   cmhost audit -c FILE [--json] [--officer NAME] [--action A]
 *                [--card HEX] [--since DATE]
 *   cmhost revoke -c FILE SERIAL --reason R
 *   cmhost mgmt-key -c FILE --card HEX --alg 3des|aes128|aes192|aes256
 *                   --key-fd N
 *   cmhost rekey -c FILE --new-kek-file F
 */
#include "cli.h"

#include "raterm/cmhost_kek.h"
#include "raterm/cmp.h"
#include "raterm/signer.h"
#include "raterm/util.h"

#include <ctype.h>
#include <pwd.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- subcommands, their usage and options ---------------------------------- */

/* The options of every subcommand; a subcommand takes those its `opts`
 * lists. */
typedef struct {
	const char *file;	/* -c */
	bool json;		/* --json */
	const char *card, *alg, *key_fd;
	const char *new_kek;	/* rekey --new-kek-file */
	const char *state, *officer, *profile, *since, *action, *reason;
	const char *pos;	/* the positional argument, if the command has one */
} aopts;

static const struct aopt {
	const char *name;
	size_t off;		/* of the const char * in aopts */
} aopt_tab[] = {
	{ "-c", offsetof(aopts, file) },
	{ "--json", offsetof(aopts, json) },	/* the one flag */
	{ "--card", offsetof(aopts, card) },
	{ "--alg", offsetof(aopts, alg) },
	{ "--key-fd", offsetof(aopts, key_fd) },
	{ "--state", offsetof(aopts, state) },
	{ "--officer", offsetof(aopts, officer) },
	{ "--profile", offsetof(aopts, profile) },
	{ "--since", offsetof(aopts, since) },
	{ "--action", offsetof(aopts, action) },
	{ "--reason", offsetof(aopts, reason) },
	{ "--new-kek-file", offsetof(aopts, new_kek) },
};

static int cmd_check(const aopts *);
static int cmd_certs(const aopts *);
static int cmd_audit(const aopts *);
static int cmd_revoke(const aopts *);
static int cmd_mgmt_key(const aopts *);
static int cmd_rekey(const aopts *);
static int cmd_db(const aopts *);

static const struct sub {
	const char *name;
	const char *synopsis;	/* after "cmhost " */
	const char *about;
	const char *opts;	/* " -c --json ": the options it takes */
	const char *pos;	/* its positional argument's name, or NULL */
	int (*run)(const aopts *);	/* NULL: main.c runs it */
} subs[] = {
	{ "init", "init DIR [--port N]",
	  "Creates DIR with a demo PKI and a configuration; prints the URL.",
	  NULL, NULL, NULL },
	{ "serve", "[serve] -c FILE [--pidfile FILE]",
	  "Runs the CM host (CMP, CRL, OCSP) until SIGTERM or SIGINT.",
	  NULL, NULL, NULL },
	{ "check", "check -c FILE",
	  "Loads the configuration, the CA, the keys and the database; reports.",
	  " -c ", NULL, cmd_check },
	{ "certs", "certs -c FILE [--json] [--state S] [--card HEX] "
	  "[--officer NAME]\n                    [--profile NAME] [--since DATE]",
	  "Lists the issued certificates, oldest first, with their revocation\n"
	  "(time and reason). Filters: --state waiting|confirmed|rejected|revoked,\n"
	  "--card (the card's GUID or serial in hex), --officer, --profile, and\n"
	  "--since (issued at or after: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM],\n"
	  "UTC when no offset is given).",
	  " -c --json --state --card --officer --profile --since ", NULL,
	  cmd_certs },
	{ "audit", "audit -c FILE [--json] [--officer NAME] [--action A] "
	  "[--card HEX]\n                    [--since DATE]",
	  "Lists the audit trail, oldest first. Filters: --officer (who: an\n"
	  "officer, cmhost-admin, unverified), --action (p10cr, cr, certConf, rr,\n"
	  "genm, revoke, mgmt-key, ...), --card, --since (as for certs).",
	  " -c --json --officer --action --card --since ", NULL, cmd_audit },
	{ "revoke", "revoke -c FILE SERIAL --reason R",
	  "Revokes certificate SERIAL (hex, as `cmhost certs` or `openssl x509\n"
	  "-serial` print it) as a CMP rr does, audited as cmhost-admin; the\n"
	  "running server's CRL and OCSP answers show it. R: unspecified,\n"
	  "keyCompromise, cACompromise, affiliationChanged, superseded,\n"
	  "cessationOfOperation, privilegeWithdrawn, aACompromise.\n"
	  "Exit status 3: already revoked; 4: no such certificate.",
	  " -c --reason ", "SERIAL", cmd_revoke },
	{ "mgmt-key", "mgmt-key -c FILE --card HEX --alg ALG --key-fd N",
	  "Stores a card's management key (ALG: 3des, aes128, aes192, aes256;\n"
	  "the key in hex, one line, read from file descriptor N).",
	  " -c --card --alg --key-fd ", NULL, cmd_mgmt_key },
	{ "rekey", "rekey -c FILE --new-kek-file F",
	  "Re-encrypts every card management key under the key-encryption key\n"
	  "in F (made, 32 random bytes in hex, mode 0600, when F does not exist),\n"
	  "in one transaction; then name F in database.kek_file. Run it with\n"
	  "the server stopped (the server keeps the old key until restarted).",
	  " -c --new-kek-file ", NULL, cmd_rekey },
	{ "db", "db migrate -c FILE",
	  "Brings the database's schema up to this cmhost's version (the\n"
	  "migrations not yet applied, each in one transaction; nothing when it\n"
	  "is current). A server on PostgreSQL (database.url) refuses to start\n"
	  "on an older schema until this is run, once, by one instance; SQLite\n"
	  "(database.path) is migrated when it is opened.",
	  " -c ", "migrate", cmd_db },
};

#define NSUBS (sizeof(subs) / sizeof(subs[0]))

static const struct sub *
sub_find(const char *name)
{
	for (size_t i = 0; i < NSUBS; i++)
		if (name != NULL && strcmp(subs[i].name, name) == 0)
			return &subs[i];
	return NULL;
}

static void
synopsis(FILE *f, const struct sub *s)
{
	if (s != NULL) {
		fprintf(f, "usage: cmhost %s\n", s->synopsis);
		return;
	}
	for (size_t i = 0; i < NSUBS; i++)
		fprintf(f, "%s cmhost %s\n", i ? "      " : "usage:",
		    subs[i].synopsis);
	fputs("       cmhost -V | --version\n"
	    "       cmhost [SUBCOMMAND] --help\n", f);
}

int
cmh_usage(const char *cmd, const char *why)
{
	if (why != NULL)
		fprintf(stderr, "cmhost%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "",
		    why);
	synopsis(stderr, sub_find(cmd));
	return 2;
}

int
cmh_help(const char *cmd)
{
	const struct sub *s = sub_find(cmd);
	if (cmd != NULL && s == NULL) {
		char m[300];
		snprintf(m, sizeof(m), "unknown subcommand '%s'", cmd);
		return cmh_usage(NULL, m);
	}
	synopsis(stdout, s);
	if (s != NULL)
		printf("\n%s\n", s->about);
	else
		fputs("\nSee cmhost(8) and docs/cmhost.md.\n", stdout);
	return 0;
}

bool
cmh_wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

/* Parses s's options into o; returns -1, or the exit status of a usage
 * error (the message names the option or argument). */
static int
parse(const struct sub *s, int argc, char **argv, aopts *o)
{
	char m[300], key[40];
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const struct aopt *p = NULL;
		if (a[0] != '-' || a[1] == '\0') {
			if (s->pos == NULL || o->pos != NULL) {
				snprintf(m, sizeof(m), "unexpected argument '%s'", a);
				return cmh_usage(s->name, m);
			}
			o->pos = a;
			continue;
		}
		snprintf(key, sizeof(key), " %s ", a);
		for (size_t k = 0; k < sizeof(aopt_tab) / sizeof(aopt_tab[0]); k++)
			if (!strcmp(aopt_tab[k].name, a) && strstr(s->opts, key))
				p = &aopt_tab[k];
		if (p == NULL) {
			snprintf(m, sizeof(m), "unknown option '%s'", a);
			return cmh_usage(s->name, m);
		}
		if (p->off == offsetof(aopts, json)) {
			o->json = true;
			continue;
		}
		if (i + 1 >= argc) {
			snprintf(m, sizeof(m), "option '%s' needs a value", a);
			return cmh_usage(s->name, m);
		}
		*(const char **)(void *)((char *)o + p->off) = argv[++i];
	}
	if (o->file == NULL)
		return cmh_usage(s->name, "-c FILE is required");
	if (s->pos != NULL && o->pos == NULL) {
		snprintf(m, sizeof(m), "which %s?", s->pos);
		return cmh_usage(s->name, m);
	}
	return -1;
}

int
cmh_admin(const char *cmd, int argc, char **argv)
{
	const struct sub *s = sub_find(cmd);
	aopts o;
	int rc;
	if (s == NULL || s->run == NULL) {
		char m[300];
		snprintf(m, sizeof(m), "unknown subcommand '%s'", cmd);
		return cmh_usage(NULL, m);
	}
	if ((rc = parse(s, argc, argv, &o)) >= 0)
		return rc;
	return s->run(&o);
}

/* ---- arguments ----------------------------------------------------------------- */

/* A card's GUID or serial in hex (as the station sends it) into the
 * lowercase hex the database records; false when it is not hex. */
static bool
card_arg(const char *in, char *out, size_t cap)
{
	uint8_t cid[32];
	size_t cl = 0;
	rt_err *e = rt_hex_decode(in, strlen(in), cid, sizeof(cid), &cl, 0);
	bool bad = e != NULL || cl == 0;
	rt_err_free(e);
	if (!bad)
		rt_hex_encode(cid, cl, out, cap, 0);
	return !bad;
}

/* n decimal digits at p; -1 if one is not a digit. */
static int
digits(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* An ISO 8601 date (YYYY-MM-DD: its midnight, UTC) or date-time
 * (YYYY-MM-DDTHH:MM[:SS] then Z, +HH:MM, -HH:MM or nothing for UTC) as
 * seconds since the epoch; false when s is not one. */
static bool
when_arg(const char *s, int64_t *out)
{
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
	const char *p = s + 10;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) < 10 || s[4] != '-' || s[7] != '-' ||
	    (y = digits(s, 4)) < 0 || (mo = digits(s + 5, 2)) < 0 ||
	    (d = digits(s + 8, 2)) < 0)
		return false;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		if (p[3] != ':' || (h = digits(p + 1, 2)) < 0 ||
		    (mi = digits(p + 4, 2)) < 0)
			return false;
		p += 6;
		if (*p == ':') {
			if ((sec = digits(p + 1, 2)) < 0)
				return false;
			p += 3;
		}
		if (*p == 'Z' || *p == 'z')
			p++;
		else if (*p == '+' || *p == '-') {
			int oh = digits(p + 1, 2), om = -1;
			if (oh >= 0 && p[3] == ':')
				om = digits(p + 4, 2);
			if (oh < 0 || oh > 23 || om < 0 || om > 59)
				return false;
			off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
			p += 6;
		}
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	if (tm.tm_mday != d)		/* February 30th */
		return false;
	*out = (int64_t)t - off;
	return true;
}

/* --since DATE into *since; the exit status of a usage error, or -1. */
static int
since_arg(const char *cmd, const char *arg, int64_t *since)
{
	char m[300];
	*since = 0;
	if (arg == NULL || when_arg(arg, since))
		return -1;
	snprintf(m, sizeof(m), "--since '%s': a date YYYY-MM-DD or a date-time "
	    "YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]", arg);
	return cmh_usage(cmd, m);
}

/* The filters certs and audit share: --card (normalised into buf) and
 * --since; -1, or the exit status of a usage error. */
static int
card_since(const char *cmd, const aopts *o, char *buf, size_t cap,
    const char **card, int64_t *since)
{
	if (o->card != NULL) {
		if (!card_arg(o->card, buf, cap))
			return cmh_usage(cmd, "--card: the card's GUID or serial in "
			    "hex");
		*card = buf;
	}
	return since_arg(cmd, o->since, since);
}

/* A listing: opens the database of o->file and runs q(db, arg), between
 * "[" and "]" with --json (*n: the objects q printed); the exit status. */
static int
listing(const aopts *o, rt_err *(*q)(cmh_db *, void *), void *arg,
    const size_t *n)
{
	host h;
	rt_err *e = host_open(o->file, 0, &h);
	if (e != NULL)
		return report(e);
	if (o->json)
		printf("[");
	e = q(h.db, arg);
	if (o->json)
		printf("%s]\n", *n ? "\n" : "");
	host_close(&h);
	return e ? report(e) : 0;
}


/* ---- check ------------------------------------------------------------------- */

static int
cmd_check(const aopts *o)
{
	host h;
	rt_err *e = host_open(o->file, HOST_FULL, &h);
	if (e != NULL)
		return report(e);
	char url[300];
	cmh_config_url(h.cfg, url, sizeof(url));
	printf("%s: ok (%zu profiles, %zu officers) %s\n", o->file,
	    h.cfg->nprofiles, h.cfg->nofficers, url);
	host_close(&h);
	return 0;
}

/* ---- certs ------------------------------------------------------------------- */

typedef struct {
	bool json;
	size_t n;
	/* the table: rows kept so that the columns fit the data */
	cmh_cert_rec *rows;
	size_t cap;
	bool nomem;
} lister;

/* The revocation of r: its time and reason ("-" when not revoked). */
static void
revocation(const cmh_cert_rec *r, char *at, size_t cap, const char **reason)
{
	bool rev = r->state == CMH_CERT_REVOKED;
	if (rev)
		rt_time_iso(r->state_at, -1, at, cap);
	else
		snprintf(at, cap, "-");
	*reason = !rev ? "-" : r->revocation_reason < 0 ? "unspecified" :
	    cmp_reason_name(r->revocation_reason);
}

static void
list_one(void *ctx, const cmh_cert_rec *r)
{
	lister *l = ctx;
	char issued[32], na[32], st[32], rat[32];
	const char *reason;
	if (l->json) {
		rt_time_iso(r->issued_at, -1, issued, sizeof(issued));
		rt_time_iso(r->not_after, -1, na, sizeof(na));
		rt_time_iso(r->state_at, -1, st, sizeof(st));
		revocation(r, rat, sizeof(rat), &reason);
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
		if (r->state == CMH_CERT_REVOKED)
			printf(", \"revocation\": {\"at\": \"%s\", \"reason\": "
			    "\"%s\"}", rat, reason);
		else
			printf(", \"revocation\": null");
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
	    wc = width(0, "CARD"), wi = (int)strlen("YYYY-MM-DDTHH:MM:SSZ"),
	    wr = width(0, "REASON");
	char issued[32], rat[32];
	const char *reason;
	for (size_t i = 0; i < l->n; i++) {
		const cmh_cert_rec *r = &l->rows[i];
		ws = width(ws, r->serial);
		wt = width(wt, cmh_cert_state_name(r->state));
		wp = width(wp, r->profile);
		wo = width(wo, r->officer);
		wc = width(wc, r->card);
		revocation(r, rat, sizeof(rat), &reason);
		wr = width(wr, reason);
	}
	printf("%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", ws,
	    "SERIAL", wt, "STATE", wp, "PROFILE", wo, "OFFICER", wc, "CARD", wi,
	    "ISSUED", wi, "REVOKED", wr, "REASON", "SUBJECT");
	for (size_t i = 0; i < l->n; i++) {
		const cmh_cert_rec *r = &l->rows[i];
		rt_time_iso(r->issued_at, -1, issued, sizeof(issued));
		revocation(r, rat, sizeof(rat), &reason);
		printf("%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", ws,
		    r->serial, wt, cmh_cert_state_name(r->state), wp, r->profile,
		    wo, r->officer, wc, r->card[0] ? r->card : "-", wi, issued,
		    wi, rat, wr, reason, r->subject);
	}
}

typedef struct {
	const cmh_cert_filter *f;
	lister *l;
} certs_q;

static rt_err *
certs_query(cmh_db *db, void *arg)
{
	certs_q *q = arg;
	rt_err *e = cmh_db_certs_find(db, q->f, list_one, q->l);
	if (e == NULL && q->l->nomem)
		e = rt_err_new(RT_E_NOMEM, NULL, "certificate list");
	if (e == NULL && !q->l->json)
		print_table(q->l);
	return e;
}

static int
cmd_certs(const aopts *o)
{
	cmh_cert_filter f = { .state = -1, .officer = o->officer,
	    .profile = o->profile };
	lister l = { .json = o->json };
	certs_q q = { &f, &l };
	char card[80], m[300];
	int rc;

	if (o->state != NULL) {
		for (int i = CMH_CERT_WAITING; i <= CMH_CERT_REVOKED; i++)
			if (!strcmp(o->state, cmh_cert_state_name(i)))
				f.state = i;
		if (f.state < 0) {
			snprintf(m, sizeof(m), "--state '%s': waiting, confirmed, "
			    "rejected or revoked", o->state);
			return cmh_usage("certs", m);
		}
	}
	if ((rc = card_since("certs", o, card, sizeof(card), &f.card,
	    &f.since)) >= 0)
		return rc;
	rc = listing(o, certs_query, &q, &l.n);
	free(l.rows);
	return rc;
}

/* ---- audit ------------------------------------------------------------------- */

typedef struct {
	bool json;
	size_t n;
} auditor;

/* One record; the table's columns are fixed (an audit trail may be long:
 * it is printed as it is read), the detail comes last. */
static void
audit_one(void *ctx, const cmh_audit_rec *r)
{
	auditor *a = ctx;
	char at[32];
	rt_time_iso(r->at, -1, at, sizeof(at));
	if (a->json) {
		printf("%s\n  {\"id\": %lld, \"at\": \"%s\", \"who\": ",
		    a->n ? "," : "", (long long)r->id, at);
		rt_json_str(stdout, r->who);
		printf(", \"station\": ");
		rt_json_str(stdout, r->station);
		printf(", \"action\": ");
		rt_json_str(stdout, r->action);
		printf(", \"result\": ");
		rt_json_str(stdout, r->result);
		printf(", \"detail\": ");
		rt_json_str(stdout, r->detail);
		printf("}");
	} else {
		if (a->n == 0)
			printf("%-20s  %-16s  %-21s  %-8s  %-24s  %s\n", "AT", "WHO",
			    "STATION", "ACTION", "RESULT", "DETAIL");
		printf("%-20s  %-16s  %-21s  %-8s  %-24s  %s\n", at, r->who,
		    r->station, r->action, r->result, r->detail);
	}
	a->n++;
}

typedef struct {
	const cmh_audit_filter *f;
	auditor *a;
} audit_q;

static rt_err *
audit_query(cmh_db *db, void *arg)
{
	audit_q *q = arg;
	return cmh_db_audit_find(db, q->f, audit_one, q->a);
}

static int
cmd_audit(const aopts *o)
{
	cmh_audit_filter f = { .who = o->officer, .action = o->action };
	auditor a = { .json = o->json };
	audit_q q = { &f, &a };
	char card[80];
	int rc;

	if ((rc = card_since("audit", o, card, sizeof(card), &f.card,
	    &f.since)) >= 0)
		return rc;
	return listing(o, audit_query, &q, &a.n);
}

/* ---- revoke ------------------------------------------------------------------ */

/* The audit's name for whoever runs the admin commands, and the "station"
 * they run at: the Unix user. */
#define ADMIN_WHO "cmhost-admin"

static void
admin_station(char *out, size_t cap)
{
	struct passwd *pw = getpwuid(geteuid());
	if (pw != NULL)
		snprintf(out, cap, "unix:%s", pw->pw_name);
	else
		snprintf(out, cap, "unix:uid %ld", (long)geteuid());
}

/* A serial as `cmhost certs` (lowercase hex, no leading zero bytes) or
 * OpenSSL (upper case, "0x", colons) prints it, into the database's form;
 * false when it is not hex. */
static bool
serial_arg(const char *in, char *out, size_t cap)
{
	uint8_t b[64];
	char pad[160];
	size_t n = 0, k = 0;
	if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
		in += 2;
	for (const char *p = in; *p && k + 2 < sizeof(pad); p++)
		if (*p != ':')
			pad[k++] = *p;
	pad[k] = '\0';
	if (k % 2 == 1) {		/* an odd number of digits: a leading 0 */
		memmove(pad + 1, pad, k + 1);
		pad[0] = '0';
		k++;
	}
	rt_err *e = rt_hex_decode(pad, k, b, sizeof(b), &n, 0);
	bool bad = e != NULL || n == 0 || in[0] == '\0';
	rt_err_free(e);
	if (bad)
		return false;
	size_t z = 0;
	while (z + 1 < n && b[z] == 0)
		z++;
	rt_hex_encode(b + z, n - z, out, cap, 0);
	return true;
}

static int
cmd_revoke(const aopts *o)
{
	char serial[130], m[300], station[160], tid[64], detail[300];
	uint8_t rnd[16];
	cmh_cert_rec rec;
	int reason, rc = 0;
	host h;
	rt_err *e;

	if (!serial_arg(o->pos, serial, sizeof(serial))) {
		snprintf(m, sizeof(m), "serial '%s': hex (as cmhost certs or "
		    "openssl x509 -serial print it)", o->pos);
		return cmh_usage("revoke", m);
	}
	if (o->reason == NULL)
		return cmh_usage("revoke", "--reason is required");
	/* certificateHold (6) and removeFromCRL (8) are no revocation here:
	 * a revocation is final */
	reason = cmp_reason_from_name(o->reason);
	if (reason < 0 || reason == 6 || reason == 8) {
		snprintf(m, sizeof(m), "--reason '%s': unspecified, keyCompromise, "
		    "cACompromise, affiliationChanged, superseded, "
		    "cessationOfOperation, privilegeWithdrawn or aACompromise",
		    o->reason);
		return cmh_usage("revoke", m);
	}
	if ((e = host_open(o->file, 0, &h)) != NULL)
		return report(e);
	admin_station(station, sizeof(station));
	int64_t now = (int64_t)time(NULL);
	e = cmh_db_cert_get(h.db, serial, &rec, NULL, NULL);
	if (e == NULL && rec.state == CMH_CERT_REVOKED) {
		char at[32];
		rt_time_iso(rec.state_at, -1, at, sizeof(at));
		e = rt_err_new(RT_E_ARG, NULL, "certificate %s is already revoked "
		    "(%s, %s)", serial, at, rec.revocation_reason < 0 ?
		    "unspecified" : cmp_reason_name(rec.revocation_reason));
	}
	/* the revocation as an rr makes it: a transaction record and the
	 * certificate, in one database transaction */
	if (e == NULL && (e = rt_random(rnd, sizeof(rnd))) == NULL) {
		const char *sv[1] = { serial };
		rt_hex_encode(rnd, sizeof(rnd), tid, sizeof(tid), 0);
		e = cmh_db_revoke_all(h.db, tid, ADMIN_WHO, "revoke", sv, &reason,
		    1, now);
	}
	if (e == NULL || rt_err_kind_of(e) != RT_E_IO) {
		/* the audit: the card first, as the service writes it */
		char result[320];
		snprintf(detail, sizeof(detail), "%s%s%s%s (%s)",
		    e == NULL && rec.card[0] ? "card " : "",
		    e == NULL ? rec.card : "", e == NULL && rec.card[0] ? ": " :
		    "", serial, cmp_reason_name(reason));
		if (e != NULL)
			rt_err_format(e, m, sizeof(m));
		snprintf(result, sizeof(result), "%s%s", e ? "refused: " : "ok",
		    e ? m : "");
		rt_err *ae = cmh_db_audit(h.db, now, ADMIN_WHO, station, "revoke",
		    detail, result);
		if (ae != NULL)
			(void)report(ae);
	}
	if (e == NULL)
		printf("revoked %s (%s)\n", serial, cmp_reason_name(reason));
	else if (rt_err_kind_of(e) == RT_E_ARG) {
		(void)report(e);
		rc = 3;
	} else
		rc = report(e);
	host_close(&h);
	return rc;
}

/* ---- mgmt-key ---------------------------------------------------------------- */

static int
cmd_mgmt_key(const aopts *o)
{
	static const struct { const char *name; size_t len; } algs[] = {
		{ "3des", 24 }, { "aes128", 16 }, { "aes192", 24 }, { "aes256", 32 },
	};
	uint8_t key[32];
	char line[80], card_hex[80], station[160], d[100];
	size_t kl = 0, want = 0;
	host h;
	rt_err *e;
	char *end;
	long fd;

	if (o->card == NULL || o->alg == NULL || o->key_fd == NULL)
		return cmh_usage("mgmt-key", "--card, --alg and --key-fd are "
		    "required");
	for (size_t i = 0; i < 4; i++)
		if (!strcmp(o->alg, algs[i].name))
			want = algs[i].len;
	if (want == 0)
		return cmh_usage("mgmt-key", "--alg: 3des, aes128, aes192 or aes256");
	fd = strtol(o->key_fd, &end, 10);
	if (*end != '\0' || end == o->key_fd || fd < 0 || fd > 1024)
		return cmh_usage("mgmt-key", "--key-fd: a file descriptor number");
	if (!card_arg(o->card, card_hex, sizeof(card_hex)))
		return cmh_usage("mgmt-key", "--card: the card's GUID or serial "
		    "in hex");
	/* the key comes from a file descriptor, never from argv */
	FILE *f = fdopen((int)fd, "r");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
		if (f)
			fclose(f);
		return cmh_usage("mgmt-key", "--key-fd: cannot read the key (hex, "
		    "one line)");
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	rt_err *he = rt_hex_decode(line, strlen(line), key, sizeof(key), &kl,
	    0);
	bool bad = he != NULL;
	rt_err_free(he);
	rt_wipe(line, sizeof(line));
	if (bad || kl != want) {
		rt_wipe(key, sizeof(key));
		return cmh_usage("mgmt-key", "the key must be hex of the "
		    "algorithm's length");
	}
	if ((e = host_open(o->file, HOST_KEK, &h)) == NULL) {
		e = cmh_db_mgmt_key_set(h.db, card_hex, o->alg, key, kl,
		    (int64_t)time(NULL));
		if (e == NULL) {
			admin_station(station, sizeof(station));
			snprintf(d, sizeof(d), "card %s", card_hex);
			e = cmh_db_audit(h.db, (int64_t)time(NULL), ADMIN_WHO,
			    station, "mgmt-key", d, "ok: stored");
		}
		host_close(&h);
	}
	rt_wipe(key, sizeof(key));
	return e ? report(e) : 0;
}

/* Rotation of the key-encryption key: every row opened with the KEK of
 * the configuration and sealed under F's, all or nothing. */
static int
cmd_rekey(const aopts *o)
{
	char station[160], d[600];
	cmh_kek *to = NULL;
	unsigned n = 0;
	bool made = false;
	host h;
	rt_err *e;

	if (o->new_kek == NULL)
		return cmh_usage("rekey", "--new-kek-file is required");
	if (access(o->new_kek, F_OK) != 0) {
		if ((e = cmh_kek_generate_file(o->new_kek)) != NULL)
			return report(e);
		made = true;
	}
	if ((e = cmh_kek_load(o->new_kek, &to)) != NULL)
		return report(e);
	if ((e = host_open(o->file, HOST_KEK, &h)) != NULL) {
		cmh_kek_free(to);
		return report(e);
	}
	if (h.kek != NULL && strcmp(cmh_kek_id(h.kek), cmh_kek_id(to)) == 0)
		e = rt_err_new(RT_E_ARG, NULL, "%s holds the key-encryption key "
		    "already in use (%s): nothing to do", o->new_kek,
		    cmh_kek_id(to));
	if (e == NULL && (e = cmh_db_rekey(h.db, to, &n)) == NULL) {
		admin_station(station, sizeof(station));
		snprintf(d, sizeof(d), "%u management key(s) from KEK %s to KEK "
		    "%s (%s)", n, cmh_kek_id(h.kek), cmh_kek_id(to), o->new_kek);
		e = cmh_db_audit(h.db, (int64_t)time(NULL), ADMIN_WHO, station,
		    "rekey", d, "ok");
		if (e == NULL)
			printf("rekey: %s%s\nnow set database.kek_file: %s in %s and "
			    "keep the old key file until every backup made under it "
			    "is gone\n", d, made ? ", key file made" : "",
			    o->new_kek, o->file);
	}
	host_close(&h);
	cmh_kek_free(to);
	return e ? report(e) : 0;
}

/* ---- db migrate ---------------------------------------------------------- */

static int
cmd_db(const aopts *o)
{
	char station[160], d[200];
	unsigned found, now, latest;
	cmh_config *cfg;
	cmh_db *db;
	rt_err *e;

	if (strcmp(o->pos, "migrate") != 0) {
		snprintf(d, sizeof(d), "unknown action '%s' (migrate)", o->pos);
		return cmh_usage("db", d);
	}
	if ((e = cmh_config_load(o->file, &cfg)) != NULL)
		return report(e);
	if ((e = cmh_db_open_config(cfg, true, &db)) != NULL) {
		cmh_config_free(cfg);
		return report(e);
	}
	cmh_db_schema(db, &found, &now, &latest);
	if (found == now)
		printf("db migrate: %s: schema version %u, current\n",
		    cmh_db_label(db), now);
	else {
		admin_station(station, sizeof(station));
		snprintf(d, sizeof(d), "schema version %u -> %u", found, now);
		e = cmh_db_audit(db, (int64_t)time(NULL), ADMIN_WHO, station,
		    "migrate", d, "ok");
		if (e == NULL)
			printf("db migrate: %s: %s\n", cmh_db_label(db), d);
	}
	cmh_db_close(db);
	cmh_config_free(cfg);
	return e ? report(e) : 0;
}
