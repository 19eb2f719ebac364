/* sgld.c - stochastic gradient Langevin dynamics (Welling & Teh, ICML 2011).
 *
 *   theta <- theta + (eps_t / 2) g + N(0, eps_t T I),
 *   g = grad log p(theta) + (N / B) sum_batch grad log p(y | x, theta)
 * With T = 1 and eps_t -> 0 the iterates sample the posterior; a constant eps_t leaves an
 * O(eps) bias (for a Gaussian target of precision lambda, variance 1 / (lambda (1 - eps lambda / 4))).
 * Noise: element i of the chain's NOISE stream at this step, from the vectorized
 * sgld_rng_normal_fill, fused with the update (sgld_rng_normal_axpy: the noise of large models
 * must not dominate a step, and is never written out as an array); with the gradient handed
 * over unformed (folds_prior, sampler.h) the same pass applies the prior and the N/B scaling,
 * and it reports the new theta's sum of squares.  No state. */
#include <math.h>

#include "sgld/sampler.h"

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    (void)state;
    const float half = (float)(0.5 * ctx->eps);
    const float sd = (float)sqrt(ctx->eps * ctx->temperature);
    /* theta = theta + (c theta + (a x + sd z)): with the gradient unformed (ctx->lik_sum) the
     * prior's pull is c = -(eps/2) prec and the N/B scaling is in a = (eps/2) N/B, one pass over
     * theta; else c = 0 and x = the formed gradient. */
    sgld_rng_axpy op = {.b = 1.0f, .a = half, .sd = sd, .x = grad, .y = theta, .sumsq = ctx->theta_sumsq != NULL};
    if (ctx->lik_sum) {
        op.c = (float)(-(double)half * ctx->prior_prec);
        op.a = (float)((double)half * ctx->lik_scale);
        op.x = ctx->lik_sum;
    }
    double ss = sgld_rng_normal_axpy(ctx->rng, ctx->step, SGLD_RNG_NOISE, ctx->n_params, &op);
    if (ctx->theta_sumsq) *ctx->theta_sumsq = ss;
    return SGLD_OK;
}

const sgld_sampler_type sgld_sampler_sgld = {
    .name = "sgld",
    .description = "stochastic gradient Langevin dynamics (Welling & Teh 2011)",
    .adds_noise = 1,
    .step = step,
    .folds_prior = 1,
};
