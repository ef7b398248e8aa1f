/* admin.c - cmhost's administrator subcommands (see docs/cmhost.md and
 * cmhost(8)): check, certs, mgmt-key; the usage of every subcommand and
 * their option parsing. main.c dispatches here.
 *
 *   cmhost check -c FILE
 *   cmhost certs -c FILE [--json]
 *   cmhost mgmt-key -c FILE --card HEX --alg 3des|aes128|aes192|aes256
 *                   --key-fd N
 */
#include "cli.h"

#include "raterm/util.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- subcommands, their usage and options ---------------------------------- */

/* The options of every subcommand; a subcommand takes those its `opts`
 * lists. */
typedef struct {
	const char *file;	/* -c */
	bool json;		/* --json */
	const char *card, *alg, *key_fd;
	const char *pos;	/* the positional argument, if the command has one */
} aopts;

static const struct aopt {
	const char *name;
	size_t off;		/* of the const char * in aopts; 0: a flag */
} aopt_tab[] = {
	{ "-c", offsetof(aopts, file) },
	{ "--json", 0 },
	{ "--card", offsetof(aopts, card) },
	{ "--alg", offsetof(aopts, alg) },
	{ "--key-fd", offsetof(aopts, key_fd) },
};

static int cmd_check(const aopts *);
static int cmd_certs(const aopts *);
static int cmd_mgmt_key(const aopts *);

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
	{ "certs", "certs -c FILE [--json]",
	  "Lists the issued certificates.",
	  " -c --json ", NULL, cmd_certs },
	{ "mgmt-key", "mgmt-key -c FILE --card HEX --alg ALG --key-fd N",
	  "Stores a card's management key (ALG: 3des, aes128, aes192, aes256;\n"
	  "the key in hex, one line, read from file descriptor N).",
	  " -c --card --alg --key-fd ", NULL, cmd_mgmt_key },
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
		if (p->off == 0) {
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

/* ---- check ------------------------------------------------------------------- */

static int
cmd_check(const aopts *o)
{
	host h;
	rt_err *e = host_open(o->file, true, &h);
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
cmd_certs(const aopts *o)
{
	host h;
	lister l = { .json = o->json };
	rt_err *e = host_open(o->file, false, &h);
	if (e != NULL)
		return report(e);
	if (l.json)
		printf("[");
	e = cmh_db_certs_each(h.db, list_one, &l);
	if (e == NULL && l.nomem)
		e = rt_err_new(RT_E_NOMEM, NULL, "certificate list");
	if (l.json)
		printf("%s]\n", l.n ? "\n" : "");
	else if (e == NULL)
		print_table(&l);
	free(l.rows);
	host_close(&h);
	return e ? report(e) : 0;
}

/* ---- mgmt-key ---------------------------------------------------------------- */

static int
cmd_mgmt_key(const aopts *o)
{
	static const struct { const char *name; size_t len; } algs[] = {
		{ "3des", 24 }, { "aes128", 16 }, { "aes192", 24 }, { "aes256", 32 },
	};
	uint8_t cid[32], key[32];
	char line[80], card_hex[80];
	size_t cl = 0, kl = 0, want = 0;
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
	rt_err *he = rt_hex_decode(o->card, strlen(o->card), cid, sizeof(cid),
	    &cl, 0);
	bool bad = he != NULL;
	rt_err_free(he);
	if (bad || cl == 0)
		return cmh_usage("mgmt-key", "--card: the card's GUID or serial "
		    "in hex");
	rt_hex_encode(cid, cl, card_hex, sizeof(card_hex), 0);
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
	he = rt_hex_decode(line, strlen(line), key, sizeof(key), &kl, 0);
	bad = he != NULL;
	rt_err_free(he);
	rt_wipe(line, sizeof(line));
	if (bad || kl != want) {
		rt_wipe(key, sizeof(key));
		return cmh_usage("mgmt-key", "the key must be hex of the "
		    "algorithm's length");
	}
	if ((e = host_open(o->file, false, &h)) == NULL) {
		e = cmh_db_mgmt_key_set(h.db, card_hex, o->alg, key, kl,
		    (int64_t)time(NULL));
		if (e == NULL)
			e = cmh_db_audit(h.db, (int64_t)time(NULL), "cmhost", "-",
			    "mgmt-key", card_hex, "ok: stored");
		host_close(&h);
	}
	rt_wipe(key, sizeof(key));
	return e ? report(e) : 0;
}
