/* smile.c - stochastic microcanonical Langevin Monte Carlo, SMILE (Sommer, Diao, Robnik, Seljak
 * & Rugamer, "Can Microcanonical Langevin Dynamics Leverage Mini-Batch Gradient Noise?", 2026;
 * MCLMC: Robnik, De Luca, Silverstein & Seljak 2023, Robnik & Seljak 2024; BlackJAX's mclmc).
 *
 *   isokinetic step (McLachlan, b = 0.1931833275037836; per step 2 extra minibatch gradients):
 *     u <- M(u, g, b eps); theta += (eps/2) c o u; u <- M(u, g, (1-2b) eps); theta += (eps/2) c o u;
 *     u <- M(u, g, b eps)                      (g = c o grad log p / T at the current theta)
 *   ESH momentum map (exact solution of du/dt = (I - u u^T) g / (d - 1) for constant g):
 *     e = g/|g|, delta = s |g| / (d-1), z = exp(-delta),
 *     u <- normalize(e (1 - z)(1 + z + (u.e)(1 - z)) + 2 z u),
 *     dK = (d-1) [delta - log 2 + log(1 + u.e + (1 - u.e) z^2)]
 *   energy error dE = sum dK - (lp(theta') - lp(theta)) / T  (both lp on this step's minibatch)
 *   partial refresh: u <- normalize(a u + sqrt(1 - a^2) xi / sqrt(d)), a = exp(-eps / L), xi ~ N(0, I)
 * --smile-integrator leapfrog: M(eps/2), theta += eps c o u, M(eps/2) (1 extra gradient).
 * c = 1 for smile; psmile.c sets c from the gradient noise.  The theta-marginal of the
 * continuous dynamics is the posterior^(1/T) for any L > 0 (Robnik & Seljak 2024).
 *
 * Step size (burn-in only, then frozen): the energy-variance tuner of MCLMC -- with
 * xi = dE^2 / (d v) (v = --smile-energy-var, the target Var[dE]/d) and weight
 * w = exp(-(log xi)^2 / (2 (6 * 1.5)^2)), the running estimate
 *   eps_hat = (sum_k r^(t-k) w_k xi_k eps_k^-6 / sum_k r^(t-k) w_k)^(-1/6),  r = (150-1)/(150+1)
 * (dE ~ eps^3 for the second-order integrator, so Var[dE] ~ eps^6), starting from --step-size.
 * L = --smile-L, or (--smile-L 0) sqrt(d) in the first half of burn-in and then
 * 0.4 sqrt(sum_i Var[theta_i / c_i]) from a running variance over the second half (sqrt(d)
 * throughout without burn-in).  The two phases follow BlackJAX's first two tuning stages
 * (mclmc_find_L_and_step_size: L = sqrt(d), then L = sqrt(sum Var) from stage 2's draws), but
 * the factor 0.4 is the Lfactor of BlackJAX's stage 3 (L = 0.4 eps n_steps / ESS, from an
 * effective-sample-size estimate), a stage not implemented here: this L is stage 2's length
 * scaled by stage 3's factor.
 *
 * Guardrails (every step): a non-finite theta, u or dE, or an outlier dE^2 / d > 1000 v,
 * rejects the step: theta is restored, u is redrawn uniformly on the sphere, and the cap on the
 * step size drops to 0.8 eps.  The cap grows back by 2% per clean step until it no longer binds,
 * so one bad minibatch does not shrink the step for the rest of the run (BlackJAX's cap never
 * recovers).  eps used = min(eps_hat, cap).
 * Randomness: the refresh xi = NOISE elements [0, d) and a momentum redraw = SAMPLER elements
 * [0, d) (step 0 at init), each fused with its update and norm (sgld_rng_normal_axpy).  The
 * gradient callback is called exactly 2 (mclachlan) or 1 (leapfrog) times per step whatever
 * happens, as the chain's ranks require.
 * State (floats): u, c, last gradient, gradient-noise variance, theta/c mean, theta/c variance
 * (d each), then the scalars below.  sample_stats: energy_error, smile_step_size (the step
 * actually used; run.c's step_size column holds the schedule's --step-size), reset (1 when
 * this step was rejected), n_resets (so far), energy.
 * energy is the ESH Hamiltonian H = -lp(theta) / T + K after the step (ArviZ's sample_stats
 * `energy`), with K = (d - 1) log |v| the kinetic energy of the unnormalized velocity,
 * |v| = 1 at the start: K is the sum of the accepted steps' dK (kept in double as a hi/lo float
 * pair, so a checkpoint holds it exactly; a rejected step leaves it), lp the step's minibatch
 * log posterior at the new theta (at the restored theta after a rejection).  The dynamics
 * conserve H and the refresh leaves |v| alone, so on full-data gradients consecutive energies
 * differ by exactly energy_error; on minibatches they also differ by the change of minibatch. */
#include "smile.h"

#include <math.h>
#include <string.h>

enum { S_EPS_HAT, S_WSUM, S_CAP, S_EPS, S_DE, S_RESET, S_NRESET, S_L, S_INIT, S_NVAR, S_GLAST, S_NNOISE,
       S_K_HI, S_K_LO, S_ENERGY, S_COUNT };

#define CAP_NONE 3.0e38f
#define MCLACHLAN_B 0.1931833275037836
#define TUNER_N 150.0
#define TUNER_TRUST 1.5
#define OUTLIER 1000.0

static const sgld_option options[] = {SGLD_SMILE_OPTION_ROWS};

size_t sgld_smile_state_size(size_t n_params) { return 6 * n_params + S_COUNT; }

static float *scalars(float *state, size_t n) { return state + 6 * n; }

/* A uniformly random unit vector from the SAMPLER stream at `step`. */
static void redraw(const sgld_step_ctx *ctx, uint64_t step, float *u)
{
    const size_t n = ctx->n_params;
    const sgld_rng_axpy op = {.b = 0.0f, .sd = 1.0f, .y = u, .sumsq = 1};
    double s = sgld_rng_normal_axpy(ctx->rng, step, SGLD_RNG_SAMPLER, n, &op);
    s = s > 0 ? 1.0 / sqrt(s) : 0.0;
    for (size_t i = 0; i < n; i++) u[i] = (float)(u[i] * s);
}

void sgld_smile_init(const sgld_step_ctx *ctx, const float *theta, float *state)
{
    (void)theta;
    const size_t n = ctx->n_params;
    memset(state, 0, sgld_smile_state_size(n) * sizeof(float));
    redraw(ctx, 0, state);
    for (size_t i = 0; i < n; i++) state[n + i] = 1.0f;
    scalars(state, n)[S_CAP] = CAP_NONE;
}

/* The ESH momentum map over time s with (scaled) gradient g; returns the kinetic energy change. */
static double esh(float *u, const float *g, size_t n, double s)
{
    double gn = 0, ue = 0;
    for (size_t i = 0; i < n; i++) gn += (double)g[i] * g[i];
    gn = sqrt(gn);
    if (!(gn > 0)) return gn == 0 ? 0.0 : NAN;
    for (size_t i = 0; i < n; i++) ue += (double)u[i] * g[i] / gn;
    const double dm1 = (double)n - 1.0, delta = s * gn / dm1, z = exp(-delta);
    const double a = (1.0 - z) * (1.0 + z + ue * (1.0 - z)) / gn, b = 2.0 * z;
    double norm = 0;
    for (size_t i = 0; i < n; i++) {
        double v = a * g[i] + b * u[i];
        u[i] = (float)v;
        norm += v * v;
    }
    norm = 1.0 / sqrt(norm);
    for (size_t i = 0; i < n; i++) u[i] = (float)(u[i] * norm);
    return dm1 * (delta - M_LN2 + log(1.0 + ue + (1.0 - ue) * z * z));
}

static void drift(float *theta, const float *u, const float *c, size_t n, double s)
{
    for (size_t i = 0; i < n; i++) theta[i] += (float)(s * c[i] * u[i]);
}

/* gs = c o grad / T. */
static void scale_grad(float *gs, const float *grad, const float *c, size_t n, double T)
{
    for (size_t i = 0; i < n; i++) gs[i] = (float)(c[i] * (double)grad[i] / T);
}

/* psmile: the gradient noise, measured where it is exactly visible: run.c's gradient at the
 * start of a step and this sampler's last gradient of the previous step are taken at the same
 * theta on two independent minibatches, so their difference is the difference of two noise
 * draws, Var = 2 Var(noise) (whatever the model).  s_i^2 = running mean of (g_i - glast_i)^2 / 2
 * (decay --psmile-alpha), c_i = RMS(s) / s_i clipped to [1e-3, 1e3]. */
static void precondition_update(const sgld_step_ctx *ctx, const float *grad, float *state)
{
    const size_t n = ctx->n_params;
    const double a = ((const sgld_smile_opts *)ctx->opts)->alpha;
    float *c = state + n, *glast = state + 2 * n, *s2 = state + 3 * n, *sc = scalars(state, n);
    if (sc[S_GLAST] == 0.0f) return;
    int first = sc[S_NNOISE] == 0.0f;
    double ss = 0;
    for (size_t i = 0; i < n; i++) {
        double dg = (double)grad[i] - glast[i], v = 0.5 * dg * dg;
        s2[i] = first ? (float)v : (float)(a * s2[i] + (1.0 - a) * v);
        ss += s2[i];
    }
    sc[S_NNOISE] += 1.0f;
    double rms = sqrt(ss / (double)n);
    for (size_t i = 0; i < n; i++) {
        double s = sqrt((double)s2[i]);
        double ci = s > 0 && rms > 0 ? rms / s : 1.0;
        c[i] = (float)(ci < 1e-3 ? 1e-3 : ci > 1e3 ? 1e3 : ci);
    }
}

/* Running mean and variance of theta / c (rate max(1/k, 1e-3)); L = 0.4 sqrt(sum var). */
static void length_update(const sgld_step_ctx *ctx, const float *theta, float *state)
{
    const size_t n = ctx->n_params;
    float *c = state + n, *tm = state + 4 * n, *tv = state + 5 * n, *sc = scalars(state, n);
    double k = sc[S_NVAR] + 1.0, r = 1.0 / k < 1e-3 ? 1e-3 : 1.0 / k, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double y = theta[i] / c[i], d = y - tm[i];
        tm[i] = (float)(tm[i] + r * d);
        tv[i] = (float)((1.0 - r) * (tv[i] + r * d * d));
        sum += tv[i];
    }
    sc[S_NVAR] = (float)k;
    if (((const sgld_smile_opts *)ctx->opts)->L == 0.0) sc[S_L] = (float)(0.4 * sqrt(sum));
}

sgld_status sgld_smile_step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state,
                            int precondition)
{
    const size_t n = ctx->n_params;
    const sgld_config *cfg = ctx->cfg;
    const sgld_smile_opts *o = ctx->opts;
    const double T = ctx->temperature, v_target = o->energy_var;
    SGLD_CHECK(n >= 2, SGLD_ERR_ARG, "smile: needs at least 2 parameters, the model has %zu", n);
    SGLD_CHECK(ctx->gradient, SGLD_ERR_INTERNAL, "smile: needs the gradient callback");
    float *u = state, *c = state + n, *sc = scalars(state, n);
    float *theta0 = ctx->work, *gs = ctx->work + n, *g = ctx->work + 3 * n;
    const int adapting = ctx->step <= (uint64_t)cfg->burnin;

    if (sc[S_INIT] == 0.0f) {
        sc[S_EPS_HAT] = (float)ctx->eps;
        sc[S_L] = (float)(o->L > 0 ? o->L : 0.0);
        sc[S_INIT] = 1.0f;
    }
    int finite_grad = 1;
    for (size_t i = 0; i < n && finite_grad; i++) finite_grad = isfinite(grad[i]);
    if (precondition && adapting && finite_grad) precondition_update(ctx, grad, state);
    if (o->L == 0.0) {
        /* L = sqrt(d) while the step size settles (first half of burn-in, or always without
         * burn-in), then 0.4 sqrt(sum Var) from the variance over the second half. */
        if (adapting && 2 * ctx->step > (uint64_t)cfg->burnin) length_update(ctx, theta, state);
        else if (sc[S_NVAR] == 0.0f) sc[S_L] = (float)sqrt((double)n);
    }

    const double eps = fmin(sc[S_EPS_HAT], sc[S_CAP]);
    memcpy(theta0, theta, n * sizeof(float));
    double lp1 = ctx->lp, dK = 0;
    scale_grad(gs, grad, c, n, T);
    if (o->integrator == SGLD_SMILE_LEAPFROG) {
        dK += esh(u, gs, n, 0.5 * eps);
        drift(theta, u, c, n, eps);
        SGLD_TRY(ctx->gradient(ctx->gradient_self, theta, g, &lp1));
        scale_grad(gs, g, c, n, T);
        dK += esh(u, gs, n, 0.5 * eps);
    } else {
        dK += esh(u, gs, n, MCLACHLAN_B * eps);
        drift(theta, u, c, n, 0.5 * eps);
        SGLD_TRY(ctx->gradient(ctx->gradient_self, theta, g, &lp1));
        scale_grad(gs, g, c, n, T);
        dK += esh(u, gs, n, (1.0 - 2.0 * MCLACHLAN_B) * eps);
        drift(theta, u, c, n, 0.5 * eps);
        SGLD_TRY(ctx->gradient(ctx->gradient_self, theta, g, &lp1));
        scale_grad(gs, g, c, n, T);
        dK += esh(u, gs, n, MCLACHLAN_B * eps);
    }
    const double dE = dK - (lp1 - ctx->lp) / T;
    int ok = isfinite(dE);
    for (size_t i = 0; i < n && ok; i++) ok = isfinite(theta[i]) && isfinite(u[i]);
    sc[S_EPS] = (float)eps;
    sc[S_DE] = (float)dE;
    const double K = (double)sc[S_K_HI] + (double)sc[S_K_LO];
    if (!ok || dE * dE / (double)n > OUTLIER * v_target) {
        sc[S_ENERGY] = (float)(K - ctx->lp / T);
        memcpy(theta, theta0, n * sizeof(float));
        redraw(ctx, ctx->step, u);
        sc[S_CAP] = (float)(0.8 * eps);
        sc[S_RESET] = 1.0f;
        sc[S_NRESET] += 1.0f;
        sc[S_GLAST] = 0.0f; /* theta moved back: the last gradient is not at theta */
        return SGLD_OK;
    }
    sc[S_RESET] = 0.0f;
    const double K1 = K + dK;
    sc[S_K_HI] = (float)K1;
    sc[S_K_LO] = (float)(K1 - (double)sc[S_K_HI]);
    sc[S_ENERGY] = (float)(K1 - lp1 / T);
    memcpy(state + 2 * n, g, n * sizeof(float)); /* the gradient at the new theta (psmile) */
    sc[S_GLAST] = 1.0f;
    if (sc[S_CAP] < CAP_NONE) {
        double cap = 1.02 * sc[S_CAP];
        sc[S_CAP] = cap >= sc[S_EPS_HAT] ? CAP_NONE : (float)cap;
    }
    if (adapting) {
        /* eps_hat^-6 = X / W with X, W decayed sums; work relative to eps to stay in range. */
        const double decay = (TUNER_N - 1.0) / (TUNER_N + 1.0);
        double xi = dE * dE / ((double)n * v_target) + 1e-8;
        double lx = log(xi) / (6.0 * TUNER_TRUST), w = exp(-0.5 * lx * lx);
        double W = sc[S_WSUM], ratio = sc[S_EPS_HAT] / eps; /* (eps_hat / eps) */
        double x_rel = decay * W * pow(ratio, -6.0) + w * xi; /* X eps^6 */
        double W1 = decay * W + w;
        sc[S_EPS_HAT] = (float)(eps * pow(x_rel / W1, -1.0 / 6.0));
        sc[S_WSUM] = (float)W1;
    }
    /* partial refresh */
    double L = sc[S_L] > 0 ? sc[S_L] : eps;
    double a = exp(-eps / L), b = sqrt(1.0 - a * a) / sqrt((double)n);
    const sgld_rng_axpy op = {.b = (float)a, .sd = (float)b, .y = u, .sumsq = 1};
    double norm = 1.0 / sqrt(sgld_rng_normal_axpy(ctx->rng, ctx->step, SGLD_RNG_NOISE, n, &op));
    for (size_t i = 0; i < n; i++) u[i] = (float)(u[i] * norm);
    return SGLD_OK;
}

void sgld_smile_stats(const sgld_step_ctx *ctx, const float *theta, const float *state, double *out)
{
    (void)theta;
    const float *sc = state + 6 * ctx->n_params;
    out[0] = sc[S_DE];
    out[1] = sc[S_EPS];
    out[2] = sc[S_RESET];
    out[3] = sc[S_NRESET];
    out[4] = sc[S_ENERGY];
}

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    return sgld_smile_step(ctx, theta, grad, state, 0);
}

const sgld_sampler_type sgld_sampler_smile = {
    .name = "smile",
    .description = "stochastic microcanonical Langevin (Sommer et al. 2026), energy-variance tuner",
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .step = step,
    SGLD_SMILE_HOOKS,
};
