#include "clock.h"

#include <stdlib.h>
#include <time.h>

uint64_t mu_now_ms(void)
{
	const char *fake = getenv("MUSTER_FAKE_NOW_MS");
	struct timespec ts;

	if (fake && *fake)
		return strtoull(fake, NULL, 10);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
