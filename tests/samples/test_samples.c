/* test_samples.c - the sample file: collective writing at any rank count, reading back,
 * truncation, attributes, labelled dimensions, boolean variables, observed_data, and every
 * error path of create, append, observed and the reader.
 *
 * Chains are dealt round-robin over the ranks (3 chains, so at 1 rank one rank holds all of
 * them, at 2 ranks one holds two, at 4 ranks one holds none) and written with
 * sgld_samples_append_chains; values are distinct exact binary fractions so reads compare
 * with ==. */
#include "sgld_test.h"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sgld/samples.h"

#define N_CHAINS 3
#define N_VARS 4
#define MAX_DRAWS 64

/* posterior/w [chain, draw, 3, 4] f64, posterior/b [chain, draw] f32,
 * posterior/v [chain, draw, 3] f64 sharing w's first dim, sample_stats/lp [chain, draw] f64. */
static const sgld_var_spec specs[N_VARS] = {
    {.group = "posterior", .name = "w", .n_dims = 2, .dims = {3, 4}, .dtype = SGLD_F64},
    {.group = "posterior", .name = "b", .n_dims = 0, .dtype = SGLD_F32},
    {.group = "/posterior", .name = "v", .n_dims = 1, .dims = {3},
     .dim_names = {"w_dim_0"}, .dtype = SGLD_F64},
    {.group = "sample_stats", .name = "lp", .n_dims = 0, .dtype = SGLD_F64},
};
static const int64_t elems[N_VARS] = {12, 1, 3, 1};

/* The value of element e of var v, chain c, draw t in generation gen. */
static double value(int gen, int v, int c, int64_t t, int64_t e)
{
    return gen * 10000.0 + v * 1000.0 + c * 100.0 + (double)t + (double)e / 16.0 + 0.0625;
}

static const char *tmp_path(const char *name)
{
    static char buf[8][600];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", sgld_test_tmpdir(), name);
    return p;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Appends draws [t0, t0 + n) of generation gen for this rank's chains. Collective. */
static sgld_status append_block(sgld_samples *s, int gen, int64_t t0, int64_t n)
{
    static double w[N_CHAINS][MAX_DRAWS * 12], v3[N_CHAINS][MAX_DRAWS * 3],
        lp[N_CHAINS][MAX_DRAWS];
    static float b[N_CHAINS][MAX_DRAWS];
    const void *ptrs[N_CHAINS][N_VARS];
    const void *const *data[N_CHAINS];
    int chains[N_CHAINS], n_local = 0;
    for (int c = sgld_test_rank(); c < N_CHAINS; c += sgld_test_size()) {
        int i = n_local;
        chains[n_local++] = c;
        for (int64_t j = 0; j < n; j++) {
            for (int e = 0; e < 12; e++) w[i][j * 12 + e] = value(gen, 0, c, t0 + j, e);
            b[i][j] = (float)value(gen, 1, c, t0 + j, 0);
            for (int e = 0; e < 3; e++) v3[i][j * 3 + e] = value(gen, 2, c, t0 + j, e);
            lp[i][j] = value(gen, 3, c, t0 + j, 0);
        }
        ptrs[i][0] = w[i];
        ptrs[i][1] = b[i];
        ptrs[i][2] = v3[i];
        ptrs[i][3] = lp[i];
        data[i] = ptrs[i];
    }
    return sgld_samples_append_chains(s, n_local, n_local ? chains : NULL, n, n_local ? data : NULL);
}

static sgld_samples *create_ok(const char *path, int force)
{
    sgld_samples *s = NULL;
    sgld_status st = sgld_samples_create(MPI_COMM_WORLD, path, force, N_CHAINS, N_VARS, specs,
                                         3, &s);
    if (st != SGLD_OK) fail_msg("create %s: %s", path, sgld_error_message());
    return s;
}

/* Checks that every element of every variable equals gen_of(t) for each draw. */
static void check_values(const char *path, int64_t n_draws, const int *gen_of_draw)
{
    sgld_samples_reader *r = NULL;
    assert_int_equal(sgld_samples_open(path, &r), SGLD_OK);
    static double out[12 * N_CHAINS * MAX_DRAWS];
    for (int v = 0; v < N_VARS; v++) {
        int n_dims;
        int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2];
        assert_int_equal(sgld_samples_shape(r, specs[v].group, specs[v].name, &n_dims, dims),
                         SGLD_OK);
        assert_int_equal(n_dims, 2 + specs[v].n_dims);
        assert_int_equal(dims[0], N_CHAINS);
        assert_int_equal(dims[1], n_draws);
        for (int k = 0; k < specs[v].n_dims; k++) assert_int_equal(dims[2 + k], specs[v].dims[k]);
        /* Ranges that start and end inside rows, span rows and cover everything. */
        static const int64_t ranges[][2] = {{0, 12}, {1, 10}, {5, 2}, {3, 4}, {4, 8},
                                            {11, 1}, {7, 0}, {0, 3}, {2, 1}, {0, 1}};
        for (size_t q = 0; q < sizeof ranges / sizeof ranges[0]; q++) {
            int64_t e0 = ranges[q][0], n = ranges[q][1];
            if (e0 + n > elems[v]) continue;
            memset(out, 0, sizeof out);
            assert_int_equal(sgld_samples_read_elems(r, specs[v].group, specs[v].name, e0, n,
                                                     out),
                             SGLD_OK);
            for (int64_t e = 0; e < n; e++)
                for (int c = 0; c < N_CHAINS; c++)
                    for (int64_t t = 0; t < n_draws; t++) {
                        double got = out[(e * N_CHAINS + c) * n_draws + t];
                        double want = value(gen_of_draw[t], v, c, t, e0 + e);
                        if (specs[v].dtype == SGLD_F32) want = (float)want;
                        if (got != want)
                            fail_msg("%s: %s[%d, %lld, %lld] = %g, want %g", path,
                                     specs[v].name, c, (long long)t, (long long)(e0 + e), got,
                                     want);
                    }
        }
    }
    sgld_samples_reader_close(&r);
    assert_null(r);
}

static void test_write_read_back(void **state)
{
    (void)state;
    const char *path = tmp_path("roundtrip.h5");
    sgld_samples *s = create_ok(path, 0);
    static const int64_t blocks[] = {4, 1, 6};
    int64_t t0 = 0;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(append_block(s, 0, t0, blocks[i]), SGLD_OK);
        t0 += blocks[i];
        assert_int_equal(sgld_samples_n_draws(s), t0);
    }
    assert_int_equal(append_block(s, 0, t0, 0), SGLD_OK); /* an empty append is a no-op */
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
    assert_null(s);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK); /* NULL-safe */
    int gens[MAX_DRAWS] = {0};
    check_values(path, t0, gens);

    sgld_samples_reader *r = NULL;
    assert_int_equal(sgld_samples_open(path, &r), SGLD_OK);
    int n = 0;
    char **names = NULL;
    assert_int_equal(sgld_samples_list(r, "posterior", &n, &names), SGLD_OK);
    assert_int_equal(n, 3); /* creation order, coordinates skipped */
    assert_string_equal(names[0], "w");
    assert_string_equal(names[1], "b");
    assert_string_equal(names[2], "v");
    sgld_samples_free_names(n, &names);
    assert_null(names);
    assert_int_equal(sgld_samples_list(r, "/sample_stats", &n, &names), SGLD_OK);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "lp");
    sgld_samples_free_names(n, &names);
    sgld_samples_reader_close(&r);

    /* One scale per dim name: w_dim_0 is shared by w and v. */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    H5G_info_t info;
    assert_true(H5Gget_info_by_name(f, "/posterior", &info, H5P_DEFAULT) >= 0);
    assert_int_equal(info.nlinks, 7); /* chain draw w_dim_0 w_dim_1 w b v */
    assert_true(H5Lexists(f, "/posterior/w_dim_1", H5P_DEFAULT) > 0);
    assert_true(H5Lexists(f, "/posterior/v_dim_0", H5P_DEFAULT) == 0);
    hid_t d = H5Dopen2(f, "/posterior/draw", H5P_DEFAULT);
    int64_t draws[MAX_DRAWS];
    assert_true(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, draws) >= 0);
    for (int64_t t = 0; t < t0; t++) assert_int_equal(draws[t], t);
    H5Dclose(d);
    H5Fclose(f);
}

/* Truncation, including the pattern that made parallel HDF5 1.10.8 hang when shrinking
 * with H5Dset_extent under MPI-IO (grow by many chunks, shrink into the first one, append). */
static void test_truncate(void **state)
{
    (void)state;
    const char *path = tmp_path("truncate.h5");
    sgld_samples *s = create_ok(path, 0);
    assert_int_equal(append_block(s, 1, 0, 2), SGLD_OK);
    assert_int_equal(append_block(s, 1, 2, 40), SGLD_OK);
    assert_int_equal(sgld_samples_truncate(s, 43), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_truncate(s, -1), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_truncate(s, 2), SGLD_OK);
    assert_int_equal(sgld_samples_n_draws(s), 2);
    assert_int_equal(append_block(s, 2, 2, 3), SGLD_OK);
    assert_int_equal(sgld_samples_truncate(s, 4), SGLD_OK);
    assert_int_equal(append_block(s, 3, 4, 2), SGLD_OK);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
    int gens[MAX_DRAWS] = {1, 1, 2, 2, 3, 3};
    check_values(path, 6, gens);
}

/* Reads the 1-D dataset name of path's group monitor as double into out (at most 16 values);
 * returns its length. */
static int read_col(const char *path, const char *name, double *out)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    char p[64];
    snprintf(p, sizeof p, "/monitor/%s", name);
    hid_t d = H5Dopen2(f, p, H5P_DEFAULT), sp = H5Dget_space(d);
    hsize_t n = 0;
    assert_true(f >= 0 && d >= 0 && H5Sget_simple_extent_dims(sp, &n, NULL) == 1 && n <= 16);
    if (n) assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return (int)n;
}

/* The table of rows: a row per append that staged one, cut back with the draws by truncate and
 * by a reopen's truncate, and its refusals. */
static void test_table(void **state)
{
    (void)state;
    const char *path = tmp_path("table.h5"), *plain = tmp_path("table-none.h5");
    static const char *const cols[] = {"x", "y"}, *const bad[] = {"x", "draws"};
    sgld_samples *s = create_ok(path, 0);
    assert_int_equal(sgld_samples_table(s, "posterior", "check", 2, cols), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_table(s, "monitor", "check", 2, bad), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_table(s, "monitor", "check", 0, cols), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_table_row(s, NULL), SGLD_ERR_ARG); /* no table yet, no values */
    assert_int_equal(sgld_samples_table(s, "monitor", "check", 2, cols), SGLD_OK);
    assert_int_equal(sgld_samples_table(s, "monitor2", "check", 2, cols), SGLD_ERR_ARG);
    assert_int_equal(append_block(s, 1, 0, 2), SGLD_OK); /* nothing staged: no row */
    assert_int_equal(sgld_samples_table_rows(s), 0);
    const double r1[2] = {1.5, 10.0}, r2[2] = {2.5, 20.0}, r3[2] = {3.5, 30.0}, r4[2] = {4.5, 40.0};
    assert_int_equal(sgld_samples_table_row(s, r1), SGLD_OK);
    assert_int_equal(append_block(s, 1, 2, 3), SGLD_OK);  /* row 0: 5 draws */
    assert_int_equal(sgld_samples_table_row(s, r2), SGLD_OK);
    assert_int_equal(append_block(s, 1, 5, 4), SGLD_OK);  /* row 1: 9 draws */
    assert_int_equal(sgld_samples_table_row(s, r3), SGLD_OK);
    assert_int_equal(append_block(s, 1, 9, 2), SGLD_OK);  /* row 2: 11 draws */
    assert_int_equal(sgld_samples_table_rows(s), 3);
    assert_int_equal(sgld_samples_truncate(s, 10), SGLD_OK); /* row 2 goes, 9 <= 10 stays */
    assert_int_equal(sgld_samples_table_rows(s), 2);
    assert_int_equal(sgld_samples_truncate(s, 6), SGLD_OK);
    assert_int_equal(sgld_samples_table_rows(s), 1);
    assert_int_equal(sgld_samples_table_row(s, r4), SGLD_OK);
    assert_int_equal(append_block(s, 2, 6, 3), SGLD_OK);  /* row 1: 9 draws */
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
    double v[16];
    assert_int_equal(read_col(path, "draws", v), 2);
    assert_true(v[0] == 5.0 && v[1] == 9.0);
    assert_int_equal(read_col(path, "x", v), 2);
    assert_true(v[0] == 1.5 && v[1] == 4.5);
    assert_int_equal(read_col(path, "check", v), 2);
    assert_true(v[0] == 0.0 && v[1] == 1.0);

    /* reopened: the table opens with its rows; a truncate cuts them with the draws */
    assert_int_equal(sgld_samples_reopen(MPI_COMM_WORLD, path, N_CHAINS, N_VARS, specs, &s), SGLD_OK);
    assert_int_equal(sgld_samples_table(s, "monitor", "check", 2, cols), SGLD_OK);
    assert_int_equal(sgld_samples_table_rows(s), 2);
    assert_int_equal(sgld_samples_truncate(s, 8), SGLD_OK);
    assert_int_equal(sgld_samples_table_rows(s), 1);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
    assert_int_equal(read_col(path, "y", v), 1);
    assert_true(v[0] == 10.0);

    /* a file without the table: refused on reopen, naming the group */
    s = create_ok(plain, 0);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
    assert_int_equal(sgld_samples_reopen(MPI_COMM_WORLD, plain, N_CHAINS, N_VARS, specs, &s), SGLD_OK);
    assert_int_equal(sgld_samples_table(s, "monitor", "check", 2, cols), SGLD_ERR_PARSE);
    assert_non_null(strstr(sgld_error_message(), "monitor"));
    assert_int_equal(sgld_samples_table_rows(s), 0);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
}

static void test_attributes(void **state)
{
    (void)state;
    const char *path = tmp_path("attrs.h5");
    sgld_samples *s = create_ok(path, 0);
    const double eps[3] = {0.5, -1.25, 3e-7};
    const int64_t seeds[2] = {20240611, -((int64_t)1 << 40)};
    assert_int_equal(sgld_samples_attr_string(s, "", "sampler", "first"), SGLD_OK);
    assert_int_equal(sgld_samples_attr_string(s, "/", "sampler", "psgld"), SGLD_OK); /* replaced */
    assert_int_equal(sgld_samples_attr_string(s, "posterior", "note", ""), SGLD_OK);
    assert_int_equal(sgld_samples_attr_double(s, "sample_stats", "eps", 3, eps), SGLD_OK);
    assert_int_equal(sgld_samples_attr_int(s, "/posterior", "seeds", 2, seeds), SGLD_OK);
    assert_int_equal(sgld_samples_attr_double(s, "", "one", 1, eps + 1), SGLD_OK);
    assert_int_equal(sgld_samples_attr_string(s, "nope", "x", "y"), SGLD_ERR_ARG);
    char want[700];
    snprintf(want, sizeof want, "%s: no group '/nope'", path);
    assert_string_equal(sgld_error_message(), want);
    assert_int_equal(sgld_samples_attr_double(s, "", "none", 0, eps), SGLD_ERR_ARG);
    /* A bad argument on one rank only: every rank gets the same status. */
    int last = sgld_test_rank() == sgld_test_size() - 1;
    assert_int_equal(sgld_samples_attr_int(s, "", "bad", last ? -1 : 1, seeds), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);

    sgld_samples_reader *r = NULL;
    assert_int_equal(sgld_samples_open(path, &r), SGLD_OK);
    char *str = NULL;
    assert_int_equal(sgld_samples_read_attr_string(r, "", "sampler", &str), SGLD_OK);
    assert_string_equal(str, "psgld");
    sgld_free(str);
    assert_int_equal(sgld_samples_read_attr_string(r, "posterior", "note", &str), SGLD_OK);
    assert_string_equal(str, "");
    sgld_free(str);
    double got[4];
    int n = -1;
    assert_int_equal(sgld_samples_read_attr_double(r, "sample_stats", "eps", 4, &n, got),
                     SGLD_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) assert_true(got[i] == eps[i]);
    assert_int_equal(sgld_samples_read_attr_double(r, "posterior", "seeds", 0, &n, NULL),
                     SGLD_OK);
    assert_int_equal(n, 2); /* count query */
    assert_int_equal(sgld_samples_read_attr_double(r, "posterior", "seeds", 2, &n, got), SGLD_OK);
    assert_true(got[0] == 20240611.0 && got[1] == -1099511627776.0);
    assert_int_equal(sgld_samples_read_attr_double(r, "/", "one", 1, &n, got), SGLD_OK);
    assert_true(n == 1 && got[0] == -1.25);
    assert_int_equal(sgld_samples_read_attr_double(r, "sample_stats", "eps", 2, &n, got),
                     SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_read_attr_double(r, "", "sampler", 4, &n, got), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_read_attr_string(r, "", "one", &str), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_read_attr_string(r, "", "bad", &str), SGLD_ERR_ARG);
    snprintf(want, sizeof want, "%s: no attribute 'bad' on '/'", path);
    assert_string_equal(sgld_error_message(), want);
    assert_int_equal(sgld_samples_read_attr_string(r, "nope", "x", &str), SGLD_ERR_ARG);
    sgld_samples_reader_close(&r);
}

static void test_existing_file_and_force(void **state)
{
    (void)state;
    const char *path = tmp_path("exists.h5");
    sgld_samples *s = create_ok(path, 0);
    assert_int_equal(append_block(s, 0, 0, 5), SGLD_OK);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);

    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, path, 0, N_CHAINS, N_VARS, specs, 3,
                                         &s),
                     SGLD_ERR_EXISTS);
    assert_null(s);
    char want[700];
    snprintf(want, sizeof want, "%s: file exists (use --force to overwrite)", path);
    assert_string_equal(sgld_error_message(), want);
    int gens[MAX_DRAWS] = {0};
    check_values(path, 5, gens); /* untouched */
    MPI_Barrier(MPI_COMM_WORLD);

    s = create_ok(path, 1); /* --force: a fresh file with zero draws */
    assert_int_equal(append_block(s, 3, 0, 2), SGLD_OK);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
    int gens3[MAX_DRAWS] = {3, 3};
    check_values(path, 2, gens3);

    MPI_Barrier(MPI_COMM_WORLD);
    sgld_samples_discard(MPI_COMM_WORLD, path);
    MPI_Barrier(MPI_COMM_WORLD);
    assert_false(file_exists(path));
}

static void test_create_errors(void **state)
{
    (void)state;
    sgld_samples *s = NULL;
    char want[700];
    const char *missing_dir = tmp_path("no/such/dir/run.h5");
    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, missing_dir, 1, N_CHAINS, N_VARS,
                                         specs, 3, &s),
                     SGLD_ERR_IO);
    assert_null(s);
    snprintf(want, sizeof want, "%s: cannot create: No such file or directory", missing_dir);
    assert_string_equal(sgld_error_message(), want);

    /* A parent that is a regular file (root can write into any directory, so permissions
     * would not make this fail). */
    const char *plain = tmp_path("plain.txt");
    if (sgld_test_rank() == 0) {
        FILE *f = fopen(plain, "w");
        assert_non_null(f);
        fputs("not a directory\n", f);
        fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    char under_file[600];
    snprintf(under_file, sizeof under_file, "%s/run.h5", plain);
    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, under_file, 0, N_CHAINS, N_VARS,
                                         specs, 3, &s),
                     SGLD_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot create: Not a directory", under_file);
    assert_string_equal(sgld_error_message(), want);

    const char *dir = sgld_test_tmpdir();
    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, dir, 1, N_CHAINS, N_VARS, specs, 3,
                                         &s),
                     SGLD_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot create: Is a directory", dir);
    assert_string_equal(sgld_error_message(), want);

    /* Invalid layouts fail before the file is touched. */
    const char *bad = tmp_path("bad.h5");
    sgld_var_spec v[2] = {specs[0], specs[2]};
    v[1].dims[0] = 5; /* w_dim_0 is 3 in w */
    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, bad, 0, N_CHAINS, 2, v, 3, &s),
                     SGLD_ERR_ARG);
    v[1] = specs[0];
    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, bad, 0, N_CHAINS, 2, v, 3, &s),
                     SGLD_ERR_ARG); /* w twice */
    v[1] = specs[2];
    v[1].dim_names[0] = "draw";
    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, bad, 0, N_CHAINS, 2, v, 3, &s),
                     SGLD_ERR_ARG);
    v[1] = specs[2];
    v[1].name = "w_dim_1"; /* a variable named like a dim */
    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, bad, 0, N_CHAINS, 2, v, 3, &s),
                     SGLD_ERR_ARG);
    /* labels: one NULL; or as wide as the name of a variable (string2), whose dimension they need */
    static const char *const holes[3] = {"a", NULL, "c"}, *const wide[3] = {"ab", "c", "d"};
    v[1] = specs[2];
    v[1].dim_labels[0] = holes;
    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, bad, 0, N_CHAINS, 2, v, 3, &s), SGLD_ERR_ARG);
    snprintf(want, sizeof want, "%s: dim 'posterior/w_dim_0': label 1 is NULL", bad);
    assert_string_equal(sgld_error_message(), want);
    v[1].dim_labels[0] = wide;
    v[0].name = "string2";
    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, bad, 0, N_CHAINS, 2, v, 3, &s), SGLD_ERR_ARG);
    snprintf(want, sizeof want, "%s: group 'posterior': the labels of dim 'w_dim_0' need a dimension 'string2', "
             "which is the name of a dim or variable", bad);
    assert_string_equal(sgld_error_message(), want);
    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, bad, 0, 0, 2, specs, 3, &s),
                     SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, bad, 0, N_CHAINS, 2, specs, 0, &s),
                     SGLD_ERR_ARG);
    MPI_Barrier(MPI_COMM_WORLD);
    assert_false(file_exists(bad));
}

/* Creates path with vars, every allocation failing in turn on rank r (the 1st, 2nd, ... up to
 * the first create that allocates no more, after which every later one would succeed too):
 * every rank gets SGLD_ERR_NOMEM or a file (closed and removed), and no file is left behind.
 * Counts the failures whose message holds `needle` and the successes. */
static void create_failing(const char *path, const sgld_var_spec *vars, int r, const char *needle, int *hits,
                           int *successes)
{
    for (long n = 1; n <= 60; n++) {
        sgld_samples *s = NULL;
        if (sgld_test_rank() == r) sgld_alloc_fail_after(n);
        sgld_status st = sgld_samples_create(MPI_COMM_WORLD, path, 0, N_CHAINS, N_VARS, vars, 3, &s);
        sgld_alloc_fail_after(0);
        if (st == SGLD_OK) {
            (*successes)++;
            assert_int_equal(sgld_samples_close(&s), SGLD_OK);
            MPI_Barrier(MPI_COMM_WORLD);
            sgld_samples_discard(MPI_COMM_WORLD, path);
        } else {
            assert_int_equal(st, SGLD_ERR_NOMEM);
            assert_null(s);
            *hits += strstr(sgld_error_message(), needle) != NULL;
        }
        MPI_Barrier(MPI_COMM_WORLD);
        assert_false(file_exists(path));
        if (st == SGLD_OK) break; /* the same status on every rank */
    }
}

/* Every allocation of create failing in turn on one rank (including rank 0's coordinate
 * buffer, allocated after the file exists): every rank gets SGLD_ERR_NOMEM, no rank hangs,
 * and no file is left behind. */
static void test_failed_create_leaves_no_file(void **state)
{
    (void)state;
    const char *path = tmp_path("nomem.h5");
    int after_file = 0, successes = 0;
    for (int r = 0; r < sgld_test_size(); r++)
        create_failing(path, specs, r, "coordinate values", &after_file, &successes);
    assert_true(after_file >= 1);
    assert_true(successes >= 1);
}

/* The same on rank 0 with a labelled dim, whose text buffer rank 0 allocates after the file
 * exists: the failure names the dim. */
static void test_failed_labels_leave_no_file(void **state)
{
    (void)state;
    static const char *const names[3] = {"age", "bmi, kg/m\xc2\xb2", "glucose"};
    sgld_var_spec v[N_VARS];
    memcpy(v, specs, sizeof v);
    v[2].dim_labels[0] = names;
    int labels_failed = 0, successes = 0;
    create_failing(tmp_path("nomem-labels.h5"), v, 0, "labels of dim 'w_dim_0'", &labels_failed, &successes);
    if (sgld_test_rank() == 0) assert_true(labels_failed >= 1);
    assert_true(successes >= 1);
}

/* Rank 0 failing to grow its coordinate buffer in an append: all ranks fail alike, and the
 * next append works. */
static void test_append_nomem(void **state)
{
    (void)state;
    const char *path = tmp_path("append-nomem.h5");
    sgld_samples *s = create_ok(path, 0);
    assert_int_equal(append_block(s, 5, 0, 2), SGLD_OK);
    if (sgld_test_rank() == 0) sgld_alloc_fail_after(1);
    assert_int_equal(append_block(s, 5, 2, 40), SGLD_ERR_NOMEM);
    sgld_alloc_fail_after(0);
    assert_int_equal(sgld_samples_n_draws(s), 2);
    assert_int_equal(append_block(s, 5, 2, 3), SGLD_OK);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
    int gens[MAX_DRAWS] = {5, 5, 5, 5, 5};
    check_values(path, 5, gens);
}

static void test_append_errors(void **state)
{
    (void)state;
    const char *path = tmp_path("append.h5");
    int rank = sgld_test_rank(), size = sgld_test_size();
    sgld_samples *s = create_ok(path, 0);
    static const double w[12 * 2], v3[3 * 2], lp[2];
    static const float b[2];
    const void *ptrs[N_VARS] = {w, b, v3, lp};
    const void *const *data[2] = {ptrs, ptrs};
    char want[700];

    /* Chain 0 twice (by two ranks, or twice by the only rank), the others never. */
    int dup[2] = {0, 0};
    int n_local = size == 1 ? 2 : rank < 2 ? 1 : 0;
    assert_int_equal(sgld_samples_append_chains(s, n_local, n_local ? dup : NULL, 2,
                                                n_local ? data : NULL),
                     SGLD_ERR_ARG);
    snprintf(want, sizeof want,
             "%s: append: chain 0 is written by 2 ranks (each chain must be written by "
             "exactly one rank)",
             path);
    assert_string_equal(sgld_error_message(), want);

    /* A chain out of range on the last rank only. */
    int last = rank == size - 1, c = last ? 99 : -1;
    assert_int_equal(sgld_samples_append(s, c, 2, last ? ptrs : NULL), SGLD_ERR_ARG);
    snprintf(want, sizeof want, "%s: append: chain 99 out of range 0..2", path);
    assert_string_equal(sgld_error_message(), want);

    /* Missing data for a chain. */
    assert_int_equal(sgld_samples_append(s, rank == 0 ? 0 : -1, 2, NULL), SGLD_ERR_ARG);

    /* Different n_draws on different ranks (at 1 rank: a negative count). */
    assert_int_equal(append_block(s, 0, 0, size == 1 ? -1 : rank == 0 ? 2 : 3), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_n_draws(s), 0);

    /* The handle is still usable after refused appends. */
    assert_int_equal(append_block(s, 4, 0, 2), SGLD_OK);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
    int gens[MAX_DRAWS] = {4, 4};
    check_values(path, 2, gens);
}

static void test_reader_errors(void **state)
{
    (void)state;
    sgld_samples_reader *r = NULL;
    char want[700];
    const char *missing = tmp_path("missing.h5");
    assert_int_equal(sgld_samples_open(missing, &r), SGLD_ERR_IO);
    assert_null(r);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", missing);
    assert_string_equal(sgld_error_message(), want);

    char text[600];
    snprintf(text, sizeof text, "%s/text-%d.txt", sgld_test_tmpdir(), sgld_test_rank());
    FILE *f = fopen(text, "w");
    assert_non_null(f);
    fputs("chain,draw,w\n0,0,1.5\n", f);
    fclose(f);
    assert_int_equal(sgld_samples_open(text, &r), SGLD_ERR_IO);
    snprintf(want, sizeof want, "%s: not an HDF5 file", text);
    assert_string_equal(sgld_error_message(), want);

    const char *path = tmp_path("reader.h5");
    sgld_samples *s = create_ok(path, 0);
    assert_int_equal(append_block(s, 0, 0, 2), SGLD_OK);
    const int64_t held_out[3] = {3, 7, 40};
    assert_int_equal(sgld_samples_index_coord(s, "test_row", 3, held_out), SGLD_OK);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
    assert_int_equal(sgld_samples_open(path, &r), SGLD_OK);
    int n;
    char **names;
    assert_int_equal(sgld_samples_list(r, "posterior_predictive", &n, &names), SGLD_ERR_ARG);
    snprintf(want, sizeof want, "%s: no group '/posterior_predictive'", path);
    assert_string_equal(sgld_error_message(), want);
    int n_dims;
    int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2];
    assert_int_equal(sgld_samples_shape(r, "posterior", "theta", &n_dims, dims), SGLD_ERR_ARG);
    snprintf(want, sizeof want, "%s: no variable 'theta' in group '/posterior'", path);
    assert_string_equal(sgld_error_message(), want);
    assert_int_equal(sgld_samples_shape(r, "posterior", "draw", &n_dims, dims), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_shape(r, "sample_stats", "w", &n_dims, dims), SGLD_ERR_ARG);
    int64_t n_rows, *rows = NULL;
    assert_int_equal(sgld_samples_read_coord(r, "test_row", &n_rows, &rows), SGLD_OK);
    assert_int_equal(n_rows, 3);
    assert_memory_equal(rows, held_out, sizeof held_out);
    sgld_free(rows);
    assert_int_equal(sgld_samples_read_coord(r, "train_row", &n_rows, &rows), SGLD_ERR_ARG);
    snprintf(want, sizeof want, "%s: no 1-D coordinate 'train_row'", path);
    assert_string_equal(sgld_error_message(), want);
    assert_int_equal(sgld_samples_read_coord(r, "posterior/w", &n_rows, &rows), SGLD_ERR_ARG);
    assert_true(n_rows == 0 && rows == NULL);
    double out[12 * N_CHAINS * 2];
    assert_int_equal(sgld_samples_read_elems(r, "posterior", "w", 10, 3, out), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_read_elems(r, "posterior", "w", -1, 1, out), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_read_elems(r, "nope", "w", 0, 1, out), SGLD_ERR_ARG);
    sgld_samples_reader_close(&r);
    sgld_samples_reader_close(&r); /* NULL-safe */
}

/* Writes /posterior/x [2 chains, 7 draws, 5 elements] of 4-byte floats, chunked [1, 3, 5] so that
 * the last chunk row of a chain is partial: a rank-local file (serial HDF5). */
static void write_float_3d(const char *path)
{
    hsize_t dims[3] = {2, 7, 5}, chunk[3] = {1, 3, 5};
    float x[2 * 7 * 5];
    for (int c = 0; c < 2; c++)
        for (int t = 0; t < 7; t++)
            for (int e = 0; e < 5; e++) x[(c * 7 + t) * 5 + e] = (float)value(0, 0, c, t, e);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "posterior", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    hid_t d = H5Dcreate2(g, "x", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Gclose(g), H5Fclose(f);
}

/* The block reader gives the bits sgld_samples_read_elems gives, for 4- and 8-byte floats and
 * blocks that start and end anywhere; it declines what is not a 3-D float variable. */
static void test_block_reader(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/block-%d.h5", sgld_test_tmpdir(), sgld_test_rank());
    write_float_3d(path);
    const char *path64 = tmp_path("block64.h5");
    sgld_samples *s = create_ok(path64, 1);
    assert_int_equal(append_block(s, 0, 0, 5), SGLD_OK);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
    const char *files[2] = {path, path64}, *vars[2] = {"x", "v"};
    static const int64_t ranges[][2] = {{0, 5}, {1, 3}, {4, 1}, {2, 1}, {0, 1}};
    double want[5 * 14], got[5 * 14];
    for (int k = 0; k < 2; k++) {
        sgld_samples_reader *r = NULL;
        assert_int_equal(sgld_samples_open(files[k], &r), SGLD_OK);
        sgld_samples_block_reader *b = sgld_samples_block_open(r, "/posterior", vars[k], -1);
        assert_non_null(b);
        for (size_t q = 0; q < sizeof ranges / sizeof ranges[0]; q++) {
            int64_t e0 = ranges[q][0], n = ranges[q][1];
            if (k == 1 && e0 + n > 3) continue;
            assert_int_equal(sgld_samples_read_elems(r, "posterior", vars[k], e0, n, want), SGLD_OK);
            memset(got, 0, sizeof got);
            assert_int_equal(sgld_samples_block_read(b, e0, n, got), SGLD_OK);
            int64_t len = n * (k == 0 ? 14 : N_CHAINS * 5);
            assert_memory_equal(got, want, (size_t)len * sizeof *got);
        }
        sgld_samples_block_close(&b);
        assert_null(b);
        sgld_samples_block_close(&b); /* NULL-safe */
        if (k == 0) { /* a larger block than the staging buffer holds: grown, or out of memory */
            b = sgld_samples_block_open(r, "posterior", "x", -1);
            assert_int_equal(sgld_samples_block_read(b, 0, 1, got), SGLD_OK);
            sgld_alloc_fail_after(1);
            assert_int_equal(sgld_samples_block_read(b, 0, 5, got), SGLD_ERR_NOMEM);
            sgld_alloc_fail_after(0);
            sgld_samples_block_close(&b);
        } else { /* not 3-D (w is 4-D, b 2-D), not there: declined */
            assert_null(sgld_samples_block_open(r, "posterior", "w", -1));
            assert_null(sgld_samples_block_open(r, "posterior", "b", -1));
            assert_null(sgld_samples_block_open(r, "posterior", "nope", -1));
        }
        sgld_samples_reader_close(&r);
    }
    /* The first 3 of the 5 draws: both readers give read_elems' values of those draws, and
     * more draws than the variable holds are refused (block reader declines, read fails). */
    sgld_samples_reader *r = NULL;
    assert_int_equal(sgld_samples_open(path64, &r), SGLD_OK);
    double all[3 * N_CHAINS * 5];
    assert_int_equal(sgld_samples_read_elems(r, "posterior", "v", 0, 3, all), SGLD_OK);
    assert_int_equal(sgld_samples_read_elems_draws(r, "posterior", "v", 0, 3, 3, want), SGLD_OK);
    for (int e = 0; e < 3; e++)
        for (int c = 0; c < N_CHAINS; c++)
            assert_memory_equal(want + (e * N_CHAINS + c) * 3, all + (e * N_CHAINS + c) * 5, 3 * sizeof *all);
    sgld_samples_block_reader *b = sgld_samples_block_open(r, "posterior", "v", 3);
    assert_non_null(b);
    memset(got, 0, sizeof got);
    assert_int_equal(sgld_samples_block_read(b, 0, 3, got), SGLD_OK);
    assert_memory_equal(got, want, 3 * N_CHAINS * 3 * sizeof *got);
    sgld_samples_block_close(&b);
    assert_null(sgld_samples_block_open(r, "posterior", "v", 6));
    assert_int_equal(sgld_samples_read_elems_draws(r, "posterior", "v", 0, 1, 6, want), SGLD_ERR_ARG);
    assert_non_null(strstr(sgld_error_message(), "6 draws asked, the variable holds 5"));
    assert_int_equal(sgld_samples_read_elems(r, "posterior", "b", 0, 1, all), SGLD_OK);
    assert_int_equal(sgld_samples_read_elems_draws(r, "posterior", "b", 0, 1, 2, want), SGLD_OK);
    for (int c = 0; c < N_CHAINS; c++) assert_memory_equal(want + c * 2, all + c * 5, 2 * sizeof *all);
    sgld_samples_reader_close(&r);
}

/* Labelled dimensions (netCDF char coordinates, UTF-8), an SGLD_BOOL variable (int8 with
 * dtype = "bool") and sgld_samples_observed written by every rank's block of rows, read back
 * with serial HDF5; observed's errors (a group that exists, rows out of range on one rank). */
static void test_labels_bool_observed(void **state)
{
    (void)state;
    const char *path = tmp_path("arviz.h5");
    static const char *const names[3] = {"age", "blood pressure", "gl\xc3\xbc" "cose"};
    sgld_var_spec v[2] = {
        {.group = "posterior", .name = "w", .n_dims = 1, .dims = {3}, .dim_names = {"feature"},
         .dtype = SGLD_F32, .dim_labels = {names}},
        {.group = "sample_stats", .name = "diverging", .dtype = SGLD_BOOL},
    };
    sgld_samples *s = NULL;
    assert_int_equal(sgld_samples_create(MPI_COMM_WORLD, path, 0, 1, 2, v, 4, &s), SGLD_OK);
    float w[2 * 3] = {1, 2, 3, 4, 5, 6};
    int8_t flag[2] = {0, 1};
    const void *data[2] = {w, flag};
    assert_int_equal(sgld_samples_append(s, sgld_test_rank() == 0 ? 0 : -1, 2, sgld_test_rank() == 0 ? data : NULL),
                     SGLD_OK);
    const int64_t N = 10, r = sgld_test_rank(), P = sgld_test_size();
    const int64_t b0 = N * r / P, b1 = N * (r + 1) / P;
    float y[10];
    for (int64_t i = b0; i < b1; i++) y[i - b0] = 0.5f * (float)i - 1.0f;
    assert_int_equal(sgld_samples_observed(s, "observed_data", "y", "obs", N, b0, b1 - b0, y, 0), SGLD_OK);
    assert_int_equal(sgld_samples_observed(s, "observed_data", "y", "obs", N, b0, b1 - b0, y, 0), SGLD_ERR_ARG);
    char want[700];
    snprintf(want, sizeof want, "%s: group 'observed_data' exists", path);
    assert_string_equal(sgld_error_message(), want);
    const int last = r == P - 1;
    assert_int_equal(sgld_samples_observed(s, "obs2", "y", "obs", N, last ? N : b0, b1 - b0, y, 0), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_observed(s, "posterior", "y", "obs", N, b0, b1 - b0, y, 0), SGLD_ERR_ARG);
    assert_int_equal(sgld_samples_close(&s), SGLD_OK);
    MPI_Barrier(MPI_COMM_WORLD);

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    /* netCDF's char coordinate [3, width 14] with NUL padding, its placeholder dimension
     * string14 and the numbers that tie them: chain 0, draw 1, feature 2, string14 3. */
    char got[3][14];
    hid_t d = H5Dopen2(f, "/posterior/feature", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d), ty = H5Dget_type(d);
    hsize_t shape[2] = {0, 0};
    assert_true(d >= 0 && H5Sget_simple_extent_dims(sp, shape, NULL) == 2 && shape[0] == 3 && shape[1] == 14);
    assert_true(H5Tget_class(ty) == H5T_STRING && H5Tget_size(ty) == 1);
    assert_true(H5Dread(d, H5T_C_S1, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
    for (int k = 0; k < 3; k++) {
        assert_memory_equal(got[k], names[k], strlen(names[k]));
        for (size_t i = strlen(names[k]); i < 14; i++) assert_int_equal(got[k][i], 0);
    }
    int32_t ids[2] = {-1, -1}, id = -1;
    hid_t a = H5Aopen(d, "_Netcdf4Coordinates", H5P_DEFAULT);
    assert_true(a >= 0 && H5Aread(a, H5T_NATIVE_INT32, ids) >= 0 && ids[0] == 2 && ids[1] == 3);
    H5Aclose(a);
    H5Tclose(ty);
    H5Sclose(sp);
    H5Dclose(d);
    d = H5Dopen2(f, "/posterior/string14", H5P_DEFAULT);
    a = H5Aopen(d, "_Netcdf4Dimid", H5P_DEFAULT);
    assert_true(a >= 0 && H5Aread(a, H5T_NATIVE_INT32, &id) >= 0 && id == 3);
    assert_true(H5DSis_scale(d) > 0);
    H5Aclose(a);
    H5Dclose(d);
    int8_t fl[2] = {7, 7};
    d = H5Dopen2(f, "/sample_stats/diverging", H5P_DEFAULT);
    assert_true(d >= 0 && H5Dread(d, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, fl) >= 0);
    assert_true(fl[0] == 0 && fl[1] == 1);
    a = H5Aopen(d, "dtype", H5P_DEFAULT);
    char text[8] = "";
    hid_t at = H5Aget_type(a);
    assert_true(a >= 0 && H5Aread(a, at, text) >= 0);
    assert_string_equal(text, "bool");
    H5Tclose(at);
    H5Aclose(a);
    H5Dclose(d);
    double yo[10];
    int64_t obs[10];
    d = H5Dopen2(f, "/observed_data/y", H5P_DEFAULT);
    assert_true(d >= 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, yo) >= 0);
    H5Dclose(d);
    d = H5Dopen2(f, "/observed_data/obs", H5P_DEFAULT);
    assert_true(d >= 0 && H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, obs) >= 0);
    H5Dclose(d);
    for (int i = 0; i < 10; i++) assert_true(yo[i] == 0.5 * i - 1.0 && obs[i] == i);
    assert_int_equal(H5Lexists(f, "obs2", H5P_DEFAULT), 0);
    H5Fclose(f);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_back),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_existing_file_and_force),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_failed_create_leaves_no_file),
        cmocka_unit_test(test_failed_labels_leave_no_file),
        cmocka_unit_test(test_append_nomem),
        cmocka_unit_test(test_append_errors),
        cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_block_reader),
        cmocka_unit_test(test_labels_bool_observed),
    };
    return sgld_test_run(argc, argv, "samples", tests, sizeof tests / sizeof tests[0]);
}
