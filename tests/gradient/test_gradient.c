/* test_gradient.c - the gradient estimators (gradient.h) on logistic regression
 * (synthetic:logreg, N = 1000, d = 2, prior N(0, 1)), one rank; and every sampler with every
 * estimator end to end.
 *
 * Unbiased and as variable as theory says.  At theta = theta_hat + 0.05 (each element; the
 * posterior sds are ~0.08-0.1) both estimators are drawn over K = 4000 batches of B = 50 rows
 * (uniform without replacement, Floyd's algorithm on the test's own stream).  An estimate
 * (N / B) sum_{i in batch} a_i has variance N^2 / B sigma^2 (N - B) / (N - 1), sigma^2 the
 * population variance of the rows' a_ij, with a_i = grad l_i(theta) for minibatch and
 * grad l_i(theta) - grad l_i(theta_hat) for cv; the test computes both sigma^2 from the rows.
 * Asserted: every element's mean over the batches is within 4 standard errors of the full
 * gradient (prior included), and each estimator's total variance is within 15% of its
 * theory (the sampling error of a variance from K = 4000 draws is ~2-4%, so 15% is > 3.5
 * of them): a biased estimator, or one that forgot the N / B scale, the centre's term or the
 * finite-population factor, fails.  The cv variance is then below the minibatch's by the
 * factor the rows give (printed, ~1e-3 here).
 *
 * The mode: --init map reaches max |grad| <= tol sqrt(N) on these data.  On separable data
 * under a prior of sd 1e6 the likelihood rises along w0 towards a mode that only the prior
 * makes, far out (the search needs ~28 iterations to get there, w0 ~ 35, where the posterior
 * is thousands of units wide); with a cap of 10 iterations it must stop at the cap with
 * converged = 0 and SGLD_OK: not a hang, not an error, and not a claim of convergence. */
#include "sgld_test.h"
#include "test_config_set.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sgld/config.h"
#include "sgld/data.h"
#include "sgld/gradient.h"
#include "sgld/model.h"
#include "sgld/rng.h"
#include "sgld/run.h"
#include "sgld/sampler.h"

enum { B = 50, K = 4000, PM = 8 };

typedef struct fixture {
    sgld_config cfg;
    sgld_dataset *tr;
    sgld_model m;
} fixture;

static void setup_logreg(fixture *f, const char *path, double prior_sd)
{
    sgld_config_defaults(&f->cfg);
    snprintf(f->cfg.model, sizeof f->cfg.model, "logreg");
    f->cfg.prior_sd = prior_sd;
    f->cfg.batch_size = B;
    sgld_data_options opt = {.path = path, .classification = 1, .n_classes = 2};
    sgld_dataset *te = NULL;
    assert_int_equal(sgld_data_load(MPI_COMM_SELF, 0, 1, &opt, &f->tr, &te), SGLD_OK);
    assert_int_equal(sgld_model_init(&f->m, sgld_model_find("logreg"), f->tr->d, f->tr->n_classes, &f->cfg), SGLD_OK);
    assert_true(f->m.n_params <= PM);
}

static void teardown(fixture *f)
{
    sgld_model_finalize(&f->m);
    sgld_data_destroy(&f->tr);
}

/* Row i's gradient at theta into g (P doubles). */
static void row_grad(const sgld_model *m, const sgld_dataset *d, const float *theta, int64_t i, double *g)
{
    float gf[PM] = {0};
    (void)m->type->loglik_grad(m, theta, d, &i, 1, gf);
    for (size_t j = 0; j < m->n_params; j++) g[j] = gf[j];
}

/* sum_j of the population variance over rows of grad l_i(theta) (centre NULL) or of its
 * change since the centre. */
static double population_variance(const sgld_model *m, const sgld_dataset *d, const float *theta, const float *centre)
{
    const size_t P = m->n_params;
    double s1[PM] = {0}, s2[PM] = {0}, a[PM], c[PM];
    for (int64_t i = 0; i < d->n_local; i++) {
        row_grad(m, d, theta, i, a);
        if (centre) row_grad(m, d, centre, i, c);
        for (size_t j = 0; j < P; j++) {
            double x = a[j] - (centre ? c[j] : 0.0);
            s1[j] += x;
            s2[j] += x * x;
        }
    }
    double v = 0.0, n = (double)d->n_local;
    for (size_t j = 0; j < P; j++) v += s2[j] / n - (s1[j] / n) * (s1[j] / n);
    return v;
}

/* B distinct rows of [0, N) for batch k (Floyd's algorithm). */
static void draw(int64_t N, uint64_t k, int64_t *rows)
{
    const sgld_rng r = {20261207, 0};
    for (int64_t s = 0; s < B; s++) {
        int64_t j = N - B + s, t = (int64_t)sgld_rng_below(&r, k, SGLD_RNG_BATCH, (uint64_t)s, (uint64_t)j + 1);
        int seen = 0;
        for (int64_t u = 0; u < s; u++) seen |= rows[u] == t;
        rows[s] = seen ? j : t;
    }
}

static void test_estimators(void **unused)
{
    (void)unused;
    fixture f;
    setup_logreg(&f, "synthetic:logreg", 1.0);
    const size_t P = f.m.n_params;
    const int64_t N = f.tr->n_total;
    float centre[PM] = {0}, theta[PM], state[SGLD_GRADIENT_STATE(PM)], acc[PM], work[PM], grad[PM];
    sgld_mode_report mr;
    const sgld_mode_options mo = {.max_iterations = 200, .tol = 1e-4};
    assert_int_equal(sgld_gradient_mode(MPI_COMM_SELF, &f.m, f.tr, &mo, centre, &mr), SGLD_OK);
    assert_true(mr.converged);
    assert_true(mr.grad_norm <= 1e-4 * sqrt((double)N));
    assert_int_equal(sgld_gradient_recentre(MPI_COMM_SELF, &f.m, f.tr, centre, state), SGLD_OK);
    for (size_t j = 0; j < P; j++) theta[j] = centre[j] + 0.05f;

    double truth[PM], ll;
    float prior[PM] = {0};
    assert_int_equal(sgld_gradient_full(MPI_COMM_SELF, &f.m, f.tr, theta, truth, &ll), SGLD_OK);
    (void)sgld_model_log_prior(&f.m, theta, prior);
    for (size_t j = 0; j < P; j++) truth[j] += prior[j];

    const double fpc = (double)(N - B) / (double)(N - 1), scale = (double)N / B;
    const char *names[2] = {"minibatch", "cv"};
    double measured[2], theory[2];
    for (int e = 0; e < 2; e++) {
        const sgld_gradient_type *t = sgld_gradient_find(names[e]);
        assert_non_null(t);
        double s1[PM] = {0}, s2[PM] = {0}, lp;
        int64_t rows[B];
        for (int k = 1; k <= K; k++) {
            draw(N, (uint64_t)k, rows);
            memset(acc, 0, sizeof acc);
            double cll = sgld_gradient_at_centre(t, &f.m, f.tr, rows, B, state, work);
            double sll = sgld_gradient_local(t, &f.m, f.tr, rows, B, theta, work, cll, acc);
            sgld_gradient_combine(t, &f.m, state, scale, theta, acc, sll, grad, &lp);
            for (size_t j = 0; j < P; j++) {
                s1[j] += grad[j];
                s2[j] += (double)grad[j] * grad[j];
            }
        }
        measured[e] = 0.0;
        for (size_t j = 0; j < P; j++) {
            double mean = s1[j] / K, var = s2[j] / K - mean * mean, se = sqrt(var / K);
            measured[e] += var;
            printf("  %-9s element %zu: mean %.4f (full gradient %.4f, %+.2f SE), sd %.4g\n", names[e], j, mean,
                   truth[j], (mean - truth[j]) / se, sqrt(var));
            if (fabs(mean - truth[j]) > 4 * se)
                fail_msg("%s: element %zu's mean %.5g is %.1f SE from the full gradient %.5g", names[e], j, mean,
                         fabs(mean - truth[j]) / se, truth[j]);
        }
        theory[e] = scale * N * fpc * population_variance(&f.m, f.tr, theta, e ? centre : NULL);
        printf("  %-9s total variance %.5g, theory %.5g (%+.1f%%)\n", names[e], measured[e], theory[e],
               100 * (measured[e] / theory[e] - 1));
        if (fabs(measured[e] / theory[e] - 1) > 0.15)
            fail_msg("%s: total variance %.5g is not within 15%% of its theory %.5g", names[e], measured[e], theory[e]);
    }
    printf("  cv / minibatch variance: %.3g (theory %.3g)\n", measured[1] / measured[0], theory[1] / theory[0]);
    assert_true(measured[1] < measured[0]);
    teardown(&f);
}

/* Separable data (y = [x0 > 0], |x0| >= 0.5) under prior sd 1e6: the log posterior keeps
 * rising along w0 for 10 iterations and more, so L-BFGS runs into its cap. */
static void test_mode_absent(void **unused)
{
    (void)unused;
    char path[1100];
    snprintf(path, sizeof path, "%.1000s/separable.csv", sgld_test_tmpdir());
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fprintf(out, "x0,x1,y\n");
    for (int i = 0; i < 200; i++) {
        double x0 = (i % 2 ? 1 : -1) * (0.5 + (i % 7) / 7.0), x1 = ((i * 37) % 11) / 11.0 - 0.5;
        fprintf(out, "%.6f,%.6f,%d\n", x0, x1, x0 > 0);
    }
    fclose(out);
    fixture f;
    setup_logreg(&f, path, 1e6);
    float theta[PM] = {0};
    sgld_mode_report mr;
    const sgld_mode_options mo = {.max_iterations = 10, .tol = 1e-3};
    assert_int_equal(sgld_gradient_mode(MPI_COMM_SELF, &f.m, f.tr, &mo, theta, &mr), SGLD_OK);
    printf("  separable: %d iterations, %d gradients, max |grad| %.3g (threshold %.3g), w0 = %.3g, status %d\n",
           mr.iterations, mr.evaluations, mr.grad_norm, mr.threshold, theta[0], mr.lbfgs_status);
    assert_false(mr.converged);
    assert_int_equal(mr.iterations, 10);
    assert_true(theta[0] > 1.0); /* it went the way the likelihood rises */
    teardown(&f);
}

static void test_parse(void **unused)
{
    (void)unused;
    const sgld_gradient_type *t;
    int64_t arg;
    int kind;
    assert_int_equal(sgld_gradient_parse("svrg:3", "--gradient", &t, &arg), SGLD_OK);
    assert_string_equal(t->name, "svrg");
    assert_int_equal(arg, 3);
    assert_int_equal(sgld_gradient_parse("cv", "--gradient", &t, &arg), SGLD_OK);
    assert_true(t->centred && t->needs_mode);
    const char *bad[] = {"svrg:0", "svrg", "svrg:", "svrg:2x", "cv:3", "minibatch:1", "sgrv", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sgld_gradient_parse(bad[i], "--gradient", &t, &arg), SGLD_ERR_USAGE);
        assert_non_null(strstr(sgld_error_message(), "--gradient"));
    }
    assert_int_equal(sgld_init_parse("sgd:2", "--init", &kind, &arg), SGLD_OK);
    assert_true(kind == SGLD_INIT_SGD && arg == 2);
    assert_int_equal(sgld_init_parse("map", "--init", &kind, &arg), SGLD_OK);
    assert_int_equal(kind, SGLD_INIT_MAP);
    const char *bad_init[] = {"sgd:0", "sgd", "maps", "sgd:-1", ""};
    for (size_t i = 0; i < sizeof bad_init / sizeof bad_init[0]; i++)
        assert_int_equal(sgld_init_parse(bad_init[i], "--init", &kind, &arg), SGLD_ERR_USAGE);
}

/* Every registered sampler with every registered estimator: a short run completes with finite
 * draws (the optimizers start at random, centred estimators without a mode (svrg) then; the
 * others at the mode; ksgld on a small network, which has the layers it needs). */
static void test_every_sampler_every_estimator(void **unused)
{
    (void)unused;
    for (size_t i = 0; i < sgld_sampler_count(); i++) {
        const sgld_sampler_type *s = sgld_sampler_at(i);
        for (size_t k = 0; k < sgld_gradient_count(); k++) {
            const sgld_gradient_type *g = sgld_gradient_at(k);
            if (!s->adds_noise && g->needs_mode) continue; /* refused: an optimizer at the mode */
            const int network = strcmp(s->name, "ksgld") == 0;
            sgld_config cfg;
            sgld_config_defaults(&cfg);
            snprintf(cfg.sampler, sizeof cfg.sampler, "%s", s->name);
            snprintf(cfg.model, sizeof cfg.model, "%s", network ? "mlp" : "logreg");
            snprintf(cfg.data, sizeof cfg.data, "%s", network ? "synthetic:linreg" : "synthetic:logreg");
            if (network) sgld_test_set(&cfg, "net", "fc4-fc1");
            snprintf(cfg.gradient, sizeof cfg.gradient, "%s%s", g->name, g->arg ? ":1" : "");
            snprintf(cfg.init, sizeof cfg.init, "%s", !s->adds_noise ? "random" : network ? "sgd:1" : "map");
            cfg.steps = 300;
            cfg.burnin = 100;
            cfg.step_size = 1e-4;
            cfg.quiet = 1;
            sgld_run_report rep;
            sgld_status st = sgld_run(MPI_COMM_WORLD, &cfg, 1, &rep);
            printf("  %-7s x %-9s: %s\n", s->name, cfg.gradient, st == SGLD_OK ? "ok" : sgld_error_message());
            assert_int_equal(st, SGLD_OK);
            for (size_t j = 0; j < (size_t)rep.n_draws * rep.model.n_params; j++) assert_true(isfinite(rep.draws[j]));
            sgld_run_report_free(&rep);
        }
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_estimators),
        cmocka_unit_test(test_mode_absent),
        cmocka_unit_test(test_every_sampler_every_estimator),
    };
    return sgld_test_run(argc, argv, "gradient", tests, sizeof tests / sizeof tests[0]);
}
