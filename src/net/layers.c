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

void sgld_pool_forward(const sgld_layer *y, const float *in, float *out, int32_t *argmax, size_t n)
{
    const int H = y->h, W = y->w, OH = y->oh, OW = y->ow;
    const size_t planes = n * (size_t)y->c;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *x = in + pl * H * W;
        float *o = out + pl * OH * OW;
        int32_t *am = argmax + pl * OH * OW;
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                int k0 = 2 * i * W + 2 * j, best = k0;
                if (x[k0 + 1] > x[best]) best = k0 + 1;
                if (x[k0 + W] > x[best]) best = k0 + W;
                if (x[k0 + W + 1] > x[best]) best = k0 + W + 1;
                o[i * OW + j] = x[best];
                am[i * OW + j] = best;
            }
    }
}

void sgld_pool_backward(const sgld_layer *y, const float *dout, const int32_t *argmax, size_t n,
                        float *din)
{
    const size_t in_plane = (size_t)y->h * y->w, out_plane = (size_t)y->oh * y->ow;
    const size_t planes = n * (size_t)y->c;
    memset(din, 0, planes * in_plane * sizeof *din);
    for (size_t pl = 0; pl < planes; pl++) {
        float *d = din + pl * in_plane;
        const float *g = dout + pl * out_plane;
        const int32_t *am = argmax + pl * out_plane;
        for (size_t k = 0; k < out_plane; k++) d[am[k]] += g[k];
    }
}

void sgld_relu_forward(const float *in, float *out, size_t len)
{
    for (size_t i = 0; i < len; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void sgld_relu_backward(const float *out, const float *dout, float *din, size_t len)
{
    for (size_t i = 0; i < len; i++) din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
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
