/*
 * cmhost_observe.h - what an administrator watches of a running cmhost:
 * the request log (one line per request, plain or JSON) and the metrics
 * served at /metrics in the Prometheus text format (docs/cmhost.md,
 * "Logs, health and metrics").
 *
 * Both are thread-safe: the server's threads record into them at once
 * (a log line is written whole under a mutex; the metrics are atomic
 * counters, recorded without a lock).
 */
#ifndef RATERM_CMHOST_OBSERVE_H
#define RATERM_CMHOST_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "raterm/err.h"

/* ---- the request log ------------------------------------------------------ */

typedef enum { CMH_LOG_PLAIN = 0, CMH_LOG_JSON } cmh_log_format;

typedef struct cmh_log cmh_log;

/* A log to path (appended, created 0640), or to stderr when path is NULL.
 * Errors: IO naming the file, NOMEM. */
rt_err *cmh_log_open(cmh_log_format fmt, const char *path, cmh_log **out)
    RT_MUST;
/* Opens the file again (after it was rotated: SIGHUP); stderr stays.
 * On error the old file is kept. Errors: IO. */
rt_err *cmh_log_reopen(cmh_log *l) RT_MUST;
void cmh_log_close(cmh_log *l);

/* One request, as the server saw it and the service reported it. */
typedef struct {
	struct timespec at;		/* when it arrived (CLOCK_REALTIME) */
	const char *client;		/* "addr:port", "addr (via proxy:port)" */
	const char *method;		/* "POST" */
	const char *path;		/* "/cmp" */
	const char *officer;		/* "-": none, or not verified */
	const char *body;		/* CMP body ("cr"), or "crl", "ocsp",
					 * "health", "metrics", "-" */
	const char *serials;		/* space-separated, "" none */
	unsigned status;		/* HTTP status */
	const char *outcome;		/* "ok", "badPOP: why", ... */
	double ms;			/* from the headers to the answer */
} cmh_req_log;

void cmh_log_request(cmh_log *l, const cmh_req_log *r);
/* An error with its cause (what failed, where): one line of its own
 * (JSON: "level":"error"). */
void cmh_log_error(cmh_log *l, const char *what, const char *msg);
/* A notice (start, reload, stop): "level":"info". */
void cmh_log_info(cmh_log *l, const char *msg);

/* ---- metrics --------------------------------------------------------------- */

typedef struct cmh_metrics cmh_metrics;

rt_err *cmh_metrics_new(cmh_metrics **out) RT_MUST;
void cmh_metrics_free(cmh_metrics *m);
/* Counts a request of type `body` (as in cmh_req_log) answered with HTTP
 * status (0: none), refused (a CMP error answer) or not, in seconds. A
 * body other than a CMP body name, "?", "crl", "ocsp", "health",
 * "metrics" or "-" counts as "other", a status the server does not answer
 * with (200 400 403 404 405 408 413 415 500 503) as status "other". */
void cmh_metrics_request(cmh_metrics *m, const char *body, unsigned status,
    bool refused, double seconds);
/* Counts a reload (ok: it took effect). */
void cmh_metrics_reload(cmh_metrics *m, bool ok);

/* The certificates by state for the exposition (CMH_CERT_* order). */
typedef struct {
	bool have;			/* false: the database did not answer */
	unsigned n[4];			/* waiting, confirmed, rejected,
					 * revoked */
} cmh_metrics_certs;

/* The Prometheus text exposition (format 0.0.4): requests by body type,
 * status and outcome, the latency histogram, reloads, certificates by
 * state, the process start time. *out malloc'ed. Errors: NOMEM. */
rt_err *cmh_metrics_render(cmh_metrics *m, const cmh_metrics_certs *certs,
    time_t started, char **out, size_t *len) RT_MUST;

#endif
