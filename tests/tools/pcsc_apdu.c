/*
 * pcsc_apdu - send raw APDUs to a card through PC/SC (test helper).
 *
 *   pcsc_apdu [-n COUNT] [-q] READER HEX [HEX...]
 *
 * Connects (shared, T=0 or T=1) to READER in the service that
 * PCSCLITE_CSOCK_NAME points to, sends the APDUs in order (no GET RESPONSE
 * or chaining: raw exchange) and prints each response in hex, one per line
 * ("EMPTY" for a zero-length response).
 * -n repeats the whole sequence COUNT times inside one transaction and
 * prints the timing instead ("N apdus in T ms: U us/apdu"); -q prints
 * nothing but errors. Exit status: 0 done, 1 PC/SC error (the error name is
 * printed, e.g. SCARD_W_REMOVED_CARD), 2 usage.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <winscard.h>

static int
unhex(const char *s, unsigned char *out, size_t cap, size_t *len)
{
	size_t n = 0;
	while (*s != '\0') {
		if (isspace((unsigned char)*s) || *s == ':') {
			s++;
			continue;
		}
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) || n == cap)
			return -1;
		char b[3] = { s[0], s[1], 0 };
		out[n++] = (unsigned char)strtoul(b, NULL, 16);
		s += 2;
	}
	*len = n;
	return 0;
}

static const char *
err_name(LONG rv)
{
	switch (rv) {
	case SCARD_W_REMOVED_CARD: return "SCARD_W_REMOVED_CARD";
	case SCARD_E_NO_SMARTCARD: return "SCARD_E_NO_SMARTCARD";
	case SCARD_W_RESET_CARD: return "SCARD_W_RESET_CARD";
	case SCARD_E_NOT_TRANSACTED: return "SCARD_E_NOT_TRANSACTED";
	case SCARD_F_COMM_ERROR: return "SCARD_F_COMM_ERROR";
	case SCARD_E_UNKNOWN_READER: return "SCARD_E_UNKNOWN_READER";
	case SCARD_E_NO_SERVICE: return "SCARD_E_NO_SERVICE";
	case SCARD_E_READER_UNAVAILABLE: return "SCARD_E_READER_UNAVAILABLE";
	case SCARD_W_UNRESPONSIVE_CARD: return "SCARD_W_UNRESPONSIVE_CARD";
	case SCARD_E_PROTO_MISMATCH: return "SCARD_E_PROTO_MISMATCH";
	default: return "SCARD_ERROR";
	}
}

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	long count = 1;
	int quiet = 0, i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			count = atol(argv[++i]);
		else if (strcmp(argv[i], "-q") == 0)
			quiet = 1;
		else
			break;
	}
	if (argc - i < 2 || count < 1) {
		fprintf(stderr, "usage: pcsc_apdu [-n COUNT] [-q] READER HEX [HEX...]\n");
		return 2;
	}
	const char *reader = argv[i++];
	int napdu = argc - i;
	char **hex = argv + i;

	SCARDCONTEXT ctx;
	SCARDHANDLE h;
	DWORD proto;
	LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
	if (rv != SCARD_S_SUCCESS) {
		fprintf(stderr, "pcsc_apdu: %s (%s)\n", err_name(rv), pcsc_stringify_error(rv));
		return 1;
	}
	rv = SCardConnect(ctx, reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
	    &h, &proto);
	if (rv != SCARD_S_SUCCESS) {
		fprintf(stderr, "pcsc_apdu: connect %s: %s (%s)\n", reader, err_name(rv),
		    pcsc_stringify_error(rv));
		SCardReleaseContext(ctx);
		return 1;
	}
	const SCARD_IO_REQUEST *pci = proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
	static unsigned char cmd[65544], rsp[65538];
	int status = 0;
	double t0 = now();
	if (count > 1)
		(void)SCardBeginTransaction(h);
	for (long c = 0; c < count && status == 0; c++) {
		for (int k = 0; k < napdu; k++) {
			size_t clen;
			if (unhex(hex[k], cmd, sizeof(cmd), &clen) != 0) {
				fprintf(stderr, "pcsc_apdu: bad hex: %s\n", hex[k]);
				status = 2;
				break;
			}
			DWORD rlen = sizeof(rsp);
			rv = SCardTransmit(h, pci, cmd, (DWORD)clen, NULL, rsp, &rlen);
			if (rv != SCARD_S_SUCCESS) {
				fprintf(stderr, "pcsc_apdu: transmit: %s (%s)\n", err_name(rv),
				    pcsc_stringify_error(rv));
				status = 1;
				break;
			}
			if (count == 1 && !quiet) {
				/* vpcd answers an APDU to a pulled card with
				 * "success", zero bytes: make that visible */
				if (rlen == 0)
					printf("EMPTY");
				for (DWORD j = 0; j < rlen; j++)
					printf("%02X", rsp[j]);
				printf("\n");
			}
		}
	}
	double dt = now() - t0;
	if (count > 1) {
		(void)SCardEndTransaction(h, SCARD_LEAVE_CARD);
		if (status == 0 && !quiet) {
			long n = count * napdu;
			printf("%ld apdus in %.1f ms: %.1f us/apdu\n", n, dt * 1e3, dt * 1e6 / (double)n);
		}
	}
	(void)SCardDisconnect(h, SCARD_LEAVE_CARD);
	SCardReleaseContext(ctx);
	return status;
}
