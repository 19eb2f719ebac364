/* conv.c - 2-D convolution (cross-correlation, as PyTorch's Conv2d), stride 1, 'same' zero
 * padding p = (k - 1) / 2, by im2col + one cblas_sgemm over the whole batch.
 *
 *   col[(c k + u) k + v][(b H + y) W + x] = X[b][c][y + u - p][x + v - p]   (0 outside)
 *   Z[o][b H W] = W[o][c k k] col                                           (sgemm)
 *   Y[b][o][y][x] = Z[o][(b H + y) W + x] + bias[o]
 * Backward with dZ the same transpose of dY:
 *   dW += dZ col^T,  dbias[o] += sum dZ[o][:] (double),  dcol = W^T dZ,  dX = col2im(dcol)
 * One GEMM per pass over the batch keeps the matrices large (N = n H W columns), which is
 * where OpenBLAS reaches its peak; the col buffer of the forward pass is kept for dW. */
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
                       float *col, float *scratch)
{
    const int O = y->oc, CKK = y->c * y->k * y->k;
    const size_t HW = (size_t)y->h * y->w, NHW = n * HW;
    const float *bias = theta + y->b_off;
    im2col(y, in, n, col);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, (int)NHW, CKK, 1.0f, theta + y->w_off,
                CKK, col, (int)NHW, 0.0f, scratch, (int)NHW);
    for (size_t b = 0; b < n; b++)
        for (int o = 0; o < O; o++) {
            const float *s = scratch + (size_t)o * NHW + b * HW;
            float *d = out + (b * O + o) * HW;
            const float bo = bias[o];
            for (size_t i = 0; i < HW; i++) d[i] = s[i] + bo;
        }
}

void sgld_conv_backward(const sgld_layer *y, const float *theta, const float *dout, size_t n,
                        float *grad, float *din, float *col, float *scratch)
{
    const int O = y->oc, CKK = y->c * y->k * y->k;
    const size_t HW = (size_t)y->h * y->w, NHW = n * HW;
    for (int o = 0; o < O; o++) {
        double s = 0.0;
        for (size_t b = 0; b < n; b++) {
            const float *src = dout + (b * O + o) * HW;
            float *d = scratch + (size_t)o * NHW + b * HW;
            for (size_t i = 0; i < HW; i++) {
                d[i] = src[i];
                s += src[i];
            }
        }
        if (grad) grad[y->b_off + o] += (float)s;
    }
    if (grad)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, CKK, (int)NHW, 1.0f, scratch, (int)NHW, col,
                    (int)NHW, 1.0f, grad + y->w_off, CKK);
    if (din) {
        /* col is no longer needed: it receives dcol. */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, (int)NHW, O, 1.0f, theta + y->w_off,
                    CKK, scratch, (int)NHW, 0.0f, col, (int)NHW);
        col2im(y, col, n, din);
    }
}
