/* station_int.h - the station object inside src/engine (station.c,
 * station_submit.c); not installed. */
#ifndef RATERM_STATION_INT_H
#define RATERM_STATION_INT_H

#include "raterm/card.h"
#include "raterm/cmp.h"
#include "raterm/station.h"

#define PIN_CAP 256		/* PINs and passphrases */

/* The secrets of one submit, in one locked page. */
typedef struct {
	char sig[PIN_CAP];		/* Signature PIN / token passphrase */
	size_t sig_len;
	bool sig_set;
	char card[2][PIN_CAP];		/* target card PIN 1, 2 */
	size_t card_len[2];
	bool card_set[2];
} secrets;

struct rt_station {
	const rt_config *cfg;
	rt_station_opts o;
	rt_castore *tcas, *roots, *ocas;
	bool cas_loaded, ocas_loaded;
	mbedtls_x509_crt trust;
	bool trust_loaded;
	rt_journal *journal;
	rt_audit *audit;
	char idir[RT_PATH_MAX + 16];

	/* readers */
	bool readers_found;
	bool target_fixed;		/* set_target / -r: not searched */
	char officer_reader[256], target_reader[256];
	char target_why[240];
	rt_err_kind target_kind;

	/* the officer */
	bool officer_known;
	rt_station_officer_info oinfo;

	/* what is open during an operation */
	rt_transport *ot, *tt;
	rt_card *ocard, *tcard;
	rt_signer *signer;
	cmp_client *client;

	/* the target card read last */
	bool have_ct;
	rt_contents ct;
	rt_update u;
	char card_id[96];

	secrets *sec;
	FILE *warn, *devnull;		/* the software token's warnings */
	const rt_update_dialogs *outer;	/* the adapter's dialogs, in submit */
	char busy[64];

	/* reader events: the last seen states */
	rt_reader_info *seen;
	size_t nseen;
	bool seen_init;
};

/* station.c: the pieces station_submit.c uses too */
rt_err *sta_open_reader(rt_station *st, const char *name, rt_transport **out)
    RT_MUST;
void sta_close_card(rt_transport **t, rt_card **c);
void sta_wipe_secrets(rt_station *st);
void sta_close_officer(rt_station *st);
rt_err *sta_load_cas(rt_station *st) RT_MUST;
rt_err *sta_open_target(rt_station *st) RT_MUST;
/* Connects the target card again and checks it is the card read last
 * and holds what it held (CARD_CHANGED otherwise). */
rt_err *sta_reopen_target(rt_station *st) RT_MUST;
bool sta_officer_software(const rt_station *st);
const char *sta_token_path(const rt_station *st);
void sta_name_from_crt(const mbedtls_x509_crt *c, rt_station_officer_info *oi);
rt_err *sta_add_chain_file(rt_signer *sg, const char *path) RT_MUST;
/* The officer's signer: the card's (no PIN yet), or the software token's
 * with the passphrase of this submit. */
rt_err *sta_open_officer_card(rt_station *st) RT_MUST;
rt_err *sta_open_officer_soft(rt_station *st) RT_MUST;

#endif
