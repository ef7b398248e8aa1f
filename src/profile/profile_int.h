/* profile_int.h - inside src/profile: the card handle and the profiles
 * (not installed). */
#ifndef RATERM_PROFILE_INT_H
#define RATERM_PROFILE_INT_H

#include "raterm/card.h"

struct rt_card {
	const rt_card_ops *ops;
	void *impl;
	rt_transport *t;
	bool borrowed;		/* rt_card_from_piv: impl is not ours */
};

/* Whether an error means the card or the reader went away (or memory):
 * what a profile passes on instead of noting it against one key. */
bool prof_card_gone(const rt_err *e);

/* PIV (card_piv.c): opens the application (NOT_PIV when absent). */
extern const rt_card_ops prof_piv_ops;
rt_err *prof_piv_open(rt_transport *t, void **impl) RT_MUST;
/* PKCS#15 (card_p15.c, read-only): NOT_PIV when no application reads. */
extern const rt_card_ops prof_p15_ops;
rt_err *prof_p15_open(rt_transport *t, void **impl) RT_MUST;

#endif
