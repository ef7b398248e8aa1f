/*
 * vp15_int.h - internals of the virtual PKCS#15 card shared by the files
 * of src/vp15/: the card's state (card.c runs the commands, state.c saves
 * and loads it).
 */
#ifndef VP15_INT_H
#define VP15_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>

#include "raterm/err.h"
#include "raterm/vcard.h"
#include "raterm/vcard_sw.h"
#include "raterm/vp15.h"

#define VP15_MAX_FILES   64
#define VP15_MAX_EF      16384          /* bytes of one EF */
#define VP15_MAX_TOTAL   (256 * 1024)   /* all EFs together */
#define VP15_NKEYS       16             /* key references 0..15 */
#define VP15_NPINS       5              /* PIN references 1..5 */
#define VP15_SO_PIN      5              /* the SO PIN of --so-pin (no PUK) */
#define VP15_PIN_MAX     16
#define VP15_MAX_CMD     (65536 + 1024) /* assembled command data */
#define VP15_MF          0              /* index of the MF */

/* Security condition bytes of the FCP's tag 86 (ISO 7816-4 table 20 as
 * the IsoApplet uses it). */
enum { VP15_SC_ALWAYS = 0x00, VP15_SC_PIN = 0x90, VP15_SC_NEVER = 0xFF };
/* vp15's own: 9r (r 1..5) PIN reference r verified (90 is PIN 1, the
 * IsoApplet's one PIN); the SO PIN's files carry 95. */
#define VP15_SC_PIN_REF(r) ((uint8_t)(0x90 | (r)))
/* Their positions: sa[0] is FF ("a byte for every operation"). */
enum {
	VP15_SA_DELETE_SELF = 1,
	VP15_SA_EF_WRITE = 5, VP15_SA_EF_UPDATE = 6, VP15_SA_EF_READ = 7,
	VP15_SA_DF_CREATE_DF = 5, VP15_SA_DF_CREATE_EF = 6, VP15_SA_DF_DELETE = 7,
};

/* Key algorithms (the IsoApplet's references of MSE SET for GENERATE). */
enum {
	VP15_ALG_RSA2048 = 0xF3,        /* SC_ISOAPPLET_ALG_REF_RSA_GEN_2048 */
	VP15_ALG_EC      = 0xEC,        /* SC_ISOAPPLET_ALG_REF_EC_GEN */
	VP15_SIG_RSA_PKCS1 = 0x11,      /* MSE SET for PSO: RSA PKCS#1 v1.5 */
	VP15_SIG_ECDSA   = 0x21,        /* MSE SET for PSO: ECDSA, SHA-1 on card */
	VP15_SIG_ECDSA_HASH = 0x22,     /* vp15's own: ECDSA over the host's hash */
};

struct vp15_file {
	bool used;
	bool df;
	int parent;                     /* index; -1 for the MF */
	uint16_t fid;
	uint8_t aid[16];
	size_t aid_len;
	uint8_t sa[8];
	uint8_t *data;                  /* EF: size bytes */
	size_t size;
};

struct vp15_pin {
	bool set;
	uint8_t val[VP15_PIN_MAX];
	size_t len;
	uint8_t total, left;
};

struct vp15_key {
	bool present;
	uint8_t pin_ref;                /* the PIN that allows signing */
	mbedtls_pk_context pk;
};

struct vp15 {
	char *path;                     /* NULL: memory only */

	/* persistent */
	struct vp15_file files[VP15_MAX_FILES];
	struct vp15_pin pins[VP15_NPINS + 1];   /* [1..4] */
	struct vp15_key keys[VP15_NKEYS];

	/* volatile */
	int cur_df, cur_ef;             /* indexes; cur_ef -1: none */
	bool pin_ok[VP15_NPINS + 1];
	uint8_t se_alg, se_key;         /* MSE SET: algorithm, key reference */
	bool se_set;

	uint8_t *chain;
	size_t chain_len;
	bool chain_active;
	uint8_t chain_ins, chain_p1, chain_p2;

	uint8_t *resp;                  /* pending data for GET RESPONSE */
	size_t resp_len, resp_off;

	vcard_io io;                    /* APDU count, faults, trace */

	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

/* card.c */
rt_err *vp15_blank(vp15 **out) RT_MUST;         /* MF only, rng ready */
int vp15_rng(void *ctx, unsigned char *out, size_t len);
void vp15_file_drop(vp15 *c, int idx);          /* and its children */
/* A new file under `parent` like f (its data zero-filled): its index, -2
 * when the FID or the DF name is taken, -1 when there is no room. */
int vp15_file_add(vp15 *c, int parent, const struct vp15_file *f);
/* The file at a path from the MF (MF included), -1 if none. */
int vp15_find_path(const vp15 *c, const uint8_t *p, size_t len);
void vp15_key_clear(struct vp15_key *k);

/* state.c */
rt_err *vp15_save(vp15 *c) RT_MUST;
rt_err *vp15_load(vp15 *c, const uint8_t *buf, size_t len) RT_MUST;

#endif
