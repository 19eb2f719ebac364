/* layers.c - the layers without parameters: 2 x 2 max-pooling, ReLU, tanh, dropout.
 *
 *   pool     Y[b][c][i][j] = max over the 2 x 2 block X[b][c][2i..2i+1][2j..2j+1] (odd sides
 *            drop their last row/column, as PyTorch's MaxPool2d(2)); the gradient goes to the
 *            first maximum of the block (its flat input index is kept)
 *   relu     y = max(x, 0), dy/dx = [y > 0]
 *   tanh     y = tanh(x),   dy/dx = 1 - y^2
 *   dropout  y = m x, m = 0 with probability P else 1 / (1 - P) (inverted dropout), one mask
 *            per unit and example from the Philox stream (net.h); MC dropout's masks per row
 *            (sgld_net_predict_dropout) by the same rule from their own stream. */
#include <math.h>
#include <string.h>

#include "net_impl.h"

/* GCC: AVX-512 and AVX2 clones of the elementwise loops (chosen at load time), so that they
 * vectorize 16 or 8 wide; the baseline x86-64 build would use SSE2. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WIDE __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WIDE
#endif

/* One row of 2 x 2 blocks: rows r0, r1 of the input plane (first index k0 of r0), ow outputs.
 * Branch-free (the comparisons become selects), the first maximum wins as before. */
static inline void pool_row(const float *r0, const float *r1, int W, int32_t k0, int ow, float *o, int32_t *am)
{
    for (int j = 0; j < ow; j++) {
        float m = r0[2 * j];
        int32_t k = k0 + 2 * j;
        float b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
        k = b > m ? k0 + 2 * j + 1 : k;
        m = b > m ? b : m;
        k = c > m ? k0 + W + 2 * j : k;
        m = c > m ? c : m;
        k = d > m ? k0 + W + 2 * j + 1 : k;
        m = d > m ? d : m;
        o[j] = m;
        am[j] = k;
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
/* pool_row with AVX-512, 16 outputs at a time: the even and odd columns of the two rows by
 * two-source permutes, then the same comparisons in the same order as masks and blends. */
__attribute__((target("avx512f"))) static void pool_row_avx512(const float *r0, const float *r1, int W, int32_t k0,
                                                               int ow, float *o, int32_t *am)
{
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int j0 = 0; j0 < ow; j0 += 16) {
        const int m = ow - j0 < 16 ? ow - j0 : 16, n2 = 2 * m; /* outputs, input floats per row */
        const __mmask16 lo = (__mmask16)(n2 >= 16 ? 0xFFFF : (1u << n2) - 1u);
        const __mmask16 hi = (__mmask16)(n2 > 16 ? (1u << (n2 - 16)) - 1u : 0u);
        const __mmask16 om = (__mmask16)(m >= 16 ? 0xFFFF : (1u << m) - 1u);
        const __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * j0), a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * j0 + 16);
        const __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * j0), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * j0 + 16);
        const __m512 a = _mm512_permutex2var_ps(a0, even, a1), b = _mm512_permutex2var_ps(a0, odd, a1);
        const __m512 c = _mm512_permutex2var_ps(b0, even, b1), d = _mm512_permutex2var_ps(b0, odd, b1);
        const __m512i k = _mm512_add_epi32(_mm512_set1_epi32(k0 + 2 * j0), even);
        __m512 mx = a;
        __m512i ix = k;
        __mmask16 gt = _mm512_cmp_ps_mask(b, mx, _CMP_GT_OQ);
        ix = _mm512_mask_add_epi32(ix, gt, k, _mm512_set1_epi32(1));
        mx = _mm512_mask_blend_ps(gt, mx, b);
        gt = _mm512_cmp_ps_mask(c, mx, _CMP_GT_OQ);
        ix = _mm512_mask_add_epi32(ix, gt, k, _mm512_set1_epi32(W));
        mx = _mm512_mask_blend_ps(gt, mx, c);
        gt = _mm512_cmp_ps_mask(d, mx, _CMP_GT_OQ);
        ix = _mm512_mask_add_epi32(ix, gt, k, _mm512_set1_epi32(W + 1));
        mx = _mm512_mask_blend_ps(gt, mx, d);
        _mm512_mask_storeu_ps(o + j0, om, mx);
        _mm512_mask_storeu_epi32(am + j0, om, ix);
    }
}
#define POOL_AVX512 1
#else
#define POOL_AVX512 0
#endif

void sgld_pool_forward(const sgld_layer *y, const float *in, float *out, int32_t *argmax, size_t n)
{
    const int H = y->h, W = y->w, OH = y->oh, OW = y->ow;
    const size_t planes = n * (size_t)y->c;
#if POOL_AVX512
    const int simd = !sgld_net_plain && __builtin_cpu_supports("avx512f");
#endif
    for (size_t pl = 0; pl < planes; pl++) {
        const float *x = in + pl * H * W;
        float *o = out + pl * OH * OW;
        int32_t *am = argmax + pl * OH * OW;
        for (int i = 0; i < OH; i++) {
#if POOL_AVX512
            if (simd) {
                pool_row_avx512(x + 2 * i * W, x + (2 * i + 1) * W, W, 2 * i * W, OW, o + i * OW, am + i * OW);
                continue;
            }
#endif
            pool_row(x + 2 * i * W, x + (2 * i + 1) * W, W, 2 * i * W, OW, o + i * OW, am + i * OW);
        }
    }
}

/* din = the pool's input gradient, overwritten: each pair of input rows is cleared while in
 * L1 and gets its outputs' gradients at their argmax; with pooled != NULL (the ReLU before the
 * pool, fused) only where the pooled output is > 0, i.e. where the ReLU's output at the argmax
 * is, which is the ReLU's backward. */
static void pool_back(const sgld_layer *y, const float *dout, const float *pooled, const int32_t *argmax, size_t n,
                      float *din)
{
    const int H = y->h, W = y->w, OH = y->oh, OW = y->ow;
    const size_t in_plane = (size_t)H * W, out_plane = (size_t)OH * OW;
    const size_t planes = n * (size_t)y->c;
    for (size_t pl = 0; pl < planes; pl++) {
        float *d = din + pl * in_plane;
        const float *g = dout + pl * out_plane, *z = pooled ? pooled + pl * out_plane : NULL;
        const int32_t *am = argmax + pl * out_plane;
        for (int i = 0; i < OH; i++) {
            memset(d + (size_t)2 * i * W, 0, 2 * (size_t)W * sizeof *d);
            for (int j = 0; j < OW; j++) {
                const size_t k = (size_t)i * OW + j;
                d[am[k]] = z && !(z[k] > 0.0f) ? 0.0f : g[k]; /* blocks do not overlap */
            }
        }
        if (H > 2 * OH) memset(d + (size_t)2 * OH * W, 0, (size_t)(H - 2 * OH) * W * sizeof *d);
    }
}

void sgld_pool_backward(const sgld_layer *y, const float *dout, const int32_t *argmax, size_t n,
                        float *din)
{
    pool_back(y, dout, NULL, argmax, n, din);
}

void sgld_pool_relu_backward(const sgld_layer *y, const float *dout, const float *pooled, const int32_t *argmax,
                             size_t n, float *din)
{
    pool_back(y, dout, pooled, argmax, n, din);
}

WIDE void sgld_relu_forward(const float *in, float *out, size_t len)
{
    for (size_t i = 0; i < len; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

/* Both operands loaded unconditionally: a select, not a branch on the sign (which mispredicted
 * half the time and kept the loop scalar). */
WIDE void sgld_relu_backward(const float *out, const float *dout, float *din, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        const float g = dout[i];
        din[i] = out[i] > 0.0f ? g : 0.0f;
    }
}

WIDE void sgld_bias_act(float *a, const float *bias, int rows, int cols, int relu)
{
    for (int r = 0; r < rows; r++) {
        float *x = a + (size_t)r * cols;
        const float b = bias[r];
        if (relu)
            for (int i = 0; i < cols; i++) {
                const float t = x[i] + b;
                x[i] = t > 0.0f ? t : 0.0f;
            }
        else
            for (int i = 0; i < cols; i++) x[i] += b;
    }
}

WIDE void sgld_bias_rows_act(float *a, const float *bias, size_t rows, int cols, int relu)
{
    for (size_t r = 0; r < rows; r++) {
        float *x = a + r * cols;
        if (relu)
            for (int i = 0; i < cols; i++) {
                const float t = x[i] + bias[i];
                x[i] = t > 0.0f ? t : 0.0f;
            }
        else
            for (int i = 0; i < cols; i++) x[i] += bias[i];
    }
}

/* Eight partial sums in double per row (vectorizable; the order differs from a sequential sum
 * by a few double ulps), then added to out as float. */
WIDE void sgld_row_sums_add(const float *a, int rows, int cols, float *out)
{
    for (int r = 0; r < rows; r++) {
        const float *x = a + (size_t)r * cols;
        double acc[8] = {0};
        int i = 0;
        for (; i + 8 <= cols; i += 8)
            for (int j = 0; j < 8; j++) acc[j] += x[i + j];
        double s = 0.0;
        for (; i < cols; i++) s += x[i];
        for (int j = 0; j < 8; j++) s += acc[j];
        out[r] += (float)s;
    }
}

void sgld_tanh_forward(const float *in, float *out, size_t len)
{
    for (size_t i = 0; i < len; i++) out[i] = tanhf(in[i]);
}

void sgld_tanh_backward(const float *out, const float *dout, float *din, size_t len)
{
    for (size_t i = 0; i < len; i++) din[i] = dout[i] * (1.0f - out[i] * out[i]);
}

void sgld_dropout_mask(const sgld_rng *r, uint64_t call, uint32_t block0, float rate, float *mask, size_t len)
{
    /* Unit i keeps when word i % 4 of block block0 + i / 4 is >= rate 2^32.  The net gives each
     * dropout layer its own block0 (past the blocks of the layers before it), so the layers'
     * masks in one call are independent. */
    const double thr = (double)rate * 4294967296.0;
    const float keep = 1.0f / (1.0f - rate);
    uint32_t w[4];
    for (size_t i = 0; i < len; i++) {
        if (i % 4 == 0) sgld_rng_block(r, call, SGLD_RNG_SAMPLER, block0 + (uint32_t)(i / 4), w);
        mask[i] = (double)w[i % 4] >= thr ? keep : 0.0f;
    }
}

void sgld_dropout_mask_mc(const sgld_rng *r, uint64_t step, uint32_t block0, size_t first, float rate,
                          float *mask, size_t len)
{
    /* The training rule (above) on the units first, first + 1, ... of one row's stream. */
    const double thr = (double)rate * 4294967296.0;
    const float keep = 1.0f / (1.0f - rate);
    uint32_t w[4];
    for (size_t j = 0; j < len; j++) {
        const size_t u = first + j;
        if (j == 0 || u % 4 == 0) sgld_rng_block(r, step, SGLD_RNG_MC_DROPOUT, block0 + (uint32_t)(u / 4), w);
        mask[j] = (double)w[u % 4] >= thr ? keep : 0.0f;
    }
}

void sgld_dropout_apply(const float *mask, const float *in, float *out, size_t len)
{
    for (size_t i = 0; i < len; i++) out[i] = mask[i] * in[i];
}
