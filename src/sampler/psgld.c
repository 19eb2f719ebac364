/* psgld.c - preconditioned SGLD with an RMSprop preconditioner (Li, Chen, Carlson & Carin,
 * "Preconditioned Stochastic Gradient Langevin Dynamics for Deep Neural Networks", AAAI 2016).
 *
 *   V <- a V + (1 - a) g^2,   G = 1 / (lambda + sqrt V)            (elementwise)
 *   theta <- theta + (eps_t / 2)(G g + T Gamma) + N(0, eps_t T G)
 * a = --psgld-alpha (0.99), lambda = --psgld-lambda (1e-5), T = --temperature.  V starts at
 * g^2 of the first step (not 0, which would make the first steps 1 / sqrt(1 - a) = 10 times
 * too long).
 *
 * Gamma_i = dG_i / dtheta_i (Li et al. eq. 4) is off by default, as in the paper (they argue
 * it is small when a is close to 1).  With --psgld-gamma it is computed honestly: G depends on
 * the current theta only through this step's g^2 term of V (the earlier terms are fixed), so
 *   Gamma_i = -G_i^2 (1 - a) g_i h_ii / sqrt(V_i),   h_ii = d g_i / d theta_i,
 * the same quantity TensorFlow Probability's StochasticGradientLangevinDynamics obtains by
 * differentiating its preconditioner through the gradient.  We have no Hessian, so h_ii is
 * Hutchinson's unbiased estimate from one extra gradient on the same minibatch:
 *   h_ii ~ z_i (g(theta + delta o z) - g(theta))_i / delta_i,  z Rademacher,
 *   delta_i = sqrt(eps_t T G_i) (one step's noise scale; exact for quadratic log posteriors).
 * Randomness: noise = NOISE elements [0, n); the probe z = SAMPLER elements [0, n).
 * State: V (n floats), then one flag (V initialized).  sample_stats: psgld_precond_mean,
 * the mean of G over the parameters. */
#include <math.h>
#include <stddef.h>

#include "sgld/sampler.h"

typedef struct psgld_opts {
    double alpha;  /* --psgld-alpha */
    double lambda; /* --psgld-lambda */
    int gamma;     /* --psgld-gamma */
} psgld_opts;

static const sgld_option options[] = {
    {"psgld-alpha", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(psgld_opts, alpha, double), "0.99", "a", "",
     {SGLD_RANGE_GT_LT, 0, 1}, 1, "decay of the running mean square V <- a V + (1 - a) g^2"},
    {"psgld-lambda", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(psgld_opts, lambda, double), "1e-5", "l", "",
     {SGLD_RANGE_GT, 0, 0}, 1, "diagonal preconditioner G = 1 / (l + sqrt V)"},
    {"psgld-gamma", SGLD_OPT_BOOL, SGLD_OPTION_FIELD(psgld_opts, gamma, int), "off", "", "",
     {SGLD_RANGE_NONE, 0, 0}, 1, "add the drift Gamma_i = dG_i / dtheta_i (one extra gradient per step)"},
};

static size_t state_size(size_t n_params) { return n_params + 1; }

static void init(const sgld_step_ctx *ctx, const float *theta, float *state)
{
    (void)theta;
    for (size_t i = 0; i <= ctx->n_params; i++) state[i] = 0.0f;
}

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    const size_t n = ctx->n_params;
    const psgld_opts *o = ctx->opts;
    const double a = o->alpha, lambda = o->lambda, T = ctx->temperature;
    const double eps = ctx->eps;
    float *V = state, *z = ctx->work, *G = ctx->work + n;
    if (state[n] == 0.0f) {
        for (size_t i = 0; i < n; i++) V[i] = grad[i] * grad[i];
        state[n] = 1.0f;
    } else {
        for (size_t i = 0; i < n; i++) V[i] = (float)(a * V[i] + (1.0 - a) * (double)grad[i] * grad[i]);
    }
    for (size_t i = 0; i < n; i++) G[i] = (float)(1.0 / (lambda + sqrt((double)V[i])));

    if (o->gamma) {
        SGLD_CHECK(ctx->gradient, SGLD_ERR_INTERNAL, "psgld: --psgld-gamma needs the gradient callback");
        float *probe = ctx->work + 2 * n, *g2 = ctx->work + 3 * n;
        double u[2];
        for (size_t i = 0; i < n; i++) {
            sgld_rng_uniform(ctx->rng, ctx->step, SGLD_RNG_SAMPLER, i, 1, u);
            double zi = u[0] < 0.5 ? -1.0 : 1.0;
            z[i] = (float)(zi * sqrt(eps * T * G[i])); /* delta_i z_i */
            probe[i] = theta[i] + z[i];
        }
        double lp2;
        SGLD_TRY(ctx->gradient(ctx->gradient_self, probe, g2, &lp2));
        for (size_t i = 0; i < n; i++) {
            double d = (double)probe[i] - theta[i]; /* the perturbation as represented */
            double h = d != 0.0 ? ((double)g2[i] - grad[i]) / d : 0.0;
            double sv = sqrt((double)V[i]);
            double gamma = sv > 0 ? -(double)G[i] * G[i] * (1.0 - a) * grad[i] * h / sv : 0.0;
            z[i] = (float)gamma; /* reuse: Gamma_i */
        }
        for (size_t i = 0; i < n; i++) probe[i] = z[i];
        sgld_rng_normal_float(ctx->rng, ctx->step, SGLD_RNG_NOISE, 0, n, z);
        for (size_t i = 0; i < n; i++)
            theta[i] += (float)(0.5 * eps * ((double)G[i] * grad[i] + T * probe[i]) + sqrt(eps * T * G[i]) * z[i]);
        return SGLD_OK;
    }
    sgld_rng_normal_float(ctx->rng, ctx->step, SGLD_RNG_NOISE, 0, n, z);
    for (size_t i = 0; i < n; i++)
        theta[i] += (float)(0.5 * eps * (double)G[i] * grad[i] + sqrt(eps * T * G[i]) * z[i]);
    return SGLD_OK;
}

static void stats(const sgld_step_ctx *ctx, const float *theta, const float *state, double *out)
{
    (void)theta;
    double s = 0;
    for (size_t i = 0; i < ctx->n_params; i++) s += 1.0 / (((const psgld_opts *)ctx->opts)->lambda + sqrt((double)state[i]));
    out[0] = ctx->n_params ? s / (double)ctx->n_params : 0.0;
}

const sgld_sampler_type sgld_sampler_psgld = {
    .name = "psgld",
    .description = "SGLD with an RMSprop diagonal preconditioner (Li et al. 2016)",
    .adds_noise = 1,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .options_size = sizeof(psgld_opts),
    .state_size = state_size,
    .init = init,
    .step = step,
    .n_stats = 1,
    .stat_names = {"psgld_precond_mean"},
    .stats = stats,
};
