/* observe.c - cmhost's request log and metrics (cmhost_observe.h). */
#include "raterm/cmhost_observe.h"
#include "raterm/cmp.h"
#include "raterm/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the request log ------------------------------------------------------ */

struct cmh_log {
	cmh_log_format fmt;
	char *path;			/* NULL: stderr */
	FILE *f;
	pthread_mutex_t mu;
};

static rt_err *
open_file(const char *path, FILE **out)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return rt_err_new(RT_E_IO, NULL, "%s: %s (log.file)", path,
		    strerror(errno));
	FILE *f = fdopen(fd, "a");
	if (f == NULL) {
		close(fd);
		return rt_err_new(RT_E_NOMEM, NULL, "%s", path);
	}
	setvbuf(f, NULL, _IOLBF, 0);
	*out = f;
	return NULL;
}

rt_err *
cmh_log_open(cmh_log_format fmt, const char *path, cmh_log **out)
{
	cmh_log *l = calloc(1, sizeof(*l));
	rt_err *e;
	*out = NULL;
	if (l == NULL || (path != NULL && (l->path = strdup(path)) == NULL)) {
		free(l);
		return rt_err_new(RT_E_NOMEM, NULL, "log");
	}
	l->fmt = fmt;
	l->f = stderr;
	if (path != NULL && (e = open_file(path, &l->f)) != NULL) {
		free(l->path);
		free(l);
		return e;
	}
	pthread_mutex_init(&l->mu, NULL);
	*out = l;
	return NULL;
}

rt_err *
cmh_log_reopen(cmh_log *l)
{
	FILE *f;
	rt_err *e;
	if (l == NULL || l->path == NULL)
		return NULL;
	if ((e = open_file(l->path, &f)) != NULL)
		return e;
	pthread_mutex_lock(&l->mu);
	FILE *old = l->f;
	l->f = f;
	pthread_mutex_unlock(&l->mu);
	fclose(old);
	return NULL;
}

void
cmh_log_close(cmh_log *l)
{
	if (l == NULL)
		return;
	if (l->f != stderr)
		fclose(l->f);
	pthread_mutex_destroy(&l->mu);
	free(l->path);
	free(l);
}

/* Writes the line made in a memory stream at once: lines of several
 * threads never mix. */
static void
emit(cmh_log *l, char *line, size_t len)
{
	pthread_mutex_lock(&l->mu);
	fwrite(line, 1, len, l->f);
	fflush(l->f);
	pthread_mutex_unlock(&l->mu);
}

static void
now_iso(char *ts, size_t cap)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	rt_time_iso((int64_t)t.tv_sec, (int)(t.tv_nsec / 1000000), ts, cap);
}

/* A plain field: as it is when it has no space or quote, else quoted. */
static void
plain_field(FILE *f, const char *s)
{
	if (s == NULL || *s == '\0') {
		fputc('-', f);
		return;
	}
	if (strpbrk(s, " \t\"\\\n") == NULL) {
		fputs(s, f);
		return;
	}
	rt_json_str(f, s);
}

void
cmh_log_request(cmh_log *l, const cmh_req_log *r)
{
	char ts[40], *line = NULL;
	size_t len = 0;
	FILE *f;
	if (l == NULL || (f = open_memstream(&line, &len)) == NULL)
		return;
	rt_time_iso((int64_t)r->at.tv_sec, (int)(r->at.tv_nsec / 1000000), ts,
	    sizeof(ts));
	if (l->fmt == CMH_LOG_JSON) {
		fprintf(f, "{\"time\":\"%s\",\"client\":", ts);
		rt_json_str(f, r->client);
		fputs(",\"method\":", f);
		rt_json_str(f, r->method);
		fputs(",\"path\":", f);
		rt_json_str(f, r->path);
		fputs(",\"officer\":", f);
		rt_json_str(f, r->officer);
		fputs(",\"body\":", f);
		rt_json_str(f, r->body);
		fputs(",\"serials\":[", f);
		const char *p = r->serials ? r->serials : "";
		for (bool first = true; *p != '\0';) {
			size_t n = strcspn(p, " ");
			if (n > 0) {
				fprintf(f, "%s\"%.*s\"", first ? "" : ",", (int)n, p);
				first = false;
			}
			p += n;
			p += strspn(p, " ");
		}
		fprintf(f, "],\"status\":%u,\"outcome\":", r->status);
		rt_json_str(f, r->outcome);
		fprintf(f, ",\"ms\":%.1f}\n", r->ms);
	} else {
		fprintf(f, "%s ", ts);
		plain_field(f, r->client);
		fprintf(f, " %s %s ", r->method, r->path);
		plain_field(f, r->body);
		fputs(" officer=", f);
		plain_field(f, r->officer);
		fputs(" serials=", f);
		if (r->serials != NULL && *r->serials != '\0')
			for (const char *p = r->serials; *p; p++)
				fputc(*p == ' ' ? ',' : *p, f);
		else
			fputc('-', f);
		fprintf(f, " %u %.1fms ", r->status, r->ms);
		fputs(r->outcome ? r->outcome : "-", f);
		fputc('\n', f);
	}
	if (fclose(f) == 0)
		emit(l, line, len);
	free(line);
}

static void
log_line(cmh_log *l, const char *level, const char *what, const char *msg)
{
	char ts[40], *line = NULL;
	size_t len = 0;
	FILE *f;
	if (l == NULL || (f = open_memstream(&line, &len)) == NULL)
		return;
	now_iso(ts, sizeof(ts));
	if (l->fmt == CMH_LOG_JSON) {
		fprintf(f, "{\"time\":\"%s\",\"level\":\"%s\"", ts, level);
		if (what != NULL) {
			fputs(",\"what\":", f);
			rt_json_str(f, what);
		}
		fputs(",\"message\":", f);
		rt_json_str(f, msg);
		fputs("}\n", f);
	} else {
		fprintf(f, "%s %s %s%s%s\n", ts, level, what ? what : "",
		    what ? ": " : "", msg);
	}
	if (fclose(f) == 0)
		emit(l, line, len);
	free(line);
}

void
cmh_log_error(cmh_log *l, const char *what, const char *msg)
{
	log_line(l, "error", what, msg);
}

void
cmh_log_info(cmh_log *l, const char *msg)
{
	log_line(l, "info", NULL, msg);
}

/* ---- metrics --------------------------------------------------------------- */

/* Every counter is an atomic of its own, added to without a lock: the
 * pool's threads record at once and a scrape reads while they do. The
 * series are a fixed table (the CMP body names, the other paths, the
 * HTTP statuses the server answers with), so that recording never
 * allocates; a name or status outside it counts as "other". */
static const char *const pub_bodies[] = { "?", "crl", "ocsp", "health",
	"metrics", "-", "other" };
#define NCMP	(CMP_BODY_POLLREP + 1)
#define NBODIES	(NCMP + sizeof(pub_bodies) / sizeof(pub_bodies[0]))
static const unsigned statuses[] = { 200, 400, 403, 404, 405, 408, 413, 415,
	500, 503, 0 };
#define NSTATUS	(sizeof(statuses) / sizeof(statuses[0]) + 1)	/* + other */
static const double bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10 };
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct cmh_metrics {
	atomic_uint_fast64_t n[NBODIES][NSTATUS][2];	/* [.][.][refused] */
	atomic_uint_fast64_t bucket[NBOUNDS + 1];	/* the last: +Inf */
	atomic_uint_fast64_t sum_us;	/* microseconds */
	atomic_uint_fast64_t reloads[2];	/* failed, ok */
};

static const char *
body_name(size_t i)
{
	return i < NCMP ? cmp_body_name((int)i) : pub_bodies[i - NCMP];
}

static size_t
body_index(const char *body)
{
	if (body == NULL || *body == '\0')
		body = "-";
	for (size_t i = 0; i < NBODIES; i++)
		if (strcmp(body_name(i), body) == 0)
			return i;
	return NBODIES - 1;		/* "other" */
}

static size_t
status_index(unsigned status)
{
	size_t i;
	for (i = 0; i < NSTATUS - 1; i++)
		if (statuses[i] == status)
			break;
	return i;
}

rt_err *
cmh_metrics_new(cmh_metrics **out)
{
	cmh_metrics *m = calloc(1, sizeof(*m));
	*out = NULL;
	if (m == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "metrics");
	atomic_uint_fast64_t *c = &m->n[0][0][0];
	for (size_t i = 0; i < NBODIES * NSTATUS * 2; i++)
		atomic_init(&c[i], 0);
	for (size_t b = 0; b <= NBOUNDS; b++)
		atomic_init(&m->bucket[b], 0);
	atomic_init(&m->sum_us, 0);
	atomic_init(&m->reloads[0], 0);
	atomic_init(&m->reloads[1], 0);
	*out = m;
	return NULL;
}

void
cmh_metrics_free(cmh_metrics *m)
{
	free(m);
}

static void
add1(atomic_uint_fast64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void
cmh_metrics_request(cmh_metrics *m, const char *body, unsigned status,
    bool refused, double seconds)
{
	if (m == NULL)
		return;
	add1(&m->n[body_index(body)][status_index(status)][refused]);
	if (seconds < 0)
		seconds = 0;
	size_t b = 0;
	while (b < NBOUNDS && seconds > bounds[b])
		b++;
	atomic_fetch_add_explicit(&m->sum_us, (uint_fast64_t)(seconds * 1e6),
	    memory_order_relaxed);
	add1(&m->bucket[b]);
}

void
cmh_metrics_reload(cmh_metrics *m, bool ok)
{
	if (m != NULL)
		add1(&m->reloads[ok]);
}

static unsigned long long
get(atomic_uint_fast64_t *c)
{
	return (unsigned long long)atomic_load_explicit(c,
	    memory_order_relaxed);
}

rt_err *
cmh_metrics_render(cmh_metrics *m, const cmh_metrics_certs *certs,
    time_t started, char **out, size_t *len)
{
	static const char *const states[4] = { "waiting", "confirmed",
		"rejected", "revoked" };
	FILE *f = open_memstream(out, len);
	if (f == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "metrics");
	fputs("# HELP cmhost_requests_total Requests answered, by body type "
	    "(CMP body, or crl, ocsp, health, metrics), HTTP status (0: no "
	    "answer), and whether the CM host refused them (a CMP error "
	    "answer).\n# TYPE cmhost_requests_total counter\n", f);
	for (size_t i = 0; i < NBODIES; i++)
		for (size_t st = 0; st < NSTATUS; st++)
			for (int rf = 0; rf < 2; rf++) {
				unsigned long long v = get(&m->n[i][st][rf]);
				char sn[12] = "other";
				if (v == 0)
					continue;
				if (st < NSTATUS - 1)
					snprintf(sn, sizeof(sn), "%u", statuses[st]);
				fprintf(f, "cmhost_requests_total{body=\"%s\","
				    "status=\"%s\",refused=\"%s\"} %llu\n",
				    body_name(i), sn, rf ? "true" : "false", v);
			}
	fputs("# HELP cmhost_request_duration_seconds Time from a request's "
	    "headers to its answer.\n"
	    "# TYPE cmhost_request_duration_seconds histogram\n", f);
	/* the count is the buckets' sum, so that +Inf and _count agree
	 * while requests are recorded during the scrape */
	unsigned long long cum = 0;
	for (size_t b = 0; b < NBOUNDS; b++) {
		cum += get(&m->bucket[b]);
		fprintf(f, "cmhost_request_duration_seconds_bucket{le=\"%g\"} "
		    "%llu\n", bounds[b], cum);
	}
	cum += get(&m->bucket[NBOUNDS]);
	fprintf(f, "cmhost_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "cmhost_request_duration_seconds_sum %.6f\n"
	    "cmhost_request_duration_seconds_count %llu\n",
	    cum, (double)get(&m->sum_us) / 1e6, cum);
	fprintf(f, "# HELP cmhost_reloads_total Configuration reloads "
	    "(SIGHUP), by result.\n# TYPE cmhost_reloads_total counter\n"
	    "cmhost_reloads_total{result=\"ok\"} %llu\n"
	    "cmhost_reloads_total{result=\"failed\"} %llu\n",
	    get(&m->reloads[1]), get(&m->reloads[0]));
	if (certs != NULL && certs->have) {
		fputs("# HELP cmhost_certificates Certificates in the database, "
		    "by state.\n# TYPE cmhost_certificates gauge\n", f);
		for (int i = 0; i < 4; i++)
			fprintf(f, "cmhost_certificates{state=\"%s\"} %u\n",
			    states[i], certs->n[i]);
	}
	fprintf(f, "# HELP cmhost_database_up Whether the database answered "
	    "this scrape.\n# TYPE cmhost_database_up gauge\n"
	    "cmhost_database_up %d\n", certs != NULL && certs->have);
	fprintf(f, "# HELP process_start_time_seconds Start time of the "
	    "process since the epoch.\n# TYPE process_start_time_seconds "
	    "gauge\nprocess_start_time_seconds %lld\n", (long long)started);
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return rt_err_new(RT_E_NOMEM, NULL, "metrics");
	}
	return NULL;
}
