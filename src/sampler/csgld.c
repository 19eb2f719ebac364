/* csgld.c - cyclical SGLD (Zhang, Li, Zhang, Chen & Wilson, "Cyclical Stochastic Gradient MCMC
 * for Bayesian Deep Learning", ICLR 2020).
 *
 *   eps_k = (eps0 / 2) [cos(pi mod(k - 1, P) / P) + 1],   P = ceil(K / M),  r_k = mod(k - 1, P) / P
 *   r_k <  f:  theta <- theta + (eps_k / 2) g                       (exploration: SGD, no draw)
 *   r_k >= f:  theta <- theta + (eps_k / 2) g + N(0, eps_k T I)     (sampling: SGLD, draws kept)
 * eps0 = --step-size, K = --steps, M = --cycles (<= K), f = --explore in [0, 1).
 * The step size runs from eps0 down to ~0 in every cycle, so the kept draws come from the
 * small-step end of each cycle; they are not a stationary chain (each sampling phase starts
 * from the contracted end of an SGD phase), which the tests account for.
 * Noise: NOISE elements [0, n), fused with the update as in sgld.c.  No state. */
#include <math.h>
#include <stddef.h>

#include "sgld/sampler.h"

typedef struct csgld_opts {
    int64_t cycles; /* --cycles M */
    double explore; /* --explore f */
} csgld_opts;

static const sgld_option options[] = {
    {"cycles", SGLD_OPT_INT64, SGLD_OPTION_FIELD(csgld_opts, cycles, int64_t), "4", "M", "",
     {SGLD_RANGE_GE, 1, 0}, 1, "cosine step-size cycles over --steps, M <= --steps"},
    {"explore", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(csgld_opts, explore, double), "0.8", "f", "",
     {SGLD_RANGE_GE_LT, 0, 1}, 1, "fraction of each cycle spent exploring (no noise, no draws)"},
};

/* --cycles <= --steps: every cycle has at least one step. */
static sgld_status check(const sgld_config *cfg, const void *opts, const sgld_option_where *w)
{
    const csgld_opts *o = opts;
    char where[SGLD_PATH_MAX + 128];
    SGLD_CHECK(o->cycles <= cfg->steps, SGLD_ERR_USAGE, "%s: must be <= steps (%lld), got %lld",
               sgld_option_origin(w, "cycles", where, sizeof where), (long long)cfg->steps,
               (long long)o->cycles);
    return SGLD_OK;
}

/* Position of step t in its cycle, in [0, 1). */
static double cycle_position(const sgld_config *cfg, const csgld_opts *o, uint64_t t)
{
    uint64_t K = (uint64_t)cfg->steps, M = (uint64_t)(o->cycles > 0 ? o->cycles : 1);
    uint64_t P = (K + M - 1) / M;
    if (P == 0) P = 1;
    return (double)((t - 1) % P) / (double)P;
}

static double step_size(const sgld_config *cfg, const void *opts, uint64_t t)
{
    return 0.5 * cfg->step_size * (cos(M_PI * cycle_position(cfg, opts, t)) + 1.0);
}

static int keep_draw(const sgld_config *cfg, const void *opts, uint64_t t)
{
    const csgld_opts *o = opts;
    return cycle_position(cfg, o, t) >= o->explore;
}

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    (void)state;
    const size_t n = ctx->n_params;
    const float half = (float)(0.5 * ctx->eps);
    if (!keep_draw(ctx->cfg, ctx->opts, ctx->step)) {
        for (size_t i = 0; i < n; i++) theta[i] += half * grad[i];
        return SGLD_OK;
    }
    const float sd = (float)sqrt(ctx->eps * ctx->temperature);
    sgld_rng_normal_update(ctx->rng, ctx->step, SGLD_RNG_NOISE, n, 1.0f, half, grad, sd, theta);
    return SGLD_OK;
}

const sgld_sampler_type sgld_sampler_csgld = {
    .name = "csgld",
    .description = "cyclical SGLD: cosine step size, SGD exploration + SGLD sampling (Zhang et al. 2020)",
    .adds_noise = 1,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .options_size = sizeof(csgld_opts),
    .check = check,
    .steps_define_chain = "'s cycles span --steps",
    .step = step,
    .step_size = step_size,
    .keep_draw = keep_draw,
};
