/*
 * state.c - what the virtual cards' state files share: the atomic save of
 * the text a card formats, private keys as hex DER, fields of a line.
 * Each card keeps its records (docs/vpiv.md, docs/vp15.md).
 */
#include "raterm/vcard.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "raterm/util.h"

/* fsync of the directory holding path: the rename survives a crash. */
static void
sync_dir(const char *path)
{
	char *dir = strdup(path);
	if (dir == NULL)
		return;
	char *slash = strrchr(dir, '/');
	const char *d = ".";
	if (slash == dir)
		d = "/";
	else if (slash != NULL) {
		*slash = '\0';
		d = dir;
	}
	int dfd = open(d, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(dir);
}

rt_err *
vcard_state_save(const char *path, const char *name,
    int (*write)(const void *card, FILE *f), const void *card)
{
	if (path == NULL)
		return NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (f == NULL)
		return rt_err_new(RT_E_NOMEM, NULL, "%s: save", name);
	fprintf(f, "%s-state 1\n", name);
	int bad = write(card, f);
	fprintf(f, "end\n");
	if (ferror(f))
		bad = -1;
	if (fclose(f) != 0)
		bad = -1;
	rt_err *e = NULL;
	if (bad != 0 || text == NULL)
		e = rt_err_new(RT_E_NOMEM, NULL, "%s: cannot format the card's state",
		    path);
	else
		e = rt_file_write(path, text, len, 0600);
	if (text != NULL) {
		rt_wipe(text, len);
		free(text);
	}
	if (e != NULL)
		return rt_err_wrap(e, "%s: saving the card", name);
	sync_dir(path);
	return NULL;
}

int
vcard_key_write(FILE *f, const mbedtls_pk_context *pk)
{
	enum { CAP = 8192 };
	uint8_t *der = malloc(CAP);
	if (der == NULL)
		return -1;
	/* mbedTLS writes at the end of the buffer */
	int n = mbedtls_pk_write_key_der((mbedtls_pk_context *)pk, der, CAP);
	if (n > 0)
		(void)rt_hex_write(f, der + CAP - n, (size_t)n, 0);
	rt_wipe(der, CAP);
	free(der);
	return n > 0 ? 0 : -1;
}

void
vcard_key_clear(void *rec, size_t size, mbedtls_pk_context *pk)
{
	mbedtls_pk_free(pk);
	rt_wipe(rec, size);
	mbedtls_pk_init(pk);
}

int
vcard_fields(char *line, char **f, int max)
{
	int n = 0;
	char *s = line;
	while (n < max) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '\n' || *s == '\r')
			break;
		f[n++] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			s++;
		if (*s == '\0')
			break;
		*s++ = '\0';
	}
	return n;
}
