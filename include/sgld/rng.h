/* rng.h - counter-based random streams (Philox4x32-10, Salmon et al. SC'11, via Random123).
 *
 * Key   = (seed, chain)                      -- 2 x 32 bits
 * Counter = (block, purpose, step_lo, step_hi) -- 4 x 32 bits
 *
 * Any rank can produce any chain's numbers for any step without state: the stream for
 * (seed, chain, step, purpose) is a pure function, which keeps the copies of a chain on
 * its shard ranks bitwise identical without a broadcast and makes a restart need nothing but
 * the step number.  `block` indexes 128-bit blocks inside one (step, purpose) stream, so
 * element i of a stream always comes from the same block whatever n is requested. */
#ifndef SGLD_RNG_H
#define SGLD_RNG_H

#include <stddef.h>
#include <stdint.h>

/* What a stream is used for: the third coordinate of the counter.  Never reorder: the
 * values are part of the documented key and of reproducibility across versions. */
enum sgld_rng_purpose {
    SGLD_RNG_NOISE = 1,     /* Langevin noise of a step */
    SGLD_RNG_BATCH = 2,     /* minibatch indices of a step */
    SGLD_RNG_INIT = 3,      /* parameter initialization (step 0) */
    SGLD_RNG_DATA = 4,      /* synthetic data sets (chain = data-set id) */
    SGLD_RNG_SPLIT = 5,     /* train/test split permutation */
    SGLD_RNG_PROJECT = 6,   /* random projections in sgld-ess */
    SGLD_RNG_SAMPLER = 7,   /* sampler-internal randomness (momentum refresh, ...) */
    SGLD_RNG_MC_DROPOUT = 8, /* MC-dropout masks of sgld-ess predict (sgld_net_predict_dropout) */
    SGLD_RNG_WARMUP = 9      /* before sampling: --init sgd:K's batches (step k), --step-size auto's
                              * start vector (step 0) */
};

typedef struct sgld_rng {
    uint32_t seed;
    uint32_t chain;
} sgld_rng;

/* The 4 raw 32-bit words of block `block` of the stream (step, purpose).  Not collective. */
void sgld_rng_block(const sgld_rng *r, uint64_t step, uint32_t purpose, uint32_t block,
                    uint32_t out[4]);

/* n uniform doubles in (0, 1) (53-bit, never 0 or 1): element i uses words 2(i%2)..+1 of
 * block i/2.  Elements [first, first + n) of the stream.  Not collective. */
void sgld_rng_uniform(const sgld_rng *r, uint64_t step, uint32_t purpose, uint64_t first,
                      size_t n, double *out);

/* n standard normals (Box-Muller on one block per pair of elements, double precision).
 * Elements [first, first + n) of the stream; element i depends only on (key, step,
 * purpose, i).  Not collective. */
void sgld_rng_normal(const sgld_rng *r, uint64_t step, uint32_t purpose, uint64_t first,
                     size_t n, double *out);

/* Same values as sgld_rng_normal, rounded to float.  Not collective. */
void sgld_rng_normal_float(const sgld_rng *r, uint64_t step, uint32_t purpose, uint64_t first,
                           size_t n, float *out);

/* n standard normals, float, for elements [0, n) of the stream (r, step, purpose), by
 * Box-Muller on Philox4x32-10 blocks exactly as sgld_rng_normal_float keys them (element i
 * from block i / 2: u1 from words 0-1, u2 from words 2-3, z = sqrt(-2 log u1) (cos, sin)
 * (2 pi u2)) but in single precision, 16 lanes at a time (AVX-512 / AVX2 via the compiler's
 * vectorizer and SLEEF's vector log and sincos when available).  The values agree with
 * sgld_rng_normal_float to ~1e-6 relative (not bitwise; 24-bit uniforms, so |z| > 5.3 is
 * coarser).  About 10x the normals/s of sgld_rng_normal_float: the Langevin noise of large
 * models.  The SIMD path is chosen at run time from the CPU.  Not collective. */
void sgld_rng_normal_fill(const sgld_rng *r, uint64_t step, uint32_t purpose, size_t n, float *out);

/* The Langevin update with the same normals z_i as sgld_rng_normal_fill, generated a chunk at
 * a time and used while in L1 (no z array written and read back):
 *   y[i] = b y[i] + (a x[i] + sd z_i),  i < n     (x NULL: y[i] = b y[i] + sd z_i)
 * With b = 1 exactly the values of `fill z; y[i] += a x[i] + sd z[i]`; sgld_rng_normal_axpy with
 * s = acc = NULL.  Timed as one call of the generators (sgld_rng_time_normals), the update
 * included.  Not collective. */
void sgld_rng_normal_update(const sgld_rng *r, uint64_t step, uint32_t purpose, size_t n, float b, float a,
                            const float *x, float sd, float *y);

/* The building block of every sampler's noise: one fused pass over the normals z_i of
 * sgld_rng_normal_fill (elements [0, n) of the stream), a chunk of 128 at a time while it is in
 * L1, with per-element scales:
 *   y[i] = b y[i] + (c y[i] + (a x[i] + (sd s[i]) z_i))
 *                                   x NULL: no a x[i] term; s NULL: s[i] = 1; c = 0: no c y[i]
 *                                   term (a pull toward 0 kept apart from b, so a small one is
 *                                   not lost to b's rounding); b = c = 0: y[i] is not read
 *   acc[i] += y[i]                               when acc is not NULL (theta += v)
 * in float, each product and sum rounded in this order (no FMA), so every path (AVX-512,
 * AVX2, plain C, any number of threads) gives the same bits.  x, s, acc may not overlap y. */
typedef struct sgld_rng_axpy {
    float b, a, sd, c;
    const float *x, *s;
    float *y, *acc;
    int sumsq; /* nonzero: return sum_i y[i]^2 of the new y */
} sgld_rng_axpy;

/* Runs op on elements [0, n) of the stream (r, step, purpose) and returns sum_i y[i]^2 (op->sumsq;
 * else 0), summed in double over spans of 32768 elements in 16 lanes by element index mod 16,
 * then the spans in order: the same bits for any number of threads.  Spans run on
 * sgld_rng_threads() threads.  Timed as one call of the generators (sgld_rng_time_normals),
 * the update included.  Not collective. */
double sgld_rng_normal_axpy(const sgld_rng *r, uint64_t step, uint32_t purpose, size_t n, const sgld_rng_axpy *op);

/* sum_i y[i]^2 over [0, n) with the same bits as sgld_rng_normal_axpy's sumsq of a y holding
 * these values (its order: spans of 32768 elements, 16 double lanes by index mod 16).  One
 * thread.  Not collective. */
double sgld_rng_sumsq(size_t n, const float *y);

/* Threads of sgld_rng_normal_fill, _update and _axpy in this process (OpenMP; 1 without it):
 * --threads of sgld-dist.  Values below 1 mean 1.  Process-wide, not thread-safe: set it before
 * the work starts.  Not collective. */
void sgld_rng_set_threads(int threads);
int sgld_rng_threads(void);

struct sgld_timer;

/* From this call on, every call of the normal generators (sgld_rng_normal, _float, _fill,
 * _update) on the stream at address `stream` is one occurrence of `event` in `timer` (timer.h;
 * the --log-view "noise" of a run's chain); calls on any other stream read no clock.  stream
 * NULL stops the timing; the caller keeps *stream and *timer alive until it does.  Not
 * thread-safe.  Not collective. */
void sgld_rng_time_normals(const sgld_rng *stream, struct sgld_timer *timer, int event);

/* A uniform integer in [0, bound) from element i of the stream (multiply-shift on 64 bits;
 * bias below 2^-32 for bound < 2^32).  Not collective. */
uint64_t sgld_rng_below(const sgld_rng *r, uint64_t step, uint32_t purpose, uint64_t i,
                        uint64_t bound);

#endif
