/* pcsc.c - the PC/SC transport over pcsc-lite; see include/raterm/transport.h
 *
 * pcsc-lite's client library honours PCSCLITE_CSOCK_NAME, so a private pcscd
 * is reached by setting that variable; nothing here needs to know. */
#include "raterm/transport.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>

typedef struct {
	SCARDCONTEXT ctx;
	SCARDHANDLE card;
	DWORD proto;
	bool in_txn;
} pcsc_t;

static rt_err *
pcsc_err(LONG rv, const char *what, const char *reader)
{
	rt_err_kind k;
	switch (rv) {
	case SCARD_E_NO_SERVICE:
	case SCARD_E_SERVICE_STOPPED:
		k = RT_E_NO_SERVICE;
		break;
	case SCARD_E_NO_READERS_AVAILABLE:
	case SCARD_E_UNKNOWN_READER:
	case SCARD_E_READER_UNAVAILABLE:
		k = RT_E_NO_READER;
		break;
	case SCARD_E_NO_SMARTCARD:
		k = RT_E_NO_CARD;
		break;
	case SCARD_W_REMOVED_CARD:
	case SCARD_W_RESET_CARD:
		k = RT_E_CARD_REMOVED;
		break;
	case SCARD_E_SHARING_VIOLATION:
		k = RT_E_SHARING;
		break;
	case SCARD_W_UNRESPONSIVE_CARD:
	case SCARD_W_UNPOWERED_CARD:
	case SCARD_E_PROTO_MISMATCH:
	case SCARD_F_COMM_ERROR:
	case SCARD_E_NOT_TRANSACTED:
		k = RT_E_TRANSPORT;
		break;
	default:
		k = RT_E_PCSC;
	}
	if (reader != NULL)
		return rt_err_new(k, NULL, "%s on reader \"%s\": %s (0x%08lX)",
		    what, reader, pcsc_stringify_error(rv), (unsigned long)rv);
	return rt_err_new(k, NULL, "%s: %s (0x%08lX)", what,
	    pcsc_stringify_error(rv), (unsigned long)rv);
}

static rt_err *
establish(SCARDCONTEXT *ctx)
{
	LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, ctx);
	if (rv != SCARD_S_SUCCESS) {
		rt_err *e = pcsc_err(rv, "cannot reach the PC/SC service", NULL);
		if (rv == SCARD_E_NO_SERVICE) {
			const char *s = getenv("PCSCLITE_CSOCK_NAME");
			return rt_err_wrap(e, "is pcscd running%s%s%s?",
			    s ? " (PCSCLITE_CSOCK_NAME=" : "", s ? s : "",
			    s ? ")" : "");
		}
		if (rv == SCARD_W_SECURITY_VIOLATION)
			return rt_err_wrap(e, "pcscd refused this account (a "
			    "polkit rule must allow it: see docs/station.md)");
		return e;
	}
	return NULL;
}

/* Reads the reader names into a malloc'ed multi-string. */
static rt_err *
list_names(SCARDCONTEXT ctx, char **names)
{
	DWORD len = 0;
	LONG rv = SCardListReaders(ctx, NULL, NULL, &len);
	if (rv == SCARD_E_NO_READERS_AVAILABLE) {
		*names = NULL;
		return NULL;
	}
	if (rv != SCARD_S_SUCCESS)
		return pcsc_err(rv, "cannot list readers", NULL);
	char *buf = calloc(1, len + 1);
	if (buf == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "reader list");
	rv = SCardListReaders(ctx, NULL, buf, &len);
	if (rv == SCARD_E_NO_READERS_AVAILABLE) {
		free(buf);
		*names = NULL;
		return NULL;
	}
	if (rv != SCARD_S_SUCCESS) {
		free(buf);
		return pcsc_err(rv, "cannot list readers", NULL);
	}
	*names = buf;
	return NULL;
}

static rt_err *
list_in_ctx(SCARDCONTEXT ctx, rt_reader_info **out, size_t *n)
{
	char *names = NULL;
	rt_err *e = list_names(ctx, &names);
	size_t count = 0;
	*out = NULL;
	*n = 0;
	if (e != NULL)
		return e;
	if (names == NULL)
		return NULL;
	for (char *p = names; *p; p += strlen(p) + 1)
		count++;
	rt_reader_info *r = calloc(count ? count : 1, sizeof(*r));
	SCARD_READERSTATE *st = calloc(count ? count : 1, sizeof(*st));
	if (r == NULL || st == NULL) {
		free(r);
		free(st);
		free(names);
		return rt_err_new(RT_E_NOMEM, NULL, "reader list");
	}
	size_t i = 0;
	for (char *p = names; *p; p += strlen(p) + 1, i++) {
		snprintf(r[i].name, sizeof(r[i].name), "%s", p);
		st[i].szReader = r[i].name;
		st[i].dwCurrentState = SCARD_STATE_UNAWARE;
	}
	LONG rv = SCardGetStatusChange(ctx, 0, st, (DWORD)count);
	if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) {
		free(r);
		free(st);
		free(names);
		return pcsc_err(rv, "cannot read reader states", NULL);
	}
	for (i = 0; i < count; i++) {
		r[i].card_present = (st[i].dwEventState & SCARD_STATE_PRESENT) &&
		    !(st[i].dwEventState & SCARD_STATE_MUTE);
		r[i].in_use = (st[i].dwEventState & SCARD_STATE_EXCLUSIVE) != 0;
		size_t al = st[i].cbAtr < sizeof(r[i].atr) ? st[i].cbAtr : sizeof(r[i].atr);
		memcpy(r[i].atr, st[i].rgbAtr, al);
		r[i].atr_len = r[i].card_present ? al : 0;
	}
	free(st);
	free(names);
	*out = r;
	*n = count;
	return NULL;
}

rt_err *
rt_pcsc_list(rt_reader_info **out, size_t *n)
{
	SCARDCONTEXT ctx;
	rt_err *e = establish(&ctx);
	if (e != NULL)
		return e;
	e = list_in_ctx(ctx, out, n);
	SCardReleaseContext(ctx);
	return e;
}

static bool
icontains(const char *hay, const char *needle)
{
	size_t hl = strlen(hay), nl = strlen(needle);
	for (size_t i = 0; i + nl <= hl; i++) {
		size_t j = 0;
		while (j < nl && tolower((unsigned char)hay[i + j]) ==
		    tolower((unsigned char)needle[j]))
			j++;
		if (j == nl)
			return true;
	}
	return false;
}

/* Picks the reader named by `want` (see rt_pcsc_open). */
static rt_err *
pick_reader(const rt_reader_info *r, size_t n, const char *want, size_t *idx)
{
	if (n == 0)
		return rt_err_new(RT_E_NO_READER, NULL, "no smart-card reader found");
	if (want == NULL) {
		size_t found = n, with_card = 0;
		for (size_t i = 0; i < n; i++)
			if (r[i].card_present) {
				if (with_card++ == 0)
					found = i;
			}
		if (with_card == 0)
			return rt_err_new(RT_E_NO_CARD, NULL,
			    "no card in any of the %zu reader(s)", n);
		if (with_card > 1)
			return rt_err_new(RT_E_NO_READER, NULL,
			    "%zu readers hold a card; choose one with -r "
			    "(see 'raterm readers')", with_card);
		*idx = found;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i].name, want) == 0) {
			*idx = i;
			return NULL;
		}
	/* A number: digits only (strtoul would take "-1" as ULONG_MAX and
	 * " 1" or "+1" as 1); negative ones are refused by rt_pcsc_open. */
	size_t nd = strspn(want, "0123456789");
	if (nd > 0 && want[nd] == '\0') {
		size_t num = 0;
		bool big = false;
		for (size_t i = 0; i < nd; i++) {
			if (num > (SIZE_MAX - 9) / 10)
				big = true;
			else
				num = num * 10 + (size_t)(want[i] - '0');
		}
		if (!big && num < n) {
			*idx = num;
			return NULL;
		}
		return rt_err_new(RT_E_NO_READER, NULL,
		    "no reader number %s (%zu reader(s) present, numbered 0 "
		    "to %zu)", want, n, n - 1);
	}
	size_t hits = 0;
	for (size_t i = 0; i < n; i++)
		if (icontains(r[i].name, want)) {
			if (hits++ == 0)
				*idx = i;
		}
	if (hits == 1)
		return NULL;
	if (hits > 1)
		return rt_err_new(RT_E_NO_READER, NULL,
		    "\"%s\" matches %zu readers; give the full name", want, hits);
	return rt_err_new(RT_E_NO_READER, NULL, "no reader matches \"%s\"", want);
}

/* After a mute exchange: true if the card left the reader within a short
 * grace time (the reader notices a removal on its next poll). */
static bool
card_gone(pcsc_t *p, const char *reader)
{
	SCARD_READERSTATE rs;
	memset(&rs, 0, sizeof(rs));
	rs.szReader = reader;
	rs.dwCurrentState = SCARD_STATE_UNAWARE;
	if (SCardGetStatusChange(p->ctx, 0, &rs, 1) != SCARD_S_SUCCESS)
		return true;
	for (int i = 0; i < 3; i++) {
		if (!(rs.dwEventState & SCARD_STATE_PRESENT) ||
		    (rs.dwEventState & SCARD_STATE_MUTE))
			return true;
		rs.dwCurrentState = rs.dwEventState & ~SCARD_STATE_CHANGED;
		LONG rv = SCardGetStatusChange(p->ctx, 500, &rs, 1);
		if (rv == SCARD_E_TIMEOUT)
			continue;
		if (rv != SCARD_S_SUCCESS)
			return true;
	}
	return false;
}

static rt_err *
pcsc_transmit(rt_transport *t, const uint8_t *cmd, size_t clen,
    uint8_t *rsp, size_t cap, size_t *rlen)
{
	pcsc_t *p = t->impl;
	const SCARD_IO_REQUEST *pci = p->proto == SCARD_PROTOCOL_T1 ?
	    SCARD_PCI_T1 : SCARD_PCI_T0;
	DWORD len = (DWORD)cap;
	LONG rv = SCardTransmit(p->card, pci, cmd, (DWORD)clen, NULL, rsp, &len);
	if (rv != SCARD_S_SUCCESS)
		return pcsc_err(rv, "APDU exchange failed", t->reader);
	if (len < 2) {
		/* The reader got no answer from the card: find out whether it
		 * is still there (a pulled card often shows up this way). */
		if (card_gone(p, t->reader))
			return rt_err_new(RT_E_CARD_REMOVED, NULL,
			    "the card in \"%s\" was removed during an APDU exchange",
			    t->reader);
		return rt_err_new(RT_E_TRANSPORT, NULL,
		    "the card in \"%s\" did not answer (%lu-byte response)",
		    t->reader, (unsigned long)len);
	}
	*rlen = len;
	return NULL;
}

static rt_err *
pcsc_begin(rt_transport *t)
{
	pcsc_t *p = t->impl;
	if (p->in_txn)
		return NULL;
	LONG rv = SCardBeginTransaction(p->card);
	if (rv != SCARD_S_SUCCESS)
		return pcsc_err(rv, "cannot begin a card transaction", t->reader);
	p->in_txn = true;
	return NULL;
}

static void
pcsc_end(rt_transport *t)
{
	pcsc_t *p = t->impl;
	if (!p->in_txn)
		return;
	(void)SCardEndTransaction(p->card, SCARD_LEAVE_CARD);
	p->in_txn = false;
}

static void
pcsc_close(rt_transport *t)
{
	pcsc_t *p = t->impl;
	if (p != NULL) {
		pcsc_end(t);
		if (p->card)
			(void)SCardDisconnect(p->card, SCARD_LEAVE_CARD);
		(void)SCardReleaseContext(p->ctx);
		free(p);
	}
	free(t);
}

static const rt_transport_ops pcsc_ops = {
	.kind = "pcsc",
	.transmit = pcsc_transmit,
	.begin = pcsc_begin,
	.end = pcsc_end,
	.close = pcsc_close,
};

rt_err *
rt_pcsc_open(const char *want, rt_transport **out)
{
	rt_transport *t = calloc(1, sizeof(*t));
	pcsc_t *p = calloc(1, sizeof(*p));
	rt_reader_info *r = NULL;
	size_t n = 0, idx = 0;
	rt_err *e = NULL;
	LONG rv;

	if (t == NULL || p == NULL) {
		free(t);
		free(p);
		return rt_err_new(RT_E_NOMEM, NULL, "PC/SC transport");
	}
	/* "-1": a negative reader number, a usage error before any PC/SC */
	if (want != NULL && want[0] == '-' && want[1] != '\0' &&
	    want[1 + strspn(want + 1, "0123456789")] == '\0') {
		free(t);
		free(p);
		return rt_err_new(RT_E_USAGE, NULL, "reader number %s: reader "
		    "numbers start at 0 (see 'raterm readers')", want);
	}
	t->ops = &pcsc_ops;
	t->impl = p;
	if ((e = establish(&p->ctx)) != NULL) {
		free(p);
		free(t);
		return e;
	}
	if ((e = list_in_ctx(p->ctx, &r, &n)) != NULL)
		goto fail;
	if ((e = pick_reader(r, n, want, &idx)) != NULL)
		goto fail;
	snprintf(t->reader, sizeof(t->reader), "%s", r[idx].name);
	if (!r[idx].card_present) {
		e = rt_err_new(RT_E_NO_CARD, NULL, "no card in reader \"%s\"",
		    t->reader);
		goto fail;
	}
	rv = SCardConnect(p->ctx, t->reader, SCARD_SHARE_SHARED,
	    SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &p->card, &p->proto);
	if (rv != SCARD_S_SUCCESS) {
		p->card = 0;
		e = pcsc_err(rv, "cannot connect to the card", t->reader);
		goto fail;
	}
	{
		BYTE atr[MAX_ATR_SIZE];
		DWORD atrlen = sizeof(atr), state, proto, rlen = 0;
		rv = SCardStatus(p->card, NULL, &rlen, &state, &proto, atr, &atrlen);
		if (rv == SCARD_S_SUCCESS) {
			t->atr_len = atrlen < sizeof(t->atr) ? atrlen : sizeof(t->atr);
			memcpy(t->atr, atr, t->atr_len);
		}
	}
	rt_transport_atr_caps(t);
	free(r);
	*out = t;
	return NULL;
fail:
	free(r);
	pcsc_close(t);
	return e;
}

/* ---- waiting for a change ----------------------------------------------- */

rt_err *
rt_pcsc_wait_change(int timeout_ms)
{
	if (timeout_ms <= 0)
		return NULL;
	SCARDCONTEXT ctx;
	rt_err *e = establish(&ctx);
	if (e != NULL)
		return e;
	char *names = NULL;
	if ((e = list_names(ctx, &names)) != NULL) {
		SCardReleaseContext(ctx);
		return e;
	}
	size_t count = 0;
	for (char *p = names; p != NULL && *p; p += strlen(p) + 1)
		count++;
	/* the readers, and pcsc-lite's notification of readers coming and
	 * going (its current state: the number of readers in the high word) */
	SCARD_READERSTATE *st = calloc(count + 1, sizeof(*st));
	if (st == NULL) {
		free(names);
		SCardReleaseContext(ctx);
		return rt_err_new(RT_E_NOMEM, NULL, "reader states");
	}
	size_t i = 0;
	for (char *p = names; p != NULL && *p; p += strlen(p) + 1, i++) {
		st[i].szReader = p;
		st[i].dwCurrentState = SCARD_STATE_UNAWARE;
	}
	st[count].szReader = "\\\\?PnP?\\Notification";
	st[count].dwCurrentState = (DWORD)count << 16;
	LONG rv = SCardGetStatusChange(ctx, 0, st, (DWORD)count);
	if (rv == SCARD_S_SUCCESS || rv == SCARD_E_TIMEOUT) {
		for (i = 0; i < count; i++)
			st[i].dwCurrentState = st[i].dwEventState &
			    ~(DWORD)SCARD_STATE_CHANGED;
		rv = SCardGetStatusChange(ctx, (DWORD)timeout_ms, st,
		    (DWORD)count + 1);
	}
	free(st);
	free(names);
	SCardReleaseContext(ctx);
	if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT &&
	    rv != SCARD_E_UNKNOWN_READER)
		return pcsc_err(rv, "cannot wait for reader changes", NULL);
	return NULL;
}
