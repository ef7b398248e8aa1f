/* Unit tests: cmhost's request log (plain and JSON lines, several threads
 * never mixing lines, a rotated file reopened) and metrics (counters by
 * body, status and refusal; the histogram cumulative; the exposition
 * format line by line; counts exact when threads record at once, names
 * and statuses outside the table counted as "other").
 * src/cmhost/observe.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <cmocka.h>

#include "raterm/cmhost_observe.h"
#include "raterm/util.h"

static char *
slurp(const char *path)
{
	uint8_t *b;
	size_t n;
	assert_null(rt_file_read(path, 1u << 24, &b, &n));
	return (char *)b;
}

static cmh_req_log
sample(const char *outcome)
{
	cmh_req_log r = {
		.at = { 1764943381, 123000000 }, .client = "127.0.0.1:4242",
		.method = "POST", .path = "/cmp", .officer = "demo officer",
		.body = "cr", .serials = "4a01 4a02", .status = 200,
		.outcome = outcome, .ms = 12.34,
	};
	return r;
}

static void
test_log_plain_and_json(void **state)
{
	(void)state;
	char path[] = "/tmp/cmhost-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	cmh_log *l;
	assert_null(cmh_log_open(CMH_LOG_PLAIN, path, &l));
	cmh_req_log r = sample("ok");
	cmh_log_request(l, &r);
	cmh_log_error(l, "database", "locked");
	cmh_log_close(l);
	char *t = slurp(path);
	assert_non_null(strstr(t, "2025-12-05T14:03:01.123Z 127.0.0.1:4242 POST "
	    "/cmp cr officer=\"demo officer\" serials=4a01,4a02 200 12.3ms ok\n"));
	assert_non_null(strstr(t, " error database: locked\n"));
	free(t);

	assert_null(cmh_log_open(CMH_LOG_JSON, path, &l));
	r = sample("badPOP: \"quoted\"\nnewline");
	cmh_log_request(l, &r);
	cmh_log_close(l);
	t = slurp(path);
	assert_non_null(strstr(t, "{\"time\":\"2025-12-05T14:03:01.123Z\","
	    "\"client\":\"127.0.0.1:4242\",\"method\":\"POST\",\"path\":\"/cmp\","
	    "\"officer\":\"demo officer\",\"body\":\"cr\",\"serials\":[\"4a01\","
	    "\"4a02\"],\"status\":200,\"outcome\":\"badPOP: \\\"quoted\\\"\\n"
	    "newline\",\"ms\":12.3}\n"));
	free(t);
	unlink(path);
}

static cmh_log *shared;

static void *
writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 500; i++) {
		cmh_req_log r = sample("ok");
		cmh_log_request(shared, &r);
	}
	return NULL;
}

static void
test_log_threads_and_reopen(void **state)
{
	(void)state;
	char path[] = "/tmp/cmhost-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_null(cmh_log_open(CMH_LOG_JSON, path, &shared));
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	/* rotated: renamed away, reopened: new lines go to a new file */
	char old[64];
	snprintf(old, sizeof(old), "%s.1", path);
	assert_int_equal(rename(path, old), 0);
	assert_null(cmh_log_reopen(shared));
	cmh_log_info(shared, "after the rotation");
	cmh_log_close(shared);
	char *t = slurp(old);
	size_t lines = 0;
	for (char *p = t; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, 2000);
	/* every line whole: starts and ends as one record */
	for (char *p = t; *p; p = strchr(p, '\n') + 1) {
		assert_memory_equal(p, "{\"time\":", 8);
		char *e = strchr(p, '\n');
		assert_memory_equal(e - 1, "}", 1);
	}
	free(t);
	t = slurp(path);
	assert_non_null(strstr(t, "\"level\":\"info\",\"message\":\"after the "
	    "rotation\"}\n"));
	free(t);
	unlink(path);
	unlink(old);
}

static void
test_metrics(void **state)
{
	(void)state;
	cmh_metrics *m;
	assert_null(cmh_metrics_new(&m));
	cmh_metrics_request(m, "cr", 200, false, 0.004);
	cmh_metrics_request(m, "cr", 200, false, 0.2);
	cmh_metrics_request(m, "cr", 200, true, 0.03);
	cmh_metrics_request(m, "ocsp", 200, false, 20);
	cmh_metrics_request(m, NULL, 404, false, 0.001);
	cmh_metrics_reload(m, true);
	cmh_metrics_reload(m, false);
	cmh_metrics_certs c = { true, { 1, 2, 3, 4 } };
	char *t;
	size_t n;
	assert_null(cmh_metrics_render(m, &c, 1700000000, &t, &n));
	assert_int_equal(strlen(t), n);
	const char *want[] = {
		"cmhost_requests_total{body=\"cr\",status=\"200\",refused=\"false\"} 2\n",
		"cmhost_requests_total{body=\"cr\",status=\"200\",refused=\"true\"} 1\n",
		"cmhost_requests_total{body=\"ocsp\",status=\"200\",refused=\"false\"} 1\n",
		"cmhost_requests_total{body=\"-\",status=\"404\",refused=\"false\"} 1\n",
		"cmhost_request_duration_seconds_bucket{le=\"0.005\"} 2\n",
		"cmhost_request_duration_seconds_bucket{le=\"0.05\"} 3\n",
		"cmhost_request_duration_seconds_bucket{le=\"0.25\"} 4\n",
		"cmhost_request_duration_seconds_bucket{le=\"10\"} 4\n",
		"cmhost_request_duration_seconds_bucket{le=\"+Inf\"} 5\n",
		"cmhost_request_duration_seconds_count 5\n",
		"cmhost_reloads_total{result=\"ok\"} 1\n",
		"cmhost_reloads_total{result=\"failed\"} 1\n",
		"cmhost_certificates{state=\"revoked\"} 4\n",
		"cmhost_database_up 1\n",
		"process_start_time_seconds 1700000000\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(t, want[i]) == NULL)
			fail_msg("missing: %s", want[i]);
	/* every line a comment (HELP/TYPE) or "name{labels} value" */
	for (char *p = t; *p; p = strchr(p, '\n') + 1) {
		if (*p == '#') {
			assert_true(strncmp(p, "# HELP ", 7) == 0 ||
			    strncmp(p, "# TYPE ", 7) == 0);
			continue;
		}
		char *sp = strchr(p, ' ');
		assert_non_null(sp);
		assert_true(sp < strchr(p, '\n'));
	}
	free(t);
	c.have = false;
	assert_null(cmh_metrics_render(m, &c, 1700000000, &t, &n));
	assert_null(strstr(t, "cmhost_certificates{"));
	assert_non_null(strstr(t, "cmhost_database_up 0\n"));
	free(t);
	cmh_metrics_free(m);
}

#define REC_THREADS 8
#define REC_EACH 20000

static void *
recorder(void *arg)
{
	cmh_metrics *m = arg;
	for (int i = 0; i < REC_EACH; i++) {
		cmh_metrics_request(m, i % 2 ? "cr" : "certConf", 200, false,
		    i % 4 == 0 ? 0.001 : 0.3);
		if (i % 1000 == 0)
			cmh_metrics_reload(m, true);
	}
	return NULL;
}

/* the value of the sample starting with `name` in the exposition t */
static unsigned long long
sample_of(const char *t, const char *name)
{
	const char *p = strstr(t, name);
	if (p == NULL)
		fail_msg("no sample %s", name);
	return strtoull(p + strlen(name), NULL, 10);
}

static void
test_metrics_threads(void **state)
{
	(void)state;
	cmh_metrics *m;
	pthread_t th[REC_THREADS];
	char *t;
	size_t n;
	assert_null(cmh_metrics_new(&m));
	for (int i = 0; i < REC_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, recorder, m), 0);
	/* scrapes while they record: the histogram stays consistent */
	for (int k = 0; k < 20; k++) {
		assert_null(cmh_metrics_render(m, NULL, 0, &t, &n));
		assert_int_equal(sample_of(t,
		    "cmhost_request_duration_seconds_bucket{le=\"+Inf\"} "),
		    sample_of(t, "cmhost_request_duration_seconds_count "));
		free(t);
	}
	for (int i = 0; i < REC_THREADS; i++)
		pthread_join(th[i], NULL);
	cmh_metrics_request(m, "no such body", 200, false, 0.001);
	cmh_metrics_request(m, "cr", 299, true, 0.001);
	assert_null(cmh_metrics_render(m, NULL, 0, &t, &n));
	unsigned long long half = REC_THREADS * REC_EACH / 2;
	assert_int_equal(sample_of(t, "cmhost_requests_total{body=\"cr\","
	    "status=\"200\",refused=\"false\"} "), half);
	assert_int_equal(sample_of(t, "cmhost_requests_total{body=\"certConf\","
	    "status=\"200\",refused=\"false\"} "), half);
	assert_int_equal(sample_of(t, "cmhost_requests_total{body=\"other\","
	    "status=\"200\",refused=\"false\"} "), 1);
	assert_int_equal(sample_of(t, "cmhost_requests_total{body=\"cr\","
	    "status=\"other\",refused=\"true\"} "), 1);
	assert_int_equal(sample_of(t,
	    "cmhost_request_duration_seconds_bucket{le=\"0.005\"} "),
	    REC_THREADS * REC_EACH / 4 + 2);
	assert_int_equal(sample_of(t, "cmhost_request_duration_seconds_count "),
	    REC_THREADS * REC_EACH + 2);
	assert_int_equal(sample_of(t, "cmhost_reloads_total{result=\"ok\"} "),
	    REC_THREADS * (REC_EACH / 1000));
	free(t);
	cmh_metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_plain_and_json),
		cmocka_unit_test(test_log_threads_and_reopen),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_metrics_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
