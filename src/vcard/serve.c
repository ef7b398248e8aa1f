/*
 * serve.c - `vpiv serve`, `vp15 serve`: virtual cards behind vsmartcard's
 * vpcd reader driver, driven through their card ops (vcard.h).
 *
 * vpcd runs inside pcscd. With a DEVICENAME of the form "HOST:PORT" it works
 * in "reversed" mode: vpcd connects to the card, which listens. One DEVICENAME
 * gives two readers, "<FRIENDLYNAME> 00 00" on PORT and "... 00 01" on
 * PORT+1, so `vpiv serve` always listens on both ports (pcscd 1.9.9 with
 * vpcd 3.3 aborts if nothing listens on one of them at start). A port without
 * a card is an empty reader.
 *
 * Wire format, both ways: 2-byte big-endian length, then the payload.
 * One-byte messages from vpcd are control messages: 00 power off, 01 power
 * on, 02 reset, 04 get ATR; only 04 is answered (the ATR, or a zero-length
 * message for "no card"). Longer messages are command APDUs, answered with
 * response data + SW.
 *
 * Removal (measured with Debian's vsmartcard 3.3, see docs/stack.md). Any
 * way a card can say "gone" - a zero-length answer to get-ATR, a closed
 * socket - makes vpcd drop the connection. In reversed mode vpcd then
 * aborts pcscd at its next presence poll (it select()s on fd -1), so in
 * that mode cards are always present: toggles are refused, --drop-at is
 * refused and a reader without STATE gets an in-memory blank card.
 * --connect uses vpcd's normal mode (DEVICENAME /dev/null:P: vpcd listens,
 * the card connects): a pulled card closes its connection and connects
 * again when re-inserted; an empty reader never connects. An APDU that
 * finds the card pulled (--drop-at N) is not answered, the connection is
 * closed: vpcd then returns that APDU as a *successful zero-length
 * response*, the next command fails (SCARD_E_NOT_TRANSACTED or
 * SCARD_W_REMOVED_CARD) and within ~400 ms the reader shows no card. A
 * zero-length answer alone is worse: vpcd waits for more bytes forever.
 *
 * Latency. Debian's vpcd writes the length and the body of a message in two
 * send() calls; without TCP_QUICKACK before every recv() (and TCP_NODELAY)
 * each APDU waits ~40 ms for a delayed ACK. --no-quickack exists only to
 * measure that.
 *
 * Everything runs in one thread: poll() over the listening sockets, the
 * connections and a self-pipe that carries signals.
 */
#include "raterm/vcard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SERVE_NSLOTS   2
#define SERVE_MSG_MAX  0xFFFF          /* the length prefix is 16 bits */

enum {
	CTRL_POWER_OFF = 0x00,
	CTRL_POWER_ON  = 0x01,
	CTRL_RESET     = 0x02,
	CTRL_GET_ATR   = 0x04,
};

typedef struct {
	unsigned port;
	int lfd;                      /* listening socket */
	int cfd;                      /* connection from vpcd, or -1 */
	void *card;                   /* NULL: empty reader */
	const char *state;            /* state file (for messages) */
	bool present;                 /* card inserted */
	size_t have;                  /* bytes buffered in `in` */
	struct timespec retry_at;     /* connect mode: next connect attempt */
	uint8_t in[2 + SERVE_MSG_MAX];
	uint8_t out[2 + SERVE_MSG_MAX];
} serve_slot;

typedef struct {
	const char *host;
	unsigned port;
	const char *state[SERVE_NSLOTS];
	int nstate;
	const char *trace;
	const char *pidfile;
	const char *portfile;
	uint64_t drop_at;
	uint64_t sw_at;
	uint16_t sw;
	uint64_t stall_at;
	uint64_t stall_ms;
	int fault_reader;
	bool quickack;
	bool verbose;
	bool connect;                 /* vpcd listens, the card connects */
} serve_opts;

static int sig_pipe[2] = { -1, -1 };

/* The kind of card served (vpiv's or another virtual card's). */
static const vcard_ops *card_ops;

static void serve_log(const char *fmt, ...) RT_PRINTF(1, 2);

/* A line on stderr: "<card> serve: ...". */
static void
serve_log(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s serve: ", card_ops->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static void
serve_on_signal(int signo)
{
	int saved = errno;
	unsigned char b = (unsigned char)signo;
	if (write(sig_pipe[1], &b, 1) < 0) {
		/* pipe full: the signal is dropped, nothing better to do */
	}
	errno = saved;
}

static void
serve_usage(FILE *f)
{
	fprintf(f, "usage: %s serve --port P [--host ADDR] [--connect] STATE0 [STATE1]\n",
	    card_ops->name);
	fprintf(f,
	    "                  [--trace FILE] [--drop-at N] [--sw-at N:SW]\n"
	    "                  [--stall-at N:MS]\n"
	    "                  [--fault-reader 0|1] [--pidfile F] [--portfile F]\n"
	    "                  [--no-quickack] [-v]\n"
	    "Serves the cards of reader 0 (port P) and reader 1 (port P+1) of one\n"
	    "vpcd DEVICENAME. Default (reversed mode, DEVICENAME ADDR:P): listens\n"
	    "on ADDR (default 127.0.0.1); cards are always present. --connect\n"
	    "(DEVICENAME /dev/null:P): connects to vpcd on ADDR; cards can be\n"
	    "pulled (SIGUSR1/SIGUSR2 toggle reader 0/1, --drop-at N).\n"
	    "STATE \"-\" is an empty reader, \"mem:\" an in-memory blank card.\n"
	    "--port 0 picks two free consecutive ports (see --portfile).\n"
	    "Faults, on the card of --fault-reader (default 0), counting its APDUs\n"
	    "from 1: --drop-at N pulls the card when APDU N arrives (not answered);\n"
	    "--sw-at N:SW answers APDU N with status word SW (hex) only; --stall-at\n"
	    "N:MS makes the card sleep MS milliseconds before it handles APDU N (a\n"
	    "slow card: the client waits there; the log and the trace say so).\n");
}

static rt_err * RT_MUST
serve_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (s[0] == '\0' || s[0] == '-' || *end != '\0' || errno != 0 || v > max)
		return rt_err_new(RT_E_USAGE, NULL, "bad number \"%s\"", s);
	*out = v;
	return NULL;
}

static rt_err * RT_MUST
serve_parse_args(int argc, char **argv, serve_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->quickack = true;
	bool have_port = false;
	rt_err *e = NULL;
	uint64_t v;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = (i + 1 < argc) ? argv[i + 1] : NULL;
		bool takes = true;

		if (strcmp(a, "--no-quickack") == 0) {
			o->quickack = false;
			takes = false;
		} else if (strcmp(a, "--connect") == 0) {
			o->connect = true;
			takes = false;
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o->verbose = true;
			takes = false;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			return rt_err_new(RT_E_USAGE, NULL, "help");
		} else if (a[0] == '-' && a[1] == '-') {
			if (val == NULL)
				return rt_err_new(RT_E_USAGE, NULL, "%s needs a value", a);
		} else {
			if (o->nstate == SERVE_NSLOTS)
				return rt_err_new(RT_E_USAGE, NULL,
				    "at most %d state files", SERVE_NSLOTS);
			o->state[o->nstate++] = a;
			continue;
		}
		if (!takes)
			continue;
		i++;
		if (strcmp(a, "--port") == 0) {
			if ((e = serve_parse_u64(val, 65534, &v)) != NULL)
				return rt_err_wrap(e, "--port");
			o->port = (unsigned)v;
			have_port = true;
		} else if (strcmp(a, "--host") == 0) {
			o->host = val;
		} else if (strcmp(a, "--trace") == 0) {
			o->trace = val;
		} else if (strcmp(a, "--pidfile") == 0) {
			o->pidfile = val;
		} else if (strcmp(a, "--portfile") == 0) {
			o->portfile = val;
		} else if (strcmp(a, "--drop-at") == 0) {
			if ((e = serve_parse_u64(val, UINT64_MAX, &o->drop_at)) != NULL)
				return rt_err_wrap(e, "--drop-at");
		} else if (strcmp(a, "--sw-at") == 0) {
			char n[32];
			const char *colon = strchr(val, ':');
			if (colon == NULL || (size_t)(colon - val) >= sizeof(n))
				return rt_err_new(RT_E_USAGE, NULL, "--sw-at wants N:SW, e.g. 5:6A82");
			memcpy(n, val, (size_t)(colon - val));
			n[colon - val] = '\0';
			if ((e = serve_parse_u64(n, UINT64_MAX, &o->sw_at)) != NULL)
				return rt_err_wrap(e, "--sw-at");
			char *end;
			errno = 0;
			unsigned long sw = strtoul(colon + 1, &end, 16);
			if (colon[1] == '\0' || *end != '\0' || errno != 0 || sw > 0xFFFF)
				return rt_err_new(RT_E_USAGE, NULL, "--sw-at: bad status word \"%s\"", colon + 1);
			o->sw = (uint16_t)sw;
		} else if (strcmp(a, "--stall-at") == 0) {
			char n[32];
			const char *colon = strchr(val, ':');
			if (colon == NULL || (size_t)(colon - val) >= sizeof(n))
				return rt_err_new(RT_E_USAGE, NULL, "--stall-at wants N:MS, e.g. 40:5000");
			memcpy(n, val, (size_t)(colon - val));
			n[colon - val] = '\0';
			if ((e = serve_parse_u64(n, UINT64_MAX, &o->stall_at)) != NULL)
				return rt_err_wrap(e, "--stall-at");
			if ((e = serve_parse_u64(colon + 1, 3600000, &o->stall_ms)) != NULL)
				return rt_err_wrap(e, "--stall-at (milliseconds, at most 3600000)");
		} else if (strcmp(a, "--fault-reader") == 0) {
			if ((e = serve_parse_u64(val, SERVE_NSLOTS - 1, &v)) != NULL)
				return rt_err_wrap(e, "--fault-reader");
			o->fault_reader = (int)v;
		} else {
			return rt_err_new(RT_E_USAGE, NULL, "unknown option %s", a);
		}
	}
	if (!have_port)
		return rt_err_new(RT_E_USAGE, NULL, "--port is required");
	if (o->nstate == 0)
		return rt_err_new(RT_E_USAGE, NULL, "a STATE file is required (\"-\" for an empty reader)");
	return NULL;
}

/* ---- sockets -------------------------------------------------------- */

static rt_err * RT_MUST
serve_listen(const char *host, unsigned port, int *out)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return rt_err_new(RT_E_ARG, NULL, "not an IPv4 address: %s", host);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return rt_err_new(RT_E_IO, NULL, "socket: %s", strerror(errno));
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4) != 0) {
		int err = errno;
		close(fd);
		return rt_err_new(RT_E_IO, NULL, "listen on %s:%u: %s", host, port, strerror(err));
	}
	*out = fd;
	return NULL;
}

/* Binds both ports; port 0 tries pairs from a pseudo-random start. */
static rt_err * RT_MUST
serve_listen_pair(const serve_opts *o, serve_slot *s)
{
	rt_err *e = NULL;
	if (o->port != 0) {
		if ((e = serve_listen(o->host, o->port, &s[0].lfd)) != NULL)
			return e;
		if ((e = serve_listen(o->host, o->port + 1, &s[1].lfd)) != NULL) {
			close(s[0].lfd);
			s[0].lfd = -1;
			return e;
		}
		s[0].port = o->port;
		s[1].port = o->port + 1;
		return NULL;
	}
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	for (int tries = 0; tries < 200; tries++) {
		unsigned p = 20000 + 2 * ((seed + 7919u * (unsigned)tries) % 15000u);
		rt_err_free(e);
		e = serve_listen(o->host, p, &s[0].lfd);
		if (e != NULL)
			continue;
		e = serve_listen(o->host, p + 1, &s[1].lfd);
		if (e != NULL) {
			close(s[0].lfd);
			s[0].lfd = -1;
			continue;
		}
		s[0].port = p;
		s[1].port = p + 1;
		return NULL;
	}
	return rt_err_wrap(e, "no free pair of ports");
}

static void
serve_sockopts(const serve_opts *o, int fd)
{
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o->quickack)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static void
serve_drop_conn(serve_slot *s)
{
	if (s->cfd < 0)
		return;
	close(s->cfd);
	s->cfd = -1;
	s->have = 0;
}

static rt_err * RT_MUST
serve_send(serve_slot *s, const uint8_t *payload, size_t len)
{
	if (len > SERVE_MSG_MAX)
		return rt_err_new(RT_E_INTERNAL, NULL, "response of %zu bytes", len);
	uint8_t *m = s->out;
	m[0] = (uint8_t)(len >> 8);
	m[1] = (uint8_t)len;
	if (payload != m + 2)
		memmove(m + 2, payload, len);
	size_t off = 0, total = len + 2;
	while (off < total) {
		ssize_t n = send(s->cfd, m + off, total - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = { .fd = s->cfd, .events = POLLOUT };
			if (poll(&p, 1, 5000) <= 0)
				return rt_err_new(RT_E_IO, NULL, "send: peer stalled");
		} else {
			return rt_err_new(RT_E_IO, NULL, "send: %s",
			    n < 0 ? strerror(errno) : "closed");
		}
	}
	return NULL;
}

static void
serve_after_ms(struct timespec *t, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static long
serve_ms_until(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (long)(t->tv_sec - now.tv_sec) * 1000 +
	    (t->tv_nsec - now.tv_nsec) / 1000000L;
	return ms < 0 ? 0 : ms;
}

/* Connect mode: the card "is inserted" while it has a connection. */
static bool
serve_wants_conn(const serve_opts *o, const serve_slot *s)
{
	return o->connect && s->card != NULL && s->present && s->cfd < 0;
}

static void
serve_try_connect(const serve_opts *o, serve_slot *s, int idx)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)s->port);
	(void)inet_pton(AF_INET, o->host, &sa.sin_addr);   /* checked at start */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		int fl = fcntl(fd, F_GETFL);
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		serve_sockopts(o, fd);
		s->cfd = fd;
		s->have = 0;
		if (o->verbose)
			serve_log("reader %d: connected to vpcd\n", idx);
		return;
	}
	if (fd >= 0)
		close(fd);
	serve_after_ms(&s->retry_at, 100);
}

/* ---- card events ---------------------------------------------------- */

static void
serve_set_present(const serve_opts *o, serve_slot *s, int idx, bool present, const char *why)
{
	if (s->card == NULL) {
		serve_log("reader %d is empty (no STATE): %s ignored\n", idx, why);
		return;
	}
	if (s->present == present)
		return;
	if (!present && !o->connect) {
		serve_log("reader %d: %s ignored: removal needs --connect "
		    "(vpcd in reversed mode aborts pcscd when a card goes away)\n", idx, why);
		return;
	}
	s->present = present;
	if (present) {
		card_ops->reset(s->card);
		serve_after_ms(&s->retry_at, 0);
	} else {
		serve_drop_conn(s);
	}
	serve_log("reader %d: card %s (%s)\n", idx,
	    present ? "inserted" : "removed", why);
}

/* Handles one complete message; returns false if the connection was
 * dropped. */
static bool
serve_message(const serve_opts *o, serve_slot *s, int idx, const uint8_t *msg, size_t len)
{
	rt_err *e = NULL;
	bool card = s->card != NULL && s->present;

	if (len == 1) {
		switch (msg[0]) {
		case CTRL_POWER_OFF:
		case CTRL_RESET:
			if (card)
				card_ops->reset(s->card);
			return true;
		case CTRL_POWER_ON:
			return true;
		case CTRL_GET_ATR: {
			if (!card) {
				/* "No card": a zero-length message alone is not
				 * enough, vpcd 3.3 then waits in recv(len 0,
				 * MSG_WAITALL) for a byte that never comes. The
				 * close makes that recv return 0 = no card. */
				rt_err_free(serve_send(s, s->out + 2, 0));
				serve_drop_conn(s);
				return false;
			}
			size_t n = vcard_atr(card_ops->io(s->card), s->out + 2, 33);
			e = serve_send(s, s->out + 2, n);
			break;
		}
		default:
			if (o->verbose)
				serve_log("reader %d: unknown control %02X\n", idx, msg[0]);
			return true;
		}
	} else if (len == 0) {
		return true;
	} else if (!card) {
		/* An APDU for a pulled card (or an empty reader). */
		serve_drop_conn(s);
		return false;
	} else {
		size_t rlen = 0;
		if (o->stall_at != 0 && idx == o->fault_reader &&
		    vcard_apdu_count(card_ops->io(s->card)) + 1 == o->stall_at)
			serve_log("reader %d: stalling %" PRIu64 " ms at "
			    "APDU %" PRIu64 " (--stall-at)\n", idx, o->stall_ms, o->stall_at);
		e = card_ops->apdu(s->card, msg, len, s->out + 2, SERVE_MSG_MAX, &rlen);
		if (e != NULL && rt_err_kind_of(e) == RT_E_FAULT) {
			rt_err_free(e);
			/* Close (FIN), no answer: see the top of the file. */
			serve_drop_conn(s);
			serve_set_present(o, s, idx, false, "--drop-at");
			return false;
		}
		if (e != NULL) {
			char buf[256];
			rt_err_format(e, buf, sizeof(buf));
			serve_log("reader %d: %s\n", idx, buf);
			rt_err_free(e);
			s->out[2] = 0x6F;
			s->out[3] = 0x00;
			rlen = 2;
		}
		e = serve_send(s, s->out + 2, rlen);
	}
	if (e != NULL) {
		char buf[256];
		rt_err_format(e, buf, sizeof(buf));
		serve_log("reader %d: %s\n", idx, buf);
		rt_err_free(e);
		serve_drop_conn(s);
		return false;
	}
	return true;
}

/* Reads what is available on the connection and handles whole messages. */
static void
serve_readable(const serve_opts *o, serve_slot *s, int idx)
{
	for (;;) {
		size_t need = 2;
		if (s->have >= 2)
			need = 2 + (((size_t)s->in[0] << 8) | s->in[1]);
		if (s->have == need) {
			s->have = 0;
			if (!serve_message(o, s, idx, s->in + 2, need - 2))
				return;
			continue;
		}
		if (o->quickack) {
			int one = 1;
			(void)setsockopt(s->cfd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		}
		ssize_t n = recv(s->cfd, s->in + s->have, need - s->have, 0);
		if (n > 0) {
			s->have += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (o->verbose)
			serve_log("reader %d: vpcd disconnected\n", idx);
		serve_drop_conn(s);
		serve_after_ms(&s->retry_at, 200);
		return;
	}
}

static void
serve_accept(const serve_opts *o, serve_slot *s, int idx)
{
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return;
	/* vpcd keeps one connection per reader: a new one replaces the old. */
	serve_drop_conn(s);
	int fl = fcntl(fd, F_GETFL);
	(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	serve_sockopts(o, fd);
	s->cfd = fd;
	s->have = 0;
	if (o->verbose)
		serve_log("reader %d: vpcd connected\n", idx);
}

/* ---- files ---------------------------------------------------------- */

static rt_err * RT_MUST
serve_write_file(const char *path, const char *text)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return rt_err_new(RT_E_ARG, NULL, "path too long: %s", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return rt_err_new(RT_E_IO, NULL, "%s: %s", tmp, strerror(errno));
	int ok = fputs(text, f) >= 0;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path) != 0) {
		int err = errno;
		unlink(tmp);
		return rt_err_new(RT_E_IO, NULL, "%s: %s", path, strerror(err));
	}
	return NULL;
}

static rt_err * RT_MUST
serve_open_cards(const serve_opts *o, serve_slot *s, FILE *trace)
{
	for (int i = 0; i < SERVE_NSLOTS; i++) {
		const char *p = i < o->nstate ? o->state[i] : "-";
		if (strcmp(p, "-") == 0 && o->connect)
			continue;
		if (strcmp(p, "-") == 0)
			serve_log("reader %d: an in-memory blank card (in "
			    "reversed mode a reader cannot be empty)\n", i);
		bool mem = strcmp(p, "mem:") == 0 || strcmp(p, "-") == 0;
		rt_err *e = card_ops->open(mem ? NULL : p, &s[i].card);
		if (e != NULL)
			return rt_err_wrap(e, "reader %d: %s", i, p);
		s[i].state = p;
		s[i].present = true;
		if (trace != NULL)
			vcard_set_trace(card_ops->io(s[i].card), trace);
	}
	serve_slot *f = &s[o->fault_reader];
	if (o->drop_at != 0 && !o->connect)
		return rt_err_new(RT_E_USAGE, NULL, "--drop-at needs --connect (vpcd in "
		    "reversed mode aborts pcscd when a card goes away)");
	if ((o->drop_at != 0 || o->sw_at != 0 || o->stall_at != 0) && f->card == NULL)
		return rt_err_new(RT_E_USAGE, NULL, "fault options: reader %d has no card", o->fault_reader);
	if (o->drop_at != 0)
		vcard_fault_drop_at(card_ops->io(f->card), o->drop_at);
	if (o->sw_at != 0)
		vcard_fault_sw_at(card_ops->io(f->card), o->sw_at, o->sw);
	if (o->stall_at != 0)
		vcard_fault_stall_at(card_ops->io(f->card), o->stall_at,
		    (unsigned)o->stall_ms);
	return NULL;
}

/* ---- main ----------------------------------------------------------- */

static rt_err * RT_MUST
serve_loop(const serve_opts *o, serve_slot *s)
{
	for (;;) {
		long timeout = -1;
		for (int i = 0; i < SERVE_NSLOTS; i++) {
			if (!serve_wants_conn(o, &s[i]))
				continue;
			if (serve_ms_until(&s[i].retry_at) == 0)
				serve_try_connect(o, &s[i], i);
			if (serve_wants_conn(o, &s[i])) {
				long ms = serve_ms_until(&s[i].retry_at);
				if (timeout < 0 || ms < timeout)
					timeout = ms;
			}
		}
		struct pollfd p[1 + 2 * SERVE_NSLOTS];
		int n = 0;
		p[n++] = (struct pollfd){ .fd = sig_pipe[0], .events = POLLIN };
		for (int i = 0; i < SERVE_NSLOTS; i++) {
			p[n++] = (struct pollfd){ .fd = s[i].lfd, .events = POLLIN };
			p[n++] = (struct pollfd){ .fd = s[i].cfd, .events = POLLIN };
		}
		if (poll(p, (nfds_t)n, (int)timeout) < 0) {
			if (errno == EINTR)
				continue;
			return rt_err_new(RT_E_IO, NULL, "poll: %s", strerror(errno));
		}
		if (p[0].revents & POLLIN) {
			unsigned char sig[16];
			ssize_t k = read(sig_pipe[0], sig, sizeof(sig));
			for (ssize_t j = 0; j < k; j++) {
				if (sig[j] == SIGUSR1 || sig[j] == SIGUSR2) {
					int r = sig[j] == SIGUSR1 ? 0 : 1;
					serve_set_present(o, &s[r], r, !s[r].present, "signal");
				} else {
					return NULL;
				}
			}
		}
		for (int i = 0; i < SERVE_NSLOTS; i++) {
			struct pollfd *pl = &p[1 + 2 * i], *pc = pl + 1;
			/* The old connection first: vpcd closes, then reconnects. */
			if (s[i].cfd >= 0 && pc->fd == s[i].cfd &&
			    (pc->revents & (POLLIN | POLLHUP | POLLERR)))
				serve_readable(o, &s[i], i);
			if (pl->revents & POLLIN)
				serve_accept(o, &s[i], i);
		}
	}
}

int
vcard_serve_main(const vcard_ops *ops, int argc, char **argv)
{
	serve_opts o;
	serve_slot *s = NULL;
	FILE *trace = NULL;
	bool wrote_pid = false, wrote_port = false;
	int status = 1;

	card_ops = ops;
	rt_err *e = serve_parse_args(argc, argv, &o);
	if (e != NULL) {
		bool help = strcmp(rt_err_msg(e), "help") == 0;
		if (!help) {
			char buf[256];
			rt_err_format(e, buf, sizeof(buf));
			serve_log("%s\n", buf);
		}
		serve_usage(help ? stdout : stderr);
		rt_err_free(e);
		return help ? 0 : 2;
	}

	s = calloc(SERVE_NSLOTS, sizeof(*s));
	if (s == NULL) {
		serve_log("out of memory\n");
		return 1;
	}
	for (int i = 0; i < SERVE_NSLOTS; i++)
		s[i].lfd = s[i].cfd = -1;

	if (pipe(sig_pipe) != 0) {
		e = rt_err_new(RT_E_IO, NULL, "pipe: %s", strerror(errno));
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		(void)fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
		(void)fcntl(sig_pipe[i], F_SETFL, fcntl(sig_pipe[i], F_GETFL) | O_NONBLOCK);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = serve_on_signal;
	sigemptyset(&sa.sa_mask);
	const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		(void)sigaction(sigs[i], &sa, NULL);
	(void)signal(SIGPIPE, SIG_IGN);

	if (o.trace != NULL) {
		trace = fopen(o.trace, "a");
		if (trace == NULL) {
			e = rt_err_new(RT_E_IO, NULL, "%s: %s", o.trace, strerror(errno));
			goto out;
		}
		setvbuf(trace, NULL, _IOLBF, 0);
	}
	if ((e = serve_open_cards(&o, s, trace)) != NULL)
		goto out;
	if (inet_pton(AF_INET, o.host, &(struct in_addr){ 0 }) != 1) {
		e = rt_err_new(RT_E_ARG, NULL, "not an IPv4 address: %s", o.host);
		goto out;
	}
	if (!o.connect || o.port == 0) {
		if ((e = serve_listen_pair(&o, s)) != NULL)
			goto out;
	}
	if (o.connect) {
		/* port 0: the pair was only bound to find it free; vpcd
		 * (in pcscd, started next) listens there. */
		for (int i = 0; i < SERVE_NSLOTS; i++) {
			if (s[i].lfd >= 0)
				close(s[i].lfd);
			s[i].lfd = -1;
			if (o.port != 0)
				s[i].port = o.port + (unsigned)i;
			serve_after_ms(&s[i].retry_at, 0);
		}
	}

	char line[64];
	if (o.portfile != NULL) {
		snprintf(line, sizeof(line), "%u\n", s[0].port);
		if ((e = serve_write_file(o.portfile, line)) != NULL)
			goto out;
		wrote_port = true;
	}
	if (o.pidfile != NULL) {
		snprintf(line, sizeof(line), "%ld\n", (long)getpid());
		if ((e = serve_write_file(o.pidfile, line)) != NULL)
			goto out;
		wrote_pid = true;
	}
	serve_log("pid %ld %s %s:%u (%s) and %s:%u (%s)\n",
	    (long)getpid(), o.connect ? "connecting to vpcd on" : "listening on",
	    o.host, s[0].port, s[0].card ? s[0].state : "empty",
	    o.host, s[1].port, s[1].card ? s[1].state : "empty");

	e = serve_loop(&o, s);
	if (e == NULL) {
		status = 0;
		if (o.verbose)
			serve_log("stopping\n");
	}
out:
	if (e != NULL) {
		char buf[512];
		rt_err_format(e, buf, sizeof(buf));
		serve_log("%s\n", buf);
		status = rt_err_exit_code(e);
		rt_err_free(e);
	}
	for (int i = 0; i < SERVE_NSLOTS; i++) {
		serve_drop_conn(&s[i]);
		if (s[i].lfd >= 0)
			close(s[i].lfd);
		if (s[i].card != NULL)
			card_ops->free(s[i].card);
	}
	free(s);
	if (trace != NULL)
		fclose(trace);
	if (wrote_pid)
		unlink(o.pidfile);
	if (wrote_port)
		unlink(o.portfile);
	for (int i = 0; i < 2; i++)
		if (sig_pipe[i] >= 0)
			close(sig_pipe[i]);
	return status;
}
