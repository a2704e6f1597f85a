/* Wall-clock time in Unix milliseconds, the one time unit on the wire and in
 * the store. MUSTER_FAKE_NOW_MS (tests and demos only) pins the clock. */
#ifndef MU_CLOCK_H
#define MU_CLOCK_H

#include <stdint.h>

uint64_t mu_now_ms(void);

#endif
