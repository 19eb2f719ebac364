/* netmodel.h - private: the model-interface functions of the mlp and cnn models (netmodel.c)
 * and the hooks of their type table, which the two share. */
#ifndef SGLD_NETMODEL_H
#define SGLD_NETMODEL_H

#include <stddef.h>

#include "sgld/model.h"
#include "sgld/net.h"

/* The options of a network model (cnn declares no noise-sd: its noise_sd stays 0). */
typedef struct sgld_netmodel_opts {
    char net[256];             /* --net layer spec ("" = the model's default) */
    char input_shape[64];      /* --input-shape CxHxW of one data row ("" = from the data) */
    char save_params[256];     /* --save-params tensors or layers to write ("" = all) */
    char prior_sd_layers[256]; /* --prior-sd-layers one sd per fc/conv layer ("" = --prior-sd) */
    double noise_sd;           /* --noise-sd of a fixed-variance regression network */
} sgld_netmodel_opts;

/* The option rows every network model declares (each file lists them in its own table). */
#define SGLD_NETMODEL_OPTION_ROWS                                                                  \
    {"net", SGLD_OPT_STRING, SGLD_OPTION_FIELD(sgld_netmodel_opts, net, char *), "", "SPEC", "",   \
     {SGLD_RANGE_NONE, 0, 0}, 1,                                                                   \
     "layers, e.g. fc50-fc2 or conv32k5-pool2-conv64k5-pool2-fc1024-fc10 (none: mlp fc50-fc2, "   \
     "or fc50-fcK with --task classification; cnn that CNN with K outputs)"},                     \
    {"input-shape", SGLD_OPT_STRING, SGLD_OPTION_FIELD(sgld_netmodel_opts, input_shape, char *),  \
     "", "CxHxW", "", {SGLD_RANGE_NONE, 0, 0}, 1,                                                  \
     "shape of one data row, e.g. 1x28x28 (none: flat, or 1xSxS for S^2 features when the net "  \
     "has conv/pool layers)"},                                                                     \
    {"save-params", SGLD_OPT_STRING, SGLD_OPTION_FIELD(sgld_netmodel_opts, save_params, char *),  \
     "", "LIST", "", {SGLD_RANGE_NONE, 0, 0}, 1,                                                   \
     "comma-separated tensors (fc2_w) or layers (fc2) written to --output (none: all)"},          \
    {"prior-sd-layers", SGLD_OPT_STRING,                                                           \
     SGLD_OPTION_FIELD(sgld_netmodel_opts, prior_sd_layers, char *), "", "LIST", "",               \
     {SGLD_RANGE_NONE, 0, 0}, 1,                                                                   \
     "comma-separated prior sd, one per fc/conv layer in order (none: --prior-sd)"}

/* Builds the network of --net (or default_spec) for m->d features and m's task, adds one
 * variable per tensor, applies --save-params and --prior-sd-layers (the options of m's type,
 * an sgld_netmodel_opts), and creates the network (workspace for m->max_rows rows) in
 * m->impl.  The likelihood follows m->classification
 * (softmax) or the output count (Gaussian, heteroscedastic).  Errors: SGLD_ERR_USAGE. */
sgld_status sgld_netmodel_setup(sgld_model *m, const sgld_config *cfg, const char *default_spec);
void sgld_netmodel_destroy(sgld_model *m);
void sgld_netmodel_init_params(const sgld_model *m, const sgld_rng *r, float *theta);
double sgld_netmodel_loglik_grad(const sgld_model *m, const float *theta, const sgld_dataset *data,
                                 const int64_t *rows, size_t n, float *grad);
void sgld_netmodel_predict(const sgld_model *m, const float *theta, const float *x, size_t n, double *out);
void sgld_netmodel_predict_dropout(const sgld_model *m, const float *theta, const float *x, size_t n,
                                   const sgld_rng *r, uint32_t draw, uint32_t row0, uint32_t mask, double *out);
int sgld_netmodel_dropout_layers(const sgld_model *m, size_t *units);
double sgld_netmodel_loglik_grad_input(const sgld_model *m, const float *theta, const float *x,
                                       const float *y, size_t n, float *dx);
sgld_status sgld_netmodel_kfac(const sgld_model *m, sgld_kfac **out);
double sgld_netmodel_forward_flops(const sgld_model *m);

/* The hooks of a network model's sgld_model_type (designated initializers): a network model
 * defines its name, description, task and setup (its default --net), then these. */
#define SGLD_NETMODEL_HOOKS                                                                        \
    .destroy = sgld_netmodel_destroy, .init_params = sgld_netmodel_init_params,                    \
    .loglik_grad = sgld_netmodel_loglik_grad, .predict = sgld_netmodel_predict,                    \
    .predict_dropout = sgld_netmodel_predict_dropout, .dropout_layers = sgld_netmodel_dropout_layers, \
    .loglik_grad_input = sgld_netmodel_loglik_grad_input, .kfac = sgld_netmodel_kfac,              \
    .forward_flops = sgld_netmodel_forward_flops

#endif
