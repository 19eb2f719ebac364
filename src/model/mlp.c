/* mlp.c - Bayesian multilayer perceptron for regression or classification (networks in
 * include/sgld/net.h; the task from --task, default regression).
 *
 *   f(x) = the network of --net;
 *   regression (default fc50-fc2: one hidden layer of 50 ReLU units):
 *     1 output:  y ~ N(f(x), noise_sd^2);   2 outputs (f, v):  y ~ N(f(x), exp(v(x)))
 *     (heteroscedastic, as the seed's UCI model);
 *   --task classification (default fc50-fcK, K = the data's classes):
 *     p(y | x, theta) = softmax(f(x))_y, integer labels 0..K-1 as cnn and softmax read them;
 *   every weight ~ N(0, prior_sd^2) or the layer's --prior-sd-layers entry.  He/Glorot
 *   initialization. */
#include <stdio.h>

#include "netmodel.h"

static const sgld_option options[] = {
    {"noise-sd", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(sgld_netmodel_opts, noise_sd, double), "0.5",
     "SD", "", {SGLD_RANGE_GT, 0, 0}, 1,
     "known standard deviation of the Gaussian noise, y ~ N(x'w, SD^2) for linreg (mlp: of a "
     "fixed-variance regression network)"},
    SGLD_NETMODEL_OPTION_ROWS,
};

static sgld_status setup(sgld_model *m, const sgld_config *cfg)
{
    char spec[SGLD_NET_SPEC_MAX] = "fc50-fc2";
    if (m->classification) snprintf(spec, sizeof spec, "fc50-fc%d", m->n_classes);
    return sgld_netmodel_setup(m, cfg, spec);
}

const sgld_model_type sgld_model_mlp = {
    .name = "mlp",
    .description = "Bayesian MLP (--net): regression (1 output: Gaussian, 2: heteroscedastic) or, "
                   "with --task classification, softmax classes",
    .classification = 0,
    .any_task = 1,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .options_size = sizeof(sgld_netmodel_opts),
    .setup = setup,
    SGLD_NETMODEL_HOOKS,
};
