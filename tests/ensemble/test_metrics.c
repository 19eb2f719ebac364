/* test_metrics.c - every ensemble metric (include/sgld/ensemble.h) against a small example
 * computed by hand; the expected values are written as the arithmetic they come from. */
#include "sgld_test.h"
#include "test_config_set.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sgld/ensemble.h"

#define TOL 1e-12

/* cmocka's assert_float_equal compares in float; these comparisons need double. */
#define assert_near(a, b, tol) assert_near_((a), (b), (tol), #a, __LINE__)
static void assert_near_(double a, double b, double tol, const char *what, int line)
{
    if (!(fabs(a - b) <= tol)) fail_msg("line %d: %s = %.17g, expected %.17g (tol %g)", line, what, a, b, tol);
}

static double H3(double a, double b, double c) { return -(a * log(a) + b * log(b) + c * log(c)); }
static double phi(double z) { return exp(-0.5 * z * z) / sqrt(2 * M_PI); }
static double Phi(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

/* Two examples, three classes, two draws, targets (0, 2):
 *   draw 1: (0.7, 0.2, 0.1), (0.2, 0.5, 0.3)     draw 2: (0.5, 0.3, 0.2), (0.5, 0.3, 0.2)
 *   mixture: (0.6, 0.25, 0.15), (0.35, 0.4, 0.25); predictions 0 (right), 1 (wrong). */
static const double draw1[6] = {0.7, 0.2, 0.1, 0.2, 0.5, 0.3};
static const double draw2[6] = {0.5, 0.3, 0.2, 0.5, 0.3, 0.2};
static const float y_cls[2] = {0, 2};

static void test_classification(void **state)
{
    (void)state;
    sgld_ens_acc a;
    assert_int_equal(sgld_ens_acc_init(&a, 2, 3, 1), SGLD_OK);
    sgld_ens_acc_add_class(&a, draw1, y_cls);
    sgld_ens_acc_add_class(&a, draw2, y_cls);
    sgld_ens_class_summary s;
    double prob[6], mp[2], h[2], eh[2], mi[2], nll[2];
    int pred[2], corr[2];
    sgld_ens_class_examples ex = {prob, mp, h, eh, mi, nll, pred, corr};
    assert_int_equal(sgld_ens_class_scores(&a, y_cls, &s, &ex), SGLD_OK);
    assert_int_equal(s.n_draws, 2);
    assert_near(prob[1], 0.25, TOL);
    assert_near(prob[5], 0.25, TOL);
    assert_int_equal(pred[0], 0);
    assert_int_equal(pred[1], 1);
    assert_int_equal(corr[0] + corr[1], 1);
    assert_near(s.accuracy, 0.5, TOL);
    /* NLL: -log of the mixture's probability of the target */
    assert_near(nll[0], -log(0.6), TOL);
    assert_near(nll[1], -log(0.25), TOL);
    assert_near(s.nll, -(log(0.6) + log(0.25)) / 2, TOL);
    /* Brier: (0.4^2 + 0.25^2 + 0.15^2 + 0.35^2 + 0.4^2 + 0.75^2) / 2 = (0.245 + 0.845) / 2 */
    assert_near(s.brier, 0.545, TOL);
    /* ECE: confidences 0.6 (bin 9, right) and 0.4 (bin 6, wrong): (|1 - 0.6| + |0 - 0.4|) / 2 */
    assert_near(s.ece, 0.4, TOL);
    assert_near(s.max_prob, 0.5, TOL);
    double h0 = H3(0.6, 0.25, 0.15), h1 = H3(0.35, 0.4, 0.25);
    double e0 = (H3(0.7, 0.2, 0.1) + H3(0.5, 0.3, 0.2)) / 2, e1 = (H3(0.2, 0.5, 0.3) + H3(0.5, 0.3, 0.2)) / 2;
    assert_near(h[0], h0, TOL);
    assert_near(eh[1], e1, TOL);
    assert_near(mi[0], h0 - e0, TOL);
    assert_true(mi[0] > 0 && mi[1] > 0);
    assert_near(s.entropy, (h0 + h1) / 2, TOL);
    assert_near(s.expected_entropy, (e0 + e1) / 2, TOL);
    assert_near(s.mutual_info, (h0 - e0 + h1 - e1) / 2, TOL);

    /* One draw: mutual information 0, NLL of that draw. */
    sgld_ens_acc b, c;
    assert_int_equal(sgld_ens_acc_init(&b, 2, 3, 1), SGLD_OK);
    assert_int_equal(sgld_ens_acc_init(&c, 2, 3, 1), SGLD_OK);
    sgld_ens_acc_add_class(&b, draw1, y_cls);
    sgld_ens_acc_add_class(&c, draw2, y_cls);
    assert_int_equal(sgld_ens_class_scores(&b, y_cls, &s, &ex), SGLD_OK);
    assert_near(s.mutual_info, 0.0, TOL);
    assert_near(s.nll, -(log(0.7) + log(0.3)) / 2, TOL);
    /* Merging the two one-draw accumulators gives the two-draw one. */
    sgld_ens_acc_merge(&b, &c);
    assert_int_equal(sgld_ens_class_scores(&b, y_cls, &s, NULL), SGLD_OK);
    assert_near(s.nll, -(log(0.6) + log(0.25)) / 2, TOL);
    assert_near(s.mutual_info, (h0 - e0 + h1 - e1) / 2, TOL);
    sgld_ens_acc_finalize(&a);
    sgld_ens_acc_finalize(&b);
    sgld_ens_acc_finalize(&c);
    sgld_ens_acc_finalize(&c); /* idempotent */
}

static void test_no_targets_and_errors(void **state)
{
    (void)state;
    sgld_ens_acc a;
    sgld_ens_class_summary s;
    assert_int_equal(sgld_ens_acc_init(&a, 2, 3, 0), SGLD_OK);
    assert_int_equal(sgld_ens_class_scores(&a, NULL, &s, NULL), SGLD_ERR_ARG); /* no draws */
    sgld_ens_acc_add_class(&a, draw1, NULL);
    assert_int_equal(sgld_ens_class_scores(&a, NULL, &s, NULL), SGLD_OK);
    assert_true(isnan(s.nll) && isnan(s.accuracy) && isnan(s.brier) && isnan(s.ece));
    assert_near(s.max_prob, 0.6, TOL);
    sgld_ens_reg_summary r;
    assert_int_equal(sgld_ens_reg_scores(&a, NULL, &r, NULL), SGLD_ERR_ARG); /* not regression */
    sgld_ens_acc_finalize(&a);
    assert_int_equal(sgld_ens_acc_init(&a, -1, 3, 0), SGLD_ERR_ARG);
}

/* Regression, two draws N(mu_s, v_s), two examples:
 *   example 0: y = 1, draws N(0, 1), N(2, 4);      example 1: y = 2, draws N(0, 0.25), N(1, 0.25). */
static void test_regression(void **state)
{
    (void)state;
    const double mu1[2] = {0, 0}, v1[2] = {1, 0.25}, mu2[2] = {2, 1}, v2[2] = {4, 0.25};
    const float y[2] = {1, 2};
    sgld_ens_acc a;
    assert_int_equal(sgld_ens_acc_init(&a, 2, 0, 1), SGLD_OK);
    sgld_ens_acc_add_reg(&a, mu1, v1, y);
    sgld_ens_acc_add_reg(&a, mu2, v2, y);
    double mean[2], sd[2], ll[2], pit[2];
    sgld_ens_reg_examples ex = {mean, sd, ll, pit};
    sgld_ens_reg_summary s;
    assert_int_equal(sgld_ens_reg_scores(&a, y, &s, &ex), SGLD_OK);
    assert_near(mean[0], 1.0, TOL);
    assert_near(mean[1], 0.5, TOL);
    /* errors 0 and 1.5 */
    assert_near(s.rmse, sqrt(1.5 * 1.5 / 2), TOL);
    /* mixture variance: E[mu^2 + v] - m^2 = (1 + 8) / 2 - 1 and (0.25 + 1.25) / 2 - 0.25 */
    assert_near(sd[0], sqrt(3.5), TOL);
    assert_near(sd[1], sqrt(0.5), TOL);
    /* log-likelihood: log (N(1; 0, 1) + N(1; 2, 4)) / 2, log (N(2; 0, .25) + N(2; 1, .25)) / 2 */
    double l0 = log(0.5 * (phi(1.0) + phi(-0.5) / 2)), l1 = log(0.5 * (phi(4.0) / 0.5 + phi(2.0) / 0.5));
    assert_near(ll[0], l0, 1e-12);
    assert_near(ll[1], l1, 1e-12);
    assert_near(s.loglik, (l0 + l1) / 2, 1e-12);
    /* PIT: (Phi(1) + Phi(-0.5)) / 2 = 0.575 (inside all three intervals),
     *      (Phi(4) + Phi(2)) / 2 = 0.9886 (outside all three) */
    assert_near(pit[0], 0.5 * (Phi(1) + Phi(-0.5)), 1e-12);
    assert_near(pit[1], 0.5 * (Phi(4) + Phi(2)), 1e-12);
    assert_near(s.cover50, 0.5, TOL);
    assert_near(s.cover90, 0.5, TOL);
    assert_near(s.cover95, 0.5, TOL);
    /* example 1 with y = 1.3: PIT = (Phi(2.6) + Phi(0.6)) / 2 = 0.862: in the 90% interval only
     * (and the 95%), not the 50%. */
    const float y2[2] = {1, 1.3f};
    sgld_ens_acc b;
    assert_int_equal(sgld_ens_acc_init(&b, 2, 0, 1), SGLD_OK);
    sgld_ens_acc_add_reg(&b, mu1, v1, y2);
    sgld_ens_acc_add_reg(&b, mu2, v2, y2);
    assert_int_equal(sgld_ens_reg_scores(&b, y2, &s, &ex), SGLD_OK);
    assert_near(pit[1], 0.5 * (Phi(2.6) + Phi(0.6)), 1e-6);
    assert_near(s.cover50, 0.5, TOL);
    assert_near(s.cover90, 1.0, TOL);
    assert_near(s.cover95, 1.0, TOL);
    sgld_ens_acc_finalize(&a);
    sgld_ens_acc_finalize(&b);
}

/* A model's own density (sgld_ens_acc_add_reg_logp): the log-likelihood is the log-mean-exp of
 * the given log p_s(y_i | x_i); mean, sd and PIT stay the Gaussian's.  Two Poisson draws with
 * means 1 and 3 at y = 2: log ((e^-1 / 2 + 9 e^-3 / 2) / 2); y = 0: log ((e^-1 + e^-3) / 2). */
static void test_regression_own_density(void **state)
{
    (void)state;
    const double mu1[2] = {1, 1}, mu2[2] = {3, 3};
    const float y[2] = {2, 0};
    double lp1[2], lp2[2];
    for (int i = 0; i < 2; i++) {
        lp1[i] = y[i] * log(mu1[i]) - mu1[i] - lgamma(y[i] + 1.0);
        lp2[i] = y[i] * log(mu2[i]) - mu2[i] - lgamma(y[i] + 1.0);
    }
    sgld_ens_acc a, g;
    assert_int_equal(sgld_ens_acc_init(&a, 2, 0, 1), SGLD_OK);
    assert_int_equal(sgld_ens_acc_init(&g, 2, 0, 1), SGLD_OK);
    sgld_ens_acc_add_reg_logp(&a, mu1, mu1, lp1, y);
    sgld_ens_acc_add_reg_logp(&a, mu2, mu2, lp2, y);
    sgld_ens_acc_add_reg_logp(&g, mu1, mu1, NULL, y); /* NULL: the Gaussian, as add_reg */
    sgld_ens_acc_add_reg(&g, mu2, mu2, y);
    double mean[2], sd[2], ll[2], pit[2], gmean[2], gsd[2], gll[2], gpit[2];
    sgld_ens_reg_examples ex = {mean, sd, ll, pit}, gex = {gmean, gsd, gll, gpit};
    sgld_ens_reg_summary s, gs;
    assert_int_equal(sgld_ens_reg_scores(&a, y, &s, &ex), SGLD_OK);
    assert_int_equal(sgld_ens_reg_scores(&g, y, &gs, &gex), SGLD_OK);
    const double l0 = log(0.5 * (exp(-1.0) / 2 + 9 * exp(-3.0) / 2)), l1 = log(0.5 * (exp(-1.0) + exp(-3.0)));
    assert_near(ll[0], l0, 1e-12);
    assert_near(ll[1], l1, 1e-12);
    assert_near(s.loglik, (l0 + l1) / 2, 1e-12);
    assert_true(fabs(gs.loglik - s.loglik) > 0.1); /* the Gaussian's is another number */
    for (int i = 0; i < 2; i++) {
        assert_near(mean[i], gmean[i], 1e-15);
        assert_near(sd[i], gsd[i], 1e-15);
        assert_near(pit[i], gpit[i], 1e-15);
    }
    assert_near(s.rmse, gs.rmse, 1e-15);
    sgld_ens_acc_finalize(&a);
    sgld_ens_acc_finalize(&g);
}

static void test_ece(void **state)
{
    (void)state;
    /* bins of 15: 0.05 -> 0, 0.5 -> 7, 0.95 / 0.97 / 1.0 -> 14 (1.0 clamped into the last bin)
     * ECE = (|0 - 0.05| + |1 - 0.5| + |2 - (0.95 + 0.97 + 1.0)|) / 5 = (0.05 + 0.5 + 0.92) / 5 */
    const double conf[5] = {0.05, 0.95, 0.97, 0.5, 1.0};
    const int correct[5] = {0, 1, 0, 1, 1};
    int64_t count[15];
    double mc[15], acc[15];
    double ece = sgld_ens_ece(conf, correct, 5, 15, count, mc, acc);
    assert_near(ece, 0.294, TOL);
    assert_int_equal(count[0], 1);
    assert_int_equal(count[7], 1);
    assert_int_equal(count[14], 3);
    assert_near(acc[14], 2.0 / 3.0, TOL);
    assert_near(mc[14], (0.95 + 0.97 + 1.0) / 3, TOL);
    assert_true(isnan(acc[3]));
    assert_true(isnan(sgld_ens_ece(conf, correct, 0, 15, NULL, NULL, NULL)));
}

static void test_auroc_aupr(void **state)
{
    (void)state;
    /* in (negatives) {0.1, 0.4, 0.35, 0.8}, out (positives) {0.9, 0.4, 0.7}:
     * AUROC = (4 + (2 + 0.5) + 3) / 12;  descending thresholds 0.9 (P 1/1), 0.8 (no positive),
     * 0.7 (P 2/3), 0.4 (tie of one of each: P 3/5): AP = (1 + 2/3 + 3/5) / 3 = 34/45. */
    const double in[4] = {0.1, 0.4, 0.35, 0.8}, out[3] = {0.9, 0.4, 0.7};
    double auroc, aupr;
    assert_int_equal(sgld_ens_auroc_aupr(in, 4, out, 3, &auroc, &aupr), SGLD_OK);
    assert_near(auroc, 9.5 / 12, TOL);
    assert_near(aupr, 34.0 / 45.0, TOL);
    /* perfect separation and the reverse */
    const double lo[2] = {0.1, 0.2}, hi[2] = {0.8, 0.9};
    assert_int_equal(sgld_ens_auroc_aupr(lo, 2, hi, 2, &auroc, &aupr), SGLD_OK);
    assert_near(auroc, 1.0, TOL);
    assert_near(aupr, 1.0, TOL);
    assert_int_equal(sgld_ens_auroc_aupr(hi, 2, lo, 2, &auroc, &aupr), SGLD_OK);
    assert_near(auroc, 0.0, TOL);
    assert_near(aupr, (1.0 / 3 + 2.0 / 4) / 2, TOL); /* P 1/3 then 2/4 */
    /* all tied: 1/2 and the positive rate */
    assert_int_equal(sgld_ens_auroc_aupr(lo, 1, lo, 1, &auroc, &aupr), SGLD_OK);
    assert_near(auroc, 0.5, TOL);
    assert_near(aupr, 0.5, TOL);
    assert_int_equal(sgld_ens_auroc_aupr(lo, 0, hi, 2, &auroc, &aupr), SGLD_OK);
    assert_true(isnan(auroc) && isnan(aupr));
}

static void test_entropy_histogram(void **state)
{
    (void)state;
    const double p[3] = {0.5, 0.5, 0.0};
    assert_near(sgld_ens_entropy(p, 3), log(2.0), TOL);
    const double x[6] = {0.0, 0.05, 0.1, 0.55, 1.0, 1.2};
    int64_t c[10];
    sgld_ens_histogram(x, 6, 10, 0.0, 1.0, c);
    assert_int_equal(c[0], 2); /* 0 and 0.05 */
    assert_int_equal(c[1], 1); /* 0.1 */
    assert_int_equal(c[5], 1); /* 0.55 */
    assert_int_equal(c[9], 2); /* 1.0 and 1.2 (clamped) */
}

/* sgld_ens_predictive_create refuses what is not a sample file with a model (SGLD_ERR_USAGE,
 * the user's message); its scores are checked end to end by check_predict.py. */
static void test_predictive_refusals(void **state)
{
    (void)state;
    char path[600], want[800];
    snprintf(path, sizeof path, "%s/no-model-%d.h5", sgld_test_tmpdir(), sgld_test_rank());
    const sgld_var_spec spec = {.group = "posterior", .name = "w", .n_dims = 0, .dtype = SGLD_F64};
    sgld_samples *s = NULL;
    assert_int_equal(sgld_samples_create(MPI_COMM_SELF, path, 1, 1, 1, &spec, 4, &s), SGLD_OK);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
    sgld_ens_predictive_opts o = {.file = path, .data = "synthetic:logreg", .draws = "all", .block_draws = 8,
                                  .batch_rows = 500};
    sgld_ens_predictive *p = NULL;
    assert_int_equal(sgld_ens_predictive_create(MPI_COMM_SELF, &o, &p), SGLD_ERR_USAGE);
    assert_null(p);
    snprintf(want, sizeof want, "%s: no model attributes ('config' and 'model' on the root group): not a sample file "
             "written by sgld-dist", path);
    assert_string_equal(sgld_error_message(), want);
    o.file = "no-such-file.h5";
    assert_int_equal(sgld_ens_predictive_create(MPI_COMM_SELF, &o, &p), SGLD_ERR_USAGE);
    assert_string_equal(sgld_error_message(), "no-such-file.h5: cannot open: No such file or directory");
    o.batch_rows = 0;
    assert_int_equal(sgld_ens_predictive_create(MPI_COMM_SELF, &o, &p), SGLD_ERR_ARG);
    sgld_ens_predictive_destroy(&p); /* NULL-safe */
}

/* An mlp classifier on d inputs and K classes with the given --net, for calls of <= 8 rows. */
static void fgsm_model(sgld_model *m, const char *net, int d, int K)
{
    static sgld_config c;
    sgld_config_defaults(&c);
    sgld_test_set(&c, "net", "%s", net);
    sgld_test_set(&c, "task", "classification");
    c.batch_size = 8;
    assert_int_equal(sgld_model_init(m, sgld_model_find("mlp"), d, K, &c), SGLD_OK);
}

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

/* Hand-computed: one input, two classes, no hidden layer (theta = W[2][1], b[2]); draw A has
 * logits (0, x), draw B (0, -2x), so p(1 | x) = sigmoid(a x) and d log p(1) / dx = a (1 -
 * sigmoid(a x)), d log p(0) / dx = -a sigmoid(a x), a = 1 and -2.  Rows x = 0.5 (y = 1) and
 * x = 0.2 (y = 0). */
static void test_fgsm_hand(void **state)
{
    (void)state;
    sgld_model m;
    fgsm_model(&m, "fc2", 1, 2);
    assert_int_equal((int)m.n_params, 4);
    const float thA[4] = {0, 1, 0, 0}, thB[4] = {0, -2, 0, 0};
    const float x[2] = {0.5f, 0.2f}, y[2] = {1, 0};
    double prob[16], logp[2], nll[2];
    float dlogp[2], grad[2];
    sgld_ens_grad_acc a;
    assert_int_equal(sgld_ens_grad_acc_init(&a, 2, 1), SGLD_OK);
    assert_int_equal(sgld_ens_grad_acc_nll(&a, nll, grad), SGLD_ERR_ARG); /* no draw yet */
    sgld_ens_draw_input_grad(&m, thA, x, y, 2, 1, prob, logp, dlogp);
    assert_near(logp[0], log(sigmoid(0.5)), 1e-6);
    assert_near(dlogp[0], 1 - sigmoid(0.5), 1e-6);
    assert_near(dlogp[1], -sigmoid(0.2), 1e-6);
    sgld_ens_grad_acc_add(&a, logp, dlogp);
    sgld_ens_draw_input_grad(&m, thB, x, y, 2, 2, prob, logp, dlogp);
    assert_near(dlogp[0], -2 * (1 - sigmoid(-1.0)), 1e-6);
    sgld_ens_grad_acc_add(&a, logp, dlogp);
    assert_int_equal(sgld_ens_grad_acc_nll(&a, nll, grad), SGLD_OK);
    const double pA0 = sigmoid(0.5), pB0 = sigmoid(-1.0), gA0 = 1 - pA0, gB0 = -2 * (1 - pB0);
    const double pA1 = 1 - sigmoid(0.2), pB1 = 1 - sigmoid(-0.4), gA1 = -sigmoid(0.2), gB1 = 2 * sigmoid(-0.4);
    assert_near(nll[0], -log((pA0 + pB0) / 2), 1e-6);
    assert_near(nll[1], -log((pA1 + pB1) / 2), 1e-6);
    /* d NLL / dx = -(pA gA + pB gB) / (pA + pB): 0.17750 (up) and -0.22215 (down) */
    assert_near(grad[0], -(pA0 * gA0 + pB0 * gB0) / (pA0 + pB0), 1e-6);
    assert_near(grad[1], -(pA1 * gA1 + pB1 * gB1) / (pA1 + pB1), 1e-6);
    assert_true(grad[0] > 0.1774 && grad[0] < 0.1776 && grad[1] < -0.2221 && grad[1] > -0.2222);
    /* FGSM: x + eps sign, clipped to [0, 1] */
    float out[2];
    sgld_ens_fgsm_step(x, grad, 2, 0.3, out);
    assert_near(out[0], 0.8, 1e-6);
    assert_near(out[1], 0.0, 1e-6);
    const float g0[2] = {0.0f, 1e-30f};
    sgld_ens_fgsm_step(x, g0, 2, 0.1, out);
    assert_near(out[0], 0.5, 1e-7); /* sign 0 */
    assert_near(out[1], 0.3, 1e-6);
    sgld_ens_grad_acc_finalize(&a);
    /* a draw that gives the target no probability at all (floored log) weighs nothing next to
     * one that does: the gradient is the second draw's alone */
    assert_int_equal(sgld_ens_grad_acc_init(&a, 1, 1), SGLD_OK);
    const double l1[1] = {-1000.0}, l2[1] = {-2.0};
    const float d1[1] = {5.0f}, d2[1] = {-0.25f};
    sgld_ens_grad_acc_add(&a, l1, d1);
    sgld_ens_grad_acc_add(&a, l2, d2);
    assert_int_equal(sgld_ens_grad_acc_allreduce(&a, MPI_COMM_SELF), SGLD_OK);
    assert_int_equal(sgld_ens_grad_acc_nll(&a, nll, grad), SGLD_OK);
    assert_near(grad[0], 0.25, 1e-9);
    assert_near(nll[0], 2.0 + log(2.0), 1e-9);
    sgld_ens_grad_acc_finalize(&a);
    sgld_ens_grad_acc_finalize(&a); /* idempotent */
    sgld_model_finalize(&m);
}

/* The model average's input gradient against central differences of its NLL (computed from
 * predict in double): a smooth (tanh) network, 3 draws, 4 rows of 5 inputs, 3 classes.  At
 * h = 1e-2 the quotient's truncation h^2 max|third derivative| / 6 ~ 2e-5 and the float
 * network's rounding FLT_EPSILON |f| / h ~ 2e-5 leave it within 1e-3 (relative, floor 1) of a
 * right gradient; a wrong weight, sign or missing term is off by O(1). */
static void test_fgsm_finite_difference(void **state)
{
    (void)state;
    enum { S = 3, N = 4, D = 5, K = 3 };
    sgld_model m;
    fgsm_model(&m, "fc6-tanh-fc3", D, K);
    float *th = malloc((size_t)S * m.n_params * sizeof *th);
    assert_non_null(th);
    for (int s = 0; s < S; s++) {
        const sgld_rng r = {11, (uint32_t)s};
        sgld_model_init_params(&m, &r, th + (size_t)s * m.n_params);
        for (size_t k = 0; k < m.n_params; k++) th[(size_t)s * m.n_params + k] *= 3.0f; /* not all near 1/K */
    }
    float x[N * D], y[N] = {0, 2, 1, 2}, dlogp[N * D], grad[N * D];
    for (int k = 0; k < N * D; k++) x[k] = (float)(0.1 + 0.8 * fmod(0.37 * k + 0.11, 1.0));
    double prob[8 * K], logp[N], nll[N];
    sgld_ens_grad_acc a;
    assert_int_equal(sgld_ens_grad_acc_init(&a, N, D), SGLD_OK);
    for (int s = 0; s < S; s++) {
        sgld_ens_draw_input_grad(&m, th + (size_t)s * m.n_params, x, y, N, 3, prob, logp, dlogp);
        sgld_ens_grad_acc_add(&a, logp, dlogp);
    }
    assert_int_equal(sgld_ens_grad_acc_nll(&a, nll, grad), SGLD_OK);
    const float h = 1e-2f;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            double f[2];
            for (int side = 0; side < 2; side++) {
                float xi[D];
                memcpy(xi, x + i * D, sizeof xi);
                xi[j] += side ? -h : h;
                double mix = 0;
                for (int s = 0; s < S; s++) {
                    m.type->predict(&m, th + (size_t)s * m.n_params, xi, 1, prob);
                    mix += prob[(int)y[i]] / S;
                }
                f[side] = -log(mix);
            }
            const double fd = (f[0] - f[1]) / (2.0 * h), g = grad[i * D + j];
            if (fabs(g - fd) > 1e-3 * fmax(1.0, fabs(fd)))
                fail_msg("row %d input %d: gradient %.6g, central difference %.6g", i, j, g, fd);
        }
    sgld_ens_grad_acc_finalize(&a);
    free(th);
    sgld_model_finalize(&m);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classification), cmocka_unit_test(test_no_targets_and_errors),
        cmocka_unit_test(test_regression),     cmocka_unit_test(test_regression_own_density),
        cmocka_unit_test(test_ece),            cmocka_unit_test(test_auroc_aupr),
        cmocka_unit_test(test_entropy_histogram),
        cmocka_unit_test(test_predictive_refusals),
        cmocka_unit_test(test_fgsm_hand),      cmocka_unit_test(test_fgsm_finite_difference),
    };
    return sgld_test_run(argc, argv, "ensemble", tests, sizeof tests / sizeof tests[0]);
}
