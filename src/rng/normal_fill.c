/* normal_fill.c - standard normals for the Langevin noise, vectorized: Philox4x32-10 on 8 counters
 * at a time (AVX-512 intrinsics, else the compiler's vectorization of a plain loop; the same keying as rng.c: block b of the stream (key (seed, chain), counter
 * (b, purpose, step)) gives the pair of elements 2b, 2b + 1), then Box-Muller in single
 * precision with SLEEF's AVX-512 or AVX2 logf and sincosf (1.0 ulp):
 *   u1 = (w0 >> 8 + 1/2) 2^-24, u2 = (w2 >> 8 + 1/2) 2^-24,
 *   z[2b] = sqrt(-2 log u1) cos(2 pi u2), z[2b+1] = sqrt(-2 log u1) sin(2 pi u2).
 * rng.c uses 53-bit uniforms in double: the two agree to ~1e-6 relative except where u1 <
 * 2^-20 (|z| > 5.3, probability 1e-6), where the 24-bit u1 is coarser.  Without AVX2 (checked
 * at run time) the same float formulas run through libm.  About 10x rng.c's normals/s here. */
#include <math.h>
#include <string.h>

#include <stdint.h>

#include "sgld/rng.h"
#include "rng_private.h"

#define CHUNK 64 /* blocks per pass: 128 normals */

/* The intrinsics path needs GCC: it enables AVX-512/AVX2 per function with `#pragma GCC
 * target`, under which GCC (not clang) also defines the __AVX512F__ macros that sleef.h keys
 * its vector declarations on.  Elsewhere (clang, e.g. the fuzzing build) the portable loop. */
#if defined(__x86_64__) && defined(SGLD_HAVE_SLEEF) && defined(__GNUC__) && !defined(__clang__)
#define USE_SIMD 1
#else
#define USE_SIMD 0
#endif

/* Philox4x32-10 of counters (c0[i], c1, c2, c3) under key (k0, k1), written so that the
 * compiler vectorizes the lanes (32 x 32 -> 64-bit multiplies). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void philox_chunk(uint32_t k0, uint32_t k1, uint32_t first, uint32_t c1, uint32_t c2, uint32_t c3,
                         uint32_t w0[CHUNK], uint32_t w2[CHUNK])
{
    /* Structure of arrays, rounds outside, each 32-bit word in a 64-bit lane: the products are
     * then plain vpmuludq with no shuffles, and the lane loop a plain vector loop. */
    uint64_t x0[CHUNK], x1[CHUNK], x2[CHUNK], x3[CHUNK], a = k0, b = k1;
    for (int i = 0; i < CHUNK; i++) x0[i] = first + (uint32_t)i, x1[i] = c1, x2[i] = c2, x3[i] = c3;
    for (int r = 0; r < 10; r++) {
        for (int i = 0; i < CHUNK; i++) {
            uint64_t p0 = 0xD2511F53u * x0[i], p1 = 0xCD9E8D57u * x2[i];
            x0[i] = (p1 >> 32) ^ x1[i] ^ a;
            x2[i] = (p0 >> 32) ^ x3[i] ^ b;
            x1[i] = p1 & 0xFFFFFFFFu;
            x3[i] = p0 & 0xFFFFFFFFu;
        }
        a = (a + 0x9E3779B9u) & 0xFFFFFFFFu;
        b = (b + 0xBB67AE85u) & 0xFFFFFFFFu;
    }
    for (int i = 0; i < CHUNK; i++) w0[i] = (uint32_t)x0[i], w2[i] = (uint32_t)x2[i];
}

#if USE_SIMD
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f")
#include <immintrin.h>
#include <sleef.h>
/* The same Philox with AVX-512 intrinsics: 8 blocks per vector, each 32-bit word in a 64-bit
 * lane, so 32 x 32 -> 64 products are single vpmuludq (the compiler's version of the loop
 * above emulates a 64 x 64 product).  vpmuludq reads only the low 32 bits of a lane and the
 * words are taken from the low halves at the end, so the high halves may hold garbage: no
 * masking, and the two 3-way XORs are one vpternlogq each (6 vector operations a round, not
 * 10).  Four vectors (32 blocks) go through the rounds together, so that the multiplies'
 * latency overlaps (1.2M blocks: 1.81 ms with two, 1.57 ms with four). */
#define PHILOX_VECS 4
__attribute__((target("avx512f"))) static void philox_avx512(uint32_t k0, uint32_t k1, uint32_t first, uint32_t c1,
                                                             uint32_t c2, uint32_t c3, uint32_t *w0, uint32_t *w2)
{
    const __m512i M0 = _mm512_set1_epi64(0xD2511F53), M1 = _mm512_set1_epi64(0xCD9E8D57);
    const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    for (int i = 0; i < CHUNK; i += 8 * PHILOX_VECS) {
        __m512i x0[PHILOX_VECS], x1[PHILOX_VECS], x2[PHILOX_VECS], x3[PHILOX_VECS];
        for (int v = 0; v < PHILOX_VECS; v++) {
            /* the low 32 bits wrap as uint32 counters do */
            x0[v] = _mm512_add_epi64(_mm512_set1_epi64((uint32_t)(first + (uint32_t)(i + 8 * v))), lane);
            x1[v] = _mm512_set1_epi64(c1), x2[v] = _mm512_set1_epi64(c2), x3[v] = _mm512_set1_epi64(c3);
        }
        uint32_t a = k0, b = k1;
        for (int r = 0; r < 10; r++) {
            const __m512i va = _mm512_set1_epi64(a), vb = _mm512_set1_epi64(b);
            for (int v = 0; v < PHILOX_VECS; v++) {
                __m512i p0 = _mm512_mul_epu32(x0[v], M0), p1 = _mm512_mul_epu32(x2[v], M1);
                x0[v] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), x1[v], va, 0x96); /* a ^ b ^ c */
                x2[v] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), x3[v], vb, 0x96);
                x1[v] = p1, x3[v] = p0;
            }
            a += 0x9E3779B9u;
            b += 0xBB67AE85u;
        }
        for (int v = 0; v < PHILOX_VECS; v++) {
            _mm256_storeu_si256((__m256i *)(w0 + i + 8 * v), _mm512_cvtepi64_epi32(x0[v]));
            _mm256_storeu_si256((__m256i *)(w2 + i + 8 * v), _mm512_cvtepi64_epi32(x2[v]));
        }
    }
}

__attribute__((target("avx2,fma"))) static void box_muller_avx2(const uint32_t *w0, const uint32_t *w2, float *rad,
                                                                 float *c, float *s)
{
    const __m256 scale = _mm256_set1_ps(0x1.0p-24f), half = _mm256_set1_ps(0.5f);
    const __m256 m2 = _mm256_set1_ps(-2.0f), twopi = _mm256_set1_ps(6.28318530717958647692f);
    for (int i = 0; i < CHUNK; i += 8) {
        __m256i a = _mm256_srli_epi32(_mm256_loadu_si256((const __m256i *)(w0 + i)), 8);
        __m256i b = _mm256_srli_epi32(_mm256_loadu_si256((const __m256i *)(w2 + i)), 8);
        __m256 u1 = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(a), half), scale);
        __m256 u2 = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(b), half), scale);
        __m256 r = _mm256_sqrt_ps(_mm256_mul_ps(m2, Sleef_logf8_u10avx2(u1)));
        Sleef___m256_2 sc = Sleef_sincosf8_u10avx2(_mm256_mul_ps(twopi, u2));
        _mm256_storeu_ps(rad + i, r);
        _mm256_storeu_ps(s + i, sc.x);
        _mm256_storeu_ps(c + i, sc.y);
    }
}
/* Box-Muller of a whole chunk straight to the interleaved normals z[2i] = r cos, z[2i+1] =
 * r sin (two-source permutes), the same products as the scalar interleave. */
__attribute__((target("avx512f"))) static void box_muller_avx512(const uint32_t *w0, const uint32_t *w2, float *z)
{
    const __m512 scale = _mm512_set1_ps(0x1.0p-24f), half = _mm512_set1_ps(0.5f);
    const __m512 m2 = _mm512_set1_ps(-2.0f), twopi = _mm512_set1_ps(6.28318530717958647692f);
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    for (int i = 0; i < CHUNK; i += 16) {
        __m512i a = _mm512_srli_epi32(_mm512_loadu_si512((const void *)(w0 + i)), 8);
        __m512i b = _mm512_srli_epi32(_mm512_loadu_si512((const void *)(w2 + i)), 8);
        __m512 u1 = _mm512_mul_ps(_mm512_add_ps(_mm512_cvtepi32_ps(a), half), scale);
        __m512 u2 = _mm512_mul_ps(_mm512_add_ps(_mm512_cvtepi32_ps(b), half), scale);
        __m512 r = _mm512_sqrt_ps(_mm512_mul_ps(m2, Sleef_logf16_u10avx512f(u1)));
        Sleef___m512_2 sc = Sleef_sincosf16_u10avx512f(_mm512_mul_ps(twopi, u2));
        __m512 ze = _mm512_mul_ps(r, sc.y), zo = _mm512_mul_ps(r, sc.x); /* r cos, r sin */
        _mm512_storeu_ps(z + 2 * i, _mm512_permutex2var_ps(ze, lo, zo));
        _mm512_storeu_ps(z + 2 * i + 16, _mm512_permutex2var_ps(ze, hi, zo));
    }
}

/* y[i] = b y[i] + (a x[i] + sd z[i]) for a whole chunk, rounded as the scalar loop (separate
 * multiplies and adds: no FMA, so the values do not depend on the path). */
__attribute__((target("avx512f"))) static void update_avx512(float b, float a, const float *x, float sd,
                                                             const float *z, float *y)
{
    const __m512 vb = _mm512_set1_ps(b), va = _mm512_set1_ps(a), vs = _mm512_set1_ps(sd);
    for (int i = 0; i < 2 * CHUNK; i += 16) {
        __m512 t = _mm512_mul_ps(vs, _mm512_loadu_ps(z + i));
        if (x) t = _mm512_add_ps(_mm512_mul_ps(va, _mm512_loadu_ps(x + i)), t);
        _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_mul_ps(vb, _mm512_loadu_ps(y + i)), t));
    }
}
#pragma GCC pop_options
#endif

static void box_muller_libm(const uint32_t *w0, const uint32_t *w2, float *rad, float *c, float *s)
{
    for (int i = 0; i < CHUNK; i++) {
        float u1 = ((float)(w0[i] >> 8) + 0.5f) * 0x1.0p-24f, u2 = ((float)(w2[i] >> 8) + 0.5f) * 0x1.0p-24f;
        rad[i] = sqrtf(-2.0f * logf(u1));
        sincosf(6.28318530717958647692f * u2, &s[i], &c[i]);
    }
}

/* The stream's elements [0, n): written to out (y == NULL), or y[i] = b y[i] + (a x[i] + sd z_i)
 * (x NULL: a x[i] taken as 0), chunk by chunk while the chunk's normals are in L1. */
static void normal_run(const sgld_rng *r, uint64_t step, uint32_t purpose, size_t n, float *out, float b, float a,
                       const float *x, float sd, float *y)
{
    uint32_t w0[CHUNK], w2[CHUNK];
    float rad[CHUNK], c[CHUNK], s[CHUNK], z[2 * CHUNK];
#if USE_SIMD
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const int avx512 = __builtin_cpu_supports("avx512f");
#endif
    for (size_t b0 = 0; b0 < (n + 1) / 2; b0 += CHUNK) {
        const size_t len = n - 2 * b0 < 2 * CHUNK ? n - 2 * b0 : 2 * CHUNK; /* odd n: last chunk odd */
#if USE_SIMD
        if (avx512) {
            philox_avx512(r->seed, r->chain, (uint32_t)b0, purpose, (uint32_t)step, (uint32_t)(step >> 32), w0, w2);
            if (len == 2 * CHUNK) { /* a whole chunk: all in vectors */
                if (!y) {
                    box_muller_avx512(w0, w2, out + 2 * b0);
                } else {
                    box_muller_avx512(w0, w2, z);
                    update_avx512(b, a, x ? x + 2 * b0 : NULL, sd, z, y + 2 * b0);
                }
                continue;
            }
            box_muller_avx512(w0, w2, z);
        } else
#endif
        {
            philox_chunk(r->seed, r->chain, (uint32_t)b0, purpose, (uint32_t)step, (uint32_t)(step >> 32), w0, w2);
#if USE_SIMD
            if (avx2) box_muller_avx2(w0, w2, rad, c, s);
            else
#endif
                box_muller_libm(w0, w2, rad, c, s);
            for (size_t i = 0; i < (len + 1) / 2; i++) {
                z[2 * i] = rad[i] * c[i];
                z[2 * i + 1] = rad[i] * s[i];
            }
        }
        float *yy = y ? y + 2 * b0 : NULL;
        if (!y) memcpy(out + 2 * b0, z, len * sizeof *z);
        else if (x)
            for (size_t i = 0; i < len; i++) yy[i] = b * yy[i] + (a * x[2 * b0 + i] + sd * z[i]);
        else
            for (size_t i = 0; i < len; i++) yy[i] = b * yy[i] + sd * z[i];
    }
}

void sgld_rng_normal_fill(const sgld_rng *r, uint64_t step, uint32_t purpose, size_t n, float *out)
{
    rng_normals_begin(r);
    normal_run(r, step, purpose, n, out, 0.0f, 0.0f, NULL, 0.0f, NULL);
    rng_normals_end(r);
}

void sgld_rng_normal_update(const sgld_rng *r, uint64_t step, uint32_t purpose, size_t n, float b, float a,
                            const float *x, float sd, float *y)
{
    rng_normals_begin(r);
    normal_run(r, step, purpose, n, NULL, b, a, x, sd, y);
    rng_normals_end(r);
}
