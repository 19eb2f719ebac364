/* conv.c - 2-D convolution (cross-correlation, as PyTorch's Conv2d), stride 1, 'same' zero
 * padding p = (k - 1) / 2, by im2col + cblas_sgemm, one image at a time.
 *
 *   col[(c k + u) k + v][y W + x] = X[c][y + u - p][x + v - p]   (0 outside)
 *   Y[o][H W] = W[o][c k k] col + bias[o]                          (sgemm, then one pass)
 * The pass after the GEMM adds the bias and, fused with the layers that follow (net.c), applies
 * the ReLU and the 2 x 2 max-pool while the image's output is in L2: the network then writes
 * only the pooled output and its argmax, not the conv's and the ReLU's full-size outputs.
 * K-FAC statistics (sgld_conv_kfac, only for ksgld): per image, col col^T / (H W) and dY dY^T.
 * Backward, per image:
 *   dW += dY col^T (col recomputed),  dbias[o] += sum dY[o][:] (double),
 *   dcol = W^T dY,  dX = col2im(dcol)
 * (followed by ReLU + max-pool, dY is mostly zeros: sgld_conv_pool_backward at the end of the
 * file does the same from its nonzeros only).  Per image the col buffer (c k k x H W floats: 627 KB for the seed CNN's conv2) stays in
 * L2 between im2col and the GEMM; a batch-wide col (n H W columns, 40 MB at batch 64) made
 * OpenBLAS pack a matrix far out of cache and ran at a third of the speed.
 *
 * im2col and col2im copy rows of W floats shifted by v - p: with AVX-512 (checked at run
 * time) one masked load and store per 16 floats, the zero padding being the masked-off
 * lanes; col2im sums the k k shifted rows that land on each input row in registers and stores
 * it once (no memset, no read-modify-write).  Elsewhere the plain loops. */
#include <cblas.h>
#include <string.h>

#include "net_impl.h"

int sgld_net_plain = 0;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CONV_AVX512 1
#include <immintrin.h>
#else
#define CONV_AVX512 0
#endif

static void im2col_plain(const sgld_layer *y, const float *in, float *col)
{
    const int C = y->c, H = y->h, W = y->w, k = y->k, p = (k - 1) / 2;
    const size_t HW = (size_t)H * W;
    for (int c = 0; c < C; c++)
        for (int u = 0; u < k; u++)
            for (int v = 0; v < k; v++) {
                float *row = col + ((size_t)(c * k + u) * k + v) * HW;
                const float *src = in + c * HW;
                for (int yy = 0; yy < H; yy++) {
                    int sy = yy + u - p;
                    float *d = row + (size_t)yy * W;
                    if (sy < 0 || sy >= H) {
                        memset(d, 0, (size_t)W * sizeof *d);
                        continue;
                    }
                    const float *s = src + (size_t)sy * W;
                    int x0 = p - v > 0 ? p - v : 0, x1 = W + p - v < W ? W + p - v : W;
                    for (int x = 0; x < x0; x++) d[x] = 0.0f;
                    for (int x = x0; x < x1; x++) d[x] = s[x + v - p];
                    for (int x = x1; x < W; x++) d[x] = 0.0f;
                }
            }
}

/* din (one image, [C][H][W]) = col2im(dcol), overwritten. */
static void col2im_plain(const sgld_layer *y, const float *dcol, float *din)
{
    const int C = y->c, H = y->h, W = y->w, k = y->k, p = (k - 1) / 2;
    const size_t HW = (size_t)H * W;
    memset(din, 0, C * HW * sizeof *din);
    for (int c = 0; c < C; c++)
        for (int u = 0; u < k; u++)
            for (int v = 0; v < k; v++) {
                const float *row = dcol + ((size_t)(c * k + u) * k + v) * HW;
                float *dst = din + c * HW;
                for (int yy = 0; yy < H; yy++) {
                    int sy = yy + u - p;
                    if (sy < 0 || sy >= H) continue;
                    const float *s = row + (size_t)yy * W;
                    float *d = dst + (size_t)sy * W;
                    int x0 = p - v > 0 ? p - v : 0, x1 = W + p - v < W ? W + p - v : W;
                    for (int x = x0; x < x1; x++) d[x + v - p] += s[x];
                }
            }
}

#if CONV_AVX512
/* Lanes x0 + i (i < 16) with x0 + i < W, and of those the ones whose source x0 + i + sh is in
 * [0, W). */
static inline __mmask16 lanes_below(int n) { return n >= 16 ? 0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1u); }
static inline __mmask16 lanes_src(int x0, int sh, int W)
{
    int lo = -sh - x0, hi = W - sh - x0; /* lanes i in [lo, hi) have their source inside */
    __mmask16 m = lanes_below(W - x0) & lanes_below(hi);
    return lo > 0 ? (__mmask16)(m & ~lanes_below(lo)) : m;
}

__attribute__((target("avx512f"))) static void im2col_avx512(const sgld_layer *y, const float *in, float *col)
{
    const int C = y->c, H = y->h, W = y->w, k = y->k, p = (k - 1) / 2;
    const size_t HW = (size_t)H * W;
    const __m512 zero = _mm512_setzero_ps();
    for (int c = 0; c < C; c++)
        for (int u = 0; u < k; u++)
            for (int v = 0; v < k; v++) {
                float *row = col + ((size_t)(c * k + u) * k + v) * HW;
                const int sh = v - p;
                for (int yy = 0; yy < H; yy++) {
                    const int sy = yy + u - p;
                    float *d = row + (size_t)yy * W;
                    if (sy < 0 || sy >= H) {
                        for (int x0 = 0; x0 < W; x0 += 16) _mm512_mask_storeu_ps(d + x0, lanes_below(W - x0), zero);
                        continue;
                    }
                    /* base address + sh may point before the row: those lanes are masked off
                     * (a masked load does not fault on them) */
                    const uintptr_t s = (uintptr_t)(in + c * HW + (size_t)sy * W);
                    for (int x0 = 0; x0 < W; x0 += 16) {
                        __m512 t = _mm512_maskz_loadu_ps(lanes_src(x0, sh, W),
                                                         (const void *)(s + (intptr_t)(x0 + sh) * (intptr_t)sizeof(float)));
                        _mm512_mask_storeu_ps(d + x0, lanes_below(W - x0), t);
                    }
                }
            }
}

__attribute__((target("avx512f"))) static void col2im_avx512(const sgld_layer *y, const float *dcol, float *din)
{
    const int C = y->c, H = y->h, W = y->w, k = y->k, p = (k - 1) / 2;
    const size_t HW = (size_t)H * W;
    for (int c = 0; c < C; c++)
        for (int sy = 0; sy < H; sy++)
            for (int x0 = 0; x0 < W; x0 += 16) {
                /* din[c][sy][x] = sum over (u, v) of dcol[(c k + u) k + v][sy - u + p][x - v + p] */
                __m512 acc = _mm512_setzero_ps();
                for (int u = 0; u < k; u++) {
                    const int yy = sy - u + p;
                    if (yy < 0 || yy >= H) continue;
                    for (int v = 0; v < k; v++) {
                        const int sh = p - v;
                        const uintptr_t s = (uintptr_t)(dcol + ((size_t)(c * k + u) * k + v) * HW + (size_t)yy * W);
                        acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(lanes_src(x0, sh, W),
                                                                       (const void *)(s + (intptr_t)(x0 + sh) * (intptr_t)sizeof(float))));
                    }
                }
                _mm512_mask_storeu_ps(din + c * HW + (size_t)sy * W + x0, lanes_below(W - x0), acc);
            }
}

static int have_avx512(void) { return !sgld_net_plain && __builtin_cpu_supports("avx512f"); }
#endif


static void im2col(const sgld_layer *y, const float *in, float *col)
{
#if CONV_AVX512
    if (have_avx512()) {
        im2col_avx512(y, in, col);
        return;
    }
#endif
    im2col_plain(y, in, col);
}

static void col2im(const sgld_layer *y, const float *dcol, float *din)
{
#if CONV_AVX512
    if (have_avx512()) {
        col2im_avx512(y, dcol, din);
        return;
    }
#endif
    col2im_plain(y, dcol, din);
}

void sgld_conv_im2col(const sgld_layer *y, const float *in, float *col) { im2col(y, in, col); }

size_t sgld_conv_work_size(const sgld_layer *y)
{
    const size_t O = (size_t)y->oc, CKK = (size_t)y->c * y->k * y->k, HW = (size_t)y->h * y->w;
    /* col (or its transpose) + 16 floats of slack, the image before pooling, and the
     * pool-driven backward's lists (5 O H W), pixel counts (H W + 1) and channel starts (O + 1) */
    return (CKK + O) * HW + 16 + 5 * O * HW + HW + 1 + O + 1;
}

/* The work buffer: col [c k k][h w], then the image's output before pooling [oc][h w]. */
void sgld_conv_forward_fused(const sgld_layer *y, const float *theta, const float *in, float *out, size_t n,
                             float *work, int relu, const sgld_layer *pool, int32_t *argmax)
{
    const int O = y->oc, CKK = y->c * y->k * y->k, HW = y->h * y->w;
    const float *bias = theta + y->b_off, *W = theta + y->w_off;
    float *col = work, *img = work + (size_t)CKK * HW;
    const size_t out_img = pool ? (size_t)O * pool->oh * pool->ow : (size_t)O * HW;
    for (size_t b = 0; b < n; b++) {
        float *ob = pool ? img : out + b * out_img;
        im2col(y, in + b * (size_t)y->c * HW, col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, HW, CKK, 1.0f, W, CKK, col, HW, 0.0f, ob, HW);
        sgld_bias_act(ob, bias, O, HW, relu);
        if (pool) sgld_pool_forward(pool, ob, out + b * out_img, argmax + b * out_img, 1);
    }
}

void sgld_conv_forward(const sgld_layer *y, const float *theta, const float *in, float *out, size_t n,
                       float *work)
{
    sgld_conv_forward_fused(y, theta, in, out, n, work, 0, NULL, NULL);
}

void sgld_conv_backward(const sgld_layer *y, const float *theta, const float *in, const float *dout, size_t n,
                        float *grad, float *din, float *work)
{
    const int O = y->oc, CKK = y->c * y->k * y->k, HW = y->h * y->w;
    const float *W = theta + y->w_off;
    float *col = work;
    for (size_t b = 0; b < n; b++) {
        const float *dy = dout + b * (size_t)O * HW;
        if (grad) {
            sgld_row_sums_add(dy, O, HW, grad + y->b_off);
            im2col(y, in + b * (size_t)y->c * HW, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, CKK, HW, 1.0f, dy, HW, col, HW, 1.0f,
                        grad + y->w_off, CKK);
        }
        if (din) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, HW, O, 1.0f, W, CKK, dy, HW, 0.0f, col, HW);
            col2im(y, col, din + b * (size_t)y->c * HW);
        }
    }
}

void sgld_conv_kfac(const sgld_layer *y, const float *in, const float *dout, size_t n, float *col,
                    float *A, float *G)
{
    const int O = y->oc, CKK = y->c * y->k * y->k, HW = y->h * y->w, na = CKK + 1;
    for (size_t b = 0; b < n; b++) {
        const float *dy = dout + b * (size_t)O * HW;
        im2col(y, in + b * (size_t)y->c * HW, col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, CKK, CKK, HW, 1.0f / HW, col, HW, col, HW, 1.0f, A, na);
        for (int j = 0; j < CKK; j++) {
            double s = 0.0;
            for (int i = 0; i < HW; i++) s += col[(size_t)j * HW + i];
            A[(size_t)j * na + CKK] += (float)(s / HW);
            A[(size_t)CKK * na + j] += (float)(s / HW);
        }
        A[(size_t)CKK * na + CKK] += 1.0f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, O, HW, 1.0f, dy, HW, dy, HW, 1.0f, G, O);
    }
}

/* ---- Backward of conv + ReLU + 2 x 2 max-pool from the pool's output gradient ----
 *
 * dY, the gradient at the conv's output, is the pool's output gradient g put at each block's
 * argmax where the pooled value is > 0 (the ReLU), zero elsewhere: at most one pixel in four
 * is nonzero.  The dense backward multiplies those zeros (dW = dY col^T and dcol = W^T dY are
 * two O x c k k x H W GEMMs); here, per image, the nonzero entries ("hits": channel o, pixel
 * p, value g) drive row updates of length c k k instead, a quarter of the arithmetic:
 *   dW[o][:]    += sum over o's hits of g colT[p][:]     colT = im2col transposed, [H W][c k k]
 *   dcolT[p][:]  = sum over p's hits of g W[o][:]        (dw_sparse, dcol_sparse)
 *   dX = col2im(dcolT), each input row summed in a register from the shifted k-float pieces
 *   dbias[o]    += sum of o's g (double, per image, as the dense path)
 * The same values as pool_relu_backward + sgld_conv_backward up to float summation order.
 * AVX-512 only (net.c uses the dense path elsewhere), kernels of at most 16, and c k k >= 128. */
int sgld_conv_pool_backward_ok(const sgld_layer *y)
{
#if CONV_AVX512
    /* Rows of c k k < 128 floats are too short for the row updates to pay: the seed CNN's
     * conv1 (c k k = 25, dW only) took 2.3 ms a batch of 64 this way against 1.1 ms dense, its
     * conv2 (800) 16.5 ms against 30.2. */
    return y->k <= 16 && y->c * y->k * y->k >= 128 && have_avx512();
#else
    (void)y;
    return 0;
#endif
}

#if CONV_AVX512
static inline __mmask16 lanes_range(int lo, int hi) /* lanes i with lo <= i < hi */
{
    return (__mmask16)(lanes_below(hi) & ~lanes_below(lo));
}

/* colT[p][(c k + u) k + v] = X[c][y + u - p][x + v - p] for pixel p = (y, x): per (p, c, u)
 * one masked load of the k floats and an unmasked 16-float store; the stores go up in address
 * order, so each one's extra lanes are overwritten by the next (the last one's land in the
 * 16 floats of slack). */
__attribute__((target("avx512f"))) static void im2col_t(const sgld_layer *y, const float *in, float *colT)
{
    const int C = y->c, H = y->h, W = y->w, k = y->k, pd = (k - 1) / 2, CKK = C * k * k;
    const size_t HW = (size_t)H * W;
    const __m512 zero = _mm512_setzero_ps();
    for (int yy = 0; yy < H; yy++)
        for (int x = 0; x < W; x++) {
            float *row = colT + ((size_t)yy * W + x) * CKK;
            const __mmask16 m = lanes_range(pd - x, W + pd - x) & lanes_below(k); /* v with x + v - pd inside */
            for (int c = 0; c < C; c++)
                for (int u = 0; u < k; u++) {
                    const int sy = yy + u - pd;
                    float *d = row + (c * k + u) * k;
                    if (sy < 0 || sy >= H) {
                        _mm512_storeu_ps(d, zero);
                        continue;
                    }
                    const uintptr_t sp = (uintptr_t)(in + c * HW + (size_t)sy * W);
                    _mm512_storeu_ps(d, _mm512_maskz_loadu_ps(m, (const void *)(sp + (intptr_t)(x - pd) * (intptr_t)sizeof(float))));
                }
        }
}

/* The row updates, blocked so that the rows read stay in L1: a slice of 32 (dW) or 64 (dcolT)
 * floats of every source row is used by all the channels or pixels before the next slice,
 * and each destination slice is summed in registers over its hits in two or four
 * independent partial sums (a single chain would wait on the FMA latency).
 *   dW[o][j]    += sum over h in [hs[o], hs[o + 1]) of hg[h] colT[hoff[h] + j]
 *   dcolT[p][j]  = sum over h in [pend[p - 1], pend[p]) of pg[h] W[poff[h] + j]
 * (hoff, poff: element offsets of the source rows.) */
#define HIT2(A0, A1, off, gv)                                                     \
    do {                                                                          \
        const float *sp_ = base + (off);                                          \
        const __m512 g_ = _mm512_set1_ps(gv);                                     \
        A0 = _mm512_fmadd_ps(g_, _mm512_maskz_loadu_ps(m0, sp_), A0);             \
        A1 = _mm512_fmadd_ps(g_, _mm512_maskz_loadu_ps(m1, sp_ + 16), A1);        \
    } while (0)
/* (named accumulators throughout: an array of vectors indexed in a loop is kept on the stack) */
__attribute__((target("avx512f"))) static void dw_sparse(float *dw, int O, int CKK, const float *colT,
                                                         const int32_t *hoff, const float *hg, const int32_t *hs)
{
    for (int j0 = 0; j0 < CKK; j0 += 32) {
        const __mmask16 m0 = lanes_below(CKK - j0), m1 = lanes_below(CKK - j0 - 16);
        const float *base = colT + j0;
        for (int o = 0; o < O; o++) {
            const int h1 = hs[o + 1];
            int h = hs[o];
            if (h == h1) continue;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
            for (; h + 4 <= h1; h += 4) {
                HIT2(a0, a1, hoff[h], hg[h]);
                HIT2(b0, b1, hoff[h + 1], hg[h + 1]);
                HIT2(c0, c1, hoff[h + 2], hg[h + 2]);
                HIT2(d0, d1, hoff[h + 3], hg[h + 3]);
            }
            if (h < h1) HIT2(a0, a1, hoff[h], hg[h]);
            if (h + 1 < h1) HIT2(b0, b1, hoff[h + 1], hg[h + 1]);
            if (h + 2 < h1) HIT2(c0, c1, hoff[h + 2], hg[h + 2]);
            float *dst = dw + (size_t)o * CKK + j0;
            const __m512 s0 = _mm512_add_ps(_mm512_add_ps(a0, b0), _mm512_add_ps(c0, d0));
            const __m512 s1 = _mm512_add_ps(_mm512_add_ps(a1, b1), _mm512_add_ps(c1, d1));
            _mm512_mask_storeu_ps(dst, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, dst), s0));
            _mm512_mask_storeu_ps(dst + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, dst + 16), s1));
        }
    }
}

#define HIT4(A0, A1, A2, A3, off, gv)                                             \
    do {                                                                          \
        const float *sp_ = base + (off);                                          \
        const __m512 g_ = _mm512_set1_ps(gv);                                     \
        A0 = _mm512_fmadd_ps(g_, _mm512_maskz_loadu_ps(m0, sp_), A0);             \
        A1 = _mm512_fmadd_ps(g_, _mm512_maskz_loadu_ps(m1, sp_ + 16), A1);        \
        A2 = _mm512_fmadd_ps(g_, _mm512_maskz_loadu_ps(m2, sp_ + 32), A2);        \
        A3 = _mm512_fmadd_ps(g_, _mm512_maskz_loadu_ps(m3, sp_ + 48), A3);        \
    } while (0)
__attribute__((target("avx512f"))) static void dcol_sparse(float *dcolT, int HW, int CKK, const float *W,
                                                           const int32_t *poff, const float *pg, const int32_t *pend)
{
    for (int j0 = 0; j0 < CKK; j0 += 64) {
        const __mmask16 m0 = lanes_below(CKK - j0), m1 = lanes_below(CKK - j0 - 16);
        const __mmask16 m2 = lanes_below(CKK - j0 - 32), m3 = lanes_below(CKK - j0 - 48);
        const float *base = W + j0;
        for (int p = 0; p < HW; p++) {
            const int h1 = pend[p];
            int h = p ? pend[p - 1] : 0;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (; h + 2 <= h1; h += 2) {
                HIT4(a0, a1, a2, a3, poff[h], pg[h]);
                HIT4(b0, b1, b2, b3, poff[h + 1], pg[h + 1]);
            }
            if (h < h1) HIT4(a0, a1, a2, a3, poff[h], pg[h]);
            float *dst = dcolT + (size_t)p * CKK + j0;
            _mm512_mask_storeu_ps(dst, m0, _mm512_add_ps(a0, b0));
            _mm512_mask_storeu_ps(dst + 16, m1, _mm512_add_ps(a1, b1));
            _mm512_mask_storeu_ps(dst + 32, m2, _mm512_add_ps(a2, b2));
            _mm512_mask_storeu_ps(dst + 48, m3, _mm512_add_ps(a3, b3));
        }
    }
}
#undef HIT2
#undef HIT4

/* din[c][y'][x'] = sum over u, source pixel (y' - u + pd, x) of dcolT[that pixel][(c k + u) k
 * + x' - x + pd] (the v with x' = x + v - pd): a shifted masked load per (u, x) added in a
 * register, one store per 16 floats of a row. */
__attribute__((target("avx512f"))) static void col2im_t(const sgld_layer *y, const float *dcolT, float *din)
{
    const int C = y->c, H = y->h, W = y->w, k = y->k, pd = (k - 1) / 2, CKK = C * k * k;
    const size_t HW = (size_t)H * W;
    for (int c = 0; c < C; c++)
        for (int yo = 0; yo < H; yo++)
            for (int x0 = 0; x0 < W; x0 += 16) {
                __m512 acc = _mm512_setzero_ps();
                for (int u = 0; u < k; u++) {
                    const int ys = yo - u + pd;
                    if (ys < 0 || ys >= H) continue;
                    const int xa = x0 - pd > 0 ? x0 - pd : 0, xb = x0 + 15 + pd < W - 1 ? x0 + 15 + pd : W - 1;
                    for (int x = xa; x <= xb; x++) {
                        /* lane l is x' = x0 + l, v = x0 + l - x + pd */
                        const __mmask16 m = lanes_range(x - pd - x0, x - pd - x0 + k) & lanes_below(W - x0);
                        const uintptr_t sp = (uintptr_t)(dcolT + ((size_t)ys * W + x) * CKK + (size_t)(c * k + u) * k);
                        acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, (const void *)(sp + (intptr_t)(x0 - x + pd) * (intptr_t)sizeof(float))));
                    }
                }
                _mm512_mask_storeu_ps(din + c * HW + (size_t)yo * W + x0, lanes_below(W - x0), acc);
            }
}
#endif

void sgld_conv_pool_backward(const sgld_layer *y, const sgld_layer *pool, const float *theta, const float *in,
                             const float *gout, const float *pooled, const int32_t *argmax, size_t n, float *grad,
                             float *din, float *work)
{
#if CONV_AVX512
    const int O = y->oc, CKK = y->c * y->k * y->k, HW = y->h * y->w, PQ = pool->oh * pool->ow;
    const float *W = theta + y->w_off;
    float *colT = work; /* [HW][CKK] + 16 slack (and the image area after it) */
    int32_t *hp = (int32_t *)(work + (size_t)(CKK + O) * HW + 16), *po = hp + (size_t)O * HW;
    float *hg = (float *)(po + (size_t)O * HW), *pg = hg + (size_t)O * HW;
    int32_t *cnt = (int32_t *)(pg + (size_t)O * HW), *hs = cnt + HW + 1, *ho = hs + O + 1;
    for (size_t b = 0; b < n; b++) {
        const float *g = gout + b * (size_t)O * PQ, *z = pooled + b * (size_t)O * PQ;
        const int32_t *am = argmax + b * (size_t)O * PQ;
        int nh = 0;
        for (int o = 0; o < O; o++) {
            hs[o] = nh;
            double s = 0.0;
            for (int q = 0; q < PQ; q++) {
                const float gv = g[(size_t)o * PQ + q];
                if (z[(size_t)o * PQ + q] > 0.0f && gv != 0.0f) {
                    hp[nh] = am[(size_t)o * PQ + q], hg[nh] = gv, nh++;
                    s += gv;
                }
            }
            if (grad) grad[y->b_off + o] += (float)s;
        }
        hs[O] = nh;
        if (grad) {
            im2col_t(y, in + b * (size_t)y->c * HW, colT);
            for (int h = 0; h < nh; h++) ho[h] = hp[h] * CKK;
            dw_sparse(grad + y->w_off, O, CKK, colT, ho, hg, hs);
        }
        if (din) {
            /* the hits by pixel (counting sort, channels in order within a pixel) */
            for (int p = 0; p <= HW; p++) cnt[p] = 0;
            for (int h = 0; h < nh; h++) cnt[hp[h] + 1]++;
            for (int p = 0; p < HW; p++) cnt[p + 1] += cnt[p];
            for (int o = 0; o < O; o++)
                for (int h = hs[o]; h < hs[o + 1]; h++) {
                    const int at = cnt[hp[h]]++;
                    po[at] = o * CKK, pg[at] = hg[h];
                }
            /* cnt[p] is now the end of pixel p's hits (the start of p + 1's) */
            dcol_sparse(colT, HW, CKK, W, po, pg, cnt);
            col2im_t(y, colT, din + b * (size_t)y->c * HW);
        }
    }
#else
    (void)y, (void)pool, (void)theta, (void)in, (void)gout, (void)pooled, (void)argmax, (void)n, (void)grad, (void)din,
        (void)work;
#endif
}
