/* rng_private.h - the noise timer shared by rng.c and normal_fill.c (--log-view "noise"). */
#ifndef SGLD_RNG_PRIVATE_H
#define SGLD_RNG_PRIVATE_H

#include <time.h>

/* Monotonic seconds. */
static inline double rng_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Adds one call of `seconds` to the noise timer. */
void rng_timing_add(double seconds);

#endif
