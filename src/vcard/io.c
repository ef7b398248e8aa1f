/*
 * io.c - around a virtual card's command handler: the APDU count, the
 * injected faults (pulled, a status word alone, a stall) and the trace,
 * worded as each card's dialect says (vcard.h).
 */
#include "raterm/vcard.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "raterm/util.h"

void
vcard_io_init(vcard_io *io, const vcard_dialect *d)
{
	memset(io, 0, sizeof(*io));
	io->d = d;
}

void vcard_set_trace(vcard_io *io, FILE *f) { io->trace = f; }
uint64_t vcard_apdu_count(const vcard_io *io) { return io->count; }
void vcard_fault_drop_at(vcard_io *io, uint64_t n) { io->drop_at = n; }

void
vcard_fault_sw_at(vcard_io *io, uint64_t n, uint16_t sw)
{
	io->sw_at = n;
	io->sw_value = sw;
}

void
vcard_fault_stall_at(vcard_io *io, uint64_t n, unsigned ms)
{
	io->stall_at = n;
	io->stall_ms = ms;
}

size_t
vcard_atr(const vcard_io *io, uint8_t *atr, size_t cap)
{
	if (cap < io->d->atr_len)
		return 0;
	memcpy(atr, io->d->atr, io->d->atr_len);
	return io->d->atr_len;
}

size_t
vcard_put_sw(uint8_t *rsp, size_t off, uint16_t sw)
{
	rsp[off] = (uint8_t)(sw >> 8);
	rsp[off + 1] = (uint8_t)sw;
	return off + 2;
}

static bool
secret_bearing(const vcard_dialect *d, const uint8_t *cmd, size_t clen)
{
	if (clen < 5)
		return false;
	for (size_t i = 0; i < d->nsecret; i++)
		if (cmd[1] == d->secret_ins[i])
			return true;
	return false;
}

static void
trace_hex(vcard_io *io, char dir, const uint8_t *b, size_t n, bool redact)
{
	fprintf(io->trace, "%s%c ", io->d->prefix, dir);
	(void)rt_hex_write(io->trace, b, redact ? 4 : n, RT_HEX_UPPER);
	if (redact)
		fprintf(io->trace, "%s%zu%s", io->d->redact_pre, n - 4,
		    io->d->redact_post);
	fputc('\n', io->trace);
}

rt_err *
vcard_arrive(vcard_io *io, const uint8_t *cmd, size_t clen, size_t cap,
    bool *sw_only)
{
	const vcard_dialect *d = io->d;
	*sw_only = false;
	if (cap < 2)
		return rt_err_new(RT_E_ARG, NULL, "%s: response buffer of %zu bytes",
		    d->name, cap);
	io->count++;
	/* the command is traced when it arrives, also when the card is
	 * pulled there or stalls: a fault sweep counts the commands sent */
	if (io->trace != NULL)
		trace_hex(io, '>', cmd, clen, secret_bearing(d, cmd, clen));
	if (io->drop_at != 0 && io->count == io->drop_at) {
		if (io->trace != NULL)
			fprintf(io->trace, "%s< (card %s at APDU %llu)\n", d->prefix,
			    d->pulled, (unsigned long long)io->count);
		return rt_err_new(RT_E_FAULT, NULL, "%s: card %s at APDU %llu%s",
		    d->name, d->pulled, (unsigned long long)io->count,
		    d->fault_note);
	}
	if (io->stall_at != 0 && io->count == io->stall_at && io->stall_ms != 0) {
		/* a slow card: the command waits, then is handled as usual */
		if (io->trace != NULL) {
			fprintf(io->trace, "%s~ (stalling %u ms at APDU %llu)\n",
			    d->prefix, io->stall_ms, (unsigned long long)io->count);
			fflush(io->trace);
		}
		struct timespec ts = { (time_t)(io->stall_ms / 1000),
		    (long)(io->stall_ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	*sw_only = io->sw_at != 0 && io->count == io->sw_at;
	return NULL;
}

void
vcard_depart(vcard_io *io, const uint8_t *rsp, size_t rlen)
{
	if (io->trace == NULL)
		return;
	trace_hex(io, '<', rsp, rlen, false);
	fflush(io->trace);
}

void
vcard_trace_err(vcard_io *io, const rt_err *e)
{
	if (io->trace == NULL)
		return;
	char msg[256];
	rt_err_format(e, msg, sizeof(msg));
	fprintf(io->trace, "%s! %s\n", io->d->prefix, msg);
}
