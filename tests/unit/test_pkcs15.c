/* Unit tests of the PKCS#15 codec (src/card/pkcs15.c): the files OpenSC's
 * pkcs15-init wrote on a vp15 card (isoApplet profile: PIN, two EC keys,
 * their TCs, the transport CA as authority; dumped from the card of
 * tests/integ/t_vp15.sh) parsed field by field and encoded back byte for
 * byte; objects built from scratch; malformed and truncated inputs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raterm/pkcs15.h"
#include "raterm/util.h"

/* dir (2f00) */
static const char fx_dir[] =
    "61284f0ca000000063504b43532d313550124a617661436172642069736f4170"
    "706c657451043f005015"
    ;
/* odf (5031) */
static const char fx_odf[] =
    "a80a300804063f0050154401a00a300804063f0050154402a10a300804063f00"
    "50154403a40a300804063f0050154404"
    ;
/* tokeninfo (5032) */
static const char fx_tokeninfo[] =
    "303b020100040200000c07756e6b6e6f776e80124a617661436172642069736f"
    "4170706c657403020410a511180f32303236313230353033333432345a"
    ;
/* aodf (4401) */
static const char fx_aodf[] =
    "302f300e0c08557365722050494e030206c030030401ffa11830160302028c0a"
    "0101020104020110020110800101040100"
    ;
/* prkdf (4402) */
static const char fx_prkdf[] =
    "a06b30170c0e43617264204b6579203031205443030206c00401ff300e040101"
    "03020430030203b8020100a030302e302c3114301206035504030c0b43617264"
    "204b657920303131143012060355040a0c0b72617465726d2074657374a10e30"
    "0c300604043f00501502020100a06b30170c0e43617264204b65792030322054"
    "43030206c00401ff300e04010203020430030203b8020101a030302e302c3114"
    "301206035504030c0b43617264204b657920303231143012060355040a0c0b72"
    "617465726d2074657374a10e300c300604043f00501502020100"
    ;
/* pukdf (4403) */
static const char fx_pukdf[] =
    "a03030110c0b43617264204b657920303103020640300d040101030200030101"
    "00020100a10c300a300804063f0050153300a03030110c0b43617264204b6579"
    "20303203020640300d04010203020003010100020100a10c300a300804063f00"
    "50153301"
    ;
/* cdf (4404) */
static const char fx_cdf[] =
    "302930140c0e43617264204b6579203031205443030206403003040101a10c30"
    "0a300804063f0050153400302930140c0e43617264204b657920303220544303"
    "0206403003040102a10c300a300804063f0050153401302a30120c0c5472616e"
    "73706f72742043410302064030060401c10101ffa10c300a300804063f005015"
    "3402"
    ;

/* hex into a malloc'ed buffer */
static uint8_t *
unhex(const char *h, size_t *len)
{
	size_t n = strlen(h) / 2;
	uint8_t *b = malloc(n + 1);
	assert_non_null(b);
	assert_null(rt_hex_decode(h, strlen(h), b, n, len, 0));
	return b;
}

static void
test_dir_odf_tokeninfo(void **state)
{
	(void)state;
	size_t len, elen;
	uint8_t out[1024];

	uint8_t *b = unhex(fx_dir, &len);
	p15_dir d;
	assert_null(p15_dir_parse(b, len, &d));
	assert_int_equal(d.n, 1);
	assert_int_equal(d.app[0].aid_len, sizeof(p15_aid));
	assert_memory_equal(d.app[0].aid, p15_aid, sizeof(p15_aid));
	assert_string_equal(d.app[0].label, "JavaCard isoApplet");
	assert_int_equal(d.app[0].path_len, 4);
	assert_memory_equal(d.app[0].path, "\x3F\x00\x50\x15", 4);
	assert_null(p15_dir_encode(&d, out, sizeof(out), &elen));
	assert_int_equal(elen, len);
	assert_memory_equal(out, b, len);
	free(b);

	b = unhex(fx_odf, &len);
	p15_odf o;
	assert_null(p15_odf_parse(b, len, &o));
	assert_int_equal(o.n, 4);
	const uint8_t tags[4] = { P15_ODF_AODF, P15_ODF_PRKDF, P15_ODF_PUKDF, P15_ODF_CDF };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(o.e[i].tag, tags[i]);
		assert_int_equal(o.e[i].path.len, 6);
	}
	const p15_path *p = p15_odf_find(&o, P15_ODF_CDF);
	assert_non_null(p);
	assert_memory_equal(p->b, "\x3F\x00\x50\x15\x44\x04", 6);
	assert_null(p15_odf_find(&o, P15_ODF_CDF_TRUSTED));
	assert_null(p15_odf_encode(&o, out, sizeof(out), &elen));
	assert_int_equal(elen, len);
	assert_memory_equal(out, b, len);
	free(b);

	b = unhex(fx_tokeninfo, &len);
	p15_tokeninfo t;
	assert_null(p15_tokeninfo_parse(b, len, &t));
	assert_int_equal(t.version, 0);
	assert_int_equal(t.serial_len, 2);
	assert_string_equal(t.manufacturer, "unknown");
	assert_string_equal(t.label, "JavaCard isoApplet");
	assert_int_equal(t.flags, P15_TOKEN_EID_COMPLIANT);
	assert_int_equal(t.rest.len, 19);               /* lastUpdate [5] */
	assert_null(p15_tokeninfo_encode(&t, out, sizeof(out), &elen));
	assert_int_equal(elen, len);
	assert_memory_equal(out, b, len);
	free(b);
}

/* Parses a fixture with padding after it (as on the card), encodes it
 * back and compares. */
static void
roundtrip(p15_df_kind kind, const char *hex, p15_df *df)
{
	size_t len, elen, used;
	uint8_t *b = unhex(hex, &len);
	uint8_t *padded = calloc(1, len + 100);
	assert_non_null(padded);
	memcpy(padded, b, len);
	assert_null(p15_df_parse(kind, padded, len + 100, df, &used));
	assert_int_equal(used, len);
	uint8_t out[4096];
	assert_null(p15_df_encode(df, out, sizeof(out), &elen));
	assert_int_equal(elen, len);
	assert_memory_equal(out, b, len);
	free(padded);
	free(b);
}

static void
test_aodf(void **state)
{
	(void)state;
	p15_df *df = calloc(1, sizeof(*df));
	roundtrip(P15_DF_AODF, fx_aodf, df);
	assert_int_equal(df->n, 1);
	const p15_pin *p = &df->u.pin[0];
	assert_string_equal(p->common.label, "User PIN");
	assert_int_equal(p->common.flags, P15_OBJ_PRIVATE | P15_OBJ_MODIFIABLE);
	assert_int_equal(p->auth_id.len, 1);
	assert_int_equal(p->auth_id.b[0], 0xFF);
	assert_int_equal(p->flags, P15_PIN_CASE_SENSITIVE | P15_PIN_INITIALIZED |
	    P15_PIN_NEEDS_PADDING);
	assert_int_equal(p->type, P15_PIN_ASCII_NUMERIC);
	assert_int_equal(p->min_len, 4);
	assert_int_equal(p->stored_len, 16);
	assert_int_equal(p->max_len, 16);
	assert_int_equal(p->reference, 1);
	assert_int_equal(p->pad_char, 0);
	assert_int_equal(p->path.len, 0);
	free(df);
}

static void
test_prkdf_pukdf(void **state)
{
	(void)state;
	p15_df *df = calloc(1, sizeof(*df));
	roundtrip(P15_DF_KEYS, fx_prkdf, df);
	assert_int_equal(df->n, 2);
	for (int i = 0; i < 2; i++) {
		const p15_key *k = &df->u.key[i];
		char label[32];
		snprintf(label, sizeof(label), "Card Key 0%d TC", i + 1);
		assert_int_equal(k->type, P15_KEY_EC);
		assert_string_equal(k->common.label, label);
		assert_int_equal(k->common.auth_id.len, 1);
		assert_int_equal(k->common.auth_id.b[0], 0xFF);
		assert_int_equal(k->id.len, 1);
		assert_int_equal(k->id.b[0], i + 1);
		assert_int_equal(k->usage, P15_USAGE_SIGN | P15_USAGE_SIGN_RECOVER);
		assert_int_equal(k->access, P15_ACCESS_SENSITIVE | P15_ACCESS_ALWAYS_SENSITIVE |
		    P15_ACCESS_NEVER_EXTRACTABLE | P15_ACCESS_LOCAL);
		assert_int_equal(k->key_ref, i);
		assert_int_equal(k->native, -1);
		assert_true(k->has_subclass);           /* subjectName */
		assert_memory_equal(k->path.b, "\x3F\x00\x50\x15", 4);
		assert_int_equal(k->type_rest.len, 4);  /* fieldLength 256 */
	}
	roundtrip(P15_DF_KEYS, fx_pukdf, df);
	assert_int_equal(df->n, 2);
	assert_int_equal(df->u.key[1].usage, P15_USAGE_VERIFY | P15_USAGE_VERIFY_RECOVER);
	assert_int_equal(df->u.key[1].native, 0);
	assert_memory_equal(df->u.key[1].path.b, "\x3F\x00\x50\x15\x33\x01", 6);
	free(df);
}

static void
test_cdf(void **state)
{
	(void)state;
	p15_df *df = calloc(1, sizeof(*df));
	roundtrip(P15_DF_CERTS, fx_cdf, df);
	assert_int_equal(df->n, 3);
	assert_string_equal(df->u.cert[0].common.label, "Card Key 01 TC");
	assert_int_equal(df->u.cert[0].common.flags, P15_OBJ_MODIFIABLE);
	assert_int_equal(df->u.cert[0].id.b[0], 0x01);
	assert_false(df->u.cert[0].authority);
	assert_memory_equal(df->u.cert[1].path.b, "\x3F\x00\x50\x15\x34\x01", 6);
	assert_string_equal(df->u.cert[2].common.label, "Transport CA");
	assert_true(df->u.cert[2].authority);
	assert_int_equal(df->u.cert[2].id.b[0], 0xC1);
	free(df);
}

/* A CDF entry and a key built from scratch, as a writer would. */
static void
test_build(void **state)
{
	(void)state;
	p15_df *df = calloc(1, sizeof(*df)), *back = calloc(1, sizeof(*back));
	df->kind = P15_DF_CERTS;
	df->n = 2;
	for (int i = 0; i < 2; i++) {
		p15_cert *c = &df->u.cert[i];
		snprintf(c->common.label, sizeof(c->common.label), "Cert %d", i);
		c->common.flags = P15_OBJ_MODIFIABLE;
		c->id.b[0] = 0x45;
		c->id.len = 1;                  /* two certificates of one key */
		c->authority = i == 1;
		memcpy(c->path.b, "\x3F\x00\x50\x15\x34\x10", 6);
		c->path.b[5] += (uint8_t)i;
		c->path.len = 6;
	}
	uint8_t buf[1024];
	size_t len, used;
	assert_null(p15_df_encode(df, buf, sizeof(buf), &len));
	assert_null(p15_df_parse(P15_DF_CERTS, buf, len, back, &used));
	assert_int_equal(used, len);
	assert_int_equal(back->n, 2);
	assert_string_equal(back->u.cert[1].common.label, "Cert 1");
	assert_true(back->u.cert[1].authority);
	assert_int_equal(back->u.cert[0].path.b[5], 0x10);

	/* a key with every bit of the usage and no optional parts */
	memset(df, 0, sizeof(*df));
	df->kind = P15_DF_KEYS;
	df->n = 1;
	p15_key *k = &df->u.key[0];
	k->type = P15_KEY_RSA;
	k->usage = 0x3FF;
	k->native = -1;
	k->key_ref = 300;
	k->id.len = 20;
	memcpy(k->path.b, "\x3F\x00", 2);
	k->path.len = 2;
	assert_null(p15_df_encode(df, buf, sizeof(buf), &len));
	assert_null(p15_df_parse(P15_DF_KEYS, buf, len, back, NULL));
	assert_int_equal(back->u.key[0].usage, 0x3FF);
	assert_int_equal(back->u.key[0].key_ref, 300);
	assert_false(back->u.key[0].has_access);
	/* an SO PIN built from scratch (vp15 personalize --so-pin) */
	p15_df *pins = calloc(1, sizeof(*pins));
	pins->kind = P15_DF_AODF;
	pins->n = 1;
	p15_pin *pin = &pins->u.pin[0];
	snprintf(pin->common.label, sizeof(pin->common.label), "Security Officer PIN");
	pin->auth_id.b[0] = 0x05;
	pin->auth_id.len = 1;
	pin->flags = P15_PIN_INITIALIZED | P15_PIN_SO | P15_PIN_NEEDS_PADDING;
	pin->type = P15_PIN_ASCII_NUMERIC;
	pin->min_len = 4;
	pin->stored_len = pin->max_len = 16;
	pin->reference = 5;
	pin->has_reference = true;
	pin->pad_char = 0;
	assert_null(p15_df_encode(pins, buf, sizeof(buf), &len));
	assert_null(p15_df_parse(P15_DF_AODF, buf, len, back, NULL));
	assert_int_equal(back->u.pin[0].flags, pin->flags);
	assert_int_equal(back->u.pin[0].reference, 5);
	assert_string_equal(back->u.pin[0].common.label, "Security Officer PIN");
	free(pins);
	/* too small a buffer */
	rt_err *e = p15_df_encode(df, buf, 10, &len);
	assert_true(rt_err_has(e, RT_E_TOO_BIG));
	rt_err_free(e);
	/* a type that is neither RSA nor EC */
	k->type = 0xA1;
	e = p15_df_encode(df, buf, sizeof(buf), &len);
	assert_true(rt_err_has(e, RT_E_ARG));
	rt_err_free(e);
	free(df);
	free(back);
}

static void
expect_fail(p15_df_kind kind, const char *hex, rt_err_kind want)
{
	size_t len;
	uint8_t *b = unhex(hex, &len);
	p15_df *df = calloc(1, sizeof(*df));
	rt_err *e = p15_df_parse(kind, b, len, df, NULL);
	if (e == NULL || !rt_err_has(e, want)) {
		char m[256] = "(none)";
		if (e != NULL)
			rt_err_format(e, m, sizeof(m));
		fail_msg("%s: %s", hex, m);
	}
	rt_err_free(e);
	free(df);
	free(b);
}

static void
test_malformed(void **state)
{
	(void)state;
	/* garbage after the data is not padding; mixed padding */
	char h[2048];
	snprintf(h, sizeof(h), "%s0000ff", fx_cdf);
	expect_fail(P15_DF_CERTS, h, RT_E_FORMAT);
	snprintf(h, sizeof(h), "%s3000", fx_aodf);
	expect_fail(P15_DF_AODF, h, RT_E_TLV);
	/* a key object in the CDF, a certificate object in the PrKDF */
	expect_fail(P15_DF_CERTS, fx_prkdf, RT_E_FORMAT);
	expect_fail(P15_DF_KEYS, "a10330010000", RT_E_FORMAT);
	/* bit string with unused bits set; non-minimal integer; bad boolean */
	expect_fail(P15_DF_CERTS, "301e30080c02414203020641300604010101017fa10a3008300604043f005015",
	    RT_E_FORMAT);
	expect_fail(P15_DF_CERTS, "301b30080c024142030206403003040101a10a3008300604043f0050150201",
	    RT_E_TLV);
	/* a path of an odd number of bytes */
	expect_fail(P15_DF_CERTS, "301830080c024142030206403003040101a1073005300304013f",
	    RT_E_FORMAT);
	/* an object that does not end where its length says */
	expect_fail(P15_DF_CERTS, "301f30080c024142030206403003040101a10c300a300804063f00501534000000",
	    RT_E_TLV);
	/* a label of 65 bytes */
	size_t n = (size_t)snprintf(h, sizeof(h), "305c30470c41");
	for (int i = 0; i < 65; i++)
		n += (size_t)snprintf(h + n, sizeof(h) - n, "41");
	snprintf(h + n, sizeof(h) - n, "030206403003040101a10c300a300804063f0050153400");
	expect_fail(P15_DF_CERTS, h, RT_E_TOO_BIG);

	/* 33 objects: more than the bound */
	size_t one;
	uint8_t *obj = unhex("302930140c0e43617264204b6579203031205443030206403003040101a10c300a300804063f0050153400", &one);
	uint8_t *many = malloc(one * 33);
	for (int i = 0; i < 33; i++)
		memcpy(many + i * one, obj, one);
	p15_df *df = calloc(1, sizeof(*df));
	rt_err *e = p15_df_parse(P15_DF_CERTS, many, one * 33, df, NULL);
	assert_true(rt_err_has(e, RT_E_TOO_BIG));
	rt_err_free(e);
	assert_null(p15_df_parse(P15_DF_CERTS, many, one * 32, df, NULL));
	assert_int_equal(df->n, 32);
	free(many);
	free(obj);
	free(df);

	/* EF.DIR, ODF, TokenInfo */
	size_t len;
	uint8_t *b = unhex("61034f01a00001", &len);    /* not padding after */
	p15_dir d;
	e = p15_dir_parse(b, len, &d);
	assert_true(rt_err_has(e, RT_E_FORMAT));
	rt_err_free(e);
	free(b);
	b = unhex("a9083006040401020304", &len);
	p15_odf o;
	e = p15_odf_parse(b, len, &o);
	assert_true(rt_err_has(e, RT_E_FORMAT));        /* unknown entry */
	rt_err_free(e);
	free(b);
	b = unhex("300a02010004010003020100", &len);    /* flags: 1 unused, none */
	p15_tokeninfo t;
	e = p15_tokeninfo_parse(b, len, &t);
	assert_true(rt_err_has(e, RT_E_FORMAT));
	rt_err_free(e);
	free(b);
}

/* Every prefix and every one-byte change of every fixture: an error or a
 * parse that encodes back to what it read; never a crash (ASan). */
static void
test_truncated_and_flipped(void **state)
{
	(void)state;
	const struct { p15_df_kind kind; const char *hex; } fx[] = {
		{ P15_DF_AODF, fx_aodf }, { P15_DF_KEYS, fx_prkdf },
		{ P15_DF_KEYS, fx_pukdf }, { P15_DF_CERTS, fx_cdf },
	};
	p15_df *df = calloc(1, sizeof(*df));
	uint8_t out[4096];
	for (size_t f = 0; f < sizeof(fx) / sizeof(fx[0]); f++) {
		size_t len, used, elen;
		uint8_t *b = unhex(fx[f].hex, &len);
		for (size_t cut = 0; cut < len; cut++) {
			rt_err *e = p15_df_parse(fx[f].kind, b, cut, df, &used);
			if (e == NULL) {
				assert_null(p15_df_encode(df, out, sizeof(out), &elen));
				assert_int_equal(elen, used);
				assert_memory_equal(out, b, used);
			}
			rt_err_free(e);
		}
		for (size_t i = 0; i < len; i++) {
			for (int bit = 0; bit < 8; bit++) {
				b[i] ^= (uint8_t)(1 << bit);
				rt_err *e = p15_df_parse(fx[f].kind, b, len, df, &used);
				if (e == NULL)
					assert_null(p15_df_encode(df, out, sizeof(out), &elen));
				rt_err_free(e);
				b[i] ^= (uint8_t)(1 << bit);
			}
		}
		free(b);
	}
	free(df);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir_odf_tokeninfo),
		cmocka_unit_test(test_aodf),
		cmocka_unit_test(test_prkdf_pukdf),
		cmocka_unit_test(test_cdf),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_truncated_and_flipped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
