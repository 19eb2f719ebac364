/* sghmc.c - stochastic gradient Hamiltonian Monte Carlo (Chen, Fox & Guestrin, ICML 2014),
 * in the paper's eq. (15) parametrization (learning rate eta = eps_t, momentum decay alpha = C):
 *
 *   v     <- (1 - C) v + eps_t m o g + N(0, 2 (C - beta) eps_t T m)
 *   theta <- theta + v
 * C = --friction in (0, 1], beta = --sghmc-beta (beta-hat, the gradient-noise estimate, 0),
 * T = --temperature, m = per-parameter scale (1 without --sghmc-adapt).  This is SGHMC
 * (theta += h M^-1 r, r += -h grad U - h F M^-1 r + N(0, 2 F h T)) in v = h M^-1 r with
 * learning rate eta_i = h^2 / M_i = eps_t m_i and decay h F_i / M_i = C: step h = sqrt(eps_t),
 * mass M_i = 1 / m_i and friction F_i = C / (m_i sqrt(eps_t)) per coordinate; the
 * stationary law is theta ~ posterior^(1/T), v ~ N(0, eps_t T m) as eps_t -> 0, with an
 * O(eps_t) bias at a finite step (its exact value for a Gaussian target: the discrete
 * Lyapunov equation of the linear map (theta, v) -> (theta', v'), see tests/sampler).
 *
 * --sghmc-adapt (Springenberg, Klein, Falkner & Hutter, "Bayesian optimization with robust
 * Bayesian neural networks", NeurIPS 2016): during burn-in (step <= --burnin) it adapts the
 * per-parameter scale only -- m_i proportional to 1 / sqrt(Vhat_i), where Vhat is a running
 * mean of g_i^2 with their adaptive window tau_i:
 *   r = 1 / (tau + 1),  ghat += r (g - ghat),  Vhat += r (g^2 - Vhat),  tau <- tau (1 - ghat^2 / Vhat) + 1
 * normalized to RMS(m) = 1 so that --step-size keeps its meaning.  Friction, step size and
 * beta are not adapted, and after burn-in m is frozen (the chain is then a time-homogeneous
 * SGHMC with a diagonal mass matrix).
 * Noise: NOISE elements [0, n), fused with the update of v and theta (sgld_rng_normal_axpy, in
 * float: sd sqrt(m_i) for sqrt(2 (C - beta) eps_t T m_i)).  State: v, m, ghat, Vhat, tau (n floats each), then a flag
 * (adaptation started).  sample_stats: momentum_norm = |v|. */
#include <math.h>
#include <stddef.h>

#include "sgld/sampler.h"

typedef struct sghmc_opts {
    double friction; /* --friction C */
    double beta;     /* --sghmc-beta */
    int adapt;       /* --sghmc-adapt */
} sghmc_opts;

static const sgld_option options[] = {
    {"friction", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(sghmc_opts, friction, double), "0.1", "C", "",
     {SGLD_RANGE_GT_LE, 0, 1}, 1, "momentum decay per step (friction), v <- (1 - C) v + eps g + noise"},
    {"sghmc-beta", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(sghmc_opts, beta, double), "0", "b", "",
     {SGLD_RANGE_GE, 0, 0}, 1, "estimate beta-hat of the gradient noise, b < --friction"},
    {"sghmc-adapt", SGLD_OPT_BOOL, SGLD_OPTION_FIELD(sghmc_opts, adapt, int), "off", "", "",
     {SGLD_RANGE_NONE, 0, 0}, 1,
     "adapt per-parameter scales during burn-in (Springenberg et al. 2016), then freeze"},
};

/* --sghmc-beta < --friction: the injected noise 2 (C - beta) eps T must stay positive. */
static sgld_status check(const sgld_config *cfg, const void *opts, const sgld_option_where *w)
{
    (void)cfg;
    const sghmc_opts *o = opts;
    char where[SGLD_PATH_MAX + 128];
    SGLD_CHECK(o->beta < o->friction, SGLD_ERR_USAGE, "%s: must be < friction (%g), got %g",
               sgld_option_origin(w, "sghmc-beta", where, sizeof where), o->friction, o->beta);
    return SGLD_OK;
}

static size_t state_size(size_t n_params) { return 5 * n_params + 1; }

static void init(const sgld_step_ctx *ctx, const float *theta, float *state)
{
    (void)theta;
    const size_t n = ctx->n_params;
    for (size_t i = 0; i < 5 * n + 1; i++) state[i] = 0.0f;
    for (size_t i = 0; i < n; i++) state[n + i] = 1.0f; /* m = 1 */
}

/* Springenberg et al.'s running moments and the RMS-normalized scale m. */
static void adapt(size_t n, const float *grad, float *state)
{
    float *m = state + n, *gh = state + 2 * n, *vh = state + 3 * n, *tau = state + 4 * n;
    if (state[5 * n] == 0.0f) {
        for (size_t i = 0; i < n; i++) {
            gh[i] = grad[i];
            vh[i] = grad[i] * grad[i];
            tau[i] = 1.0f;
        }
        state[5 * n] = 1.0f;
    } else {
        for (size_t i = 0; i < n; i++) {
            double r = 1.0 / (tau[i] + 1.0), g = grad[i];
            double ghat = gh[i] + r * (g - gh[i]), vhat = vh[i] + r * (g * g - vh[i]);
            double t = vhat > 0 ? tau[i] * (1.0 - ghat * ghat / vhat) + 1.0 : tau[i] + 1.0;
            gh[i] = (float)ghat;
            vh[i] = (float)vhat;
            tau[i] = (float)(t < 1.0 ? 1.0 : t);
        }
    }
    double s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double inv = vh[i] > 0 ? 1.0 / sqrt((double)vh[i]) : 0.0;
        m[i] = (float)inv;
        s2 += inv * inv;
    }
    double rms = sqrt(s2 / (double)n);
    for (size_t i = 0; i < n; i++) m[i] = rms > 0 && m[i] > 0 ? (float)(m[i] / rms) : 1.0f;
}

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    const size_t n = ctx->n_params;
    const sghmc_opts *o = ctx->opts;
    const double C = o->friction, beta = o->beta, eps = ctx->eps, T = ctx->temperature;
    SGLD_CHECK(C > 0 && C <= 1 && beta >= 0 && beta < C, SGLD_ERR_ARG,
               "sghmc: need 0 <= sghmc-beta < friction <= 1, got friction %g, beta %g", C, beta);
    if (o->adapt && ctx->step <= (uint64_t)ctx->cfg->burnin) adapt(n, grad, state);
    float *v = state, *m = state + n;
    sgld_rng_axpy op = {.b = (float)(1.0 - C), .a = (float)eps, .sd = (float)sqrt(2.0 * (C - beta) * eps * T),
                        .x = grad, .y = v, .acc = theta};
    if (o->adapt) { /* m o g and sqrt(m) (m = 1 without adaptation: the plain update) */
        float *mg = ctx->work, *sm = ctx->work + n;
        for (size_t i = 0; i < n; i++) mg[i] = m[i] * grad[i], sm[i] = sqrtf(m[i]);
        op.x = mg, op.s = sm;
    }
    sgld_rng_normal_axpy(ctx->rng, ctx->step, SGLD_RNG_NOISE, n, &op);
    return SGLD_OK;
}

static void stats(const sgld_step_ctx *ctx, const float *theta, const float *state, double *out)
{
    (void)theta;
    double s = 0;
    for (size_t i = 0; i < ctx->n_params; i++) s += (double)state[i] * state[i];
    out[0] = sqrt(s);
}

const sgld_sampler_type sgld_sampler_sghmc = {
    .name = "sghmc",
    .description = "stochastic gradient HMC (Chen, Fox & Guestrin 2014), eq. (15) form",
    .adds_noise = 1,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .options_size = sizeof(sghmc_opts),
    .check = check,
    .state_size = state_size,
    .init = init,
    .step = step,
    .n_stats = 1,
    .stat_names = {"momentum_norm"},
    .stats = stats,
};
