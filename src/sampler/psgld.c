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
 * Randomness: noise = NOISE elements [0, n), fused with the update (sgld_rng_normal_axpy with the
 * per-element scale sqrt(G_i), in float); the probe z = SAMPLER elements [0, n).
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

/* V, G and the two factors of the fused update: Gg = G g, sG = sqrt(G) (float: this loop and
 * the noise pass are the whole step, so both run in vector registers). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void precondition(size_t n, float a, float lambda, int first, const float *grad, float *V, float *Gg,
                         float *sG)
{
    const float b = 1.0f - a;
    for (size_t i = 0; i < n; i++) {
        const float g2 = grad[i] * grad[i];
        const float v = first ? g2 : a * V[i] + b * g2;
        const float G = 1.0f / (lambda + sqrtf(v));
        V[i] = v;
        Gg[i] = G * grad[i];
        sG[i] = sqrtf(G);
    }
}

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    const size_t n = ctx->n_params;
    const psgld_opts *o = ctx->opts;
    const double a = o->alpha, T = ctx->temperature;
    const double eps = ctx->eps;
    float *V = state, *Gg = ctx->work, *sG = ctx->work + n;
    precondition(n, (float)a, (float)o->lambda, state[n] == 0.0f, grad, V, Gg, sG);
    state[n] = 1.0f;
    sgld_rng_axpy op = {.b = 1.0f, .a = (float)(0.5 * eps), .sd = (float)sqrt(eps * T), .x = Gg, .s = sG, .y = theta};

    if (o->gamma) {
        SGLD_CHECK(ctx->gradient, SGLD_ERR_INTERNAL, "psgld: --psgld-gamma needs the gradient callback");
        float *probe = ctx->work + 2 * n, *g2 = ctx->work + 3 * n;
        double u[2];
        for (size_t i = 0; i < n; i++) {
            sgld_rng_uniform(ctx->rng, ctx->step, SGLD_RNG_SAMPLER, i, 1, u);
            double zi = u[0] < 0.5 ? -1.0 : 1.0;
            probe[i] = theta[i] + (float)(zi * sqrt(eps * T) * sG[i]); /* theta + delta_i z_i */
        }
        double lp2;
        SGLD_TRY(ctx->gradient(ctx->gradient_self, probe, g2, &lp2));
        for (size_t i = 0; i < n; i++) {
            double d = (double)probe[i] - theta[i]; /* the perturbation as represented */
            double h = d != 0.0 ? ((double)g2[i] - grad[i]) / d : 0.0;
            double sv = sqrt((double)V[i]), G = (double)sG[i] * sG[i];
            double gamma = sv > 0 ? -G * G * (1.0 - a) * grad[i] * h / sv : 0.0;
            Gg[i] = (float)((double)Gg[i] + T * gamma); /* the drift G g + T Gamma */
        }
    }
    sgld_rng_normal_axpy(ctx->rng, ctx->step, SGLD_RNG_NOISE, n, &op);
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
