/* test_net.c - the networks: finite-difference gradient checks of every layer, loss and
 * whole network (parameters and input), convolution against a direct loop, spec parsing and
 * every bad spec, the mlp/cnn models (layout, names, --save-params, --prior-sd-layers,
 * batches split in pieces, option errors, --task), MC-dropout masks.
 *
 * Gradient-check bound.  The objective J (a log-likelihood summed in double over float
 * network outputs) is differentiated by central differences with h = 3e-3 on float theta or
 * x.  Truncation error is O(h^2 |J'''|) ~ 1e-5; rounding error of float outputs ~ 1e-7 |J| /
 * h ~ 1e-4 for |J| ~ 3.  We require, per check, ||g - fd|| <= 1e-2 ||fd|| (norm-wise) and
 * every |g_i - fd_i| <= 2e-2 max_j |fd_j| (no single element wrong), which leaves a margin of
 * ~10x over the expected error while a wrong index or a missing term (errors of order |g|)
 * fails.  Inputs avoid ties of ReLU/max-pool at the scale of h (values are irrational-ish
 * smooth functions of the index). */
#include "sgld_test.h"
#include "test_config_set.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/net/net_impl.h"
#include "sgld/model.h"
#include "sgld/net.h"

#define H_FD 1e-3f

static float fill(size_t i, double a, double b) { return (float)(a * sin(1.37 * (double)i + b) + 0.05 * cos(0.71 * (double)i * i)); }

/* J = the net's log-likelihood of targets y after a forward of x at theta (dropout mask
 * fixed by rewinding the call counter). */
static double objective(sgld_net *net, const float *theta, const float *x, const float *y, size_t n)
{
    memcpy(sgld_net_input(net), x, n * net->L.in_size * sizeof *x);
    net->n_calls = 0;
    sgld_net_forward(net, theta, n, 1);
    return sgld_net_loglik(net, y, n, NULL);
}

static void compare(const char *what, const char *spec, const float *g, const double *fd, size_t len)
{
    double num = 0, den = 0, mx = 0;
    for (size_t i = 0; i < len; i++) {
        num += (g[i] - fd[i]) * (g[i] - fd[i]);
        den += fd[i] * fd[i];
        mx = fmax(mx, fabs(fd[i]));
    }
    if (sqrt(num) > 1e-2 * sqrt(den) || den == 0)
        fail_msg("%s '%s': ||g - fd|| = %g, ||fd|| = %g", what, spec, sqrt(num), sqrt(den));
    for (size_t i = 0; i < len; i++)
        if (fabs(g[i] - fd[i]) > 2e-2 * mx)
            fail_msg("%s '%s': element %zu: analytic %g, finite difference %g (max |fd| %g)", what, spec, i,
                     g[i], fd[i], mx);
}

/* Distance of the last forward from the kinks of ReLU (|input|) and max-pool (largest minus
 * second largest of a block): a central difference that crosses a kink is off by O(1) in
 * that term, so the check needs this margin > 3 h (one step of h moves a pre-activation by about h |x| or h |w|, both <~ 1 here); a crossing that still happens makes the check fail, never pass. */
static double kink_margin(const sgld_net *net, size_t n)
{
    double m = INFINITY;
    for (int l = 0; l < net->L.n_layers; l++) {
        const sgld_layer *y = &net->L.layer[l];
        const float *in = net->act[l];
        if (y->kind == SGLD_LAYER_RELU)
            for (size_t i = 0; i < n * y->in_size; i++) m = fmin(m, fabs(in[i]));
        if (y->kind == SGLD_LAYER_POOL)
            for (size_t pl = 0; pl < n * (size_t)y->c; pl++)
                for (int i = 0; i < y->oh; i++)
                    for (int j = 0; j < y->ow; j++) {
                        const float *b = in + pl * y->h * y->w + 2 * i * y->w + 2 * j;
                        float v[4] = {b[0], b[1], b[y->w], b[y->w + 1]}, a = -INFINITY, s = -INFINITY;
                        for (int k = 0; k < 4; k++) {
                            if (v[k] > a) s = a, a = v[k];
                            else if (v[k] > s) s = v[k];
                        }
                        if (a != 0.0f || s != 0.0f) m = fmin(m, a - s); /* zeros of a ReLU: its margin */
                    }
    }
    return m;
}

/* Checks d J / d theta and d J / d x of the network `spec` on input shape c x h x w (inputs
 * from phase `phase`). */
static int check_net_at(const char *spec, int c, int h, int w, sgld_net_loss loss, double phase)
{
    sgld_net_layout L;
    if (sgld_net_parse(spec, c, h, w, &L) != SGLD_OK) fail_msg("%s: %s", spec, sgld_error_message());
    const size_t n = 2, P = L.n_params, D = L.in_size;
    sgld_net *net;
    assert_int_equal(sgld_net_create(&L, n, loss, 0.8, 7, &net), SGLD_OK);
    float *theta = malloc(P * sizeof *theta), *grad = calloc(P, sizeof *grad);
    float *x = malloc(n * D * sizeof *x), *dx = malloc(n * D * sizeof *dx), y[3];
    double *fd = malloc((P > n * D ? P : n * D) * sizeof *fd);
    sgld_rng r = {11, 3};
    sgld_net_init_params(&L, &r, theta);
    for (size_t i = 0; i < P; i++) theta[i] += 0.05f * fill(i, 1.0, 0.3); /* nonzero biases */
    for (size_t i = 0; i < n * D; i++) x[i] = fill(i, 1.0, phase);
    for (size_t i = 0; i < n; i++) y[i] = loss == SGLD_NET_SOFTMAX ? (float)((2 * i + 1) % L.n_out) : fill(i, 1.5, 0.2);
    net->unfused = 1; /* every act[] written, for the margin; the checks below run fused */
    (void)objective(net, theta, x, y, n);
    net->unfused = 0;
    if (kink_margin(net, n) < 3 * H_FD) { /* not a valid check point: the caller tries another */
        sgld_net_destroy(&net);
        free(theta), free(grad), free(x), free(dx), free(fd);
        return 0;
    }
    sgld_net_loglik(net, y, n, net->dout);
    sgld_net_backward(net, theta, net->dout, n, grad, dx);
    for (size_t i = 0; i < P; i++) {
        float keep = theta[i];
        theta[i] = keep + H_FD;
        double up = objective(net, theta, x, y, n);
        theta[i] = keep - H_FD;
        double down = objective(net, theta, x, y, n);
        theta[i] = keep;
        fd[i] = (up - down) / (2.0 * H_FD);
    }
    compare("parameters", spec, grad, fd, P);
    for (size_t i = 0; i < n * D; i++) {
        float keep = x[i];
        x[i] = keep + H_FD;
        double up = objective(net, theta, x, y, n);
        x[i] = keep - H_FD;
        double down = objective(net, theta, x, y, n);
        x[i] = keep;
        fd[i] = (up - down) / (2.0 * H_FD);
    }
    compare("input", spec, dx, fd, n * D);
    sgld_net_destroy(&net);
    assert_null(net);
    free(theta), free(grad), free(x), free(dx), free(fd);
    return 1;
}

/* The check at the first input phase 0.9, 1.9, ... whose forward pass keeps the kink margin;
 * fails when none of 40 does. */
static void check_net(const char *spec, int c, int h, int w, sgld_net_loss loss)
{
    for (int k = 0; k < 40; k++)
        if (check_net_at(spec, c, h, w, loss, 0.9 + k)) return;
    fail_msg("'%s': no input phase keeps every ReLU/max-pool input %g away from its kink", spec, 3 * H_FD);
}

/* One layer at a time: each spec isolates one layer kind in front of a dense read-out (the
 * dense layer is checked alone first), on inputs with odd sides. */
static void test_layer_gradients(void **state)
{
    (void)state;
    check_net("fc3", 2, 3, 3, SGLD_NET_SOFTMAX);                 /* dense */
    check_net("fc5-linear-fc3", 1, 1, 7, SGLD_NET_SOFTMAX);      /* dense, no activation */
    check_net("fc5-relu-fc3", 1, 1, 7, SGLD_NET_SOFTMAX);        /* ReLU */
    check_net("fc5-tanh-fc3", 1, 1, 7, SGLD_NET_SOFTMAX);        /* tanh */
    check_net("fc6-drop0.4-fc3", 1, 1, 7, SGLD_NET_SOFTMAX);     /* dropout (fixed mask) */
    check_net("conv3k3-linear-fc3", 2, 6, 5, SGLD_NET_SOFTMAX);  /* conv 3x3 */
    check_net("conv2k1-linear-fc3", 2, 4, 5, SGLD_NET_SOFTMAX);  /* conv 1x1 */
    check_net("conv2k5-linear-fc3", 1, 5, 7, SGLD_NET_SOFTMAX);  /* kernel = image height */
    check_net("pool2-fc3", 2, 6, 5, SGLD_NET_SOFTMAX);           /* max-pool, odd width */
    check_net("conv2k5-pool2-fc3", 6, 6, 5, SGLD_NET_SOFTMAX);   /* conv-relu-pool, sparse backward (c k k 150) */
}

static void test_loss_gradients(void **state)
{
    (void)state;
    check_net("fc6-tanh-fc4", 1, 1, 5, SGLD_NET_SOFTMAX); /* softmax cross-entropy */
    check_net("fc6-tanh-fc1", 1, 1, 5, SGLD_NET_GAUSS);   /* Gaussian, fixed noise */
    check_net("fc6-tanh-fc2", 1, 1, 5, SGLD_NET_HETERO);  /* heteroscedastic */
}

static void test_network_gradients(void **state)
{
    (void)state;
    check_net("conv2k5-pool2-conv3k3-pool2-fc5-fc3", 1, 6, 6, SGLD_NET_SOFTMAX); /* the seed CNN, small */
    check_net("conv3k5-tanh-pool2-conv4k3-tanh-pool2-fc6-fc3", 1, 8, 8, SGLD_NET_SOFTMAX);
    check_net("conv3k3-tanh-pool2-drop0.2-fc5-fc2", 2, 7, 6, SGLD_NET_HETERO);
    check_net("fc9-fc7-fc4", 1, 1, 6, SGLD_NET_SOFTMAX);  /* MLP */
    check_net("fc7-fc2", 1, 1, 8, SGLD_NET_HETERO);       /* the UCI MLP */
}

/* Convolution against a direct 'same' cross-correlation in double. */
static void test_conv_direct(void **state)
{
    (void)state;
    sgld_net_layout L;
    assert_int_equal(sgld_net_parse("conv4k3-linear-fc2", 3, 5, 6, &L), SGLD_OK);
    const sgld_layer *y = &L.layer[0];
    const size_t n = 2;
    float *theta = malloc(L.n_params * sizeof *theta), x[2 * 3 * 5 * 6], out[2 * 4 * 5 * 6];
    float *col = malloc(sgld_conv_work_size(y) * sizeof *col);
    for (size_t i = 0; i < L.n_params; i++) theta[i] = fill(i, 0.7, 0.1);
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = fill(i, 1.0, 0.4);
    sgld_conv_forward(y, theta, x, out, n, col);
    for (size_t b = 0; b < n; b++)
        for (int o = 0; o < 4; o++)
            for (int i = 0; i < 5; i++)
                for (int j = 0; j < 6; j++) {
                    double s = theta[y->b_off + o];
                    for (int c = 0; c < 3; c++)
                        for (int u = 0; u < 3; u++)
                            for (int v = 0; v < 3; v++) {
                                int yy = i + u - 1, xx = j + v - 1;
                                if (yy < 0 || yy >= 5 || xx < 0 || xx >= 6) continue;
                                s += (double)theta[((o * 3 + c) * 3 + u) * 3 + v] * x[((b * 3 + c) * 5 + yy) * 6 + xx];
                            }
                    assert_true(fabs(s - out[((b * 4 + o) * 5 + i) * 6 + j]) < 1e-5);
                }
    free(theta), free(col);
}

/* The fused layer chain (conv/fc + ReLU [+ pool] in one pass; backward, conv + ReLU + pool
 * from the pool's sparse gradient, or pool + ReLU) against every layer on its own: same
 * outputs, parameter and input gradients, to float rounding (the bias is added after the
 * GEMM instead of before; the sparse backward sums in another order), at batch 3 on networks
 * with every pattern: conv-relu-pool (k 5, 3, 1), conv-relu (no pool), conv-tanh-pool,
 * fc-relu, fc-linear, and a plane wider than 16 floats (two and three AVX-512 vectors). */
static void test_fused_chain(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        int c, h, w;
    } nets[] = {
        {"conv4k5-pool2-conv6k3-pool2-fc7-fc3", 1, 12, 10},  /* c k k < 128: dense */
        {"conv8k5-pool2-conv6k5-pool2-fc7-fc3", 1, 12, 11},  /* conv2 sparse, into conv1 */
        {"conv3k3-conv4k5-tanh-pool2-fc5-linear-fc3", 2, 9, 7},
        {"conv3k5-pool2-fc6-fc3", 6, 19, 37},                /* sparse k 5, 37 wide, into x */
        {"conv5k3-pool2-conv4k1-pool2-fc3", 16, 10, 9},      /* sparse k 3 */
        {"conv3k1-pool2-fc3", 130, 4, 6},                    /* sparse k 1 */
        {"fc9-fc7-linear-fc4", 1, 1, 11},
    };
    const size_t n = 3;
    for (size_t t = 0; t < sizeof nets / sizeof nets[0]; t++) {
        sgld_net_layout L;
        assert_int_equal(sgld_net_parse(nets[t].spec, nets[t].c, nets[t].h, nets[t].w, &L), SGLD_OK);
        const size_t P = L.n_params, D = L.in_size, K = (size_t)L.n_out;
        sgld_net *net;
        assert_int_equal(sgld_net_create(&L, n, SGLD_NET_SOFTMAX, 1.0, 3, &net), SGLD_OK);
        float *theta = malloc(P * sizeof *theta), *g[2], *dx[2], out[2][3 * 8], y[3] = {0, 1, 2};
        assert_true(K <= 8);
        sgld_rng r = {5, 1};
        sgld_net_init_params(&L, &r, theta);
        for (size_t i = 0; i < P; i++) theta[i] += 0.05f * fill(i, 1.0, 0.7);
        for (int f = 0; f < 2; f++) {
            g[f] = calloc(P, sizeof(float)), dx[f] = malloc(n * D * sizeof(float));
            for (size_t i = 0; i < n * D; i++) sgld_net_input(net)[i] = fill(i, 1.0, 0.2);
            net->unfused = f;
            memcpy(out[f], sgld_net_forward(net, theta, n, 1), n * K * sizeof(float));
            sgld_net_loglik(net, y, n, net->dout);
            sgld_net_backward(net, theta, net->dout, n, g[f], dx[f]);
        }
        double gmax = 0, xmax = 0;
        for (size_t i = 0; i < P; i++) gmax = fmax(gmax, fabs(g[1][i]));
        for (size_t i = 0; i < n * D; i++) xmax = fmax(xmax, fabs(dx[1][i]));
        for (size_t i = 0; i < n * K; i++)
            if (fabsf(out[0][i] - out[1][i]) > 1e-5f * (1 + fabsf(out[1][i])))
                fail_msg("%s: output %zu fused %.9g, unfused %.9g", nets[t].spec, i, out[0][i], out[1][i]);
        for (size_t i = 0; i < P; i++)
            if (fabs(g[0][i] - g[1][i]) > 1e-5 * gmax)
                fail_msg("%s: gradient %zu fused %.9g, unfused %.9g", nets[t].spec, i, g[0][i], g[1][i]);
        for (size_t i = 0; i < n * D; i++)
            if (fabs(dx[0][i] - dx[1][i]) > 1e-5 * xmax)
                fail_msg("%s: input gradient %zu fused %.9g, unfused %.9g", nets[t].spec, i, dx[0][i], dx[1][i]);
        for (int f = 0; f < 2; f++) free(g[f]), free(dx[f]);
        free(theta);
        sgld_net_destroy(&net);
    }
}

/* im2col, the output and the input gradient of a conv layer against direct loops (so the
 * AVX-512 GEMM kernel with M and N not multiples of 16), on planes narrower
 * and wider than one 16-float vector, kernel sizes 1 to 9 (up to the image side):
 * col[(c k + u) k + v][y W + x] = X[c][y + u - p][x + v - p], and dX = col2im(W^T dY)
 * = sum over o, u, v of W[o][c][u][v] dY[o][y - u + p][x - v + p].  Both the AVX-512 and the
 * plain loops. */
static void conv_kernels(void)
{
    static const int shapes[][5] = {{1, 28, 28, 5, 3}, {3, 5, 6, 3, 3}, {2, 7, 17, 7, 17}, {2, 5, 33, 5, 5}, {2, 3, 16, 1, 16}, {1, 9, 10, 9, 32}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int C = shapes[t][0], H = shapes[t][1], W = shapes[t][2], k = shapes[t][3], p = (k - 1) / 2, O = shapes[t][4];
        char spec[64];
        snprintf(spec, sizeof spec, "conv%dk%d-linear-fc2", O, k);
        sgld_net_layout L;
        assert_int_equal(sgld_net_parse(spec, C, H, W, &L), SGLD_OK);
        const sgld_layer *y = &L.layer[0];
        const size_t HW = (size_t)H * W;
        float *x = malloc(C * HW * sizeof *x), *col = malloc(sgld_conv_work_size(y) * sizeof *col);
        float *theta = malloc(L.n_params * sizeof *theta), *dy = malloc(O * HW * sizeof *dy);
        float *din = malloc(C * HW * sizeof *din);
        for (size_t i = 0; i < C * HW; i++) x[i] = fill(i, 1.0, 0.3);
        for (size_t i = 0; i < L.n_params; i++) theta[i] = fill(i, 0.5, 0.9);
        for (size_t i = 0; i < O * HW; i++) dy[i] = fill(i, 1.0, 1.7);
        sgld_conv_im2col(y, x, col);
        for (int c = 0; c < C; c++)
            for (int u = 0; u < k; u++)
                for (int v = 0; v < k; v++)
                    for (int i = 0; i < H; i++)
                        for (int j = 0; j < W; j++) {
                            int yy = i + u - p, xx = j + v - p;
                            float want = yy < 0 || yy >= H || xx < 0 || xx >= W ? 0.0f : x[(c * H + yy) * W + xx];
                            if (col[((size_t)(c * k + u) * k + v) * HW + (size_t)i * W + j] != want)
                                fail_msg("%s on %dx%dx%d: col (c %d u %d v %d y %d x %d)", spec, C, H, W, c, u, v, i, j);
                        }
        float *out = malloc(O * HW * sizeof *out);
        sgld_conv_forward(y, theta, x, out, 1, col);
        for (int o = 0; o < O; o++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    double s = theta[y->b_off + o];
                    for (int c = 0; c < C; c++)
                        for (int u = 0; u < k; u++)
                            for (int v = 0; v < k; v++) {
                                int yy = i + u - p, xx = j + v - p;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                s += (double)theta[((o * C + c) * k + u) * k + v] * x[(c * H + yy) * W + xx];
                            }
                    if (fabs(s - out[(o * H + i) * W + j]) > 1e-5 * (1 + fabs(s)))
                        fail_msg("%s on %dx%dx%d: Y[%d][%d][%d] = %.9g, direct %.9g", spec, C, H, W, o, i, j,
                                 out[(o * H + i) * W + j], s);
                }
        free(out);
        sgld_conv_backward(y, theta, x, dy, 1, NULL, din, col);
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++) {
                    double s = 0.0;
                    for (int o = 0; o < O; o++)
                        for (int u = 0; u < k; u++)
                            for (int v = 0; v < k; v++) {
                                int yy = i - u + p, xx = j - v + p;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                s += (double)theta[((o * C + c) * k + u) * k + v] * dy[(o * H + yy) * W + xx];
                            }
                    if (fabs(s - din[(c * H + i) * W + j]) > 1e-5 * (1 + fabs(s)))
                        fail_msg("%s on %dx%dx%d: dX[%d][%d][%d] = %.9g, direct %.9g", spec, C, H, W, c, i, j,
                                 din[(c * H + i) * W + j], s);
                }
        free(x), free(col), free(theta), free(dy), free(din);
    }
}

static void test_conv_kernels(void **state)
{
    (void)state;
    conv_kernels(); /* AVX-512 where the CPU has it */
    sgld_net_plain = 1;
    conv_kernels(); /* the portable loops */
    sgld_net_plain = 0;
}

/* 2 x 2 max-pool forward against a direct loop (the first maximum of a block wins, by strict
 * >): integer inputs with many ties, odd sides, rows of 1 to 37 outputs (more than one
 * AVX-512 vector); the AVX-512 and the portable rows. */
static void test_pool_forward(void **state)
{
    (void)state;
    for (int plain = 0; plain < 2; plain++) {
        sgld_net_plain = plain;
        for (int W = 2; W <= 75; W += 3)
            for (int H = 2; H <= 5; H++) {
                sgld_layer y = {.kind = SGLD_LAYER_POOL, .c = 2, .h = H, .w = W, .oc = 2, .oh = H / 2, .ow = W / 2};
                const size_t n = 2, in = (size_t)2 * H * W, on = (size_t)2 * (H / 2) * (W / 2);
                float *x = malloc(n * in * sizeof *x), *o = malloc(n * on * sizeof *o);
                int32_t *am = malloc(n * on * sizeof *am);
                for (size_t i = 0; i < n * in; i++) x[i] = (float)((i * 7919u) % 5) - 2.0f; /* ties */
                sgld_pool_forward(&y, x, o, am, n);
                for (size_t pl = 0; pl < n * 2; pl++)
                    for (int i = 0; i < H / 2; i++)
                        for (int j = 0; j < W / 2; j++) {
                            const float *p = x + pl * H * W;
                            int k0 = 2 * i * W + 2 * j, best = k0, cand[3] = {k0 + 1, k0 + W, k0 + W + 1};
                            for (int t = 0; t < 3; t++)
                                if (p[cand[t]] > p[best]) best = cand[t];
                            const size_t q = pl * (H / 2) * (W / 2) + (size_t)i * (W / 2) + j;
                            if (o[q] != p[best] || am[q] != best)
                                fail_msg("plain %d, %dx%d: output (%d, %d): %g at %d, want %g at %d", plain, H, W, i,
                                         j, o[q], am[q], p[best], best);
                        }
                free(x), free(o), free(am);
            }
    }
    sgld_net_plain = 0;
}

static void test_spec(void **state)
{
    (void)state;
    sgld_net_layout L;
    assert_int_equal(sgld_net_parse("conv32k5-pool2-conv64k5-pool2-fc1024-fc10", 1, 28, 28, &L), SGLD_OK);
    /* conv relu pool conv relu pool fc relu fc */
    assert_int_equal(L.n_layers, 9);
    assert_int_equal(L.n_params, 32 * 25 + 32 + 64 * 32 * 25 + 64 + 3136 * 1024 + 1024 + 10 * 1024 + 10);
    assert_int_equal(L.layer[6].in_size, 64 * 7 * 7);
    assert_int_equal(L.n_out, 10);
    char name[32];
    int nd;
    int64_t dims[4];
    const char *dn[4];
    assert_non_null(sgld_net_tensor(&L, 0, name, &nd, dims, dn));
    assert_string_equal(name, "conv1_w");
    assert_int_equal(nd, 4);
    assert_true(dims[0] == 32 && dims[1] == 1 && dims[2] == 5 && dims[3] == 5);
    assert_non_null(sgld_net_tensor(&L, 3, name, &nd, dims, dn));
    assert_string_equal(name, "conv2_b");
    assert_non_null(sgld_net_tensor(&L, 4, name, &nd, dims, dn));
    assert_string_equal(name, "fc1_w");
    assert_true(nd == 2 && dims[0] == 1024 && dims[1] == 3136);
    assert_string_equal(dn[0], "fc1_out");
    assert_null(sgld_net_tensor(&L, 8, name, &nd, dims, dn));
    /* activations: default ReLU, explicit tanh, linear = none */
    assert_int_equal(sgld_net_parse("fc50-fc2", 1, 1, 13, &L), SGLD_OK);
    assert_int_equal(L.n_layers, 3);
    assert_int_equal(L.layer[1].kind, SGLD_LAYER_RELU);
    assert_int_equal(sgld_net_parse("fc50-tanh-fc20-linear-drop0.5-fc2", 1, 1, 13, &L), SGLD_OK);
    assert_int_equal(L.n_layers, 5);
    assert_int_equal(L.layer[1].kind, SGLD_LAYER_TANH);
    assert_int_equal(L.layer[3].kind, SGLD_LAYER_DROPOUT);
    assert_true(fabsf(L.layer[3].rate - 0.5f) < 1e-7f);
    int c, h, w;
    assert_int_equal(sgld_net_parse_shape("3x32x30", &c, &h, &w), SGLD_OK);
    assert_true(c == 3 && h == 32 && w == 30);
    assert_int_equal(sgld_net_parse_shape("13", &c, &h, &w), SGLD_OK);
    assert_true(c == 1 && h == 1 && w == 13);
}

static void bad_spec(const char *spec, int c, int h, int w, const char *needle)
{
    sgld_net_layout L;
    if (sgld_net_parse(spec, c, h, w, &L) != SGLD_ERR_USAGE) fail_msg("'%s' was accepted", spec);
    if (!strstr(sgld_error_message(), needle))
        fail_msg("'%s': message '%s' lacks '%s'", spec, sgld_error_message(), needle);
}

static void test_bad_specs(void **state)
{
    (void)state;
    bad_spec("", 1, 1, 4, "empty network spec");
    bad_spec("fc", 1, 1, 4, "layer 'fc': expected fcN");
    bad_spec("fc0", 1, 1, 4, "expected fcN");
    bad_spec("fc-3", 1, 1, 4, "layer 'fc'");
    bad_spec("fc5--fc2", 1, 1, 4, "empty layer");
    bad_spec("fc5-fc2-", 1, 1, 4, "empty layer");
    bad_spec("dense5-fc2", 1, 1, 4, "unknown layer");
    bad_spec("conv32-fc2", 1, 8, 8, "expected convNkK");
    bad_spec("conv32k4-fc2", 1, 8, 8, "must be odd");
    bad_spec("conv8k31-fc10", 1, 28, 28, "31x31 kernel is larger than its 28x28 input");
    bad_spec("conv8k5-fc10", 1, 1, 784, "larger than its 1x784 input"); /* flat data without --input-shape */
    bad_spec("fc10-conv3k3-fc2", 1, 8, 8, "after a fully connected layer");
    bad_spec("pool2-pool2-pool2-pool2-pool2-fc2", 1, 28, 28, "pooling of a 1x1 image");
    bad_spec("relu-fc2", 1, 1, 4, "must follow an fc or conv");
    bad_spec("fc5-relu-relu-fc2", 1, 1, 4, "must follow an fc or conv");
    bad_spec("fc5-fc2-relu", 1, 1, 4, "the last layer must be fc");
    bad_spec("fc5-pool2", 1, 1, 4, "the last layer must be fc");
    bad_spec("fc5-drop1-fc2", 1, 1, 4, "dropP with P in [0, 1)");
    bad_spec("fc5-drop-0.1-fc2", 1, 1, 4, "dropP");
    bad_spec("fc5-dropx-fc2", 1, 1, 4, "dropP");
    int c, h, w;
    assert_int_equal(sgld_net_parse_shape("1x28", &c, &h, &w), SGLD_ERR_USAGE);
    assert_int_equal(sgld_net_parse_shape("1x28x28x2", &c, &h, &w), SGLD_ERR_USAGE);
    assert_int_equal(sgld_net_parse_shape("0x28x28", &c, &h, &w), SGLD_ERR_USAGE);
    assert_int_equal(sgld_net_parse_shape("ax28x28", &c, &h, &w), SGLD_ERR_USAGE);
}

static sgld_config *opts(const char *net, const char *shape)
{
    static sgld_config c;
    sgld_config_defaults(&c);
    sgld_test_set(&c, "net", "%s", net);
    sgld_test_set(&c, "input-shape", "%s", shape);
    c.batch_size = 4;
    return &c;
}

static void test_models(void **state)
{
    (void)state;
    sgld_model m;
    /* the default cnn on 8x8 images: K from the data */
    const sgld_model_type *cnn = sgld_model_find("cnn"), *mlp = sgld_model_find("mlp");
    assert_non_null(cnn);
    assert_non_null(mlp);
    sgld_config *c = opts("conv3k3-pool2-fc5-fc4", "");
    assert_int_equal(sgld_model_init(&m, cnn, 64, 4, c), SGLD_OK);
    assert_int_equal(m.n_vars, 6);
    assert_string_equal(m.vars[0].name, "conv1_w");
    assert_int_equal(m.vars[2].offset, 3 * 9 + 3);
    assert_string_equal(m.vars[5].name, "fc2_b");
    assert_int_equal(m.n_params, 3 * 9 + 3 + 5 * 48 + 5 + 4 * 5 + 4);
    sgld_model_finalize(&m);
    /* --save-params: a layer name keeps both tensors, a tensor name one */
    sgld_test_set(c, "save-params", "fc2,conv1_b");
    assert_int_equal(sgld_model_init(&m, cnn, 64, 4, c), SGLD_OK);
    int saved[6];
    for (int v = 0; v < 6; v++) saved[v] = m.vars[v].save;
    assert_true(!saved[0] && saved[1] && !saved[2] && !saved[3] && saved[4] && saved[5]);
    sgld_model_finalize(&m);
    sgld_test_set(c, "save-params", "%s", "");
    /* --prior-sd-layers: the prior uses each layer's sd */
    c = opts("fc3-fc2", "");
    sgld_test_set(c, "prior-sd-layers", "2,0.5");
    assert_int_equal(sgld_model_init(&m, mlp, 2, 0, c), SGLD_OK);
    float theta[17], grad[17] = {0};
    for (int i = 0; i < 17; i++) theta[i] = fill((size_t)i, 1.0, 0.0);
    double lp = sgld_model_log_prior(&m, theta, grad), want = 0;
    for (int i = 0; i < 17; i++) {
        double sd = i < 9 ? 2.0 : 0.5;
        want += -0.5 * theta[i] * theta[i] / (sd * sd) - log(sd * sqrt(2 * M_PI));
        assert_true(fabs(grad[i] + theta[i] / (sd * sd)) < 1e-5);
    }
    assert_true(fabs(lp - want) < 1e-9 * fabs(want) + 1e-9);
    sgld_model_finalize(&m);
    /* loglik_grad over more rows than the workspace (pieces) equals the sum of the pieces;
     * predict gives the mean */
    c = opts("fc5-fc2", "");
    assert_int_equal(sgld_model_init(&m, mlp, 3, 0, c), SGLD_OK);
    float X[10 * 3], Y[10], th[32], g1[32] = {0}, g2[32] = {0};
    for (int i = 0; i < 30; i++) X[i] = fill((size_t)i, 1.0, 0.5);
    for (int i = 0; i < 10; i++) Y[i] = fill((size_t)i, 2.0, 0.1);
    sgld_rng r = {5, 0};
    sgld_model_init_params(&m, &r, th);
    sgld_dataset ds = {.n_total = 10, .n_local = 10, .d = 3, .X = X, .y = Y};
    int64_t rows[10] = {9, 3, 1, 0, 2, 8, 7, 4, 6, 5};
    double all = m.type->loglik_grad(&m, th, &ds, rows, 10, g1);
    double part = m.type->loglik_grad(&m, th, &ds, rows, 4, g2) + m.type->loglik_grad(&m, th, &ds, rows + 4, 6, g2);
    assert_true(fabs(all - part) < 1e-9 * fabs(all));
    for (int i = 0; i < 32; i++) assert_true(fabsf(g1[i] - g2[i]) < 1e-4f * (1 + fabsf(g1[i])));
    double pred[20], mv[20];
    m.type->predict(&m, th, X, 10, pred);
    sgld_net_predict(m.impl, th, X, 10, mv);
    for (int i = 0; i < 10; i++) { /* the model interface gives the network's (mean, variance) */
        assert_true(pred[2 * i] == mv[2 * i]);
        assert_true(pred[2 * i + 1] == mv[2 * i + 1]);
        assert_true(mv[2 * i + 1] > 0);
    }
    /* input gradient in pieces (10 rows, workspace 4) = the first piece's dx of loglik_grad,
     * and the same log-likelihood as loglik_grad (no dropout in this net) */
    float dx[30], dx4[12], g3[32] = {0};
    int64_t seq[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    double lin = m.type->loglik_grad_input(&m, th, X, Y, 10, dx);
    double lseq = m.type->loglik_grad(&m, th, &ds, seq, 10, g3);
    assert_true(fabs(lin - lseq) < 1e-9 * fabs(lseq));
    sgld_net_loglik_grad(m.impl, th, &ds, seq, 4, g3, dx4);
    for (int i = 0; i < 12; i++) assert_true(dx[i] == dx4[i]);
    sgld_model_finalize(&m);
    sgld_model_finalize(&m); /* idempotent */
}

static void model_error(const sgld_model_type *t, int d, int k, sgld_config *c, const char *needle)
{
    sgld_model m;
    sgld_status st = sgld_model_init(&m, t, d, k, c);
    if (st != SGLD_ERR_USAGE) fail_msg("accepted (needle '%s'): status %d", needle, st);
    if (!strstr(sgld_error_message(), needle))
        fail_msg("message '%s' lacks '%s'", sgld_error_message(), needle);
}

static void test_model_errors(void **state)
{
    (void)state;
    const sgld_model_type *cnn = sgld_model_find("cnn"), *mlp = sgld_model_find("mlp");
    model_error(cnn, 784, 10, opts("", "1x28x27"), "--input-shape 1x28x27 has 756 values per row, the data have 784");
    model_error(cnn, 780, 10, opts("", ""), "not a square image");
    model_error(cnn, 784, 10, opts("fc30-fc9", ""), "the output layer has 9 outputs but the data have 10 classes");
    model_error(cnn, 784, 10, opts("conv3k29-fc10", "1x28x28"), "29x29 kernel is larger");
    model_error(mlp, 13, 0, opts("fc50-fc3", ""), "needs 1 output");
    model_error(mlp, 13, 0, opts("fc50-fc2", "bad"), "--input-shape 'bad'");
    sgld_config *c = opts("fc50-fc2", "");
    sgld_test_set(c, "save-params", "fc3");
    model_error(mlp, 13, 0, c, "--save-params: no tensor or layer 'fc3'");
    c = opts("fc50-fc2", "");
    sgld_test_set(c, "prior-sd-layers", "1");
    model_error(mlp, 13, 0, c, "1 values for the 2 fc/conv layers");
    sgld_test_set(c, "prior-sd-layers", "1,-2");
    model_error(mlp, 13, 0, c, "numbers > 0");
    sgld_test_set(c, "prior-sd-layers", "1,1,1");
    model_error(mlp, 13, 0, c, "more values");
}

/* --task: mlp does classification (softmax over the integer labels, default fc50-fcK) as
 * well as regression; the other models do their own task only, with one line naming --task. */
static void test_task(void **state)
{
    (void)state;
    const sgld_model_type *mlp = sgld_model_find("mlp"), *cnn = sgld_model_find("cnn");
    sgld_model m;
    sgld_config *c = opts("fc5-fc3", "");
    snprintf(c->task, sizeof c->task, "classification");
    assert_int_equal(sgld_model_init(&m, mlp, 3, 3, c), SGLD_OK);
    assert_int_equal(m.classification, 1);
    assert_int_equal(m.n_classes, 3);
    assert_int_equal(sgld_model_n_outputs(&m), 3);
    /* the log-likelihood is the sum of log predict(x)[y]: the softmax likelihood */
    float X[6 * 3], Y[6], th[64];
    for (int i = 0; i < 18; i++) X[i] = fill((size_t)i, 1.0, 0.3);
    for (int i = 0; i < 6; i++) Y[i] = (float)((i * 2) % 3);
    sgld_rng r = {3, 0};
    assert_true(m.n_params <= 64);
    sgld_model_init_params(&m, &r, th);
    sgld_dataset ds = {.n_total = 6, .n_local = 6, .d = 3, .X = X, .y = Y, .n_classes = 3};
    int64_t rows[6] = {0, 1, 2, 3, 4, 5};
    float g[64] = {0};
    double ll = m.type->loglik_grad(&m, th, &ds, rows, 6, g), want = 0, p[6 * 3];
    m.type->predict(&m, th, X, 6, p);
    for (int i = 0; i < 6; i++) {
        assert_true(fabs(p[3 * i] + p[3 * i + 1] + p[3 * i + 2] - 1.0) < 1e-12);
        want += log(p[3 * i + (int)Y[i]]);
    }
    assert_true(fabs(ll - want) < 1e-5 * fabs(want));
    sgld_model_finalize(&m);
    /* the default network ends in one output per class */
    c = opts("", "");
    snprintf(c->task, sizeof c->task, "classification");
    assert_int_equal(sgld_model_init(&m, mlp, 7, 4, c), SGLD_OK);
    assert_string_equal(m.vars[2].name, "fc2_w");
    assert_int_equal(m.vars[2].dims[0], 4);
    assert_int_equal(m.vars[2].dims[1], 50);
    sgld_model_finalize(&m);
    /* "" and "regression" are mlp's regression; cnn and logreg accept their own task */
    snprintf(c->task, sizeof c->task, "regression");
    assert_int_equal(sgld_model_init(&m, mlp, 7, 0, c), SGLD_OK);
    assert_int_equal(m.classification, 0);
    assert_int_equal(sgld_model_n_outputs(&m), 2);
    sgld_model_finalize(&m);
    int cls = -1;
    snprintf(c->task, sizeof c->task, "classification");
    assert_int_equal(sgld_model_task(cnn, c, &cls), SGLD_OK);
    assert_int_equal(cls, 1);
    assert_int_equal(sgld_model_task(sgld_model_find("logreg"), c, &cls), SGLD_OK);
    /* errors: the wrong output count, a task the model does not do, an unknown task */
    c = opts("fc5-fc2", "");
    snprintf(c->task, sizeof c->task, "classification");
    model_error(mlp, 3, 3, c, "--net 'fc5-fc2': the output layer has 2 outputs but the data have 3 classes");
    c = opts("fc5-fc3", "");
    snprintf(c->task, sizeof c->task, "regression");
    model_error(cnn, 3, 3, c, "--task regression: model cnn is for classification only");
    snprintf(c->task, sizeof c->task, "classification");
    model_error(sgld_model_find("linreg"), 3, 0, c, "--task classification: model linreg is for regression only");
    snprintf(c->task, sizeof c->task, "foo");
    model_error(mlp, 3, 0, c, "--task: must be regression or classification, got 'foo'");
}

/* Rounding bound for comparing two predictions of one row that run the same float operations
 * except for the order of the sums inside sgemm (OpenBLAS picks other kernels and blockings for
 * a batch of 1 row than for 7: the values then differ in the last bits, and which ones depends
 * on OPENBLAS_CORETYPE and the cache sizes).  A float dot product of length n, in any order and
 * with or without FMA, is within gamma_n sum_i |w_i a_i| of the exact one (Higham, Accuracy and
 * Stability, 3.1; gamma_n = n u / (1 - n u), u = FLT_EPSILON / 2); the bias add and the mask
 * multiply are two more roundings, the ReLU is 1-Lipschitz.  So, over the network's
 * fc/relu/dropout layers with the masks of row 0 of its last forward, the computed activation
 * is within E_l of the exact one, with A_l >= |computed activation|:
 *   E_l = |m| (|W| E_{l-1} + gamma_{n+2} (|W| A_{l-1} + |b|)),  A_l = |m| (|W| A_{l-1} + |b|) + E_l,
 * E_0 = 0, A_0 = |x|.  Two such computations differ by 2 E in a logit, and a softmax
 * probability p_k moves by p_k |dz_k - sum_j p_j dz_j| <= 2 max |dz|: the bound is 4 max_k E_k
 * (the double softmax adds ~1e-16).  Returns it: 1e-6 to 2e-4 on the rows of test_mc_dropout
 * (the differences seen are <= 3e-8), while a unit dropped or kept differently moves a
 * probability by ~1e-2. */
static double rounding_bound(const sgld_net *net, const float *theta, const float *x)
{
    const sgld_net_layout *L = &net->L;
    const double u = FLT_EPSILON / 2;
    double A[64], E[64], An[64], En[64];
    size_t n = L->in_size;
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) A[i] = fabs(x[i]), E[i] = 0.0;
    for (int l = 0; l < L->n_layers; l++) {
        const sgld_layer *y = &L->layer[l];
        if (y->kind == SGLD_LAYER_FC) {
            const size_t no = (size_t)y->oc;
            const double gamma = (double)(n + 2) * u / (1 - (double)(n + 2) * u);
            assert_true(no <= 64);
            for (size_t o = 0; o < no; o++) {
                double s = fabs(theta[y->b_off + o]), e = 0.0;
                for (size_t i = 0; i < n; i++) {
                    const double w = fabs(theta[y->w_off + o * n + i]);
                    s += w * A[i];
                    e += w * E[i];
                }
                En[o] = e + gamma * s;
                An[o] = s + En[o];
            }
            n = no;
            memcpy(A, An, n * sizeof *A);
            memcpy(E, En, n * sizeof *E);
        } else if (y->kind == SGLD_LAYER_DROPOUT) {
            for (size_t i = 0; i < n; i++) A[i] *= fabs(net->mask[l][i]), E[i] *= fabs(net->mask[l][i]);
        } else {
            assert_int_equal(y->kind, SGLD_LAYER_RELU);
        }
    }
    double mx = 0.0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, E[i]);
    return 4 * mx;
}

/* MC dropout (sgld_net_predict_dropout): rate 0 is predict bitwise; a row's masks depend on
 * (draw, row, mask) only, not on the batch it is predicted in; masks drop a fraction ~ rate of
 * the units, differ between masks, draws and layers; without masks predict stays deterministic. */
static void test_mc_dropout(void **state)
{
    (void)state;
    enum { NR = 200 };
    float *X = malloc(NR * 5 * sizeof *X), th[256];
    double *a = malloc(NR * 4 * sizeof *a), *b = malloc(NR * 4 * sizeof *b);
    for (int i = 0; i < NR * 5; i++) X[i] = fill((size_t)i, 1.0, 0.2);
    sgld_rng r = {11, 0}, key = {5, 1};
    sgld_net_layout L;
    sgld_net *net;
    /* rate 0: every mask is the deterministic prediction */
    assert_int_equal(sgld_net_parse("fc6-drop0-fc3", 1, 1, 5, &L), SGLD_OK);
    assert_int_equal(sgld_net_dropout_layers(&L, NULL), 1);
    assert_int_equal(sgld_net_create(&L, 7, SGLD_NET_SOFTMAX, 1.0, 1, &net), SGLD_OK);
    sgld_net_init_params(&L, &r, th);
    sgld_net_predict(net, th, X, 20, a);
    for (uint32_t k = 0; k < 3; k++) {
        sgld_net_predict_dropout(net, th, X, 20, &key, 4, 0, k, b);
        for (int i = 0; i < 20 * 3; i++) assert_true(a[i] == b[i]);
    }
    sgld_net_destroy(&net);
    /* two dropout layers, 8 + 8 units per row */
    assert_int_equal(sgld_net_parse("fc8-drop0.5-fc8-drop0.25-fc4", 1, 1, 5, &L), SGLD_OK);
    size_t units;
    assert_int_equal(sgld_net_dropout_layers(&L, &units), 2);
    assert_int_equal(units, 16);
    assert_true(L.n_params <= 256);
    assert_int_equal(sgld_net_create(&L, 7, SGLD_NET_SOFTMAX, 1.0, 1, &net), SGLD_OK);
    sgld_net_init_params(&L, &r, th);
    for (size_t i = 0; i < L.n_params; i++) th[i] += 0.1f * fill(i, 1.0, 0.9); /* nonzero biases */
    int dl[2], nd = 0;
    for (int l = 0; l < L.n_layers; l++)
        if (L.layer[l].kind == SGLD_LAYER_DROPOUT) dl[nd++] = l;
    assert_int_equal(nd, 2);
    /* the whole set in pieces of 7 rows = row by row at row0 + i: the same masks bitwise (a
     * function of (draw, row, mask) only), so the same outputs up to the sgemm rounding of a
     * 1-row batch against a 7-row one (rounding_bound) */
    static float alone[NR][2][8];
    double tol = 0.0;
    sgld_net_predict_dropout(net, th, X, NR, &key, 9, 100, 2, a);
    for (int i = 0; i < NR; i++) {
        sgld_net_predict_dropout(net, th, X + 5 * i, 1, &key, 9, 100 + (uint32_t)i, 2, b);
        for (int l = 0; l < 2; l++) memcpy(alone[i][l], net->mask[dl[l]], 8 * sizeof(float));
        const double bound = rounding_bound(net, th, X + 5 * i);
        tol = fmax(tol, bound);
        for (int k = 0; k < 4; k++)
            if (!(fabs(a[4 * i + k] - b[k]) <= bound))
                fail_msg("row %d, class %d: %.9g in a batch, %.9g alone (rounding bound %.3g)", i, k, a[4 * i + k],
                         b[k], bound);
    }
    for (int i0 = 0; i0 < NR; i0 += 7) {
        const int m = NR - i0 < 7 ? NR - i0 : 7;
        sgld_net_predict_dropout(net, th, X + 5 * i0, (size_t)m, &key, 9, 100 + (uint32_t)i0, 2, b);
        for (int i = 0; i < m; i++)
            for (int l = 0; l < 2; l++)
                if (memcmp(net->mask[dl[l]] + 8 * i, alone[i0 + i][l], 8 * sizeof(float)))
                    fail_msg("row %d: the layer %d mask in a batch of %d is not the row's own", i0 + i, l + 1, m);
    }
    /* the same call gives the same values; another mask, draw or row numbering others (by
     * more than the rounding bound: the bound tells masks apart) */
    sgld_net_predict_dropout(net, th, X, NR, &key, 9, 100, 2, b);
    for (int i = 0; i < NR * 4; i++) assert_true(a[i] == b[i]);
    const uint32_t other[3][3] = {{9, 100, 3}, {10, 100, 2}, {9, 101, 2}};
    for (int v = 0; v < 3; v++) {
        sgld_net_predict_dropout(net, th, X, NR, &key, other[v][0], other[v][1], other[v][2], b);
        int differ = 0;
        for (int i = 0; i < NR * 4; i++) differ += fabs(a[i] - b[i]) > tol;
        if (differ < NR) fail_msg("masks (%u, %u, %u): only %d of %d outputs differ", other[v][0], other[v][1],
                                  other[v][2], differ, NR * 4);
    }
    /* the masks of 7-row calls (net->mask of the two dropout layers): 0 or 1/(1 - rate), a
     * fraction ~ rate of zeros (binomial, 4 sd), the two layers' masks not alike */
    const float keep[2] = {2.0f, 1.0f / 0.75f};
    const double rates[2] = {0.5, 0.25};
    size_t n0[2] = {0, 0}, n_all = 0, same = 0;
    for (uint32_t row = 0; row < 700; row += 7) {
        sgld_net_predict_dropout(net, th, X, 7, &key, 3, row, 1, b);
        for (size_t u = 0; u < 7 * 8; u++) {
            for (int l = 0; l < 2; l++) {
                const float v = net->mask[dl[l]][u];
                assert_true(v == 0.0f || v == keep[l]);
                n0[l] += v == 0.0f;
            }
            same += (net->mask[dl[0]][u] == 0.0f) == (net->mask[dl[1]][u] == 0.0f);
        }
        n_all += 7 * 8;
    }
    assert_true(same < n_all * 3 / 4); /* independent: P(same) = 0.5 */
    for (int l = 0; l < 2; l++) {
        double f = (double)n0[l] / (double)n_all, sd = sqrt(rates[l] * (1 - rates[l]) / (double)n_all);
        if (fabs(f - rates[l]) > 4 * sd) fail_msg("layer %d: %.4f of the units dropped, rate %g", l + 1, f, rates[l]);
    }
    /* training masks (forward with train = 1): the two layers' masks of one call are
     * independent too -- they once shared their random words, so a unit dropped at rate 0.25
     * was always dropped at rate 0.5 too: P(both dropped) = 0.25 instead of 0.5 x 0.25 */
    {
        size_t both = 0, n_tr = 0, m0[2] = {0, 0};
        memcpy(sgld_net_input(net), X, 7 * 5 * sizeof *X);
        for (int call = 0; call < 100; call++) {
            sgld_net_forward(net, th, 7, 1);
            for (size_t u = 0; u < 7 * 8; u++) {
                const int z0 = net->mask[dl[0]][u] == 0.0f, z1 = net->mask[dl[1]][u] == 0.0f;
                both += z0 && z1;
                m0[0] += z0;
                m0[1] += z1;
            }
            n_tr += 7 * 8;
        }
        const double p = 0.5 * 0.25, sd = sqrt(p * (1 - p) / (double)n_tr);
        if (fabs((double)both / (double)n_tr - p) > 4 * sd)
            fail_msg("training masks: %.4f of the units dropped by both layers, %.4f if independent",
                     (double)both / (double)n_tr, p);
        for (int l = 0; l < 2; l++) {
            const double f = (double)m0[l] / (double)n_tr, s1 = sqrt(rates[l] * (1 - rates[l]) / (double)n_tr);
            if (fabs(f - rates[l]) > 4 * s1) fail_msg("training layer %d: %.4f dropped, rate %g", l + 1, f, rates[l]);
        }
    }
    /* predict (no masks) is deterministic after MC calls and equals a fresh network's */
    sgld_net_predict(net, th, X, NR, a);
    sgld_net *fresh;
    assert_int_equal(sgld_net_create(&L, 7, SGLD_NET_SOFTMAX, 1.0, 1, &fresh), SGLD_OK);
    sgld_net_predict(fresh, th, X, NR, b);
    for (int i = 0; i < NR * 4; i++) assert_true(a[i] == b[i]);
    sgld_net_destroy(&fresh);
    sgld_net_destroy(&net);
    free(X);
    free(a);
    free(b);
}

/* He initialization: the sd of a wide layer's weights is sqrt(2 / fan_in) within 4 sd of
 * the sample-variance estimate (relative sd of s^2 is sqrt(2 / n)). */
static void test_init(void **state)
{
    (void)state;
    sgld_net_layout L;
    assert_int_equal(sgld_net_parse("fc200-tanh-fc100-fc3", 1, 1, 50, &L), SGLD_OK);
    float *theta = malloc(L.n_params * sizeof *theta);
    sgld_rng r = {1, 2};
    sgld_net_init_params(&L, &r, theta);
    double ss1 = 0, ss2 = 0;
    for (size_t i = 0; i < L.layer[0].n_w; i++) ss1 += theta[i] * theta[i];
    for (size_t i = 0; i < L.layer[2].n_w; i++) ss2 += theta[L.layer[2].w_off + i] * theta[L.layer[2].w_off + i];
    double v1 = ss1 / L.layer[0].n_w, want1 = 2.0 / (50 + 200); /* Glorot (tanh follows) */
    double v2 = ss2 / L.layer[2].n_w, want2 = 2.0 / 200;        /* He (ReLU follows) */
    assert_true(fabs(v1 / want1 - 1) < 4 * sqrt(2.0 / L.layer[0].n_w));
    assert_true(fabs(v2 / want2 - 1) < 4 * sqrt(2.0 / L.layer[2].n_w));
    for (size_t i = 0; i < L.layer[0].n_b; i++) assert_true(theta[L.layer[0].b_off + i] == 0.0f);
    free(theta);
}

/* The vectorized noise is rng.c's stream (same Philox blocks, same Box-Muller pairing) in
 * single precision: 24-bit uniforms and SLEEF's 1-ulp logf/sincosf give |dz| <~ 2^-20 (1 + |z|)
 * away from the far tail (|z| > 5, where the coarser u1 dominates; not reached here). */
static void test_noise(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 2, 127, 128, 129, 1001};
    float a[1001], b[1001];
    sgld_rng r = {42, 5};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        memset(a, 0, sizeof a);
        sgld_rng_normal_fill(&r, 7 + k, SGLD_RNG_NOISE, n, a);
        sgld_rng_normal_float(&r, 7 + k, SGLD_RNG_NOISE, 0, n, b);
        for (size_t i = 0; i < n; i++)
            if (!(fabsf(a[i] - b[i]) <= 4e-6f * (1 + fabsf(b[i]))))
                fail_msg("n = %zu, element %zu: %.9g vs rng.c %.9g", n, i, a[i], b[i]);
        assert_true(n == 1001 || a[n] == 0.0f); /* nothing written past n */
    }
}

/* The fused Langevin update uses the normals of sgld_rng_normal_fill: with b = 1 bitwise the
 * values of `fill z; y += a x + sd z` (the sgld sampler's old loop), and y = b y + sd z without x;
 * every length (odd, chunk boundaries), nothing touched past n, and step >= 2^32. */
static void test_noise_update(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 2, 127, 128, 129, 255, 256, 257, 1001};
    static float z[1002], x[1002], y[1002], want[1002];
    sgld_rng r = {9, 3};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const size_t n = sizes[k];
        const uint64_t step = k == 3 ? (1ull << 32) + 5 : 11 + k;
        const float a = 0.25f * (float)(k + 1), sd = 0.03f, b = 0.9990234375f;
        for (size_t i = 0; i < 1002; i++) x[i] = (float)sin(0.1 * i), y[i] = want[i] = (float)cos(0.3 * i);
        sgld_rng_normal_fill(&r, step, SGLD_RNG_NOISE, n, z);
        for (size_t i = 0; i < n; i++) want[i] += a * x[i] + sd * z[i];
        sgld_rng_normal_update(&r, step, SGLD_RNG_NOISE, n, 1.0f, a, x, sd, y);
        for (size_t i = 0; i < 1002; i++)
            if (y[i] != want[i]) fail_msg("n = %zu, element %zu: %.9g vs %.9g", n, i, y[i], want[i]);
        for (size_t i = 0; i < 1002; i++) y[i] = want[i] = (float)cos(0.3 * i);
        for (size_t i = 0; i < n; i++) want[i] = b * want[i] + sd * z[i];
        sgld_rng_normal_update(&r, step, SGLD_RNG_NOISE, n, b, 0.0f, NULL, sd, y);
        for (size_t i = 0; i < 1002; i++)
            if (y[i] != want[i]) fail_msg("no x, n = %zu, element %zu: %.9g vs %.9g", n, i, y[i], want[i]);
    }
}

/* The samplers' building block sgld_rng_normal_axpy: bitwise the scalar loop over the normals of
 * sgld_rng_normal_fill (per-element scale s, acc += y, b = 0 not reading y, the sum of squares
 * in 16 lanes by index over spans of 32768 elements), on lengths across chunks and spans; and
 * the same bits on 1, 2 and 3 threads (the spans run in parallel; nothing changes with T). */
static void test_noise_axpy(void **state)
{
    (void)state;
    enum { NMAX = 70001, SPAN = 32768 };
    const size_t sizes[] = {1, 129, 257, 32768, 32769, 70001};
    float *z = malloc(NMAX * sizeof *z), *x = malloc(NMAX * sizeof *x), *s = malloc(NMAX * sizeof *s);
    float *y = malloc(NMAX * sizeof *y), *want = malloc(NMAX * sizeof *want);
    float *acc = malloc(NMAX * sizeof *acc), *acc_want = malloc(NMAX * sizeof *acc_want);
    float *y1 = malloc(NMAX * sizeof *y1);
    assert_non_null(y1);
    sgld_rng r = {17, 4};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const size_t n = sizes[k];
        const float b = k % 2 ? 0.0f : 0.98046875f, a = 0.375f, sd = 0.07f, c = k % 4 == 0 ? -0.0078125f : 0.0f;
        for (size_t i = 0; i < NMAX; i++) {
            x[i] = (float)sin(0.1 * i), s[i] = 1.0f + 0.5f * (float)cos(0.7 * i);
            y[i] = want[i] = k % 2 ? NAN : (float)cos(0.3 * i);
            acc[i] = acc_want[i] = (float)(0.01 * i);
        }
        sgld_rng_normal_fill(&r, 5 + k, SGLD_RNG_SAMPLER, n, z);
        double lane[16] = {0}, ss = 0;
        for (size_t i0 = 0; i0 < n; i0 += SPAN) {
            for (size_t i = i0; i < n && i < i0 + SPAN; i++) {
                float t = (sd * s[i]) * z[i];
                t = a * x[i] + t;
                if (c != 0.0f) t = c * want[i] + t;
                if (b != 0.0f) t = b * want[i] + t;
                want[i] = t;
                acc_want[i] += t;
                lane[i % 16] += (double)t * t;
            }
            for (int l = 0; l < 16; l++) ss += lane[l], lane[l] = 0;
        }
        for (int threads = 1; threads <= 3; threads++) {
            for (size_t i = 0; i < NMAX; i++) y1[i] = y[i], acc[i] = (float)(0.01 * i);
            const sgld_rng_axpy op = {.b = b, .a = a, .sd = sd, .c = c, .x = x, .s = s, .y = y1, .acc = acc, .sumsq = 1};
            sgld_rng_set_threads(threads);
            const double got = sgld_rng_normal_axpy(&r, 5 + k, SGLD_RNG_SAMPLER, n, &op);
            sgld_rng_set_threads(1);
            if (got != ss) fail_msg("n = %zu, %d threads: sum of squares %.17g vs %.17g", n, threads, got, ss);
            /* the same bits from the new y alone (the run's log prior at a theta no step made) */
            const double again = sgld_rng_sumsq(n, y1);
            if (again != ss) fail_msg("n = %zu: sgld_rng_sumsq %.17g vs the update's %.17g", n, again, ss);
            for (size_t i = 0; i < n; i++)
                if (y1[i] != want[i] || acc[i] != acc_want[i])
                    fail_msg("n = %zu, %d threads, element %zu: y %.9g vs %.9g, acc %.9g vs %.9g", n, threads, i,
                             y1[i], want[i], acc[i], acc_want[i]);
            for (size_t i = n; i < NMAX; i++) /* nothing touched past n */
                if (!(y1[i] == y[i] || (isnan(y1[i]) && isnan(y[i]))) || acc[i] != (float)(0.01 * i))
                    fail_msg("n = %zu: element %zu past n written", n, i);
        }
    }
    free(z), free(x), free(s), free(y), free(want), free(acc), free(acc_want), free(y1);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_gradients), cmocka_unit_test(test_loss_gradients),
        cmocka_unit_test(test_network_gradients), cmocka_unit_test(test_conv_direct),
        cmocka_unit_test(test_spec), cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_models), cmocka_unit_test(test_model_errors),
        cmocka_unit_test(test_task), cmocka_unit_test(test_mc_dropout),
        cmocka_unit_test(test_init), cmocka_unit_test(test_noise), cmocka_unit_test(test_noise_axpy),
        cmocka_unit_test(test_noise_update), cmocka_unit_test(test_fused_chain),
        cmocka_unit_test(test_conv_kernels), cmocka_unit_test(test_pool_forward),
    };
    return sgld_test_run(argc, argv, "net", tests, sizeof tests / sizeof tests[0]);
}
