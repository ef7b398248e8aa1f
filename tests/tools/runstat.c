/* runstat - runs a command N times and prints its median and minimum wall
 * time and its peak resident set size, for `make bench`.
 *
 *   runstat N LABEL -- command [args...]
 *
 * Output: one line "LABEL median_ms=... min_ms=... max_rss_kb=... fails=..."
 * The command's stdout/stderr go to /dev/null. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	if (argc < 5 || strcmp(argv[3], "--") != 0) {
		fprintf(stderr, "usage: runstat N LABEL -- command [args...]\n");
		return 2;
	}
	int n = atoi(argv[1]);
	if (n < 1 || n > 10000) {
		fprintf(stderr, "runstat: N must be 1..10000\n");
		return 2;
	}
	double *ms = calloc((size_t)n, sizeof(*ms));
	long max_rss = 0;
	int fails = 0;
	if (ms == NULL)
		return 1;
	for (int i = 0; i < n; i++) {
		struct timespec a, b;
		struct rusage ru;
		int status;
		clock_gettime(CLOCK_MONOTONIC, &a);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			int fd = open("/dev/null", O_WRONLY);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execvp(argv[4], argv + 4);
			_exit(127);
		}
		if (wait4(pid, &status, 0, &ru) < 0) {
			perror("wait4");
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		ms[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 +
		    (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		if (ru.ru_maxrss > max_rss)
			max_rss = ru.ru_maxrss;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fails++;
	}
	qsort(ms, (size_t)n, sizeof(*ms), cmp_d);
	double med = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
	printf("%s median_ms=%.2f min_ms=%.2f max_rss_kb=%ld fails=%d\n",
	    argv[2], med, ms[0], max_rss, fails);
	free(ms);
	return 0;
}
