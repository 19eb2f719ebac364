/* netmodel.h - private: the model-interface functions of the mlp and cnn models (netmodel.c)
 * and the hooks of their type table, which the two share. */
#ifndef SGLD_NETMODEL_H
#define SGLD_NETMODEL_H

#include "sgld/model.h"
#include "sgld/net.h"

/* Builds the network of --net (or default_spec) for m->d features and m's task, adds one
 * variable per tensor, applies --save-params and --prior-sd-layers, and creates the
 * network (workspace for --batch-size rows) in m->impl.  The likelihood follows m->classification
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
