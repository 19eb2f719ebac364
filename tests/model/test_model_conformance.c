/* test_model_conformance.c - every registered model against the model contract of
 * include/sgld/model.h.  The test LOOPS OVER THE REGISTRY (sgld_model_count/at): a model
 * without an entry in `cases` fails it, so a new model comes with its case.
 *
 * Per case (a model with its options on a small data set of N rows):
 *   layout     vars tile theta: offsets start at 0 and are contiguous in order, sizes are the
 *              product of the dims, the last ends at n_params; names non-empty and unique,
 *              dim names non-empty.
 *   prior      sgld_model_log_prior equals the closed form sum_v [-|theta_v|^2 / (2 sd_v^2)
 *              - size_v log(sd_v sqrt(2 pi))] (sd_v the tensor's own prior sd, else prior_sd)
 *              to 1e-12 relative, and its gradient -theta_v / sd_v^2.
 *   gradient   loglik_grad's gradient against central differences of its value, every
 *              element (tolerance below).
 *   predict    out[n][sgld_model_n_outputs] is written and nothing past it; probabilities
 *              in [0, 1] summing to 1, or a variance > 0; and one row's loglik_grad value is
 *              the log density of its target under that row's predict output (log p[y], or
 *              log N(y; mean, variance)), or the model's own density (loglik_rows, which a
 *              count model has): predict and the likelihood are one model.
 *   check_data a model that checks its data accepts the case's data set.
 * The plug-in example tools/examples/poisson.c is compiled in and registered (its
 * sgld_plugin_init) before the loop, so it meets the contract as a built-in model does.
 *
 * Gradient tolerance.  The differences are taken in double on the double value loglik_grad
 * returns; theta is float, so the step is h = 2^-6: theta +- h is exact in float for
 * |theta| < 1 (a multiple of theta's ulp), and the difference quotient divides by exactly 2h.
 * Its error is truncation + rounding:
 *   truncation  h^2 f''' / 6, estimated from the same quotient at h / 2:
 *               D(h) - D(h/2) = (3/4) h^2 f''' / 6, so trunc(h) ~ (4/3) |D(h) - D(h/2)|;
 *               this is independent of the analytic gradient, so a wrong gradient still fails;
 *   rounding    2 e S / (2 h) = e S / h, S = |f| + N the scale of the sum of N per-row terms,
 *               e its relative evaluation error: 16 DBL_EPSILON for the linear models (double
 *               throughout), 16 FLT_EPSILON for the networks (float GEMMs, double sums; 16
 *               covers the rounding of a few float layers with fan-in <= 16);
 *   storage     the analytic gradient is a float accumulated over N rows: N FLT_EPSILON |g|.
 * Bound: 2 (trunc + rounding + storage) (factor 2: the estimates are first-order).  The
 * networks use tanh, not ReLU: a kink within h of a pre-activation would break the
 * differences (max-pooling's kink remains: the fixed theta keeps its argmax away from ties,
 * which a failure here would show). */
#include "sgld_test.h"
#include "test_config_set.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgld/model.h"
#include "sgld/plugin.h"

enum { N = 9, MAX_D = 16 };

typedef struct model_case {
    const char *model, *label;
    int d, n_classes;           /* features; classes of the data (0: a real target) */
    const char *task, *net, *input_shape, *prior_sd_layers;
    int float_eval;             /* 1: the value is computed in float (networks) */
    int counts;                 /* 1: targets are counts 0, 1, 2, ... (a real target otherwise) */
} model_case;

static const model_case cases[] = {
    {"linreg", "linreg", 3, 0, "", "", "", "", 0, 0},
    {"logreg", "logreg", 3, 2, "", "", "", "", 0, 0},
    {"softmax", "softmax", 3, 4, "", "", "", "", 0, 0},
    {"mlp", "mlp heteroscedastic", 3, 0, "", "fc5-tanh-fc2", "", "", 1, 0},
    {"mlp", "mlp fixed noise, per-layer prior", 3, 0, "", "fc4-tanh-fc1", "", "0.5,2", 1, 0},
    {"mlp", "mlp classification", 3, 3, "classification", "fc5-tanh-fc3", "", "", 1, 0},
    {"cnn", "cnn conv-pool-fc", 16, 3, "", "conv2k3-tanh-pool2-fc3", "1x4x4", "0.7,1.3", 1, 0},
    {"poisson", "poisson (plug-in example)", 3, 0, "", "", "", "", 0, 1},
};

static const sgld_config *case_config(const model_case *c)
{
    static sgld_config cfg;
    sgld_config_defaults(&cfg);
    sgld_test_set(&cfg, "noise-sd", "0.7");
    cfg.prior_sd = 1.5;
    cfg.batch_size = N; /* the networks' workspace rows */
    snprintf(cfg.task, sizeof cfg.task, "%s", c->task);
    sgld_test_set(&cfg, "net", "%s", c->net);
    sgld_test_set(&cfg, "input-shape", "%s", c->input_shape);
    sgld_test_set(&cfg, "prior-sd-layers", "%s", c->prior_sd_layers);
    return &cfg;
}

/* N rows of non-trivial features in about [-1.5, 1.5] and targets for the task. */
static void make_data(const model_case *c, sgld_dataset *ds, float *X, float *y)
{
    memset(ds, 0, sizeof *ds);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < c->d; j++) X[i * c->d + j] = (float)(1.4 * sin(0.37 * (i + 1) + 1.3 * j + 0.11 * i * j));
        y[i] = c->n_classes ? (float)((i * 2 + 1) % c->n_classes)
             : c->counts    ? (float)((i * 5 + 2) % 7)
                            : (float)(1.3 - 0.45 * i + 0.07 * i * i);
    }
    ds->n_total = ds->n_local = N;
    ds->d = c->d;
    ds->X = X;
    ds->y = y;
    ds->n_classes = c->n_classes;
}

static void check_layout(const model_case *c, const sgld_model *m)
{
    assert_true(m->n_vars >= 1 && m->n_vars <= SGLD_MODEL_MAX_VARS);
    size_t next = 0;
    for (int v = 0; v < m->n_vars; v++) {
        const sgld_param_var *pv = &m->vars[v];
        if (!pv->name[0]) fail_msg("%s: variable %d has no name", c->label, v);
        for (int u = 0; u < v; u++)
            if (strcmp(m->vars[u].name, pv->name) == 0) fail_msg("%s: variable name '%s' twice", c->label, pv->name);
        if (pv->offset != next) fail_msg("%s: %s starts at %zu, expected %zu", c->label, pv->name, pv->offset, next);
        assert_true(pv->n_dims >= 0 && pv->n_dims <= SGLD_MODEL_MAX_DIMS);
        size_t size = 1;
        for (int k = 0; k < pv->n_dims; k++) {
            assert_true(pv->dims[k] >= 1);
            if (!pv->dim_names[k][0]) fail_msg("%s: %s dimension %d has no name", c->label, pv->name, k);
            size *= (size_t)pv->dims[k];
        }
        if (pv->size != size) fail_msg("%s: %s has size %zu, its dims give %zu", c->label, pv->name, pv->size, size);
        next += pv->size;
    }
    if (next != m->n_params) fail_msg("%s: the variables cover %zu of %zu parameters", c->label, next, m->n_params);
}

static void check_prior(const model_case *c, const sgld_model *m, const float *theta)
{
    float *grad = calloc(m->n_params, sizeof *grad);
    const double lp = sgld_model_log_prior(m, theta, grad);
    double expect = 0.0;
    for (int v = 0; v < m->n_vars; v++) {
        const sgld_param_var *pv = &m->vars[v];
        const double sd = pv->prior_sd > 0 ? pv->prior_sd : m->prior_sd;
        for (size_t i = pv->offset; i < pv->offset + pv->size; i++) {
            expect -= 0.5 * (double)theta[i] * theta[i] / (sd * sd) + log(sd * sqrt(2.0 * M_PI));
            const double g = -(double)theta[i] / (sd * sd);
            if (fabs(grad[i] - g) > 2.0 * FLT_EPSILON * fabs(g))
                fail_msg("%s: prior gradient [%zu] %g, closed form %g", c->label, i, grad[i], g);
        }
    }
    if (fabs(lp - expect) > 1e-12 * fmax(1.0, fabs(expect)))
        fail_msg("%s: log prior %.17g, closed form %.17g", c->label, lp, expect);
    free(grad);
}

/* The central difference quotient of the log-likelihood in theta[k] with step h. */
static double central(const sgld_model *m, float *theta, const sgld_dataset *ds, const int64_t *rows,
                      size_t k, float h, float *scratch)
{
    const float keep = theta[k];
    theta[k] = keep + h;
    const double up = m->type->loglik_grad(m, theta, ds, rows, N, scratch);
    theta[k] = keep - h;
    const double down = m->type->loglik_grad(m, theta, ds, rows, N, scratch);
    theta[k] = keep;
    return (up - down) / (2.0 * (double)h);
}

static void check_gradient(const model_case *c, const sgld_model *m, float *theta, const sgld_dataset *ds)
{
    int64_t rows[N];
    for (int i = 0; i < N; i++) rows[i] = (i * 4) % N; /* a permutation */
    float *grad = calloc(m->n_params, sizeof *grad), *scratch = calloc(m->n_params, sizeof *scratch);
    const double f = m->type->loglik_grad(m, theta, ds, rows, N, grad);
    assert_true(isfinite(f));
    const float h = 0x1p-6f;
    const double e = 16.0 * (c->float_eval ? FLT_EPSILON : DBL_EPSILON), S = fabs(f) + N;
    for (size_t k = 0; k < m->n_params; k++) {
        const double d1 = central(m, theta, ds, rows, k, h, scratch);
        const double d2 = central(m, theta, ds, rows, k, 0.5f * h, scratch);
        const double tol = 2.0 * (4.0 / 3.0 * fabs(d1 - d2) + e * S / h + N * FLT_EPSILON * fabs(grad[k]));
        if (fabs(d1 - grad[k]) > tol)
            fail_msg("%s: d loglik / d theta[%zu]: analytic %.9g, central difference %.9g (tolerance %.3g)",
                     c->label, k, grad[k], d1, tol);
    }
    free(grad);
    free(scratch);
}

static void check_predict(const model_case *c, const sgld_model *m, const float *theta, const sgld_dataset *ds)
{
    const int K = sgld_model_n_outputs(m);
    assert_int_equal(K, m->classification ? (c->n_classes > 2 ? c->n_classes : 2) : 2);
    double *out = malloc((size_t)(N + 1) * K * sizeof *out);
    for (int i = 0; i < (N + 1) * K; i++) out[i] = NAN;
    m->type->predict(m, theta, ds->X, N, out);
    for (int i = N * K; i < (N + 1) * K; i++)
        if (!isnan(out[i])) fail_msg("%s: predict wrote past its %d x %d outputs", c->label, N, K);
    float *g = calloc(m->n_params, sizeof *g);
    for (int i = 0; i < N; i++) {
        const double *o = out + (size_t)i * K;
        double logp;
        if (m->classification) {
            double sum = 0.0;
            for (int k = 0; k < K; k++) {
                if (!(o[k] >= 0.0 && o[k] <= 1.0)) fail_msg("%s: row %d: probability %g", c->label, i, o[k]);
                sum += o[k];
            }
            if (fabs(sum - 1.0) > 1e-6) fail_msg("%s: row %d: probabilities sum to %.9g", c->label, i, sum);
            logp = log(o[(int)ds->y[i]]);
        } else {
            if (!(o[1] > 0.0 && isfinite(o[0]))) fail_msg("%s: row %d: mean %g, variance %g", c->label, i, o[0], o[1]);
            const double r = ds->y[i] - o[0];
            logp = -0.5 * r * r / o[1] - 0.5 * log(2.0 * M_PI * o[1]);
            if (m->type->loglik_rows) /* the model's own density instead of the Gaussian */
                m->type->loglik_rows(m, theta, ds->X + (size_t)i * c->d, ds->y + i, 1, &logp);
        }
        const int64_t row = i;
        const double ll = m->type->loglik_grad(m, theta, ds, &row, 1, g);
        const double tol = (c->float_eval ? 1e-5 : 1e-10) * fmax(1.0, fabs(logp));
        if (fabs(ll - logp) > tol)
            fail_msg("%s: row %d: loglik %.12g, log density of predict's output %.12g", c->label, i, ll, logp);
    }
    free(g);
    free(out);
}

static void run_case(const model_case *c)
{
    const sgld_model_type *t = sgld_model_find(c->model);
    assert_non_null(t);
    sgld_model m;
    if (sgld_model_init(&m, t, c->d, c->n_classes, case_config(c)) != SGLD_OK)
        fail_msg("%s: init: %s", c->label, sgld_error_message());
    assert_int_equal(m.classification, c->n_classes > 0);
    float X[N * MAX_D], y[N];
    sgld_dataset ds;
    make_data(c, &ds, X, y);
    float *theta = malloc(m.n_params * sizeof *theta);
    for (size_t k = 0; k < m.n_params; k++) theta[k] = (float)(0.6 * sin(1.7 * k + 0.4));
    check_layout(c, &m);
    check_prior(c, &m, theta);
    check_gradient(c, &m, theta, &ds);
    check_predict(c, &m, theta, &ds);
    if (t->check_data && t->check_data(&m, &ds) != SGLD_OK)
        fail_msg("%s: check_data refuses the case's data: %s", c->label, sgld_error_message());
    printf("  %-34s %zu parameters in %d tensors: ok\n", c->label, m.n_params, m.n_vars);
    free(theta);
    sgld_model_finalize(&m);
}

/* Every registered model has at least one case, and every case names a registered model. */
static void test_every_model(void **state)
{
    (void)state;
    const size_t n_cases = sizeof cases / sizeof cases[0];
    assert_true(sgld_model_count() >= 1);
    assert_null(sgld_model_at(sgld_model_count()));
    for (size_t i = 0; i < sgld_model_count(); i++) {
        const sgld_model_type *t = sgld_model_at(i);
        assert_ptr_equal(sgld_model_find(t->name), t);
        int n = 0;
        for (size_t j = 0; j < n_cases; j++)
            if (strcmp(cases[j].model, t->name) == 0) {
                run_case(&cases[j]);
                n++;
            }
        if (n == 0) fail_msg("model %s is registered but has no conformance case", t->name);
    }
    for (size_t j = 0; j < n_cases; j++)
        if (!sgld_model_find(cases[j].model)) fail_msg("case %s: model %s is not registered", cases[j].label, cases[j].model);
}

int main(int argc, char **argv)
{
    if (sgld_plugin_init() != SGLD_OK) {
        fprintf(stderr, "registering the plug-in example: %s\n", sgld_error_message());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_model),
    };
    return sgld_test_run(argc, argv, "model-conformance", tests, sizeof tests / sizeof tests[0]);
}
