/* test_gradcheck.c - sgld_model_check_gradient (include/sgld/model.h) on real data, one chain
 * sharded over every rank of MPI_COMM_WORLD (run at 1 and 2 ranks).
 *
 *   every model   LOOPS OVER THE REGISTRY (the built-in models and the Poisson plug-in example,
 *                 registered here): each passes at the default tolerance 1e-2 on a data set of
 *                 its task; a registered model without a case fails the test
 *   wrong factor  poisson with the gradient of b scaled by 1.5: b's row fails with a relative
 *                 error of 1/3 (|1.5 g - g| / |1.5 g|) and is named in the printed FAILED line;
 *                 w and the prior pass
 *   wrong sign    poisson with the whole gradient negated: every loglik row fails at error 2
 *   non-finite    a gradient of NaN: infinite error, a failure, not a crash
 *   dropout       a network with a dropout layer is refused (SGLD_ERR_USAGE, one line)
 *   sharding      the same rows and elements on one rank holding everything as on the chain's
 *                 shards (the report agrees up to summation order), and the same report on
 *                 every rank
 *   large eta     the Poisson example past its exp cap (eta > 30): finite, its gradient
 *                 the central difference of its value
 *   arguments     bad options: SGLD_ERR_ARG
 * The data: the built-in synthetic sets, and two written here by rank 0 (deterministic): 4 x 4
 * images of 3 classes for the cnn, counts for the Poisson model (y ~ Poisson(exp(0.3 + x w)),
 * w = (0.4, -0.3, 0.2), x ~ N(0, I)). */
#include "sgld_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgld/config.h"
#include "sgld/data.h"
#include "sgld/model.h"
#include "sgld/plugin.h"
#include "sgld/rng.h"

typedef struct gc_case {
    const char *model, *data, *task, *net;
    int64_t batch; /* rows per point (ReLU and max-pool networks: few, model.h) */
} gc_case;

static char images_csv[1024], counts_csv[1024];

static const gc_case cases[] = {
    {"linreg", "synthetic:linreg3", "", "", 100},
    {"logreg", "synthetic:logreg", "", "", 100},
    {"softmax", "synthetic:softmax", "", "", 100},
    {"mlp", "synthetic:linreg3", "", "", 100},                    /* default fc50-fc2, ReLU */
    {"mlp", "synthetic:softmax", "classification", "", 100},
    {"cnn", images_csv, "", "conv4k3-pool2-fc3", 10},
    {"cnn", images_csv, "", "conv4k3-tanh-fc8-tanh-fc3", 100},
    {"poisson", counts_csv, "", "", 100},
};

/* Rank 0 writes the two CSV sets (normals from the counter-based stream, key {7, 0}), once.
 * Collective on its first call. */
static void write_sets(void)
{
    static int done;
    if (done++) return;
    snprintf(images_csv, sizeof images_csv, "%.900s/images.csv", sgld_test_tmpdir());
    snprintf(counts_csv, sizeof counts_csv, "%.900s/counts.csv", sgld_test_tmpdir());
    if (sgld_test_rank() == 0) {
        const sgld_rng key = {7, 0};
        double z[16], u;
        FILE *f = fopen(images_csv, "w");
        assert_non_null(f);
        for (int j = 0; j < 16; j++) fprintf(f, "p%d,", j);
        fprintf(f, "label\n");
        for (int i = 0; i < 300; i++) {
            sgld_rng_normal(&key, 1, SGLD_RNG_DATA, (uint64_t)i * 16, 16, z);
            const int label = i % 3;
            for (int j = 0; j < 16; j++) fprintf(f, "%.6f,", z[j] + (j % 3 == label ? 0.8 : 0.0));
            fprintf(f, "%d\n", label);
        }
        assert_int_equal(fclose(f), 0);
        f = fopen(counts_csv, "w");
        assert_non_null(f);
        fprintf(f, "x1,x2,x3,count\n");
        for (int i = 0; i < 500; i++) {
            sgld_rng_normal(&key, 2, SGLD_RNG_DATA, (uint64_t)i * 3, 3, z);
            const double mu = exp(0.3 + 0.4 * z[0] - 0.3 * z[1] + 0.2 * z[2]);
            int y = 0; /* Poisson by inversion of uniforms */
            double p = exp(-mu), cdf = p;
            sgld_rng_uniform(&key, 3, SGLD_RNG_DATA, (uint64_t)i, 1, &u);
            while (u > cdf && y < 1000) {
                p *= mu / ++y;
                cdf += p;
            }
            fprintf(f, "%.6f,%.6f,%.6f,%d\n", z[0], z[1], z[2], y);
        }
        assert_int_equal(fclose(f), 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void case_config(const gc_case *c, sgld_config *cfg)
{
    sgld_config_defaults(cfg);
    snprintf(cfg->model, sizeof cfg->model, "%s", c->model);
    snprintf(cfg->data, sizeof cfg->data, "%s", c->data);
    snprintf(cfg->task, sizeof cfg->task, "%s", c->task);
    cfg->batch_size = c->batch;
    cfg->seed = 11;
    if (c->net[0] && sgld_config_set(cfg, "net", c->net) != SGLD_OK) fail_msg("--net %s: %s", c->net, sgld_error_message());
}

/* Loads the case's data (one chain: shard `rank` of `size` of comm) and sets its model up. */
static void setup(MPI_Comm comm, const gc_case *c, sgld_config *cfg, sgld_dataset **data, sgld_model *m)
{
    write_sets();
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    case_config(c, cfg);
    const sgld_model_type *t = sgld_model_find(c->model);
    assert_non_null(t);
    int classification;
    assert_int_equal(sgld_model_task(t, cfg, &classification), SGLD_OK);
    sgld_data_options o = {.path = c->data, .classification = classification, .n_classes = t->n_classes};
    if (sgld_data_load(comm, rank, size, &o, data, NULL) != SGLD_OK) fail_msg("%s: %s", c->data, sgld_error_message());
    if (sgld_model_init(m, t, (*data)->d, (*data)->n_classes, cfg) != SGLD_OK)
        fail_msg("%s: %s", c->model, sgld_error_message());
}

static sgld_status check(MPI_Comm comm, const sgld_model *m, const sgld_dataset *data, const sgld_config *cfg,
                         sgld_gradcheck_report *rep)
{
    const sgld_gradcheck_options o = {.n_points = 5, .tol = 1e-2, .batch_rows = cfg->batch_size, .seed = cfg->seed};
    return sgld_model_check_gradient(comm, m, data, &o, rep);
}

/* The report is the same on every rank of MPI_COMM_WORLD. */
static void assert_same_everywhere(const sgld_gradcheck_report *rep)
{
    sgld_gradcheck_report r0 = *rep;
    MPI_Bcast(&r0, (int)sizeof r0, MPI_BYTE, 0, MPI_COMM_WORLD);
    assert_memory_equal(&r0, rep, sizeof r0);
}

static void test_every_model_passes(void **state)
{
    (void)state;
    const size_t n_cases = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < sgld_model_count(); i++) {
        const sgld_model_type *t = sgld_model_at(i);
        int n = 0;
        for (size_t j = 0; j < n_cases; j++) {
            const gc_case *c = &cases[j];
            if (strcmp(c->model, t->name) != 0) continue;
            n++;
            sgld_config cfg;
            sgld_dataset *data = NULL;
            sgld_model m;
            setup(MPI_COMM_WORLD, c, &cfg, &data, &m);
            sgld_gradcheck_report rep;
            assert_int_equal(check(MPI_COMM_WORLD, &m, data, &cfg, &rep), SGLD_OK);
            assert_same_everywhere(&rep);
            if (sgld_test_rank() == 0) {
                printf("  %-8s %-26s %-18s worst %.3g over %d tensors x 2 terms\n", c->model, c->net[0] ? c->net : "",
                       c->data == images_csv ? "images.csv" : c->data == counts_csv ? "counts.csv" : c->data,
                       rep.worst, m.n_vars);
                if (rep.failed) sgld_model_gradcheck_print(stdout, &rep);
            }
            assert_false(rep.failed);
            assert_int_equal(rep.n_rows_table, 2 * m.n_vars);
            for (int r = 0; r < rep.n_rows_table; r++) assert_true(rep.row[r].n_checked >= 5);
            sgld_model_finalize(&m);
            sgld_data_destroy(&data);
        }
        if (n == 0 && strncmp(t->name, "poisson-", 8) != 0)
            fail_msg("model %s is registered but has no gradient-check case", t->name);
    }
}

/* Runs the check of a poisson variant on counts.csv; the report (same on every rank). */
static void check_variant(const char *name, sgld_gradcheck_report *rep, sgld_model *layout)
{
    const gc_case c = {name, counts_csv, "", "", 100};
    sgld_config cfg;
    sgld_dataset *data = NULL;
    setup(MPI_COMM_WORLD, &c, &cfg, &data, layout);
    assert_int_equal(check(MPI_COMM_WORLD, layout, data, &cfg, rep), SGLD_OK);
    assert_same_everywhere(rep);
    sgld_data_destroy(&data);
}

/* The text a report prints. */
static char *printed(const sgld_gradcheck_report *rep)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    sgld_model_gradcheck_print(f, rep);
    fclose(f);
    return text;
}

static void test_wrong_factor_fails(void **state)
{
    (void)state;
    sgld_gradcheck_report rep;
    sgld_model m;
    check_variant("poisson-wrong-b", &rep, &m);
    assert_true(rep.failed);
    /* rows: loglik w, loglik b, prior w, prior b */
    assert_string_equal(rep.row[1].term, "loglik");
    assert_string_equal(rep.row[1].var, "b");
    assert_true(fabs(rep.row[1].worst - 1.0 / 3.0) < 1e-3);
    assert_true(rep.row[0].worst <= 1e-2 && rep.row[2].worst <= 1e-2 && rep.row[3].worst <= 1e-2);
    char *text = printed(&rep);
    if (sgld_test_rank() == 0) printf("%s", text);
    assert_non_null(strstr(text, "FAILED: loglik gradient of b: relative error 0.333 > 0.01 at b, point"));
    assert_null(strstr(text, "gradient of w"));
    assert_null(strstr(text, "passed"));
    free(text);
    sgld_model_finalize(&m);
}

static sgld_model_type negated, not_finite;

static double negated_grad(const sgld_model *m, const float *theta, const sgld_dataset *data, const int64_t *rows,
                           size_t n, float *grad)
{
    for (size_t i = 0; i < m->n_params; i++) grad[i] = -grad[i];
    const double ll = sgld_model_find("poisson")->loglik_grad(m, theta, data, rows, n, grad);
    for (size_t i = 0; i < m->n_params; i++) grad[i] = -grad[i];
    return ll;
}

static double nan_grad(const sgld_model *m, const float *theta, const sgld_dataset *data, const int64_t *rows,
                       size_t n, float *grad)
{
    const double ll = sgld_model_find("poisson")->loglik_grad(m, theta, data, rows, n, grad);
    grad[0] = NAN;
    return ll;
}

static void test_wrong_sign_and_not_finite(void **state)
{
    (void)state;
    sgld_gradcheck_report rep;
    sgld_model m;
    check_variant("poisson-negated", &rep, &m);
    assert_true(rep.failed);
    assert_true(fabs(rep.row[0].worst - 2.0) < 1e-3 && fabs(rep.row[1].worst - 2.0) < 1e-3);
    assert_true(rep.row[2].worst <= 1e-2 && rep.row[3].worst <= 1e-2);
    sgld_model_finalize(&m);
    check_variant("poisson-nan", &rep, &m);
    assert_true(rep.failed);
    assert_true(isinf(rep.row[0].worst));
    assert_string_equal(rep.row[0].at, "w[0]");
    assert_true(rep.row[1].worst <= 1e-2);
    char *text = printed(&rep);
    assert_non_null(strstr(text, "FAILED: loglik gradient of w: relative error inf > 0.01 at w[0]"));
    free(text);
    sgld_model_finalize(&m);
}

static void test_dropout_refused(void **state)
{
    (void)state;
    const gc_case c = {"mlp", "synthetic:linreg3", "", "fc8-drop0.5-fc2", 50};
    sgld_config cfg;
    sgld_dataset *data = NULL;
    sgld_model m;
    setup(MPI_COMM_WORLD, &c, &cfg, &data, &m);
    sgld_gradcheck_report rep;
    assert_int_equal(check(MPI_COMM_WORLD, &m, data, &cfg, &rep), SGLD_ERR_USAGE);
    assert_non_null(strstr(sgld_error_message(), "--check-gradient: model mlp has dropout layers"));
    sgld_model_finalize(&m);
    sgld_data_destroy(&data);
}

/* One rank with all the rows checks the same rows, elements and points as the shards of the
 * chain: the same table up to the summation order of the values. */
static void test_sharding(void **state)
{
    (void)state;
    const gc_case c = {"logreg", "synthetic:logreg", "", "", 100};
    sgld_config cfg;
    sgld_dataset *whole = NULL, *shard = NULL;
    sgld_model m1, mp;
    setup(MPI_COMM_SELF, &c, &cfg, &whole, &m1);
    setup(MPI_COMM_WORLD, &c, &cfg, &shard, &mp);
    sgld_gradcheck_report r1, rp;
    assert_int_equal(check(MPI_COMM_SELF, &m1, whole, &cfg, &r1), SGLD_OK);
    assert_int_equal(check(MPI_COMM_WORLD, &mp, shard, &cfg, &rp), SGLD_OK);
    assert_int_equal(r1.n_rows, 100);
    assert_int_equal(rp.n_rows, 100);
    for (int r = 0; r < r1.n_rows_table; r++) {
        assert_int_equal(r1.row[r].n_checked, rp.row[r].n_checked);
        assert_true(fabs(r1.row[r].analytic - rp.row[r].analytic) <= 1e-4 * fabs(r1.row[r].analytic) ||
                    strcmp(r1.row[r].at, rp.row[r].at) != 0);
    }
    assert_false(r1.failed || rp.failed);
    sgld_model_finalize(&m1);
    sgld_model_finalize(&mp);
    sgld_data_destroy(&whole);
    sgld_data_destroy(&shard);
}

/* The Poisson example above ETA_MAX = 30, where its mean follows the tangent of exp: finite
 * values, gradient, prediction and density for any theta (no NaN after a user's large step),
 * a gradient that matches the central difference of the value on both sides of the seam and
 * far beyond it. */
static void test_poisson_large_eta(void **state)
{
    (void)state;
    const gc_case c = {"poisson", counts_csv, "", "", 100};
    sgld_config cfg;
    sgld_dataset *data = NULL;
    sgld_model m;
    setup(MPI_COMM_SELF, &c, &cfg, &data, &m);
    const int64_t rows[3] = {0, 1, 2};
    const float bs[] = {29.9f, 30.1f, 45.0f, 1e6f, 3e38f, -1e6f};
    for (size_t k = 0; k < sizeof bs / sizeof bs[0]; k++) {
        float theta[4] = {0.1f, -0.2f, 0.05f, bs[k]}, grad[4] = {0}, scratch[4] = {0};
        const double ll = m.type->loglik_grad(&m, theta, data, rows, 3, grad);
        assert_true(isfinite(ll));
        for (int j = 0; j < 4; j++) assert_true(isfinite(grad[j]));
        double out[6], lp[3];
        m.type->predict(&m, theta, data->X, 3, out);
        m.type->loglik_rows(&m, theta, data->X, data->y, 3, lp);
        for (int i = 0; i < 3; i++) assert_true(isfinite(out[2 * i]) && out[2 * i + 1] > 0 && isfinite(lp[i]));
        if (fabsf(bs[k]) > 1e5f) continue;
        const float h = 1e-3f;
        theta[3] = bs[k] + h;
        const double up = m.type->loglik_grad(&m, theta, data, rows, 3, scratch);
        theta[3] = bs[k] - h;
        const double down = m.type->loglik_grad(&m, theta, data, rows, 3, scratch);
        const double D = (up - down) / ((double)(bs[k] + h) - (double)(bs[k] - h));
        if (fabs(D - grad[3]) > 1e-3 * fabs(D)) fail_msg("b = %g: gradient %g, central difference %g", bs[k], grad[3], D);
    }
    sgld_model_finalize(&m);
    sgld_data_destroy(&data);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    const gc_case c = {"linreg", "synthetic:linreg", "", "", 100};
    sgld_config cfg;
    sgld_dataset *data = NULL;
    sgld_model m;
    setup(MPI_COMM_WORLD, &c, &cfg, &data, &m);
    sgld_gradcheck_report rep;
    sgld_gradcheck_options o = {.n_points = 0, .tol = 1e-2, .batch_rows = 10, .seed = 1};
    assert_int_equal(sgld_model_check_gradient(MPI_COMM_WORLD, &m, data, &o, &rep), SGLD_ERR_ARG);
    o.n_points = 1;
    o.tol = 0;
    assert_int_equal(sgld_model_check_gradient(MPI_COMM_WORLD, &m, data, &o, &rep), SGLD_ERR_ARG);
    o.tol = 1e-2;
    o.batch_rows = 0;
    assert_int_equal(sgld_model_check_gradient(MPI_COMM_WORLD, &m, data, &o, &rep), SGLD_ERR_ARG);
    sgld_model_finalize(&m);
    sgld_data_destroy(&data);
}

int main(int argc, char **argv)
{
    /* The plug-in example and the test variants, registered before anything parses options
     * (poisson and poisson-wrong-b by test_models.c, linked in, before main). */
    sgld_status st = SGLD_OK;
    if (!sgld_model_find("poisson")) st = sgld_plugin_init();
    if (st == SGLD_OK) {
        negated = *sgld_model_find("poisson");
        negated.name = "poisson-negated";
        negated.loglik_grad = negated_grad;
        not_finite = negated;
        not_finite.name = "poisson-nan";
        not_finite.loglik_grad = nan_grad;
        st = sgld_model_register(&negated);
    }
    if (st == SGLD_OK) st = sgld_model_register(&not_finite);
    if (st != SGLD_OK) {
        fprintf(stderr, "registering the test models: %s\n", sgld_error_message());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_model_passes), cmocka_unit_test(test_wrong_factor_fails),
        cmocka_unit_test(test_wrong_sign_and_not_finite), cmocka_unit_test(test_dropout_refused),
        cmocka_unit_test(test_sharding), cmocka_unit_test(test_poisson_large_eta),
        cmocka_unit_test(test_bad_arguments),
    };
    return sgld_test_run(argc, argv, "gradcheck", tests, sizeof tests / sizeof tests[0]);
}
