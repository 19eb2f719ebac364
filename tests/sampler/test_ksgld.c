/* test_ksgld.c - the K-FAC sampler (src/sampler/ksgld.c) and the networks' K-FAC statistics
 * hook (sgld_kfac in sgld/model.h; src/net/net.c, dense.c, conv.c).  Suite 'stat'.
 *
 * (1) Factors: A and G that loglik_grad leaves, against a direct computation written here
 *     from the definitions (no network code): an MLP fc4-relu-fc3 (softmax) on 5 rows of 3
 *     features, and a conv net conv2k3-linear-fc3 on 1x3x3 images (patches with zero
 *     padding averaged over positions; g of the conv output = W_fc^T (onehot(y~) - p), summed
 *     over positions), with the targets y~ the hook drew (net->kfac_y); A also for a batch
 *     split in pieces (max batch 2).  The drawn classes (one per row, keyed by the row index)
 *     over 20000 rows with the same image: their frequencies vs softmax p (4 sd binomial);
 *     and the same rows at the same theta draw the same targets (what makes resume bitwise).
 *     Tolerance 1e-5 relative to the largest entry (float sums of O(1) terms).
 * (2) Noise covariance and drift on a fixed theta: 40000 steps from the same theta of an
 *     mlp fc2-fc1 (9 parameters) with decay 0 (so A, G are this minibatch's each step):
 *     Cov(delta) vs eps T P with P built here by inverting the damped factors in double, and
 *     mean(delta) vs (eps / 2) P g ('both') or (eps / 2) g ('noise').  Tolerance per element:
 *     4 sd of the estimator, sd(S_ij) = sqrt((C_ii C_jj + C_ij^2) / M), sd(mean_i) =
 *     sqrt(C_ii / M) (Gaussian noise, exactly; 45 + 9 checks at 4 sd: a false alarm with
 *     probability ~0.3%, and the seed is fixed).
 * (3) A run through sgld_run on a small nonlinear network (mlp fc8-fc1 on synthetic:linreg3)
 *     stays finite; its posterior mean prediction is not checked (no exact answer).
 * (4) Bad input: a model without layers, --precondition other than both|noise, --kfac-decay
 *     outside [0, 1), --kfac-every 0, --kfac-damping 0: one line each.  S > 1 shards are
 *     accepted (prepare sizes the local part of the state; the MPI behaviour is
 *     test_ksgld_mpi.c's). */
#include "sgld_test.h"
#include "test_config_set.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/net/net_impl.h"
#include "sgld/config.h"
#include "sgld/data.h"
#include "sgld/model.h"
#include "sgld/run.h"
#include "sgld/sampler.h"

static float val(int i, double a, double b) { return (float)(a * sin(1.37 * i + b) + 0.1 * cos(0.71 * i * i)); }

typedef struct {
    sgld_model m;
    sgld_dataset data;
    float X[64], y[8];
    int64_t rows[8];
    float theta[256], grad[256];
} fixture;

/* A model `model` with --net spec on n rows of d features (classes K, 0 = regression). */
static void make(fixture *f, const char *model, const char *spec, const char *shape, int d, int K, int n,
                 int max_batch)
{
    memset(f, 0, sizeof *f);
    sgld_config cfg;
    sgld_config_defaults(&cfg);
    sgld_test_set(&cfg, "net", "%s", spec);
    sgld_test_set(&cfg, "input-shape", "%s", shape);
    cfg.batch_size = max_batch;
    assert_int_equal(sgld_model_init(&f->m, sgld_model_find(model), d, K, &cfg), SGLD_OK);
    assert_true(f->m.n_params <= 256);
    for (int i = 0; i < n * d; i++) f->X[i] = val(i, 1.0, 0.3);
    for (int i = 0; i < n; i++) {
        f->y[i] = K ? (float)(i % K) : val(i, 0.8, 1.1);
        f->rows[i] = i;
    }
    f->data = (sgld_dataset){.n_total = n, .n_local = n, .d = d, .X = f->X, .y = f->y, .n_classes = K};
    for (size_t i = 0; i < f->m.n_params; i++) f->theta[i] = val((int)i, 0.6, 2.0);
}

static void check_close(const char *what, const float *got, const double *want, size_t len)
{
    double mx = 0;
    for (size_t i = 0; i < len; i++) mx = fmax(mx, fabs(want[i]));
    for (size_t i = 0; i < len; i++)
        if (fabs(got[i] - want[i]) > 1e-5 * mx)
            fail_msg("%s[%zu]: hook %g, direct %g", what, i, got[i], want[i]);
}

static void softmax_g(const double *z, int K, int y, double *g)
{
    double mx = z[0], s = 0;
    for (int k = 1; k < K; k++) mx = fmax(mx, z[k]);
    for (int k = 0; k < K; k++) s += exp(z[k] - mx);
    for (int k = 0; k < K; k++) g[k] = (k == y) - exp(z[k] - mx) / s;
}

/* Adds u u^T / n into M (len x len). */
static void outer(double *M, const double *u, int len, double w)
{
    for (int i = 0; i < len; i++)
        for (int j = 0; j < len; j++) M[i * len + j] += w * u[i] * u[j];
}

static void test_factors_mlp(void **state)
{
    (void)state;
    enum { D = 3, H = 4, K = 3, N = 5 };
    for (int split = 0; split <= 1; split++) {
        fixture f;
        make(&f, "cnn", "fc4-fc3", "", D, K, N, split ? 2 : N);
        sgld_kfac *k;
        assert_int_equal(f.m.type->kfac(&f.m, &k), SGLD_OK);
        assert_int_equal(k->n_layers, 2);
        assert_int_equal(k->n_a[0], D + 1);
        assert_int_equal(k->n_g[0], H);
        assert_int_equal(k->n_a[1], H + 1);
        assert_int_equal(k->n_g[1], K);
        k->collect = 1;
        f.m.type->loglik_grad(&f.m, f.theta, &f.data, f.rows, N, f.grad);
        assert_true(k->fresh);
        const float *yt = ((sgld_net *)f.m.impl)->kfac_y; /* the drawn targets (one chunk) */
        const float *W1 = f.theta, *b1 = W1 + H * D, *W2 = b1 + H, *b2 = W2 + K * H;
        double A0[(D + 1) * (D + 1)] = {0}, G0[H * H] = {0}, A1[(H + 1) * (H + 1)] = {0}, G1[K * K] = {0};
        for (int r = 0; r < N; r++) {
            const float *x = f.X + r * D;
            double a0[D + 1], z1[H], h[H + 1], z2[K], g2[K], g1[H];
            for (int j = 0; j < D; j++) a0[j] = x[j];
            a0[D] = 1;
            for (int o = 0; o < H; o++) {
                z1[o] = b1[o];
                for (int j = 0; j < D; j++) z1[o] += (double)W1[o * D + j] * x[j];
                h[o] = z1[o] > 0 ? z1[o] : 0;
            }
            h[H] = 1;
            for (int o = 0; o < K; o++) {
                z2[o] = b2[o];
                for (int j = 0; j < H; j++) z2[o] += (double)W2[o * H + j] * h[j];
            }
            /* split: kfac_y holds only the last chunk's targets (G is not checked then) */
            softmax_g(z2, K, split ? 0 : (int)yt[r], g2);
            for (int j = 0; j < H; j++) {
                g1[j] = 0;
                for (int o = 0; o < K; o++) g1[j] += (double)W2[o * H + j] * g2[o];
                g1[j] *= z1[j] > 0;
            }
            outer(A0, a0, D + 1, 1.0 / N);
            outer(G0, g1, H, 1.0 / N);
            outer(A1, h, H + 1, 1.0 / N);
            outer(G1, g2, K, 1.0 / N);
        }
        check_close("fc1 A", k->A[0], A0, (D + 1) * (D + 1));
        check_close("fc2 A", k->A[1], A1, (H + 1) * (H + 1));
        if (!split) { /* the targets of every chunk are known only without a split */
            check_close("fc1 G", k->G[0], G0, H * H);
            check_close("fc2 G", k->G[1], G1, K * K);
        }
        /* off: nothing collected, and predict-type calls never collect */
        k->collect = 0;
        k->fresh = 0;
        f.m.type->loglik_grad(&f.m, f.theta, &f.data, f.rows, N, f.grad);
        assert_false(k->fresh);
        sgld_model_finalize(&f.m);
    }
}

static void test_factors_conv(void **state)
{
    (void)state;
    enum { S = 3, HW = S * S, O = 2, K = 3, N = 4, P = 9 };
    fixture f;
    make(&f, "cnn", "conv2k3-linear-fc3", "1x3x3", HW, K, N, N);
    sgld_kfac *k;
    assert_int_equal(f.m.type->kfac(&f.m, &k), SGLD_OK);
    assert_int_equal(k->n_layers, 2);
    assert_int_equal(k->n_a[0], P + 1);
    assert_int_equal(k->n_g[0], O);
    k->collect = 1;
    f.m.type->loglik_grad(&f.m, f.theta, &f.data, f.rows, N, f.grad);
    const float *yt = ((sgld_net *)f.m.impl)->kfac_y;
    const float *Wc = f.theta, *bc = Wc + O * P, *Wf = bc + O, *bf = Wf + K * O * HW;
    double A0[(P + 1) * (P + 1)] = {0}, G0[O * O] = {0};
    for (int r = 0; r < N; r++) {
        const float *x = f.X + r * HW;
        double patch[HW][P + 1], z[O * HW], zf[K], gf[K];
        for (int t = 0; t < HW; t++) {
            int py = t / S, px = t % S;
            for (int u = 0; u < 3; u++)
                for (int v = 0; v < 3; v++) {
                    int sy = py + u - 1, sx = px + v - 1;
                    patch[t][u * 3 + v] = sy >= 0 && sy < S && sx >= 0 && sx < S ? x[sy * S + sx] : 0.0;
                }
            patch[t][P] = 1;
            outer(A0, patch[t], P + 1, 1.0 / (N * HW));
            for (int o = 0; o < O; o++) {
                z[o * HW + t] = bc[o];
                for (int j = 0; j < P; j++) z[o * HW + t] += Wc[o * P + j] * patch[t][j];
            }
        }
        for (int c = 0; c < K; c++) {
            zf[c] = bf[c];
            for (int j = 0; j < O * HW; j++) zf[c] += Wf[c * O * HW + j] * z[j];
        }
        softmax_g(zf, K, (int)yt[r], gf);
        for (int t = 0; t < HW; t++) {
            double g[O];
            for (int o = 0; o < O; o++) {
                g[o] = 0;
                for (int c = 0; c < K; c++) g[o] += Wf[c * O * HW + o * HW + t] * gf[c];
            }
            outer(G0, g, O, 1.0 / N);
        }
    }
    check_close("conv1 A", k->A[0], A0, (P + 1) * (P + 1));
    check_close("conv1 G", k->G[0], G0, O * O);
    /* the drawn classes follow softmax p: M rows holding image 0 */
    enum { M = 20000 };
    double z0[K], p0[K], cnt[K] = {0};
    sgld_config cfg;
    sgld_config_defaults(&cfg);
    sgld_test_set(&cfg, "net", "conv2k3-linear-fc3");
    sgld_test_set(&cfg, "input-shape", "1x3x3");
    cfg.batch_size = M;
    sgld_model big;
    assert_int_equal(sgld_model_init(&big, sgld_model_find("cnn"), HW, K, &cfg), SGLD_OK);
    float *X = malloc(sizeof(float) * HW * M), *y = calloc(M, sizeof(float)), *g = calloc(big.n_params, sizeof(float));
    int64_t *rows = malloc(sizeof(int64_t) * M);
    for (int r = 0; r < M; r++) {
        memcpy(X + (size_t)r * HW, f.X, HW * sizeof(float));
        rows[r] = r;
    }
    sgld_dataset many = {.n_total = M, .n_local = M, .d = HW, .X = X, .y = y, .n_classes = K};
    assert_int_equal(big.type->kfac(&big, &k), SGLD_OK);
    k->collect = 1;
    big.type->loglik_grad(&big, f.theta, &many, rows, M, g);
    sgld_net *net = big.impl;
    memcpy(sgld_net_input(net), f.X, HW * sizeof(float));
    const float *out = sgld_net_forward(net, f.theta, 1, 0);
    for (int c = 0; c < K; c++) z0[c] = out[c];
    softmax_g(z0, K, -1, p0);
    for (int c = 0; c < K; c++) p0[c] = -p0[c];
    float *first = malloc(sizeof(float) * M);
    memcpy(first, net->kfac_y, sizeof(float) * M);
    for (int r = 0; r < M; r++) cnt[(int)first[r]]++;
    for (int c = 0; c < K; c++) {
        double sdp = sqrt(p0[c] * (1 - p0[c]) / M);
        printf("  drawn class %d: %.4f of %d rows, softmax p %.4f (sd %.4f)\n", c, cnt[c] / M, M, p0[c], sdp);
        assert_true(fabs(cnt[c] / M - p0[c]) <= 4 * sdp);
    }
    big.type->loglik_grad(&big, f.theta, &many, rows, M, g);
    assert_memory_equal(first, net->kfac_y, sizeof(float) * M);
    free(first);
    free(X);
    free(y);
    free(g);
    free(rows);
    sgld_model_finalize(&big);
    sgld_model_finalize(&f.m);
}

/* ---- (2) noise covariance ---- */

static sgld_status regrad(void *self, const float *theta, float *grad, double *lp)
{
    fixture *f = self;
    memset(grad, 0, f->m.n_params * sizeof *grad);
    *lp = f->m.type->loglik_grad(&f->m, theta, &f->data, f->rows, 6, grad);
    return SGLD_OK;
}

/* In-place inverse of the n x n SPD matrix M (Gauss-Jordan, double). */
static void invert(double *M, int n)
{
    double T[32 * 64];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 2 * n; j++) T[i * 2 * n + j] = j < n ? M[i * n + j] : (j - n == i);
    for (int c = 0; c < n; c++) {
        double p = T[c * 2 * n + c];
        for (int j = 0; j < 2 * n; j++) T[c * 2 * n + j] /= p;
        for (int i = 0; i < n; i++) {
            if (i == c) continue;
            double q = T[i * 2 * n + c];
            for (int j = 0; j < 2 * n; j++) T[i * 2 * n + j] -= q * T[c * 2 * n + j];
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) M[i * n + j] = T[i * 2 * n + n + j];
}

static void noise_case(const char *mode)
{
    enum { D = 3, NP = 2 * (D + 1) + 3, M = 40000 };
    fixture f;
    make(&f, "mlp", "fc2-fc1", "", D, 0, 6, 6);
    assert_int_equal((int)f.m.n_params, NP);
    sgld_config cfg;
    sgld_config_defaults(&cfg);
    sgld_test_set(&cfg, "precondition", "%s", mode);
    sgld_test_set(&cfg, "kfac-decay", "0");
    sgld_test_set(&cfg, "kfac-damping", "0.3");
    sgld_test_set(&cfg, "kfac-every", "7");
    cfg.batch_size = 6; /* regrad's rows: the whole batch on this one rank */
    const sgld_sampler_type *s = sgld_sampler_find("ksgld");
    assert_non_null(s);
    size_t ns, nl;
    assert_int_equal(s->prepare(&f.m, &cfg, 1, 50.0, &ns, &nl), SGLD_OK);
    float *st = calloc(ns, sizeof *st), work[4 * NP], theta[NP], g[NP];
    sgld_rng rng = {77, 1};
    sgld_step_ctx ctx = {.n_params = NP, .eps = 0.02, .temperature = 1.3, .rng = &rng, .cfg = &cfg, .model = &f.m,
                         .opts = sgld_config_opts(&cfg, s), .work = work, .gradient = regrad, .gradient_self = &f};
    s->init(&ctx, f.theta, st);
    for (int i = 0; i < NP; i++) g[i] = val(i, 5.0, 0.2);
    double sum[NP] = {0}, sum2[NP * NP] = {0};
    for (int t = 1; t <= M; t++) {
        ctx.step = (uint64_t)t;
        memcpy(theta, f.theta, sizeof theta);
        assert_int_equal(s->step(&ctx, theta, g, st), SGLD_OK); /* statistics via regrad */
        double dl[NP];
        for (int i = 0; i < NP; i++) {
            dl[i] = (double)theta[i] - f.theta[i];
            assert_true(isfinite(dl[i]));
            sum[i] += dl[i];
        }
        outer(sum2, dl, NP, 1.0);
    }
    /* P from the statistics the hook left (checked in (1)), inverted here in double */
    sgld_kfac *k;
    assert_int_equal(f.m.type->kfac(&f.m, &k), SGLD_OK);
    double Pm[NP * NP] = {0};
    int idx[2][3][D + 1];
    for (int l = 0; l < 2; l++)
        for (int o = 0; o < k->n_g[l]; o++)
            for (int j = 0; j < k->n_a[l]; j++)
                idx[l][o][j] = (int)(j < k->n_a[l] - 1 ? k->w_off[l] + (size_t)o * (k->n_a[l] - 1) + j : k->b_off[l] + o);
    for (int l = 0; l < 2; l++) {
        const int na = k->n_a[l], ng = k->n_g[l];
        double Ai[16], Gi[16];
        for (int i = 0; i < na * na; i++) Ai[i] = k->A[l][i] + (i % (na + 1) == 0 ? sqrt(sgld_test_get_double(&cfg, "kfac-damping")) : 0);
        for (int i = 0; i < ng * ng; i++) Gi[i] = 50.0 * k->G[l][i] + (i % (ng + 1) == 0 ? sqrt(sgld_test_get_double(&cfg, "kfac-damping")) : 0);
        invert(Ai, na);
        invert(Gi, ng);
        for (int o = 0; o < ng; o++)
            for (int j = 0; j < na; j++)
                for (int o2 = 0; o2 < ng; o2++)
                    for (int j2 = 0; j2 < na; j2++)
                        Pm[idx[l][o][j] * NP + idx[l][o2][j2]] = Gi[o * ng + o2] * Ai[j * na + j2];
    }
    const double eT = ctx.eps * ctx.temperature;
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < NP; i++) {
        double want = 0;
        if (strcmp(mode, "noise") == 0) want = 0.5 * ctx.eps * g[i];
        else
            for (int j = 0; j < NP; j++) want += 0.5 * ctx.eps * Pm[i * NP + j] * g[j];
        double m = sum[i] / M, sdm = sqrt(eT * Pm[i * NP + i] / M);
        worst = fmax(worst, fabs(m - want) / sdm);
        if (fabs(m - want) > 4 * sdm) {
            printf("  %s mean[%d]: %g want %g (sd %g)\n", mode, i, m, want, sdm);
            bad++;
        }
        for (int j = 0; j <= i; j++) {
            double c = sum2[i * NP + j] / M - (sum[i] / M) * (sum[j] / M);
            double w = eT * Pm[i * NP + j];
            double sdc = eT * sqrt((Pm[i * NP + i] * Pm[j * NP + j] + Pm[i * NP + j] * Pm[i * NP + j]) / M);
            worst = fmax(worst, fabs(c - w) / sdc);
            if (fabs(c - w) > 4 * sdc) {
                printf("  %s cov[%d,%d]: %g want %g (sd %g)\n", mode, i, j, c, w, sdc);
                bad++;
            }
        }
    }
    double pmin = INFINITY, pmax = 0;
    for (int i = 0; i < NP; i++) pmin = fmin(pmin, Pm[i * NP + i]), pmax = fmax(pmax, Pm[i * NP + i]);
    printf("  ksgld --precondition %s: %d steps, diag P in [%.3g, %.3g], worst |dev| %.2f sd (tol 4)\n", mode, M,
           pmin, pmax, worst);
    assert_int_equal(bad, 0);
    free(st);
    sgld_model_finalize(&f.m);
}

static void test_noise_covariance(void **state)
{
    (void)state;
    noise_case("both");
    noise_case("noise");
}

/* ---- (3) a small network through sgld_run ---- */

static void test_run_finite(void **state)
{
    (void)state;
    sgld_config cfg;
    sgld_config_defaults(&cfg);
    snprintf(cfg.data, sizeof cfg.data, "synthetic:linreg3");
    snprintf(cfg.model, sizeof cfg.model, "mlp");
    sgld_test_set(&cfg, "net", "fc8-fc1");
    snprintf(cfg.sampler, sizeof cfg.sampler, "ksgld");
    sgld_test_set(&cfg, "noise-sd", "0.5");
    cfg.steps = 3000;
    cfg.burnin = 500;
    cfg.batch_size = 50;
    cfg.step_size = 0.05;
    cfg.quiet = 1;
    sgld_run_report rep;
    assert_int_equal(sgld_run(MPI_COMM_SELF, &cfg, 1, &rep), SGLD_OK);
    assert_non_null(rep.draws);
    size_t n = (size_t)rep.n_draws * rep.model.n_params;
    double amax = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(isfinite(rep.draws[i]));
        amax = fmax(amax, fabs(rep.draws[i]));
    }
    printf("  ksgld mlp fc8-fc1 on synthetic:linreg3: %lld draws of %zu parameters, all finite, max |theta| %.3g\n",
           (long long)rep.n_draws, rep.model.n_params, amax);
    sgld_run_report_free(&rep);
}

/* ---- (4) bad input ---- */

static void expect_usage(const char *const *argv, int argc, const char *needle)
{
    sgld_config cfg;
    sgld_status st = sgld_config_parse(&cfg, argc, (char **)argv);
    if (st == SGLD_OK) {
        cfg.quiet = 1;
        sgld_run_report rep;
        st = sgld_run(MPI_COMM_SELF, &cfg, 0, &rep);
        sgld_run_report_free(&rep);
    }
    assert_int_equal(st, SGLD_ERR_USAGE);
    const char *msg = sgld_error_message();
    printf("  %s\n", msg);
    assert_null(strchr(msg, '\n'));
    if (!strstr(msg, needle)) fail_msg("message '%s' lacks '%s'", msg, needle);
}

static void test_bad_input(void **state)
{
    (void)state;
    const char *no_layers[] = {"sgld-dist", "--sampler", "ksgld", "--model", "linreg", "--steps", "20", "--burnin", "2"};
    expect_usage(no_layers, 9, "no dense or conv layers");
    const char *bad_mode[] = {"sgld-dist", "--sampler", "ksgld", "--precondition", "drift"};
    expect_usage(bad_mode, 5, "must be both or noise");
    const char *bad_decay[] = {"sgld-dist", "--kfac-decay", "1"};
    expect_usage(bad_decay, 3, "kfac-decay");
    const char *bad_every[] = {"sgld-dist", "--kfac-every", "0"};
    expect_usage(bad_every, 3, "kfac-every");
    const char *bad_damp[] = {"sgld-dist", "--kfac-damping", "0"};
    expect_usage(bad_damp, 3, "kfac-damping");
    /* S > 1 shards are accepted: the state's last part (each rank's share of the factors, as
     * packed lower triangles) is local; fc2-fc1 on 3 inputs: n_a 4, 3; n_g 2, 1 */
    fixture f;
    make(&f, "mlp", "fc2-fc1", "", 3, 0, 4, 4);
    sgld_config cfg;
    sgld_config_defaults(&cfg);
    size_t ns, nl;
    assert_int_equal(sgld_sampler_find("ksgld")->prepare(&f.m, &cfg, 2, 4.0, &ns, &nl), SGLD_OK);
    assert_int_equal(nl, 10 + 3 + 6 + 1);
    assert_int_equal(ns, 1 + (16 + 4 + 9 + 1) + nl);
    sgld_model_finalize(&f.m);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_factors_mlp),
        cmocka_unit_test(test_factors_conv),
        cmocka_unit_test(test_noise_covariance),
        cmocka_unit_test(test_run_finite),
        cmocka_unit_test(test_bad_input),
    };
    return sgld_test_run(argc, argv, "ksgld", tests, sizeof tests / sizeof tests[0]);
}
