/* time.c - times as people and logs read them (util.h). */
#include "raterm/util.h"

#include <stdio.h>
#include <time.h>

void
rt_time_iso(int64_t t, int ms, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char s[32];
	if (cap == 0)
		return;
	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(out, cap, "?");
		return;
	}
	if (ms >= 0)
		snprintf(out, cap, "%s.%03dZ", s, ms % 1000);
	else
		snprintf(out, cap, "%sZ", s);
}
