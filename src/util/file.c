/* file.c - bounded whole-file reader; see include/raterm/util.h. Files may
 * hold keys: every buffer given up is wiped. */
#include "raterm/util.h"

#include <errno.h>
#include <stdlib.h>

static void
wipe_free(uint8_t *b, size_t cap)
{
	if (b != NULL) {
		rt_wipe(b, cap);
		free(b);
	}
}

rt_err *
rt_file_read(const char *path, size_t max, uint8_t **data, size_t *len)
{
	uint8_t *b = NULL;
	size_t n = 0, cap = 0;
	rt_err *e;

	*data = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		int err = errno;
		e = rt_err_new(RT_E_IO, NULL, "%s: %s", path, strerror(err));
		rt_err_set_detail(e, err);
		return e;
	}
	for (;;) {
		if (n == cap) {
			/* one byte beyond max tells a larger file, one for NUL */
			size_t want = cap ? cap * 2 : 8192;
			if (want > max + 2)
				want = max + 2;
			if (want <= cap) {
				fclose(f);
				wipe_free(b, cap);
				return rt_err_new(RT_E_TOO_BIG, NULL,
				    "%s: larger than %zu bytes", path, max);
			}
			/* not realloc: key files leave no copy behind */
			uint8_t *nb = malloc(want);
			if (nb == NULL) {
				fclose(f);
				wipe_free(b, cap);
				return rt_err_new(RT_E_NOMEM, NULL, "%s", path);
			}
			if (n > 0)
				memcpy(nb, b, n);
			wipe_free(b, cap);
			b = nb;
			cap = want;
		}
		size_t r = fread(b + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	bool bad = ferror(f) != 0;
	int err = errno ? errno : EIO;
	fclose(f);
	if (bad) {
		wipe_free(b, cap);
		e = rt_err_new(RT_E_IO, NULL, "%s: read error", path);
		rt_err_set_detail(e, err);
		return e;
	}
	if (n > max) {
		wipe_free(b, cap);
		return rt_err_new(RT_E_TOO_BIG, NULL, "%s: larger than %zu bytes",
		    path, max);
	}
	b[n] = '\0';
	*data = b;
	*len = n;
	return NULL;
}
