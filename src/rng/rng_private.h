/* rng_private.h - what rng.c and normal_fill.c share: the timing of one stream's normals
 * (sgld_rng_time_normals in rng.h). */
#ifndef SGLD_RNG_PRIVATE_H
#define SGLD_RNG_PRIVATE_H

#include "sgld/rng.h"

/* Open and close one occurrence of the timed event around a normal generator's work when r is
 * the timed stream; nothing (no clock read) for any other stream. */
void rng_normals_begin(const sgld_rng *r);
void rng_normals_end(const sgld_rng *r);

#endif
