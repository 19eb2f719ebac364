/* test_model.c - every registered linear model: layout, gradient check against central
 * finite differences, prior, predictions, registry and argument errors. */
#include "sgld_test.h"
#include "test_config_set.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sgld/model.h"

/* The model options of a run, as sgld_model_init takes them. */
static const sgld_config *opts(double noise_sd, double prior_sd)
{
    static sgld_config c;
    sgld_config_defaults(&c);
    sgld_test_set(&c, "noise-sd", "%.17g", noise_sd);
    c.prior_sd = prior_sd;
    return &c;
}

enum { N = 7, D = 3 };

/* A small data set with non-trivial values; y filled per task. */
static void make_data(sgld_dataset *ds, float *X, float *y, int n_classes)
{
    memset(ds, 0, sizeof *ds);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) X[i * D + j] = (float)(0.37 * (i + 1) - 0.21 * j * j + 0.13 * i * j - 0.9);
        y[i] = n_classes ? (float)((i * 2 + 1) % n_classes) : (float)(1.3 - 0.45 * i + 0.07 * i * i);
    }
    ds->n_total = ds->n_local = N;
    ds->d = D;
    ds->X = X;
    ds->y = y;
    ds->n_classes = n_classes;
}

/* Central differences of the (double) log-likelihood in each parameter vs the analytic
 * gradient.  The models are smooth; with h = 1e-2 the truncation error is O(h^2 f''') and
 * the rounding error of float theta about 1e-7 / h: bound 2e-3 relative to max(1, |g|). */
static void gradient_check(const char *name, int n_classes)
{
    const sgld_model_type *t = sgld_model_find(name);
    assert_non_null(t);
    sgld_model m;
    assert_int_equal(sgld_model_init(&m, t, D, n_classes, opts(0.7, 1.5)), SGLD_OK);
    float X[N * D], y[N];
    sgld_dataset ds;
    make_data(&ds, X, y, m.classification ? n_classes : 0);
    int64_t rows[N];
    for (int i = 0; i < N; i++) rows[i] = (i * 3) % N; /* a permutation */
    float *theta = calloc(m.n_params, sizeof *theta), *grad = calloc(m.n_params, sizeof *grad);
    for (size_t k = 0; k < m.n_params; k++) theta[k] = (float)(0.3 * sin(1.7 * k + 0.4));
    (void)t->loglik_grad(&m, theta, &ds, rows, N, grad);
    const float h = 1e-2f;
    for (size_t k = 0; k < m.n_params; k++) {
        float *g0 = calloc(m.n_params, sizeof *g0);
        float keep = theta[k];
        theta[k] = keep + h;
        double up = t->loglik_grad(&m, theta, &ds, rows, N, g0);
        theta[k] = keep - h;
        double down = t->loglik_grad(&m, theta, &ds, rows, N, g0);
        theta[k] = keep;
        double fd = (up - down) / (2.0 * h);
        double err = fabs(fd - grad[k]) / fmax(1.0, fabs(fd));
        if (err > 2e-3) fail_msg("%s: d/dtheta[%zu]: analytic %g, finite difference %g", name, k, grad[k], fd);
        free(g0);
    }
    free(theta);
    free(grad);
}

static void test_gradients(void **state)
{
    (void)state;
    gradient_check("linreg", 0);
    gradient_check("logreg", 2);
    gradient_check("softmax", 4);
}

static void test_layouts(void **state)
{
    (void)state;
    sgld_model m;
    assert_int_equal(sgld_model_init(&m, sgld_model_find("linreg"), 5, 0, opts(0.5, 1.0)), SGLD_OK);
    assert_int_equal(m.n_params, 6);
    assert_int_equal(m.n_vars, 2);
    assert_string_equal(m.vars[0].name, "w");
    assert_int_equal(m.vars[0].dims[0], 5);
    assert_string_equal(m.vars[1].name, "b");
    assert_int_equal(m.vars[1].offset, 5);
    assert_int_equal(m.vars[1].n_dims, 0);
    assert_int_equal(sgld_model_init(&m, sgld_model_find("softmax"), 4, 3, opts(0.5, 1.0)), SGLD_OK);
    assert_int_equal(m.n_params, 4 * 3 + 3);
    assert_int_equal(m.vars[0].n_dims, 2);
    assert_string_equal(m.vars[0].dim_names[1], "class");
    assert_int_equal(m.vars[1].offset, 12);
    assert_int_equal(sgld_model_n_outputs(&m), 3);
}

static void test_prior(void **state)
{
    (void)state;
    sgld_model m;
    assert_int_equal(sgld_model_init(&m, sgld_model_find("linreg"), 2, 0, opts(0.5, 2.0)), SGLD_OK);
    float theta[3] = {0.5f, -1.25f, 3.0f}, grad[3] = {0};
    double lp = sgld_model_log_prior(&m, theta, grad);
    double ss = 0.25 + 1.5625 + 9.0;
    assert_true(fabs(lp - (-0.5 * ss / 4.0 - 3.0 * log(2.0 * sqrt(2.0 * M_PI)))) < 1e-12);
    assert_true(fabs(grad[1] - 1.25f / 4.0f) < 1e-7);
}

static void test_predictions(void **state)
{
    (void)state;
    sgld_model m;
    float X[N * D], y[N];
    sgld_dataset ds;
    make_data(&ds, X, y, 3);
    assert_int_equal(sgld_model_init(&m, sgld_model_find("softmax"), D, 3, opts(0.5, 1.0)), SGLD_OK);
    float theta[D * 3 + 3];
    for (int k = 0; k < D * 3 + 3; k++) theta[k] = (float)(0.2 * k - 0.9);
    double p[N * 3];
    m.type->predict(&m, theta, X, N, p);
    for (int i = 0; i < N; i++) {
        assert_true(fabs(p[3 * i] + p[3 * i + 1] + p[3 * i + 2] - 1.0) < 1e-12);
        /* the log-likelihood of one row is log p[y] */
        int64_t row = i;
        float g[D * 3 + 3] = {0};
        double ll = m.type->loglik_grad(&m, theta, &ds, &row, 1, g);
        assert_true(fabs(ll - log(p[3 * i + (int)y[i]])) < 1e-9);
    }
    assert_int_equal(sgld_model_init(&m, sgld_model_find("linreg"), D, 0, opts(0.5, 1.0)), SGLD_OK);
    float w[D + 1] = {0.5f, -0.25f, 2.0f, 0.75f};
    double f[2 * N];
    m.type->predict(&m, w, X, N, f);
    for (int i = 0; i < N; i++) { /* (mean, variance = noise_sd^2) per row */
        assert_true(fabs(f[2 * i] - (0.75 + 0.5 * X[i * D] - 0.25 * X[i * D + 1] + 2.0 * X[i * D + 2])) < 1e-6);
        assert_true(f[2 * i + 1] == 0.5 * 0.5);
    }
    assert_int_equal(sgld_model_n_outputs(&m), 2);
}

static void test_registry_and_errors(void **state)
{
    (void)state;
    char names[256];
    sgld_model_names(names, sizeof names);
    /* the linear models come first; later issues append theirs */
    assert_true(strncmp(names, "linreg, logreg, softmax", 23) == 0);
    assert_true(names[23] == '\0' || names[23] == ',');
    assert_null(sgld_model_find("mlp2"));
    sgld_model m;
    assert_int_equal(sgld_model_init(&m, sgld_model_find("logreg"), 3, 3, opts(0.5, 1.0)), SGLD_ERR_ARG);
    assert_string_equal(sgld_error_message(), "model logreg needs 2 classes, the data have 3");
    assert_int_equal(sgld_model_init(&m, sgld_model_find("softmax"), 3, 1, opts(0.5, 1.0)), SGLD_ERR_ARG);
    assert_string_equal(sgld_error_message(), "model softmax needs at least 2 classes, the data have 1");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_prior),
        cmocka_unit_test(test_predictions),
        cmocka_unit_test(test_registry_and_errors),
    };
    return sgld_test_run(argc, argv, "model", tests, sizeof tests / sizeof tests[0]);
}
