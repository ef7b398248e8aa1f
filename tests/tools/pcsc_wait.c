/*
 * pcsc_wait - wait for PC/SC readers or cards (test helper).
 *
 *   pcsc_wait [-t SECONDS] readers N      until at least N readers exist
 *   pcsc_wait [-t SECONDS] present READER until a card is in READER
 *   pcsc_wait [-t SECONDS] absent READER  until READER is empty
 *   pcsc_wait list                        print "NAME<TAB>card|empty" lines
 *
 * The service is the one PCSCLITE_CSOCK_NAME points to. Exit status: 0
 * done, 1 timeout or PC/SC error, 2 usage. The default timeout is 10 s.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <winscard.h>

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: pcsc_wait [-t SECONDS] readers N | present READER | absent READER | list\n");
	return 2;
}

/* Reader names as a multi-string; NULL if none or on error. */
static char *
list_readers(SCARDCONTEXT ctx, LONG *rv)
{
	DWORD len = 0;
	*rv = SCardListReaders(ctx, NULL, NULL, &len);
	if (*rv != SCARD_S_SUCCESS)
		return NULL;
	char *buf = calloc(1, len + 1);
	if (buf == NULL)
		return NULL;
	*rv = SCardListReaders(ctx, NULL, buf, &len);
	if (*rv != SCARD_S_SUCCESS) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int
count_readers(const char *m)
{
	int n = 0;
	for (; m != NULL && *m != '\0'; m += strlen(m) + 1)
		n++;
	return n;
}

int
main(int argc, char **argv)
{
	double timeout = 10;
	int i = 1;
	if (i + 1 < argc && strcmp(argv[i], "-t") == 0) {
		timeout = atof(argv[i + 1]);
		i += 2;
	}
	if (i >= argc)
		return usage();
	const char *cmd = argv[i];
	const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
	if (strcmp(cmd, "list") != 0 && arg == NULL)
		return usage();

	double end = now() + timeout;
	SCARDCONTEXT ctx = 0;
	LONG rv = SCARD_E_NO_SERVICE;
	while ((rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx)) != SCARD_S_SUCCESS) {
		if (now() >= end) {
			fprintf(stderr, "pcsc_wait: no PC/SC service: %s\n", pcsc_stringify_error(rv));
			return 1;
		}
		nap(50);
	}

	int status = 1;
	if (strcmp(cmd, "list") == 0) {
		char *m = list_readers(ctx, &rv);
		for (const char *r = m; r != NULL && *r != '\0'; r += strlen(r) + 1) {
			SCARD_READERSTATE st = { .szReader = r, .dwCurrentState = SCARD_STATE_UNAWARE };
			const char *what = "?";
			if (SCardGetStatusChange(ctx, 0, &st, 1) == SCARD_S_SUCCESS)
				what = (st.dwEventState & SCARD_STATE_PRESENT) ? "card" : "empty";
			printf("%s\t%s\n", r, what);
		}
		free(m);
		status = 0;
	} else if (strcmp(cmd, "readers") == 0) {
		int want = atoi(arg), have = 0;
		for (;;) {
			char *m = list_readers(ctx, &rv);
			have = count_readers(m);
			free(m);
			if (have >= want) {
				status = 0;
				break;
			}
			if (now() >= end) {
				fprintf(stderr, "pcsc_wait: %d of %d readers after %g s\n", have, want, timeout);
				break;
			}
			nap(50);
		}
	} else if (strcmp(cmd, "present") == 0 || strcmp(cmd, "absent") == 0) {
		int want_present = strcmp(cmd, "present") == 0;
		SCARD_READERSTATE st = { .szReader = arg, .dwCurrentState = SCARD_STATE_UNAWARE };
		for (;;) {
			double left = end - now();
			if (left < 0)
				left = 0;
			rv = SCardGetStatusChange(ctx, (DWORD)(left * 1000), &st, 1);
			if (rv == SCARD_S_SUCCESS) {
				int present = (st.dwEventState & SCARD_STATE_PRESENT) != 0;
				if (present == want_present && !(st.dwEventState & SCARD_STATE_UNKNOWN)) {
					status = 0;
					break;
				}
				st.dwCurrentState = st.dwEventState;
			} else if (rv != SCARD_E_TIMEOUT && rv != SCARD_E_UNKNOWN_READER) {
				fprintf(stderr, "pcsc_wait: %s: %s\n", arg, pcsc_stringify_error(rv));
				break;
			} else if (rv == SCARD_E_UNKNOWN_READER) {
				nap(50);
			}
			if (now() >= end) {
				fprintf(stderr, "pcsc_wait: %s: card not %s after %g s\n", arg, cmd, timeout);
				break;
			}
		}
	} else {
		status = 2;
		usage();
	}
	SCardReleaseContext(ctx);
	return status;
}
