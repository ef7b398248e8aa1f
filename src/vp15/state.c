/*
 * state.c - vp15's state file, and opening a card.
 *
 * Format (text, one record per line, hex for binary; docs/vp15.md):
 *   vp15-state 1
 *   pin REF HEX TOTAL LEFT
 *   key REF PINREF DERHEX                (the private key, PKCS#1 / SEC1)
 *   file IDX PARENT df|ef FID SAHEX AIDHEX|- SIZE DATAHEX|-
 *   end
 * Files come parents first. The file is replaced atomically
 * (vcard_state_save: temporary file, fsync, rename; mode 0600).
 */
#include "vp15_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "raterm/util.h"

#define STATE_MAX (4 * 1024 * 1024)

static void
hex_or_dash(FILE *f, const uint8_t *b, size_t n)
{
	if (n == 0)
		putc('-', f);
	else
		(void)rt_hex_write(f, b, n, 0);
}

/* Files in an order where a parent comes before its children. */
static void
write_files(const vp15 *c, FILE *f, int parent)
{
	for (int i = 0; i < VP15_MAX_FILES; i++) {
		const struct vp15_file *fl = &c->files[i];
		if (!fl->used || fl->parent != parent)
			continue;
		fprintf(f, "file %d %d %s %04x ", i, fl->parent, fl->df ? "df" : "ef", fl->fid);
		hex_or_dash(f, fl->sa, sizeof(fl->sa));
		putc(' ', f);
		hex_or_dash(f, fl->aid, fl->aid_len);
		fprintf(f, " %zu ", fl->size);
		hex_or_dash(f, fl->data, fl->size);
		putc('\n', f);
		if (fl->df)
			write_files(c, f, i);
	}
}

static int
write_state(const void *card, FILE *f)
{
	const vp15 *c = card;
	fprintf(f, "# virtual PKCS#15 card (raterm vp15): TEST MATERIAL, PINs and keys in clear\n");
	for (int r = 1; r <= VP15_NPINS; r++) {
		const struct vp15_pin *p = &c->pins[r];
		if (!p->set)
			continue;
		fprintf(f, "pin %d ", r);
		(void)rt_hex_write(f, p->val, p->len, 0);
		fprintf(f, " %u %u\n", p->total, p->left);
	}
	for (int i = 0; i < VP15_NKEYS; i++) {
		const struct vp15_key *k = &c->keys[i];
		if (!k->present)
			continue;
		fprintf(f, "key %d %u ", i, k->pin_ref);
		if (vcard_key_write(f, &k->pk) != 0)
			return -1;
		putc('\n', f);
	}
	write_files(c, f, VP15_MF);
	return 0;
}

rt_err *
vp15_save(vp15 *c)
{
	return vcard_state_save(c->path, "vp15", write_state, c);
}

/* ---- loading ------------------------------------------------------------ */

static rt_err *
hex_field(const char *s, uint8_t *out, size_t cap, size_t *len, const char *what)
{
	if (strcmp(s, "-") == 0) {
		*len = 0;
		return NULL;
	}
	rt_err *e = rt_hex_decode(s, strlen(s), out, cap, len, 0);
	return e ? rt_err_wrap(e, "%s", what) : NULL;
}

static rt_err *
load_line(vp15 *c, char *line, uint8_t *buf, size_t cap)
{
	char *f[10];
	int n = vcard_fields(line, f, 10);
	size_t len;
	rt_err *e;
	if (n == 0 || f[0][0] == '#')
		return NULL;
	if (strcmp(f[0], "pin") == 0 && n == 5) {
		int r = atoi(f[1]);
		if (r < 1 || r > VP15_NPINS)
			return rt_err_new(RT_E_FORMAT, NULL, "PIN reference %s", f[1]);
		struct vp15_pin *p = &c->pins[r];
		if ((e = hex_field(f[2], p->val, sizeof(p->val), &p->len, "PIN")) != NULL)
			return e;
		p->total = (uint8_t)atoi(f[3]);
		p->left = (uint8_t)atoi(f[4]);
		if (p->left > p->total)
			return rt_err_new(RT_E_FORMAT, NULL, "PIN %d tries", r);
		p->set = true;
		return NULL;
	}
	if (strcmp(f[0], "key") == 0 && n == 4) {
		int r = atoi(f[1]), pr = atoi(f[2]);
		if (r < 0 || r >= VP15_NKEYS || pr < 1 || pr > VP15_NPINS)
			return rt_err_new(RT_E_FORMAT, NULL, "key %s", f[1]);
		if ((e = hex_field(f[3], buf, cap, &len, "key")) != NULL)
			return e;
		struct vp15_key *k = &c->keys[r];
		vp15_key_clear(k);
		int rc = mbedtls_pk_parse_key(&k->pk, buf, len, NULL, 0);
		rt_wipe(buf, len);
		if (rc != 0)
			return rt_err_new(RT_E_FORMAT, NULL, "key %d: -0x%04x", r, -rc);
		k->present = true;
		k->pin_ref = (uint8_t)pr;
		return NULL;
	}
	if (strcmp(f[0], "file") == 0 && n == 9) {
		int i = atoi(f[1]), parent = atoi(f[2]);
		if (i < 0 || i >= VP15_MAX_FILES || (i == VP15_MF) != (parent == -1) ||
		    (i != VP15_MF && (parent < 0 || parent >= VP15_MAX_FILES ||
		    !c->files[parent].used || !c->files[parent].df)))
			return rt_err_new(RT_E_FORMAT, NULL, "file %s: parent %s", f[1], f[2]);
		struct vp15_file *fl = &c->files[i];
		if (i != VP15_MF && fl->used)
			return rt_err_new(RT_E_FORMAT, NULL, "file %d twice", i);
		fl->used = true;
		fl->parent = parent;
		fl->df = strcmp(f[3], "df") == 0;
		fl->fid = (uint16_t)strtoul(f[4], NULL, 16);
		if ((e = hex_field(f[5], fl->sa, sizeof(fl->sa), &len, "security attributes")) != NULL)
			return e;
		if ((e = hex_field(f[6], fl->aid, sizeof(fl->aid), &fl->aid_len, "AID")) != NULL)
			return e;
		size_t size = strtoul(f[7], NULL, 10);
		if (fl->df || size > VP15_MAX_EF)
			size = fl->df ? 0 : (size_t)-1;
		if (size == (size_t)-1)
			return rt_err_new(RT_E_FORMAT, NULL, "file %d: size %s", i, f[7]);
		if (!fl->df) {
			if ((e = hex_field(f[8], buf, cap, &len, "file data")) != NULL)
				return e;
			if (len != size)
				return rt_err_new(RT_E_FORMAT, NULL, "file %d: %zu bytes, size %zu", i, len, size);
			fl->data = calloc(1, size ? size : 1);
			if (fl->data == NULL)
				return rt_err_new(RT_E_NOMEM, NULL, "file %d", i);
			memcpy(fl->data, buf, size);
			fl->size = size;
		}
		return NULL;
	}
	return rt_err_new(RT_E_FORMAT, NULL, "unknown record \"%s\"", f[0]);
}

rt_err *
vp15_load(vp15 *c, const uint8_t *data, size_t len)
{
	char *text = malloc(len + 1);
	uint8_t *buf = malloc(VP15_MAX_EF + 8192);
	rt_err *e = NULL;
	if (text == NULL || buf == NULL) {
		e = rt_err_new(RT_E_NOMEM, NULL, "vp15: load");
		goto out;
	}
	memcpy(text, data, len);
	text[len] = '\0';
	char *save = NULL;
	int lineno = 0;
	bool head = false, end = false;
	for (char *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (!head) {
			if (strcmp(l, "vp15-state 1") != 0) {
				e = rt_err_new(RT_E_FORMAT, NULL, "not a vp15 state file (version 1)");
				goto out;
			}
			head = true;
			continue;
		}
		if (strcmp(l, "end") == 0) {
			end = true;
			break;
		}
		if ((e = load_line(c, l, buf, VP15_MAX_EF + 8192)) != NULL) {
			e = rt_err_wrap(e, "line %d", lineno);
			goto out;
		}
	}
	if (!end)
		e = rt_err_new(RT_E_FORMAT, NULL, "state file cut short (no \"end\")");
out:
	if (text != NULL) {
		rt_wipe(text, len);
		free(text);
	}
	if (buf != NULL) {
		rt_wipe(buf, VP15_MAX_EF + 8192);
		free(buf);
	}
	return e;
}

rt_err *
vp15_create(const char *path, bool overwrite, vp15 **out)
{
	*out = NULL;
	if (path != NULL && !overwrite && access(path, F_OK) == 0)
		return rt_err_new(RT_E_IO, NULL, "%s exists (overwrite to replace it)", path);
	vp15 *c;
	rt_err *e = vp15_blank(&c);
	if (e != NULL)
		return e;
	if (path != NULL && (c->path = strdup(path)) == NULL) {
		vp15_free(c);
		return rt_err_new(RT_E_NOMEM, NULL, "vp15: path");
	}
	if ((e = vp15_save(c)) != NULL) {
		vp15_free(c);
		return e;
	}
	*out = c;
	return NULL;
}

rt_err *
vp15_open(const char *path, vp15 **out)
{
	*out = NULL;
	if (path == NULL || access(path, F_OK) != 0)
		return vp15_create(path, false, out);
	uint8_t *data;
	size_t len;
	rt_err *e = rt_file_read(path, STATE_MAX, &data, &len);
	if (e != NULL)
		return e;
	vp15 *c = NULL;
	if ((e = vp15_blank(&c)) == NULL)
		e = vp15_load(c, data, len);
	rt_wipe(data, len);
	free(data);
	if (e == NULL && (c->path = strdup(path)) == NULL)
		e = rt_err_new(RT_E_NOMEM, NULL, "vp15: path");
	if (e != NULL) {
		vp15_free(c);
		return rt_err_wrap(e, "%s", path);
	}
	*out = c;
	return NULL;
}
