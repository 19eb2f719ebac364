/* nn_bench.c - speed of one SGLD step (forward + backward + prior + Langevin update with
 * vectorized noise) of the benchmark networks on one thread, the machine's single-core sgemm
 * peak, and normals per second (rng.c's double Box-Muller vs rng/normal_fill.c).  Driven by
 * tools/bench/nn-bench, which runs the PyTorch twin (tools/bench/nn_bench_torch.py) and the
 * real program (sgld-dist) too.  For each network it also prints the time per step inside
 * cblas_sgemm (gemm_time.c's clock, linked ahead of OpenBLAS), as
 * "gemm CASE ms_per_step share_of_step".
 *   nn_bench [seconds per case] [CASE...]   prints "case steps_per_s" lines and the extra
 *   figures; CASEs: sgemm-peak mlp-8-50-2 mlp-784-1200-1200-10 cnn-seed normals (default all) */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/net/net_impl.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

double gemm_time_seconds(void); /* gemm_time.c: seconds inside cblas_sgemm so far */

static double bench_case(const char *name, const char *spec, int c, int h, int w, size_t B, sgld_net_loss loss,
                         int K, double seconds)
{
    sgld_net_layout L;
    if (sgld_net_parse(spec, c, h, w, &L) != SGLD_OK) {
        fprintf(stderr, "%s\n", sgld_error_message());
        exit(2);
    }
    sgld_net *net;
    if (sgld_net_create(&L, B, loss, 1.0, 1, &net) != SGLD_OK) exit(2);
    const size_t P = L.n_params, N = 8000;
    float *theta = malloc(P * sizeof *theta), *grad = malloc(P * sizeof *grad);
    float *y = malloc(B * sizeof *y);
    sgld_rng r = {1, 0};
    sgld_net_init_params(&L, &r, theta);
    float *x = sgld_net_input(net);
    for (size_t i = 0; i < B * L.in_size; i++) x[i] = (float)(0.5 + 0.5 * sin(0.37 * i));
    for (size_t i = 0; i < B; i++) y[i] = K ? (float)(i % K) : (float)sin(i);
    const float eps = 1e-6f, half = 0.5f * eps, sd = sqrtf(eps), scale = (float)N / B, prec = 1.0f;
    long steps = 0;
    const double gemm0 = gemm_time_seconds();
    double t0 = now(), t1;
    do {
        for (int rep = 0; rep < 5; rep++, steps++) {
            memset(grad, 0, P * sizeof *grad);
            sgld_net_forward(net, theta, B, 1);
            sgld_net_loglik(net, y, B, net->dout);
            sgld_net_backward(net, theta, net->dout, B, grad, NULL);
            /* theta += half (scale grad - prec theta) + sd z, as the sgld sampler does it */
            sgld_rng_normal_update(&r, (uint64_t)steps + 1, SGLD_RNG_NOISE, P, 1.0f - half * prec, half * scale, grad,
                                   sd, theta);
        }
        t1 = now();
    } while (t1 - t0 < seconds);
    double sps = steps / (t1 - t0);
    printf("%s %.2f steps/s  (%zu params, %.3f GFLOP/step, %.1f GFLOPS)\n", name, sps, P,
           sgld_net_flops(&L, B) * 1e-9, sgld_net_flops(&L, B) * sps * 1e-9);
    const double gemm = gemm_time_seconds() - gemm0;
    printf("gemm %s %.2f ms/step %.3f\n", name, 1e3 * gemm / steps, gemm / (t1 - t0));
    free(theta), free(grad), free(y);
    sgld_net_destroy(&net);
    return sgld_net_flops(&L, B) * sps;
}

static double sgemm_peak(int m, int n, int k, double seconds)
{
    float *a = calloc((size_t)m * k, 4), *b = calloc((size_t)k * n, 4), *c = calloc((size_t)m * n, 4);
    for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)sin(i);
    for (size_t i = 0; i < (size_t)k * n; i++) b[i] = (float)cos(i);
    long reps = 0;
    double t0 = now(), t1;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
        reps++;
        t1 = now();
    } while (t1 - t0 < seconds);
    free(a), free(b), free(c);
    return 2.0 * m * n * k * reps / (t1 - t0);
}

/* 1 when case `name` was asked for (no CASE arguments: every case). */
static int wanted(int argc, char **argv, const char *name)
{
    if (argc <= 2) return 1;
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    double sec = argc > 1 ? atof(argv[1]) : 3.0;
    sgld_net_flush_denormals();
    printf("openblas %s\n", openblas_get_config());
    double peak = 0;
    if (wanted(argc, argv, "sgemm-peak")) {
        peak = sgemm_peak(1536, 1536, 1536, sec);
        printf("sgemm-peak %.1f GFLOPS (1536^3, one thread)\n", peak * 1e-9);
    }
    if (wanted(argc, argv, "mlp-8-50-2")) bench_case("mlp-8-50-2", "fc50-fc2", 1, 1, 8, 32, SGLD_NET_HETERO, 0, sec);
    if (wanted(argc, argv, "mlp-784-1200-1200-10")) {
        double f = bench_case("mlp-784-1200-1200-10", "fc1200-fc1200-fc10", 1, 1, 784, 128, SGLD_NET_SOFTMAX, 10, sec);
        if (peak > 0) printf("mlp-784-1200-1200-10-peak-fraction %.2f\n", f / peak);
    }
    if (wanted(argc, argv, "cnn-seed"))
        bench_case("cnn-seed", "conv32k5-pool2-conv64k5-pool2-fc1024-fc10", 1, 28, 28, 64, SGLD_NET_SOFTMAX, 10, sec);
    if (!wanted(argc, argv, "normals")) return 0;
    const size_t n = 1 << 22;
    float *z = malloc(n * sizeof *z);
    sgld_rng r = {1, 0};
    double t0 = now();
    int reps = 0;
    do sgld_rng_normal_float(&r, (uint64_t)++reps, SGLD_RNG_NOISE, 0, n, z); while (now() - t0 < sec / 2);
    printf("normals-rng.c %.1f M/s\n", reps * (double)n / (now() - t0) * 1e-6);
    t0 = now(), reps = 0;
    do sgld_rng_normal_fill(&r, (uint64_t)++reps, SGLD_RNG_NOISE, n, z); while (now() - t0 < sec / 2);
    printf("normals-net %.1f M/s\n", reps * (double)n / (now() - t0) * 1e-6);
    free(z);
    return 0;
}
