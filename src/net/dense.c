/* dense.c - the fully connected layer: out = in W^T + b, W [out][in] (PyTorch's layout).
 *
 *   forward   Y[n][o]  = X[n][i] W[o][i]^T + b[o]          (one sgemm; then the bias and, fused
 *                                                           with the next layer, the ReLU)
 *   backward  dW[o][i] += dY^T X,  db[o] += sum_n dY[n][o],  dX = dY W   (two sgemms)
 * The bias gradient is summed in double. */
#include <cblas.h>

#include "net_impl.h"

void sgld_fc_forward_fused(const sgld_layer *y, const float *theta, const float *in, float *out, size_t n,
                           int relu)
{
    const int ni = (int)y->in_size, no = y->oc;
    const float *W = theta + y->w_off, *b = theta + y->b_off;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, no, ni, 1.0f, in, ni, W, ni, 0.0f,
                out, no);
    sgld_bias_rows_act(out, b, n, no, relu);
}

void sgld_fc_forward(const sgld_layer *y, const float *theta, const float *in, float *out, size_t n)
{
    sgld_fc_forward_fused(y, theta, in, out, n, 0);
}

void sgld_fc_backward(const sgld_layer *y, const float *theta, const float *in, const float *dout,
                      size_t n, float *grad, float *din)
{
    const int ni = (int)y->in_size, no = y->oc;
    if (grad) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, no, ni, (int)n, 1.0f, dout, no, in, ni, 1.0f,
                    grad + y->w_off, ni);
        /* Column sums of dout, row by row (contiguous) in blocks of 256 double accumulators. */
        float *gb = grad + y->b_off;
        double acc[256];
        for (int o0 = 0; o0 < no; o0 += 256) {
            const int m = no - o0 < 256 ? no - o0 : 256;
            for (int o = 0; o < m; o++) acc[o] = 0.0;
            for (size_t r = 0; r < n; r++) {
                const float *row = dout + r * no + o0;
                for (int o = 0; o < m; o++) acc[o] += row[o];
            }
            for (int o = 0; o < m; o++) gb[o0 + o] += (float)acc[o];
        }
    }
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, ni, no, 1.0f, dout, no,
                    theta + y->w_off, ni, 0.0f, din, ni);
}

void sgld_fc_kfac(const sgld_layer *y, const float *in, const float *dout, size_t n, float *A, float *G)
{
    const int ni = (int)y->in_size, no = y->oc, na = ni + 1;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ni, ni, (int)n, 1.0f, in, ni, in, ni, 1.0f, A, na);
    for (int j = 0; j < ni; j++) {
        double s = 0.0;
        for (size_t r = 0; r < n; r++) s += in[r * ni + j];
        A[(size_t)j * na + ni] += (float)s;
        A[(size_t)ni * na + j] += (float)s;
    }
    A[(size_t)ni * na + ni] += (float)n;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, no, no, (int)n, 1.0f, dout, no, dout, no, 1.0f, G, no);
}
