/* file.c - bounded whole-file reader; see include/raterm/util.h. Files may
 * hold keys: every buffer given up is wiped. */
#include "raterm/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
wipe_free(uint8_t *b, size_t cap)
{
	if (b != NULL) {
		rt_wipe(b, cap);
		free(b);
	}
}

static rt_err *
io_err(const char *path, int err, const char *why)
{
	rt_err *e = rt_err_new(RT_E_IO, NULL, "%s: %s", path, why ? why :
	    strerror(err));
	rt_err_set_detail(e, err);
	return e;
}

static rt_err *read_stream(FILE *f, const char *path, size_t max,
    uint8_t **data, size_t *len);

rt_err *
rt_file_read(const char *path, size_t max, uint8_t **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return io_err(path, errno, NULL);
	return read_stream(f, path, max, data, len);
}

rt_err *
rt_file_read_regular(const char *path, size_t max, uint8_t **data,
    size_t *len)
{
	struct stat st;
	*data = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO put in its place does not hang the open */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return io_err(path, errno, errno == ELOOP ? "a symbolic link "
		    "(refused)" : NULL);
	if (fstat(fd, &st) != 0) {
		int err = errno;
		close(fd);
		return io_err(path, err, NULL);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return io_err(path, EINVAL, "not a regular file (refused)");
	}
	if (st.st_size > 0 && (uint64_t)st.st_size > (uint64_t)max) {
		close(fd);
		return rt_err_new(RT_E_TOO_BIG, NULL, "%s: larger than %zu bytes",
		    path, max);
	}
	FILE *f = fdopen(fd, "rb");
	if (f == NULL) {
		int err = errno;
		close(fd);
		return io_err(path, err, NULL);
	}
	return read_stream(f, path, max, data, len);
}

static rt_err *
read_stream(FILE *f, const char *path, size_t max, uint8_t **data,
    size_t *len)
{
	uint8_t *b = NULL;
	size_t n = 0, cap = 0;
	rt_err *e;

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

rt_err *
rt_file_write(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[4200];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return rt_err_new(RT_E_IO, NULL, "%s: path too long", path);
	(void)unlink(tmp);	/* a leftover of a process with our pid */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    (mode_t)mode);
	if (fd < 0)
		return rt_err_new(RT_E_IO, NULL, "%s: %s", tmp, strerror(errno));
	const uint8_t *p = data;
	size_t off = 0;
	int err = fchmod(fd, (mode_t)mode) != 0 ? errno : 0;
	while (err == 0 && off < len) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0 && errno != EINTR)
			err = errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (err == 0 && fsync(fd) != 0)
		err = errno;
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = errno;
	if (err != 0) {
		(void)unlink(tmp);
		return rt_err_new(RT_E_IO, NULL, "%s: %s", path, strerror(err));
	}
	return NULL;
}
