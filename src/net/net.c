/* net.c - a network: workspace, forward and backward passes over the layer chain, the
 * model-interface entry points (loglik_grad, predict, MC-dropout predict), initialization and
 * the tensor names.
 *
 * Backprop: the objective's gradient flows from the output layer to the input through two
 * ping-pong buffers; each layer with parameters adds its gradient into grad.  The first
 * layer's input gradient is computed only when the caller asks for it (dx != NULL). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

#include "net_impl.h"
#include "sgld/model.h"

void sgld_net_flush_denormals(void)
{
#if defined(__x86_64__) || defined(__i386__)
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
}

static void kfac_free(sgld_kfac **pk);

static sgld_status allocate(sgld_net *net)
{
    const sgld_net_layout *L = &net->L;
    const size_t B = net->max_batch;
    size_t largest = L->in_size;
    SGLD_ALLOC(net->act[0], B * L->in_size);
    for (int l = 0; l < L->n_layers; l++) {
        const sgld_layer *y = &L->layer[l];
        if (y->out_size > largest) largest = y->out_size;
        SGLD_ALLOC(net->act[l + 1], B * y->out_size);
        if (y->kind == SGLD_LAYER_CONV) {
            SGLD_ALLOC(net->col[l], sgld_conv_work_size(y));
        } else if (y->kind == SGLD_LAYER_POOL) {
            SGLD_ALLOC(net->argmax[l], B * y->out_size);
        } else if (y->kind == SGLD_LAYER_DROPOUT) {
            SGLD_ALLOC(net->mask[l], B * y->out_size);
        }
    }
    SGLD_ALLOC(net->delta[0], B * largest);
    SGLD_ALLOC(net->delta[1], B * largest);
    SGLD_ALLOC(net->dout, B * (size_t)L->n_out);
    return SGLD_OK;
}

sgld_status sgld_net_create(const sgld_net_layout *layout, size_t max_batch, sgld_net_loss loss,
                            double noise_sd, uint32_t seed, sgld_net **out)
{
    *out = NULL;
    SGLD_CHECK(max_batch >= 1, SGLD_ERR_ARG, "network: batch size must be >= 1");
    sgld_net *net = sgld_calloc(1, sizeof *net);
    SGLD_CHECK(net, SGLD_ERR_NOMEM, "out of memory allocating a network");
    net->L = *layout;
    net->max_batch = max_batch;
    net->loss = loss;
    net->noise_sd = noise_sd;
    net->drop_rng = (sgld_rng){seed, 0x44524f50u};
    sgld_status st = allocate(net);
    if (st != SGLD_OK) {
        sgld_net_destroy(&net);
        return st;
    }
    sgld_net_flush_denormals();
    *out = net;
    return SGLD_OK;
}

void sgld_net_destroy(sgld_net **pnet)
{
    if (!pnet || !*pnet) return;
    sgld_net *net = *pnet;
    for (int l = 0; l <= SGLD_NET_MAX_LAYERS; l++) sgld_free(net->act[l]);
    for (int l = 0; l < SGLD_NET_MAX_LAYERS; l++) {
        sgld_free(net->col[l]);
        sgld_free(net->argmax[l]);
        sgld_free(net->mask[l]);
    }
    sgld_free(net->delta[0]);
    sgld_free(net->delta[1]);
    sgld_free(net->dout);
    kfac_free(&net->kfac);
    sgld_free(net->kfac_y);
    sgld_free(net->kfac_dout);
    sgld_free(net);
    *pnet = NULL;
}

static void kfac_free(sgld_kfac **pk)
{
    sgld_kfac *k = *pk;
    if (!k) return;
    for (int l = 0; l < SGLD_KFAC_MAX_LAYERS; l++) {
        sgld_free(k->A[l]);
        sgld_free(k->G[l]);
    }
    sgld_free(k->work);
    sgld_free(k->tri);
    sgld_free(k);
    *pk = NULL;
}

static sgld_status kfac_build(const sgld_net_layout *L, sgld_kfac *k)
{
    size_t most = 1;
    for (int l = 0; l < L->n_layers; l++) {
        const sgld_layer *y = &L->layer[l];
        if (!y->n_w) continue;
        SGLD_CHECK(k->n_layers < SGLD_KFAC_MAX_LAYERS, SGLD_ERR_USAGE,
                   "K-FAC: more than %d fc/conv layers", SGLD_KFAC_MAX_LAYERS);
        const int i = k->n_layers++;
        k->n_a[i] = (int)(y->n_w / (size_t)y->oc) + 1;
        k->n_g[i] = y->oc;
        k->w_off[i] = y->w_off;
        k->b_off[i] = y->b_off;
        const size_t na2 = (size_t)k->n_a[i] * k->n_a[i], ng2 = (size_t)k->n_g[i] * k->n_g[i];
        SGLD_ALLOC(k->A[i], na2);
        SGLD_ALLOC(k->G[i], ng2);
        most = na2 > most ? na2 : most;
        most = ng2 > most ? ng2 : most;
        k->n_tri += (na2 + (size_t)k->n_a[i]) / 2 + (ng2 + (size_t)k->n_g[i]) / 2;
    }
    SGLD_ALLOC(k->work, 2 * most);
    SGLD_ALLOC(k->tri, k->n_tri);
    return SGLD_OK;
}

sgld_status sgld_net_kfac_enable(sgld_net *net, sgld_kfac **out)
{
    if (!net->kfac) {
        sgld_kfac *k = sgld_calloc(1, sizeof *k);
        SGLD_CHECK(k, SGLD_ERR_NOMEM, "out of memory allocating the K-FAC statistics");
        sgld_status st = kfac_build(&net->L, k);
        if (st == SGLD_OK) {
            net->kfac_y = sgld_calloc(net->max_batch, sizeof(float));
            net->kfac_dout = sgld_calloc(net->max_batch * (size_t)net->L.n_out, sizeof(float));
            if (!net->kfac_y || !net->kfac_dout)
                st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory allocating the K-FAC targets");
        }
        if (st != SGLD_OK) {
            kfac_free(&k);
            return st;
        }
        net->kfac = k;
    }
    *out = net->kfac;
    return SGLD_OK;
}

/* Adds layer l's K-FAC sums for the n rows of this backward (the hook of sgld_net_backward). */
static void kfac_add(sgld_net *net, int l, const float *dout, size_t n)
{
    int i = 0;
    for (int j = 0; j < l; j++) i += net->L.layer[j].n_w > 0;
    const sgld_layer *y = &net->L.layer[l];
    if (y->kind == SGLD_LAYER_FC) sgld_fc_kfac(y, net->act[l], dout, n, net->kfac->A[i], net->kfac->G[i]);
    else sgld_conv_kfac(y, net->act[l], dout, n, net->col[l], net->kfac->A[i], net->kfac->G[i]);
}

/* The K-FAC pass after a training forward + backward of m rows: targets drawn from the
 * model's predictive distribution at the outputs (softmax: a class by inverse CDF of u;
 * Gaussian: f + noise_sd z; heteroscedastic: f + exp(v / 2) z), and a backward of their loss
 * gradient (no parameter gradient) whose hook adds the layers' a a^T and g g^T: Martens &
 * Grosse's Fisher, not the empirical one.  u, z: stream (seed, DROP), purpose NOISE, counter
 * = the row's global index (row0 + the local index), element 0: each row keeps its draw
 * (common random numbers; its target moves with theta through the outputs), so the
 * statistics depend only on theta and the rows, not on the shard holding them -- a resumed
 * run reproduces them bitwise, and S shards draw what one rank would. */
static void kfac_pass(sgld_net *net, const float *theta, int64_t row0, const int64_t *rows, size_t m)
{
    const float *z = net->act[net->L.n_layers];
    const int K = net->L.n_out;
    for (size_t i = 0; i < m; i++) {
        const float *zi = z + i * K;
        double u[1];
        if (net->loss == SGLD_NET_SOFTMAX) {
            sgld_rng_uniform(&net->drop_rng, (uint64_t)(row0 + rows[i]), SGLD_RNG_NOISE, 0, 1, u);
            double mx = zi[0], sum = 0.0, c = 0.0;
            for (int k = 1; k < K; k++) mx = zi[k] > mx ? zi[k] : mx;
            for (int k = 0; k < K; k++) sum += exp(zi[k] - mx);
            int k = 0;
            for (; k < K - 1; k++) {
                c += exp(zi[k] - mx);
                if (u[0] * sum < c) break;
            }
            net->kfac_y[i] = (float)k;
        } else {
            sgld_rng_normal(&net->drop_rng, (uint64_t)(row0 + rows[i]), SGLD_RNG_NOISE, 0, 1, u);
            double sd = net->loss == SGLD_NET_GAUSS ? net->noise_sd : exp(0.5 * zi[1]);
            net->kfac_y[i] = (float)(zi[0] + sd * u[0]);
        }
    }
    sgld_net_loglik(net, net->kfac_y, m, net->kfac_dout);
    net->kfac_on = 1;
    sgld_net_backward(net, theta, net->kfac_dout, m, NULL, NULL);
    net->kfac_on = 0;
}

const sgld_net_layout *sgld_net_get_layout(const sgld_net *net) { return &net->L; }

float *sgld_net_input(sgld_net *net) { return net->act[0]; }

/* Fusion (net->unfused == 0): a conv or fc layer followed by a ReLU applies it in the pass that
 * adds its bias, writing the ReLU's output (act[l + 2]) and not its own (act[l + 1] is left
 * stale); a conv + ReLU followed by a 2 x 2 max-pool also pools each image while its output is
 * in L2, writing only the pool's output (act[l + 3]) and argmax.  Backward, a pool after a
 * ReLU does both layers' backward from the pool's output (sgld_pool_relu_backward), and with a
 * conv before them (where sgld_conv_pool_backward_ok) the conv's too, from the pool's sparse
 * gradient (sgld_conv_pool_backward); so no skipped activation is ever read.  The values are
 * those of the unfused chain up to float rounding (the bias is added after the GEMM rather
 * than before; the sparse backward sums in another order). */
static int fuses_relu(const sgld_net *net, int l)
{
    const sgld_net_layout *L = &net->L;
    const sgld_layer_kind k = L->layer[l].kind;
    return !net->unfused && (k == SGLD_LAYER_FC || k == SGLD_LAYER_CONV) && l + 1 < L->n_layers &&
           L->layer[l + 1].kind == SGLD_LAYER_RELU;
}

/* The MC-dropout masks of a forward (sgld_net_predict_dropout): row i of the batch uses
 * stream r at step0 + i, blocks from block0. */
typedef struct mc_masks {
    const sgld_rng *r;
    uint64_t step0;
    uint32_t block0;
} mc_masks;

/* sgld_net_forward; with mc != NULL (and train = 0) the dropout layers apply MC masks. */
static const float *forward(sgld_net *net, const float *theta, size_t n, int train, const mc_masks *mc)
{
    const sgld_net_layout *L = &net->L;
    if (train) net->n_calls++;
    net->last_train = train;
    size_t units = 0;     /* dropout units of the layers before l (per row) */
    uint32_t blocks = 0;  /* training-mask random blocks used by the layers before l */
    for (int l = 0; l < L->n_layers; l++) {
        const sgld_layer *y = &L->layer[l];
        const float *in = net->act[l];
        float *out = net->act[l + 1];
        const size_t len = n * y->out_size;
        const int relu = fuses_relu(net, l);
        switch (y->kind) {
        case SGLD_LAYER_FC:
            sgld_fc_forward_fused(y, theta, in, net->act[l + 1 + relu], n, relu);
            l += relu;
            break;
        case SGLD_LAYER_CONV:
            if (relu && l + 2 < L->n_layers && L->layer[l + 2].kind == SGLD_LAYER_POOL) {
                sgld_conv_forward_fused(y, theta, in, net->act[l + 3], n, net->col[l], 1, &L->layer[l + 2],
                                        net->argmax[l + 2]);
                l += 2;
            } else {
                sgld_conv_forward_fused(y, theta, in, net->act[l + 1 + relu], n, net->col[l], relu, NULL, NULL);
                l += relu;
            }
            break;
        case SGLD_LAYER_POOL: sgld_pool_forward(y, in, out, net->argmax[l], n); break;
        case SGLD_LAYER_RELU: sgld_relu_forward(in, out, len); break;
        case SGLD_LAYER_TANH: sgld_tanh_forward(in, out, len); break;
        case SGLD_LAYER_DROPOUT:
            if (train && y->rate > 0.0f) {
                sgld_dropout_mask(&net->drop_rng, net->n_calls, blocks, y->rate, net->mask[l], len);
                sgld_dropout_apply(net->mask[l], in, out, len);
                blocks += (uint32_t)((len + 3) / 4);
            } else if (mc && y->rate > 0.0f) {
                for (size_t i = 0; i < n; i++)
                    sgld_dropout_mask_mc(mc->r, mc->step0 + i, mc->block0, units, y->rate,
                                         net->mask[l] + i * y->out_size, y->out_size);
                sgld_dropout_apply(net->mask[l], in, out, len);
            } else {
                memcpy(out, in, len * sizeof *out);
            }
            units += y->out_size;
            break;
        }
    }
    return net->act[L->n_layers];
}

const float *sgld_net_forward(sgld_net *net, const float *theta, size_t n, int train)
{
    return forward(net, theta, n, train, NULL);
}

void sgld_net_backward(sgld_net *net, const float *theta, const float *dout, size_t n,
                       float *grad, float *dx)
{
    const sgld_net_layout *L = &net->L;
    const float *cur = dout;
    int which = 0;
    for (int l = L->n_layers - 1; l >= 0; l--) {
        const sgld_layer *y = &L->layer[l];
        /* a pool after a ReLU: both at once (the ReLU's output may not have been written); and
         * after a conv + ReLU, the three at once from the pool's sparse gradient */
        const int pool_relu = !net->unfused && y->kind == SGLD_LAYER_POOL && l >= 1 &&
                              L->layer[l - 1].kind == SGLD_LAYER_RELU;
        const int conv_pool = pool_relu && l >= 2 && L->layer[l - 2].kind == SGLD_LAYER_CONV && !net->kfac_on &&
                              sgld_conv_pool_backward_ok(&L->layer[l - 2]);
        const int first = l - pool_relu - conv_pool; /* the first layer of this backward step */
        float *din = first > 0 ? net->delta[which] : dx;
        if (din == cur) din = net->delta[which ^= 1];
        const size_t len = n * y->out_size;
        if (net->kfac_on && y->n_w) kfac_add(net, l, cur, n);
        switch (y->kind) {
        case SGLD_LAYER_FC: sgld_fc_backward(y, theta, net->act[l], cur, n, grad, din); break;
        case SGLD_LAYER_CONV:
            sgld_conv_backward(y, theta, net->act[l], cur, n, grad, din, net->col[l]);
            break;
        case SGLD_LAYER_POOL:
            if (conv_pool)
                sgld_conv_pool_backward(&L->layer[l - 2], y, theta, net->act[l - 2], cur, net->act[l + 1],
                                        net->argmax[l], n, grad, din, net->col[l - 2]);
            else if (din && pool_relu) sgld_pool_relu_backward(y, cur, net->act[l + 1], net->argmax[l], n, din);
            else if (din) sgld_pool_backward(y, cur, net->argmax[l], n, din);
            break;
        case SGLD_LAYER_RELU:
            if (din) sgld_relu_backward(net->act[l + 1], cur, din, len);
            break;
        case SGLD_LAYER_TANH:
            if (din) sgld_tanh_backward(net->act[l + 1], cur, din, len);
            break;
        case SGLD_LAYER_DROPOUT:
            if (!din) break;
            if (net->last_train && y->rate > 0.0f) sgld_dropout_apply(net->mask[l], cur, din, len);
            else memcpy(din, cur, len * sizeof *din);
            break;
        }
        cur = din;
        which ^= 1;
        l -= pool_relu + conv_pool;
    }
}

double sgld_net_loglik_grad(sgld_net *net, const float *theta, const sgld_dataset *data,
                            const int64_t *rows, size_t n, float *grad, float *dx)
{
    const size_t d = net->L.in_size;
    double ll = 0.0;
    sgld_kfac *k = net->kfac;
    const int collect = k && k->collect;
    if (collect)
        for (int l = 0; l < k->n_layers; l++) {
            memset(k->A[l], 0, (size_t)k->n_a[l] * k->n_a[l] * sizeof(float));
            memset(k->G[l], 0, (size_t)k->n_g[l] * k->n_g[l] * sizeof(float));
        }
    for (size_t start = 0; start < n; start += net->max_batch) {
        size_t m = n - start < net->max_batch ? n - start : net->max_batch;
        float *in = net->act[0];
        float *y = net->delta[0]; /* targets: delta[0] is free until backward */
        for (size_t i = 0; i < m; i++) {
            memcpy(in + i * d, data->X + rows[start + i] * (int64_t)d, d * sizeof *in);
            y[i] = data->y[rows[start + i]];
        }
        sgld_net_forward(net, theta, m, 1);
        ll += sgld_net_loglik(net, y, m, net->dout);
        sgld_net_backward(net, theta, net->dout, m, grad, n <= net->max_batch ? dx : NULL);
        if (collect) kfac_pass(net, theta, data->row_begin, rows + start, m);
    }
    if (collect) {
        for (int l = 0; l < k->n_layers && n > 0; l++) {
            const size_t na2 = (size_t)k->n_a[l] * k->n_a[l], ng2 = (size_t)k->n_g[l] * k->n_g[l];
            for (size_t i = 0; i < na2; i++) k->A[l][i] /= (float)n;
            for (size_t i = 0; i < ng2; i++) k->G[l][i] /= (float)n;
        }
        k->n_rows = n;
        k->fresh = 1;
    }
    return ll;
}

double sgld_net_loglik_grad_input(sgld_net *net, const float *theta, const float *x, const float *y,
                                  size_t n, float *dx)
{
    const size_t d = net->L.in_size;
    double ll = 0.0;
    for (size_t start = 0; start < n; start += net->max_batch) {
        size_t m = n - start < net->max_batch ? n - start : net->max_batch;
        memcpy(net->act[0], x + start * d, m * d * sizeof *x);
        sgld_net_forward(net, theta, m, 0);
        ll += sgld_net_loglik(net, y + start, m, net->dout);
        sgld_net_backward(net, theta, net->dout, m, NULL, dx + start * d);
    }
    return ll;
}

/* sgld_net_predict; with mc != NULL, MC dropout with row i at step mc->step0 + i. */
static void predict(sgld_net *net, const float *theta, const float *x, size_t n, const mc_masks *mc, double *out)
{
    const size_t d = net->L.in_size;
    const int K = net->L.n_out;
    for (size_t start = 0; start < n; start += net->max_batch) {
        size_t m = n - start < net->max_batch ? n - start : net->max_batch;
        memcpy(net->act[0], x + start * d, m * d * sizeof *x);
        mc_masks piece;
        if (mc) piece = (mc_masks){mc->r, mc->step0 + start, mc->block0};
        const float *z = forward(net, theta, m, 0, mc ? &piece : NULL);
        for (size_t i = 0; i < m; i++) {
            const float *zi = z + i * K;
            double *o = out + (start + i) * (net->loss == SGLD_NET_SOFTMAX ? (size_t)K : net->loss == SGLD_NET_HETERO ? 2 : 1);
            if (net->loss == SGLD_NET_SOFTMAX) {
                double mx = zi[0], s = 0.0;
                for (int k = 1; k < K; k++) mx = zi[k] > mx ? zi[k] : mx;
                for (int k = 0; k < K; k++) s += (o[k] = exp(zi[k] - mx));
                for (int k = 0; k < K; k++) o[k] /= s;
            } else if (net->loss == SGLD_NET_GAUSS) {
                o[0] = zi[0];
            } else {
                o[0] = zi[0];
                o[1] = exp((double)zi[1]);
            }
        }
    }
}

void sgld_net_predict(sgld_net *net, const float *theta, const float *x, size_t n, double *out)
{
    predict(net, theta, x, n, NULL, out);
}

void sgld_net_predict_dropout(sgld_net *net, const float *theta, const float *x, size_t n, const sgld_rng *r,
                              uint32_t draw, uint32_t row0, uint32_t mask, double *out)
{
    const mc_masks mc = {r, ((uint64_t)draw << 32) + row0, mask << 22};
    predict(net, theta, x, n, &mc, out);
}

int sgld_net_dropout_layers(const sgld_net_layout *L, size_t *units)
{
    int count = 0;
    size_t u = 0;
    for (int l = 0; l < L->n_layers; l++)
        if (L->layer[l].kind == SGLD_LAYER_DROPOUT) {
            count++;
            u += L->layer[l].out_size;
        }
    if (units) *units = u;
    return count;
}

void sgld_net_init_params(const sgld_net_layout *L, const sgld_rng *r, float *theta)
{
    sgld_rng_normal_float(r, 0, SGLD_RNG_INIT, 0, L->n_params, theta);
    for (int l = 0; l < L->n_layers; l++) {
        const sgld_layer *y = &L->layer[l];
        if (!y->n_w) continue;
        double fan_in = (double)y->n_w / y->oc, fan_out = (double)y->n_w / (double)(y->kind == SGLD_LAYER_CONV ? (size_t)y->c : y->in_size);
        float sd = (float)(y->relu_after ? sqrt(2.0 / fan_in) : sqrt(2.0 / (fan_in + fan_out)));
        for (size_t i = 0; i < y->n_w; i++) theta[y->w_off + i] *= sd;
        memset(theta + y->b_off, 0, y->n_b * sizeof *theta);
    }
}

const sgld_layer *sgld_net_tensor(const sgld_net_layout *L, int t, char name[32], int *n_dims,
                                  int64_t dims[4], const char *dim_names[4])
{
    static char dn[4][32]; /* the names returned until the next call */
    int seen = 0;
    for (int l = 0; l < L->n_layers; l++) {
        const sgld_layer *y = &L->layer[l];
        if (!y->n_w) continue;
        if (t / 2 != seen++) continue;
        const char *kind = y->kind == SGLD_LAYER_CONV ? "conv" : "fc";
        snprintf(name, 32, "%s%d_%c", kind, y->index, t % 2 ? 'b' : 'w');
        snprintf(dn[0], 32, "%s%d_out", kind, y->index);
        snprintf(dn[1], 32, "%s%d_in", kind, y->index);
        snprintf(dn[2], 32, "%s%d_kh", kind, y->index);
        snprintf(dn[3], 32, "%s%d_kw", kind, y->index);
        for (int k = 0; k < 4; k++) dim_names[k] = dn[k];
        dims[0] = y->oc;
        if (t % 2) *n_dims = 1;
        else if (y->kind == SGLD_LAYER_FC) *n_dims = 2, dims[1] = (int64_t)y->in_size;
        else *n_dims = 4, dims[1] = y->c, dims[2] = y->k, dims[3] = y->k;
        return y;
    }
    return NULL;
}

double sgld_net_flops(const sgld_net_layout *L, size_t n)
{
    double f = 0.0;
    int first = 1;
    for (int l = 0; l < L->n_layers; l++) {
        const sgld_layer *y = &L->layer[l];
        if (!y->n_w) continue;
        double fwd = y->kind == SGLD_LAYER_FC ? 2.0 * n * y->n_w : 2.0 * n * y->n_w * y->h * y->w;
        f += fwd * (first ? 2 : 3);
        first = 0;
    }
    return f;
}
