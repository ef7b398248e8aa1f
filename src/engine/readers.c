/* readers.c - which reader holds the officer's card and which the target
 * card; see include/raterm/engine.h. */
#include "raterm/engine.h"
#include "engine_int.h"
#include "raterm/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
sel_desc(const rt_reader_sel *s, char *buf, size_t cap)
{
	switch (s->match) {
	case RT_READER_AUTO: return "auto";
	case RT_READER_NAME: snprintf(buf, cap, "name \"%s\"", s->value); break;
	case RT_READER_PATTERN: snprintf(buf, cap, "pattern \"%s\"", s->value);
		break;
	}
	return buf;
}

rt_err *
rt_station_pick(const rt_config *cfg, const rt_reader_cand *cands, size_t n,
    rt_station_readers *out)
{
	char d[300];
	size_t nofficer = 0, ntarget = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		const rt_reader_cand *c = &cands[i];
		if (!c->card_present)
			continue;
		bool officer = cfg->officer_reader.match == RT_READER_AUTO ?
		    c->officer_card :
		    rt_reader_sel_matches(&cfg->officer_reader, c->name);
		if (officer && nofficer++ == 0)
			snprintf(out->officer, sizeof(out->officer), "%s", c->name);
		bool target = cfg->target_reader.match == RT_READER_AUTO ?
		    !officer : rt_reader_sel_matches(&cfg->target_reader, c->name);
		if (target && ntarget++ == 0)
			snprintf(out->target, sizeof(out->target), "%s", c->name);
	}
	if (nofficer != 1)
		out->officer[0] = '\0';
	if (ntarget != 1) {
		out->target[0] = '\0';
		return rt_err_new(RT_E_NO_READER, NULL, "readers.target (%s): "
		    "%zu readers hold a matching card%s; expected one (give -r "
		    "READER)", sel_desc(&cfg->target_reader, d, sizeof(d)),
		    ntarget, cfg->target_reader.match == RT_READER_AUTO ?
		    " that is not the officer's" : "");
	}
	return NULL;
}

bool
eng_officer_card(rt_reader_open_fn open, void *ctx, const char *name,
    uint8_t slot, const rt_castore *cas)
{
	rt_transport *t = NULL;
	rt_card *c = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	bool yes = false;
	if (cas == NULL)
		return false;
	rt_err *e = open != NULL ? open(ctx, name, &t) : rt_pcsc_open(name, &t);
	if (e == NULL)
		e = rt_card_open(t, &c);
	if (e == NULL)
		e = rt_card_read_cert(c, slot, &der, &len);
	if (e == NULL)
		yes = rt_castore_issued(cas, der, len);
	rt_err_free(e);
	free(der);
	rt_card_close(c);
	rt_transport_close(t);
	return yes;
}

rt_err *
rt_station_readers_find(const rt_config *cfg, const rt_castore *officer_cas,
    const char *target_held, const char *officer_held,
    rt_station_readers *out)
{
	rt_reader_info *r;
	size_t n;
	rt_err *e = rt_pcsc_list(&r, &n);
	if (e != NULL)
		return e;
	rt_reader_cand *c = calloc(n ? n : 1, sizeof(*c));
	if (c == NULL) {
		free(r);
		return rt_err_new(RT_E_NOMEM, NULL, "readers");
	}
	bool probe = cfg->officer_reader.match == RT_READER_AUTO &&
	    officer_cas != NULL;
	for (size_t i = 0; i < n; i++) {
		snprintf(c[i].name, sizeof(c[i].name), "%s", r[i].name);
		c[i].card_present = r[i].card_present;
		if (officer_held != NULL && strcmp(r[i].name, officer_held) == 0)
			c[i].officer_card = true;
		else if (target_held != NULL &&
		    strcmp(r[i].name, target_held) == 0)
			c[i].officer_card = false;
		else if (probe && r[i].card_present)
			c[i].officer_card = eng_officer_card(NULL, NULL, r[i].name,
			    cfg->officer.slot, officer_cas);
	}
	free(r);
	e = rt_station_pick(cfg, c, n, out);
	free(c);
	return e;
}
