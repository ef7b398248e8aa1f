/* util.h - small helpers shared by all layers. */
#ifndef RATERM_UTIL_H
#define RATERM_UTIL_H

#include <stddef.h>

/* Overwrites a secret so that the compiler cannot drop the write. */
void rt_wipe(void *p, size_t len);

/* Keeps the process's memory (PINs, keys) out of core dumps and away from
 * ptrace by other processes of the same user: RLIMIT_CORE 0 and, on
 * Linux, PR_SET_DUMPABLE 0. Called first thing by every program that
 * handles secrets. Best effort: failures are ignored. */
void rt_no_core_dumps(void);

#endif
