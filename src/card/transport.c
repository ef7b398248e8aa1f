/* transport.c - transport dispatch, ATR capabilities, hex helpers and the
 * scripted transport for unit tests; see include/raterm/transport.h */
#include "raterm/transport.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Commands whose data is a secret: VERIFY, CHANGE REFERENCE DATA, RESET
 * RETRY COUNTER, management-key authentication, SET MANAGEMENT KEY and
 * IMPORT KEY. Their data never reaches a trace. */
static bool
secret_cmd(const uint8_t *b, size_t n)
{
	if (n < 4)
		return false;
	switch (b[1]) {
	case 0x20: case 0x24: case 0x2C: case 0xFF: case 0xFE:
		return true;
	case 0x87:
		return b[3] == 0x9B;
	default:
		return false;
	}
}

static void
trace_line(FILE *f, char dir, const uint8_t *b, size_t n, bool redact)
{
	fputc(dir, f);
	fputc(' ', f);
	rt_hex_write(f, b, redact && n > 4 ? 4 : n, RT_HEX_UPPER);
	if (redact && n > 4)
		fprintf(f, " <%zu bytes withheld>", n - 4);
	fputc('\n', f);
}

rt_err *
rt_transport_transmit(rt_transport *t, const uint8_t *cmd, size_t clen,
    uint8_t *rsp, size_t cap, size_t *rlen)
{
	if (t == NULL || cmd == NULL || clen < 4 || rsp == NULL || cap < 2)
		return rt_err_new(RT_E_ARG, NULL, "invalid APDU buffers");
	t->apdu_count++;
	bool redact = secret_cmd(cmd, clen);
	if (t->trace != NULL)
		trace_line(t->trace, '>', cmd, clen, redact);
	rt_err *e = t->ops->transmit(t, cmd, clen, rsp, cap, rlen);
	if (e != NULL)
		return e;
	if (*rlen < 2)
		return rt_err_new(RT_E_TRANSPORT, NULL,
		    "reader %s: response of %zu bytes has no status word",
		    t->reader, *rlen);
	if (t->trace != NULL)
		trace_line(t->trace, '<', rsp, *rlen, redact && *rlen > 2);
	return NULL;
}

rt_err *
rt_transport_begin(rt_transport *t)
{
	return t->ops->begin ? t->ops->begin(t) : NULL;
}

void
rt_transport_end(rt_transport *t)
{
	if (t->ops->end)
		t->ops->end(t);
}

void
rt_transport_close(rt_transport *t)
{
	if (t != NULL)
		t->ops->close(t);
}

void
rt_transport_atr_caps(rt_transport *t)
{
	const uint8_t *a = t->atr;
	size_t n = t->atr_len, i = 1;
	t->ext_len = false;
	if (n < 2)
		return;
	size_t hist = a[1] & 0x0F;
	uint8_t y = a[1] & 0xF0;
	i = 2;
	for (;;) {
		if (y & 0x10) i++;
		if (y & 0x20) i++;
		if (y & 0x40) i++;
		if (!(y & 0x80))
			break;
		if (i >= n)
			return;
		y = a[i++] & 0xF0;
	}
	if (i + hist > n || hist == 0)
		return;
	const uint8_t *h = a + i;
	size_t end = hist, j;
	if (h[0] == 0x80)
		j = 1;
	else if (h[0] == 0x00 && hist >= 4) {
		j = 1;
		end = hist - 3;
	} else
		return;
	while (j < end) {
		uint8_t tag = h[j] >> 4, len = h[j] & 0x0F;
		if (j + 1 + len > end)
			return;
		if (tag == 0x7 && len >= 3)
			t->ext_len = (h[j + 3] & 0x40) != 0;
		j += 1 + len;
	}
}

/* ---- scripted transport ------------------------------------------------- */

typedef struct {
	const char *const *script;
	size_t pos;
	size_t count;
} script_t;

static rt_err *
script_transmit(rt_transport *t, const uint8_t *cmd, size_t clen,
    uint8_t *rsp, size_t cap, size_t *rlen)
{
	script_t *s = t->impl;
	static uint8_t exp[RT_APDU_MAX_CMD];
	size_t elen;
	rt_err *e;

	if (s->pos >= s->count)
		return rt_err_new(RT_E_PROTOCOL, NULL,
		    "script: unexpected command after the end of the script");
	const char *line = s->script[s->pos];
	if (strncmp(line, "! removed", 9) == 0) {
		s->pos++;
		return rt_err_new(RT_E_CARD_REMOVED, NULL, "script: card removed");
	}
	if (line[0] != '>')
		return rt_err_new(RT_E_INTERNAL, NULL,
		    "script line %zu: expected '>'", s->pos + 1);
	char buf[2 * RT_APDU_MAX_CMD + 8];
	snprintf(buf, sizeof(buf), "%s", line + 1);
	char *star = strchr(buf, '*');
	if (star != NULL)
		*star = '\0';
	if ((e = rt_hex_decode(buf, strlen(buf), exp, sizeof(exp), &elen,
	    RT_HEX_LOOSE)) != NULL)
		return rt_err_wrap(e, "script line %zu", s->pos + 1);
	if ((star == NULL && clen != elen) || clen < elen ||
	    memcmp(cmd, exp, elen) != 0) {
		char got[96];
		rt_hex_encode(cmd, clen < 40 ? clen : 40, got, sizeof(got), 0);
		return rt_err_new(RT_E_PROTOCOL, NULL,
		    "script line %zu: command %s does not match '%s'",
		    s->pos + 1, got, line + 1);
	}
	s->pos++;
	if (s->pos >= s->count || s->script[s->pos][0] != '<')
		return rt_err_new(RT_E_INTERNAL, NULL,
		    "script line %zu: expected '<'", s->pos + 1);
	const char *r = s->script[s->pos] + 1;
	e = rt_hex_decode(r, strlen(r), rsp, cap, rlen, RT_HEX_LOOSE);
	s->pos++;
	return e;
}

static void
script_close(rt_transport *t)
{
	free(t->impl);
	free(t);
}

static const rt_transport_ops script_ops = {
	.kind = "script",
	.transmit = script_transmit,
	.close = script_close,
};

rt_err *
rt_script_open(const char *const *script, rt_transport **out)
{
	rt_transport *t = calloc(1, sizeof(*t));
	script_t *s = calloc(1, sizeof(*s));
	if (t == NULL || s == NULL) {
		free(t);
		free(s);
		return rt_err_new(RT_E_NOMEM, NULL, "script transport");
	}
	s->script = script;
	while (script[s->count] != NULL)
		s->count++;
	t->ops = &script_ops;
	t->impl = s;
	t->ext_len = true;
	snprintf(t->reader, sizeof(t->reader), "script");
	*out = t;
	return NULL;
}

size_t
rt_script_left(const rt_transport *t)
{
	const script_t *s = t->impl;
	return s->count - s->pos;
}
