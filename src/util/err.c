/* err.c - error objects; see include/raterm/err.h */
#include "raterm/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rt_err {
	rt_err_kind kind;
	uint16_t sw;
	int detail;
	bool is_static;
	rt_err *cause;
	char msg[240];
};

static rt_err oom_err = {
	.kind = RT_E_NOMEM, .detail = -1, .is_static = true,
	.msg = "out of memory while reporting an error",
};

static const struct {
	const char *name;
	int exit_code;
	const char *desc;
} kinds[] = {
#define RT_X_(n, c, d) { #n, c, d },
	RT_ERR_KINDS(RT_X_)
#undef RT_X_
};

static rt_err *
err_vnew(rt_err_kind kind, uint16_t sw, rt_err *cause, const char *fmt, va_list ap)
{
	rt_err *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		rt_err_free(cause);
		return &oom_err;
	}
	e->kind = kind;
	e->sw = sw;
	e->detail = -1;
	e->cause = cause;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return e;
}

rt_err *
rt_err_new(rt_err_kind kind, rt_err *cause, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_err *e = err_vnew(kind, 0, cause, fmt, ap);
	va_end(ap);
	return e;
}

rt_err *
rt_err_sw(rt_err_kind kind, uint16_t sw, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_err *e = err_vnew(kind, sw, NULL, fmt, ap);
	va_end(ap);
	return e;
}

rt_err *
rt_err_wrap(rt_err *cause, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_err *e = err_vnew(cause ? cause->kind : RT_E_INTERNAL, 0, cause, fmt, ap);
	va_end(ap);
	if (e != &oom_err && cause != NULL)
		e->detail = cause->detail;
	return e;
}

void
rt_err_free(rt_err *e)
{
	while (e != NULL) {
		rt_err *next = e->cause;
		if (!e->is_static)
			free(e);
		e = next;
	}
}

rt_err_kind rt_err_kind_of(const rt_err *e) { return e ? e->kind : RT_E_OK; }
const char *rt_err_msg(const rt_err *e) { return e ? e->msg : ""; }
const rt_err *rt_err_cause(const rt_err *e) { return e ? e->cause : NULL; }
int rt_err_detail(const rt_err *e) { return e ? e->detail : -1; }

void
rt_err_set_detail(rt_err *e, int detail)
{
	if (e != NULL && !e->is_static)
		e->detail = detail;
}

uint16_t
rt_err_sw_of(const rt_err *e)
{
	for (; e != NULL; e = e->cause)
		if (e->sw != 0)
			return e->sw;
	return 0;
}

bool
rt_err_has(const rt_err *e, rt_err_kind kind)
{
	for (; e != NULL; e = e->cause)
		if (e->kind == kind)
			return true;
	return false;
}

const char *
rt_err_kind_name(rt_err_kind kind)
{
	if ((unsigned)kind >= RT_E__COUNT)
		return "Unknown";
	return kinds[kind].name;
}

const char *
rt_err_kind_desc(rt_err_kind kind)
{
	if ((unsigned)kind >= RT_E__COUNT)
		return "unknown error";
	return kinds[kind].desc;
}

int
rt_err_exit_code(const rt_err *e)
{
	if (e == NULL)
		return 0;
	return kinds[e->kind].exit_code;
}

void
rt_err_chain(const rt_err *e, char *buf, size_t len)
{
	size_t off = 0;
	if (len == 0)
		return;
	buf[0] = '\0';
	for (; e != NULL && off < len; e = e->cause) {
		if (e->msg[0] == '\0')
			continue;
		int n = snprintf(buf + off, len - off, "%s%s", off ? ": " : "", e->msg);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

void
rt_err_format(const rt_err *e, char *buf, size_t len)
{
	const rt_err *first = e;
	if (len == 0)
		return;
	rt_err_chain(e, buf, len);
	size_t off = strlen(buf);
	if (first != NULL && off < len - 1) {
		uint16_t sw = rt_err_sw_of(first);
		if (sw != 0)
			snprintf(buf + off, len - off, " [%s, SW %04X]",
			    kinds[first->kind].name, sw);
		else
			snprintf(buf + off, len - off, " [%s]", kinds[first->kind].name);
	}
}
