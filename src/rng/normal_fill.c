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

/* The fused update of one whole chunk (rng.h, sgld_rng_normal_axpy), rounded as the scalar
 * loop of normal_run (separate multiplies and adds: no FMA, so the values do not depend on the
 * path); the squares of the new y go to the 16 double lanes ss (lane = element index mod 16,
 * float squares are exact in double), so the sum has the same bits as the scalar loop's. */
__attribute__((target("avx512f"))) static void axpy_avx512(const sgld_rng_axpy *op, size_t i0, const float *z,
                                                           double ss[16])
{
    const __m512 vb = _mm512_set1_ps(op->b), va = _mm512_set1_ps(op->a), vs = _mm512_set1_ps(op->sd),
                 vc = _mm512_set1_ps(op->c);
    __m512d lo = _mm512_loadu_pd(ss), hi = _mm512_loadu_pd(ss + 8);
    float *y = op->y + i0;
    for (int i = 0; i < 2 * CHUNK; i += 16) {
        __m512 e = op->s ? _mm512_mul_ps(vs, _mm512_loadu_ps(op->s + i0 + i)) : vs;
        __m512 t = _mm512_mul_ps(e, _mm512_loadu_ps(z + i));
        if (op->x) t = _mm512_add_ps(_mm512_mul_ps(va, _mm512_loadu_ps(op->x + i0 + i)), t);
        if (op->c != 0.0f) t = _mm512_add_ps(_mm512_mul_ps(vc, _mm512_loadu_ps(y + i)), t);
        if (op->b != 0.0f) t = _mm512_add_ps(_mm512_mul_ps(vb, _mm512_loadu_ps(y + i)), t);
        _mm512_storeu_ps(y + i, t);
        if (op->acc) _mm512_storeu_ps(op->acc + i0 + i, _mm512_add_ps(_mm512_loadu_ps(op->acc + i0 + i), t));
        if (op->sumsq) {
            __m512d t0 = _mm512_cvtps_pd(_mm512_castps512_ps256(t));
            __m512d t1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t), 1)));
            lo = _mm512_add_pd(lo, _mm512_mul_pd(t0, t0));
            hi = _mm512_add_pd(hi, _mm512_mul_pd(t1, t1));
        }
    }
    _mm512_storeu_pd(ss, lo);
    _mm512_storeu_pd(ss + 8, hi);
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

/* The scalar form of the fused update for elements [i0, i0 + len): the same operations in the
 * same order as axpy_avx512. */
static void axpy_scalar(const sgld_rng_axpy *op, size_t i0, size_t len, const float *z, double ss[16])
{
    for (size_t i = 0; i < len; i++) {
        const size_t k = i0 + i;
        const float e = op->s ? op->sd * op->s[k] : op->sd;
        float t = e * z[i];
        if (op->x) t = op->a * op->x[k] + t;
        if (op->c != 0.0f) t = op->c * op->y[k] + t;
        if (op->b != 0.0f) t = op->b * op->y[k] + t;
        op->y[k] = t;
        if (op->acc) op->acc[k] += t;
        if (op->sumsq) ss[k % 16] += (double)t * t;
    }
}

/* The stream's elements [b0 * 2, ...) up to n, whole chunks from block b0 to block b1: written to
 * out (op == NULL) or used by the fused update op while the chunk's normals are in L1. */
static void normal_run(const sgld_rng *r, uint64_t step, uint32_t purpose, size_t n, size_t b_first, size_t b_end,
                       float *out, const sgld_rng_axpy *op, double ss[16])
{
    uint32_t w0[CHUNK], w2[CHUNK];
    float rad[CHUNK], c[CHUNK], s[CHUNK], z[2 * CHUNK];
#if USE_SIMD
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const int avx512 = __builtin_cpu_supports("avx512f");
#endif
    for (size_t b0 = b_first; b0 < b_end; b0 += CHUNK) {
        const size_t len = n - 2 * b0 < 2 * CHUNK ? n - 2 * b0 : 2 * CHUNK; /* odd n: last chunk odd */
#if USE_SIMD
        if (avx512) {
            philox_avx512(r->seed, r->chain, (uint32_t)b0, purpose, (uint32_t)step, (uint32_t)(step >> 32), w0, w2);
            if (len == 2 * CHUNK) { /* a whole chunk: all in vectors */
                if (!op) {
                    box_muller_avx512(w0, w2, out + 2 * b0);
                } else {
                    box_muller_avx512(w0, w2, z);
                    axpy_avx512(op, 2 * b0, z, ss);
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
        if (!op) memcpy(out + 2 * b0, z, len * sizeof *z);
        else axpy_scalar(op, 2 * b0, len, z, ss);
    }
}

/* Threads of the noise loops (sgld_rng_set_threads) and the fixed span of one thread's task:
 * the sum of squares adds one 16-lane partial per span in span order, so its bits do not
 * depend on the number of threads. */
static int n_threads = 1;
#define SPAN_BLOCKS (CHUNK * 256) /* 32768 normals */

void sgld_rng_set_threads(int threads) { n_threads = threads > 1 ? threads : 1; }

int sgld_rng_threads(void) { return n_threads; }

/* Elements [0, n) through normal_run, the spans shared among the threads; returns the sum of
 * squares (op->sumsq) in the fixed order described above. */
static double normal_spans(const sgld_rng *r, uint64_t step, uint32_t purpose, size_t n, float *out,
                           const sgld_rng_axpy *op)
{
    const size_t blocks = (n + 1) / 2, n_spans = (blocks + SPAN_BLOCKS - 1) / SPAN_BLOCKS;
    double total = 0.0;
    if (n_threads == 1 || n_spans < 2) {
        for (size_t k = 0; k < n_spans; k++) {
            double ss[16] = {0};
            size_t end = (k + 1) * SPAN_BLOCKS < blocks ? (k + 1) * SPAN_BLOCKS : blocks;
            normal_run(r, step, purpose, n, k * SPAN_BLOCKS, end, out, op, ss);
            for (int l = 0; l < 16; l++) total += ss[l];
        }
        return total;
    }
    double part[64][16];
    for (size_t k0 = 0; k0 < n_spans; k0 += 64) { /* 64 spans at a time: a fixed stack array */
        const long m = (long)(n_spans - k0 < 64 ? n_spans - k0 : 64);
#ifdef _OPENMP
#pragma omp parallel for num_threads(n_threads) schedule(static)
#endif
        for (long j = 0; j < m; j++) {
            const size_t k = k0 + (size_t)j;
            size_t end = (k + 1) * SPAN_BLOCKS < blocks ? (k + 1) * SPAN_BLOCKS : blocks;
            for (int l = 0; l < 16; l++) part[j][l] = 0.0;
            normal_run(r, step, purpose, n, k * SPAN_BLOCKS, end, out, op, part[j]);
        }
        for (long j = 0; j < m; j++)
            for (int l = 0; l < 16; l++) total += part[j][l];
    }
    return total;
}

/* The sum of squares of y in normal_spans' order: spans of 2 SPAN_BLOCKS elements, 16 double
 * lanes by element index mod 16 in each (float squares are exact in double), the lanes of a
 * span in order, the spans in order. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
double sgld_rng_sumsq(size_t n, const float *y)
{
    const size_t span = 2 * (size_t)SPAN_BLOCKS;
    double total = 0.0;
    for (size_t s0 = 0; s0 < n; s0 += span) {
        const size_t end = n - s0 < span ? n : s0 + span;
        double ss[16] = {0};
        size_t i = s0;
        for (; i + 16 <= end; i += 16)
            for (int k = 0; k < 16; k++) ss[k] += (double)y[i + k] * y[i + k];
        for (; i < end; i++) ss[i % 16] += (double)y[i] * y[i];
        for (int l = 0; l < 16; l++) total += ss[l];
    }
    return total;
}

void sgld_rng_normal_fill(const sgld_rng *r, uint64_t step, uint32_t purpose, size_t n, float *out)
{
    rng_normals_begin(r);
    normal_spans(r, step, purpose, n, out, NULL);
    rng_normals_end(r);
}

double sgld_rng_normal_axpy(const sgld_rng *r, uint64_t step, uint32_t purpose, size_t n, const sgld_rng_axpy *op)
{
    rng_normals_begin(r);
    double ss = normal_spans(r, step, purpose, n, NULL, op);
    rng_normals_end(r);
    return op->sumsq ? ss : 0.0;
}

void sgld_rng_normal_update(const sgld_rng *r, uint64_t step, uint32_t purpose, size_t n, float b, float a,
                            const float *x, float sd, float *y)
{
    const sgld_rng_axpy op = {.b = b, .a = a, .sd = sd, .x = x, .y = y};
    sgld_rng_normal_axpy(r, step, purpose, n, &op);
}
