/* util.h - small helpers shared by all layers. */
#ifndef RATERM_UTIL_H
#define RATERM_UTIL_H

#include <stddef.h>

/* Overwrites a secret so that the compiler cannot drop the write. */
void rt_wipe(void *p, size_t len);

#endif
