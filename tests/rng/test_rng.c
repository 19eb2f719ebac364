/* test_rng.c - Philox known answers, stream consistency and moments of the normals. */
#include "sgld_test.h"

#include <math.h>
#include <stdlib.h>

#include "sgld/rng.h"
#include "sgld/timer.h"

static void test_philox_known_answer(void **state)
{
    (void)state;
    /* Random123's kat_vectors: philox4x32 10 rounds, counter 0, key 0. */
    sgld_rng r = {0, 0};
    uint32_t w[4];
    sgld_rng_block(&r, 0, 0, 0, w);
    assert_int_equal(w[0], 0x6627e8d5u);
    assert_int_equal(w[1], 0xe169c58du);
    assert_int_equal(w[2], 0xbc57ac4cu);
    assert_int_equal(w[3], 0x9b00dbd8u);
}

/* Element i of a stream must not depend on where the request starts or how long it is:
 * that is what lets every rank draw the same noise for any slice. */
static void test_stream_offsets_agree(void **state)
{
    (void)state;
    sgld_rng r = {12345, 3};
    double whole[101], part[37];
    float partf[37];
    sgld_rng_normal(&r, 77, SGLD_RNG_NOISE, 0, 101, whole);
    sgld_rng_normal(&r, 77, SGLD_RNG_NOISE, 33, 37, part);
    sgld_rng_normal_float(&r, 77, SGLD_RNG_NOISE, 33, 37, partf);
    for (int i = 0; i < 37; i++) {
        assert_true(part[i] == whole[33 + i]);
        assert_true(partf[i] == (float)whole[33 + i]);
    }
    sgld_rng_uniform(&r, 5, SGLD_RNG_BATCH, 0, 101, whole);
    sgld_rng_uniform(&r, 5, SGLD_RNG_BATCH, 1, 37, part);
    for (int i = 0; i < 37; i++) assert_true(part[i] == whole[1 + i]);
}

/* Different chain, step or purpose gives a different stream. */
static void test_streams_differ(void **state)
{
    (void)state;
    sgld_rng a = {1, 0}, b = {1, 1}, c = {2, 0};
    double x[4], y[4], z[4], u[4], v[4];
    sgld_rng_normal(&a, 10, SGLD_RNG_NOISE, 0, 4, x);
    sgld_rng_normal(&b, 10, SGLD_RNG_NOISE, 0, 4, y);
    sgld_rng_normal(&c, 10, SGLD_RNG_NOISE, 0, 4, z);
    sgld_rng_normal(&a, 11, SGLD_RNG_NOISE, 0, 4, u);
    sgld_rng_normal(&a, 10, SGLD_RNG_BATCH, 0, 4, v);
    for (int i = 0; i < 4; i++) {
        assert_true(x[i] != y[i]);
        assert_true(x[i] != z[i]);
        assert_true(x[i] != u[i]);
        assert_true(x[i] != v[i]);
    }
}

/* Moments of 10^6 normals: mean within 4 sd/sqrt(n), variance within 4 sqrt(2/n),
 * fourth moment within 4 sqrt(96/n) of 3 (var of z^4 is 105 - 9 = 96). */
static void test_normal_moments(void **state)
{
    (void)state;
    const size_t n = 1000000;
    double *z = malloc(n * sizeof *z);
    assert_non_null(z);
    sgld_rng r = {2026, 7};
    sgld_rng_normal(&r, 1, SGLD_RNG_NOISE, 0, n, z);
    double s1 = 0, s2 = 0, s4 = 0;
    for (size_t i = 0; i < n; i++) {
        s1 += z[i];
        s2 += z[i] * z[i];
        s4 += z[i] * z[i] * z[i] * z[i];
    }
    double mean = s1 / n, m2 = s2 / n, m4 = s4 / n;
    assert_true(fabs(mean) < 4.0 / sqrt((double)n));
    assert_true(fabs(m2 - 1.0) < 4.0 * sqrt(2.0 / n));
    assert_true(fabs(m4 - 3.0) < 4.0 * sqrt(96.0 / n));
    /* lag-1 correlation of consecutive elements (the pair from one block) */
    double c = 0;
    for (size_t i = 0; i + 1 < n; i += 2) c += z[i] * z[i + 1];
    assert_true(fabs(c / (n / 2)) < 4.0 / sqrt(n / 2.0));
    free(z);
}

static void test_uniform_and_below(void **state)
{
    (void)state;
    sgld_rng r = {9, 9};
    enum { N = 200000, K = 10 };
    static double u[N];
    sgld_rng_uniform(&r, 3, SGLD_RNG_BATCH, 0, N, u);
    double s = 0;
    for (int i = 0; i < N; i++) {
        assert_true(u[i] > 0.0 && u[i] < 1.0);
        s += u[i];
    }
    assert_true(fabs(s / N - 0.5) < 4.0 * sqrt(1.0 / 12.0 / N));
    long counts[K] = {0};
    for (int i = 0; i < N; i++) {
        uint64_t k = sgld_rng_below(&r, 4, SGLD_RNG_BATCH, (uint64_t)i, K);
        assert_true(k < K);
        counts[k]++;
    }
    /* chi-square with 9 df: P(X > 27.88) = 0.001 */
    double chi2 = 0, e = (double)N / K;
    for (int k = 0; k < K; k++) chi2 += (counts[k] - e) * (counts[k] - e) / e;
    assert_true(chi2 < 27.88);
}

/* Only the stream handed to sgld_rng_time_normals is timed, one occurrence per call of each
 * normal generator; a copy of its key is another stream; after NULL nothing is. */
static void test_time_normals_of_one_stream(void **state)
{
    (void)state;
    static const char *const names[2] = {"other", "noise"};
    sgld_rng chain = {7, 2}, copy = chain;
    sgld_timer tm;
    double d[9];
    float f[9];
    sgld_timer_init(&tm, 2, names);
    sgld_rng_time_normals(&chain, &tm, 1);
    sgld_rng_normal(&chain, 1, SGLD_RNG_NOISE, 0, 9, d);
    sgld_rng_normal_float(&chain, 1, SGLD_RNG_NOISE, 0, 9, f);
    sgld_rng_normal_fill(&chain, 1, SGLD_RNG_NOISE, 9, f);
    sgld_rng_normal_update(&chain, 1, SGLD_RNG_NOISE, 9, 1.0f, 0.5f, NULL, 0.1f, f);
    sgld_rng_normal(&copy, 1, SGLD_RNG_NOISE, 0, 9, d);
    sgld_rng_uniform(&chain, 1, SGLD_RNG_BATCH, 0, 9, d);
    assert_int_equal(tm.count[1], 4);
    assert_int_equal(tm.count[0], 0);
    assert_int_equal(tm.depth, 0);
    sgld_rng_time_normals(NULL, NULL, 0);
    sgld_rng_normal(&chain, 2, SGLD_RNG_NOISE, 0, 9, d);
    assert_int_equal(tm.count[1], 4);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answer),
        cmocka_unit_test(test_stream_offsets_agree),
        cmocka_unit_test(test_streams_differ),
        cmocka_unit_test(test_normal_moments),
        cmocka_unit_test(test_uniform_and_below),
        cmocka_unit_test(test_time_normals_of_one_stream),
    };
    return sgld_test_run(argc, argv, "rng", tests, sizeof tests / sizeof tests[0]);
}
