/* crypto_testutil.h - helpers of the crypto unit tests (test_crypto*.c):
 * a temporary directory, running the openssl command line, files. */
#ifndef CRYPTO_TESTUTIL_H
#define CRYPTO_TESTUTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TU_UNUSED __attribute__((unused))

static char tu_dir[64];

/* Creates the temporary directory (once); returns its path. */
TU_UNUSED static const char *
tu_tmpdir(void)
{
	if (tu_dir[0] == '\0') {
		snprintf(tu_dir, sizeof(tu_dir), "/tmp/raterm-crypto.XXXXXX");
		if (mkdtemp(tu_dir) == NULL) {
			perror("mkdtemp");
			exit(1);
		}
	}
	return tu_dir;
}

TU_UNUSED static void
tu_cleanup(void)
{
	char cmd[128];
	if (tu_dir[0] != '\0' && getenv("KEEP") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tu_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tu_dir);
	}
}

/* Runs a shell command in the temporary directory; returns its status. */
TU_UNUSED static int
tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
TU_UNUSED static int
tu_sh(const char *fmt, ...)
{
	char cmd[4096];
	int n = snprintf(cmd, sizeof(cmd), "cd '%s' && (", tu_tmpdir());
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	snprintf(cmd + n, sizeof(cmd) - (size_t)n, ") >>log 2>&1");
	int rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

TU_UNUSED static const char *
tu_path(const char *name)
{
	static char buf[4][256];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tu_tmpdir(), name);
	return buf[i];
}

TU_UNUSED static unsigned char *
tu_read(const char *name, size_t *len)
{
	FILE *f = fopen(tu_path(name), "rb");
	if (f == NULL)
		return NULL;
	unsigned char *b = malloc(1 << 20);
	*len = fread(b, 1, 1 << 20, f);
	fclose(f);
	return b;
}

TU_UNUSED static int
tu_write(const char *name, const void *buf, size_t len)
{
	FILE *f = fopen(tu_path(name), "wb");
	if (f == NULL)
		return -1;
	size_t w = fwrite(buf, 1, len, f);
	fclose(f);
	return w == len ? 0 : -1;
}

#endif
