/* fuzz_csr.c - fuzz target for the CSR-to-template step: the input is a
 * PKCS#10 request (DER), as `raterm cmp` and the p10cr path take it:
 * rt_csr_verify, then cmp_req_from_csr makes the certificate template
 * (subject, key, requested extensions), which every profile of a fixed
 * cmhost configuration then checks (cmh_policy_check), as the CM host
 * would. Whatever the bytes, each step ends with a result or an error.
 *
 * Built with libFuzzer (`make fuzz`, clang) or with the replay/mutation
 * driver in driver.c (`make fuzz-smoke`, part of `make check`). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raterm/cmhost.h"
#include "raterm/cmp.h"
#include "raterm/csr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf[] =
    "database: {path: cmhost.db}\n"
    "ca: {cert: ca.pem, key: ca.key}\n"
    "officer_cas: [officer-ca.pem]\n"
    "officers:\n"
    "  - {name: o, cn: Officer, profiles: ['*']}\n"
    "profiles:\n"
    "  - name: user\n"
    "    validity_days: 365\n"
    "    key_types: [rsa, p256, p384]\n"
    "    subject:\n"
    "      required: [CN]\n"
    "      allowed: [CN, O, OU, C, L, serialNumber, emailAddress]\n"
    "    subject_alt_names: [email, upn, dns]\n"
    "    key_usage: [digitalSignature, keyEncipherment]\n"
    "    extended_key_usage: [clientAuth, emailProtection]\n"
    "    qc:\n"
    "      ra_may_add: [compliance, sscd, type]\n"
    "  - name: strict\n"
    "    validity_days: 30\n"
    "    key_types: [p384]\n"
    "    subject: {required: [CN, O], allowed: [CN, O]}\n"
    "    key_usage: [digitalSignature]\n";

static cmh_config *cfg;

static void
cleanup(void)
{
	cmh_config_free(cfg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (cfg == NULL) {
		rt_err *e = cmh_config_parse("/nonexistent/cmhost.yaml", conf,
		    sizeof(conf) - 1, &cfg);
		if (e != NULL) {
			char m[400];
			rt_err_format(e, m, sizeof(m));
			fprintf(stderr, "fuzz_csr: %s\n", m);
			abort();
		}
		atexit(cleanup);
	}
	rt_err_free(rt_csr_verify(data, size));
	cmp_cert_req req;
	memset(&req, 0, sizeof(req));
	rt_err *e = cmp_req_from_csr(data, size, &req);
	if (e != NULL) {
		rt_err_free(e);
		return 0;
	}
	cmh_request r = {
		.subject = req.subject.p, .subject_len = req.subject.len,
		.spki = req.public_key.p, .spki_len = req.public_key.len,
		.exts = req.extensions.p, .exts_len = req.extensions.len,
	};
	for (size_t i = 0; i < cfg->nprofiles; i++) {
		cmh_checked chk;
		cmh_refusal ref;
		if ((e = cmh_policy_check(&cfg->profiles[i], &r, &chk, &ref)) == NULL)
			cmh_checked_free(&chk);
		rt_err_free(e);
	}
	return 0;
}
