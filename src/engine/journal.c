/* journal.c - the durable journal of card updates and the audit log; see
 * include/raterm/journal.h. */
#include "raterm/journal.h"
#include "raterm/card.h"
#include "raterm/piv.h"
#include "raterm/signer.h"
#include "raterm/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/base64.h>

#define JOURNAL_MAGIC "RTJ1 "
#define JOURNAL_SUFFIX ".journal"
#define JOURNAL_MAX_FILE (16u * 1024 * 1024)
#define LINE_MAX_BYTES (64u * 1024)

struct rt_journal {
	char dir[512];
};

struct rt_jop_file {
	int fd;
	char id[64];
};

static const char *const step_names[RT_J__COUNT] = {
	"begin", "plan", "request", "issued", "write", "written", "confirm",
	"confirmed", "rollback", "end", "abort",
};

const char *
rt_jstep_name(rt_jstep s)
{
	return (unsigned)s < RT_J__COUNT ? step_names[s] : "?";
}

static bool
jstep_parse(const char *s, rt_jstep *out)
{
	for (unsigned i = 0; i < RT_J__COUNT; i++)
		if (strcmp(s, step_names[i]) == 0) {
			*out = (rt_jstep)i;
			return true;
		}
	return false;
}

uint32_t
rt_crc32(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t c = 0xFFFFFFFFu;
	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
	}
	return c ^ 0xFFFFFFFFu;
}

static bool
looks_secret(const char *s)
{
	for (; s != NULL && *s; s++)
		if (strncasecmp(s, "pin=", 4) == 0)
			return true;
	return false;
}

/* ---- a growable line buffer ------------------------------------------------- */

typedef struct {
	char *b;
	size_t len, cap;
	bool oom;
} sbuf;

static void
sb_put(sbuf *s, const char *p, size_t n)
{
	if (s->oom)
		return;
	if (s->len + n + 1 > s->cap) {
		size_t nc = (s->cap ? s->cap * 2 : 256);
		while (nc < s->len + n + 1)
			nc *= 2;
		char *nb = realloc(s->b, nc);
		if (nb == NULL) {
			s->oom = true;
			return;
		}
		s->b = nb;
		s->cap = nc;
	}
	memcpy(s->b + s->len, p, n);
	s->len += n;
	s->b[s->len] = '\0';
}

static void
sb_str(sbuf *s, const char *p)
{
	sb_put(s, p, strlen(p));
}

static bool
plain_char(unsigned char c)
{
	return isalnum(c) || strchr("._~:/@,-+", c) != NULL;
}

/* " key=value" with value percent-encoded; nothing for an empty value. */
static void
sb_field(sbuf *s, const char *key, const char *val)
{
	if (val == NULL || val[0] == '\0')
		return;
	sb_str(s, " ");
	sb_str(s, key);
	sb_str(s, "=");
	for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
		if (plain_char(*p))
			sb_put(s, (const char *)p, 1);
		else {
			char h[4];
			snprintf(h, sizeof(h), "%%%02X", *p);
			sb_put(s, h, 3);
		}
	}
}

static void
pct_decode(const char *in, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		if (in[i] == '%' && i + 2 < n &&
		    isxdigit((unsigned char)in[i + 1]) &&
		    isxdigit((unsigned char)in[i + 2])) {
			char h[3] = { in[i + 1], in[i + 2], 0 };
			out[o++] = (char)strtol(h, NULL, 16);
			i += 2;
		} else
			out[o++] = in[i];
	}
	out[o] = '\0';
}

/* ---- files ----------------------------------------------------------------------- */

static rt_err *
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return rt_err_new(RT_E_IO, NULL, "journal %s: %s", dir,
		    strerror(errno));
	int r = fsync(fd);
	int err = errno;
	close(fd);
	if (r != 0)
		return rt_err_new(RT_E_IO, NULL, "journal %s: fsync: %s", dir,
		    strerror(err));
	return NULL;
}

static rt_err *
write_all(int fd, const char *p, size_t n, const char *what)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return rt_err_new(RT_E_IO, NULL, "%s: write: %s", what,
			    strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	if (fsync(fd) != 0)
		return rt_err_new(RT_E_IO, NULL, "%s: fsync: %s", what,
		    strerror(errno));
	return NULL;
}

rt_err *
rt_journal_open(const char *dir, rt_journal **out)
{
	struct stat st;
	if (strlen(dir) >= sizeof(((rt_journal *)0)->dir))
		return rt_err_new(RT_E_ARG, NULL, "journal path too long");
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT || mkdir(dir, 0700) != 0)
			return rt_err_new(RT_E_IO, NULL, "journal directory %s: "
			    "%s", dir, strerror(errno));
	} else if (!S_ISDIR(st.st_mode))
		return rt_err_new(RT_E_IO, NULL, "journal %s is not a directory",
		    dir);
	rt_journal *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "journal");
	snprintf(j->dir, sizeof(j->dir), "%s", dir);
	*out = j;
	return NULL;
}

void
rt_journal_close(rt_journal *j)
{
	free(j);
}

static rt_err *
append_line(int fd, const sbuf *payload, const char *what)
{
	if (payload->oom)
		return rt_err_new(RT_E_NOMEM, NULL, "journal record");
	char head[32];
	uint32_t crc = rt_crc32(payload->b, payload->len);
	snprintf(head, sizeof(head), JOURNAL_MAGIC "%08x ", crc);
	sbuf line = { 0 };
	sb_str(&line, head);
	sb_put(&line, payload->b, payload->len);
	sb_str(&line, "\n");
	rt_err *e = line.oom ? rt_err_new(RT_E_NOMEM, NULL, "journal record") :
	    write_all(fd, line.b, line.len, what);
	free(line.b);
	return e;
}

static void
fmt_time(sbuf *s, time_t t)
{
	char b[32];
	snprintf(b, sizeof(b), " t=%lld", (long long)t);
	sb_str(s, b);
}

rt_err *
rt_journal_begin(rt_journal *j, const rt_jop_info *info, char *id,
    size_t cap, rt_jop_file **out)
{
	char path[700], rnd_hex[9];
	uint8_t rnd[4];
	time_t now = time(NULL);
	struct tm tm;
	rt_err *e;
	if ((e = rt_random(rnd, sizeof(rnd))) != NULL)
		return e;
	(void)rt_hex_encode(rnd, sizeof(rnd), rnd_hex, sizeof(rnd_hex), 0);
	gmtime_r(&now, &tm);
	char oid[64];
	snprintf(oid, sizeof(oid), "%04d%02d%02dT%02d%02d%02dZ-%ld-%s",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)getpid(), rnd_hex);
	if (cap < strlen(oid) + 1)
		return rt_err_new(RT_E_ARG, NULL, "journal id buffer too small");
	snprintf(path, sizeof(path), "%s/%s" JOURNAL_SUFFIX, j->dir, oid);
	if (looks_secret(info->card) || looks_secret(info->reader) ||
	    looks_secret(info->officer) || looks_secret(info->procedure))
		return rt_err_new(RT_E_ARG, NULL, "journal: refusing text that "
		    "looks like a secret");
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return rt_err_new(RT_E_IO, NULL, "journal %s: %s", path,
		    strerror(errno));
	sbuf p = { 0 };
	sb_str(&p, "step=begin");
	fmt_time(&p, now);
	sb_field(&p, "card", info->card);
	sb_field(&p, "reader", info->reader);
	sb_field(&p, "procedure", info->procedure);
	sb_field(&p, "officer", info->officer);
	sb_field(&p, "txid", info->txid);
	e = append_line(fd, &p, path);
	free(p.b);
	if (e == NULL)
		e = sync_dir(j->dir);
	if (e != NULL) {
		close(fd);
		unlink(path);
		return e;
	}
	rt_jop_file *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		close(fd);
		return rt_err_new(RT_E_NOMEM, NULL, "journal");
	}
	f->fd = fd;
	snprintf(f->id, sizeof(f->id), "%s", oid);
	snprintf(id, cap, "%s", oid);
	*out = f;
	return NULL;
}

static bool
valid_id(const char *id)
{
	if (id[0] == '\0' || strlen(id) >= 64)
		return false;
	for (const char *p = id; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_'))
			return false;
	return true;
}

rt_err *
rt_journal_reopen(rt_journal *j, const char *id, rt_jop_file **out)
{
	char path[700];
	if (!valid_id(id))
		return rt_err_new(RT_E_ARG, NULL, "bad journal id '%s'", id);
	snprintf(path, sizeof(path), "%s/%s" JOURNAL_SUFFIX, j->dir, id);
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return rt_err_new(errno == ENOENT ? RT_E_NOT_FOUND : RT_E_IO,
		    NULL, "journal %s: %s", path, strerror(errno));
	rt_jop_file *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		close(fd);
		return rt_err_new(RT_E_NOMEM, NULL, "journal");
	}
	f->fd = fd;
	snprintf(f->id, sizeof(f->id), "%s", id);
	*out = f;
	return NULL;
}

rt_err *
rt_journal_append(rt_jop_file *f, const rt_jrec *r)
{
	char slot[4];
	if ((unsigned)r->step >= RT_J__COUNT || r->step == RT_J_BEGIN)
		return rt_err_new(RT_E_ARG, NULL, "journal: bad step %d",
		    (int)r->step);
	if (looks_secret(r->text) || looks_secret(r->profile))
		return rt_err_new(RT_E_ARG, NULL, "journal: refusing text that "
		    "looks like a secret");
	sbuf p = { 0 };
	sb_str(&p, "step=");
	sb_str(&p, rt_jstep_name(r->step));
	fmt_time(&p, r->at ? r->at : time(NULL));
	if (r->slot != 0)
		sb_field(&p, "slot", piv_slot_name(r->slot, slot, sizeof(slot)));
	sb_field(&p, "action", r->action);
	sb_field(&p, "profile", r->profile);
	sb_field(&p, "serial", r->serial);
	sb_field(&p, "text", r->text);
	if (r->cert != NULL && r->cert_len > 0) {
		size_t olen = 0;
		(void)mbedtls_base64_encode(NULL, 0, &olen, r->cert, r->cert_len);
		unsigned char *b64 = malloc(olen + 1);
		if (b64 == NULL) {
			free(p.b);
			return rt_err_new(RT_E_NOMEM, NULL, "journal record");
		}
		if (mbedtls_base64_encode(b64, olen + 1, &olen, r->cert,
		    r->cert_len) != 0) {
			free(b64);
			free(p.b);
			return rt_err_new(RT_E_INTERNAL, NULL, "base64");
		}
		b64[olen] = '\0';
		sb_str(&p, " cert=");
		sb_put(&p, (const char *)b64, olen);
		free(b64);
	}
	char what[96];
	snprintf(what, sizeof(what), "journal %s", f->id);
	rt_err *e = append_line(f->fd, &p, what);
	free(p.b);
	return e;
}

void
rt_journal_file_close(rt_jop_file *f)
{
	if (f == NULL)
		return;
	close(f->fd);
	free(f);
}

/* ---- reading ------------------------------------------------------------------------ */

/* Parses a payload into *rec (and *info for BEGIN). Returns false when it
 * is not a valid record. The certificate is malloc'ed into rec. */
static bool
parse_payload(char *pl, rt_jrec *rec, rt_jop_info *info)
{
	memset(rec, 0, sizeof(*rec));
	bool have_step = false;
	char *save = NULL;
	for (char *tok = strtok_r(pl, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		if (eq == NULL)
			goto bad;
		*eq = '\0';
		const char *k = tok, *v = eq + 1;
		size_t vl = strlen(v);
		if (strcmp(k, "step") == 0) {
			if (!jstep_parse(v, &rec->step))
				goto bad;
			have_step = true;
		} else if (strcmp(k, "t") == 0)
			rec->at = (time_t)strtoll(v, NULL, 10);
		else if (strcmp(k, "slot") == 0) {
			if (!rt_key_parse(v, &rec->slot))
				goto bad;
		} else if (strcmp(k, "action") == 0)
			pct_decode(v, vl, rec->action, sizeof(rec->action));
		else if (strcmp(k, "profile") == 0)
			pct_decode(v, vl, rec->profile, sizeof(rec->profile));
		else if (strcmp(k, "serial") == 0)
			pct_decode(v, vl, rec->serial, sizeof(rec->serial));
		else if (strcmp(k, "text") == 0)
			pct_decode(v, vl, rec->text, sizeof(rec->text));
		else if (strcmp(k, "card") == 0)
			pct_decode(v, vl, info->card, sizeof(info->card));
		else if (strcmp(k, "reader") == 0)
			pct_decode(v, vl, info->reader, sizeof(info->reader));
		else if (strcmp(k, "procedure") == 0)
			pct_decode(v, vl, info->procedure, sizeof(info->procedure));
		else if (strcmp(k, "officer") == 0)
			pct_decode(v, vl, info->officer, sizeof(info->officer));
		else if (strcmp(k, "txid") == 0)
			pct_decode(v, vl, info->txid, sizeof(info->txid));
		else if (strcmp(k, "cert") == 0) {
			size_t olen = 0;
			(void)mbedtls_base64_decode(NULL, 0, &olen,
			    (const unsigned char *)v, vl);
			uint8_t *der = malloc(olen ? olen : 1);
			if (der == NULL || mbedtls_base64_decode(der, olen, &olen,
			    (const unsigned char *)v, vl) != 0) {
				free(der);
				goto bad;
			}
			free((void *)rec->cert);
			rec->cert = der;
			rec->cert_len = olen;
		}
		/* unknown keys: ignored (newer writers) */
	}
	if (!have_step)
		goto bad;
	return true;
bad:
	free((void *)rec->cert);
	rec->cert = NULL;
	return false;
}

/* Checks the frame of one line (without its newline); returns the payload
 * or NULL. */
static char *
check_frame(char *line)
{
	size_t ml = strlen(JOURNAL_MAGIC);
	if (strncmp(line, JOURNAL_MAGIC, ml) != 0 || strlen(line) < ml + 9 ||
	    line[ml + 8] != ' ')
		return NULL;
	char hex[9];
	memcpy(hex, line + ml, 8);
	hex[8] = '\0';
	char *end;
	unsigned long crc = strtoul(hex, &end, 16);
	if (*end != '\0')
		return NULL;
	char *pl = line + ml + 9;
	if (rt_crc32(pl, strlen(pl)) != (uint32_t)crc)
		return NULL;
	return pl;
}

void
rt_jop_free(rt_jop *op)
{
	if (op == NULL)
		return;
	for (size_t i = 0; i < op->nrecs; i++)
		free((void *)op->recs[i].cert);
	free(op->recs);
	op->recs = NULL;
	op->nrecs = 0;
}

static rt_err *
read_path(const char *path, const char *id, rt_jop *op)
{
	memset(op, 0, sizeof(*op));
	snprintf(op->id, sizeof(op->id), "%s", id);
	snprintf(op->path, sizeof(op->path), "%s", path);
	uint8_t *raw;
	size_t n;
	rt_err *e = rt_file_read_regular(path, JOURNAL_MAX_FILE, &raw, &n);
	if (e != NULL && rt_err_has(e, RT_E_IO) && rt_err_detail(e) == ENOENT)
		return rt_err_new(RT_E_NOT_FOUND, e, "journal");
	if (e != NULL)
		return rt_err_wrap(e, "journal");
	char *buf = (char *)raw;
	bool have_begin = false;
	char *p = buf;
	while (*p != '\0') {
		char *nl = strchr(p, '\n');
		bool last_unterminated = nl == NULL;
		if (nl != NULL)
			*nl = '\0';
		char *next = nl ? nl + 1 : p + strlen(p);
		bool is_last = *next == '\0';
		char *pl = last_unterminated ? NULL : check_frame(p);
		rt_jrec rec;
		rt_jop_info info = op->info;
		if (pl == NULL || !parse_payload(pl, &rec, &info)) {
			if (is_last)
				op->torn = true;
			else
				op->corrupt = true;
			p = next;
			continue;
		}
		if (rec.step == RT_J_BEGIN) {
			if (have_begin) {
				op->corrupt = true;
			} else {
				have_begin = true;
				op->info = info;
				op->started = rec.at;
				op->last = RT_J_BEGIN;
			}
			free((void *)rec.cert);
			p = next;
			continue;
		}
		if (!have_begin) {
			op->corrupt = true;
			free((void *)rec.cert);
			p = next;
			continue;
		}
		rt_jrec *nr = realloc(op->recs, (op->nrecs + 1) * sizeof(*nr));
		if (nr == NULL) {
			free((void *)rec.cert);
			free(buf);
			rt_jop_free(op);
			return rt_err_new(RT_E_NOMEM, NULL, "journal");
		}
		op->recs = nr;
		op->recs[op->nrecs++] = rec;
		op->last = rec.step;
		p = next;
	}
	free(buf);
	op->complete = have_begin && (op->last == RT_J_END ||
	    op->last == RT_J_ABORT);
	if (!have_begin) {
		op->corrupt = true;
		return rt_err_new(RT_E_FORMAT, NULL, "journal %s: no valid "
		    "begin record", path);
	}
	return NULL;
}

rt_err *
rt_journal_read(rt_journal *j, const char *id, rt_jop *out)
{
	char path[700];
	if (!valid_id(id))
		return rt_err_new(RT_E_ARG, NULL, "bad journal id '%s'", id);
	snprintf(path, sizeof(path), "%s/%s" JOURNAL_SUFFIX, j->dir, id);
	return read_path(path, id, out);
}

void
rt_jops_free(rt_jop *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rt_jop_free(&ops[i]);
	free(ops);
}

static int
cmp_jop(const void *a, const void *b)
{
	const rt_jop *x = a, *y = b;
	if (x->started != y->started)
		return x->started < y->started ? -1 : 1;
	return strcmp(x->id, y->id);
}

rt_err *
rt_journal_incomplete(rt_journal *j, rt_jop **ops, size_t *n)
{
	*ops = NULL;
	*n = 0;
	DIR *d = opendir(j->dir);
	if (d == NULL)
		return rt_err_new(RT_E_IO, NULL, "journal %s: %s", j->dir,
		    strerror(errno));
	struct dirent *de;
	size_t sl = strlen(JOURNAL_SUFFIX);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l <= sl || strcmp(de->d_name + l - sl, JOURNAL_SUFFIX) != 0 ||
		    l - sl >= 64)
			continue;
		char id[64];
		snprintf(id, sizeof(id), "%.*s", (int)(l - sl), de->d_name);
		char path[700];
		snprintf(path, sizeof(path), "%s/%s" JOURNAL_SUFFIX, j->dir, id);
		rt_jop op;
		rt_err *e = read_path(path, id, &op);
		if (e != NULL && rt_err_has(e, RT_E_NOMEM)) {
			closedir(d);
			rt_jops_free(*ops, *n);
			*ops = NULL;
			*n = 0;
			return e;
		}
		if (e != NULL && !rt_err_has(e, RT_E_FORMAT)) {
			/* unreadable (too large, a link, not a file): listed
			 * as CORRUPT with the reason, never hiding the others */
			rt_jop_free(&op);
			memset(&op, 0, sizeof(op));
			snprintf(op.id, sizeof(op.id), "%s", id);
			snprintf(op.path, sizeof(op.path), "%.*s",
			    (int)sizeof(op.path) - 1, path);
			rt_err_format(e, op.unreadable, sizeof(op.unreadable));
			op.corrupt = true;
		}
		rt_err_free(e);
		if (op.complete) {
			rt_jop_free(&op);
			continue;
		}
		rt_jop *nv = realloc(*ops, (*n + 1) * sizeof(*nv));
		if (nv == NULL) {
			rt_jop_free(&op);
			closedir(d);
			rt_jops_free(*ops, *n);
			*ops = NULL;
			*n = 0;
			return rt_err_new(RT_E_NOMEM, NULL, "journal");
		}
		*ops = nv;
		(*ops)[(*n)++] = op;
	}
	closedir(d);
	if (*n > 1)
		qsort(*ops, *n, sizeof(**ops), cmp_jop);
	return NULL;
}

/* ---- audit log ------------------------------------------------------------------------ */

struct rt_audit {
	int fd;
	char path[512];
};

rt_err *
rt_audit_open(const char *path, rt_audit **out)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return rt_err_new(RT_E_IO, NULL, "audit log %s: %s", path,
		    strerror(errno));
	rt_audit *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		close(fd);
		return rt_err_new(RT_E_NOMEM, NULL, "audit log");
	}
	a->fd = fd;
	snprintf(a->path, sizeof(a->path), "%s", path);
	*out = a;
	return NULL;
}

void
rt_audit_close(rt_audit *a)
{
	if (a == NULL)
		return;
	close(a->fd);
	free(a);
}

static void
sb_quoted(sbuf *s, const char *key, const char *v)
{
	sb_str(s, " ");
	sb_str(s, key);
	sb_str(s, "=\"");
	for (const char *p = v ? v : ""; *p; p++) {
		if (*p == '"' || *p == '\\') {
			char esc[2] = { '\\', *p };
			sb_put(s, esc, 2);
		} else if ((unsigned char)*p >= 0x20 && *p != 0x7f)
			sb_put(s, p, 1);
	}
	sb_str(s, "\"");
}

rt_err *
rt_audit_append(rt_audit *a, const rt_audit_line *l)
{
	const char *vals[] = { l->officer, l->card, l->action, l->procedure,
	    l->serial, l->result };
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		if (looks_secret(vals[i]))
			return rt_err_new(RT_E_ARG, NULL, "audit log: refusing "
			    "a value that looks like a secret");
	time_t t = l->at ? l->at : time(NULL);
	char ts[32], slot[4];
	rt_time_iso((int64_t)t, -1, ts, sizeof(ts));
	sbuf s = { 0 };
	sb_str(&s, ts);
	sb_quoted(&s, "officer", l->officer);
	sb_quoted(&s, "card", l->card);
	sb_str(&s, " slot=");
	sb_str(&s, l->slot ? piv_slot_name(l->slot, slot, sizeof(slot)) : "-");
	sb_str(&s, " action=");
	sb_str(&s, l->action && l->action[0] ? l->action : "-");
	sb_quoted(&s, "procedure", l->procedure);
	sb_str(&s, " serial=");
	sb_str(&s, l->serial && l->serial[0] ? l->serial : "-");
	sb_quoted(&s, "result", l->result);
	sb_str(&s, "\n");
	if (s.oom) {
		free(s.b);
		return rt_err_new(RT_E_NOMEM, NULL, "audit log");
	}
	char what[600];
	snprintf(what, sizeof(what), "audit log %s", a->path);
	rt_err *e = write_all(a->fd, s.b, s.len, what);
	free(s.b);
	return e;
}
