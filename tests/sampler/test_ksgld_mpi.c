/* test_ksgld_mpi.c - ksgld with one chain on S > 1 data shards (src/sampler/ksgld.c), run at
 * 1, 2 and 4 ranks (S = the rank count).  Suite 'stat'.
 *
 * (1) The chain's factors, directly.  An MLP fc4-relu-fc3 (softmax, so G uses the drawn
 *     targets, keyed by the global row) on 11 rows of 3 features, sharded by
 *     sgld_data_shard_range (S = 4: 2, 3, 3, 3 rows).  Three steps of ksgld at one fixed theta
 *     (decay 0.5, --kfac-every 2: refreshes at steps 1 and 3) on three batches: 8 rows of
 *     which shard 3 holds none at S = 4, 5 rows spread unevenly, all 11.  Every rank calls the
 *     hook on its own rows of the batch and the step with chain_sum = MPI_Allreduce over the
 *     world; a second model on every rank holds all rows and runs the same steps alone.  At
 *     each refresh the chain's factors (sgld_kfac.tri, what the Cholesky reads) must equal the
 *     one-rank factors of the same global batch within 1e-5 of the largest entry (float sums
 *     in another order; S = 1: the same bits).  The state's K_A, K_G and the stepped theta
 *     must be the same bits on every rank.
 * (2) Through sgld_run on the conformance target of test_conformance.c: linreg3 as --model mlp
 *     --net fc1 (linreg exactly), eps 0.1, B = 250 of 500, seed 20250605, 50000 steps after
 *     5000 burn-in.  One chain on S ranks (MPI_COMM_WORLD) and the same chain (same seed, so
 *     the same batches and noise) on one rank (rank 0, MPI_COMM_SELF; skipped at S = 1, where
 *     it is the same run):
 *     - the S-rank chain's final theta: the same FNV-1a hash on every rank (run.c's
 *       theta_hash; a rank whose copy drifted would differ);
 *     - each run's posterior mean and sd of the 4 parameters vs the exact posterior: within
 *       4 MCSE (40 batch means) + 3% of the sd, conformance's ksgld budget (see there);
 *     - S ranks vs one rank: the means within one MCSE of each other, and the draws within
 *       1e-3 posterior sd of each other everywhere.  The chains share batches and noise, so
 *       they differ only by float summation order -- unless the shards' factors were weighted
 *       wrongly (unweighted means: the factors S times too large) or summed wrongly, which
 *       changes P and so every draw.  (Observed: about 1e-5 sd.) */
#include "sgld_test.h"
#include "test_config_set.h"
#include "exact_linreg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgld/config.h"
#include "sgld/data.h"
#include "sgld/model.h"
#include "sgld/run.h"
#include "sgld/sampler.h"

/* ---- (1) the chain's factors against one rank's ---- */

enum { N = 11, D = 3, K = 3, MAXP = 64 };

static float val(int i, double a, double b) { return (float)(a * sin(1.37 * i + b) + 0.1 * cos(0.71 * i * i)); }

static sgld_status world_sum(void *self, float *buf, size_t n)
{
    (void)self;
    return MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS
               ? SGLD_OK
               : SGLD_ERR_MPI;
}

static uint64_t hash(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int same_on_all_ranks(uint64_t h)
{
    uint64_t lo, hi;
    MPI_Allreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

static void test_factors_sum_over_shards(void **state)
{
    (void)state;
    const int S = sgld_test_size(), s = sgld_test_rank();
    static const int64_t batch1[] = {0, 1, 2, 3, 4, 5, 6, 7}, batch2[] = {1, 9, 10, 6, 3},
                         batch3[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    const int64_t *batches[3] = {batch1, batch2, batch3};
    const size_t sizes[3] = {8, 5, 11};
    float X[N * D], y[N];
    for (int i = 0; i < N * D; i++) X[i] = val(i, 1.0, 0.3);
    for (int i = 0; i < N; i++) y[i] = (float)(i % K);
    int64_t lo, hi;
    sgld_data_shard_range(N, s, S, &lo, &hi);
    sgld_dataset all = {.n_total = N, .n_local = N, .d = D, .X = X, .y = y, .n_classes = K};
    sgld_dataset mine = {.n_total = N, .row_begin = lo, .n_local = hi - lo, .d = D, .X = X + lo * D, .y = y + lo,
                         .n_classes = K};

    sgld_config cfg;
    sgld_config_defaults(&cfg);
    sgld_test_set(&cfg, "net", "fc4-relu-fc3");
    sgld_test_set(&cfg, "kfac-decay", "0.5");
    sgld_test_set(&cfg, "kfac-every", "2");
    sgld_test_set(&cfg, "kfac-damping", "0.3");
    const sgld_sampler_type *ks = sgld_sampler_find("ksgld");
    sgld_model chain, one;
    size_t ns[2], nl[2];
    cfg.batch_size = N; /* the networks' largest batch */
    assert_int_equal(sgld_model_init(&chain, sgld_model_find("cnn"), D, K, &cfg), SGLD_OK);
    assert_int_equal(sgld_model_init(&one, sgld_model_find("cnn"), D, K, &cfg), SGLD_OK);
    assert_int_equal(ks->prepare(&chain, &cfg, S, N, &ns[0], &nl[0]), SGLD_OK);
    assert_int_equal(ks->prepare(&one, &cfg, 1, N, &ns[1], &nl[1]), SGLD_OK);
    const size_t np = chain.n_params;
    assert_true(np <= MAXP);
    sgld_kfac *kc, *k1;
    assert_int_equal(chain.type->kfac(&chain, &kc), SGLD_OK);
    assert_int_equal(one.type->kfac(&one, &k1), SGLD_OK);
    float *st_c = calloc(ns[0], sizeof(float)), *st_1 = calloc(ns[1], sizeof(float));
    float theta[MAXP], g[MAXP], grad[MAXP], work[4 * MAXP], th_c[MAXP], th_1[MAXP];
    for (size_t i = 0; i < np; i++) {
        theta[i] = val((int)i, 0.6, 2.0);
        g[i] = val((int)i, 5.0, 0.2);
    }
    sgld_rng rng = {77, 0};
    sgld_step_ctx cc = {.n_params = np, .eps = 0.01, .temperature = 1, .rng = &rng, .cfg = &cfg, .model = &chain,
                        .opts = sgld_config_opts(&cfg, sgld_sampler_find("ksgld")), .work = work, .chain_sum = world_sum},
                  c1 = cc;
    c1.model = &one;
    c1.chain_sum = NULL;
    ks->init(&cc, theta, st_c);
    ks->init(&c1, theta, st_1);
    double worst = 0;
    for (int t = 0; t < 3; t++) {
        int64_t local[N];
        size_t n_local = 0;
        for (size_t i = 0; i < sizes[t]; i++)
            if (batches[t][i] >= lo && batches[t][i] < hi) local[n_local++] = batches[t][i] - lo;
        cfg.batch_size = (int64_t)sizes[t];
        cc.step = c1.step = (uint64_t)t + 1;
        chain.type->loglik_grad(&chain, theta, &mine, local, n_local, grad);
        one.type->loglik_grad(&one, theta, &all, batches[t], sizes[t], grad);
        assert_int_equal(kc->n_rows, n_local);
        memcpy(th_c, theta, np * sizeof(float));
        memcpy(th_1, theta, np * sizeof(float));
        assert_int_equal(ks->step(&cc, th_c, g, st_c), SGLD_OK);
        assert_int_equal(ks->step(&c1, th_1, g, st_1), SGLD_OK);
        /* K_A, K_G (the shared state before the local part) and theta: one value per chain */
        assert_true(same_on_all_ranks(hash(st_c, (ns[0] - nl[0]) * sizeof(float))));
        assert_true(same_on_all_ranks(hash(th_c, np * sizeof(float))));
        if (t == 1) continue; /* no refresh at step 2: tri holds step 1's sums */
        double mx = 0, dev = 0;
        for (size_t i = 0; i < kc->n_tri; i++) mx = fmax(mx, fabs(k1->tri[i]));
        for (size_t i = 0; i < kc->n_tri; i++) dev = fmax(dev, fabs(kc->tri[i] - k1->tri[i]) / mx);
        if (s == 0)
            printf("  step %d: %zu batch rows on %d shard(s) (shard 0 holds %zu): chain's factors vs one "
                   "rank's, max |dev| %.2g of the largest entry (tol 1e-5)\n", t + 1, sizes[t], S, n_local, dev);
        assert_true(dev <= 1e-5);
        if (S == 1) assert_memory_equal(kc->tri, k1->tri, kc->n_tri * sizeof(float));
        worst = fmax(worst, dev);
    }
    if (s == 0) printf("  %d shard(s): worst factor deviation %.2g\n", S, worst);
    free(st_c);
    free(st_1);
    sgld_model_finalize(&chain);
    sgld_model_finalize(&one);
}

/* ---- (2) one chain on S shards vs one rank, through sgld_run ---- */

enum { NB = 40, PMAX = EXACT_LINREG_PMAX };

static void conformance_config(sgld_config *cfg)
{
    sgld_config_defaults(cfg);
    snprintf(cfg->data, sizeof cfg->data, "synthetic:linreg3");
    snprintf(cfg->model, sizeof cfg->model, "mlp");
    sgld_test_set(cfg, "net", "fc1");
    snprintf(cfg->sampler, sizeof cfg->sampler, "ksgld");
    sgld_test_set(cfg, "noise-sd", "0.5");
    cfg->prior_sd = 1.0;
    cfg->chains = 1;
    cfg->batch_size = 250;
    cfg->steps = 55000;
    cfg->burnin = 5000;
    cfg->thin = 1;
    cfg->step_size = 0.1;
    cfg->seed = 20250605;
    cfg->quiet = 1;
}

/* Mean of column i of n draws x p and its MCSE from NB batch means; the sd and its MCSE from
 * the batch means q_b of (x - mean)^2 (delta method: MCSE(sd) = MCSE(var) / (2 sd)). */
static void moments(const float *x, size_t n, int p, int i, double *m, double *mm, double *sd, double *msd)
{
    const size_t len = n / NB;
    double bm[NB], bv[NB], sm = 0;
    for (int b = 0; b < NB; b++) {
        double s1 = 0, s2 = 0;
        for (size_t r = b * len; r < (b + 1) * len; r++) s1 += x[r * p + i];
        bm[b] = s1 / len;
        for (size_t r = b * len; r < (b + 1) * len; r++) s2 += pow(x[r * p + i] - bm[b], 2);
        bv[b] = s2 / len;
        sm += bm[b];
    }
    *m = sm / NB;
    double v = 0, vm = 0, vv = 0;
    for (int b = 0; b < NB; b++) v += bv[b] + pow(bm[b] - *m, 2);
    v /= NB;
    for (int b = 0; b < NB; b++) {
        vm += pow(bm[b] - *m, 2);
        const double q = bv[b] + pow(bm[b] - *m, 2); /* batch b's mean of (x - mean)^2 */
        vv += (q - v) * (q - v);
    }
    *mm = sqrt(vm / (NB - 1) / NB);
    *sd = sqrt(v);
    *msd = sqrt(vv / (NB - 1) / NB) / (2 * *sd);
}

static int check_posterior(const char *what, const float *x, size_t n, int p, const double *mu, const double *sd,
                           double *mean, double *mcse)
{
    int bad = 0;
    for (int i = 0; i < p; i++) {
        double m, mm, s, ms;
        moments(x, n, p, i, &m, &mm, &s, &ms);
        mean[i] = m;
        mcse[i] = mm;
        const double tol_m = 4 * mm + 0.03 * sd[i], tol_s = 4 * ms + 0.03 * sd[i];
        const int b = fabs(m - mu[i]) > tol_m || fabs(s - sd[i]) > tol_s;
        printf("  %s theta[%d]: mean %+.5f exact %+.5f (%+.3f sd, tol %.3f)  sd %.5f exact %.5f (%+.1f%%, tol "
               "%.1f%%)%s\n", what, i, m, mu[i], (m - mu[i]) / sd[i], tol_m / sd[i], s, sd[i],
               100 * (s / sd[i] - 1), 100 * tol_s / sd[i], b ? "  FAIL" : "");
        bad += b;
    }
    return bad;
}

static void test_shards_vs_one_rank(void **state)
{
    (void)state;
    const int S = sgld_test_size(), rank = sgld_test_rank();
    sgld_config cfg;
    conformance_config(&cfg);
    sgld_run_report one = {0}, many = {0};
    if (S > 1) {
        if (rank == 0) assert_int_equal(sgld_run(MPI_COMM_SELF, &cfg, 1, &one), SGLD_OK);
        MPI_Barrier(MPI_COMM_WORLD);
    }
    assert_int_equal(sgld_run(MPI_COMM_WORLD, &cfg, 1, &many), SGLD_OK);
    assert_int_equal(many.n_shards, S);
    const int same = same_on_all_ranks(many.theta_hash);
    if (rank == 0)
        printf("  final theta of the chain on %d rank(s): %s hash on every rank\n", S, same ? "the same" : "NOT the same");
    assert_true(same);
    if (rank == 0) {
        int p;
        double mu[PMAX], sd[PMAX], m1[PMAX], e1[PMAX], ms[PMAX], es[PMAX];
        exact_linreg_posterior("synthetic:linreg3", 0.5, 1.0, &p, mu, sd);
        assert_non_null(many.draws);
        assert_int_equal((int)many.model.n_params, p);
        const size_t n = (size_t)many.n_draws;
        char what[32];
        snprintf(what, sizeof what, "S=%d", S);
        int bad = check_posterior(what, many.draws, n, p, mu, sd, ms, es);
        if (S > 1) {
            assert_non_null(one.draws);
            assert_int_equal(one.n_draws, many.n_draws);
            bad += check_posterior("S=1", one.draws, n, p, mu, sd, m1, e1);
            double worst = 0, worst_m = 0;
            for (int i = 0; i < p; i++) {
                worst_m = fmax(worst_m, fabs(ms[i] - m1[i]) / e1[i]);
                for (size_t r = 0; r < n; r++)
                    worst = fmax(worst, fabs(many.draws[r * p + i] - one.draws[r * p + i]) / sd[i]);
            }
            printf("  S=%d vs S=1, %zu draws: means differ by at most %.2g MCSE (tol 1), draws by at most %.2g "
                   "posterior sd (tol 1e-3)\n", S, n, worst_m, worst);
            bad += worst_m > 1.0;
            bad += !(worst <= 1e-3);
        }
        if (bad) fail_msg("%d check(s) failed", bad);
    }
    sgld_run_report_free(&one);
    sgld_run_report_free(&many);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_factors_sum_over_shards),
        cmocka_unit_test(test_shards_vs_one_rank),
    };
    return sgld_test_run(argc, argv, "ksgld-mpi", tests, sizeof tests / sizeof tests[0]);
}
