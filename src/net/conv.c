/* conv.c - 2-D convolution (cross-correlation, as PyTorch's Conv2d), stride 1, 'same' zero
 * padding p = (k - 1) / 2, by im2col + cblas_sgemm, one image at a time.
 *
 *   col[(c k + u) k + v][y W + x] = X[c][y + u - p][x + v - p]   (0 outside)
 *   Y[o][H W] = W[o][c k k] col + bias[o]                          (sgemm, straight into Y)
 * K-FAC statistics (sgld_conv_kfac, only for ksgld): per image, col col^T / (H W) and dY dY^T.
 * Backward, per image:
 *   dW += dY col^T (col recomputed),  dbias[o] += sum dY[o][:] (double),
 *   dcol = W^T dY,  dX = col2im(dcol)
 * Per image the col buffer (c k k x H W floats: 627 KB for the seed CNN's conv2) stays in
 * L2 between im2col and the GEMM; a batch-wide col (n H W columns, 40 MB at batch 64) made
 * OpenBLAS pack a matrix far out of cache and ran at a third of the speed. */
#include <cblas.h>
#include <string.h>

#include "net_impl.h"

static void im2col(const sgld_layer *y, const float *in, size_t n, float *col)
{
    const int C = y->c, H = y->h, W = y->w, k = y->k, p = (k - 1) / 2;
    const size_t HW = (size_t)H * W, NHW = n * HW;
    for (int c = 0; c < C; c++)
        for (int u = 0; u < k; u++)
            for (int v = 0; v < k; v++) {
                float *row = col + ((size_t)(c * k + u) * k + v) * NHW;
                for (size_t b = 0; b < n; b++) {
                    const float *src = in + (b * C + c) * HW;
                    float *dst = row + b * HW;
                    for (int yy = 0; yy < H; yy++) {
                        int sy = yy + u - p;
                        float *d = dst + (size_t)yy * W;
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
}

static void col2im(const sgld_layer *y, const float *col, size_t n, float *din)
{
    const int C = y->c, H = y->h, W = y->w, k = y->k, p = (k - 1) / 2;
    const size_t HW = (size_t)H * W, NHW = n * HW;
    memset(din, 0, n * C * HW * sizeof *din);
    for (int c = 0; c < C; c++)
        for (int u = 0; u < k; u++)
            for (int v = 0; v < k; v++) {
                const float *row = col + ((size_t)(c * k + u) * k + v) * NHW;
                for (size_t b = 0; b < n; b++) {
                    float *dst = din + (b * C + c) * HW;
                    const float *src = row + b * HW;
                    for (int yy = 0; yy < H; yy++) {
                        int sy = yy + u - p;
                        if (sy < 0 || sy >= H) continue;
                        const float *s = src + (size_t)yy * W;
                        float *d = dst + (size_t)sy * W;
                        int x0 = p - v > 0 ? p - v : 0, x1 = W + p - v < W ? W + p - v : W;
                        for (int x = x0; x < x1; x++) d[x + v - p] += s[x];
                    }
                }
            }
}

void sgld_conv_forward(const sgld_layer *y, const float *theta, const float *in, float *out, size_t n,
                       float *col)
{
    const int O = y->oc, CKK = y->c * y->k * y->k, HW = y->h * y->w;
    const float *bias = theta + y->b_off;
    for (size_t b = 0; b < n; b++) {
        float *ob = out + b * (size_t)O * HW;
        for (int o = 0; o < O; o++)
            for (int i = 0; i < HW; i++) ob[(size_t)o * HW + i] = bias[o];
        im2col(y, in + b * (size_t)y->c * HW, 1, col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, HW, CKK, 1.0f, theta + y->w_off, CKK, col, HW,
                    1.0f, ob, HW);
    }
}

void sgld_conv_backward(const sgld_layer *y, const float *theta, const float *in, const float *dout, size_t n,
                        float *grad, float *din, float *col)
{
    const int O = y->oc, CKK = y->c * y->k * y->k, HW = y->h * y->w;
    for (size_t b = 0; b < n; b++) {
        const float *dy = dout + b * (size_t)O * HW;
        if (grad) {
            for (int o = 0; o < O; o++) {
                double s = 0.0;
                for (int i = 0; i < HW; i++) s += dy[(size_t)o * HW + i];
                grad[y->b_off + o] += (float)s;
            }
            im2col(y, in + b * (size_t)y->c * HW, 1, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, CKK, HW, 1.0f, dy, HW, col, HW, 1.0f,
                        grad + y->w_off, CKK);
        }
        if (din) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, HW, O, 1.0f, theta + y->w_off, CKK, dy, HW,
                        0.0f, col, HW);
            col2im(y, col, 1, din + b * (size_t)y->c * HW);
        }
    }
}

void sgld_conv_kfac(const sgld_layer *y, const float *in, const float *dout, size_t n, float *col,
                    float *A, float *G)
{
    const int O = y->oc, CKK = y->c * y->k * y->k, HW = y->h * y->w, na = CKK + 1;
    for (size_t b = 0; b < n; b++) {
        const float *dy = dout + b * (size_t)O * HW;
        im2col(y, in + b * (size_t)y->c * HW, 1, col);
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
