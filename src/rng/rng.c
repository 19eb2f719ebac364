/* rng.c - Philox4x32-10 streams: uniforms, Box-Muller normals and bounded integers.
 * Keying is documented in include/sgld/rng.h. */
#include "sgld/rng.h"

#include <Random123/philox.h>
#include <math.h>

#include "sgld/timer.h"

#include "rng_private.h"

void sgld_rng_block(const sgld_rng *r, uint64_t step, uint32_t purpose, uint32_t block,
                    uint32_t out[4])
{
    philox4x32_key_t k = {{r->seed, r->chain}};
    philox4x32_ctr_t c = {{block, purpose, (uint32_t)step, (uint32_t)(step >> 32)}};
    philox4x32_ctr_t x = philox4x32(c, k);
    out[0] = x.v[0];
    out[1] = x.v[1];
    out[2] = x.v[2];
    out[3] = x.v[3];
}

/* 53 random bits mapped to the open interval (0, 1). */
static double open01(uint32_t hi, uint32_t lo)
{
    uint64_t bits = (((uint64_t)hi << 32) | lo) >> 11;
    return ((double)bits + 0.5) * 0x1.0p-53;
}

void sgld_rng_uniform(const sgld_rng *r, uint64_t step, uint32_t purpose, uint64_t first,
                      size_t n, double *out)
{
    uint32_t w[4];
    for (size_t j = 0; j < n; j++) {
        uint64_t i = first + j;
        if (j == 0 || i % 2 == 0) sgld_rng_block(r, step, purpose, (uint32_t)(i / 2), w);
        out[j] = open01(w[2 * (i % 2)], w[2 * (i % 2) + 1]);
    }
}

/* Both normals of block b: (sqrt(-2 log u1) cos(2 pi u2), ... sin(...)). */
static void normal_pair(const sgld_rng *r, uint64_t step, uint32_t purpose, uint64_t b,
                        double z[2])
{
    uint32_t w[4];
    sgld_rng_block(r, step, purpose, (uint32_t)b, w);
    double u1 = open01(w[0], w[1]), u2 = open01(w[2], w[3]);
    double rad = sqrt(-2.0 * log(u1));
    double ang = 6.283185307179586476925 * u2;
    z[0] = rad * cos(ang);
    z[1] = rad * sin(ang);
}

static void normal_double(const sgld_rng *r, uint64_t step, uint32_t purpose, uint64_t first,
                     size_t n, double *out)
{
    double z[2];
    for (size_t j = 0; j < n; j++) {
        uint64_t i = first + j;
        if (j == 0 || i % 2 == 0) normal_pair(r, step, purpose, i / 2, z);
        out[j] = z[i % 2];
    }
}

static void normal_float(const sgld_rng *r, uint64_t step, uint32_t purpose, uint64_t first,
                           size_t n, float *out)
{
    double z[2];
    for (size_t j = 0; j < n; j++) {
        uint64_t i = first + j;
        if (j == 0 || i % 2 == 0) normal_pair(r, step, purpose, i / 2, z);
        out[j] = (float)z[i % 2];
    }
}

/* The stream whose normals are timed, and where (sgld_rng_time_normals); NULL: none. */
static const sgld_rng *timed_stream;
static sgld_timer *timed_log;
static int timed_event;

void sgld_rng_time_normals(const sgld_rng *stream, sgld_timer *timer, int event)
{
    timed_stream = timer ? stream : NULL;
    timed_log = timer;
    timed_event = event;
}

void rng_normals_begin(const sgld_rng *r)
{
    if (r == timed_stream) sgld_timer_begin(timed_log, timed_event);
}

void rng_normals_end(const sgld_rng *r)
{
    if (r == timed_stream) sgld_timer_end(timed_log, timed_event);
}

void sgld_rng_normal(const sgld_rng *r, uint64_t step, uint32_t purpose, uint64_t first,
                     size_t n, double *out)
{
    rng_normals_begin(r);
    normal_double(r, step, purpose, first, n, out);
    rng_normals_end(r);
}

void sgld_rng_normal_float(const sgld_rng *r, uint64_t step, uint32_t purpose, uint64_t first,
                           size_t n, float *out)
{
    rng_normals_begin(r);
    normal_float(r, step, purpose, first, n, out);
    rng_normals_end(r);
}

uint64_t sgld_rng_below(const sgld_rng *r, uint64_t step, uint32_t purpose, uint64_t i,
                        uint64_t bound)
{
    uint32_t w[4];
    sgld_rng_block(r, step, purpose, (uint32_t)(i / 2), w);
    uint64_t x = ((uint64_t)w[2 * (i % 2)] << 32) | w[2 * (i % 2) + 1];
    return (uint64_t)(((unsigned __int128)x * bound) >> 64);
}
