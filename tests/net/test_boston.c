/* test_boston.c - the UCI protocol for the heteroscedastic Bayesian MLP on Boston housing:
 * 10 random 90/10 splits (split seed = split number), features standardized with the training
 * statistics, the target standardized likewise (predictions mapped back), the mlp model
 * "fc50-fc2" (one hidden layer of 50 ReLU units, outputs mean and log-variance) sampled by the
 * registered sgld sampler on one rank, and the posterior predictive of the kept draws:
 *   mean      m(x) = (1/S) sum_s mu_s(x)                    -> test RMSE
 *   density   p(y|x) = (1/S) sum_s N(y; mu_s(x), sigma_s^2(x)) -> test log-likelihood / row
 * Prints every split and mean +- sd over splits.  Targets: mean RMSE <= 3.5 and mean
 * log-likelihood >= -2.7, the published figures for BNNs on these splits (RMSE 2.8-3.3,
 * log-likelihood -2.4 to -2.6, tools/data/README.md) with some slack; not bounds tuned to
 * this run.
 *
 * Step size and batch.  The heteroscedastic likelihood's curvature in the mean is exp(-v) per
 * row, unbounded as a draw's predicted variance exp(v) shrinks, and a minibatch row that the
 * draw predicts confidently and wrongly kicks theta by (eps / 2) (N / B) r exp(-v) h.  With
 * eps 1e-4 and batch 32 this happened (a row 49 sd off at v = -5: |theta| 20 -> 43 in one
 * step); the weights it throws out are those of units the training rows barely use, which
 * only the prior pulls back (time constant 2 / eps steps, the whole chain), so the later draws
 * predict means of +-1000 with variances of 1e100 on outlying test rows (the standardized
 * features reach 9 sd): the mixture density ignores such draws, the mixture mean does not
 * (split 7: RMSE 10.3 at log-likelihood -2.40), and at other seeds or batch sizes the chain
 * went to NaN.  Which splits it hits depends on the last bits of the arithmetic (the OpenBLAS
 * kernel), so those settings passed or failed by the machine.  The kick scales with eps N / B: step 5e-5 and batch 128 make
 * it 8 times smaller -- the remedies sgld-dist's divergence message names (lower
 * --step-size, raise --batch-size) -- and 60000 steps (the last half kept, every 300th) let
 * the chain travel further than before (eps x steps 3 instead of 2).  Over 20 splits: RMSE
 * 3.27-3.36 (3 chain seeds, 2 OpenBLAS kernels), the mixture mean within 0.05 of the draws'
 * median on every split (no runaway draw).  CPU: 9-13 s for 10 splits (by OpenBLAS kernel).
 *   SGLD_BOSTON_SPLITS=20 build/tests/net/test_boston   (more splits) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "sgld/data.h"
#include "sgld/model.h"
#include "sgld/net.h"
#include "sgld/sampler.h"

#define STEPS 60000
#define BURNIN 30000
#define THIN 300
#define BATCH 128
#define STEP_SIZE 5e-5

static int split(int s, const char *path, double *rmse, double *ll)
{
    sgld_data_options opt = {.path = path, .test_fraction = 0.1, .standardize = 1, .seed = (uint32_t)s};
    sgld_dataset *tr, *te;
    if (sgld_data_load(MPI_COMM_SELF, 0, 1, &opt, &tr, &te) != SGLD_OK) {
        fprintf(stderr, "%s\n", sgld_error_message());
        return 1;
    }
    double my = 0, sy = 0;
    for (int64_t i = 0; i < tr->n_local; i++) my += tr->y[i];
    my /= tr->n_local;
    for (int64_t i = 0; i < tr->n_local; i++) sy += (tr->y[i] - my) * (tr->y[i] - my);
    sy = sqrt(sy / tr->n_local);
    for (int64_t i = 0; i < tr->n_local; i++) tr->y[i] = (float)((tr->y[i] - my) / sy);

    sgld_config cfg;
    sgld_config_defaults(&cfg);
    if (sgld_config_set(&cfg, "net", "fc50-fc2") != SGLD_OK) {
        fprintf(stderr, "%s\n", sgld_error_message());
        return 1;
    }
    cfg.batch_size = BATCH;
    cfg.step_size = STEP_SIZE;
    cfg.seed = (uint32_t)s + 1;
    sgld_model m;
    if (sgld_model_init(&m, sgld_model_find("mlp"), tr->d, 0, &cfg) != SGLD_OK) {
        fprintf(stderr, "%s\n", sgld_error_message());
        return 1;
    }
    const sgld_sampler_type *smp = sgld_sampler_find("sgld");
    const size_t P = m.n_params, N = (size_t)tr->n_local, n_te = (size_t)te->n_local;
    const int S = (STEPS - BURNIN) / THIN;
    float *theta = malloc(P * sizeof *theta), *grad = malloc(P * sizeof *grad);
    float *work = malloc(4 * P * sizeof *work), *state = malloc((sgld_sampler_state_size(smp, P) + 1) * sizeof *state);
    double *pred = malloc(2 * n_te * sizeof *pred), *lp = malloc(n_te * S * sizeof *lp);
    double *mean = calloc(n_te, sizeof *mean);
    int64_t rows[BATCH];
    sgld_rng rng = {cfg.seed, 0};
    sgld_step_ctx ctx = {.n_params = P, .temperature = 1.0, .rng = &rng, .work = work, .cfg = &cfg,
                         .opts = sgld_config_opts(&cfg, smp), .model = &m};
    sgld_model_init_params(&m, &rng, theta);
    sgld_sampler_init(smp, &ctx, theta, state);
    int kept = 0;
    for (int t = 1; t <= STEPS; t++) {
        for (int k = 0; k < BATCH; k++) rows[k] = (int64_t)sgld_rng_below(&rng, (uint64_t)t, SGLD_RNG_BATCH, (uint64_t)k, N);
        memset(grad, 0, P * sizeof *grad);
        double l = m.type->loglik_grad(&m, theta, tr, rows, BATCH, grad);
        for (size_t i = 0; i < P; i++) grad[i] *= (float)((double)N / BATCH);
        ctx.lp = l * N / BATCH + sgld_model_log_prior(&m, theta, grad);
        ctx.step = (uint64_t)t;
        ctx.eps = STEP_SIZE;
        smp->step(&ctx, theta, grad, state);
        if (t > BURNIN && (t - BURNIN) % THIN == 0) {
            sgld_net_predict(m.impl, theta, te->X, n_te, pred);
            for (size_t i = 0; i < n_te; i++) {
                double mu = pred[2 * i] * sy + my, var = pred[2 * i + 1] * sy * sy, r = te->y[i] - mu;
                mean[i] += mu / S;
                lp[i * S + kept] = -0.5 * (log(2 * M_PI * var) + r * r / var);
            }
            kept++;
        }
    }
    double sse = 0, sll = 0;
    for (size_t i = 0; i < n_te; i++) {
        sse += (te->y[i] - mean[i]) * (te->y[i] - mean[i]);
        double mx = -INFINITY, acc = 0;
        for (int k = 0; k < S; k++) mx = fmax(mx, lp[i * S + k]);
        for (int k = 0; k < S; k++) acc += exp(lp[i * S + k] - mx);
        sll += mx + log(acc / S);
    }
    *rmse = sqrt(sse / n_te);
    *ll = sll / n_te;
    free(theta), free(grad), free(work), free(state), free(pred), free(lp), free(mean);
    sgld_model_finalize(&m);
    sgld_data_destroy(&tr);
    sgld_data_destroy(&te);
    return 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    const char *root = getenv("SGLD_SOURCE_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tools/data/boston.csv", root ? root : ".");
    int n = getenv("SGLD_BOSTON_SPLITS") ? atoi(getenv("SGLD_BOSTON_SPLITS")) : 10;
    double r[100], l[100], mr = 0, ml = 0, vr = 0, vl = 0;
    if (n < 2 || n > 100) n = 10;
    for (int s = 0; s < n; s++) {
        if (split(s, path, &r[s], &l[s])) return MPI_Finalize(), 1;
        printf("split %2d: test RMSE %.3f  test log-likelihood %.3f\n", s, r[s], l[s]);
        mr += r[s] / n, ml += l[s] / n;
    }
    for (int s = 0; s < n; s++) vr += (r[s] - mr) * (r[s] - mr) / (n - 1), vl += (l[s] - ml) * (l[s] - ml) / (n - 1);
    printf("Boston, %d splits 90/10, mlp fc50-fc2 + sgld (%d steps, batch %d, eps %g, %d draws): "
           "RMSE %.2f +- %.2f, log-likelihood %.2f +- %.2f\n", n, STEPS, BATCH, STEP_SIZE,
           (STEPS - BURNIN) / THIN, mr, sqrt(vr), ml, sqrt(vl));
    int ok = mr <= 3.5 && ml >= -2.7;
    printf("%s (targets: RMSE <= 3.5, log-likelihood >= -2.7)\n", ok ? "PASS" : "FAIL");
    MPI_Finalize();
    return ok ? 0 : 1;
}
