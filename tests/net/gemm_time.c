/* gemm_time.c - the GEMM clock of tools/bench/nn-bench: wraps OpenBLAS's cblas_sgemm (found
 * with dlsym(RTLD_NEXT)) in a clock.  Linked into nn_bench (ahead of OpenBLAS), which reads
 * gemm_time_seconds() per case; preloaded (LD_PRELOAD) into sgld-dist, where it prints at exit
 * on stderr
 *   gemm-time SECONDS CALLS
 * the time the process spent inside cblas_sgemm, so that the benchmark can give the share of
 * the step outside the GEMMs for any sampler (smile's extra gradients and ksgld's noise
 * transform included).  Built, not a test. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <cblas.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE, const enum CBLAS_TRANSPOSE,
                         const blasint, const blasint, const blasint, const float, const float *, const blasint,
                         const float *, const blasint, const float, float *, const blasint);

static double seconds;
static long calls;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

void cblas_sgemm(const enum CBLAS_ORDER o, const enum CBLAS_TRANSPOSE ta, const enum CBLAS_TRANSPOSE tb,
                 const blasint m, const blasint n, const blasint k, const float alpha, const float *a,
                 const blasint lda, const float *b, const blasint ldb, const float beta, float *c, const blasint ldc)
{
    static sgemm_fn real;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "cblas_sgemm");
    if (!real) {
        fprintf(stderr, "gemm_time: cblas_sgemm not found after the shim: %s\n", dlerror());
        exit(2);
    }
    double t0 = now();
    real(o, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    seconds += now() - t0;
    calls++;
}

double gemm_time_seconds(void) { return seconds; }

/* Only a process that called it (mpiexec's helpers inherit LD_PRELOAD too). */
__attribute__((destructor)) static void report(void)
{
    if (calls) fprintf(stderr, "gemm-time %.6f %ld\n", seconds, calls);
}
