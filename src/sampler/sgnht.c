/* sgnht.c - the stochastic gradient Nose-Hoover thermostat (Ding, Fang, Babbush, Chen, Skeel &
 * Neven, "Bayesian Sampling Using Stochastic Gradient Thermostats", NeurIPS 2014).
 *
 * SGHMC's friction is fixed and must exceed the unknown gradient noise; SGNHT makes it a
 * dynamic variable xi that adapts until the kinetic energy matches the temperature, which
 * absorbs the minibatch noise without estimating it.  Their dynamics
 *   dtheta = p dt,  dp = (g - xi p) dt + sqrt(2 A) dW,  dxi = (p'p / n - 1) dt
 * (g = the gradient of the log posterior, A the injected diffusion) keep
 * exp(log p(theta) - p'p / 2 - (xi - A)^2 / 2) invariant when g is exact, and the thermostat
 * still holds the kinetic energy at n / 2 when g carries noise of unknown variance.  Written in
 * sghmc.c's variables (Chen et al.'s eq. 15) v = h p, eta = h^2 = eps_t and the per-step
 * thermostat alpha = h xi, one Euler step of the dynamics at temperature T (noise 2 A T,
 * dxi = (p'p / n - T) dt) reads
 *   v     <- v - alpha v + eps_t g + N(0, 2 a eps_t T)
 *   theta <- theta + v
 *   alpha <- alpha + v'v / n - eps_t T
 * a = --sgnht-a (= h A, the diffusion per step, and alpha's start), T = --temperature (the
 * thermostat then holds v'v / n at eps_t T, the temperature-T law).  v starts as a draw of
 * N(0, eps_1 T) at the first step (the SAMPLER stream, elements [0, n)), alpha at a.
 * Noise: NOISE elements [0, n), fused with the update of v and theta and the sum v'v
 * (sgld_rng_normal_axpy, in float).  State: v (n floats), alpha, then a flag (v drawn).
 * sample_stats: sgnht_alpha, the thermostat after the step. */
#include <math.h>
#include <stddef.h>

#include "sgld/sampler.h"

typedef struct sgnht_opts {
    double a; /* --sgnht-a */
} sgnht_opts;

static const sgld_option options[] = {
    {"sgnht-a", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(sgnht_opts, a, double), "0.1", "a", "",
     {SGLD_RANGE_GT_LE, 0, 1}, 1,
     "injected diffusion per step (noise N(0, 2 a eps T)) and the thermostat's start"},
};

static size_t state_size(size_t n_params) { return n_params + 2; }

static void init(const sgld_step_ctx *ctx, const float *theta, float *state)
{
    (void)theta;
    const size_t n = ctx->n_params;
    for (size_t i = 0; i < n; i++) state[i] = 0.0f;
    state[n] = (float)((const sgnht_opts *)ctx->opts)->a;
    state[n + 1] = 0.0f;
}

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    const size_t n = ctx->n_params;
    const double a = ((const sgnht_opts *)ctx->opts)->a, eps = ctx->eps, T = ctx->temperature;
    float *v = state;
    if (state[n + 1] == 0.0f) { /* the momentum's first draw: v ~ N(0, eps T) */
        const sgld_rng_axpy first = {.b = 0.0f, .sd = (float)sqrt(eps * T), .y = v};
        sgld_rng_normal_axpy(ctx->rng, ctx->step, SGLD_RNG_SAMPLER, n, &first);
        state[n + 1] = 1.0f;
    }
    const double alpha = state[n];
    const sgld_rng_axpy op = {.b = (float)(1.0 - alpha), .a = (float)eps, .sd = (float)sqrt(2.0 * a * eps * T),
                              .x = grad, .y = v, .acc = theta, .sumsq = 1};
    const double vv = sgld_rng_normal_axpy(ctx->rng, ctx->step, SGLD_RNG_NOISE, n, &op);
    state[n] = (float)(alpha + vv / (double)n - eps * T);
    return SGLD_OK;
}

static void stats(const sgld_step_ctx *ctx, const float *theta, const float *state, double *out)
{
    (void)theta;
    out[0] = state[ctx->n_params];
}

const sgld_sampler_type sgld_sampler_sgnht = {
    .name = "sgnht",
    .description = "stochastic gradient Nose-Hoover thermostat (Ding et al. 2014)",
    .adds_noise = 1,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .options_size = sizeof(sgnht_opts),
    .state_size = state_size,
    .init = init,
    .step = step,
    .n_stats = 1,
    .stat_names = {"sgnht_alpha"},
    .stats = stats,
};
