/* sgd.c - stochastic gradient ascent on the log posterior, in the SGLD convention without
 * noise:  theta <- theta + (eps_t / 2) g.  C chains from different initializations form a
 * deep ensemble; with a decaying eps_t it converges to a MAP estimate.  No state. */
#include "sgld/sampler.h"

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    (void)state;
    const float half = (float)(0.5 * ctx->eps);
    for (size_t i = 0; i < ctx->n_params; i++) theta[i] += half * grad[i];
    return SGLD_OK;
}

const sgld_sampler_type sgld_sampler_sgd = {
    .name = "sgd",
    .description = "stochastic gradient ascent, no noise (MAP / deep ensemble)",
    .adds_noise = 0,
    .step = step,
};
