/* test_sampler.c - every registered sampler on a Gaussian target with exact gradients, where
 * the discretized chain's stationary law is known in closed form.
 *
 * SGLD on N(mu, 1/lambda): x' = x + (eps/2)(-lambda (x - mu)) + sqrt(eps T) z is an AR(1) with
 * phi = 1 - eps lambda / 2 and stationary variance eps T / (1 - phi^2) = T / (lambda (1 - eps lambda / 4)).
 * Its ESS is n (1 - phi) / (1 + phi) for the mean and n (1 - phi^2) / (1 + phi^2) for x^2;
 * tolerances are 4 standard errors from those. */
#include "sgld_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sgld/sampler.h"

enum { DIM = 2 };

typedef struct { double mean[DIM], var[DIM]; } moments;

/* Runs n steps of sampler `name` on independent N(mu_i, 1/lambda_i) coordinates. */
static moments run(const char *name, double eps, double T, long n, const double *mu,
                   const double *lambda)
{
    const sgld_sampler_type *s = sgld_sampler_find(name);
    assert_non_null(s);
    float theta[DIM] = {0.25f, -0.75f}, grad[DIM], work[4 * DIM];
    size_t ns = sgld_sampler_state_size(s, DIM);
    float *state = calloc(ns ? ns : 1, sizeof *state);
    sgld_rng rng = {4242, 1};
    sgld_config cfg;
    sgld_config_defaults(&cfg);
    sgld_step_ctx ctx = {.n_params = DIM, .eps = eps, .temperature = T, .rng = &rng, .work = work,
                         .cfg = &cfg, .opts = sgld_config_opts(&cfg, s)};
    sgld_sampler_init(s, &ctx, theta, state);
    double s1[DIM] = {0}, s2[DIM] = {0};
    long burn = 2000;
    for (long t = 1; t <= burn + n; t++) {
        for (int i = 0; i < DIM; i++) grad[i] = (float)(-lambda[i] * (theta[i] - mu[i]));
        ctx.step = (uint64_t)t;
        assert_int_equal(s->step(&ctx, theta, grad, state), SGLD_OK);
        if (t > burn)
            for (int i = 0; i < DIM; i++) {
                s1[i] += theta[i];
                s2[i] += (double)theta[i] * theta[i];
            }
    }
    free(state);
    moments m;
    for (int i = 0; i < DIM; i++) {
        m.mean[i] = s1[i] / n;
        m.var[i] = s2[i] / n - m.mean[i] * m.mean[i];
    }
    return m;
}

static void check_sgld(double T)
{
    const double mu[DIM] = {1.5, -0.5}, lambda[DIM] = {2.0, 0.5}, eps = 0.1;
    const long n = 400000;
    moments m = run("sgld", eps, T, n, mu, lambda);
    for (int i = 0; i < DIM; i++) {
        double phi = 1.0 - eps * lambda[i] / 2.0;
        double var = T / (lambda[i] * (1.0 - eps * lambda[i] / 4.0));
        double ess_mean = n * (1.0 - phi) / (1.0 + phi);
        double ess_sq = n * (1.0 - phi * phi) / (1.0 + phi * phi);
        double tol_mean = 4.0 * sqrt(var / ess_mean);
        double tol_var = 4.0 * var * sqrt(2.0 / ess_sq);
        if (fabs(m.mean[i] - mu[i]) > tol_mean)
            fail_msg("T=%g coord %d: mean %g, want %g +- %g", T, i, m.mean[i], mu[i], tol_mean);
        if (fabs(m.var[i] - var) > tol_var)
            fail_msg("T=%g coord %d: var %g, want %g +- %g", T, i, m.var[i], var, tol_var);
    }
}

static void test_sgld_stationary_law(void **state)
{
    (void)state;
    check_sgld(1.0);
    check_sgld(2.5); /* temperature scales the variance */
}

/* Without noise the iteration contracts to the mode: |x_t - mu| = (1 - eps lambda / 2)^t |x_0 - mu|. */
static void test_sgd_converges_to_mode(void **state)
{
    (void)state;
    const double mu[DIM] = {1.5, -0.5}, lambda[DIM] = {2.0, 0.5};
    moments m = run("sgd", 0.1, 1.0, 1000, mu, lambda);
    for (int i = 0; i < DIM; i++) {
        assert_true(fabs(m.mean[i] - mu[i]) < 1e-5);
        assert_true(m.var[i] < 1e-9);
    }
}

static void test_registry_and_schedule(void **state)
{
    (void)state;
    /* names lists the table in order, ", "-joined; find and at agree */
    char names[512], want[512] = "";
    sgld_sampler_names(names, sizeof names);
    assert_true(sgld_sampler_count() >= 10);
    for (size_t i = 0; i < sgld_sampler_count(); i++) {
        const sgld_sampler_type *s = sgld_sampler_at(i);
        assert_ptr_equal(sgld_sampler_find(s->name), s);
        strcat(strcat(want, i ? ", " : ""), s->name);
    }
    assert_string_equal(names, want);
    assert_int_equal(strncmp(names, "sgd, sgld, fsgd, psgld", 22), 0);
    assert_null(sgld_sampler_at(sgld_sampler_count()));
    assert_null(sgld_sampler_find("hmc"));
    assert_null(sgld_sampler_find(NULL));
    assert_true(sgld_step_size(0.3, 2.0, 0.0, 17) == 0.3);
    assert_true(fabs(sgld_step_size(0.3, 2.0, 0.55, 17) - 0.3 * pow(19.0, -0.55)) < 1e-15);
}

/* Two copies stepping with the same stream stay bitwise identical (what keeps a chain's
 * shard ranks in lock-step without a broadcast). */
static void test_copies_identical(void **state)
{
    (void)state;
    float a[5] = {0.1f, 0.2f, -0.3f, 0.4f, 0.5f}, b[5], g[5] = {1.5f, -2.0f, 0.25f, 3.0f, -0.75f};
    memcpy(b, a, sizeof a);
    float wa[20], wb[20];
    sgld_rng r1 = {77, 3}, r2 = {77, 3};
    sgld_step_ctx c1 = {.n_params = 5, .step = 9, .eps = 0.01, .temperature = 1, .rng = &r1, .work = wa};
    sgld_step_ctx c2 = c1;
    c2.rng = &r2;
    c2.work = wb;
    const sgld_sampler_type *s = sgld_sampler_find("sgld");
    for (int k = 0; k < 10; k++) {
        assert_int_equal(s->step(&c1, a, g, NULL), SGLD_OK);
        assert_int_equal(s->step(&c2, b, g, NULL), SGLD_OK);
    }
    assert_memory_equal(a, b, sizeof a);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgld_stationary_law),
        cmocka_unit_test(test_sgd_converges_to_mode),
        cmocka_unit_test(test_registry_and_schedule),
        cmocka_unit_test(test_copies_identical),
    };
    return sgld_test_run(argc, argv, "sampler", tests, sizeof tests / sizeof tests[0]);
}
