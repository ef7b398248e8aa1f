/* template.c - what each key's certificate request asks for besides the
 * key: the subject (from the TC / the slot's certificate, or typed by the
 * officer), the subjectAltName (copied from the certificate, or typed),
 * the QC statements (the procedure's fixed ones and those the officer
 * adds); the setters and their checks, the plan's description and the
 * DER Extensions of the CMP CertTemplate. See include/raterm/engine.h. */
#include "raterm/csr.h"
#include "raterm/engine.h"
#include "raterm/qc.h"
#include "engine_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	unsigned type;
	const char *name;
} san_names[] = {
	{ RT_SAN_EMAIL, "email" }, { RT_SAN_UPN, "upn" }, { RT_SAN_DNS, "dns" },
};

const char *
rt_san_type_name(unsigned type)
{
	for (size_t i = 0; i < sizeof(san_names) / sizeof(san_names[0]); i++)
		if (san_names[i].type == type)
			return san_names[i].name;
	return "?";
}

unsigned
rt_san_type_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(san_names) / sizeof(san_names[0]); i++)
		if (strcasecmp(s, san_names[i].name) == 0)
			return san_names[i].type;
	return 0;
}

static const char *const qco_names[] = { "compliance", "sscd", "esign",
	"eseal", "web" };

/* The row of slot, or an error naming the slot. */
static rt_err *
row_of(const rt_update *u, uint8_t slot, const char *field, int *row)
{
	char s[4];
	*row = rt_update_row(u, slot);
	if (*row < 0)
		return rt_err_new(RT_E_NOT_FOUND, NULL, "slot %s: %s: the card "
		    "holds no key there", piv_slot_name(slot, s, sizeof(s)), field);
	if (u->proc == NULL)
		return rt_err_new(RT_E_RULE, NULL, "slot %s: %s: choose the "
		    "procedure first", piv_slot_name(slot, s, sizeof(s)), field);
	return NULL;
}

static const char *
src_phrase(rt_source s)
{
	switch (s) {
	case RT_SRC_TC: return "copied from the transport certificate";
	case RT_SRC_CARD: return "copied from the slot's current certificate";
	case RT_SRC_OFFICER: return "typed by the officer";
	default: return "none";
	}
}

rt_err *
rt_update_set_subject(rt_update *u, uint8_t slot, const char *dn)
{
	char s[4];
	int row;
	uint8_t der[1024];
	size_t len;
	rt_err *e = row_of(u, slot, "subject", &row);
	if (e != NULL)
		return e;
	piv_slot_name(slot, s, sizeof(s));
	if (u->proc->subject != RT_SRC_OFFICER)
		return rt_err_new(RT_E_RULE, NULL, "slot %s: subject: procedure "
		    "'%s' takes the subject from %s, it is not typed (subject: "
		    "%s)", s, u->proc->name, u->proc->subject == RT_SRC_TC ?
		    "the transport certificate" : "the slot's certificate",
		    rt_source_name(u->proc->subject));
	if (strlen(dn) >= sizeof(u->req[row].subject))
		return rt_err_new(RT_E_ARG, NULL, "slot %s: subject: longer than "
		    "%zu characters", s, sizeof(u->req[row].subject) - 1);
	if ((e = rt_dn_encode(dn, der, sizeof(der), &len)) != NULL)
		return rt_err_wrap(e, "slot %s: subject", s);
	snprintf(u->req[row].subject, sizeof(u->req[row].subject), "%s", dn);
	return NULL;
}

/* local@domain: printable ASCII without spaces, one @, both sides
 * non-empty, a domain of host-name characters with a dot or not. */
static const char *
check_email(const char *v)
{
	const char *at = strchr(v, '@');
	if (at == NULL || at == v || at[1] == '\0' || strchr(at + 1, '@'))
		return "expected local@domain (one @, both sides non-empty)";
	for (const char *c = v; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f)
			return "a space or a character outside printable ASCII";
	for (const char *c = at + 1; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.')
			return "the domain has a character other than letters, "
			    "digits, '-' and '.'";
	if (at[1] == '.' || at[strlen(at) - 1] == '.' || strstr(at, ".."))
		return "the domain has an empty label";
	return NULL;
}

static const char *
check_upn(const char *v)
{
	const char *at = strchr(v, '@');
	if (at == NULL || at == v || at[1] == '\0')
		return "expected user@realm";
	for (const unsigned char *c = (const unsigned char *)v; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return "a control character";
	return NULL;
}

static const char *
check_dns(const char *v)
{
	size_t n = strlen(v), label = 0;
	if (n == 0 || n > 253)
		return "expected a host name of 1 to 253 characters";
	if (strncmp(v, "*.", 2) == 0)
		v += 2;
	for (const char *c = v;; c++) {
		if (*c == '.' || *c == '\0') {
			if (label == 0 || label > 63)
				return "a label is empty or longer than 63 characters";
			if (c[-1] == '-')
				return "a label ends with '-'";
			label = 0;
			if (*c == '\0')
				break;
			continue;
		}
		if (!isalnum((unsigned char)*c) && *c != '-')
			return "a character other than letters, digits, '-' and '.'";
		if (label == 0 && *c == '-')
			return "a label starts with '-'";
		label++;
	}
	return NULL;
}

static void
types_list(unsigned types, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(san_names) / sizeof(san_names[0]); i++)
		if (types & san_names[i].type)
			o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s",
			    o ? ", " : "", san_names[i].name);
}

rt_err *
rt_update_add_san(rt_update *u, uint8_t slot, const char *spec)
{
	char s[4], tn[16], tl[40];
	int row;
	rt_err *e = row_of(u, slot, "subjectAltName", &row);
	if (e != NULL)
		return e;
	piv_slot_name(slot, s, sizeof(s));
	const char *colon = strchr(spec, ':');
	if (colon == NULL || (size_t)(colon - spec) >= sizeof(tn))
		return rt_err_new(RT_E_ARG, NULL, "slot %s: subjectAltName '%s': "
		    "expected TYPE:VALUE, e.g. email:jane@example.org", s, spec);
	memcpy(tn, spec, (size_t)(colon - spec));
	tn[colon - spec] = '\0';
	const char *v = colon + 1;
	unsigned t = rt_san_type_parse(tn);
	if (t == 0)
		return rt_err_new(RT_E_ARG, NULL, "slot %s: subjectAltName: "
		    "unknown type '%s' (email, upn or dns)", s, tn);
	const rt_procedure *p = u->proc;
	if (p->san != RT_SRC_OFFICER)
		return rt_err_new(RT_E_RULE, NULL, "slot %s: %s: procedure '%s' "
		    "does not take a typed subjectAltName (san: %s: %s)", s, tn,
		    p->name, rt_source_name(p->san), src_phrase(p->san));
	if (!(p->san_types & t)) {
		types_list(p->san_types, tl, sizeof(tl));
		return rt_err_new(RT_E_RULE, NULL, "slot %s: %s: procedure '%s' "
		    "allows subjectAltName types %s only", s, tn, p->name, tl);
	}
	const char *why = t == RT_SAN_EMAIL ? check_email(v) :
	    t == RT_SAN_UPN ? check_upn(v) : check_dns(v);
	if (why != NULL)
		return rt_err_new(RT_E_ARG, NULL, "slot %s: %s '%s': %s", s, tn, v,
		    why);
	rt_key_req *kr = &u->req[row];
	if (strlen(v) >= sizeof(kr->san[0].value))
		return rt_err_new(RT_E_ARG, NULL, "slot %s: %s: longer than %zu "
		    "characters", s, tn, sizeof(kr->san[0].value) - 1);
	for (size_t i = 0; i < kr->nsan; i++)
		if (kr->san[i].type == t && strcmp(kr->san[i].value, v) == 0)
			return NULL;	/* given twice: once is enough */
	if (kr->nsan >= RT_REQ_MAX_SAN)
		return rt_err_new(RT_E_ARG, NULL, "slot %s: at most %d "
		    "subjectAltName names", s, RT_REQ_MAX_SAN);
	kr->san[kr->nsan].type = t;
	snprintf(kr->san[kr->nsan].value, sizeof(kr->san[0].value), "%s", v);
	kr->nsan++;
	return NULL;
}

rt_err *
rt_update_add_qc(rt_update *u, uint8_t slot, const char *name)
{
	char s[4], list[80];
	int row;
	rt_err *e = row_of(u, slot, "QC statement", &row);
	if (e != NULL)
		return e;
	piv_slot_name(slot, s, sizeof(s));
	unsigned bit = 0;
	for (size_t i = 0; i < sizeof(qco_names) / sizeof(qco_names[0]); i++)
		if (strcasecmp(name, qco_names[i]) == 0)
			bit = 1u << i;
	if (bit == 0)
		return rt_err_new(RT_E_ARG, NULL, "slot %s: unknown QC statement "
		    "'%s' (compliance, sscd, esign, eseal, web)", s, name);
	size_t o = 0;
	list[0] = '\0';
	for (size_t i = 0; i < sizeof(qco_names) / sizeof(qco_names[0]); i++)
		if (u->proc->qc_optional & (1u << i))
			o += (size_t)snprintf(list + o, o < sizeof(list) ?
			    sizeof(list) - o : 0, "%s%s", o ? ", " : "",
			    qco_names[i]);
	if (!(u->proc->qc_optional & bit))
		return rt_err_new(RT_E_RULE, NULL, "slot %s: QC statement %s: "
		    "procedure '%s' does not let the officer add it (%s%s)", s,
		    name, u->proc->name, o ? "officer_may_add: " :
		    "it lets the officer add none", list);
	u->req[row].qc_add |= bit;
	return NULL;
}

static bool
acting(const rt_update *u, int row)
{
	rt_action a = u->action[row];
	return a == RT_ACT_ISSUE || a == RT_ACT_REDO || a == RT_ACT_ADD;
}

unsigned
rt_update_missing(const rt_update *u, uint8_t slot)
{
	int row = rt_update_row(u, slot);
	if (row < 0 || u->proc == NULL || !acting(u, row))
		return 0;
	unsigned m = 0;
	const rt_key_req *kr = &u->req[row];
	if (u->proc->subject == RT_SRC_OFFICER && kr->subject[0] == '\0')
		m |= RT_REQ_NEED_SUBJECT;
	if (u->proc->san == RT_SRC_OFFICER && kr->nsan == 0)
		m |= RT_REQ_NEED_SAN(u->proc->san_types);
	return m;
}

static rt_err *
missing_err(const rt_update *u, uint8_t slot, const char *field)
{
	char s[4];
	piv_slot_name(slot, s, sizeof(s));
	if (strcmp(field, "subject") == 0)
		return rt_err_new(RT_E_USAGE, NULL, "slot %s: subject: procedure "
		    "'%s' has the subject typed by the officer and none was "
		    "given", s, u->proc->name);
	return rt_err_new(RT_E_USAGE, NULL, "slot %s: %s: procedure '%s' has "
	    "the subjectAltName typed by the officer and none was given", s,
	    field, u->proc->name);
}

rt_err *
rt_update_ask_typed(rt_update *u, const rt_update_dialogs *d)
{
	char s[4], prompt[400], buf[256];
	rt_err *e;
	for (size_t i = 0; i < u->ct->nrows; i++) {
		uint8_t slot = u->ct->rows[i].slot;
		unsigned m = rt_update_missing(u, slot);
		const char *cn = u->ct->rows[i].cert.subject_cn;
		if (m == 0)
			continue;
		piv_slot_name(slot, s, sizeof(s));
		if (m & RT_REQ_NEED_SUBJECT) {
			size_t len = 0;
			if (d == NULL || d->typed == NULL)
				return missing_err(u, slot, "subject");
			snprintf(prompt, sizeof(prompt), "Subject of the new "
			    "certificate for slot %s%s%s%s (e.g. CN=Jane Doe,O=Example,"
			    "C=DE)", s, cn[0] ? " (now \"" : "", cn, cn[0] ? "\")" :
			    "");
			if ((e = d->typed(d->ctx, slot, "subject", prompt, buf,
			    sizeof(buf) - 1, &len)) != NULL)
				return e;
			buf[len] = '\0';
			if (len == 0)
				return missing_err(u, slot, "subject");
			if ((e = rt_update_set_subject(u, slot, buf)) != NULL)
				return e;
		}
		unsigned want = m >> 8, got = 0;
		const char *first = NULL;
		for (size_t k = 0; k < sizeof(san_names) / sizeof(san_names[0]);
		    k++) {
			if (!(want & san_names[k].type))
				continue;
			const char *tn = san_names[k].name;
			size_t len = 0;
			if (first == NULL)
				first = tn;
			if (d == NULL || d->typed == NULL)
				return missing_err(u, slot, tn);
			snprintf(prompt, sizeof(prompt), "subjectAltName %s for slot "
			    "%s%s", tn, s, want != san_names[k].type ?
			    " (empty: none of this type)" : "");
			if ((e = d->typed(d->ctx, slot, tn, prompt, buf,
			    sizeof(buf) - 1, &len)) != NULL)
				return e;
			buf[len] = '\0';
			if (len == 0)
				continue;
			char spec[300];
			snprintf(spec, sizeof(spec), "%s:%s", tn, buf);
			if ((e = rt_update_add_san(u, slot, spec)) != NULL)
				return e;
			got++;
		}
		if (want != 0 && got == 0)
			return missing_err(u, slot, first ? first : "san");
	}
	return NULL;
}

/* ---- QC statements and extensions ------------------------------------------------- */

bool
eng_key_qc(const rt_procedure *p, const rt_key_req *kr, rt_qc *out)
{
	memset(out, 0, sizeof(*out));
	bool has = p->has_qc_fixed;
	if (p->has_qc_fixed)
		*out = p->qc_fixed;
	unsigned a = kr != NULL ? kr->qc_add : 0;
	if (a & RT_QCO_COMPLIANCE)
		out->compliance = true;
	if (a & RT_QCO_SSCD)
		out->sscd = true;
	if (a & RT_QCO_ESIGN)
		out->types |= RT_QC_TYPE_ESIGN;
	if (a & RT_QCO_ESEAL)
		out->types |= RT_QC_TYPE_ESEAL;
	if (a & RT_QCO_WEB)
		out->types |= RT_QC_TYPE_WEB;
	return has || a != 0;
}

/* GeneralNames -> "email:a@b, dns:h, upn:u" (others by their tag). */
void
eng_san_describe(const uint8_t *v, size_t len, char *out, size_t cap)
{
	size_t o = 0, i = 0;
	out[0] = '\0';
	if (len < 2 || v[0] != 0x30)
		goto bad;
	/* the outer SEQUENCE's length */
	i = 1;
	if (v[i] & 0x80) {
		size_t nb = v[i] & 0x7f;
		i += 1 + nb;
	} else
		i++;
	while (i + 2 <= len) {
		uint8_t tag = v[i++];
		size_t l = v[i++];
		if (l & 0x80) {
			size_t nb = l & 0x7f;
			l = 0;
			if (nb > 2 || i + nb > len)
				goto bad;
			for (size_t k = 0; k < nb; k++)
				l = l << 8 | v[i++];
		}
		if (i + l > len)
			goto bad;
		const char *tn = NULL;
		const uint8_t *val = v + i;
		size_t vl = l;
		if (tag == 0x81)
			tn = "email";
		else if (tag == 0x82)
			tn = "dns";
		else if (tag == 0x86)
			tn = "uri";
		else if (tag == 0xA0) {
			/* otherName: OID, [0] { UTF8String }: the UPN shape */
			static const uint8_t upn[] = { 0x06, 0x0a, 0x2b, 0x06, 0x01,
			    0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03 };
			if (l > sizeof(upn) + 4 && memcmp(val, upn, sizeof(upn)) ==
			    0 && val[sizeof(upn)] == 0xA0 && val[sizeof(upn) + 2] ==
			    0x0C && val[sizeof(upn) + 1] < 0x80) {
				tn = "upn";
				vl = val[sizeof(upn) + 3];
				val += sizeof(upn) + 4;
				if (vl > l - sizeof(upn) - 4)
					goto bad;
			}
		}
		if (tn != NULL)
			o += (size_t)snprintf(out + o, o < cap ? cap - o : 0,
			    "%s%s:%.*s", o ? ", " : "", tn, (int)vl,
			    (const char *)val);
		else
			o += (size_t)snprintf(out + o, o < cap ? cap - o : 0,
			    "%s(name [%u])", o ? ", " : "", tag & 0x1fu);
		i += l;
	}
	return;
bad:
	snprintf(out, cap, "(subjectAltName does not parse)");
}

void
eng_plan_request(const rt_update *u, int row, rt_plan_step *st)
{
	const rt_key_row *r = &u->ct->rows[row];
	const rt_key_req *kr = &u->req[row];
	const rt_procedure *p = u->proc;
	st->subject_src = p->subject;
	st->san_src = p->san;
	if (p->subject == RT_SRC_OFFICER)
		snprintf(st->subject, sizeof(st->subject), "%s", kr->subject);
	else if (r->has_cert)
		snprintf(st->subject, sizeof(st->subject), "%s", r->cert.subject);
	st->san[0] = '\0';
	if (p->san == RT_SRC_OFFICER) {
		size_t o = 0;
		for (size_t i = 0; i < kr->nsan; i++)
			o += (size_t)snprintf(st->san + o, o < sizeof(st->san) ?
			    sizeof(st->san) - o : 0, "%s%s:%s", o ? ", " : "",
			    rt_san_type_name(kr->san[i].type), kr->san[i].value);
	} else if ((p->san == RT_SRC_TC || p->san == RT_SRC_CARD) &&
	    r->has_cert && r->der != NULL) {
		const uint8_t *v;
		size_t vl;
		rt_err *e = rt_cert_ext_find(r->der, r->der_len, RT_OID_SAN, &v,
		    &vl, NULL);
		if (e == NULL)
			eng_san_describe(v, vl, st->san, sizeof(st->san));
		rt_err_free(e);
	}
	st->has_qc = eng_key_qc(p, kr, &st->qc);
	st->missing = rt_update_missing(u, r->slot);
}

rt_err *
eng_build_extensions(const rt_update *u, int row, uint8_t **der, size_t *len)
{
	char s[4];
	const rt_key_row *r = &u->ct->rows[row];
	const rt_key_req *kr = &u->req[row];
	const rt_procedure *p = u->proc;
	rt_ext ext[2];
	size_t n = 0;
	uint8_t *san = NULL, *qcd = NULL;
	size_t san_len = 0, qcl = 0;
	rt_err *e = NULL;
	*der = NULL;
	*len = 0;
	piv_slot_name(r->slot, s, sizeof(s));
	if (p->san == RT_SRC_OFFICER) {
		const char *em[RT_REQ_MAX_SAN], *up[RT_REQ_MAX_SAN],
		    *dn[RT_REQ_MAX_SAN];
		rt_csr_req q;
		memset(&q, 0, sizeof(q));
		for (size_t i = 0; i < kr->nsan; i++) {
			const char *v = kr->san[i].value;
			switch (kr->san[i].type) {
			case RT_SAN_EMAIL: em[q.nemails++] = v; break;
			case RT_SAN_UPN: up[q.nupns++] = v; break;
			default: dn[q.ndns++] = v; break;
			}
		}
		q.emails = em;
		q.upns = up;
		q.dns = dn;
		if (kr->nsan == 0)
			return missing_err(u, r->slot, rt_san_type_name(
			    p->san_types & RT_SAN_EMAIL ? RT_SAN_EMAIL :
			    p->san_types & RT_SAN_UPN ? RT_SAN_UPN : RT_SAN_DNS));
		if ((e = rt_san_encode(&q, &san, &san_len)) != NULL)
			return rt_err_wrap(e, "slot %s: subjectAltName", s);
		ext[n++] = (rt_ext){ RT_OID_SAN, false, san, san_len };
	} else if ((p->san == RT_SRC_TC || p->san == RT_SRC_CARD) &&
	    r->has_cert && r->der != NULL) {
		const uint8_t *v;
		size_t vl;
		e = rt_cert_ext_find(r->der, r->der_len, RT_OID_SAN, &v, &vl, NULL);
		if (e == NULL)
			ext[n++] = (rt_ext){ RT_OID_SAN, false, v, vl };
		else if (rt_err_kind_of(e) == RT_E_NOT_FOUND) {
			rt_err_free(e);	/* nothing to copy */
			e = NULL;
		} else
			return rt_err_wrap(e, "slot %s: subjectAltName of the "
			    "certificate", s);
	}
	rt_qc qc;
	if (eng_key_qc(p, kr, &qc)) {
		if ((e = rt_qc_encode(&qc, &qcd, &qcl)) != NULL) {
			e = rt_err_wrap(e, "slot %s: QC statements", s);
			goto out;
		}
		ext[n++] = (rt_ext){ RT_OID_QC_STATEMENTS, false, qcd, qcl };
	}
	if (n > 0 && (e = rt_exts_encode(ext, n, der, len)) != NULL)
		e = rt_err_wrap(e, "slot %s: extensions", s);
out:
	free(san);
	free(qcd);
	return e;
}
