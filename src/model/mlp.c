/* mlp.c - Bayesian multilayer perceptron for regression (networks in include/sgld/net.h).
 *
 *   f(x) = the network of --net (default fc50-fc2: one hidden layer of 50 ReLU units);
 *   1 output:  y ~ N(f(x), noise_sd^2);   2 outputs (f, v):  y ~ N(f(x), exp(v(x)))
 *   (heteroscedastic, as the seed's UCI model); every weight ~ N(0, prior_sd^2) or the
 *   layer's --prior-sd-layers entry.  He/Glorot initialization.
 * For classification with fully connected layers only, use the cnn model with an fc spec. */
#include "../net/netmodel.h"

static sgld_status setup(sgld_model *m, const sgld_config *cfg)
{
    return sgld_netmodel_setup(m, cfg, "fc50-fc2");
}

const sgld_model_type sgld_model_mlp = {
    .name = "mlp",
    .description = "Bayesian MLP regression (--net, 1 output: Gaussian, 2: heteroscedastic)",
    .classification = 0,
    .setup = setup,
    .destroy = sgld_netmodel_destroy,
    .init_params = sgld_netmodel_init_params,
    .loglik_grad = sgld_netmodel_loglik_grad,
    .predict = sgld_netmodel_predict,
    .loglik_grad_input = sgld_netmodel_loglik_grad_input,
    .kfac = sgld_netmodel_kfac,
};
