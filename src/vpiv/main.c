/*
 * main.c - the vpiv command: create, personalize and inspect virtual PIV
 * cards; `vpiv serve` is the vpcd front end (serve.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/pem.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "raterm/util.h"
#include "raterm/tlv.h"
#include "raterm/vcard.h"
#include "raterm/vpiv.h"

static const char *prog = "vpiv";

static void
usage_main(FILE *f)
{
	fprintf(f,
	    "usage: vpiv COMMAND [options]\n"
	    "\n"
	    "Virtual PIV card (NIST SP 800-73-4 with YubiKey extensions) for tests.\n"
	    "\n"
	    "commands:\n"
	    "  init STATE          create a blank card in the state file STATE\n"
	    "  personalize STATE   generate keys and issue certificates on the card\n"
	    "  info STATE          show the card's identity, counters and slots\n"
	    "  serve ...           run cards behind vsmartcard's vpcd (see vpiv serve --help)\n"
	    "\n"
	    "Run 'vpiv COMMAND --help' for the options of a command.\n");
}

static void
usage_init(FILE *f)
{
	fprintf(f,
	    "usage: vpiv init STATE [--serial N] [--guid HEX32]\n"
	    "                 [--mgmt-alg 3des|aes128|aes192|aes256] [--secrets FILE] [--force]\n"
	    "\n"
	    "Creates a blank card: PIN 123456, PUK 12345678 (3 tries each), management\n"
	    "key 010203040506070801020304050607080102030405060708 (3DES), a random GUID\n"
	    "and serial unless given, CHUID, CCC, discovery object and an attestation\n"
	    "key (slot F9) with a self-signed attestation certificate.\n"
	    "\n"
	    "  --serial N        card serial number (decimal, 1..4294967295)\n"
	    "  --guid HEX32      card GUID (16 bytes as 32 hex digits)\n"
	    "  --mgmt-alg ALG    management key algorithm (default 3des); aes128 and\n"
	    "                    aes256 have no default key and need mgmt= in --secrets\n"
	    "  --secrets FILE    lines pin=..., puk=..., mgmt=HEX (secrets never on argv)\n"
	    "  --force           overwrite an existing state file\n");
}

static void
usage_perso(FILE *f)
{
	fprintf(f,
	    "usage: vpiv personalize STATE --slot SLOT [slot options] [--slot SLOT ...]\n"
	    "                 [--ca-cert CA.pem --ca-key CA.key [--ca-pass-file F]]\n"
	    "\n"
	    "For each --slot, generates a key on the card and stores a certificate for\n"
	    "it issued by the CA (SP 800-73 certificate object: 70 cert, 71 00, FE).\n"
	    "Slot options given before the first --slot apply to every slot; after a\n"
	    "--slot they apply to that slot only.\n"
	    "\n"
	    "  --slot SLOT           9a 9c 9d 9e 82..95, or f9 (attestation key; its\n"
	    "                        certificate is issued as a CA certificate)\n"
	    "  --alg ALG             eccp256 (default), eccp384, rsa2048\n"
	    "  --subject DN          \"CN=...,O=...\" (required unless --key-only/--cert-only)\n"
	    "  --days N              validity in days from not-before (default 365)\n"
	    "  --not-before T        YYYYMMDDhhmmss UTC (default: now)\n"
	    "  --not-after T         YYYYMMDDhhmmss UTC\n"
	    "  --bind serial|guid|none  add serialNumber=<card serial | GUID hex> to\n"
	    "                        the subject (default serial; none for f9)\n"
	    "  --pin-policy P        default|never|once|always\n"
	    "  --touch-policy P      default|never|always|cached (recorded, not enforced)\n"
	    "  --key-only            generate the key, store no certificate\n"
	    "  --cert-only FILE      store FILE (PEM or raw bytes, not checked) as the\n"
	    "                        slot's certificate; no key is generated\n"
	    "  --ca-cert FILE        issuing CA certificate (PEM or DER)\n"
	    "  --ca-key FILE         the CA's private key (PEM or DER)\n"
	    "  --ca-pass-file FILE   first line: the CA key's password\n");
}

static void
usage_info(FILE *f)
{
	fprintf(f,
	    "usage: vpiv info STATE [--json]\n"
	    "\n"
	    "Prints the card's serial, GUID, PIN/PUK retry counters, management key\n"
	    "algorithm and for every key slot its algorithm, policies and certificate.\n");
}

static int usage_error(const char *cmd, const char *fmt, ...) RT_PRINTF(2, 3);

/* Prints a usage error and where to find help; returns exit status 2. */
static int
usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see '%s %s --help')\n", prog, cmd);
	return 2;
}

/* An argument no option took: the STATE file, once. 0, or the status of
 * the usage error. */
static int
state_arg(const char *cmd, const char *a, const char **state)
{
	if (a[0] == '-')
		return usage_error(cmd, "unknown option '%s'", a);
	if (*state != NULL)
		return usage_error(cmd, "unexpected argument '%s'", a);
	*state = a;
	return 0;
}

/* ---- init ---- */

struct secrets {
	char pin[16], puk[16];
	uint8_t mgmt[32];
	size_t mgmt_len;
	bool has_pin, has_puk;
};

static rt_err *
read_secrets(const char *path, struct secrets *s)
{
	uint8_t *data;
	size_t len;
	rt_err *e = rt_file_read(path, 65536, &data, &len);
	if (e != NULL)
		return e;
	char *save = NULL;
	unsigned ln = 0;
	for (char *line = strtok_r((char *)data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		ln++;
		size_t l = strlen(line);
		while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == ' '))
			line[--l] = '\0';
		if (l == 0 || line[0] == '#')
			continue;
		char *eq = strchr(line, '=');
		if (eq == NULL) {
			e = rt_err_new(RT_E_FORMAT, NULL, "%s:%u: expected key=value", path, ln);
			break;
		}
		*eq = '\0';
		const char *val = eq + 1;
		if (strcmp(line, "pin") == 0 || strcmp(line, "puk") == 0) {
			char *dst = line[1] == 'i' ? s->pin : s->puk;
			if (strlen(val) < 6 || strlen(val) > 8) {
				e = rt_err_new(RT_E_PIN_FORMAT, NULL,
				    "%s:%u: %s must be 6 to 8 characters", path, ln, line);
				break;
			}
			strcpy(dst, val);
			if (line[1] == 'i')
				s->has_pin = true;
			else
				s->has_puk = true;
		} else if (strcmp(line, "mgmt") == 0) {
			rt_err *he = rt_hex_decode(val, strlen(val), s->mgmt,
			    sizeof(s->mgmt), &s->mgmt_len, 0);
			if (he != NULL || s->mgmt_len == 0) {
				rt_err_free(he);
				e = rt_err_new(RT_E_FORMAT, NULL,
				    "%s:%u: mgmt must be a key in hex", path, ln);
				break;
			}
		} else {
			e = rt_err_new(RT_E_FORMAT, NULL,
			    "%s:%u: unknown field '%s' (pin, puk, mgmt)", path, ln, line);
			break;
		}
	}
	mbedtls_platform_zeroize(data, len);
	free(data);
	return e;
}

static int
cmd_init(int argc, char **argv)
{
	const char *state = NULL, *secrets_path = NULL;
	vpiv_params p;
	uint8_t guid[16];
	struct secrets s;
	bool force = false;
	memset(&p, 0, sizeof(p));
	memset(&s, 0, sizeof(s));

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (vcard_is_help(a)) {
			usage_init(stdout);
			return 0;
		}
		bool needs = strcmp(a, "--serial") == 0 || strcmp(a, "--guid") == 0 ||
		    strcmp(a, "--mgmt-alg") == 0 || strcmp(a, "--secrets") == 0;
		if (needs && i + 1 >= argc)
			return usage_error("init", "%s needs a value", a);
		if (strcmp(a, "--serial") == 0) {
			char *end;
			errno = 0;
			unsigned long x = strtoul(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || x == 0 || x > 0xFFFFFFFFul ||
			    argv[i][0] == '-')
				return usage_error("init", "bad serial '%s'", argv[i]);
			p.serial = (uint32_t)x;
		} else if (strcmp(a, "--guid") == 0) {
			const char *gs = argv[++i];
			size_t n = 0;
			rt_err *he = rt_hex_decode(gs, strlen(gs), guid, 16, &n,
			    0);
			bool bad = he != NULL;
			rt_err_free(he);
			if (bad || n != 16)
				return usage_error("init",
				    "bad GUID '%s' (32 hex digits)", argv[i]);
			p.guid = guid;
		} else if (strcmp(a, "--mgmt-alg") == 0) {
			const char *m = argv[++i];
			if (strcmp(m, "3des") == 0) p.mgmt_alg = VPIV_ALG_3DES;
			else if (strcmp(m, "aes128") == 0) p.mgmt_alg = VPIV_ALG_AES128;
			else if (strcmp(m, "aes192") == 0) p.mgmt_alg = VPIV_ALG_AES192;
			else if (strcmp(m, "aes256") == 0) p.mgmt_alg = VPIV_ALG_AES256;
			else
				return usage_error("init", "unknown --mgmt-alg '%s'", m);
		} else if (strcmp(a, "--secrets") == 0) {
			secrets_path = argv[++i];
		} else if (strcmp(a, "--force") == 0) {
			force = true;
		} else {
			int r = state_arg("init", a, &state);
			if (r != 0)
				return r;
		}
	}
	if (state == NULL)
		return usage_error("init", "%s", "a STATE file is needed");
	if (secrets_path != NULL) {
		rt_err *e = read_secrets(secrets_path, &s);
		if (e != NULL) {
			mbedtls_platform_zeroize(&s, sizeof(s));
			return vcard_fail(prog, e);
		}
		if (s.has_pin)
			p.pin = s.pin;
		if (s.has_puk)
			p.puk = s.puk;
		if (s.mgmt_len > 0) {
			p.mgmt_key = s.mgmt;
			p.mgmt_len = s.mgmt_len;
		}
	}
	vpiv *v;
	rt_err *e = vpiv_create(state, &p, force, &v);
	mbedtls_platform_zeroize(&s, sizeof(s));
	if (e != NULL)
		return vcard_fail(prog, e);
	uint8_t g[16];
	char gh[33];
	vpiv_guid(v, g);
	rt_hex_encode(g, 16, gh, sizeof(gh), RT_HEX_UPPER);
	printf("created %s: serial %u, GUID %s\n", state, vpiv_serial(v), gh);
	vpiv_free(v);
	return 0;
}

/* ---- personalize ---- */

struct slot_job {
	uint8_t slot;
	uint8_t alg;
	const char *subject, *not_before, *not_after, *cert_only;
	int days;
	int bind;               /* -1: default for the slot */
	uint8_t pin_policy, touch_policy;
	bool key_only;
};

static int
parse_slot(const char *s, uint8_t *out)
{
	char *end;
	unsigned long x = strtoul(s, &end, 16);
	if (*end != '\0' || end == s || x > 0xFF)
		return -1;
	const uint8_t *slots;
	size_t n = vpiv_slots(&slots);
	for (size_t i = 0; i < n; i++)
		if (slots[i] == x) {
			*out = (uint8_t)x;
			return 0;
		}
	return -1;
}

static int
parse_policy(const char *s, bool touch, uint8_t *out)
{
	if (strcmp(s, "default") == 0) *out = VPIV_POLICY_DEFAULT;
	else if (strcmp(s, "never") == 0) *out = 1;
	else if (!touch && strcmp(s, "once") == 0) *out = VPIV_PIN_ONCE;
	else if (strcmp(s, "always") == 0) *out = touch ? VPIV_TOUCH_ALWAYS : VPIV_PIN_ALWAYS;
	else if (touch && strcmp(s, "cached") == 0) *out = VPIV_TOUCH_CACHED;
	else return -1;
	return 0;
}

/* Applies one slot option; returns 1 if consumed (with its value), 0 if
 * not a slot option, -1 on error (message printed). */
static int
slot_option(struct slot_job *j, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	static const char *const valued[] = {
		"--alg", "--subject", "--days", "--not-before", "--not-after",
		"--bind", "--pin-policy", "--touch-policy", "--cert-only", NULL,
	};
	bool known = strcmp(a, "--key-only") == 0;
	for (int k = 0; valued[k] != NULL; k++)
		if (strcmp(a, valued[k]) == 0)
			known = true;
	if (!known)
		return 0;
	if (strcmp(a, "--key-only") == 0) {
		j->key_only = true;
		return 1;
	}
	if (*i + 1 >= argc) {
		usage_error("personalize", "%s needs a value", a);
		return -1;
	}
	const char *val = argv[++*i];
	if (strcmp(a, "--alg") == 0) {
		if (strcmp(val, "eccp256") == 0) j->alg = VPIV_ALG_ECCP256;
		else if (strcmp(val, "eccp384") == 0) j->alg = VPIV_ALG_ECCP384;
		else if (strcmp(val, "rsa2048") == 0) j->alg = VPIV_ALG_RSA2048;
		else {
			usage_error("personalize", "unknown --alg '%s'", val);
			return -1;
		}
	} else if (strcmp(a, "--subject") == 0) {
		j->subject = val;
	} else if (strcmp(a, "--days") == 0) {
		char *end;
		long d = strtol(val, &end, 10);
		if (*end != '\0' || d <= 0 || d > 36500) {
			usage_error("personalize", "bad --days '%s'", val);
			return -1;
		}
		j->days = (int)d;
	} else if (strcmp(a, "--not-before") == 0) {
		j->not_before = val;
	} else if (strcmp(a, "--not-after") == 0) {
		j->not_after = val;
	} else if (strcmp(a, "--bind") == 0) {
		if (strcmp(val, "serial") == 0) j->bind = VPIV_BIND_SERIAL;
		else if (strcmp(val, "guid") == 0) j->bind = VPIV_BIND_GUID;
		else if (strcmp(val, "none") == 0) j->bind = VPIV_BIND_NONE;
		else {
			usage_error("personalize", "unknown --bind '%s'", val);
			return -1;
		}
	} else if (strcmp(a, "--pin-policy") == 0 || strcmp(a, "--touch-policy") == 0) {
		bool touch = a[2] == 't';
		if (parse_policy(val, touch, touch ? &j->touch_policy : &j->pin_policy) != 0) {
			usage_error("personalize", "unknown policy '%s'", val);
			return -1;
		}
	} else if (strcmp(a, "--cert-only") == 0) {
		j->cert_only = val;
	}
	return 1;
}

static char *
read_pass(const char *path, rt_err **err)
{
	uint8_t *data;
	size_t len;
	*err = rt_file_read(path, 65536, &data, &len);
	if (*err != NULL)
		return NULL;
	char *s = (char *)data;
	s[strcspn(s, "\r\n")] = '\0';
	return s;
}

static rt_err *
store_cert_file(vpiv *v, uint8_t slot, const char *path)
{
	uint8_t *data;
	size_t len;
	rt_err *e = rt_file_read(path, 65536, &data, &len);
	if (e != NULL)
		return e;
	if (strstr((char *)data, "-----BEGIN CERTIFICATE-----") != NULL) {
		mbedtls_pem_context pem;
		size_t used;
		mbedtls_pem_init(&pem);
		int rc = mbedtls_pem_read_buffer(&pem, "-----BEGIN CERTIFICATE-----",
		    "-----END CERTIFICATE-----", data, NULL, 0, &used);
		if (rc != 0)
			e = rt_err_new(RT_E_CERT, NULL, "%s: bad PEM (mbedTLS -0x%04x)",
			    path, (unsigned)-rc);
		else
			e = vpiv_put_cert(v, slot, pem.buf, pem.buflen);
		mbedtls_pem_free(&pem);
	} else {
		e = vpiv_put_cert(v, slot, data, len);
	}
	free(data);
	return e;
}

/* The CA certificate and key parse and belong together.
 * Errors: CERT, CRYPTO. */
static rt_err *
check_ca(const char *cert_path, const char *key_path, const char *pass)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	rt_err *e = NULL;
	int rc;
	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&key);
	if ((rc = mbedtls_x509_crt_parse_file(&crt, cert_path)) != 0)
		e = rt_err_new(RT_E_CERT, NULL, "%s: cannot parse CA certificate "
		    "(mbedTLS -0x%04x)", cert_path, (unsigned)-rc);
	else if ((rc = mbedtls_pk_parse_keyfile(&key, key_path, pass)) != 0)
		e = rt_err_new(RT_E_CRYPTO, NULL, "%s: cannot read CA key%s "
		    "(mbedTLS -0x%04x)", key_path,
		    pass == NULL ? " (encrypted? use --ca-pass-file)" : "", (unsigned)-rc);
	else if (mbedtls_pk_check_pair(&crt.pk, &key) != 0)
		e = rt_err_new(RT_E_CERT, NULL, "%s does not belong to %s", key_path,
		    cert_path);
	mbedtls_pk_free(&key);
	mbedtls_x509_crt_free(&crt);
	return e;
}

static int
cmd_personalize(int argc, char **argv)
{
	const char *state = NULL, *ca_cert = NULL, *ca_key = NULL, *ca_pass_file = NULL;
	struct slot_job defaults, jobs[32];
	size_t njobs = 0;
	memset(&defaults, 0, sizeof(defaults));
	defaults.alg = VPIV_ALG_ECCP256;
	defaults.bind = -1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (vcard_is_help(a)) {
			usage_perso(stdout);
			return 0;
		}
		struct slot_job *cur = njobs ? &jobs[njobs - 1] : &defaults;
		int r = slot_option(cur, argc, argv, &i);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		bool valued = strcmp(a, "--slot") == 0 || strcmp(a, "--ca-cert") == 0 ||
		    strcmp(a, "--ca-key") == 0 || strcmp(a, "--ca-pass-file") == 0;
		if (valued && i + 1 >= argc)
			return usage_error("personalize", "%s needs a value", a);
		if (strcmp(a, "--slot") == 0) {
			if (njobs == sizeof(jobs) / sizeof(jobs[0]))
				return usage_error("personalize", "%s", "too many slots");
			jobs[njobs] = defaults;
			if (parse_slot(argv[++i], &jobs[njobs].slot) != 0)
				return usage_error("personalize", "'%s' is not a key slot", argv[i]);
			njobs++;
		} else if (strcmp(a, "--ca-cert") == 0) {
			ca_cert = argv[++i];
		} else if (strcmp(a, "--ca-key") == 0) {
			ca_key = argv[++i];
		} else if (strcmp(a, "--ca-pass-file") == 0) {
			ca_pass_file = argv[++i];
		} else if ((r = state_arg("personalize", a, &state)) != 0) {
			return r;
		}
	}
	if (state == NULL)
		return usage_error("personalize", "%s", "a STATE file is needed");
	if (njobs == 0)
		return usage_error("personalize", "%s", "at least one --slot is needed");
	for (size_t k = 0; k < njobs; k++) {
		struct slot_job *j = &jobs[k];
		if (j->cert_only != NULL && j->key_only)
			return usage_error("personalize", "%s",
			    "--cert-only and --key-only exclude each other");
		if (j->cert_only == NULL && !j->key_only) {
			if (j->subject == NULL)
				return usage_error("personalize", "%s",
				    "--subject is needed to issue a certificate");
			if (ca_cert == NULL || ca_key == NULL)
				return usage_error("personalize", "%s",
				    "--ca-cert and --ca-key are needed to issue a certificate");
		}
	}
	if (access(state, F_OK) != 0) {
		fprintf(stderr, "%s: %s: no such card (create it with 'vpiv init')\n",
		    prog, state);
		return 1;
	}

	rt_err *e = NULL;
	char *pass = NULL;
	vpiv *v = NULL;
	if (ca_pass_file != NULL && (pass = read_pass(ca_pass_file, &e)) == NULL)
		return vcard_fail(prog, e);
	/* check the CA before any key is generated */
	if (ca_cert != NULL && ca_key != NULL && (e = check_ca(ca_cert, ca_key, pass)) != NULL)
		goto out;
	if ((e = vpiv_open(state, &v)) != NULL)
		goto out;
	for (size_t k = 0; k < njobs && e == NULL; k++) {
		struct slot_job *j = &jobs[k];
		if (j->cert_only != NULL) {
			if ((e = store_cert_file(v, j->slot, j->cert_only)) == NULL)
				printf("slot %02x: stored certificate from %s\n", j->slot,
				    j->cert_only);
			continue;
		}
		if ((e = vpiv_generate_key(v, j->slot, j->alg, j->pin_policy,
		    j->touch_policy)) != NULL)
			break;
		printf("slot %02x: generated %s key\n", j->slot,
		    j->alg == VPIV_ALG_RSA2048 ? "RSA-2048" :
		    j->alg == VPIV_ALG_ECCP384 ? "P-384" : "P-256");
		if (j->key_only)
			continue;
		vpiv_issue_req r = {
			.ca_cert_path = ca_cert, .ca_key_path = ca_key, .ca_pass = pass,
			.subject = j->subject, .not_before = j->not_before,
			.not_after = j->not_after, .days = j->days,
			.bind = j->bind >= 0 ? j->bind
			    : j->slot == 0xF9 ? VPIV_BIND_NONE : VPIV_BIND_SERIAL,
			.is_ca = j->slot == 0xF9,
		};
		if ((e = vpiv_issue_cert(v, j->slot, &r)) == NULL)
			printf("slot %02x: certificate issued by %s\n", j->slot, ca_cert);
	}
out:
	vpiv_free(v);
	if (pass != NULL) {
		mbedtls_platform_zeroize(pass, strlen(pass));
		free(pass);
	}
	return e != NULL ? vcard_fail(prog, e) : 0;
}

/* ---- info ---- */

static const char *
alg_name(uint8_t alg)
{
	switch (alg) {
	case VPIV_ALG_3DES: return "3des";
	case VPIV_ALG_AES128: return "aes128";
	case VPIV_ALG_AES192: return "aes192";
	case VPIV_ALG_AES256: return "aes256";
	case VPIV_ALG_RSA2048: return "rsa2048";
	case VPIV_ALG_ECCP256: return "eccp256";
	case VPIV_ALG_ECCP384: return "eccp384";
	default: return "unknown";
	}
}

static const char *
pin_policy_name(uint8_t p)
{
	static const char *const n[] = { "default", "never", "once", "always" };
	return p < 4 ? n[p] : "?";
}

static const char *
touch_policy_name(uint8_t p)
{
	static const char *const n[] = { "default", "never", "always", "cached" };
	return p < 4 ? n[p] : "?";
}

struct cert_facts {
	bool present, parsed;
	char subject[512], issuer[512], not_before[48], not_after[48];
	size_t der_len;
};

static void
fmt_x509_time(const mbedtls_x509_time *t, char *out, size_t cap)
{
	snprintf(out, cap, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)t->year % 10000,
	    (unsigned)t->mon % 100, (unsigned)t->day % 100, (unsigned)t->hour % 100,
	    (unsigned)t->min % 100, (unsigned)t->sec % 100);
}

static void
cert_facts_of(const vpiv *v, uint8_t slot, struct cert_facts *cf)
{
	const uint8_t *obj, *der;
	size_t olen, dlen;
	memset(cf, 0, sizeof(*cf));
	rt_err *e = vpiv_get_object(v, vpiv_cert_object(slot), &obj, &olen);
	if (e != NULL) {
		rt_err_free(e);
		return;
	}
	cf->present = true;
	if ((e = tlv_find(obj, olen, 0x70, &der, &dlen)) != NULL) {
		rt_err_free(e);
		return;
	}
	cf->der_len = dlen;
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_der(&crt, der, dlen) == 0) {
		cf->parsed = true;
		if (mbedtls_x509_dn_gets(cf->subject, sizeof(cf->subject), &crt.subject) < 0)
			strcpy(cf->subject, "?");
		if (mbedtls_x509_dn_gets(cf->issuer, sizeof(cf->issuer), &crt.issuer) < 0)
			strcpy(cf->issuer, "?");
		fmt_x509_time(&crt.valid_from, cf->not_before, sizeof(cf->not_before));
		fmt_x509_time(&crt.valid_to, cf->not_after, sizeof(cf->not_after));
	}
	mbedtls_x509_crt_free(&crt);
}

/* What info shows of a slot; false when it holds neither a key nor a
 * certificate. */
static bool
slot_facts(const vpiv *v, uint8_t slot, vpiv_slot_info *si,
    struct cert_facts *cf)
{
	rt_err_free(vpiv_slot_get(v, slot, si));
	cert_facts_of(v, slot, cf);
	return si->present || cf->present;
}

static int
cmd_info(int argc, char **argv)
{
	const char *state = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (vcard_is_help(argv[i])) {
			usage_info(stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else {
			int r = state_arg("info", argv[i], &state);
			if (r != 0)
				return r;
		}
	}
	if (state == NULL)
		return usage_error("info", "%s", "a STATE file is needed");
	if (access(state, F_OK) != 0) {
		fprintf(stderr, "%s: %s: no such card\n", prog, state);
		return 1;
	}
	vpiv *v;
	rt_err *e = vpiv_open(state, &v);
	if (e != NULL)
		return vcard_fail(prog, e);

	uint8_t g[16];
	char gh[33];
	int pt, pl, ut, ul;
	bool mdef;
	vpiv_guid(v, g);
	rt_hex_encode(g, 16, gh, sizeof(gh), RT_HEX_UPPER);
	vpiv_retries(v, &pt, &pl, &ut, &ul);
	uint8_t malg = vpiv_mgmt_alg(v, &mdef);
	const uint8_t *slots;
	size_t nslots = vpiv_slots(&slots);

	if (json) {
		printf("{\"serial\":%u,\"guid\":\"%s\",", vpiv_serial(v), gh);
		printf("\"pin\":{\"retries\":%d,\"left\":%d},", pt, pl);
		printf("\"puk\":{\"retries\":%d,\"left\":%d},", ut, ul);
		printf("\"mgmt\":{\"alg\":\"%s\",\"default\":%s},", alg_name(malg),
		    mdef ? "true" : "false");
		printf("\"slots\":[");
		bool first = true;
		for (size_t i = 0; i < nslots; i++) {
			vpiv_slot_info si;
			struct cert_facts cf;
			if (!slot_facts(v, slots[i], &si, &cf))
				continue;
			printf("%s{\"slot\":\"%02x\"", first ? "" : ",", slots[i]);
			first = false;
			if (si.present)
				printf(",\"alg\":\"%s\",\"pin_policy\":\"%s\","
				    "\"touch_policy\":\"%s\",\"origin\":\"%s\"",
				    alg_name(si.alg), pin_policy_name(si.pin_policy),
				    touch_policy_name(si.touch_policy),
				    si.origin == VPIV_ORIGIN_IMPORTED ? "imported" : "generated");
			if (cf.parsed) {
				printf(",\"certificate\":{\"subject\":");
				rt_json_str(stdout, cf.subject);
				printf(",\"issuer\":");
				rt_json_str(stdout, cf.issuer);
				printf(",\"not_before\":\"%s\",\"not_after\":\"%s\"}",
				    cf.not_before, cf.not_after);
			} else if (cf.present) {
				printf(",\"certificate\":{\"unparsable\":true}");
			}
			printf("}");
		}
		printf("]}\n");
	} else {
		printf("serial:   %u\n", vpiv_serial(v));
		printf("GUID:     %s\n", gh);
		printf("PIN:      %d of %d tries left\n", pl, pt);
		printf("PUK:      %d of %d tries left\n", ul, ut);
		printf("mgmt key: %s%s\n", alg_name(malg), mdef ? " (default key)" : "");
		for (size_t i = 0; i < nslots; i++) {
			vpiv_slot_info si;
			struct cert_facts cf;
			if (!slot_facts(v, slots[i], &si, &cf))
				continue;
			printf("slot %02x:  ", slots[i]);
			if (si.present)
				printf("%s, PIN %s, touch %s, %s", alg_name(si.alg),
				    pin_policy_name(si.pin_policy),
				    touch_policy_name(si.touch_policy),
				    si.origin == VPIV_ORIGIN_IMPORTED ? "imported" : "generated");
			else
				printf("no key");
			printf("\n");
			if (cf.parsed)
				printf("          certificate: %s\n          issuer: %s\n"
				    "          valid %s .. %s\n", cf.subject, cf.issuer,
				    cf.not_before, cf.not_after);
			else if (cf.present)
				printf("          certificate object present, not a parsable "
				    "certificate\n");
		}
	}
	vpiv_free(v);
	return 0;
}

int
main(int argc, char **argv)
{
	static const vcard_cmd cmds[] = {
		{ "init", cmd_init },
		{ "personalize", cmd_personalize },
		{ "info", cmd_info },
		{ "serve", vpiv_serve_main },
		{ NULL, NULL },
	};
	return vcard_main(prog, usage_main, true, cmds, argc, argv);
}
