/* Unit tests: display width of UTF-8 and fitting text into columns (text.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raterm/text.h"

#define E_ACUTE "\xc3\xa9"		/* é U+00E9 */
#define COMB_ACUTE "\xcc\x81"		/* U+0301 COMBINING ACUTE ACCENT */
#define KAN "\xe6\xbc\xa2"		/* 漢 U+6F22, wide */
#define JI "\xe5\xad\x97"		/* 字 U+5B57, wide */
#define ELL "\xe2\x80\xa6"		/* … */

static void
test_width_ascii(void **state)
{
	(void)state;
	assert_int_equal(rt_text_width(""), 0);
	assert_int_equal(rt_text_width(NULL), 0);
	assert_int_equal(rt_text_width("Alice Example"), 13);
}

static void
test_width_latin_cjk_combining(void **state)
{
	(void)state;
	assert_int_equal(rt_text_width("Ren" E_ACUTE "e"), 5);
	assert_int_equal(rt_text_width("M\xc3\xbcller \xc3\x85sa"), 10);
	assert_int_equal(rt_text_width(KAN JI), 4);
	assert_int_equal(rt_text_width("a" KAN "b"), 4);
	/* e + combining acute: one column */
	assert_int_equal(rt_text_width("Rene" COMB_ACUTE), 4);
	/* zero width space, soft hyphen (shown) */
	assert_int_equal(rt_text_width("a\xe2\x80\x8b" "b"), 2);
	assert_int_equal(rt_text_width("a\xc2\xad" "b"), 3);
	/* Hangul syllable (wide), fullwidth A (wide), emoji (wide) */
	assert_int_equal(rt_text_width("\xea\xb0\x80"), 2);
	assert_int_equal(rt_text_width("\xef\xbc\xa1"), 2);
	assert_int_equal(rt_text_width("\xf0\x9f\x98\x80"), 2);
}

static void
test_width_invalid(void **state)
{
	(void)state;
	/* lone continuation, truncated sequence, overlong '/', surrogate,
	 * above U+10FFFF, 0xff: one column per bad byte */
	assert_int_equal(rt_text_width("\x80"), 1);
	assert_int_equal(rt_text_width("a\xe6\xbc"), 3);
	assert_int_equal(rt_text_width("\xc0\xaf"), 2);
	assert_int_equal(rt_text_width("\xed\xa0\x80"), 3);
	assert_int_equal(rt_text_width("\xf4\x90\x80\x80"), 4);
	assert_int_equal(rt_text_width("\xff" "a"), 2);
	/* control characters count one (they are shown as '?') */
	assert_int_equal(rt_text_width("a\tb\x1b"), 4);
}

static void
test_fit_no_cut(void **state)
{
	(void)state;
	char b[64];
	assert_int_equal(rt_text_fit(b, sizeof(b), "Alice", 10, true), 5);
	assert_string_equal(b, "Alice");
	assert_int_equal(rt_text_fit(b, sizeof(b), "Alice", 5, false), 5);
	assert_string_equal(b, "Alice");
	assert_int_equal(rt_text_fit(b, sizeof(b), KAN JI, 4, true), 4);
	assert_string_equal(b, KAN JI);
	/* UTF-8 passes unchanged without a UTF-8 terminal too */
	assert_int_equal(rt_text_fit(b, sizeof(b), "Ren" E_ACUTE, 10, false), 4);
	assert_string_equal(b, "Ren" E_ACUTE);
	assert_int_equal(rt_text_fit(b, sizeof(b), NULL, 3, true), 0);
	assert_string_equal(b, "");
}

static void
test_fit_cut(void **state)
{
	(void)state;
	char b[64];
	assert_int_equal(rt_text_fit(b, sizeof(b), "Alice Example", 8, true), 8);
	assert_string_equal(b, "Alice E" ELL);
	assert_int_equal(rt_text_fit(b, sizeof(b), "Alice Example", 8, false), 8);
	assert_string_equal(b, "Alice...");
	assert_int_equal(rt_text_fit(b, sizeof(b), "Ren" E_ACUTE "e Dupont", 5,
	    true), 5);
	assert_string_equal(b, "Ren" E_ACUTE ELL);
	/* combining marks stay with their letter */
	assert_int_equal(rt_text_fit(b, sizeof(b), "Rene" COMB_ACUTE "e Dupont",
	    5, true), 5);
	assert_string_equal(b, "Rene" COMB_ACUTE ELL);
}

static void
test_fit_odd_widths(void **state)
{
	(void)state;
	char b[64];
	/* 漢字漢字 is 8 columns; at 4 (UTF-8): 漢 + … = 3, a wide
	 * character is never split */
	assert_int_equal(rt_text_fit(b, sizeof(b), KAN JI KAN JI, 4, true), 3);
	assert_string_equal(b, KAN ELL);
	assert_int_equal(rt_text_fit(b, sizeof(b), KAN JI KAN JI, 5, true), 5);
	assert_string_equal(b, KAN JI ELL);
	assert_int_equal(rt_text_fit(b, sizeof(b), KAN JI KAN JI, 6, false), 5);
	assert_string_equal(b, KAN "...");
	assert_int_equal(rt_text_fit(b, sizeof(b), KAN JI KAN JI, 7, false), 7);
	assert_string_equal(b, KAN JI "...");
	/* narrower than the ellipsis */
	assert_int_equal(rt_text_fit(b, sizeof(b), "Alice", 2, false), 2);
	assert_string_equal(b, "..");
	assert_int_equal(rt_text_fit(b, sizeof(b), "Alice", 1, true), 1);
	assert_string_equal(b, ELL);
	assert_int_equal(rt_text_fit(b, sizeof(b), "Alice", 0, true), 0);
	assert_string_equal(b, "");
	/* invalid bytes and controls become '?' */
	assert_int_equal(rt_text_fit(b, sizeof(b), "a\xff\x1b[2Jb", 20, true), 7);
	assert_string_equal(b, "a??[2Jb");
	assert_int_equal(rt_text_fit(b, sizeof(b), "ab\xe6\xbc" "cdef", 4, true),
	    4);
	assert_string_equal(b, "ab?" ELL);
}

static void
test_fit_small_dst(void **state)
{
	(void)state;
	char b[4];
	/* cut at a character: never half a sequence */
	assert_int_equal(rt_text_fit(b, sizeof(b), E_ACUTE E_ACUTE, 10, true), 1);
	assert_string_equal(b, E_ACUTE);
	assert_int_equal(rt_text_fit(b, 0, "x", 10, true), 0);
}

static void
test_pad(void **state)
{
	(void)state;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	rt_text_pad(f, KAN "x", 6, true);
	fputc('|', f);
	rt_text_pad(f, "Alice Example", 6, true);
	fputc('|', f);
	rt_text_pad(f, "Alice Example", 6, false);
	fputc('|', f);
	rt_text_pad(f, KAN JI KAN, 5, true);
	fputc('|', f);
	fclose(f);
	assert_string_equal(out, KAN "x   |Alice" ELL "|Ali...|" KAN JI ELL "|");
	free(out);
}

typedef struct {
	char lines[8][128];
	size_t n;
} collect;

static void
add_line(void *ctx, const char *line)
{
	collect *c = ctx;
	assert_true(c->n < 8);
	snprintf(c->lines[c->n++], sizeof(c->lines[0]), "%s", line);
}

static void
test_wrap(void **state)
{
	(void)state;
	collect c = { .n = 0 };
	assert_int_equal(rt_text_wrap("subject CN=Alice Example, O=Example Org",
	    16, 0, add_line, &c), 3);
	assert_string_equal(c.lines[0], "subject CN=Alice");
	assert_string_equal(c.lines[1], "Example,");
	assert_string_equal(c.lines[2], "O=Example Org");
	memset(&c, 0, sizeof(c));
	assert_int_equal(rt_text_wrap("one two three four", 9, 4, add_line, &c),
	    3);
	assert_string_equal(c.lines[0], "one");
	assert_string_equal(c.lines[1], "two three");
	assert_string_equal(c.lines[2], "four");
	/* a word longer than a line is broken; wide characters whole */
	memset(&c, 0, sizeof(c));
	assert_int_equal(rt_text_wrap("abcdefghij " KAN JI KAN, 4, 0, add_line,
	    &c), 5);
	assert_string_equal(c.lines[0], "abcd");
	assert_string_equal(c.lines[1], "efgh");
	assert_string_equal(c.lines[2], "ij");
	assert_string_equal(c.lines[3], KAN JI);
	assert_string_equal(c.lines[4], KAN);
	/* newlines break; empty text is one empty line */
	memset(&c, 0, sizeof(c));
	assert_int_equal(rt_text_wrap("a\n\nb", 10, 0, add_line, &c), 3);
	assert_string_equal(c.lines[1], "");
	memset(&c, 0, sizeof(c));
	assert_int_equal(rt_text_wrap("", 10, 0, add_line, &c), 1);
}

static void
test_utf8_locale(void **state)
{
	(void)state;
	unsetenv("LC_ALL");
	unsetenv("LC_CTYPE");
	setenv("LANG", "C.UTF-8", 1);
	assert_true(rt_text_utf8_locale());
	setenv("LANG", "de_DE.utf8", 1);
	assert_true(rt_text_utf8_locale());
	setenv("LC_CTYPE", "C", 1);
	assert_false(rt_text_utf8_locale());
	setenv("LC_ALL", "en_US.UTF-8", 1);
	assert_true(rt_text_utf8_locale());
	setenv("LC_ALL", "", 1);
	assert_false(rt_text_utf8_locale());
	unsetenv("LC_ALL");
	unsetenv("LC_CTYPE");
	unsetenv("LANG");
	assert_false(rt_text_utf8_locale());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_width_ascii),
		cmocka_unit_test(test_width_latin_cjk_combining),
		cmocka_unit_test(test_width_invalid),
		cmocka_unit_test(test_fit_no_cut),
		cmocka_unit_test(test_fit_cut),
		cmocka_unit_test(test_fit_odd_widths),
		cmocka_unit_test(test_fit_small_dst),
		cmocka_unit_test(test_pad),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_utf8_locale),
	};
	return cmocka_run_group_tests_name("util_text", tests, NULL, NULL);
}
