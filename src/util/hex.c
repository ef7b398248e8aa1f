/* hex.c - the hex codec; see include/raterm/util.h */
#include "raterm/util.h"

static const char lower[] = "0123456789abcdef";
static const char upper[] = "0123456789ABCDEF";

size_t
rt_hex_encode(const uint8_t *b, size_t n, char *out, size_t cap,
    unsigned flags)
{
	const char *d = flags & RT_HEX_UPPER ? upper : lower;
	size_t o = 0;
	if (cap == 0)
		return 0;
	for (size_t i = 0; i < n && o + 2 < cap; i++) {
		out[o++] = d[b[i] >> 4];
		out[o++] = d[b[i] & 15];
	}
	out[o] = '\0';
	return o;
}

int
rt_hex_write(FILE *f, const uint8_t *b, size_t n, unsigned flags)
{
	const char *d = flags & RT_HEX_UPPER ? upper : lower;
	for (size_t i = 0; i < n; i++)
		if (putc(d[b[i] >> 4], f) == EOF || putc(d[b[i] & 15], f) == EOF)
			return -1;
	return 0;
}

static int
digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

rt_err *
rt_hex_decode(const char *hex, size_t len, uint8_t *out, size_t cap,
    size_t *outlen, unsigned flags)
{
	size_t n = 0;
	int hi = -1;
	for (size_t i = 0; i < len && hex[i] != '\0'; i++) {
		unsigned char c = (unsigned char)hex[i];
		if ((flags & RT_HEX_LOOSE) && (c == ' ' || c == '\t' ||
		    c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == ':'))
			continue;
		int v = digit(c);
		if (v < 0)
			return rt_err_new(RT_E_FORMAT, NULL,
			    "invalid hex character '%c' at position %zu",
			    c >= 0x20 && c < 0x7f ? c : '?', i);
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= cap)
			return rt_err_new(RT_E_TOO_BIG, NULL,
			    "hex string longer than %zu bytes", cap);
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	if (hi >= 0)
		return rt_err_new(RT_E_FORMAT, NULL, "odd number of hex digits");
	*outlen = n;
	return NULL;
}
