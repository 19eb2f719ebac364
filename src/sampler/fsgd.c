/* fsgd.c - fixed-rate stochastic gradient descent as approximate inference (Mandt, Hoffman &
 * Blei, "Stochastic Gradient Descent as Approximate Bayesian Inference", JMLR 2017).
 *
 *   theta <- theta + (a / 2) g            (a = --step-size, constant: the schedule is ignored)
 *
 * No injected noise: the iterates after burn-in are kept as draws, and their spread comes from
 * the minibatch noise alone.  Their stationary law is NOT the posterior.  Near a mode with
 * log posterior Hessian -A and gradient-noise covariance Q (per step), x = theta - mode obeys
 * x' = (I - (a/2) A) x + (a/2) xi, so the stationary covariance S solves the discrete Lyapunov
 * equation
 *   S = B S B^T + (a^2 / 4) Q,   B = I - (a/2) A,
 * whose small-step limit is A S + S A = (a / 2) Q (Mandt et al., eq. 11 in our convention).
 * The mean is the mode.  It matches the posterior covariance A^-1 only when Q = (4 / a) I - A:
 * with S = A^-1, S - B S B^T = a I - (a^2 / 4) A, which must equal (a^2 / 4) Q (to leading
 * order in a: isotropic gradient noise of variance 4 / a).
 * No state. */
#include "sgld/sampler.h"

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    (void)state;
    const float half = (float)(0.5 * ctx->eps);
    for (size_t i = 0; i < ctx->n_params; i++) theta[i] += half * grad[i];
    return SGLD_OK;
}

/* Constant rate: the defining property of the method. */
static double step_size(const sgld_config *cfg, const void *opts, uint64_t t)
{
    (void)opts;
    (void)t;
    return cfg->step_size;
}

const sgld_sampler_type sgld_sampler_fsgd = {
    .name = "fsgd",
    .description = "fixed-rate SGD, iterates after burn-in as draws (Mandt, Hoffman & Blei 2017)",
    .adds_noise = 0,
    .step = step,
    .step_size = step_size,
};
