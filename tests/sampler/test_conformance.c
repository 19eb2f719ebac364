/* test_conformance.c - every registered sampler against targets with known answers (suite
 * 'stat').  The test LOOPS OVER THE REGISTRY: a sampler without an entry in `cases`
 * fails the suite.
 *
 * Target (1): theta ~ N(mu, Sigma) in 2-D, Sigma = [[1, 0.4], [0.4, 0.25]] (rho = 0.8), with
 * injected gradient noise modelled as a minibatch would produce it: at step t the log posterior
 * estimate is lp_t(theta) = -(theta - mu)' A (theta - mu) / 2 + xi_t' theta, A = Sigma^-1,
 * xi_t ~ N(0, Q) (the same xi_t for every gradient call of the step), so g = -A (theta - mu) + xi_t.
 * Q isotropic (4 I) and anisotropic ([[9, -2], [-2, 1]]).
 *
 * Expected moments:
 *   linear samplers (sgd, fsgd, sgld, csgld, sghmc, diag-sgld, and psgld given its
 *   preconditioner path):
 *     the chain is z' = F_t z + c_t + noise(N_t) (z = theta, or (theta, v) for sghmc), so its
 *     exact mean and covariance at every step follow m' = F m + c, S' = F S F' + N from the
 *     same start; the expectation of the kept draws' mean and covariance is the average over
 *     the kept steps (this includes the discretization bias, the gradient-noise bias, fsgd's
 *     Lyapunov covariance and csgld's non-stationarity exactly).  psgld: F_t, N_t use the
 *     sampler's own G_t read from its state after each step; what this misses is the
 *     correlation between G_t and theta, budget 2 (1 - a) for the Gamma term's O(1 - a).
 *     Observed: the covariance exceeds this law by 10-15% (2-3 MCSE) with or without
 *     --psgld-gamma -- G follows |g| over the last ~1 / (1 - a) steps, so the chain slows where
 *     |g| is large (away from the mode); Gamma, the derivative through this step's g^2 only,
 *     is (1 - a) times too small to undo it.  Reported, not hidden: it is within the tolerance
 *     only because the MCSE is ~4% at this length.
 *   sgnht (nonlinear: the thermostat alpha multiplies v): the target itself.  The thermostat
 *     holds the mean kinetic temperature at T whatever the gradient noise, so with isotropic
 *     noise only the discretization bias remains (O(eps lambda_max / alpha) ~ 1%: budget 3%);
 *     one scalar thermostat cannot equalize anisotropic noise: per direction the kinetic
 *     temperature is off by r_i - mean(r), r_i = eps Q_ii / (2 a) = 0.09 and 0.01 here, a
 *     variance bias of about 4% (budget 6%).  On linreg3 at eps = 4e-6 the gradient noise is
 *     eps V / (2 a) ~ 4% of the injected diffusion, unevenly spread: budget 5%.
 *   smile, psmile (nonlinear): the target itself.  Their bias is the integrator's, kept at
 *     Var[dE]/d = 5e-4 by the tuner; for a Gaussian, MCLMC's relative second-moment bias is of
 *     the order of Var[dE]/d (Robnik & Seljak 2024), ~ 1e-3 -- plus, with gradient noise, the
 *     bias SMILE's paper derives for anisotropic noise (psmile removes most of it).  Budget:
 *     3% of sd_i sd_j for covariances, 3% of sd_i for means; smile on anisotropic noise is
 *     reported, with a 15% budget (the known bias).
 * Tolerance: |estimate - expected| <= 4 MCSE + budget, MCSE from 40 batch means of the kept
 * draws (batches much longer than the integrated autocorrelation time: checked).
 *
 * Target (2): Bayesian linear regression, synthetic:linreg3 (C_ij = 0.8^|i-j|), through
 * sgld_run: posterior mean and sd of every element vs the exact posterior (see
 * tests/run/test_posterior.c), tolerance 4 MCSE + the per-sampler budget (`lin_budget`): the
 * SGLD-type variance bias is ~ eps (lambda_max + V) / 4 (V ~ 2000, the per-step gradient-noise
 * variance at B = 250) = 3%; SGHMC's gradient noise heats v by eps^2 V against 2 C eps, a
 * variance factor 1 + eps V / (2 C): 20% at eps = 2e-5, hence eps = 4e-6 (4%, sd 2%) with
 * beta-hat = 0; sgd/fsgd: the mean (their mode = the posterior mean here) within 4 MCSE + 0.02
 * sd and sd < 0.5 exact sd (fsgd's Lyapunov covariance, not the posterior).
 * Target (3): a 10-D Gaussian mixture, STAND-IN for the one in the SMILE paper (Sommer, Diao,
 *   Robnik, Seljak & Rugamer, arXiv 2602.06500): the paper's exact mixture (components, means,
 *   covariances, weights, noise, chain settings, how modes are counted) could not be retrieved.
 *   Searched: the arXiv HTML (v1 stored, only its abstract and introduction reachable; v2 not
 *   found), summaries of it (deeppaper, sciencestack, pith, koineu, wizwand: abstract level),
 *   and the authors' code, github.com/EmanuelSommer/SMILE: analytical/inference_models.py there
 *   defines only the ill-conditioned Gaussian, banana, funnel and Rosenbrock targets; a figure
 *   GMM_analytical.png exists, but no mixture code or parameters.  What that code does fix for
 *   its analytical targets, and this test follows: d = 10, every chain starts at the origin
 *   (analytical/run_experiments.py: initial_position = 0), and the gradient noise is a per-step
 *   random linear tilt of lp (sum over the minibatch of y_i . x), as xi_t here.
 *   Ours: 4 equal components N(m_k, I), m_k = +-3 e1 +-3 e2, xi_t ~ N(0, I); a draw is in the
 *   mode whose mean is nearest, i.e. the sign quadrant of (x1, x2).  Printed: modes visited by
 *   one chain and by 10 chains (and the first chain's mode switches).  Asserted: every kept draw
 *   is finite, and for the samplers that inject noise the 10 chains together visit >= 3 modes.
 *   Why 3: from the origin (a saddle of lp, where the gradient is exactly 0) the target, xi_t
 *   and every sampler are symmetric under sign flips of x1 and x2, so the mode a chain first
 *   falls into is uniform over the 4 and independent across chains (independent streams).
 *   P(10 chains reach <= 2 modes) = [6 (2^10 - 2) + 4] / 4^10 = 0.6%; mode switches only add.
 * Target (4): a NaN in the gradient at step 500 never reaches a kept draw: samplers with
 *   guardrails (smile, psmile) reject the step and count it in `n_resets`; for the others the
 *   run loop's finiteness check stops the run (asserted: the step leaves a non-finite theta, so
 *   run.c reports "diverged").
 *
 * ksgld (K-FAC) needs a model with dense/conv layers (`layers` in its case): the 2-D targets,
 * the mixture and the NaN test have no model, so the registry loop skips it there (its
 * prepare refuses a model without layers: tested in test_ksgld.c, with its noise covariance,
 * factors and a small network).  Its conformance case is target (2) with --model mlp
 * --net fc1, which is linreg exactly (f = w x + b, Gaussian noise --noise-sd, the same prior,
 * layout w then b).  There P ~ H^-1 (G = N E[g g^T] ~ N / noise_sd^2 at the posterior) and
 * eps = 0.1 is dimensionless: per eigen-direction of P H (eigenvalues lambda <= 1) the
 * variance factor is 1 / (1 - eps lambda / 4) plus the gradient noise eps P V / 4 ~ eps (N/B
 * - 1) / 4, a sd bias <= eps (1 + 1) / 8 = 2.5%: budget 3%.
 *
 * diag-sgld is the example plug-in (tools/examples/my_sampler.c): this program compiles it
 * and calls its sgld_plugin_init before anything else, so the registry loops meet it as they
 * would meet a plug-in's sampler.  Its M comes from a file the test writes for each target
 * (the case's `target` hook): m_i = var_i / max_j var_j, the target's marginal variances scaled
 * to at most 1.  It is linear: F = I - (eps/2) M A, N = (eps^2/4) M Q M + eps T M, with M the
 * values written (not read back from the sampler).  2-D: M = (1, 0.25), eps = 0.05 (eps
 * lambda_max(M^1/2 A M^1/2) = 0.25, as sgld's eps lambda_max(A) = 0.26).  linreg3: M <= I, so
 * both of SGLD's bias terms, eps lambda_max(M^1/2 H M^1/2) / 4 and eps lambda_max(M^1/2 V
 * M^1/2) / 4, are at most sgld's at the same step: sgld's eps and 3% budget.  Target (5), for diag-sgld only:
 * an ill-conditioned Gaussian (sd 1 and 0.01) where M = its marginal variances makes the
 * chain mix ~5000 times faster than sgld at the same stability margin (test_diag_ill_conditioned). */
#include "sgld_test.h"
#include "test_config_set.h"
#include "exact_linreg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgld/config.h"
#include "sgld/data.h"
#include "sgld/plugin.h"
#include "sgld/run.h"
#include "sgld/sampler.h"

enum { D = 2, DMAX = 10, ZMAX = 2 * DMAX, NB = 40 };

/* ---- the noisy Gaussian target ---- */

typedef struct {
    int d;
    double mu[DMAX], A[DMAX * DMAX], Lq[DMAX * DMAX]; /* Lq Lq' = Q */
    int mixture;       /* target (3) instead */
    double xi[DMAX];   /* this step's gradient noise */
    uint64_t nan_step; /* inject a NaN into the gradient at this step (0: never) */
    uint64_t t;
    sgld_rng rng;
} target;

static void draw_xi(target *tg, uint64_t t)
{
    double z[DMAX];
    tg->t = t;
    sgld_rng_normal(&tg->rng, t, SGLD_RNG_DATA, 0, (size_t)tg->d, z);
    for (int i = 0; i < tg->d; i++) {
        tg->xi[i] = 0;
        for (int j = 0; j <= i; j++) tg->xi[i] += tg->Lq[i * tg->d + j] * z[j];
    }
}

static sgld_status gradient(void *self, const float *theta, float *grad, double *lp)
{
    target *tg = self;
    const int d = tg->d;
    double l = 0;
    if (tg->mixture) {
        /* 4 equal components N(m_k, I), m_k = (+-3, +-3, 0, ...) */
        double w[4], mx = -INFINITY, s = 0;
        for (int k = 0; k < 4; k++) {
            double m0 = k & 1 ? 3 : -3, m1 = k & 2 ? 3 : -3, q = 0;
            for (int i = 0; i < d; i++) {
                double mi = i == 0 ? m0 : i == 1 ? m1 : 0, e = theta[i] - mi;
                q += e * e;
            }
            w[k] = -0.5 * q;
            mx = fmax(mx, w[k]);
        }
        for (int k = 0; k < 4; k++) s += w[k] = exp(w[k] - mx);
        for (int i = 0; i < d; i++) {
            double gi = 0;
            for (int k = 0; k < 4; k++) {
                double mi = i == 0 ? (k & 1 ? 3 : -3) : i == 1 ? (k & 2 ? 3 : -3) : 0;
                gi += w[k] / s * (mi - theta[i]);
            }
            grad[i] = (float)(gi + tg->xi[i]);
            l += tg->xi[i] * theta[i];
        }
        l += mx + log(s / 4);
    } else {
        for (int i = 0; i < d; i++) {
            double gi = 0;
            for (int j = 0; j < d; j++) gi -= tg->A[i * d + j] * (theta[j] - tg->mu[j]);
            l += 0.5 * gi * (theta[i] - tg->mu[i]) + tg->xi[i] * theta[i];
            grad[i] = (float)(gi + tg->xi[i]);
        }
    }
    if (tg->nan_step && tg->t == tg->nan_step) grad[0] = NAN;
    *lp = l;
    return SGLD_OK;
}

/* diag-sgld's M (tools/examples/my_sampler.c): the values the test last wrote to its
 * --precond-file (target_diag), which the exact law uses. */
static float diag_M[DMAX];

/* ---- linear-chain moments ---- */

typedef struct {
    int k;                      /* dimension of z */
    double m[ZMAX], S[ZMAX * ZMAX];
} lin_law;

static void lin_step(lin_law *L, const double *F, const double *c, const double *N)
{
    const int k = L->k;
    double m[ZMAX], FS[ZMAX * ZMAX], S[ZMAX * ZMAX];
    for (int i = 0; i < k; i++) {
        m[i] = c[i];
        for (int j = 0; j < k; j++) m[i] += F[i * k + j] * L->m[j];
    }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            FS[i * k + j] = 0;
            for (int l = 0; l < k; l++) FS[i * k + j] += F[i * k + l] * L->S[l * k + j];
        }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            S[i * k + j] = N[i * k + j];
            for (int l = 0; l < k; l++) S[i * k + j] += FS[i * k + l] * F[j * k + l];
        }
    memcpy(L->m, m, sizeof m);
    memcpy(L->S, S, sizeof S);
}

/* The linear map of sampler `name` for this step (after it ran: state holds G_t / m_t).
 * Returns 0 for samplers without one. */
static int linear_map(const char *name, const sgld_step_ctx *ctx, const float *state, const target *tg,
                      lin_law *L, double *F, double *c, double *N)
{
    const int d = tg->d;
    const double eps = ctx->eps, T = ctx->temperature;
    double Q[DMAX * DMAX];
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            Q[i * d + j] = 0;
            for (int l = 0; l < d; l++) Q[i * d + j] += tg->Lq[i * d + l] * tg->Lq[j * d + l];
        }
    int noisy = strcmp(name, "sgld") == 0 || strcmp(name, "diag-sgld") == 0 ||
                (strcmp(name, "csgld") == 0 && ctx->cfg && sgld_sampler_keep_draw(sgld_sampler_find("csgld"), ctx->cfg, ctx->step));
    if (!strcmp(name, "sgd") || !strcmp(name, "fsgd") || !strcmp(name, "sgld") || !strcmp(name, "csgld") ||
        !strcmp(name, "psgld") || !strcmp(name, "diag-sgld")) {
        double G[DMAX];
        const double lambda = strcmp(name, "psgld") ? 0.0 : sgld_test_get_double(ctx->cfg, "psgld-lambda");
        for (int i = 0; i < d; i++)
            G[i] = !strcmp(name, "psgld")       ? 1.0 / (lambda + sqrt((double)state[i]))
                   : !strcmp(name, "diag-sgld") ? diag_M[i] /* what the test wrote, not the state */
                                                : 1.0;
        L->k = d;
        for (int i = 0; i < d; i++) {
            c[i] = 0;
            for (int j = 0; j < d; j++) {
                F[i * d + j] = (i == j) - 0.5 * eps * G[i] * tg->A[i * d + j];
                c[i] += 0.5 * eps * G[i] * tg->A[i * d + j] * tg->mu[j];
                N[i * d + j] = 0.25 * eps * eps * G[i] * G[j] * Q[i * d + j] +
                               ((noisy || !strcmp(name, "psgld")) && i == j ? eps * T * G[i] : 0.0);
            }
        }
        return 1;
    }
    if (!strcmp(name, "sghmc")) {
        const int k = 2 * d;
        const double C = sgld_test_get_double(ctx->cfg, "friction"),
                     beta = sgld_test_get_double(ctx->cfg, "sghmc-beta");
        const float *m = state + d;
        L->k = k;
        memset(F, 0, sizeof(double) * k * k);
        memset(N, 0, sizeof(double) * k * k);
        /* z = (theta, v): v' = (1-C) v + eps m (-A (theta - mu) + xi) + n;  theta' = theta + v' */
        for (int i = 0; i < d; i++) {
            double ci = 0;
            for (int j = 0; j < d; j++) {
                double a = eps * m[i] * tg->A[i * d + j];
                F[(d + i) * k + j] = -a;
                F[i * k + j] = (i == j) - a;
                ci += a * tg->mu[j];
            }
            F[(d + i) * k + d + i] = 1 - C;
            F[i * k + d + i] = 1 - C;
            c[i] = c[d + i] = ci;
            for (int j = 0; j < d; j++) {
                double w = eps * eps * m[i] * m[j] * Q[i * d + j] + (i == j ? 2 * (C - beta) * eps * T * m[i] : 0);
                N[i * k + j] = N[(d + i) * k + j] = N[i * k + d + j] = N[(d + i) * k + d + j] = w;
            }
        }
        return 1;
    }
    return 0;
}

/* ---- one chain on a target, mimicking run.c's loop ---- */

typedef struct {
    long n;                            /* kept draws */
    double *x;                         /* [n][d] */
    double exp_m[DMAX], exp_S[DMAX * DMAX]; /* expected (linear samplers) */
    int linear;
    double last_stats[SGLD_SAMPLER_MAX_STATS];
    int diverged;                      /* run.c would stop: non-finite theta */
    double mean_G;                     /* psgld: mean preconditioner (reported) */
} chain;

static void run_chain(const sgld_sampler_type *s, const sgld_config *cfg, target *tg, const float *theta0,
                      uint32_t chain_id, chain *out)
{
    const int d = tg->d;
    const size_t ns = sgld_sampler_state_size(s, (size_t)d);
    float theta[DMAX], grad[DMAX], work[4 * DMAX];
    float *state = calloc(ns ? ns : 1, sizeof *state);
    sgld_rng rng = {cfg->seed, chain_id};
    tg->rng = (sgld_rng){cfg->seed + 1000u, chain_id};
    memcpy(theta, theta0, sizeof(float) * d);
    sgld_step_ctx ctx = {.n_params = (size_t)d, .temperature = cfg->temperature, .rng = &rng, .work = work,
                         .cfg = cfg, .opts = sgld_config_opts(cfg, s), .gradient = gradient,
                         .gradient_self = tg};
    const double lambda = strcmp(s->name, "psgld") ? 0.0 : sgld_test_get_double(cfg, "psgld-lambda");
    sgld_sampler_init(s, &ctx, theta, state);
    lin_law L = {0};
    double F[ZMAX * ZMAX], c[ZMAX], N[ZMAX * ZMAX], sum_m[DMAX] = {0}, sum_mm[DMAX * DMAX] = {0};
    for (int i = 0; i < d; i++) L.m[i] = theta0[i];
    memset(out, 0, sizeof *out);
    out->x = malloc(sizeof(double) * d * (size_t)cfg->steps);
    out->linear = 1;
    double sumG = 0;
    for (int64_t t = 1; t <= cfg->steps; t++) {
        double lp;
        draw_xi(tg, (uint64_t)t);
        gradient(tg, theta, grad, &lp);
        ctx.step = (uint64_t)t;
        ctx.eps = sgld_sampler_step_size(s, cfg, (uint64_t)t);
        ctx.lp = lp;
        assert_int_equal(s->step(&ctx, theta, grad, state), SGLD_OK);
        int finite = isfinite(lp);
        for (int i = 0; i < d; i++) finite = finite && isfinite(theta[i]);
        if (!finite) {
            out->diverged = 1;
            break;
        }
        if (out->linear) {
            if (linear_map(s->name, &ctx, state, tg, &L, F, c, N)) lin_step(&L, F, c, N);
            else out->linear = 0;
        }
        if (t > cfg->burnin && (t - cfg->burnin) % cfg->thin == 0 && sgld_sampler_keep_draw(s, cfg, (uint64_t)t)) {
            for (int i = 0; i < d; i++) out->x[out->n * d + i] = theta[i];
            out->n++;
            if (s->n_stats) s->stats(&ctx, theta, state, out->last_stats);
            for (int i = 0; i < d; i++) {
                sum_m[i] += L.m[i];
                for (int j = 0; j < d; j++) sum_mm[i * d + j] += L.S[i * L.k + j] + L.m[i] * L.m[j];
            }
            if (!strcmp(s->name, "psgld"))
                for (int i = 0; i < d; i++) sumG += 1.0 / (lambda + sqrt((double)state[i])) / d;
        }
    }
    if (out->n) {
        for (int i = 0; i < d; i++) out->exp_m[i] = sum_m[i] / out->n;
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) out->exp_S[i * d + j] = sum_mm[i * d + j] / out->n - out->exp_m[i] * out->exp_m[j];
        out->mean_G = sumG / out->n;
    }
    free(state);
}

/* Estimate, and its MCSE from NB batch means, of the mean (k = -1) of coordinate i or of the
 * covariance (i, j). */
static void estimate(const chain *ch, int d, int i, int j, double *est, double *mcse)
{
    const long n = ch->n, b = n / NB;
    double m[DMAX] = {0};
    for (long r = 0; r < n; r++)
        for (int a = 0; a < d; a++) m[a] += ch->x[r * d + a] / n;
    double bm[NB], tot = 0;
    for (int k = 0; k < NB; k++) {
        double s = 0;
        for (long r = k * b; r < (k + 1) * b; r++)
            s += j < 0 ? ch->x[r * d + i] : (ch->x[r * d + i] - m[i]) * (ch->x[r * d + j] - m[j]);
        bm[k] = s / b;
        tot += bm[k];
    }
    tot /= NB;
    double v = 0;
    for (int k = 0; k < NB; k++) v += (bm[k] - tot) * (bm[k] - tot);
    *est = tot;
    *mcse = sqrt(v / (NB - 1) / NB);
}

/* ---- per-sampler cases ---- */

typedef struct {
    const char *name;     /* registered sampler */
    const char *variant;  /* printed */
    void (*setup)(sgld_config *cfg);
    double budget;        /* relative bias budget (nonlinear part), see the file comment */
    double budget_aniso;  /* ... with anisotropic noise */
    double lin_step;      /* linreg3: step size */
    double lin_budget;    /* linreg3: relative budget on sd (and in sd units on the mean) */
    int layers;           /* needs a model with dense/conv layers (ksgld): see the file comment */
    /* Optional: options that depend on the target, called after setup with its dimension d
     * and its marginal variances var[0..d) (diag-sgld writes its --precond-file from them). */
    void (*target)(sgld_config *cfg, int d, const double *var);
} sampler_case;

static void setup_sgd(sgld_config *c) { c->step_size = 0.02; }
static void setup_sgld(sgld_config *c) { c->step_size = 0.02; }
static void setup_psgld(sgld_config *c) { c->step_size = 0.05; }
static void setup_psgld_gamma(sgld_config *c) { c->step_size = 0.05; sgld_test_set(c, "psgld-gamma", "on"); }
static void setup_sghmc(sgld_config *c) { c->step_size = 0.002; }
static void setup_sghmc_adapt(sgld_config *c) { c->step_size = 0.002; sgld_test_set(c, "sghmc-adapt", "on"); }
static void setup_csgld(sgld_config *c) { c->step_size = 0.2; sgld_test_set(c, "cycles", "40"); c->burnin = 0; }
static void setup_smile(sgld_config *c) { c->step_size = 0.1; }
static void setup_sgnht(sgld_config *c) { c->step_size = 0.002; }
static void setup_ksgld(sgld_config *c) { c->step_size = 0.1; }
static void setup_diag(sgld_config *c) { c->step_size = 0.05; }

/* diag-sgld's M for a target: m_i = var_i / max_j var_j (<= 1), written as the floats the
 * sampler will read (%.9g reads back exactly) to a file per d, kept in diag_M for the exact
 * law. */
static void target_diag(sgld_config *c, int d, const double *var)
{
    double vmax = 0;
    for (int i = 0; i < d; i++) vmax = fmax(vmax, var[i]);
    char path[SGLD_PATH_MAX];
    snprintf(path, sizeof path, "%.900s/diag-M-%d.txt", sgld_test_tmpdir(), d);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "# diag-sgld preconditioner: the target's marginal variances / their largest\n");
    for (int i = 0; i < d; i++) {
        diag_M[i] = (float)(var[i] / vmax);
        fprintf(f, "%.9g\n", (double)diag_M[i]);
    }
    assert_int_equal(fclose(f), 0);
    sgld_test_set(c, "precond-file", "%s", path);
}

static const sampler_case cases[] = {
    {"sgd", "", setup_sgd, 0, 0, 2e-5, 0, 0, NULL},
    {"sgld", "", setup_sgld, 0, 0, 2.4e-5, 0.03, 0, NULL},
    {"fsgd", "", setup_sgd, 0, 0, 2e-5, 0, 0, NULL},
    {"psgld", "", setup_psgld, 0.02, 0.02, 1e-3, 0.05, 0, NULL},
    {"psgld", "--psgld-gamma", setup_psgld_gamma, 0.02, 0.02, 1e-3, 0.05, 0, NULL},
    {"sghmc", "", setup_sghmc, 0, 0, 4e-6, 0.03, 0, NULL},
    {"sghmc", "--sghmc-adapt", setup_sghmc_adapt, 0, 0, 4e-6, 0.05, 0, NULL},
    {"csgld", "", setup_csgld, 0, 0, 2e-4, 0.05, 0, NULL},
    {"ksgld", "", setup_ksgld, 0, 0, 0.1, 0.03, 1, NULL},
    {"smile", "", setup_smile, 0.03, 0.15, 1e-3, 0.05, 0, NULL},
    {"psmile", "", setup_smile, 0.03, 0.03, 1e-3, 0.05, 0, NULL},
    {"sgnht", "", setup_sgnht, 0.03, 0.06, 4e-6, 0.05, 0, NULL},
    {"diag-sgld", "", setup_diag, 0, 0, 2.4e-5, 0.03, 0, target_diag},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void base_config(sgld_config *cfg)
{
    sgld_config_defaults(cfg);
    cfg->steps = 200000;
    cfg->burnin = 5000;
    cfg->thin = 1;
    cfg->seed = 20250605;
}

/* Every registered sampler has a case (the conformance suite loops over the registry). */
static void test_registry_covered(void **state)
{
    (void)state;
    for (size_t k = 0; k < sgld_sampler_count(); k++) {
        const sgld_sampler_type *s = sgld_sampler_at(k);
        int found = 0;
        for (size_t c = 0; c < N_CASES; c++) found |= !strcmp(cases[c].name, s->name);
        if (!found) fail_msg("sampler '%s' is registered but has no conformance case", s->name);
        assert_ptr_equal(sgld_sampler_find(s->name), s);
    }
    assert_null(sgld_sampler_at(sgld_sampler_count()));
}

static void set_target(target *tg, int aniso)
{
    memset(tg, 0, sizeof *tg);
    tg->d = D;
    const double S[4] = {1.0, 0.4, 0.4, 0.25}, det = S[0] * S[3] - S[1] * S[2];
    tg->mu[0] = 1.5;
    tg->mu[1] = -0.5;
    tg->A[0] = S[3] / det;
    tg->A[1] = tg->A[2] = -S[1] / det;
    tg->A[3] = S[0] / det;
    if (aniso) { /* Q = [[9, -2], [-2, 1]] */
        tg->Lq[0] = 3;
        tg->Lq[2] = -2.0 / 3;
        tg->Lq[3] = sqrt(1 - 4.0 / 9);
    } else {
        tg->Lq[0] = tg->Lq[3] = 2;
    }
}

static void test_gaussian_2d(void **state)
{
    (void)state;
    const double Sig[4] = {1.0, 0.4, 0.4, 0.25};
    int failures = 0;
    for (size_t k = 0; k < sgld_sampler_count(); k++) {
        const sgld_sampler_type *s = sgld_sampler_at(k);
        for (size_t ci = 0; ci < N_CASES; ci++) {
            const sampler_case *sc = &cases[ci];
            if (strcmp(sc->name, s->name) || sc->layers) continue;
            for (int aniso = 0; aniso <= 1; aniso++) {
                sgld_config cfg;
                base_config(&cfg);
                sc->setup(&cfg);
                if (sc->target) sc->target(&cfg, D, (const double[D]){Sig[0], Sig[3]});
                target tg;
                set_target(&tg, aniso);
                const float theta0[D] = {0.25f, -0.75f};
                chain ch;
                run_chain(s, &cfg, &tg, theta0, 1, &ch);
                assert_false(ch.diverged);
                double budget = aniso ? sc->budget_aniso : sc->budget;
                const double *em = ch.linear ? ch.exp_m : tg.mu, *eS = ch.linear ? ch.exp_S : Sig;
                printf("  %-6s %-14s %-5s n=%ld %s", s->name, sc->variant, aniso ? "aniso" : "iso", ch.n,
                       ch.linear ? "exact-chain" : "target");
                if (!strcmp(s->name, "psgld")) printf(" meanG=%.3g", ch.mean_G);
                if (s->n_stats) printf(" %s=%.4g", s->stat_names[1 < s->n_stats ? 1 : 0], ch.last_stats[1 < s->n_stats ? 1 : 0]);
                printf("\n");
                for (int q = 0; q < 5; q++) {
                    int i = q < 2 ? q : q == 2 ? 0 : q == 3 ? 0 : 1, j = q < 2 ? -1 : q == 2 ? 0 : q == 3 ? 1 : 1;
                    double est, mcse;
                    estimate(&ch, D, i, j, &est, &mcse);
                    double want = j < 0 ? em[i] : eS[i * D + j];
                    double scale = j < 0 ? sqrt(Sig[i * D + i]) : sqrt(Sig[i * D + i] * Sig[j * D + j]);
                    double tol = 4 * mcse + budget * scale;
                    int bad = fabs(est - want) > tol;
                    printf("      %s%d%s: %9.5f want %9.5f (target %8.5f)  dev %+6.2f MCSE  tol %.4f%s\n",
                           j < 0 ? "mean[" : "cov[", i, j < 0 ? "]  " : (j == 0 ? ",0]" : ",1]"), est, want,
                           j < 0 ? tg.mu[i] : Sig[i * D + j], (est - want) / mcse, tol, bad ? "  FAIL" : "");
                    failures += bad;
                }
                free(ch.x);
            }
        }
    }
    if (failures) fail_msg("%d moment(s) outside tolerance", failures);
}

/* ---- (2) Bayesian linear regression on a correlated design, through sgld_run ---- */

enum { PMAX = EXACT_LINREG_PMAX };

static void test_linreg3_posterior(void **state)
{
    (void)state;
    int p;
    double mu[PMAX], sd[PMAX];
    exact_linreg_posterior("synthetic:linreg3", 0.5, 1.0, &p, mu, sd); /* the run config: noise 0.5, prior 1 */
    int failures = 0;
    for (size_t k = 0; k < sgld_sampler_count(); k++) {
        const sgld_sampler_type *s = sgld_sampler_at(k);
        for (size_t ci = 0; ci < N_CASES; ci++) {
            const sampler_case *sc = &cases[ci];
            if (strcmp(sc->name, s->name) || sc->variant[0]) continue; /* variants: 2-D only */
            sgld_config cfg;
            base_config(&cfg);
            sc->setup(&cfg);
            snprintf(cfg.data, sizeof cfg.data, "synthetic:linreg3");
            snprintf(cfg.model, sizeof cfg.model, "%s", sc->layers ? "mlp" : "linreg");
            if (sc->layers) sgld_test_set(&cfg, "net", "fc1"); /* = linreg: w x + b, w then b */
            snprintf(cfg.sampler, sizeof cfg.sampler, "%s", s->name);
            sgld_test_set(&cfg, "noise-sd", "0.5");
            cfg.prior_sd = 1.0;
            cfg.chains = 1;
            cfg.batch_size = 250;
            cfg.steps = 100000;
            cfg.burnin = !strcmp(s->name, "csgld") ? 0 : 10000;
            cfg.step_size = sc->lin_step;
            cfg.quiet = 1;
            if (sc->target) {
                double var[PMAX];
                for (int i = 0; i < p; i++) var[i] = sd[i] * sd[i];
                sc->target(&cfg, p, var);
            }
            /* csgld: its kept draws come from sampling phases that start at the contracted end of
             * an SGD phase; on linreg3 (slowest relaxation ~ 2 / (eps lambda_min) = 360 steps at
             * the phase's largest step) they cannot be posterior draws.  Its exact law is checked
             * in 2-D; here the mean is checked and the sd only bounded: 0.3 <= sd / exact <= 1.1. */
            const int cyclical = !strcmp(s->name, "csgld");
            if (cyclical) sgld_test_set(&cfg, "cycles", "10");
            sgld_run_report rep;
            assert_int_equal(sgld_run(MPI_COMM_SELF, &cfg, 1, &rep), SGLD_OK);
            assert_non_null(rep.draws);
            assert_int_equal((int)rep.model.n_params, p);
            chain ch = {.n = rep.n_draws, .x = malloc(sizeof(double) * p * rep.n_draws)};
            for (long r = 0; r < ch.n * p; r++) ch.x[r] = rep.draws[r];
            sgld_run_report_free(&rep);
            const int optimizer = !s->adds_noise || !strcmp(s->name, "fsgd");
            for (int i = 0; i < p; i++) {
                double m, mm, v, mv;
                estimate(&ch, p, i, -1, &m, &mm);
                estimate(&ch, p, i, i, &v, &mv);
                double sdv = sqrt(v), msd = mv / (2 * sdv);
                double tol_m = 4 * mm + (optimizer ? 0.02 : sc->lin_budget) * sd[i];
                double tol_s = 4 * msd + sc->lin_budget * sd[i];
                int bad_m = fabs(m - mu[i]) > tol_m;
                int bad_s = optimizer ? !(sdv < 0.5 * sd[i])
                            : cyclical ? !(sdv > 0.3 * sd[i] && sdv < 1.1 * sd[i])
                                       : fabs(sdv - sd[i]) > tol_s;
                printf("  %-6s %-14s theta[%d]: mean %+.5f exact %+.5f (%+.3f sd, tol %.3f sd)  sd %.5f exact %.5f "
                       "(%+.1f%%, tol %.1f%%)%s\n", s->name, sc->variant, i, m, mu[i], (m - mu[i]) / sd[i],
                       tol_m / sd[i], sdv, sd[i], 100 * (sdv / sd[i] - 1), optimizer ? 50.0 : 100 * tol_s / sd[i],
                       bad_m || bad_s ? "  FAIL" : "");
                failures += bad_m + bad_s;
            }
            free(ch.x);
        }
    }
    if (failures) fail_msg("%d linreg3 posterior moment(s) outside tolerance", failures);
}

/* ---- (3) the 10-D Gaussian mixture (stand-in, see the file comment): modes visited ---- */

static void test_mixture_modes(void **state)
{
    (void)state;
    enum { N_CHAINS = 10, N_MODES = 4, MIN_MODES_NOISY = 3 };
    int failures = 0;
    for (size_t k = 0; k < sgld_sampler_count(); k++) {
        const sgld_sampler_type *s = sgld_sampler_at(k);
        const sampler_case *sc = NULL;
        for (size_t ci = 0; ci < N_CASES && !sc; ci++)
            if (!strcmp(cases[ci].name, s->name)) sc = &cases[ci];
        assert_non_null(sc);
        if (sc->layers) {
            printf("  %-6s modes visited: not run (no layers in this target)\n", s->name);
            continue;
        }
        sgld_config cfg;
        base_config(&cfg);
        sc->setup(&cfg);
        cfg.steps = 20000;
        cfg.burnin = !strcmp(s->name, "csgld") ? 0 : 2000;
        if (!strcmp(s->name, "csgld")) sgld_test_set(&cfg, "cycles", "10");
        if (sc->target) { /* the mixture's marginal variances: 9 + 1 along x1 and x2, 1 elsewhere */
            double var[DMAX];
            for (int i = 0; i < DMAX; i++) var[i] = i < 2 ? 10.0 : 1.0;
            sc->target(&cfg, DMAX, var);
        }
        int visited_any[N_MODES] = {0}, one_chain = 0, switches0 = 0;
        long n_draws0 = 0;
        for (uint32_t c = 0; c < N_CHAINS; c++) {
            target tg = {0};
            tg.d = DMAX;
            tg.mixture = 1;
            for (int i = 0; i < DMAX; i++) tg.Lq[i * DMAX + i] = 1.0; /* Q = I */
            const float theta0[DMAX] = {0}; /* the origin, as the authors' analytical runs */
            chain ch;
            run_chain(s, &cfg, &tg, theta0, 100 + c, &ch);
            assert_false(ch.diverged);
            assert_true(ch.n > 0);
            int visited[N_MODES] = {0}, last = -1, sw = 0;
            for (long r = 0; r < ch.n; r++) {
                for (int i = 0; i < DMAX; i++) assert_true(isfinite(ch.x[r * DMAX + i]));
                int q = (ch.x[r * DMAX] > 0) + 2 * (ch.x[r * DMAX + 1] > 0);
                visited[q] = visited_any[q] = 1;
                sw += last >= 0 && q != last;
                last = q;
            }
            if (c == 0) {
                one_chain = visited[0] + visited[1] + visited[2] + visited[3];
                switches0 = sw;
                n_draws0 = ch.n;
            }
            free(ch.x);
        }
        int all = visited_any[0] + visited_any[1] + visited_any[2] + visited_any[3];
        int bad = s->adds_noise && all < MIN_MODES_NOISY;
        printf("  %-6s modes visited: one chain %d of %d (%ld draws, %d switches), %d chains %d of %d%s\n", s->name,
               one_chain, N_MODES, n_draws0, switches0, N_CHAINS, all, N_MODES,
               bad ? "  FAIL" : s->adds_noise ? "" : "  (optimizer: reported)");
        failures += bad;
    }
    if (failures) fail_msg("%d noisy sampler(s): %d chains from the origin visit < %d modes", failures, N_CHAINS,
                           MIN_MODES_NOISY);
}

/* ---- (4) a NaN in the gradient ---- */

static void test_nan_guardrail(void **state)
{
    (void)state;
    for (size_t k = 0; k < sgld_sampler_count(); k++) {
        const sgld_sampler_type *s = sgld_sampler_at(k);
        const sampler_case *sc = NULL;
        for (size_t ci = 0; ci < N_CASES && !sc; ci++)
            if (!strcmp(cases[ci].name, s->name)) sc = &cases[ci];
        if (sc->layers) {
            printf("  %-6s NaN: not run (no layers in this target)\n", s->name);
            continue;
        }
        sgld_config cfg;
        base_config(&cfg);
        sc->setup(&cfg);
        cfg.steps = 3000;
        cfg.burnin = 100;
        if (!strcmp(s->name, "csgld")) cfg.burnin = 0;
        if (sc->target) sc->target(&cfg, D, (const double[D]){1.0, 0.25});
        target tg;
        set_target(&tg, 0);
        tg.nan_step = 1500; /* in a sampling phase of csgld too (its last cycle starts at 2251) */
        const float theta0[D] = {0.25f, -0.75f};
        chain ch;
        run_chain(s, &cfg, &tg, theta0, 3, &ch);
        int guarded = !strcmp(s->name, "smile") || !strcmp(s->name, "psmile");
        for (long r = 0; r < ch.n * D; r++) assert_true(isfinite(ch.x[r]));
        if (guarded) {
            assert_false(ch.diverged);
            assert_string_equal(s->stat_names[3], "n_resets");
            printf("  %-6s NaN at step 1500: step rejected, n_resets = %g, %ld finite draws\n", s->name,
                   ch.last_stats[3], ch.n);
            assert_true(ch.last_stats[3] >= 1);
        } else {
            printf("  %-6s NaN at step 1500: theta non-finite -> run.c stops the run (\"diverged\"), %ld draws kept before\n",
                   s->name, ch.n);
            assert_true(ch.diverged);
        }
        free(ch.x);
    }
}

/* ---- (5) diag-sgld on an ill-conditioned Gaussian: what its M is for ---- */

/* The integrated autocorrelation time of coordinate 0 of the stationary chain z' = F z + c +
 * N(0, N) in 2-D: with S = sum_k F^k N F^k' (the stationary covariance, summed by doubling),
 * 1 + 2 sum_{k >= 1} (F^k S)_00 / S_00 = ((I - F)^-1 (I + F) S)_00 / S_00. */
static double iact0(const double *F, const double *N)
{
    double S[4], P[4], T[4];
    memcpy(S, N, sizeof S);
    memcpy(P, F, sizeof P);
    for (int it = 0; it < 64; it++) { /* S += P S P', P = P^2: 2^64 terms */
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) T[i * 2 + j] = P[i * 2] * S[j] + P[i * 2 + 1] * S[2 + j];
        double add[4], sq[4];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
                add[i * 2 + j] = T[i * 2] * P[j * 2] + T[i * 2 + 1] * P[j * 2 + 1];
                sq[i * 2 + j] = P[i * 2] * P[j] + P[i * 2 + 1] * P[2 + j];
            }
        for (int k = 0; k < 4; k++) S[k] += add[k], P[k] = sq[k];
    }
    const double a = 1 - F[0], b = -F[1], c = -F[2], d = 1 - F[3], det = a * d - b * c; /* I - F */
    const double inv[4] = {d / det, -b / det, -c / det, a / det};
    const double IpF[4] = {1 + F[0], F[1], F[2], 1 + F[3]};
    const double r0[2] = {inv[0] * IpF[0] + inv[1] * IpF[2], inv[0] * IpF[1] + inv[1] * IpF[3]};
    return (r0[0] * S[0] + r0[1] * S[2]) / S[0];
}

/* sd 1 and 0.01, rho 0.5 (condition number ~ 1.3e4) with isotropic gradient noise Q = 4 I.
 * M = the marginal variances (1, 1e-4) makes M^(1/2) A M^(1/2) the inverse correlation
 * matrix, eigenvalues 1 / (1 +- rho) = 0.67 and 2, so eps = 0.125 (eps lambda_max = 0.25).
 * Asserted: the five moments within 4 MCSE of the chain's exact law (as in (1)), and the
 * integrated autocorrelation time of x0 that the 40 batch means measure (n MCSE^2 / var)
 * within [0.09, 1.91] x the exact law's: the batch-means variance has 39 degrees of freedom,
 * relative sd sqrt(2 / 39) = 0.23, and 4 of those.  Printed beside it: sgld's exact IACT at the
 * same eps lambda_max on this target, the mixing M buys. */
static void test_diag_ill_conditioned(void **state)
{
    (void)state;
    const sgld_sampler_type *s = sgld_sampler_find("diag-sgld");
    assert_non_null(s);
    const double sd0 = 1.0, sd1 = 0.01, rho = 0.5;
    const double Sig[4] = {sd0 * sd0, rho * sd0 * sd1, rho * sd0 * sd1, sd1 * sd1};
    const double det = Sig[0] * Sig[3] - Sig[1] * Sig[2];
    target tg;
    memset(&tg, 0, sizeof tg);
    tg.d = D;
    tg.mu[0] = 1.5;
    tg.mu[1] = -0.005;
    tg.A[0] = Sig[3] / det;
    tg.A[1] = tg.A[2] = -Sig[1] / det;
    tg.A[3] = Sig[0] / det;
    tg.Lq[0] = tg.Lq[3] = 2;
    sgld_config cfg;
    base_config(&cfg);
    target_diag(&cfg, D, (const double[D]){Sig[0], Sig[3]});
    cfg.step_size = 0.25 * (1 - rho);
    const float theta0[D] = {0.25f, -0.0075f};
    chain ch;
    run_chain(s, &cfg, &tg, theta0, 1, &ch);
    assert_false(ch.diverged);
    assert_true(ch.linear);
    int failures = 0;
    printf("  diag-sgld ill-conditioned: sd %g and %g, rho %g, M = (%g, %g), eps %g, n=%ld\n", sd0, sd1, rho,
           (double)diag_M[0], (double)diag_M[1], cfg.step_size, ch.n);
    for (int q = 0; q < 5; q++) {
        int i = q < 2 ? q : q == 4 ? 1 : 0, j = q < 2 ? -1 : q == 2 ? 0 : 1;
        double est, mcse;
        estimate(&ch, D, i, j, &est, &mcse);
        double want = j < 0 ? ch.exp_m[i] : ch.exp_S[i * D + j];
        int bad = fabs(est - want) > 4 * mcse;
        printf("      %s%d%s: %11.4e want %11.4e (target %11.4e)  dev %+6.2f MCSE%s\n", j < 0 ? "mean[" : "cov[", i,
               j < 0 ? "]  " : (j == 0 ? ",0]" : ",1]"), est, want, j < 0 ? tg.mu[i] : Sig[i * D + j],
               (est - want) / mcse, bad ? "  FAIL" : "");
        failures += bad;
    }
    /* the exact IACTs of x0: diag-sgld at eps, sgld at eps_s = 0.25 / lambda_max(A) */
    const double eps = cfg.step_size, T = cfg.temperature, Q = 4.0;
    const double half_tr = 0.5 * (tg.A[0] + tg.A[3]);
    const double lmax = half_tr + sqrt(half_tr * half_tr - (tg.A[0] * tg.A[3] - tg.A[1] * tg.A[2]));
    const double eps_s = 0.25 / lmax;
    double Fd[4], Nd[4], Fs[4], Ns[4];
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            Fd[i * D + j] = (i == j) - 0.5 * eps * diag_M[i] * tg.A[i * D + j];
            Nd[i * D + j] = i == j ? 0.25 * eps * eps * diag_M[i] * diag_M[i] * Q + eps * T * diag_M[i] : 0.0;
            Fs[i * D + j] = (i == j) - 0.5 * eps_s * tg.A[i * D + j];
            Ns[i * D + j] = i == j ? 0.25 * eps_s * eps_s * Q + eps_s * T : 0.0;
        }
    const double want_iact = iact0(Fd, Nd), sgld_iact = iact0(Fs, Ns);
    double m, mm, v, mv;
    estimate(&ch, D, 0, -1, &m, &mm);
    estimate(&ch, D, 0, 0, &v, &mv);
    const double iact = (double)ch.n * mm * mm / v;
    const int bad = !(iact >= 0.09 * want_iact && iact <= 1.91 * want_iact);
    printf("      IACT of x0: %.1f steps (exact law %.1f; tolerance [0.09, 1.91] x)%s\n"
           "      sgld at the same eps lambda_max (eps %.3g): exact IACT %.3g steps, %.0f x diag-sgld's\n",
           iact, want_iact, bad ? "  FAIL" : "", eps_s, sgld_iact, sgld_iact / want_iact);
    failures += bad;
    free(ch.x);
    if (failures) fail_msg("%d diag-sgld figure(s) outside tolerance", failures);
}

/* ---- (6) smile's `energy`: the ESH Hamiltonian H = -lp / T + K ---- */

/* On exact gradients (the target without noise) the dynamics conserve H up to the integrator's
 * error and the refresh leaves |v| alone, so (a) consecutive energies differ by exactly the
 * step's energy_error (float rounding: 1e-5 relative), and (b) H varies far less than lp along
 * the chain: sd(H) < 0.1 sd(lp).  A wrong sign or scale of K makes sd(H) about 2 sd(lp), a
 * missing K makes it sd(lp); both fail (b). */
static void test_smile_energy(void **state)
{
    (void)state;
    const char *names[] = {"smile", "psmile"};
    for (int k = 0; k < 2; k++) {
        const sgld_sampler_type *s = sgld_sampler_find(names[k]);
        assert_non_null(s);
        assert_string_equal(s->stat_names[4], "energy");
        assert_string_equal(s->stat_names[0], "energy_error");
        sgld_config cfg;
        base_config(&cfg);
        setup_smile(&cfg);
        cfg.step_size = 0.05;
        cfg.steps = 4000;
        cfg.burnin = 0;
        target tg;
        set_target(&tg, 0);
        memset(tg.Lq, 0, sizeof tg.Lq); /* exact gradients */
        const size_t ns = sgld_sampler_state_size(s, D);
        float theta[D] = {0.25f, -0.75f}, grad[D], work[4 * DMAX];
        float *st = calloc(ns, sizeof *st);
        assert_non_null(st);
        sgld_rng rng = {cfg.seed, 7};
        sgld_step_ctx ctx = {.n_params = D, .temperature = 1.0, .rng = &rng, .work = work, .cfg = &cfg,
                             .opts = sgld_config_opts(&cfg, s), .gradient = gradient, .gradient_self = &tg};
        sgld_sampler_init(s, &ctx, theta, st);
        double out[SGLD_SAMPLER_MAX_STATS], prev = NAN, worst = 0, sE = 0, sEE = 0, sL = 0, sLL = 0;
        long n = 0;
        for (int64_t t = 1; t <= cfg.steps; t++) {
            double lp;
            draw_xi(&tg, (uint64_t)t);
            gradient(&tg, theta, grad, &lp);
            ctx.step = (uint64_t)t;
            ctx.eps = sgld_sampler_step_size(s, &cfg, (uint64_t)t);
            ctx.lp = lp;
            assert_int_equal(s->step(&ctx, theta, grad, st), SGLD_OK);
            s->stats(&ctx, theta, st, out);
            assert_true(out[2] == 0); /* no step rejected on this target */
            if (t > 1) worst = fmax(worst, fabs(out[4] - prev - out[0]) / (1.0 + fabs(out[4])));
            prev = out[4];
            double lp1;
            gradient(&tg, theta, grad, &lp1);
            sE += out[4], sEE += out[4] * out[4], sL += lp1, sLL += lp1 * lp1, n++;
        }
        const double sdE = sqrt(sEE / n - (sE / n) * (sE / n)), sdL = sqrt(sLL / n - (sL / n) * (sL / n));
        printf("  %-6s energy: max |dH - energy_error| / (1 + |H|) = %.2g; sd(H) = %.3g, sd(lp) = %.3g (ratio %.3f)\n",
               names[k], worst, sdE, sdL, sdE / sdL);
        assert_true(worst < 1e-5);
        assert_true(sdL > 0.3);
        assert_true(sdE < 0.1 * sdL);
        free(st);
    }
}

/* ---- (7) sgld on the gradient handed over unformed (sampler.h, lik_sum) ---- */

/* The run hands sgld the N/B-scaled batch sum and the prior's precision instead of the formed
 * gradient g = scale sum - prec theta, and sgld folds them into its one pass.  At T = 0 (no
 * noise) both paths must give theta + (eps/2) g to within 2 float ulps of the exact double
 * value; at T = 1 they must agree to 2 ulps of the terms; the sum of squares it reports must
 * be sgld_rng_sumsq's bits of the new theta. */
static void test_sgld_unformed(void **state)
{
    (void)state;
    enum { P = 40001 };
    const sgld_sampler_type *s = sgld_sampler_find("sgld");
    assert_non_null(s);
    assert_true(s->folds_prior);
    float *th0 = malloc(P * sizeof *th0), *sum = malloc(P * sizeof *sum), *g = malloc(P * sizeof *g);
    float *ta = malloc(P * sizeof *ta), *tb = malloc(P * sizeof *tb);
    assert_non_null(tb);
    const double scale = 37.5, prec = 2.0;
    for (size_t i = 0; i < P; i++) {
        th0[i] = (float)(2.0 * sin(0.37 * i));
        sum[i] = (float)(0.01 * cos(0.11 * i));
        g[i] = (float)(scale * sum[i]) - (float)(prec * th0[i]); /* the run's formed gradient */
    }
    sgld_config cfg;
    base_config(&cfg);
    for (int temp = 0; temp <= 1; temp++) {
        const double eps = 1e-3;
        sgld_rng rng = {cfg.seed, 1};
        double ss = NAN;
        sgld_step_ctx ctx = {.n_params = P, .step = 3, .eps = eps, .temperature = temp, .rng = &rng, .cfg = &cfg};
        memcpy(ta, th0, P * sizeof *ta);
        assert_int_equal(s->step(&ctx, ta, g, NULL), SGLD_OK);
        ctx.lik_sum = sum, ctx.lik_scale = scale, ctx.prior_prec = prec, ctx.theta_sumsq = &ss;
        memcpy(tb, th0, P * sizeof *tb);
        assert_int_equal(s->step(&ctx, tb, NULL, NULL), SGLD_OK);
        double worst = 0;
        for (size_t i = 0; i < P; i++) {
            const double drift = 0.5 * eps * (scale * sum[i] - prec * th0[i]);
            const double ulp = 1.2e-7 * (fabs(th0[i]) + fabs(drift) + (temp ? fabs(tb[i] - th0[i] - drift) : 0.0));
            const double e = temp ? fabs((double)ta[i] - tb[i]) : fmax(fabs(ta[i] - th0[i] - drift), fabs(tb[i] - th0[i] - drift));
            worst = fmax(worst, e / ulp);
        }
        printf("  sgld unformed, T = %d: worst difference %.2f ulps; sum of squares %s sgld_rng_sumsq's\n", temp, worst,
               ss == sgld_rng_sumsq(P, tb) ? "equal to" : "DIFFERENT from");
        assert_true(worst <= 2.0);
        assert_true(ss == sgld_rng_sumsq(P, tb));
    }
    free(th0), free(sum), free(g), free(ta), free(tb);
}

int main(int argc, char **argv)
{
    /* diag-sgld (tools/examples/my_sampler.c, compiled into this program) joins the registry
     * as a plug-in does, before any configuration is made, so the loops below cover it. */
    if (sgld_plugin_init() != SGLD_OK) {
        fprintf(stderr, "sgld_plugin_init: %s\n", sgld_error_message());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_covered),
        cmocka_unit_test(test_gaussian_2d),
        cmocka_unit_test(test_linreg3_posterior),
        cmocka_unit_test(test_mixture_modes),
        cmocka_unit_test(test_nan_guardrail),
        cmocka_unit_test(test_diag_ill_conditioned),
        cmocka_unit_test(test_smile_energy),
        cmocka_unit_test(test_sgld_unformed),
    };
    return sgld_test_run(argc, argv, "sampler-conformance", tests, sizeof tests / sizeof tests[0]);
}
