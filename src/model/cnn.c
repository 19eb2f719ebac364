/* cnn.c - Bayesian neural-network classifier (networks in include/sgld/net.h).
 *
 *   p(y | x, theta) = softmax(f(x))_y, f = the network of --net (default the seed paper's
 *   MNIST CNN conv32k5-pool2-conv64k5-pool2-fc1024-fcK, K = the data's classes);
 *   every weight ~ N(0, prior_sd^2) or its layer's --prior-sd-layers entry.  An --net of fc
 *   layers only makes it a classification MLP (the same network as mlp --task classification).
 *   Classification only: --task regression is refused (sgld_model_task).  He/Glorot
 *   initialization. */
#include <stdio.h>

#include "netmodel.h"

static const sgld_option options[] = {SGLD_NETMODEL_OPTION_ROWS};

static sgld_status setup(sgld_model *m, const sgld_config *cfg)
{
    char spec[SGLD_NET_SPEC_MAX];
    snprintf(spec, sizeof spec, "conv32k5-pool2-conv64k5-pool2-fc1024-fc%d", m->n_classes);
    return sgld_netmodel_setup(m, cfg, spec);
}

const sgld_model_type sgld_model_cnn = {
    .name = "cnn",
    .description = "Bayesian neural-network classifier, conv/pool/fc layers (--net, --input-shape)",
    .classification = 1,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .options_size = sizeof(sgld_netmodel_opts),
    .setup = setup,
    SGLD_NETMODEL_HOOKS,
};
