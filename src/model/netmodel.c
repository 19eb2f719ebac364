/* netmodel.c - the model-interface side of the networks, shared by the mlp and cnn models
 * (mlp.c, cnn.c, through SGLD_NETMODEL_HOOKS): setup from the options (--net, --input-shape,
 * --save-params, --prior-sd-layers, the task), loglik_grad, predict (and MC-dropout predict),
 * He/Glorot init, destroy, K-FAC statistics and the forward flop count.
 *
 * The layers live in the net library (include/sgld/net.h, its public calls only).  Every bad
 * option is found here, before any work, as one SGLD_ERR_USAGE line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netmodel.h"

/* The input shape: --input-shape, else 1x1xd for nets of fc layers only, else 1xSxS when
 * d = S^2. */
static sgld_status input_shape(const sgld_model *m, const sgld_netmodel_opts *o, const char *spec,
                               int *c, int *h, int *w)
{
    if (o->input_shape[0]) {
        SGLD_TRY(sgld_net_parse_shape(o->input_shape, c, h, w));
        SGLD_CHECK((int64_t)*c * *h * *w == m->d, SGLD_ERR_USAGE,
                   "--input-shape %s has %lld values per row, the data have %d features", o->input_shape,
                   (long long)*c * *h * *w, m->d);
        return SGLD_OK;
    }
    *c = 1, *h = 1, *w = m->d;
    if (strstr(spec, "conv") || strstr(spec, "pool")) {
        int s = (int)lround(sqrt((double)m->d));
        SGLD_CHECK(s * s == m->d, SGLD_ERR_USAGE,
                   "--net '%s' has image layers but the %d features are not a square image: give "
                   "--input-shape CxHxW", spec, m->d);
        *h = *w = s;
    }
    return SGLD_OK;
}

/* Applies --save-params: every item names a tensor (fc2_w) or a layer (fc2). */
static sgld_status save_params(sgld_model *m, const char *list)
{
    if (!list[0]) return SGLD_OK;
    for (int v = 0; v < m->n_vars; v++) m->vars[v].save = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int hit = 0;
        for (int v = 0; v < m->n_vars; v++) {
            const char *name = m->vars[v].name;
            size_t layer_len = strcspn(name, "_");
            if ((strlen(name) == len || layer_len == len) && strncmp(name, p, len) == 0) {
                m->vars[v].save = 1;
                hit = 1;
            }
        }
        if (!hit) {
            char names[512];
            size_t used = 0;
            names[0] = '\0';
            for (int v = 0; v < m->n_vars && used < sizeof names; v++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", v ? ", " : "", m->vars[v].name);
            return sgld_error_set(SGLD_ERR_USAGE, "--save-params: no tensor or layer '%.*s' in this network "
                                  "(valid: %s, or a layer name such as fc1)", (int)len, p, names);
        }
        if (!end) break;
        p = end + 1;
    }
    return SGLD_OK;
}

/* Applies --prior-sd-layers: one positive sd per fc/conv layer, both tensors of a layer. */
static sgld_status prior_layers(sgld_model *m, const char *list)
{
    if (!list[0]) return SGLD_OK;
    int n_layers = m->n_vars / 2, k = 0;
    const char *p = list;
    while (*p) {
        char *e;
        double sd = strtod(p, &e);
        SGLD_CHECK(e != p && (*e == ',' || *e == '\0') && isfinite(sd) && sd > 0, SGLD_ERR_USAGE,
                   "--prior-sd-layers '%s': expected comma-separated numbers > 0", list);
        SGLD_CHECK(k < n_layers, SGLD_ERR_USAGE, "--prior-sd-layers '%s': more values than the %d fc/conv "
                   "layers of the network", list, n_layers);
        m->vars[2 * k].prior_sd = m->vars[2 * k + 1].prior_sd = sd;
        k++;
        p = *e ? e + 1 : e;
    }
    SGLD_CHECK(k == n_layers, SGLD_ERR_USAGE, "--prior-sd-layers '%s': %d values for the %d fc/conv layers "
               "of the network", list, k, n_layers);
    return SGLD_OK;
}

sgld_status sgld_netmodel_setup(sgld_model *m, const sgld_config *cfg, const char *default_spec)
{
    const sgld_netmodel_opts *o = sgld_config_opts(cfg, m->type);
    SGLD_CHECK(o, SGLD_ERR_INTERNAL, "model %s: no options in the configuration", m->type->name);
    const char *spec = o->net[0] ? o->net : default_spec;
    m->noise_sd = o->noise_sd;
    int c, h, w;
    SGLD_TRY(input_shape(m, o, spec, &c, &h, &w));
    sgld_net_layout L;
    SGLD_TRY(sgld_net_parse(spec, c, h, w, &L));
    sgld_net_loss loss;
    if (m->classification) {
        SGLD_CHECK(L.n_out == m->n_classes, SGLD_ERR_USAGE,
                   "--net '%s': the output layer has %d outputs but the data have %d classes (labels "
                   "0..%d)", spec, L.n_out, m->n_classes, m->n_classes - 1);
        loss = SGLD_NET_SOFTMAX;
    } else {
        SGLD_CHECK(L.n_out == 1 || L.n_out == 2, SGLD_ERR_USAGE,
                   "--net '%s': a regression network needs 1 output (mean, noise --noise-sd) or 2 (mean "
                   "and log-variance), this one has %d", spec, L.n_out);
        loss = L.n_out == 1 ? SGLD_NET_GAUSS : SGLD_NET_HETERO;
    }
    for (int t = 0;; t++) {
        char name[32];
        int n_dims;
        int64_t dims[4];
        const char *dim_names[4];
        if (!sgld_net_tensor(&L, t, name, &n_dims, dims, dim_names)) break;
        SGLD_CHECK(m->n_vars < SGLD_MODEL_MAX_VARS, SGLD_ERR_USAGE,
                   "--net '%s': more than %d fc/conv layers", spec, SGLD_MODEL_MAX_VARS / 2);
        SGLD_TRY(sgld_model_add_var(m, name, n_dims, dims, dim_names));
    }
    SGLD_TRY(save_params(m, o->save_params));
    SGLD_TRY(prior_layers(m, o->prior_sd_layers));
    sgld_net *net;
    SGLD_TRY(sgld_net_create(&L, m->max_rows, loss, o->noise_sd, cfg->seed, &net));
    m->impl = net;
    return SGLD_OK;
}

void sgld_netmodel_destroy(sgld_model *m)
{
    sgld_net *net = m->impl;
    sgld_net_destroy(&net);
    m->impl = NULL;
}

void sgld_netmodel_init_params(const sgld_model *m, const sgld_rng *r, float *theta)
{
    sgld_net_init_params(sgld_net_get_layout(m->impl), r, theta);
}

double sgld_netmodel_loglik_grad(const sgld_model *m, const float *theta, const sgld_dataset *data,
                                 const int64_t *rows, size_t n, float *grad)
{
    return sgld_net_loglik_grad(m->impl, theta, data, rows, n, grad, NULL);
}

/* The model's (mean, variance) rows from the network's outputs: probabilities and
 * heteroscedastic (mean, variance) are already that; a fixed-noise Gaussian net gives the mean
 * [n], spread here to (mean, noise_sd^2) from the back, so nothing is overwritten before it is
 * read. */
static void spread(const sgld_model *m, size_t n, double *out)
{
    if (m->classification || sgld_net_get_layout(m->impl)->n_out == 2) return;
    for (size_t i = n; i-- > 0;) {
        out[2 * i] = out[i];
        out[2 * i + 1] = m->noise_sd * m->noise_sd;
    }
}

void sgld_netmodel_predict(const sgld_model *m, const float *theta, const float *x, size_t n, double *out)
{
    sgld_net_predict(m->impl, theta, x, n, out);
    spread(m, n, out);
}

void sgld_netmodel_predict_dropout(const sgld_model *m, const float *theta, const float *x, size_t n,
                                   const sgld_rng *r, uint32_t draw, uint32_t row0, uint32_t mask, double *out)
{
    sgld_net_predict_dropout(m->impl, theta, x, n, r, draw, row0, mask, out);
    spread(m, n, out);
}

int sgld_netmodel_dropout_layers(const sgld_model *m, size_t *units)
{
    return sgld_net_dropout_layers(sgld_net_get_layout(m->impl), units);
}

double sgld_netmodel_loglik_grad_input(const sgld_model *m, const float *theta, const float *x,
                                       const float *y, size_t n, float *dx)
{
    return sgld_net_loglik_grad_input(m->impl, theta, x, y, n, dx);
}

sgld_status sgld_netmodel_kfac(const sgld_model *m, sgld_kfac **out)
{
    return sgld_net_kfac_enable(m->impl, out);
}

double sgld_netmodel_forward_flops(const sgld_model *m)
{
    if (!m->impl) return 0.0;
    const sgld_net_layout *L = sgld_net_get_layout(m->impl);
    double f = 0.0;
    for (int l = 0; l < L->n_layers; l++) {
        const sgld_layer *y = &L->layer[l];
        if (!y->n_w) continue;
        f += y->kind == SGLD_LAYER_FC ? 2.0 * y->n_w : 2.0 * y->n_w * y->h * y->w;
    }
    return f;
}
