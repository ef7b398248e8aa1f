/* wipe.c - zeroization of secrets; see include/raterm/util.h */
#include "raterm/util.h"

#include <string.h>

void
rt_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		explicit_bzero(p, len);
}
