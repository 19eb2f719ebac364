/* net.h - feed-forward neural networks on OpenBLAS for the mlp and cnn models.
 *
 * A network is a chain of layers built from a short spec string (grammar below) for one
 * input shape C x H x W.  Its parameters are one flat float vector theta (the model's theta:
 * one allreduce per step), laid out layer by layer, weights then bias:
 *   fc      w [out, in] (PyTorch's Linear layout), b [out]
 *   conv    w [out_channels, in_channels, k, k] (PyTorch's Conv2d layout), b [out_channels]
 * Activations are batch-major [n][C][H][W] floats (flattening for fc is PyTorch's C, H, W
 * order).  GEMMs are single-precision cblas_sgemm; reductions over a batch (bias gradients,
 * log-likelihoods) accumulate in double.
 *
 * Spec grammar (tokens joined by '-', case-sensitive):
 *   spec   := layer ('-' layer)*
 *   layer  := 'fc' N            dense layer with N outputs                   fc50
 *           | 'conv' N 'k' K    2-D convolution, N channels, K x K kernel,   conv32k5
 *                               K odd, stride 1, 'same' zero padding
 *           | 'pool2'           2 x 2 max-pooling, stride 2 (odd sizes round down)
 *           | 'relu' | 'tanh' | 'linear'   the activation after the fc/conv before it
 *           | 'drop' P          dropout with rate P in [0, 1) (inverted: kept units x 1/(1-P);
 *                               active in loglik_grad, identity in predict; MC dropout:
 *                               sgld_net_predict_dropout)                         drop0.5
 * Every fc/conv but the last is followed by ReLU unless the next token names another
 * activation ('linear' = none); the last layer must be fc, with no activation after it: its
 * outputs are the logits (classification, softmax cross-entropy), the mean (regression with
 * 1 output: Gaussian likelihood with the fixed --noise-sd) or the mean and log-variance
 * (regression with 2 outputs: heteroscedastic Gaussian).  "conv32k5-pool2-conv64k5-pool2-
 * fc1024-fc10" is the seed paper's MNIST CNN; "fc50-fc2" the heteroscedastic UCI MLP.
 *
 * Sample-file variables: one per parameter tensor, named by the layer's kind and its number
 * among layers of that kind: conv1_w [32, 1, 5, 5], conv1_b [32], ..., fc2_w [10, 1024].
 *
 * Not thread-safe: a network owns its workspace (one per rank). */
#ifndef SGLD_NET_H
#define SGLD_NET_H

#include <stddef.h>
#include <stdint.h>

#include "sgld/data.h"
#include "sgld/rng.h"
#include "sgld/status.h"

#define SGLD_NET_MAX_LAYERS 32
#define SGLD_NET_SPEC_MAX 256

typedef enum {
    SGLD_LAYER_FC,
    SGLD_LAYER_CONV,
    SGLD_LAYER_POOL,
    SGLD_LAYER_RELU,
    SGLD_LAYER_TANH,
    SGLD_LAYER_DROPOUT
} sgld_layer_kind;

/* What the output layer's values mean (and which log-likelihood applies). */
typedef enum {
    SGLD_NET_SOFTMAX,  /* logits of K classes: log p = z_y - logsumexp(z) */
    SGLD_NET_GAUSS,    /* mean, fixed noise sd s: log N(y; f, s^2) */
    SGLD_NET_HETERO    /* mean and log-variance: log N(y; f, exp(v)) */
} sgld_net_loss;

typedef struct sgld_layer {
    sgld_layer_kind kind;
    int c, h, w;            /* input shape of one example */
    int oc, oh, ow;         /* output shape */
    int k;                  /* conv kernel size (odd) */
    float rate;             /* dropout rate */
    int index;              /* 1-based number among the layers of its kind (conv1, fc2) */
    int relu_after;         /* fc/conv: followed by ReLU (He init) rather than tanh/none (Glorot) */
    size_t w_off, b_off;    /* fc/conv: weights and bias in theta */
    size_t n_w, n_b;        /* their sizes (0 for layers without parameters) */
    size_t in_size, out_size; /* floats per example */
} sgld_layer;

/* A parsed spec on an input shape: the layers and the parameter layout, no workspace. */
typedef struct sgld_net_layout {
    int n_layers;
    sgld_layer layer[SGLD_NET_MAX_LAYERS];
    int c, h, w;            /* input shape */
    size_t in_size;         /* c h w */
    int n_out;              /* outputs of the last layer */
    size_t n_params;
} sgld_net_layout;

typedef struct sgld_net sgld_net;

/* Parses spec for inputs of shape c x h x w into *out.  Not collective.  Errors
 * (SGLD_ERR_USAGE, one line naming the token): a token that does not parse, an even or
 * non-positive kernel, a kernel larger than the image, pooling a 1-pixel side, a conv after
 * an fc, a spec not ending in fc, a dropout rate outside [0, 1), more than
 * SGLD_NET_MAX_LAYERS layers. */
sgld_status sgld_net_parse(const char *spec, int c, int h, int w, sgld_net_layout *out);

/* Parses "CxHxW" (or "D" for flat inputs: 1x1xD) into c, h, w.  Errors: SGLD_ERR_USAGE.
 * Not collective. */
sgld_status sgld_net_parse_shape(const char *text, int *c, int *h, int *w);

/* Creates a network for layout with a workspace for up to max_batch examples per call, and
 * the likelihood `loss` (noise_sd for SGLD_NET_GAUSS).  Dropout masks come from the Philox
 * stream keyed (seed, 0x44524f50 "DROP"), purpose SGLD_RNG_SAMPLER, counter = the number of
 * loglik calls so far, block = the dropout layer's offset (the blocks of the dropout layers
 * before it, 4 units a block) + unit / 4, so the layers' masks are independent.  Sets
 * flush-to-zero and denormals-are-zero for the calling thread (denormal activations slow x86
 * down by ~100x and carry no information here).  Caller owns
 * *out (sgld_net_destroy).  Errors: SGLD_ERR_NOMEM, SGLD_ERR_ARG (bad max_batch).
 * Not collective. */
sgld_status sgld_net_create(const sgld_net_layout *layout, size_t max_batch, sgld_net_loss loss,
                            double noise_sd, uint32_t seed, sgld_net **out);

/* Frees a network and sets *net = NULL; NULL-safe.  Not collective. */
void sgld_net_destroy(sgld_net **net);

/* The layout the network was created with.  Not collective. */
const sgld_net_layout *sgld_net_get_layout(const sgld_net *net);

/* The K-FAC statistics of the network's fc/conv layers (sgld_kfac in sgld/model.h),
 * allocated on the first call, owned by the network; collection off.  Errors: SGLD_ERR_NOMEM,
 * SGLD_ERR_USAGE (more fc/conv layers than SGLD_KFAC_MAX_LAYERS).  Not collective. */
struct sgld_kfac;
sgld_status sgld_net_kfac_enable(sgld_net *net, struct sgld_kfac **out);

/* The input buffer [max_batch][in_size] that forward reads (fill its first n rows).
 * Not collective. */
float *sgld_net_input(sgld_net *net);

/* Forward pass of the first n (<= max_batch) rows of the input buffer at theta; train = 1
 * applies dropout (drawing a new mask), 0 does not.  Returns the output buffer [n][n_out],
 * owned by the network, valid until the next forward.  Not collective. */
const float *sgld_net_forward(sgld_net *net, const float *theta, size_t n, int train);

/* Backward pass after a forward of n rows: given dout[n][n_out] = d objective / d output,
 * ADDS d objective / d theta into grad (n_params floats; NULL: skipped) and, when dx != NULL, writes
 * d objective / d input into dx[n][in_size].  dout may alias the network's own loss buffer.
 * No allocation.  Not collective. */
void sgld_net_backward(sgld_net *net, const float *theta, const float *dout, size_t n,
                       float *grad, float *dx);

/* Log-likelihood of targets y[n] given the outputs of the last forward (the network's loss),
 * and its gradient with respect to the outputs into dout[n][n_out] (NULL: not computed).
 * Classification targets are class indices 0..n_out-1.  Not collective. */
double sgld_net_loglik(const sgld_net *net, const float *y, size_t n, float *dout);

/* Sum over rows[0..n) of data of log p(y | x, theta), adding its gradient into grad (the
 * model interface's loglik_grad); batches larger than max_batch are done in pieces.  When
 * dx != NULL (n <= max_batch) also writes the gradient with respect to the inputs [n][d].
 * Not collective. */
double sgld_net_loglik_grad(sgld_net *net, const float *theta, const sgld_dataset *data,
                            const int64_t *rows, size_t n, float *grad, float *dx);

/* Sum over the n rows of x ([n][in_size], any n) with targets y of log p(y | x, theta), dropout
 * off, and its gradient with respect to x into dx ([n][in_size]).  Not collective. */
double sgld_net_loglik_grad_input(sgld_net *net, const float *theta, const float *x, const float *y,
                                  size_t n, float *dx);

/* Per-row outputs for n rows of x ([n][in_size], any n): softmax probabilities [n][n_out]
 * (classification), the mean [n] (GAUSS) or mean and variance [n][2] (HETERO; var =
 * exp(log-variance)).  Dropout off.  Not collective. */
void sgld_net_predict(sgld_net *net, const float *theta, const float *x, size_t n, double *out);

/* Largest MC-dropout mask index + 1 and dropout units per row of sgld_net_predict_dropout. */
#define SGLD_NET_MC_MASKS 1024
#define SGLD_NET_MC_UNITS (1u << 24)

/* sgld_net_predict with every dropout layer on, one fresh mask per row: MC dropout (Gal &
 * Ghahramani 2016; `sgld-ess predict --mc-dropout`).  Row i of x is row row0 + i of the
 * caller's numbering; its masks come from the stream r (key: the caller's seed and chain) at
 * step = draw 2^32 + row0 + i, purpose SGLD_RNG_MC_DROPOUT: the row's dropout units, numbered
 * u = 0, 1, ... over the dropout layers in order (rate-0 layers included; C, H, W order within
 * a layer), keep when word u % 4 of block mask 2^22 + u / 4 is >= rate 2^32 (then scaled by
 * 1 / (1 - rate), else 0), the rule of the training masks.  So the masks of (draw, row, mask)
 * do not depend on the batch, the rank or how many masks are drawn.  Needs mask <
 * SGLD_NET_MC_MASKS, fewer than SGLD_NET_MC_UNITS dropout units per row and row0 + n <= 2^32
 * (the caller checks).  Without dropout layers, or at rate 0, equal to sgld_net_predict.
 * Not collective. */
void sgld_net_predict_dropout(sgld_net *net, const float *theta, const float *x, size_t n, const sgld_rng *r,
                              uint32_t draw, uint32_t row0, uint32_t mask, double *out);

/* Number of dropout layers of the layout (any rate); *units (may be NULL) receives their
 * outputs per example summed.  Not collective. */
int sgld_net_dropout_layers(const sgld_net_layout *layout, size_t *units);

/* He (ReLU follows: N(0, 2 / fan_in)) or Glorot (otherwise: N(0, 2 / (fan_in + fan_out)))
 * normal weights and zero biases, from the stream r at (step 0, SGLD_RNG_INIT): element i of
 * theta uses normal i of that stream.  fan_in = in x k x k for conv.  Not collective. */
void sgld_net_init_params(const sgld_net_layout *layout, const sgld_rng *r, float *theta);

/* Name of parameter tensor t (0 .. 2 n_param_layers - 1: layer weights, bias, in order):
 * "conv1_w", "conv1_b", "fc1_w", ... and its dims; returns the layer, or NULL past the end.
 * Not collective. */
const sgld_layer *sgld_net_tensor(const sgld_net_layout *layout, int t, char name[32],
                                  int *n_dims, int64_t dims[4], const char *dim_names[4]);

/* Flop count of one forward + backward pass of n examples (2 per multiply-add, GEMMs only;
 * input gradient of the first layer excluded).  Not collective. */
double sgld_net_flops(const sgld_net_layout *layout, size_t n);

/* ---- noise ---- */

/* Sets flush-to-zero and denormals-are-zero for the calling thread (x86 MXCSR; no-op
 * elsewhere).  Not collective. */
void sgld_net_flush_denormals(void);

#endif
