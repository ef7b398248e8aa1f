/*
 * faultproxy - an HTTP/1.1 proxy on loopback between raterm and cmhost that
 * numbers the HTTP exchanges and spoils one of them (the fault sweep,
 * tests/sweep/sweep.sh).
 *
 *   faultproxy --upstream PORT [--port P | --portfile F] [--fault-at K]
 *              [--fault KIND] [--delay-ms MS] [--notify FILE] [--log FILE]
 *              [--max-conns N] [--max-seconds T]
 *
 * Listens on 127.0.0.1 (port P, or a free one written to F), forwards each
 * request (headers and a Content-Length body) to 127.0.0.1:PORT and the
 * answer back; keep-alive connections stay open on both sides (raterm sends
 * the cr and the certConf on one connection). Exchanges are counted from 1
 * over all connections; at exchange K the fault KIND:
 *   reset-before  the connection reset before the request is forwarded
 *   reset-after   the request forwarded, the connection reset before the
 *                 answer (the CM host has processed it)
 *   http500       the request forwarded, its answer replaced by HTTP 500
 *   truncate      the answer's body cut in half (Content-Length kept), then
 *                 the connection closed (FIN, not a reset)
 *   garbage       the answer's body replaced by as many bytes of garbage
 *   badsig        one byte of the PKIMessage's protection (the signature
 *                 BIT STRING) flipped
 *   delay         the answer sent after --delay-ms (default 10000): past
 *                 raterm's --timeout
 *   notify        the request forwarded, then the line "forwarded K" written
 *                 to --notify FILE; the answer is held until the CM host's
 *                 connection closes (the script SIGKILLs cmhost) or
 *                 --delay-ms passed, then the connection is reset
 * Every exchange gets a line in --log ("K BODY METHOD PATH VERSION -> STATUS
 * [fault] (connection C)", BODY the request's PKIBody: cr, certConf, genm
 * ...; C counts the accepted connections: a kept-alive one serves several).
 * Exits after --max-conns accepted connections (default 64) are done or
 * after --max-seconds (default 300).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "raterm/tlv.h"

#define MAX_MSG (4u << 20)	/* request or answer, headers and body */
#define IDLE_MS 60000		/* a quiet keep-alive client is dropped */

enum fault { F_NONE, F_RESET_BEFORE, F_RESET_AFTER, F_500, F_TRUNCATE, F_GARBAGE,
	F_BADSIG, F_DELAY, F_NOTIFY };

static const char *const fault_names[] = { "none", "reset-before", "reset-after",
	"http500", "truncate", "garbage", "badsig", "delay", "notify" };

typedef struct {
	int upstream_port;
	int port;
	const char *portfile;
	unsigned long fault_at;
	enum fault fault;
	long delay_ms;
	const char *notify;
	FILE *log;
	unsigned long max_conns;
	unsigned long max_seconds;
} opts;

typedef struct {
	unsigned char *buf;
	size_t len;		/* bytes held */
	size_t hdr;		/* header length (through the blank line), 0: not yet */
	size_t body;		/* body length (Content-Length) */
	bool until_close;	/* answer without Content-Length: read to EOF */
} msg;

static unsigned long exchanges;
static unsigned long conns;	/* accepted connections (the log names them) */

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("faultproxy: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void
usage(void)
{
	fputs("usage: faultproxy --upstream PORT [--port P | --portfile F] [--fault-at K]\n"
	    "                  [--fault reset-before|reset-after|http500|truncate|garbage|\n"
	    "                   badsig|delay|notify] [--delay-ms MS] [--notify FILE]\n"
	    "                  [--log FILE] [--max-conns N] [--max-seconds T]\n", stderr);
	exit(2);
}

static unsigned long
num(const char *s, unsigned long max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max)
		die("%s: bad number \"%s\" (0 to %lu)", what, s, max);
	return v;
}

static void
parse(int argc, char **argv, opts *o)
{
	memset(o, 0, sizeof *o);
	o->delay_ms = 10000;
	o->max_conns = 64;
	o->max_seconds = 300;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			usage();
		i++;
		if (!strcmp(a, "--upstream"))
			o->upstream_port = (int)num(v, 65535, a);
		else if (!strcmp(a, "--port"))
			o->port = (int)num(v, 65535, a);
		else if (!strcmp(a, "--portfile"))
			o->portfile = v;
		else if (!strcmp(a, "--fault-at"))
			o->fault_at = num(v, 1000000, a);
		else if (!strcmp(a, "--fault")) {
			size_t k;

			for (k = 0; k < sizeof fault_names / sizeof *fault_names; k++)
				if (!strcmp(v, fault_names[k]))
					break;
			if (k == sizeof fault_names / sizeof *fault_names)
				die("--fault: unknown kind \"%s\"", v);
			o->fault = (enum fault)k;
		} else if (!strcmp(a, "--delay-ms"))
			o->delay_ms = (long)num(v, 3600000, a);
		else if (!strcmp(a, "--notify"))
			o->notify = v;
		else if (!strcmp(a, "--log")) {
			if ((o->log = fopen(v, "a")) == NULL)
				die("%s: %s", v, strerror(errno));
			setvbuf(o->log, NULL, _IOLBF, 0);
		} else if (!strcmp(a, "--max-conns"))
			o->max_conns = num(v, 1000000, a);
		else if (!strcmp(a, "--max-seconds"))
			o->max_seconds = num(v, 86400, a);
		else
			usage();
	}
	if (o->upstream_port == 0)
		usage();
	if (o->fault == F_NOTIFY && o->notify == NULL)
		die("--fault notify wants --notify FILE");
}

static void
reset_close(int fd)
{
	struct linger l = { 1, 0 };

	if (fd < 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	close(fd);
}

static int
wait_in(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	return r;
}

static bool
send_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		b += w;
		n -= (size_t)w;
	}
	return true;
}

/* The header's Content-Length, -1 if absent. */
static long
content_length(const unsigned char *h, size_t len)
{
	const char *p = (const char *)h, *end = p + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (eol == NULL)
			break;
		if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
			return strtol(p + 15, NULL, 10);
		p = eol + 1;
	}
	return -1;
}

/*
 * Reads one HTTP message from fd into m (a request, or an answer if
 * `answer`). Returns 1 when whole, 0 on EOF before any byte, -1 on an
 * error, a timeout or EOF inside the message (an answer read to EOF is
 * whole at EOF).
 */
static int
read_msg(int fd, msg *m, bool answer, int timeout_ms)
{
	memset(m, 0, sizeof *m);
	if ((m->buf = malloc(MAX_MSG)) == NULL)
		die("out of memory");
	for (;;) {
		ssize_t r;

		if (m->hdr != 0 && !m->until_close && m->len >= m->hdr + m->body)
			return 1;
		if (m->len == MAX_MSG)
			return -1;
		if (wait_in(fd, timeout_ms) <= 0)
			return -1;
		r = recv(fd, m->buf + m->len, MAX_MSG - m->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (m->len == 0)
				return 0;
			return m->until_close ? 1 : -1;
		}
		m->len += (size_t)r;
		if (m->hdr == 0) {
			size_t e = 0;
			long cl;

			while (e + 4 <= m->len && memcmp(m->buf + e, "\r\n\r\n", 4) != 0)
				e++;
			if (e + 4 > m->len)
				continue;
			m->hdr = e + 4;
			cl = content_length(m->buf, m->hdr);
			if (cl < 0 && answer)
				m->until_close = true;
			else if (cl < 0)
				m->body = 0;
			else if ((unsigned long)cl > MAX_MSG)
				return -1;
			else
				m->body = (size_t)cl;
		}
	}
}

static int
status_of(const msg *m)
{
	if (m->len < 12 || memcmp(m->buf, "HTTP/1.", 7) != 0)
		return 0;
	return atoi((const char *)m->buf + 9);
}

/* Opens the PKIMessage in m's body: `in` over its fields. */
static bool
pkimessage(const msg *m, tlv_cur *in)
{
	tlv_cur c;
	const uint8_t *v;
	size_t vlen;
	rt_err *e;

	tlv_init(&c, m->buf + m->hdr, m->len - m->hdr);
	if ((e = tlv_expect(&c, 0x30, &v, &vlen)) != NULL) {
		rt_err_free(e);
		return false;
	}
	tlv_init(in, v, vlen);
	return true;
}

/* Flips the last byte of the PKIMessage's protection ([0] at its top level). */
static bool
break_protection(msg *m)
{
	tlv_cur in;
	uint32_t tag;
	const uint8_t *v;
	size_t vlen;
	rt_err *e;

	if (!pkimessage(m, &in))
		return false;
	while (!tlv_at_end(&in)) {
		if ((e = tlv_next(&in, &tag, &v, &vlen)) != NULL) {
			rt_err_free(e);
			return false;
		}
		if (tag == 0xA0 && vlen > 0) {
			((uint8_t *)v)[vlen - 1] ^= 0x01;
			return true;
		}
	}
	return false;
}

static int
connect_upstream(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The PKIBody's name of a request (the tag of its body: cr, certConf ...). */
static const char *
body_name(const msg *req)
{
	static const char *const names[] = { "ir", "ip", "cr", "cp", "p10cr", "popdecc",
		"popdecr", "kur", "kup", "krr", "krp", "rr", "rp", "ccr", "ccp", "ckuann",
		"cann", "rann", "crlann", "pkiconf", "nested", "genm", "genp", "error",
		"certConf", "pollReq", "pollRep" };
	tlv_cur in;
	uint32_t tag;
	const uint8_t *v;
	size_t vlen;
	rt_err *e;

	if (!pkimessage(req, &in))
		return "?";
	if ((e = tlv_expect(&in, 0x30, &v, &vlen)) != NULL ||
	    (e = tlv_next(&in, &tag, &v, &vlen)) != NULL) {
		rt_err_free(e);
		return "?";
	}
	if (tag >= 0xA0 && tag - 0xA0 < sizeof names / sizeof *names)
		return names[tag - 0xA0];
	return "?";
}

static void
logx(const opts *o, unsigned long k, const msg *req, const char *what)
{
	char line[128];
	size_t n = 0;

	if (o->log == NULL)
		return;
	while (n < req->len && n < sizeof line - 1 && req->buf[n] != '\r' && req->buf[n] != '\n') {
		line[n] = (char)req->buf[n];
		n++;
	}
	line[n] = '\0';
	fprintf(o->log, "%lu %s %s -> %s (connection %lu)\n", k, body_name(req), line, what,
	    conns);
}

static void
reply_500(int fd)
{
	static const char r[] = "HTTP/1.1 500 Internal Server Error\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 14\r\n\r\nfault injected";

	(void)send_all(fd, r, sizeof r - 1);
}

/* Waits until up (the CM host) closes or ms pass; nothing is relayed. */
static void
hold(int up, long ms)
{
	struct timespec t0, t;
	unsigned char b[4096];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || wait_in(up, (int)left) <= 0)
			return;
		if (recv(up, b, sizeof b, 0) <= 0)
			return;
	}
}

/*
 * Serves one client connection (keep-alive: request after request). Returns
 * when the client closes, a fault ended it, or a new connection waits while
 * the client is idle between requests.
 */
static void
serve(const opts *o, int cl, int lfd)
{
	int up = -1;

	for (;;) {
		struct pollfd p[2] = { { .fd = cl, .events = POLLIN }, { .fd = lfd, .events = POLLIN } };
		msg req, ans;
		unsigned long k;
		int r;
		bool faulty;

		if (poll(p, 2, IDLE_MS) <= 0)
			break;
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			break;	/* a new client while this one is idle */
		r = read_msg(cl, &req, false, IDLE_MS);
		if (r <= 0) {
			free(req.buf);
			break;
		}
		k = ++exchanges;
		faulty = k == o->fault_at && o->fault != F_NONE;
		if (faulty && o->fault == F_RESET_BEFORE) {
			logx(o, k, &req, "reset before forwarding [reset-before]");
			free(req.buf);
			reset_close(cl);
			cl = -1;
			break;
		}
		if (up < 0 && (up = connect_upstream(o->upstream_port)) < 0) {
			logx(o, k, &req, "upstream down: reset");
			free(req.buf);
			reset_close(cl);
			cl = -1;
			break;
		}
		if (!send_all(up, req.buf, req.len)) {
			logx(o, k, &req, "upstream send failed: reset");
			free(req.buf);
			reset_close(cl);
			cl = -1;
			break;
		}
		if (faulty && o->fault == F_NOTIFY) {
			FILE *f = fopen(o->notify, "a");

			if (f != NULL) {
				fprintf(f, "forwarded %lu\n", k);
				fclose(f);
			}
			hold(up, o->delay_ms);
			logx(o, k, &req, "forwarded, answer held, reset [notify]");
			free(req.buf);
			reset_close(cl);
			cl = -1;
			break;
		}
		r = read_msg(up, &ans, true, 120000);
		if (r <= 0) {
			logx(o, k, &req, "no answer from upstream: reset");
			free(req.buf);
			free(ans.buf);
			reset_close(cl);
			cl = -1;
			break;
		}
		if (ans.until_close) {
			close(up);
			up = -1;
		}
		if (faulty) {
			char what[64];
			bool keep = true;

			snprintf(what, sizeof what, "%d [%s]", status_of(&ans), fault_names[o->fault]);
			switch (o->fault) {
			case F_RESET_AFTER:
				keep = false;
				break;
			case F_500:
				reply_500(cl);
				break;
			case F_TRUNCATE:
				/* the rest never comes: an orderly close */
				(void)send_all(cl, ans.buf, ans.hdr + ans.body / 2);
				(void)shutdown(cl, SHUT_WR);
				keep = false;
				break;
			case F_GARBAGE:
				for (size_t i = ans.hdr; i < ans.len; i++)
					ans.buf[i] = (unsigned char)(0xA5 ^ (i * 7));
				(void)send_all(cl, ans.buf, ans.len);
				break;
			case F_BADSIG:
				if (!break_protection(&ans))
					snprintf(what, sizeof what, "%d [badsig: no protection]",
					    status_of(&ans));
				(void)send_all(cl, ans.buf, ans.len);
				break;
			case F_DELAY:
				(void)wait_in(cl, (int)o->delay_ms);
				(void)send_all(cl, ans.buf, ans.len);
				break;
			default:
				break;
			}
			logx(o, k, &req, what);
			free(req.buf);
			free(ans.buf);
			if (!keep) {
				if (o->fault == F_TRUNCATE)
					close(cl);
				else
					reset_close(cl);
				cl = -1;
				break;
			}
			continue;
		} else {
			char what[16];

			snprintf(what, sizeof what, "%d", status_of(&ans));
			logx(o, k, &req, what);
		}
		r = send_all(cl, ans.buf, ans.len);
		free(req.buf);
		free(ans.buf);
		if (!r)
			break;
	}
	if (cl >= 0)
		close(cl);
	if (up >= 0)
		close(up);
}

int
main(int argc, char **argv)
{
	opts o;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof a;
	int lfd, one = 1;

	parse(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	alarm((unsigned)o.max_seconds);	/* bounded: SIGALRM ends it */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)o.port);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket: %s", strerror(errno));
	(void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 16) != 0)
		die("127.0.0.1:%d: %s", o.port, strerror(errno));
	if (getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
		die("getsockname: %s", strerror(errno));
	if (o.portfile != NULL) {
		char tmp[4096];
		FILE *f;

		snprintf(tmp, sizeof tmp, "%s.tmp", o.portfile);
		if ((f = fopen(tmp, "w")) == NULL)
			die("%s: %s", tmp, strerror(errno));
		fprintf(f, "%d\n", ntohs(a.sin_port));
		if (fclose(f) != 0 || rename(tmp, o.portfile) != 0)
			die("%s: %s", o.portfile, strerror(errno));
	}
	while (conns < o.max_conns) {
		int cl = accept(lfd, NULL, NULL);

		if (cl < 0) {
			if (errno == EINTR)
				continue;
			die("accept: %s", strerror(errno));
		}
		conns++;
		serve(&o, cl, lfd);
	}
	close(lfd);
	if (o.log != NULL)
		fclose(o.log);
	return 0;
}
