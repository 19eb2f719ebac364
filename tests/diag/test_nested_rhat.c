/* test_nested_rhat.c - nested R-hat (Margossian et al. 2024, Definition 2.2): a value worked
 * out by hand, the special cases of the definition (one chain per superchain, NaN inputs), its
 * invariance to how chains and superchains are numbered, and the report of a sample file whose
 * superchains come from its coordinate (sgld_samples_chain_coord) or from the option, with the
 * refusals the user sees. */
#include "sgld_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sgld/diag.h"
#include "sgld/rng.h"
#include "sgld/samples.h"

/* Four chains of two draws, superchains {0, 1} and {2, 3}:
 *   chain means 1, 3 | 5, 7; superchain means 2 | 6; overall mean 4;
 *   nB = ((2 - 4)^2 + (6 - 4)^2) / (2 - 1) = 8                                     eq. (6)
 *   Bt_k = ((1 - 2)^2 + (3 - 2)^2) / (2 - 1) = 2, Wt_k = (2 + 2) / 2 = 2 (each chain's
 *   variance is ((-1)^2 + 1^2) / 1 = 2), nW = ((2 + 2) + (2 + 2)) / 2 = 4             eq. (7)
 *   nRhat = sqrt(1 + 8 / 4) = sqrt(3)                                               eq. (8) */
static void test_hand_value(void **state)
{
    (void)state;
    const double x[8] = {0, 2, 2, 4, 4, 6, 6, 8};
    const int contiguous[4] = {0, 1, 2, 3};
    assert_true(fabs(sgld_diag_nested_rhat(x, 2, contiguous, 2, 2) - sqrt(3.0)) < 1e-15);
    /* The same superchains listed in another order, and chains numbered otherwise: x2 holds
     * chain 0 of superchain {0, 2} and chain 1 of superchain {1, 3}. */
    const int swapped[4] = {3, 2, 1, 0};
    assert_true(fabs(sgld_diag_nested_rhat(x, 2, swapped, 2, 2) - sqrt(3.0)) < 1e-15);
    const double x2[8] = {0, 2, 4, 6, 2, 4, 6, 8};
    const int interleaved[4] = {0, 2, 1, 3};
    assert_true(fabs(sgld_diag_nested_rhat(x2, 2, interleaved, 2, 2) - sqrt(3.0)) < 1e-15);
    /* Shifting every draw changes nothing; scaling them all neither. */
    double y[8];
    for (int i = 0; i < 8; i++) y[i] = 1e3 + 0.5 * x[i];
    assert_true(fabs(sgld_diag_nested_rhat(y, 2, contiguous, 2, 2) - sqrt(3.0)) < 1e-12);
}

/* One chain per superchain (M = 1): Bt_k = 0, so nRhat = sqrt(1 + var(chain means) /
 * mean(chain variances)).  Chains [0, 2], [3, 5], [1, 3]: means 1, 4, 2 (var 7/3), each
 * chain's variance 2: sqrt(1 + 7/6).  One draw per chain (N = 1): Wt_k = 0. */
static void test_one_per_superchain(void **state)
{
    (void)state;
    const double x[6] = {0, 2, 3, 5, 1, 3};
    const int chains[3] = {0, 1, 2};
    assert_true(fabs(sgld_diag_nested_rhat(x, 2, chains, 3, 1) - sqrt(1.0 + 7.0 / 6.0)) < 1e-15);
    /* N = 1, superchains {1, 2} | {4, 7}: Bt = 0.5 | 4.5, nW = 2.5, means 1.5 | 5.5, nB = 8. */
    const double z[4] = {1, 2, 4, 7};
    const int four[4] = {0, 1, 2, 3};
    assert_true(fabs(sgld_diag_nested_rhat(z, 1, four, 2, 2) - sqrt(1.0 + 8.0 / 2.5)) < 1e-15);
}

/* Undefined: a non-finite draw, fewer than two superchains, no spread within superchains. */
static void test_undefined(void **state)
{
    (void)state;
    double x[8] = {0, 2, 2, 4, 4, 6, 6, 8};
    const int chains[4] = {0, 1, 2, 3};
    assert_true(isnan(sgld_diag_nested_rhat(x, 2, chains, 1, 4)));
    const double flat[8] = {1, 1, 1, 1, 3, 3, 3, 3};
    assert_true(isnan(sgld_diag_nested_rhat(flat, 2, chains, 2, 2)));
    x[5] = NAN;
    assert_true(isnan(sgld_diag_nested_rhat(x, 2, chains, 2, 2)));
    x[5] = INFINITY;
    assert_true(isnan(sgld_diag_nested_rhat(x, 2, chains, 2, 2)));
    assert_true(isnan(sgld_diag_nested_rhat(NULL, 2, chains, 2, 2)));
}

/* A sample file of M_CH chains of N_DR draws of w[2]: chain c's draws are N(0, 1) from the
 * Philox stream {5, c}, plus 3 for w[1] in chains of the second half (two locations). */
#define M_CH 8
#define N_DR 16
static void write_file(const char *path, const int64_t *labels, double x[2][M_CH * N_DR])
{
    const sgld_var_spec spec = {.group = "posterior", .name = "w", .n_dims = 1, .dims = {2},
                                .dtype = SGLD_F64};
    sgld_samples *s = NULL;
    assert_int_equal(sgld_samples_create(MPI_COMM_SELF, path, 1, M_CH, 1, &spec, 16, &s), SGLD_OK);
    static double w[M_CH][N_DR * 2];
    const void *ptrs[M_CH][1];
    const void *const *data[M_CH];
    int chains[M_CH];
    for (int c = 0; c < M_CH; c++) {
        sgld_rng r = {5u, (uint32_t)c};
        sgld_rng_normal(&r, 0, SGLD_RNG_DATA, 0, N_DR * 2, w[c]);
        for (int t = 0; t < N_DR; t++) {
            if (c >= M_CH / 2) w[c][2 * t + 1] += 3.0;
            x[0][c * N_DR + t] = w[c][2 * t];
            x[1][c * N_DR + t] = w[c][2 * t + 1];
        }
        ptrs[c][0] = w[c];
        data[c] = ptrs[c];
        chains[c] = c;
    }
    assert_int_equal(sgld_samples_append_chains(s, M_CH, chains, N_DR, data), SGLD_OK);
    if (labels) assert_int_equal(sgld_samples_chain_coord(s, "superchain", labels), SGLD_OK);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
}

static sgld_diag_report_opts opts(const char *path)
{
    return (sgld_diag_report_opts){.file = path, .group = "posterior", .method = SGLD_MESS_LUGSAIL,
                                   .seed = 1, .alpha = 0.05, .eps = 0.05, .block = 1};
}

/* The report's nRhat is the function's on the element's draws, with the superchains of the
 * coordinate (any labels, grouped by value) or of --superchains (consecutive chains). */
static void test_report(void **state)
{
    (void)state;
    char path[600], want[900];
    static double x[2][M_CH * N_DR];
    snprintf(path, sizeof path, "%s/labels.h5", sgld_test_tmpdir());
    const int64_t labels[M_CH] = {7, 7, 7, 7, -2, -2, -2, -2}; /* superchain -2 comes first */
    write_file(path, labels, x);
    int64_t back[M_CH] = {0};
    int found = 0;
    sgld_samples_reader *rd = NULL;
    assert_int_equal(sgld_samples_open(path, &rd), SGLD_OK);
    assert_int_equal(sgld_samples_read_chain_coord(rd, "posterior", "superchain", M_CH, back, &found), SGLD_OK);
    assert_int_equal(found, 1);
    assert_memory_equal(back, labels, sizeof labels);
    assert_int_equal(sgld_samples_read_chain_coord(rd, "posterior", "nope", M_CH, back, &found), SGLD_OK);
    assert_int_equal(found, 0);
    assert_int_equal(sgld_samples_read_chain_coord(rd, "posterior", "superchain", M_CH + 1, back, &found),
                     SGLD_ERR_PARSE);
    sgld_samples_reader_close(&rd);

    sgld_diag_report_opts o = opts(path);
    sgld_diag_report *r = NULL;
    assert_int_equal(sgld_diag_report_create(MPI_COMM_SELF, &o, &r), SGLD_OK);
    assert_int_equal(r->n_superchains, 2);
    assert_int_equal(r->chains_per_superchain, 4);
    assert_int_equal(r->superchains_from_file, 1);
    const int by_label[M_CH] = {4, 5, 6, 7, 0, 1, 2, 3};
    for (int e = 0; e < 2; e++)
        assert_true(r->elems[e].nrhat == sgld_diag_nested_rhat(x[e], N_DR, by_label, 2, 4));
    /* w[1]'s superchains sit 3 sd apart: far above the threshold; w[0]'s do not. */
    assert_true(r->elems[1].nrhat > 1.5 && r->nrhat_max == r->elems[1].nrhat && r->nrhat_max_elem == 1);
    assert_true(r->elems[0].nrhat < r->elems[1].nrhat);
    assert_int_equal(r->n_nrhat_above, (r->elems[0].nrhat > 1.0 + SGLD_DIAG_NRHAT_DELTA) + 1);
    sgld_diag_report_destroy(&r);

    /* The option overrides the coordinate: four superchains of two consecutive chains. */
    o.superchains = 4;
    assert_int_equal(sgld_diag_report_create(MPI_COMM_SELF, &o, &r), SGLD_OK);
    assert_int_equal(r->n_superchains, 4);
    assert_int_equal(r->superchains_from_file, 0);
    const int consecutive[M_CH] = {0, 1, 2, 3, 4, 5, 6, 7};
    assert_true(r->elems[0].nrhat == sgld_diag_nested_rhat(x[0], N_DR, consecutive, 4, 2));
    sgld_diag_report_destroy(&r);
    o.superchains = 3;
    assert_int_equal(sgld_diag_report_create(MPI_COMM_SELF, &o, &r), SGLD_ERR_USAGE);
    assert_null(r);
    snprintf(want, sizeof want, "%s: --superchains 3 does not divide the 8 chains (every superchain holds "
             "C / K chains)", path);
    assert_string_equal(sgld_error_message(), want);

    /* A file without the coordinate has no nested R-hat unless the option asks. */
    snprintf(path, sizeof path, "%s/plain.h5", sgld_test_tmpdir());
    write_file(path, NULL, x);
    o = opts(path);
    assert_int_equal(sgld_diag_report_create(MPI_COMM_SELF, &o, &r), SGLD_OK);
    assert_int_equal(r->n_superchains, 0);
    assert_true(isnan(r->elems[0].nrhat) && isnan(r->nrhat_max) && r->nrhat_max_elem == -1);
    sgld_diag_report_destroy(&r);

    /* Superchains of unequal size are refused, naming the file, the coordinate and the sizes. */
    snprintf(path, sizeof path, "%s/unequal.h5", sgld_test_tmpdir());
    const int64_t unequal[M_CH] = {0, 0, 0, 1, 1, 1, 1, 1};
    write_file(path, unequal, x);
    o = opts(path);
    assert_int_equal(sgld_diag_report_create(MPI_COMM_SELF, &o, &r), SGLD_ERR_USAGE);
    snprintf(want, sizeof want, "%s: coordinate 'posterior/superchain': superchain 1 holds 5 chains but "
             "superchain 0 holds 3 (nested R-hat needs superchains of one size)", path);
    assert_string_equal(sgld_error_message(), want);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_value),
        cmocka_unit_test(test_one_per_superchain),
        cmocka_unit_test(test_undefined),
        cmocka_unit_test(test_report),
    };
    return sgld_test_run(argc, argv, "diag-nested-rhat", tests, sizeof tests / sizeof tests[0]);
}
