/* pin.c - PINs and passphrases for the command line; see cli_crypto.h */
#include "cli_crypto.h"
#include "raterm/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRETS_MAX 4096

struct cli_secrets {
	bool from_fd;
	char buf[SECRETS_MAX];	/* NAME=VALUE\0 ... */
	size_t len;
	/* terminal answers kept for the next ask of the same name (one
	 * card's PIN for its TC controls and its submit), NAME=VALUE\0 ... */
	char typed[1024];
	size_t tlen;
};

int
cli_parse_fd(const char *cmd, const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 1023) {
		fprintf(stderr, "raterm %s: --pin-fd wants a file descriptor "
		    "number, not '%s'\n", cmd, s);
		return -1;
	}
	return (int)v;
}

rt_err *
cli_secrets_open(int fd, cli_secrets **out)
{
	cli_secrets *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "secrets");
	*out = s;
	if (fd < 0)
		return NULL;
	s->from_fd = true;
	for (;;) {
		ssize_t r = read(fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cli_secrets_free(s);
			*out = NULL;
			return rt_err_new(RT_E_IO, NULL, "--pin-fd %d: %s", fd,
			    strerror(errno));
		}
		if (r == 0)
			break;
		s->len += (size_t)r;
		if (s->len == sizeof(s->buf) - 1)
			break;
	}
	close(fd);
	/* lines -> NUL-separated entries */
	for (size_t i = 0; i < s->len; i++)
		if (s->buf[i] == '\n' || s->buf[i] == '\r')
			s->buf[i] = '\0';
	for (size_t i = 0; i < s->len; i += strlen(s->buf + i) + 1) {
		const char *line = s->buf + i;
		if (line[0] != '\0' && line[0] != '#' && strchr(line, '=') == NULL) {
			cli_secrets_free(s);
			*out = NULL;
			return rt_err_new(RT_E_USAGE, NULL, "--pin-fd: a line without "
			    "NAME= (expected e.g. card=123456)");
		}
	}
	return NULL;
}

void
cli_secrets_free(cli_secrets *s)
{
	if (s == NULL)
		return;
	rt_wipe(s, sizeof(*s));
	free(s);
}

/* Asks on the controlling terminal (rt_tty_read); a secret's error
 * names the option that gives it without a terminal. */
static rt_err *
tty_read(const char *prompt, bool echo, char *buf, size_t cap, size_t *len)
{
	return rt_tty_read(prompt, echo, echo ? NULL : "use --pin-fd", buf, cap,
	    len);
}

static rt_err *
ask_tty(const char *prompt, char *buf, size_t cap, size_t *len)
{
	return tty_read(prompt, false, buf, cap, len);
}

rt_err *
cli_ask_text(const char *prompt, char *buf, size_t cap, size_t *len)
{
	return tty_read(prompt, true, buf, cap, len);
}

/* The entry `name` of a NAME=VALUE\0 list, NULL if none. */
static const char *
entry_find(const char *list, size_t len, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < len; i += strlen(list + i) + 1)
		if (strncmp(list + i, name, nl) == 0 && list[i + nl] == '=')
			return list + i + nl + 1;
	return NULL;
}

static rt_err *
typed_get(cli_secrets *s, const char *name, const char *prompt, char *buf,
    size_t cap, size_t *len)
{
	const char *v = entry_find(s->typed, s->tlen, name);
	if (v != NULL) {
		size_t vl = strlen(v);
		if (vl > cap)
			return rt_err_new(RT_E_ARG, NULL, "%s: too long", prompt);
		memcpy(buf, v, vl);
		*len = vl;
		return NULL;
	}
	rt_err *e = ask_tty(prompt, buf, cap, len);
	if (e != NULL)
		return e;
	size_t nl = strlen(name);
	if (memchr(buf, '\0', *len) == NULL &&
	    s->tlen + nl + 1 + *len + 1 <= sizeof(s->typed)) {
		char *d = s->typed + s->tlen;
		memcpy(d, name, nl);
		d[nl] = '=';
		memcpy(d + nl + 1, buf, *len);
		d[nl + 1 + *len] = '\0';
		s->tlen += nl + 1 + *len + 1;
	}
	return NULL;
}

bool
cli_secret_known(const cli_secrets *s, const char *name)
{
	return s->from_fd ? entry_find(s->buf, s->len, name) != NULL :
	    entry_find(s->typed, s->tlen, name) != NULL;
}

void
cli_secret_forget(cli_secrets *s, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < s->tlen;) {
		size_t el = strlen(s->typed + i) + 1;
		if (strncmp(s->typed + i, name, nl) == 0 &&
		    s->typed[i + nl] == '=') {
			memmove(s->typed + i, s->typed + i + el, s->tlen - i - el);
			s->tlen -= el;
			rt_wipe(s->typed + s->tlen, el);
		} else
			i += el;
	}
}

rt_err *
cli_secret_get(cli_secrets *s, const char *name, const char *prompt,
    char *buf, size_t cap, size_t *len)
{
	if (s == NULL)
		return rt_err_new(RT_E_ARG, NULL, "%s: no secrets at hand", prompt);
	if (!s->from_fd)
		return typed_get(s, name, prompt, buf, cap, len);
	size_t nl = strlen(name);
	for (size_t i = 0; i < s->len; i += strlen(s->buf + i) + 1) {
		const char *line = s->buf + i;
		if (strncmp(line, name, nl) == 0 && line[nl] == '=') {
			size_t vl = strlen(line + nl + 1);
			if (vl > cap)
				return rt_err_new(RT_E_ARG, NULL, "--pin-fd: %s too long",
				    name);
			memcpy(buf, line + nl + 1, vl);
			*len = vl;
			return NULL;
		}
	}
	return rt_err_new(RT_E_USAGE, NULL, "--pin-fd has no '%s=' line (%s)",
	    name, prompt);
}

rt_err *
cli_pin_cb(void *ctx, const char *prompt, char *buf, size_t cap, size_t *len)
{
	cli_pin_ctx *pc = ctx;
	return cli_secret_get(pc->secrets, pc->name, prompt, buf, cap, len);
}

const char *
cli_default_creds_words(unsigned defaults, char *buf, size_t cap)
{
	const char *w[3];
	size_t n = 0, o = 0;
	if (defaults & PIV_DEFAULT_PIN) w[n++] = "PIN";
	if (defaults & PIV_DEFAULT_PUK) w[n++] = "PUK";
	if (defaults & PIV_DEFAULT_MGMT) w[n++] = "management key";
	if (cap > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < n && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%s",
		    i == 0 ? "" : i + 1 == n ? " and " : ", ", w[i]);
	return buf;
}

void
cli_default_creds_json(FILE *f, bool known, unsigned defaults)
{
	const char *sep = "";
	if (!known) {
		fputs("null", f);
		return;
	}
	fputc('[', f);
	if (defaults & PIV_DEFAULT_PIN) {
		fprintf(f, "%s\"pin\"", sep);
		sep = ", ";
	}
	if (defaults & PIV_DEFAULT_PUK) {
		fprintf(f, "%s\"puk\"", sep);
		sep = ", ";
	}
	if (defaults & PIV_DEFAULT_MGMT)
		fprintf(f, "%s\"management_key\"", sep);
	fputc(']', f);
}
