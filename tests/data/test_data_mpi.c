/* test_data_mpi.c - the data module across ranks (run at each count in -Dtest_ranks): the
 * shards of every source, with and without a train/test split, put together in rank order are
 * exactly the one-rank load; the test set is whole and the same on every rank; standardization
 * uses the statistics of all shards; and an error found on one rank reaches every rank with
 * the same status and message, without a hang. */
#include "data_test_util.h"

#include <math.h>
#include <stdlib.h>

#include "sgld/status.h"

static int rank_, size_;

static void setup_ranks(void)
{
    rank_ = sgld_test_rank();
    size_ = sgld_test_size();
}

/* Every rank's rows (X then y) concatenated in rank order, on every rank. */
static void gather(const sgld_dataset *ds, float **X, float **y, int64_t *n)
{
    int nl = (int)ds->n_local, d = ds->d;
    int *cnt = malloc((size_t)size_ * sizeof *cnt), *off = malloc((size_t)size_ * sizeof *off);
    int *cntx = malloc((size_t)size_ * sizeof *cntx), *offx = malloc((size_t)size_ * sizeof *offx);
    assert_true(cnt && off && cntx && offx);
    MPI_Allgather(&nl, 1, MPI_INT, cnt, 1, MPI_INT, MPI_COMM_WORLD);
    int total = 0;
    for (int r = 0; r < size_; r++) {
        off[r] = total;
        cntx[r] = cnt[r] * d;
        offx[r] = total * d;
        total += cnt[r];
    }
    *X = malloc((size_t)(total ? total : 1) * (size_t)d * sizeof **X);
    *y = malloc((size_t)(total ? total : 1) * sizeof **y);
    assert_true(*X && *y);
    MPI_Allgatherv(ds->X, nl * d, MPI_FLOAT, *X, cntx, offx, MPI_FLOAT, MPI_COMM_WORLD);
    MPI_Allgatherv(ds->y, nl, MPI_FLOAT, *y, cnt, off, MPI_FLOAT, MPI_COMM_WORLD);
    *n = total;
    free(cnt);
    free(off);
    free(cntx);
    free(offx);
}

/* Loads o sharded over MPI_COMM_WORLD and whole on MPI_COMM_SELF and compares. */
static void check_union(const sgld_data_options *o)
{
    sgld_dataset *whole = NULL, *wtest = NULL, *tr = NULL, *te = NULL;
    assert_int_equal(sgld_data_load(MPI_COMM_SELF, 0, 1, o, &whole, &wtest), SGLD_OK);
    sgld_status st = sgld_data_load(MPI_COMM_WORLD, rank_, size_, o, &tr, &te);
    if (st != SGLD_OK) print_error("%s\n", sgld_error_message());
    assert_int_equal(st, SGLD_OK);
    int64_t b, e;
    sgld_data_shard_range(whole->n_total, rank_, size_, &b, &e);
    assert_int_equal(tr->n_total, whole->n_total);
    assert_int_equal(tr->row_begin, b);
    assert_int_equal(tr->n_local, e - b);
    assert_int_equal(tr->d, whole->d);
    assert_int_equal(tr->n_classes, whole->n_classes);
    float *X, *y;
    int64_t n;
    gather(tr, &X, &y, &n);
    assert_int_equal(n, whole->n_total);
    size_t nx = (size_t)n * (size_t)whole->d;
    if (!o->standardize) {
        assert_memory_equal(X, whole->X, nx * sizeof *X);
    } else {
        /* Sums in another order: the statistics agree to rounding. */
        for (int j = 0; j < whole->d; j++) {
            assert_true(fabs(tr->mean[j] - whole->mean[j]) <= 1e-12 * (1 + fabs(whole->mean[j])));
            assert_true(fabs(tr->sd[j] - whole->sd[j]) <= 1e-12 * whole->sd[j]);
        }
        for (size_t i = 0; i < nx; i++) assert_true(fabs(X[i] - whole->X[i]) < 1e-5);
    }
    assert_memory_equal(y, whole->y, (size_t)n * sizeof *y);
    if (wtest) {
        assert_non_null(te);
        assert_int_equal(te->n_total, wtest->n_total);
        assert_int_equal(te->n_local, wtest->n_total);
        assert_int_equal(te->row_begin, 0);
        assert_memory_equal(te->y, wtest->y, (size_t)te->n_local * sizeof *te->y);
        if (!o->standardize)
            assert_memory_equal(te->X, wtest->X, (size_t)te->n_local * (size_t)te->d * sizeof(float));
    } else {
        assert_null(te);
    }
    free(X);
    free(y);
    sgld_data_destroy(&whole);
    sgld_data_destroy(&wtest);
    sgld_data_destroy(&tr);
    sgld_data_destroy(&te);
}

/* /X [37, 3] with X[i][j] = i + j / 4, /y = i mod 2, written by rank 0; nan_rows rows
 * (from nan_at) get a NaN in column 2.  Collective. */
static const char *shared_h5(const char *name, int nan_at[], int n_nan)
{
    const int n = 37, d = 3;
    double X[37 * 3];
    int y[37];
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) X[i * d + j] = i + j / 4.0;
        y[i] = i % 2;
    }
    for (int k = 0; k < n_nan; k++) X[nan_at[k] * d + 2] = NAN;
    const char *path = tmp_path(name);
    if (rank_ == 0) write_h5(name, n, d, X, y);
    MPI_Barrier(MPI_COMM_WORLD);
    return path;
}

static void test_shards_synthetic(void **state)
{
    (void)state;
    setup_ranks();
    const char *names[4] = {"synthetic:linreg", "synthetic:linreg3", "synthetic:logreg",
                            "synthetic:softmax"};
    for (int s = 0; s < 4; s++) {
        sgld_data_options o = opts(names[s]);
        o.classification = s >= 2;
        check_union(&o);
        o.test_fraction = 0.2;
        o.seed = 5;
        check_union(&o);
    }
}

static void test_shards_csv(void **state)
{
    (void)state;
    setup_ranks();
    sgld_data_options o = opts(sgld_test_source_path("tools/data/pima.csv"));
    o.classification = 1;
    check_union(&o);
    o.test_fraction = 0.2;
    o.seed = 11;
    check_union(&o);
    o = opts(sgld_test_source_path("tools/data/boston.csv"));
    check_union(&o);
    o.test_fraction = 0.1;
    check_union(&o);
}

static void test_shards_hdf5(void **state)
{
    (void)state;
    setup_ranks();
    sgld_data_options o = opts(shared_h5("shards.h5", NULL, 0));
    o.classification = 1;
    check_union(&o);
    o.test_fraction = 0.3;
    o.seed = 3;
    check_union(&o);
    /* Row ids from column 0: training ids increasing across the ranks, test ids disjoint. */
    sgld_dataset *tr = NULL, *te = NULL;
    assert_int_equal(sgld_data_load(MPI_COMM_WORLD, rank_, size_, &o, &tr, &te), SGLD_OK);
    float *X, *y;
    int64_t n;
    gather(tr, &X, &y, &n);
    int seen[37] = {0};
    for (int64_t i = 0; i < n; i++) {
        if (i > 0) assert_true(X[3 * i] > X[3 * (i - 1)]);
        seen[(int)X[3 * i]]++;
    }
    for (int64_t i = 0; i < te->n_local; i++) seen[(int)te->X[3 * i]]++;
    assert_int_equal(n + te->n_local, 37);
    for (int i = 0; i < 37; i++) assert_int_equal(seen[i], 1);
    free(X);
    free(y);
    sgld_data_destroy(&tr);
    sgld_data_destroy(&te);
}

/* Standardized shards: every column of the union has mean 0 and sd 1 (float rounding). */
static void test_standardize_across_shards(void **state)
{
    (void)state;
    setup_ranks();
    sgld_data_options o = opts(sgld_test_source_path("tools/data/boston.csv"));
    o.standardize = 1;
    o.test_fraction = 0.1;
    o.seed = 2;
    check_union(&o);
    sgld_dataset *tr = NULL, *te = NULL;
    assert_int_equal(sgld_data_load(MPI_COMM_WORLD, rank_, size_, &o, &tr, &te), SGLD_OK);
    assert_non_null(te->mean);
    double s[2][13] = {{0}};
    for (int64_t i = 0; i < tr->n_local; i++)
        for (int j = 0; j < 13; j++) {
            s[0][j] += tr->X[13 * i + j];
            s[1][j] += tr->X[13 * i + j] * tr->X[13 * i + j];
        }
    MPI_Allreduce(MPI_IN_PLACE, s, 26, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    double n = (double)tr->n_total;
    for (int j = 0; j < 13; j++) {
        assert_true(fabs(s[0][j] / n) < 1e-5);
        assert_true(fabs(s[1][j] / n - 1) < 1e-5);
        assert_true(te->mean[j] == tr->mean[j] && te->sd[j] == tr->sd[j]);
    }
    sgld_data_destroy(&tr);
    sgld_data_destroy(&te);

    /* A communicator that does not hold every shard cannot standardize: every rank says so. */
    if (size_ > 1) {
        assert_int_equal(sgld_data_load(MPI_COMM_SELF, rank_, size_, &o, &tr, &te), SGLD_ERR_ARG);
        char msg[256];
        int64_t b, e;
        sgld_data_shard_range(455, rank_, size_, &b, &e);
        snprintf(msg, sizeof msg,
                 "standardize: the ranks of the communicator hold %lld of 455 training rows "
                 "(it must hold every shard exactly once)", (long long)(e - b));
        assert_string_equal(sgld_error_message(), msg);
        assert_null(tr);
        assert_null(te);
    }
}

/* The NaNs sit in rows 0 and 36: without a split the first is read by rank 0 only and the
 * second by the last rank only; every rank must return rank 0's message. */
static void test_error_on_some_ranks(void **state)
{
    (void)state;
    setup_ranks();
    int last_only[1] = {36}, both[2] = {0, 36};
    const char *files[2] = {shared_h5("nan-last.h5", last_only, 1), shared_h5("nan-both.h5", both, 2)};
    const char *expect[2] = {"%s: /X[36, 2]: NaN/Inf not allowed", "%s: /X[0, 2]: NaN/Inf not allowed"};
    for (int c = 0; c < 2; c++) {
        sgld_data_options o = opts(files[c]);
        o.standardize = 1; /* a collective after the agreement: must not be entered */
        sgld_dataset *tr = (sgld_dataset *)1, *te = (sgld_dataset *)1;
        assert_int_equal(sgld_data_load(MPI_COMM_WORLD, rank_, size_, &o, &tr, &te), SGLD_ERR_PARSE);
        char msg[1024];
        snprintf(msg, sizeof msg, expect[c], files[c]);
        assert_string_equal(sgld_error_message(), msg);
        assert_null(tr);
        assert_null(te);
    }
}

/* An allocation failure on the last rank only: every rank returns its status and message. */
static void test_alloc_failure_on_last_rank(void **state)
{
    (void)state;
    setup_ranks();
    sgld_data_options o = opts(sgld_test_source_path("tools/data/pima.csv"));
    o.classification = 1;
    o.standardize = 1;
    for (long k = 1; k <= 25; k += 8) {
        sgld_dataset *tr = NULL, *te = NULL;
        if (rank_ == size_ - 1) sgld_alloc_fail_after(k);
        sgld_status st = sgld_data_load(MPI_COMM_WORLD, rank_, size_, &o, &tr, &te);
        sgld_alloc_fail_after(0);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", sgld_error_message());
        MPI_Bcast(msg, sizeof msg, MPI_CHAR, size_ - 1, MPI_COMM_WORLD);
        assert_int_equal(st, SGLD_ERR_NOMEM);
        assert_string_equal(sgld_error_message(), msg);
        assert_null(tr);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shards_synthetic),
        cmocka_unit_test(test_shards_csv),
        cmocka_unit_test(test_shards_hdf5),
        cmocka_unit_test(test_standardize_across_shards),
        cmocka_unit_test(test_error_on_some_ranks),
        cmocka_unit_test(test_alloc_failure_on_last_rank),
    };
    return sgld_test_run(argc, argv, "data-mpi", tests, sizeof tests / sizeof tests[0]);
}
