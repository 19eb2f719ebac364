/* psmile.c - SMILE with gradient-noise preconditioning (Sommer, Diao, Robnik, Seljak &
 * Rugamer 2026): the microcanonical step of smile.c run in the coordinates y = theta / c,
 *   theta += (eps/2) c o u,   g = c o grad log p / T,
 *   c_i = RMS(s) / s_i  (clipped to [1e-3, 1e3]),  s_i = sd of the minibatch gradient noise
 * with a running mean (decay a = --psmile-alpha, 0.99) updated during burn-in and frozen after
 * (so the sampling phase is a time-homogeneous chain).  The noise is measured exactly: run.c's
 * gradient at the start of a step and the previous step's last gradient are at the same theta
 * on two independent minibatches, so (g - glast)^2 / 2 estimates its variance for any model.
 * Minibatch noise whose variance differs across parameters becomes equal in y = theta / c,
 * which removes most of the bias of smile that the paper derives for anisotropic noise (a
 * diagonal c cannot remove correlations of the noise).  Everything else (tuner, guardrails,
 * state, stats): smile.c. */
#include "smile.h"

static const sgld_option options[] = {
    SGLD_SMILE_OPTION_ROWS,
    {"psmile-alpha", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(sgld_smile_opts, alpha, double), "0.99",
     "a", "", {SGLD_RANGE_GT_LT, 0, 1}, 1, "decay of the running gradient-noise moments"},
};

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    return sgld_smile_step(ctx, theta, grad, state, 1);
}

const sgld_sampler_type sgld_sampler_psmile = {
    .name = "psmile",
    .description = "SMILE with gradient-noise preconditioning (Sommer et al. 2026)",
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .step = step,
    SGLD_SMILE_HOOKS,
};
