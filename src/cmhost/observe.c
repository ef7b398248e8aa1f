/* observe.c - cmhost's request log and metrics (cmhost_observe.h). */
#include "raterm/cmhost_observe.h"
#include "raterm/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/* Request counters by (body, status, refused): a small table; a request
 * takes milliseconds of signatures, the mutex nanoseconds. */
#define MAX_SERIES 128
static const double bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10 };
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

typedef struct {
	char body[20];
	unsigned status;
	bool refused;
	uint64_t n;
} series;

struct cmh_metrics {
	pthread_mutex_t mu;
	series s[MAX_SERIES];
	size_t ns;
	uint64_t dropped;		/* requests of series beyond the table */
	uint64_t bucket[NBOUNDS + 1];	/* the last: +Inf */
	double sum;
	uint64_t count;
	uint64_t reloads_ok, reloads_failed;
};

rt_err *
cmh_metrics_new(cmh_metrics **out)
{
	cmh_metrics *m = calloc(1, sizeof(*m));
	*out = NULL;
	if (m == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "metrics");
	pthread_mutex_init(&m->mu, NULL);
	*out = m;
	return NULL;
}

void
cmh_metrics_free(cmh_metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	free(m);
}

void
cmh_metrics_request(cmh_metrics *m, const char *body, unsigned status,
    bool refused, double seconds)
{
	if (m == NULL)
		return;
	if (body == NULL || *body == '\0')
		body = "-";
	pthread_mutex_lock(&m->mu);
	size_t i;
	for (i = 0; i < m->ns; i++)
		if (m->s[i].status == status && m->s[i].refused == refused &&
		    strcmp(m->s[i].body, body) == 0)
			break;
	if (i == m->ns && m->ns < MAX_SERIES) {
		snprintf(m->s[i].body, sizeof(m->s[i].body), "%s", body);
		m->s[i].status = status;
		m->s[i].refused = refused;
		m->ns++;
	}
	if (i < m->ns)
		m->s[i].n++;
	else
		m->dropped++;
	size_t b = 0;
	while (b < NBOUNDS && seconds > bounds[b])
		b++;
	m->bucket[b]++;
	m->sum += seconds;
	m->count++;
	pthread_mutex_unlock(&m->mu);
}

void
cmh_metrics_reload(cmh_metrics *m, bool ok)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	if (ok)
		m->reloads_ok++;
	else
		m->reloads_failed++;
	pthread_mutex_unlock(&m->mu);
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
	pthread_mutex_lock(&m->mu);
	fputs("# HELP cmhost_requests_total Requests answered, by body type "
	    "(CMP body, or crl, ocsp, health, metrics), HTTP status, and "
	    "whether the CM host refused them (a CMP error answer).\n"
	    "# TYPE cmhost_requests_total counter\n", f);
	for (size_t i = 0; i < m->ns; i++)
		fprintf(f, "cmhost_requests_total{body=\"%s\",status=\"%u\","
		    "refused=\"%s\"} %llu\n", m->s[i].body, m->s[i].status,
		    m->s[i].refused ? "true" : "false",
		    (unsigned long long)m->s[i].n);
	fprintf(f, "# HELP cmhost_requests_uncounted_total Requests of series "
	    "beyond the table's %d.\n# TYPE cmhost_requests_uncounted_total "
	    "counter\ncmhost_requests_uncounted_total %llu\n", MAX_SERIES,
	    (unsigned long long)m->dropped);
	fputs("# HELP cmhost_request_duration_seconds Time from a request's "
	    "headers to its answer.\n"
	    "# TYPE cmhost_request_duration_seconds histogram\n", f);
	uint64_t cum = 0;
	for (size_t b = 0; b < NBOUNDS; b++) {
		cum += m->bucket[b];
		fprintf(f, "cmhost_request_duration_seconds_bucket{le=\"%g\"} "
		    "%llu\n", bounds[b], (unsigned long long)cum);
	}
	cum += m->bucket[NBOUNDS];
	fprintf(f, "cmhost_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "cmhost_request_duration_seconds_sum %.6f\n"
	    "cmhost_request_duration_seconds_count %llu\n",
	    (unsigned long long)cum, m->sum, (unsigned long long)m->count);
	fprintf(f, "# HELP cmhost_reloads_total Configuration reloads "
	    "(SIGHUP), by result.\n# TYPE cmhost_reloads_total counter\n"
	    "cmhost_reloads_total{result=\"ok\"} %llu\n"
	    "cmhost_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)m->reloads_ok,
	    (unsigned long long)m->reloads_failed);
	pthread_mutex_unlock(&m->mu);
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
