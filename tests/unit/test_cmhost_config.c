/* Unit tests: cmhost's YAML configuration - a full config parses with its
 * defaults and relative paths; every error names file, line and field
 * (unknown keys, wrong types, bad values, missing sections, references to
 * profiles that do not exist, YAML syntax). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "raterm/cmhost.h"
#include "raterm/csr.h"

static const char good[] =
	"listen:\n"				/* 1 */
	"  address: 127.0.0.1\n"
	"  port: 18829\n"
	"  path: /pkix/\n"
	"database:\n"				/* 5 */
	"  path: db/cmhost.db\n"
	"  confirm_grace: 30\n"
	"ca:\n"
	"  cert: ca.pem\n"
	"  key: /abs/ca.key\n"		/* 10 */
	"officer_cas: [officer-ca.pem]\n"
	"officers:\n"
	"  - name: alice\n"
	"    cn: Alice Officer\n"
	"    profiles: [user]\n"		/* 15 */
	"    revoke: yes\n"
	"  - name: bob\n"
	"    subject: \"CN=Bob, O=x\"\n"
	"    profiles: ['*']\n"
	"profiles:\n"				/* 20 */
	"  - name: user\n"
	"    validity_days: 30\n"
	"    key_types: [p256]\n"
	"    subject:\n"
	"      required: [CN]\n"		/* 25 */
	"      allowed: [CN, O]\n"
	"      fixed: {O: Example}\n"
	"    subject_alt_names: [email, upn]\n"
	"    key_usage: [digitalSignature, keyEncipherment]\n"
	"    extended_key_usage: [clientAuth, 1.2.3.4]\n"	/* 30 */
	"    qc:\n"
	"      fixed: {compliance: true, type: [esign, eseal]}\n"
	"      ra_may_add: [pds, sscd]\n";

static void
test_good(void **state)
{
	cmh_config *c;
	char url[128];
	rt_err *e = cmh_config_parse("/etc/cmhost/cmhost.yaml", good,
	    strlen(good), &c);
	(void)state;
	assert_null(e);
	assert_string_equal(c->address, "127.0.0.1");
	assert_int_equal(c->port, 18829);
	assert_int_equal(c->threads, 4);
	assert_string_equal(c->db_path, "/etc/cmhost/db/cmhost.db");
	assert_int_equal(c->grace_seconds, 30);
	assert_string_equal(c->ca_cert, "/etc/cmhost/ca.pem");
	assert_string_equal(c->ca_key, "/abs/ca.key");
	assert_int_equal(c->nofficer_cas, 1);
	assert_string_equal(c->officer_cas[0], "/etc/cmhost/officer-ca.pem");
	assert_int_equal(c->nofficers, 2);
	assert_true(c->officers[0].revoke);
	assert_false(c->officers[0].mgmt_keys);
	assert_true(cmh_officer_may_use(&c->officers[0], "user"));
	assert_false(cmh_officer_may_use(&c->officers[0], "other"));
	assert_true(cmh_officer_may_use(&c->officers[1], "other"));
	const cmh_profile *p = cmh_profile_find(c, "user");
	assert_non_null(p);
	assert_int_equal(p->validity_days, 30);
	assert_int_equal(p->key_types, CMH_KT_P256);
	assert_int_equal(p->nsubj_fixed, 1);
	assert_string_equal(p->subj_fixed[0].value, "Example");
	assert_int_equal(p->san_types, CMH_SAN_EMAIL | CMH_SAN_UPN);
	assert_int_equal(p->key_usage, RT_KU_DIGITAL_SIGNATURE |
	    RT_KU_KEY_ENCIPHERMENT);
	assert_int_equal(p->nekus, 2);
	assert_string_equal(p->ekus[0], "1.3.6.1.5.5.7.3.2");
	assert_string_equal(p->ekus[1], "1.2.3.4");
	assert_true(p->has_qc_fixed);
	assert_true(p->qc_fixed.compliance);
	assert_int_equal(p->qc_fixed.types, RT_QC_TYPE_ESIGN | RT_QC_TYPE_ESEAL);
	assert_int_equal(p->qc_may_add, CMH_QC_PDS | CMH_QC_SSCD);
	assert_null(cmh_profile_find(c, "nope"));
	cmh_config_url(c, url, sizeof(url));
	assert_string_equal(url, "http://127.0.0.1:18829/pkix/");
	cmh_config_free(c);
}

/* Replaces the line `lineno` (1-based) of the good config with `repl`
 * (which may hold several lines or none) and expects an error message
 * containing `want`. */
static void
expect_err(int lineno, const char *repl, const char *want)
{
	char buf[4096];
	const char *p = good;
	size_t n = 0;
	cmh_config *c = NULL;
	for (int l = 1; *p; l++) {
		const char *eol = strchr(p, '\n');
		size_t len = (size_t)(eol - p) + 1;
		if (l == lineno)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", repl);
		else {
			memcpy(buf + n, p, len);
			n += len;
		}
		p += len;
	}
	buf[n] = '\0';
	rt_err *e = cmh_config_parse("t.yaml", buf, n, &c);
	if (e == NULL) {
		cmh_config_free(c);
		fail_msg("no error for line %d '%s'", lineno, repl);
	}
	assert_int_equal(rt_err_kind_of(e), RT_E_FORMAT);
	if (strstr(rt_err_msg(e), want) == NULL)
		fail_msg("'%s' does not contain '%s'", rt_err_msg(e), want);
	rt_err_free(e);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_err(3, "  prot: 18829\n", "t.yaml:3: listen.prot: unknown key");
	expect_err(3, "  port: 70000\n", "t.yaml:3: listen.port: '70000' is not "
	    "a whole number from 1 to 65535");
	expect_err(3, "  port: [1]\n", "t.yaml:3: listen.port: expected a "
	    "single value");
	expect_err(4, "  path: cmp\n", "t.yaml:4: listen.path: must start with");
	expect_err(7, "  confirm_grace: -1\n", "t.yaml:7: database.confirm_grace");
	expect_err(7, "  pool: 3\n", "database.pool: only with database.url");
	expect_err(6, "  url: postgresql://h/d\n  pool: 65\n", "t.yaml:7: "
	    "database.pool: '65' is not a whole number from 1 to 64");
	expect_err(10, "", "t.yaml:8: ca.key: missing");
	expect_err(11, "officer_cas: []\n", "officer_cas: missing");
	expect_err(13, "  - nam: alice\n", "t.yaml:13: officers[0].nam: unknown "
	    "key");
	expect_err(14, "", "t.yaml:13: officers[0]: needs exactly one of "
	    "'subject' and 'cn'");
	expect_err(15, "    profiles: [usr]\n", "t.yaml:13: officers[0]."
	    "profiles[0]: no profile named 'usr'");
	expect_err(16, "    revoke: maybe\n", "t.yaml:16: officers[0].revoke: "
	    "'maybe' is not true or false");
	expect_err(21, "  - name: user\n    name: again\n", "t.yaml:22: "
	    "profiles[0].name: given twice (first on line 21)");
	expect_err(23, "    key_types: [p521]\n", "t.yaml:23: profiles[0]."
	    "key_types: unknown value 'p521'");
	expect_err(26, "      allowed: [CN, Q]\n", "t.yaml:26: profiles[0]."
	    "subject.allowed: unknown subject attribute 'Q'");
	expect_err(27, "      fixed: {Z: x}\n", "t.yaml:27: profiles[0].subject."
	    "fixed.Z: unknown key");
	expect_err(29, "    key_usage: [digitalSig]\n", "t.yaml:29: profiles[0]."
	    "key_usage: unknown key usage 'digitalSig'");
	expect_err(30, "    extended_key_usage: [clientAuthx]\n", "t.yaml:30: "
	    "profiles[0].extended_key_usage: unknown extended key usage");
	expect_err(32, "      fixed: {compliance: true, colour: red}\n",
	    "t.yaml:32: profiles[0].qc.fixed.colour: unknown key");
	expect_err(33, "      ra_may_add: [pds, everything]\n", "t.yaml:33: "
	    "profiles[0].qc.ra_may_add: unknown value 'everything'");
	expect_err(22, "    validity_days: 0\n", "t.yaml:22: profiles[0]."
	    "validity_days: '0' is not a whole number from 1 to 36500");
	expect_err(1, "lisen:\n", "t.yaml:1: lisen: unknown key");
	expect_err(2, "  address: [127.0.0.1\n", "t.yaml:");
	expect_err(21, "  - name: user\n  - name: user\n", "profile 'user' "
	    "defined twice");
	expect_err(11, "officer_cas: {a: b}\n", "t.yaml:11: officer_cas: "
	    "expected a list");
	expect_err(10, "  key: {a: b}\n", "t.yaml:10: ca.key: expected a single "
	    "value");
	expect_err(12, "officers: 3\nxofficers:\n", "t.yaml:12: officers: "
	    "expected a list");
}

static void
test_empty_and_missing(void **state)
{
	cmh_config *c;
	rt_err *e;
	(void)state;
	e = cmh_config_parse("e.yaml", "", 0, &c);
	assert_non_null(e);
	assert_non_null(strstr(rt_err_msg(e), "e.yaml:1: the file is empty"));
	rt_err_free(e);
	e = cmh_config_parse("e.yaml", "listen: {port: 1}\n", 18, &c);
	assert_non_null(e);
	assert_non_null(strstr(rt_err_msg(e), "database.path: missing"));
	rt_err_free(e);
	e = cmh_config_load("/nonexistent/cmhost.yaml", &c);
	assert_int_equal(rt_err_kind_of(e), RT_E_IO);
	rt_err_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_empty_and_missing),
	};
	return cmocka_run_group_tests_name("cmhost_config", tests, NULL, NULL);
}
