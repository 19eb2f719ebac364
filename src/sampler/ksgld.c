/* ksgld.c - SGLD with a K-FAC preconditioner for dense and conv layers (Martens & Grosse,
 * "Optimizing Neural Networks with Kronecker-factored Approximate Curvature", ICML 2015;
 * Grosse & Martens, "A Kronecker-factored approximate Fisher matrix for convolution layers",
 * ICML 2016; Nado, Snoek, Grosse, Duvenaud, Xu & Martens, "Stochastic Gradient Langevin
 * Dynamics that Exploit Neural Network Structure", ICLR workshop 2018).
 *
 *   both:   theta <- theta + (eps_t / 2) P g + N(0, eps_t T P)
 *   noise:  theta <- theta + (eps_t / 2) g   + N(0, eps_t T P)     (the seed paper's eq. 2)
 *   P = blockdiag_l (A_l + sqrt(d) I)^-1 kron (G_l + sqrt(d) I)^-1
 * per fc/conv layer l with parameters W~ = [W | b] (outputs x inputs+1): P acts as
 * D -> Gi D Ai, and its noise is Gi^(1/2) Z Ai^(T/2) = K_G^T Z K_A with K = C^-1, C C^T =
 * (factor + sqrt(d) I) the Cholesky factor (K^T K = the inverse).
 * A_l, G_l are running averages (decay r = --kfac-decay; the first step takes the batch's
 * values) of the minibatch statistics the model leaves with the gradient (sgld_kfac in
 * sgld/model.h) over the chain's whole minibatch: A = mean a a^T (a = layer input and 1;
 * conv: patches averaged over positions, KFC), G = n_train x mean g g^T (g = d log p(y~|x) /
 * d pre-activation, y~ drawn from the model's predictive distribution): the Fisher of the
 * whole data set's log-likelihood as K-FAC defines it (the observed-target "empirical" Fisher
 * shrinks where the batch happens to fit well and then made steps explode), so P is an
 * approximate inverse posterior curvature and eps is dimensionless (P <= I / d: with
 * d = 1 / prior_sd^2, P never exceeds the prior covariance).  Cholesky factors (double)
 * refreshed on step 1 and every --kfac-every steps after.
 *
 * 'both' is SGLD with a (slowly varying) constant preconditioner: its stationary law is the
 * posterior up to the discretization and the omitted Gamma = div P term (P depends on theta
 * only through the running averages).  'noise' is what the seed paper writes: with P != I
 * the drift (1/2) g and diffusion P no longer balance, the stationary density is not the
 * posterior (for a Gaussian posterior N(mu, S) it is N(mu, S_P) with S_P solving the
 * Lyapunov equation S_P S^-1 + S^-1 S_P = 2 P, S_P = S only if P = I); provided to
 * reproduce that paper, not to sample the posterior.
 *
 * S shards per chain.  A chain's minibatch of B rows is split over its S ranks (each takes
 * the batch rows its shard holds: b_s rows, sum_s b_s = B, unequal from step to step), and the
 * model leaves each rank the mean over its own b_s rows.  The chain's factor is linear in
 * them: A_t = r A_{t-1} + (1 - r) sum_s (b_s / B) mean_s, so A_t = sum_s W_s,t with every
 * rank keeping W_s,t = r W_s,t-1 + (1 - r) (b_s / B) mean_s,t, its share of the running
 * average (likewise G).  Only the inverses need the sum: on refresh steps the ranks sum their
 * W over the chain (ctx->chain_sum: one MPI_Allreduce of every layer's A and G packed as
 * lower triangles -- the Cholesky reads no more) and then factorize the same sum, so K_A, K_G
 * and theta stay bitwise equal across the chain; the targets y~ are keyed by the row's global
 * index, so S shards see the statistics one rank would.  S = 1 is the same arithmetic as a
 * single running average (b_s / B = 1; the sum is a copy).
 * Communication: F = sum_l n_a (n_a + 1) / 2 + n_g (n_g + 1) / 2 floats once every
 * --kfac-every k steps, F / k per step on average, beside the per-step gradient allreduce of
 * n_params + 2 floats.  The alternative, the factors in the per-step fused buffer, would send
 * F every step: for a 784-100-10 MLP F = 318,761 against n_params = 79,510, 4x the gradient
 * on every step, vs 0.4x on average here at the default k = 10 (an fc layer alone:
 * F / n_params ~ (n_a / n_g + n_g / n_a) / 2 >= 1, so the fused buffer at least doubles).
 * The price is W in the checkpoint: each rank's W differs, so a checkpoint keeps all S
 * (sampler.h's local state; src/run/resume.c gathers them).
 * Randomness: the noise = NOISE elements [0, n), the chain's stream (the same on its ranks).
 * State: 1 flag (averages started), then per layer K_A [na^2], K_G [ng^2] (shared by the
 * chain), then this rank's W: per layer A, G lower triangles [na (na+1)/2], [ng (ng+1)/2]
 * (the local part; the layout of sgld_kfac's `tri`, where the refresh sums them).
 * ctx->work: z, D, tmp, E (n floats each).  sample_stats: kfac_precond_mean = mean diag P. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "sgld/model.h"
#include "sgld/sampler.h"

enum { PRECONDITION_BOTH, PRECONDITION_NOISE }; /* --precondition's words, in order */

typedef struct ksgld_opts {
    int precondition;   /* --precondition: PRECONDITION_BOTH or PRECONDITION_NOISE */
    double damping;     /* --kfac-damping d */
    double decay;       /* --kfac-decay r */
    int64_t every;      /* --kfac-every k */
} ksgld_opts;

static const sgld_option options[] = {
    {"precondition", SGLD_OPT_CHOICE, SGLD_OPTION_FIELD(ksgld_opts, precondition, int), "both",
     "both|noise", "", {SGLD_RANGE_NONE, 0, 0}, 1,
     "K-FAC-precondition the drift and the noise (both), or the noise only (noise: the seed "
     "paper's eq. 2, which changes the stationary law)"},
    {"kfac-damping", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(ksgld_opts, damping, double), "1", "d", "",
     {SGLD_RANGE_GT, 0, 0}, 1, "damping, P = (A + sqrt(d) I)^-1 kron (G + sqrt(d) I)^-1 per layer"},
    {"kfac-decay", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(ksgld_opts, decay, double), "0.95", "r", "",
     {SGLD_RANGE_GE_LT, 0, 1}, 1, "running averages A <- r A + (1 - r) A_batch (same for G)"},
    {"kfac-every", SGLD_OPT_INT64, SGLD_OPTION_FIELD(ksgld_opts, every, int64_t), "10", "k", "steps",
     {SGLD_RANGE_GE, 1, 0}, 1, "the factors' inverses are refreshed every k steps"},
};

enum { HEAD = 1 };

static size_t state_size(size_t n_params)
{
    (void)n_params;
    return HEAD; /* the real size comes from prepare */
}

/* Floats of the state shared by the chain: the flag and the inverse factors K_A, K_G. */
static size_t shared_floats(const sgld_kfac *k)
{
    size_t n = HEAD;
    for (int l = 0; l < k->n_layers; l++) n += (size_t)k->n_a[l] * k->n_a[l] + (size_t)k->n_g[l] * k->n_g[l];
    return n;
}

static sgld_kfac *kfac_of(const sgld_step_ctx *ctx)
{
    sgld_kfac *k = NULL;
    if (ctx->model && ctx->model->type->kfac && ctx->model->type->kfac(ctx->model, &k) != SGLD_OK) return NULL;
    return k;
}

static sgld_status prepare(const sgld_model *m, const sgld_config *cfg, int n_shards, double n_train,
                           size_t *n_floats, size_t *n_local)
{
    (void)cfg;
    (void)n_shards; /* any: the factors are summed over the chain's shards */
    SGLD_CHECK(m->type->kfac, SGLD_ERR_USAGE,
               "--sampler ksgld: model '%s' has no dense or conv layers (K-FAC needs --model mlp or cnn)",
               m->type->name);
    sgld_kfac *k;
    SGLD_TRY(m->type->kfac(m, &k));
    k->collect = 1;
    k->fresh = 0;
    k->n_train = n_train;
    *n_local = k->n_tri;
    *n_floats = shared_floats(k) + k->n_tri;
    return SGLD_OK;
}

static void init(const sgld_step_ctx *ctx, const float *theta, float *state)
{
    (void)theta;
    const sgld_kfac *k = kfac_of(ctx);
    memset(state, 0, (k ? shared_floats(k) + k->n_tri : HEAD) * sizeof *state);
}

/* W <- r W + w M on the lower triangle of the n x n M, W packed (row i's i + 1 entries). */
static void tri_update(float *W, const float *M, int n, double r, double w)
{
    for (int i = 0; i < n; i++) {
        for (int j = 0; j <= i; j++) W[j] = (float)(r * W[j] + w * M[(size_t)i * n + j]);
        W += i + 1;
    }
}

/* K = C^-1 (lower triangular) with C C^T = S + s I, S given by its packed lower triangle, in
 * double (w: 2 n^2 doubles).  A failed factorization (only a non-finite S can cause one)
 * leaves K all NaN, so the step makes theta non-finite and the run loop's divergence
 * handling takes over. */
static void chol_inverse(const float *S, int n, double s, double *w, float *K)
{
    double *C = w, *X = w + (size_t)n * n;
    for (int j = 0; j < n; j++) {
        const double *cj = C + (size_t)j * n;
        for (int i = j; i < n; i++) {
            double *ci = C + (size_t)i * n;
            double v = S[(size_t)i * (i + 1) / 2 + j] + (i == j ? s : 0.0);
            for (int q = 0; q < j; q++) v -= ci[q] * cj[q];
            if (i == j) {
                if (!(v > 0.0)) {
                    for (size_t e = 0; e < (size_t)n * n; e++) K[e] = NAN;
                    return;
                }
                ci[j] = sqrt(v);
            } else {
                ci[j] = v / cj[j];
            }
        }
    }
    for (int j = 0; j < n; j++) {
        X[(size_t)j * n + j] = 1.0 / C[(size_t)j * n + j];
        for (int i = j + 1; i < n; i++) {
            const double *ci = C + (size_t)i * n;
            double v = 0.0;
            for (int q = j; q < i; q++) v += ci[q] * X[(size_t)q * n + j];
            X[(size_t)i * n + j] = -v / ci[i];
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) K[(size_t)i * n + j] = j <= i ? (float)X[(size_t)i * n + j] : 0.0f;
}

/* Copies layer l's parameters-shaped vector v into the matrix M [ng][na] (W | b). */
static void gather(const sgld_kfac *k, int l, const float *v, float *M)
{
    const int na = k->n_a[l], ng = k->n_g[l];
    for (int o = 0; o < ng; o++) {
        memcpy(M + (size_t)o * na, v + k->w_off[l] + (size_t)o * (na - 1), (size_t)(na - 1) * sizeof *M);
        M[(size_t)o * na + na - 1] = v[k->b_off[l] + o];
    }
}

static sgld_status step(const sgld_step_ctx *ctx, float *theta, const float *grad, float *state)
{
    const size_t n = ctx->n_params;
    const sgld_config *cfg = ctx->cfg;
    sgld_kfac *k = kfac_of(ctx);
    SGLD_CHECK(k && k->collect, SGLD_ERR_INTERNAL, "ksgld: the model's K-FAC statistics are off");
    if (!k->fresh) { /* e.g. the first step after a resume in a caller without the hook's call */
        double lp;
        SGLD_CHECK(ctx->gradient, SGLD_ERR_INTERNAL, "ksgld: no K-FAC statistics for step %llu",
                   (unsigned long long)ctx->step);
        SGLD_TRY(ctx->gradient(ctx->gradient_self, theta, ctx->work, &lp));
        SGLD_CHECK(k->fresh, SGLD_ERR_INTERNAL, "ksgld: the gradient left no K-FAC statistics");
    }
    k->fresh = 0;

    const ksgld_opts *o = ctx->opts;
    const int started = state[0] != 0.0f, both = o->precondition == PRECONDITION_BOTH;
    const double r = started ? o->decay : 0.0, s = sqrt(o->damping);
    const int refresh = !started || (ctx->step - 1) % (uint64_t)o->every == 0;
    const double eps = ctx->eps, sd = sqrt(eps * ctx->temperature);
    /* this rank's share of the batch: b_s / B (1 on a one-rank chain) */
    const double share = (double)k->n_rows / (double)cfg->batch_size;
    const double wa = (1.0 - r) * share, wg = (1.0 - r) * k->n_train * share;
    float *const W = state + shared_floats(k);
    float *Wl = W;
    for (int l = 0; l < k->n_layers; l++) {
        const int na = k->n_a[l], ng = k->n_g[l];
        tri_update(Wl, k->A[l], na, r, wa);
        Wl += (size_t)na * (na + 1) / 2;
        tri_update(Wl, k->G[l], ng, r, wg);
        Wl += (size_t)ng * (ng + 1) / 2;
    }
    if (refresh) { /* the chain's factors: the sum of its ranks' W, the same bits everywhere */
        memcpy(k->tri, W, k->n_tri * sizeof *W);
        if (ctx->chain_sum) SGLD_TRY(ctx->chain_sum(ctx->gradient_self, k->tri, k->n_tri));
    }
    float *z = ctx->work, *D = ctx->work + n, *T = ctx->work + 2 * n, *E = ctx->work + 3 * n;
    sgld_rng_normal_fill(ctx->rng, ctx->step, SGLD_RNG_NOISE, n, z);
    float *p = state + HEAD;
    const float *f = k->tri;
    for (int l = 0; l < k->n_layers; l++) {
        const int na = k->n_a[l], ng = k->n_g[l];
        float *KA = p, *KG = KA + (size_t)na * na;
        p = KG + (size_t)ng * ng;
        if (refresh) {
            chol_inverse(f, na, s, k->work, KA);
            f += (size_t)na * (na + 1) / 2;
            chol_inverse(f, ng, s, k->work, KG);
            f += (size_t)ng * (ng + 1) / 2;
        }
        /* noise E = K_G^T Z K_A */
        gather(k, l, z, E);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ng, na, ng, 1.0f, KG, ng, E, na, 0.0f, T, na);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ng, na, na, 1.0f, T, na, KA, na, 0.0f, E, na);
        /* drift: P D = K_G^T K_G D K_A^T K_A ('both') or D */
        gather(k, l, grad, D);
        if (both) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ng, na, ng, 1.0f, KG, ng, D, na, 0.0f, T, na);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ng, na, ng, 1.0f, KG, ng, T, na, 0.0f, D, na);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ng, na, na, 1.0f, D, na, KA, na, 0.0f, T, na);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ng, na, na, 1.0f, T, na, KA, na, 0.0f, D, na);
        }
        for (int o = 0; o < ng; o++) {
            const float *d = D + (size_t)o * na, *e = E + (size_t)o * na;
            float *w = theta + k->w_off[l] + (size_t)o * (na - 1);
            for (int j = 0; j < na - 1; j++) w[j] += (float)(0.5 * eps * d[j] + sd * e[j]);
            theta[k->b_off[l] + o] += (float)(0.5 * eps * d[na - 1] + sd * e[na - 1]);
        }
    }
    state[0] = 1.0f;
    return SGLD_OK;
}

/* Mean over the parameters of diag P = sum_l (sum_o diag Gi_o)(sum_j diag Ai_j) / n, with
 * diag (K^T K)_j = sum_i K_ij^2. */
static void stats(const sgld_step_ctx *ctx, const float *theta, const float *state, double *out)
{
    (void)theta;
    const sgld_kfac *k = kfac_of(ctx);
    double total = 0.0;
    const float *p = state + HEAD;
    for (int l = 0; k && l < k->n_layers; l++) {
        const int na = k->n_a[l], ng = k->n_g[l];
        const float *KA = p, *KG = KA + (size_t)na * na;
        p = KG + (size_t)ng * ng;
        double sa = 0.0, sg = 0.0;
        for (size_t e = 0; e < (size_t)na * na; e++) sa += (double)KA[e] * KA[e];
        for (size_t e = 0; e < (size_t)ng * ng; e++) sg += (double)KG[e] * KG[e];
        total += sa * sg;
    }
    out[0] = ctx->n_params ? total / (double)ctx->n_params : 0.0;
}

const sgld_sampler_type sgld_sampler_ksgld = {
    .name = "ksgld",
    .description = "SGLD with a K-FAC Kronecker-factored preconditioner (Nado et al. 2018)",
    .adds_noise = 1,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .options_size = sizeof(ksgld_opts),
    .state_size = state_size,
    .prepare = prepare,
    .init = init,
    .step = step,
    .n_stats = 1,
    .stat_names = {"kfac_precond_mean"},
    .stats = stats,
};
