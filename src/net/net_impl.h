/* net_impl.h - private: the network's workspace and the per-layer kernels.
 *
 * Kernels work on a batch of n examples, activations [n][size] row-major.  Forward kernels
 * overwrite out; backward kernels ADD parameter gradients into grad and overwrite din (when
 * din != NULL) with the gradient of the objective with respect to the layer's input. */
#ifndef SGLD_NET_IMPL_H
#define SGLD_NET_IMPL_H

#include "sgld/net.h"

struct sgld_net {
    sgld_net_layout L;
    size_t max_batch;
    sgld_net_loss loss;
    double noise_sd;
    float *act[SGLD_NET_MAX_LAYERS + 1]; /* act[l]: input of layer l; act[n_layers]: output */
    float *delta[2];                     /* backward ping-pong, [max_batch][largest size] */
    float *col[SGLD_NET_MAX_LAYERS];     /* conv: im2col of one image [c k k][h w], then its
                                            output before pooling [oc][h w] (fused) */
    int32_t *argmax[SGLD_NET_MAX_LAYERS];/* pool: flat input index of each output */
    float *mask[SGLD_NET_MAX_LAYERS];    /* dropout: 0 or 1/(1-rate) per unit */
    float *dout;                         /* loss gradient [max_batch][n_out] */
    sgld_rng drop_rng;
    uint64_t n_calls;                    /* training forwards so far (dropout counter) */
    int last_train;                      /* the last forward drew dropout masks */
    int unfused;                         /* 1: every layer on its own (tests: all act[] written) */
    struct sgld_kfac *kfac;              /* K-FAC statistics (NULL until enabled; ksgld) */
    int kfac_on;                         /* inside a collecting sgld_net_loglik_grad */
    float *kfac_y, *kfac_dout;           /* sampled targets [max_batch], their loss gradient */
};

/* dense.c */
void sgld_fc_forward(const sgld_layer *y, const float *theta, const float *in, float *out, size_t n);
void sgld_fc_forward_fused(const sgld_layer *y, const float *theta, const float *in, float *out, size_t n,
                           int relu);
void sgld_fc_backward(const sgld_layer *y, const float *theta, const float *in, const float *dout,
                      size_t n, float *grad, float *din);

/* K-FAC sums over n examples (ADDED into A [ni+1][ni+1] and G [no][no]): fc: a a^T with
 * a = (input, 1) and g g^T with g = dout's row; conv: per image the im2col patches' mean
 * a a^T over the H W positions and the sum over positions of g g^T (col: scratch). */
void sgld_fc_kfac(const sgld_layer *y, const float *in, const float *dout, size_t n, float *A, float *G);
void sgld_conv_kfac(const sgld_layer *y, const float *in, const float *dout, size_t n, float *col,
                    float *A, float *G);

/* conv.c (col: the layer's work buffer of sgld_conv_work_size floats: one image's im2col
 * [c k k][h w], which backward recomputes from in, and scratch).  The fused forward applies a
 * ReLU (relu != 0) and then the 2 x 2 max-pool `pool` (!= NULL: out and argmax are the
 * pool's, [n][oc][oh][ow]). */
size_t sgld_conv_work_size(const sgld_layer *y);
void sgld_conv_forward(const sgld_layer *y, const float *theta, const float *in, float *out, size_t n,
                       float *col);
void sgld_conv_forward_fused(const sgld_layer *y, const float *theta, const float *in, float *out, size_t n,
                             float *col, int relu, const sgld_layer *pool, int32_t *argmax);
void sgld_conv_im2col(const sgld_layer *y, const float *in, float *col); /* one image */
/* The backward of conv y + ReLU + max-pool `pool` from the pool's output gradient gout, its
 * output (pooled) and argmax: the gradients of sgld_pool_relu_backward + sgld_conv_backward
 * without the zeros of dY (conv.c).  Only where sgld_conv_pool_backward_ok(y). */
int sgld_conv_pool_backward_ok(const sgld_layer *y);
void sgld_conv_pool_backward(const sgld_layer *y, const sgld_layer *pool, const float *theta, const float *in,
                             const float *gout, const float *pooled, const int32_t *argmax, size_t n, float *grad,
                             float *din, float *work);
extern int sgld_net_plain; /* 1: the portable im2col/col2im/pool loops even with AVX-512 (tests) */
void sgld_conv_backward(const sgld_layer *y, const float *theta, const float *in, const float *dout, size_t n,
                        float *grad, float *din, float *col);

/* layers.c: pooling, activations, dropout */
void sgld_pool_forward(const sgld_layer *y, const float *in, float *out, int32_t *argmax, size_t n);
void sgld_pool_backward(const sgld_layer *y, const float *dout, const int32_t *argmax, size_t n,
                        float *din);
/* The pool's backward fused with the ReLU's before it: din is the gradient with respect to the
 * ReLU's input, from the pool's output (pooled) instead of the ReLU's. */
void sgld_pool_relu_backward(const sgld_layer *y, const float *dout, const float *pooled, const int32_t *argmax,
                             size_t n, float *din);
void sgld_relu_forward(const float *in, float *out, size_t len);
void sgld_relu_backward(const float *out, const float *dout, float *din, size_t len);
void sgld_tanh_forward(const float *in, float *out, size_t len);
void sgld_tanh_backward(const float *out, const float *dout, float *din, size_t len);
/* a[r][i] += bias[r] (conv: per channel) or a[r][i] += bias[i] (fc: per unit), then
 * max(., 0) if relu; out[r] += sum_i a[r][i] (in double). */
void sgld_bias_act(float *a, const float *bias, int rows, int cols, int relu);
void sgld_bias_rows_act(float *a, const float *bias, size_t rows, int cols, int relu);
void sgld_row_sums_add(const float *a, int rows, int cols, float *out);
void sgld_dropout_mask(const sgld_rng *r, uint64_t call, uint32_t block0, float rate, float *mask, size_t len);
/* MC dropout (sgld_net_predict_dropout): mask[j] for the units u = first + j of one row,
 * j < len: word u % 4 of block block0 + u / 4 of the stream (r, step, SGLD_RNG_MC_DROPOUT). */
void sgld_dropout_mask_mc(const sgld_rng *r, uint64_t step, uint32_t block0, size_t first, float rate,
                          float *mask, size_t len);
void sgld_dropout_apply(const float *mask, const float *in, float *out, size_t len);

#endif
