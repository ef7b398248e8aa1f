/* Unit tests: the shared helpers of util.h - hex codec, JSON strings,
 * the bounded file reader. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "raterm/err.h"
#include "raterm/util.h"

static void
test_hex_encode(void **state)
{
	(void)state;
	const uint8_t b[] = { 0x00, 0x9a, 0xff, 0x10 };
	char out[16];
	assert_int_equal(rt_hex_encode(b, 4, out, sizeof(out), 0), 8);
	assert_string_equal(out, "009aff10");
	assert_int_equal(rt_hex_encode(b, 4, out, sizeof(out), RT_HEX_UPPER),
	    8);
	assert_string_equal(out, "009AFF10");
	/* cut to whole bytes */
	assert_int_equal(rt_hex_encode(b, 4, out, 6, 0), 4);
	assert_string_equal(out, "009a");
	assert_int_equal(rt_hex_encode(b, 0, out, sizeof(out), 0), 0);
	assert_string_equal(out, "");
	assert_int_equal(rt_hex_encode(b, 4, out, 0, 0), 0);
}

static void
test_hex_decode(void **state)
{
	(void)state;
	uint8_t out[8];
	size_t n = 99;
	assert_null(rt_hex_decode("009aFF", 6, out, sizeof(out), &n, 0));
	assert_int_equal(n, 3);
	assert_int_equal(out[1], 0x9a);
	assert_int_equal(out[2], 0xff);
	/* len bounds what is read */
	assert_null(rt_hex_decode("0102zz", 4, out, sizeof(out), &n, 0));
	assert_int_equal(n, 2);
	/* strict: no spaces */
	rt_err *e = rt_hex_decode("01 02", 5, out, sizeof(out), &n, 0);
	assert_true(rt_err_has(e, RT_E_FORMAT));
	assert_non_null(strstr(rt_err_msg(e), "position 2"));
	rt_err_free(e);
	/* loose: spaces and colons skipped */
	assert_null(rt_hex_decode("01 02:0a\n", 9, out, sizeof(out), &n,
	    RT_HEX_LOOSE));
	assert_int_equal(n, 3);
	assert_int_equal(out[2], 0x0a);
	e = rt_hex_decode("012", 3, out, sizeof(out), &n, 0);
	assert_true(rt_err_has(e, RT_E_FORMAT));
	rt_err_free(e);
	e = rt_hex_decode("010203", 6, out, 2, &n, 0);
	assert_true(rt_err_has(e, RT_E_TOO_BIG));
	rt_err_free(e);
	assert_null(rt_hex_decode("", 0, out, sizeof(out), &n, 0));
	assert_int_equal(n, 0);
	/* loose: spaces and colons between the digits */
	assert_null(rt_hex_decode("de ad:be", 8, out, sizeof(out), &n,
	    RT_HEX_LOOSE));
	assert_int_equal(n, 3);
}

static void
test_hex_write(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const uint8_t b[] = { 0xab, 0x01 };
	assert_int_equal(rt_hex_write(f, b, 2, 0), 0);
	assert_int_equal(rt_hex_write(f, b, 2, RT_HEX_UPPER), 0);
	fclose(f);
	assert_string_equal(buf, "ab01AB01");
	free(buf);
}

static void
test_json_str(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	rt_json_str(f, "a\"b\\c\n\t\x01 \xc3\xa9");
	fputc(' ', f);
	rt_json_str(f, NULL);
	fclose(f);
	assert_string_equal(buf, "\"a\\\"b\\\\c\\n\\t\\u0001 \xc3\xa9\" null");
	free(buf);
}

static void
test_file_read(void **state)
{
	(void)state;
	char path[] = "/tmp/raterm-test-file-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	/* larger than the first buffer, to grow it */
	size_t n = 20000;
	char *data = malloc(n);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
	uint8_t *b;
	size_t len;
	assert_null(rt_file_read(path, n, &b, &len));
	assert_int_equal(len, n);
	assert_memory_equal(b, data, n);
	assert_int_equal(b[n], 0);
	free(b);
	rt_err *e = rt_file_read(path, n - 1, &b, &len);
	assert_true(rt_err_has(e, RT_E_TOO_BIG));
	assert_non_null(strstr(rt_err_msg(e), "larger than 19999 bytes"));
	assert_null(b);
	rt_err_free(e);
	unlink(path);
	e = rt_file_read(path, n, &b, &len);
	assert_true(rt_err_has(e, RT_E_IO));
	assert_int_equal(rt_err_detail(e), ENOENT);
	rt_err_free(e);
	/* an empty file */
	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_null(rt_file_read(path, 10, &b, &len));
	assert_int_equal(len, 0);
	assert_int_equal(b[0], 0);
	free(b);
	unlink(path);
	free(data);
}

static void
test_file_write(void **state)
{
	(void)state;
	char dir[] = "/tmp/raterm-test-dir-XXXXXX", path[64];
	struct stat st;
	uint8_t *b;
	size_t len;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/secret", dir);
	/* the mode is exact whatever the umask */
	mode_t old = umask(0);
	assert_null(rt_file_write(path, "one", 3, 0600));
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* replaced whole */
	assert_null(rt_file_write(path, "two!", 4, 0600));
	assert_null(rt_file_read(path, 100, &b, &len));
	assert_int_equal(len, 4);
	assert_memory_equal(b, "two!", 4);
	free(b);
	/* a directory that does not exist: IO naming the path */
	char bad[96];
	snprintf(bad, sizeof(bad), "%s/none/file", dir);
	rt_err *e = rt_file_write(bad, "x", 1, 0600);
	assert_true(rt_err_has(e, RT_E_IO));
	assert_non_null(strstr(rt_err_msg(e), bad));
	rt_err_free(e);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_encode),
		cmocka_unit_test(test_hex_decode),
		cmocka_unit_test(test_hex_write),
		cmocka_unit_test(test_json_str),
		cmocka_unit_test(test_file_read),
		cmocka_unit_test(test_file_write),
	};
	return cmocka_run_group_tests_name("util_codec", tests, NULL, NULL);
}
