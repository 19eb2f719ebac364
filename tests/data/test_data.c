/* test_data.c - the data module on one rank: built-in sets (shape and a statistic with a
 * tolerance from theory), the shipped CSV sets, CSV and HDF5 parsing with every error message,
 * the train/test split, a separate test file, standardization and allocation failures. */
#include "data_test_util.h"

#include <math.h>
#include <stdlib.h>

#include "sgld/status.h"

/* Loads with comm = MPI_COMM_SELF, one shard. */
static sgld_status load(const sgld_data_options *o, sgld_dataset **tr, sgld_dataset **te)
{
    return sgld_data_load(MPI_COMM_SELF, 0, 1, o, tr, te);
}

/* Asserts that loading fails with status st and exactly the message msg. */
static void expect_error(const sgld_data_options *o, sgld_status st, const char *msg)
{
    sgld_dataset *tr = (sgld_dataset *)1, *te = (sgld_dataset *)1;
    sgld_error_clear();
    sgld_status got = load(o, &tr, &te);
    if (got != st || strcmp(sgld_error_message(), msg) != 0)
        print_error("expected %s '%s'\n     got %s '%s'\n", sgld_strerror(st), msg,
                    sgld_strerror(got), sgld_error_message());
    assert_int_equal(got, st);
    assert_string_equal(sgld_error_message(), msg);
    assert_null(tr);
    assert_null(te);
}

static void expect_csv_error(const char *text, int classification, int n_classes,
                             sgld_status st, const char *fmt)
{
    const char *path = write_text("err.csv", text);
    sgld_data_options o = opts(path);
    o.classification = classification;
    o.n_classes = n_classes;
    char msg[1024];
    snprintf(msg, sizeof msg, fmt, path);
    expect_error(&o, st, msg);
}

/* ---- built-in sets ---- */

static sgld_dataset *load_ok(const sgld_data_options *o)
{
    sgld_dataset *tr = NULL, *te = NULL;
    sgld_status st = load(o, &tr, &te);
    if (st != SGLD_OK) print_error("%s\n", sgld_error_message());
    assert_int_equal(st, SGLD_OK);
    assert_non_null(tr);
    assert_null(te);
    return tr;
}

/* OLS of y on x: slope within 4 standard errors of 0.9, intercept within 4 se of -0.7,
 * residual sd within 4 sd(s) ~ 0.5 / sqrt(2 n) of 0.5; x inside (-1.5, 1.5). */
static void test_linreg(void **state)
{
    (void)state;
    sgld_data_options o = opts("synthetic:linreg");
    sgld_dataset *ds = load_ok(&o);
    assert_int_equal(ds->n_total, 1000);
    assert_int_equal(ds->n_local, 1000);
    assert_int_equal(ds->row_begin, 0);
    assert_int_equal(ds->d, 1);
    assert_int_equal(ds->n_classes, 0);
    assert_string_equal(ds->source, "synthetic:linreg");
    assert_string_equal(ds->feature_names[0], "x0");
    assert_string_equal(ds->target_name, "y");
    assert_null(ds->mean);
    int n = (int)ds->n_local;
    double mx = 0, my = 0;
    for (int i = 0; i < n; i++) {
        assert_true(ds->X[i] > -1.5f && ds->X[i] < 1.5f);
        mx += ds->X[i];
        my += ds->y[i];
    }
    mx /= n;
    my /= n;
    double sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        sxx += (ds->X[i] - mx) * (ds->X[i] - mx);
        sxy += (ds->X[i] - mx) * (ds->y[i] - my);
    }
    double b = sxy / sxx, a = my - b * mx, rss = 0;
    for (int i = 0; i < n; i++) rss += pow(ds->y[i] - a - b * ds->X[i], 2);
    double s = sqrt(rss / (n - 2));
    double se_b = s / sqrt(sxx), se_a = s * sqrt(1.0 / n + mx * mx / sxx);
    assert_true(fabs(b - 0.9) < 4 * se_b);
    assert_true(fabs(a + 0.7) < 4 * se_a);
    assert_true(fabs(s - 0.5) < 4 * 0.5 / sqrt(2.0 * n));
    /* U(-1.5, 1.5): variance 0.75, so the mean is within 4 sqrt(0.75 / n) of 0. */
    assert_true(fabs(mx) < 4 * sqrt(0.75 / n));
    sgld_data_destroy(&ds);
    assert_null(ds);
}

/* Sample correlations within 4 se ~ (1 - rho^2) / sqrt(n) of 0.8 (lag 1) and 0.64 (lag 2);
 * variances within 4 sqrt(2 / n) of 1; mean of y within 4 sd(y) / sqrt(n) of 0.3. */
static void test_linreg3(void **state)
{
    (void)state;
    sgld_data_options o = opts("synthetic:linreg3");
    sgld_dataset *ds = load_ok(&o);
    assert_int_equal(ds->n_total, 500);
    assert_int_equal(ds->d, 3);
    assert_int_equal(ds->n_classes, 0);
    int n = (int)ds->n_local;
    double m[3] = {0}, S[3][3] = {{0}}, my = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 3; j++) m[j] += ds->X[3 * i + j];
        my += ds->y[i];
    }
    for (int j = 0; j < 3; j++) m[j] /= n;
    my /= n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++)
                S[j][k] += (ds->X[3 * i + j] - m[j]) * (ds->X[3 * i + k] - m[k]) / (n - 1);
    double r01 = S[0][1] / sqrt(S[0][0] * S[1][1]);
    double r12 = S[1][2] / sqrt(S[1][1] * S[2][2]);
    double r02 = S[0][2] / sqrt(S[0][0] * S[2][2]);
    assert_true(fabs(r01 - 0.8) < 4 * (1 - 0.64) / sqrt(n));
    assert_true(fabs(r12 - 0.8) < 4 * (1 - 0.64) / sqrt(n));
    assert_true(fabs(r02 - 0.64) < 4 * (1 - 0.64 * 0.64) / sqrt(n));
    for (int j = 0; j < 3; j++) assert_true(fabs(S[j][j] - 1) < 4 * sqrt(2.0 / n));
    const double beta[3] = {1, -0.5, 0.25};
    double var_y = 0.25;
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 3; k++) var_y += beta[j] * beta[k] * pow(0.8, abs(j - k));
    assert_true(fabs(my - 0.3) < 4 * sqrt(var_y / n));
    sgld_data_destroy(&ds);
}

/* sum (y - p(x)) has variance sum p (1 - p): within 4 of its sd of 0; x ~ N(0, I). */
static void test_logreg(void **state)
{
    (void)state;
    sgld_data_options o = opts("synthetic:logreg");
    o.classification = 1;
    o.n_classes = 2;
    sgld_dataset *ds = load_ok(&o);
    assert_int_equal(ds->n_total, 1000);
    assert_int_equal(ds->d, 2);
    assert_int_equal(ds->n_classes, 2);
    assert_string_equal(ds->class_names[0], "0");
    assert_string_equal(ds->class_names[1], "1");
    double r = 0, v = 0, m0 = 0, m1 = 0;
    int n = (int)ds->n_local, ones = 0;
    for (int i = 0; i < n; i++) {
        const float *x = ds->X + 2 * i;
        double p = 1 / (1 + exp(-(1.5 * x[0] - x[1] + 0.5)));
        assert_true(ds->y[i] == 0.0f || ds->y[i] == 1.0f);
        ones += ds->y[i] == 1.0f;
        r += ds->y[i] - p;
        v += p * (1 - p);
        m0 += x[0];
        m1 += x[1];
    }
    assert_true(fabs(r) < 4 * sqrt(v));
    assert_true(ones > 0 && ones < n);
    assert_true(fabs(m0 / n) < 4 / sqrt(n) && fabs(m1 / n) < 4 / sqrt(n));
    sgld_data_destroy(&ds);
}

/* Exactly 200 rows per class; class means within 4 / sqrt(200) of the triangle's corners. */
static void test_softmax(void **state)
{
    (void)state;
    sgld_data_options o = opts("synthetic:softmax");
    o.classification = 1; /* n_classes inferred */
    sgld_dataset *ds = load_ok(&o);
    assert_int_equal(ds->n_total, 600);
    assert_int_equal(ds->d, 2);
    assert_int_equal(ds->n_classes, 3);
    assert_string_equal(ds->class_names[2], "2");
    int count[3] = {0};
    double sum[3][2] = {{0}};
    for (int i = 0; i < 600; i++) {
        int k = (int)ds->y[i];
        assert_true(k >= 0 && k < 3 && ds->y[i] == (float)k);
        count[k]++;
        sum[k][0] += ds->X[2 * i];
        sum[k][1] += ds->X[2 * i + 1];
    }
    const double pi = 3.14159265358979323846;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(count[k], 200);
        double t = pi / 2 + 2 * pi * k / 3;
        assert_true(fabs(sum[k][0] / 200 - 2 * cos(t)) < 4 / sqrt(200.0));
        assert_true(fabs(sum[k][1] / 200 - 2 * sin(t)) < 4 / sqrt(200.0));
    }
    sgld_data_destroy(&ds);
}

/* Same data every time and whatever the seed; a target type that does not match fails. */
static void test_synthetic_fixed_and_checked(void **state)
{
    (void)state;
    sgld_data_options o = opts("synthetic:linreg3");
    sgld_dataset *a = load_ok(&o);
    o.seed = 99;
    sgld_dataset *b = load_ok(&o);
    assert_memory_equal(a->X, b->X, 500 * 3 * sizeof(float));
    assert_memory_equal(a->y, b->y, 500 * sizeof(float));
    sgld_data_destroy(&a);
    sgld_data_destroy(&b);
    o = opts("synthetic:foo");
    expect_error(&o, SGLD_ERR_ARG,
                 "unknown built-in data set 'synthetic:foo' (valid: synthetic:linreg, "
                 "synthetic:linreg3, synthetic:logreg, synthetic:softmax)");
    o = opts("synthetic:logreg");
    expect_error(&o, SGLD_ERR_ARG,
                 "synthetic:logreg has a class target, but a real-valued target was asked for");
    o.classification = 1;
    o.n_classes = 3;
    expect_error(&o, SGLD_ERR_ARG, "synthetic:logreg has 2 classes, but n_classes = 3");
}

/* ---- the shipped CSV sets ---- */

static void test_pima(void **state)
{
    (void)state;
    sgld_data_options o = opts(sgld_test_source_path("tools/data/pima.csv"));
    o.classification = 1;
    o.n_classes = 2;
    sgld_dataset *ds = load_ok(&o);
    assert_int_equal(ds->n_total, 768);
    assert_int_equal(ds->n_local, 768);
    assert_int_equal(ds->d, 8);
    assert_int_equal(ds->n_classes, 2);
    assert_string_equal(ds->class_names[0], "neg");
    assert_string_equal(ds->class_names[1], "pos");
    assert_string_equal(ds->feature_names[1], "glucose");
    assert_string_equal(ds->feature_names[7], "age");
    assert_string_equal(ds->target_name, "diabetes");
    /* awk -F, 'NR>1{c[$NF]++}' pima.csv: 500 "neg", 268 "pos". */
    int pos = 0;
    for (int i = 0; i < 768; i++) pos += ds->y[i] == 1.0f;
    assert_int_equal(pos, 268);
    /* Row 1: 6,148,72,35,0,33.6,0.627,50,"pos"; row 2 ends ...,31,"neg". */
    const float row0[8] = {6, 148, 72, 35, 0, 33.6f, 0.627f, 50};
    assert_memory_equal(ds->X, row0, sizeof row0);
    assert_true(ds->y[0] == 1.0f && ds->y[1] == 0.0f);
    sgld_data_destroy(&ds);
}

static void test_boston(void **state)
{
    (void)state;
    sgld_data_options o = opts(sgld_test_source_path("tools/data/boston.csv"));
    sgld_dataset *ds = load_ok(&o);
    assert_int_equal(ds->n_total, 506);
    assert_int_equal(ds->d, 13);
    assert_int_equal(ds->n_classes, 0);
    assert_null(ds->class_names);
    assert_string_equal(ds->feature_names[3], "chas");
    assert_string_equal(ds->target_name, "medv");
    /* 0.00632,18,2.31,"0",0.538,6.575,65.2,4.09,1,296,15.3,396.9,4.98,24 */
    assert_true(ds->X[0] == 0.00632f && ds->X[3] == 0.0f && ds->X[12] == 4.98f);
    assert_true(ds->y[0] == 24.0f && ds->y[1] == 21.6f);
    sgld_data_destroy(&ds);
}

/* ---- CSV format ---- */

/* Quotes (with "" and commas inside), spaces, CRLF, blank lines, a BOM and no final newline. */
static void test_csv_format(void **state)
{
    (void)state;
    const char *path = write_text("fmt.csv",
                                  "\xef\xbb\xbf\"a, b\",\"c\"\"\",label\r\n"
                                  "\r\n"
                                  "1.5 , \"-2\",\"x,y\"\r\n"
                                  "   \r\n"
                                  "\"3e2\",4,b\r\n"
                                  "5,6,\"x,y\"");
    sgld_data_options o = opts(path);
    o.classification = 1;
    sgld_dataset *ds = load_ok(&o);
    assert_int_equal(ds->n_total, 3);
    assert_int_equal(ds->d, 2);
    assert_string_equal(ds->feature_names[0], "a, b");
    assert_string_equal(ds->feature_names[1], "c\"");
    assert_string_equal(ds->target_name, "label");
    assert_int_equal(ds->n_classes, 2);
    assert_string_equal(ds->class_names[0], "b");
    assert_string_equal(ds->class_names[1], "x,y");
    const float X[6] = {1.5f, -2, 300, 4, 5, 6}, y[3] = {1, 0, 1};
    assert_memory_equal(ds->X, X, sizeof X);
    assert_memory_equal(ds->y, y, sizeof y);
    sgld_data_destroy(&ds);

    /* Numeric labels: K = largest + 1, names "0".."K-1"; LF with a final newline. */
    path = write_text("num.csv", "x,y\n1,2\n2,0\n3,1\n");
    o = opts(path);
    o.classification = 1;
    ds = load_ok(&o);
    assert_int_equal(ds->n_classes, 3);
    assert_string_equal(ds->class_names[1], "1");
    assert_true(ds->y[0] == 2.0f && ds->y[1] == 0.0f);
    sgld_data_destroy(&ds);
}

static void test_csv_errors(void **state)
{
    (void)state;
    expect_csv_error("a,b,y\n1,2,3\n4,abc,5\n", 0, 0, SGLD_ERR_PARSE,
                     "%s:3: column 'b': 'abc' is not a number");
    expect_csv_error("a,b,y\n1,2,3\n4,,5\n", 0, 0, SGLD_ERR_PARSE,
                     "%s:3: column 'b': '' is not a number (missing values (NA) are not supported)");
    /* missing values and other separators are named (only commas separate fields) */
    expect_csv_error("a,b,y\n1,2,3\n4,NA,5\n", 0, 0, SGLD_ERR_PARSE,
                     "%s:3: column 'b': 'NA' is not a number (missing values (NA) are not supported)");
    expect_csv_error("a,b,y\n1,2,3\nn/a,2,5\n", 0, 0, SGLD_ERR_PARSE,
                     "%s:3: column 'a': 'n/a' is not a number (missing values (NA) are not supported)");
    expect_csv_error("a;b;y\n1;2;3\n", 0, 0, SGLD_ERR_PARSE,
                     "%s:1: need at least one feature column and a target column, got 1 column(s) "
                     "(it looks ;-separated: only comma-separated CSV is read)");
    expect_csv_error("a\tb\ty\n1\t2\t3\n", 0, 0, SGLD_ERR_PARSE,
                     "%s:1: need at least one feature column and a target column, got 1 column(s) "
                     "(it looks tab-separated: only comma-separated CSV is read)");
    expect_csv_error("a,b,y\n1,2,3\n1;2;3\n", 0, 0, SGLD_ERR_PARSE,
                     "%s:3: expected 3 columns, got 1 (it looks ;-separated: only comma-separated CSV is read)");
    expect_csv_error("a,b,y\n1,2,3\n7\n", 0, 0, SGLD_ERR_PARSE, "%s:3: expected 3 columns, got 1");
    expect_csv_error("c1,c2,c3,c4,c5,c6,c7,c8,y\n1,2,3,4,5,6,7,8,9\n1,2,3,4,5,6,7,8\n", 0, 0,
                     SGLD_ERR_PARSE, "%s:3: expected 9 columns, got 8");
    expect_csv_error("pregnant,glucose,diabetes\n1,2,neg\n1,nan,pos\n", 1, 2, SGLD_ERR_PARSE,
                     "%s:3: column 'glucose': NaN/Inf not allowed ('nan')");
    expect_csv_error("a,y\n-Inf,1\n", 0, 0, SGLD_ERR_PARSE,
                     "%s:2: column 'a': NaN/Inf not allowed ('-Inf')");
    expect_csv_error("a,y\n1,1e39\n", 0, 0, SGLD_ERR_PARSE,
                     "%s:2: column 'y': '1e39' is outside the float range");
    expect_csv_error("a,y\n1,pos\n", 0, 0, SGLD_ERR_PARSE, "%s:2: column 'y': 'pos' is not a number");
    /* Line numbers are physical: blank lines and CRLF count as lines. */
    expect_csv_error("a,y\r\n\r\n1,2\r\n\r\n3,x\r\n", 0, 0, SGLD_ERR_PARSE,
                     "%s:5: column 'y': 'x' is not a number");
    /* Class labels. */
    expect_csv_error("a,y\n1,0\n2,3\n", 1, 2, SGLD_ERR_ARG, "%s:3: class label 3 out of range 0..1");
    expect_csv_error("a,y\n1,0\n2,-1\n3,1\n", 1, 2, SGLD_ERR_ARG,
                     "%s:3: class label -1 out of range 0..1");
    expect_csv_error("a,y\n1,0\n2,-1\n", 1, 0, SGLD_ERR_ARG,
                     "%s:3: class label -1 out of range 0..1023");
    expect_csv_error("a,y\n1,0\n2,0.5\n", 1, 2, SGLD_ERR_ARG,
                     "%s:3: class label '0.5' is not an integer");
    expect_csv_error("a,y\n1,0\n2,pos\n", 1, 2, SGLD_ERR_PARSE,
                     "%s:3: column 'y': 'pos' is not a number");
    expect_csv_error("a,y\n1,a\n2,b\n3,c\n", 1, 2, SGLD_ERR_ARG,
                     "%s:4: more than 2 class labels ('c' is new)");
    expect_csv_error("a,y\n1,a\n2,b\n", 1, 3, SGLD_ERR_ARG,
                     "%s: found 2 class labels (a, b) but n_classes = 3");
    expect_csv_error("a,y\n1,pos\n2,pos\n", 1, 0, SGLD_ERR_ARG,
                     "%s: only one class label (pos) found; classification needs at least 2");
    expect_csv_error("a,y\n1,0\n2,0\n", 1, 0, SGLD_ERR_ARG,
                     "%s: only one class label (0) found; classification needs at least 2");
    /* Shape and syntax. */
    expect_csv_error("", 0, 0, SGLD_ERR_PARSE, "%s: no data rows");
    expect_csv_error("a,b,y\n", 0, 0, SGLD_ERR_PARSE, "%s: no data rows");
    expect_csv_error("a,b,y\r\n\r\n  \r\n", 0, 0, SGLD_ERR_PARSE, "%s: no data rows");
    expect_csv_error("y\n1\n", 0, 0, SGLD_ERR_PARSE,
                     "%s:1: need at least one feature column and a target column, got 1 column(s)");
    expect_csv_error("a,y\n\"1,2\n", 0, 0, SGLD_ERR_PARSE, "%s:2: unterminated quoted field");
    expect_csv_error("a,y\n\"1\"x,2\n", 0, 0, SGLD_ERR_PARSE,
                     "%s:2: unexpected text after a quoted field");
}

static void test_io_and_option_errors(void **state)
{
    (void)state;
    const char *missing = tmp_path("no-such-file.csv");
    sgld_data_options o = opts(missing);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s: cannot open: No such file or directory", missing);
    expect_error(&o, SGLD_ERR_IO, msg);
    o = opts(tmp_path("no-such-file.h5"));
    snprintf(msg, sizeof msg, "%s: cannot open: No such file or directory", o.path);
    expect_error(&o, SGLD_ERR_IO, msg);

    const char *path = write_text("ok.csv", "a,y\n1,2\n2,3\n3,4\n4,5\n5,6\n6,7\n7,8\n8,9\n9,1\n10,1\n");
    o = opts(path);
    o.test_fraction = 1;
    expect_error(&o, SGLD_ERR_ARG, "test_fraction 1 is outside [0, 1)");
    o.test_fraction = -0.1;
    expect_error(&o, SGLD_ERR_ARG, "test_fraction -0.1 is outside [0, 1)");
    o.test_fraction = 0.01;
    snprintf(msg, sizeof msg, "%s: test_fraction 0.01 of 10 rows leaves no test rows", path);
    expect_error(&o, SGLD_ERR_ARG, msg);
    o.test_fraction = 0.2;
    o.test_path = path;
    snprintf(msg, sizeof msg, "give either a test file (%s) or a test_fraction (0.2), not both", path);
    expect_error(&o, SGLD_ERR_ARG, msg);
    o = opts(path);
    o.n_classes = 2;
    expect_error(&o, SGLD_ERR_ARG, "n_classes = 2 given for a real-valued target");
    o.classification = 1;
    o.n_classes = 1;
    expect_error(&o, SGLD_ERR_ARG, "n_classes = 1: a class target needs at least 2 classes");
    o = opts(NULL);
    expect_error(&o, SGLD_ERR_ARG, "no data path given");
    o = opts(path);
    sgld_dataset *tr = NULL;
    assert_int_equal(sgld_data_load(MPI_COMM_SELF, 1, 1, &o, &tr, NULL), SGLD_ERR_ARG);
    assert_string_equal(sgld_error_message(), "shard 1 of 1 is out of range");
    assert_int_equal(sgld_data_load(MPI_COMM_SELF, 0, 11, &o, &tr, NULL), SGLD_ERR_ARG);
    snprintf(msg, sizeof msg, "%s: 10 training rows cannot fill 11 shards", path);
    assert_string_equal(sgld_error_message(), msg);
    assert_null(tr);
}

/* ---- HDF5 ---- */

static void test_hdf5(void **state)
{
    (void)state;
    double X[5 * 3];
    int y[5] = {1, 0, 1, 1, 0};
    for (int i = 0; i < 15; i++) X[i] = 0.25 * i - 1;
    /* A name without .h5: recognized by the signature. */
    const char *path = write_h5("data.bin", 5, 3, X, y);
    sgld_data_options o = opts(path);
    o.classification = 1;
    sgld_dataset *ds = load_ok(&o);
    assert_int_equal(ds->n_total, 5);
    assert_int_equal(ds->d, 3);
    assert_int_equal(ds->n_classes, 2);
    assert_string_equal(ds->feature_names[2], "x2");
    assert_string_equal(ds->target_name, "y");
    for (int i = 0; i < 15; i++) assert_true(ds->X[i] == (float)X[i]);
    for (int i = 0; i < 5; i++) assert_true(ds->y[i] == (float)y[i]);
    sgld_data_destroy(&ds);

    /* Real target from int /y, and a split: 2 test rows, 3 training rows, all accounted. */
    o = opts(path);
    o.test_fraction = 0.4;
    sgld_dataset *te = NULL;
    assert_int_equal(load(&o, &ds, &te), SGLD_OK);
    assert_int_equal(ds->n_total, 3);
    assert_int_equal(te->n_total, 2);
    int seen[5] = {0};
    for (int i = 0; i < 3; i++) seen[(int)lround((ds->X[3 * i] + 1) / 0.75)]++;
    for (int i = 0; i < 2; i++) seen[(int)lround((te->X[3 * i] + 1) / 0.75)]++;
    for (int i = 0; i < 5; i++) assert_int_equal(seen[i], 1);
    sgld_data_destroy(&ds);
    sgld_data_destroy(&te);
}

static void expect_h5_error(const char *name, sgld_status st, const char *fmt, int classification)
{
    sgld_data_options o = opts(tmp_path(name));
    o.classification = classification;
    o.n_classes = classification ? 2 : 0;
    char msg[1024];
    snprintf(msg, sizeof msg, fmt, o.path);
    expect_error(&o, st, msg);
}

static void test_hdf5_errors(void **state)
{
    (void)state;
    write_text("text.h5", "a,y\n1,2\n");
    expect_h5_error("text.h5", SGLD_ERR_PARSE, "%s: not an HDF5 file", 0);

    double X[4 * 2] = {1, 2, 3, 4, 5, 6, 7, 8}, y[4] = {0, 1, 1, 0};
    hsize_t d2[2] = {4, 2}, d1[1] = {4}, d3[1] = {3};
    struct {
        const char *name;
        int x_rank;      /* 0: no /X */
        int y_n;         /* 0: no /y */
        const char *msg;
    } cases[] = {
        {"nox.h5", 0, 4, "%s: no dataset /X"},
        {"noy.h5", 2, 0, "%s: no dataset /y"},
        {"rank.h5", 1, 4, "%s: /X has rank 1, expected 2 ([n, d])"},
        {"nmis.h5", 2, 3, "%s: /X has 4 rows but /y has 3"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        hid_t f = H5Fcreate(tmp_path(cases[c].name), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (cases[c].x_rank == 2) h5_put(f, "X", 2, d2, H5T_NATIVE_DOUBLE, X);
        if (cases[c].x_rank == 1) {
            hsize_t d8[1] = {8};
            h5_put(f, "X", 1, d8, H5T_NATIVE_DOUBLE, X);
        }
        if (cases[c].y_n) h5_put(f, "y", 1, cases[c].y_n == 4 ? d1 : d3, H5T_NATIVE_DOUBLE, y);
        H5Fclose(f);
        expect_h5_error(cases[c].name, SGLD_ERR_PARSE, cases[c].msg, 0);
    }
    /* /y of rank 2. */
    hid_t f = H5Fcreate(tmp_path("yrank.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    h5_put(f, "X", 2, d2, H5T_NATIVE_DOUBLE, X);
    h5_put(f, "y", 2, d2, H5T_NATIVE_DOUBLE, X);
    H5Fclose(f);
    expect_h5_error("yrank.h5", SGLD_ERR_PARSE, "%s: /y has rank 2, expected 1 ([n])", 0);

    double Xn[8] = {1, 2, 3, 4, 5, 6, 7, NAN};
    int yi[4] = {0, 1, 1, 0};
    write_h5("nan.h5", 4, 2, Xn, yi);
    expect_h5_error("nan.h5", SGLD_ERR_PARSE, "%s: /X[3, 1]: NaN/Inf not allowed", 0);
    int ybad[4] = {0, 1, 3, 0};
    write_h5("label.h5", 4, 2, X, ybad);
    expect_h5_error("label.h5", SGLD_ERR_ARG, "%s: /y[2]: class label 3 out of range 0..1", 1);
    double yinf[4] = {0, INFINITY, 1, 0};
    f = H5Fcreate(tmp_path("yinf.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    h5_put(f, "X", 2, d2, H5T_NATIVE_DOUBLE, X);
    h5_put(f, "y", 1, d1, H5T_NATIVE_DOUBLE, yinf);
    H5Fclose(f);
    expect_h5_error("yinf.h5", SGLD_ERR_PARSE, "%s: /y[1]: NaN/Inf not allowed", 0);
}

/* ---- split and test files ---- */

/* A CSV whose first column is the row id 0..n-1 and whose label is id mod 2 ("a"/"b"). */
static const char *write_ids(const char *name, int n)
{
    size_t cap = 32 + (size_t)n * 32, used = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    used += (size_t)snprintf(text, cap, "id,v,label\n");
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, cap - used, "%d,%g,%s\n", i, 0.5 * i, i % 2 ? "b" : "a");
    const char *path = write_text(name, text);
    free(text);
    return path;
}

static void test_split(void **state)
{
    (void)state;
    const int n = 50;
    sgld_data_options o = opts(write_ids("ids.csv", n));
    o.test_fraction = 0.23; /* round(11.5) = 12 */
    o.seed = 7;
    o.classification = 1;
    sgld_dataset *tr = NULL, *te = NULL;
    assert_int_equal(load(&o, &tr, &te), SGLD_OK);
    assert_int_equal(te->n_total, 12);
    assert_int_equal(te->n_local, 12);
    assert_int_equal(tr->n_total, 38);
    assert_string_equal(te->source, o.path);
    assert_int_equal(te->n_classes, 2);
    int seen[50] = {0};
    for (int64_t i = 0; i < tr->n_local; i++) {
        int id = (int)tr->X[2 * i];
        if (i > 0) assert_true(id > (int)tr->X[2 * (i - 1)]);
        assert_true(tr->y[i] == (float)(id % 2) && tr->X[2 * i + 1] == 0.5f * id);
        seen[id]++;
    }
    for (int64_t i = 0; i < te->n_local; i++) {
        int id = (int)te->X[2 * i];
        if (i > 0) assert_true(id > (int)te->X[2 * (i - 1)]);
        assert_true(te->y[i] == (float)(id % 2));
        seen[id]++;
    }
    for (int i = 0; i < n; i++) assert_int_equal(seen[i], 1);

    /* Same seed, same split; another seed, another split. */
    sgld_dataset *tr2 = NULL, *te2 = NULL;
    assert_int_equal(load(&o, &tr2, &te2), SGLD_OK);
    assert_memory_equal(te->X, te2->X, 12 * 2 * sizeof(float));
    sgld_data_destroy(&tr2);
    sgld_data_destroy(&te2);
    o.seed = 8;
    assert_int_equal(load(&o, &tr2, &te2), SGLD_OK);
    assert_true(memcmp(te->X, te2->X, 12 * 2 * sizeof(float)) != 0);
    sgld_data_destroy(&tr2);
    sgld_data_destroy(&te2);
    sgld_data_destroy(&tr);
    sgld_data_destroy(&te);

    /* A test NULL pointer: the caller does not want the test rows. */
    o.seed = 7;
    assert_int_equal(sgld_data_load(MPI_COMM_SELF, 0, 1, &o, &tr, NULL), SGLD_OK);
    assert_int_equal(tr->n_total, 38);
    sgld_data_destroy(&tr);
}

/* sgld_data_row_where names a row as the user finds it in the source: the CSV line (blank
 * lines and the header counted), the HDF5 /y index, the synthetic row; after a split too. */
static void test_row_where(void **state)
{
    (void)state;
    char buf[1100], want[1100];
    const char *path = write_text("where.csv", "a,y\n\n1,10\n2,11\n\n\n3,12\n4,13\n");
    sgld_data_options o = opts(path);
    sgld_dataset *ds = load_ok(&o);
    const int lines[4] = {3, 4, 7, 8};
    for (int i = 0; i < 4; i++) {
        snprintf(want, sizeof want, "%s:%d", path, lines[i]);
        assert_string_equal(sgld_data_row_where(ds, i, buf, sizeof buf), want);
    }
    sgld_data_destroy(&ds);
    /* a split: every row, training or test, keeps its own line (its first feature is its
     * rank among the data lines, which sit at lines 3, 4, 7, 8) */
    o.test_fraction = 0.5;
    o.seed = 3;
    sgld_dataset *te = NULL;
    assert_int_equal(load(&o, &ds, &te), SGLD_OK);
    const sgld_dataset *sets[2] = {ds, te};
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < sets[s]->n_local; i++) {
            snprintf(want, sizeof want, "%s:%d", path, lines[(int)sets[s]->X[i] - 1]);
            assert_string_equal(sgld_data_row_where(sets[s], i, buf, sizeof buf), want);
        }
    sgld_data_destroy(&ds);
    sgld_data_destroy(&te);

    double X[5 * 3];
    int y[5] = {1, 0, 1, 1, 0};
    for (int i = 0; i < 15; i++) X[i] = 0.25 * i - 1;
    o = opts(write_h5("where.h5", 5, 3, X, y));
    o.test_fraction = 0.4;
    assert_int_equal(load(&o, &ds, &te), SGLD_OK);
    const sgld_dataset *h5sets[2] = {ds, te};
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < h5sets[s]->n_local; i++) {
            snprintf(want, sizeof want, "%s: /y[%ld]", o.path, lround((h5sets[s]->X[3 * i] + 1) / 0.75));
            assert_string_equal(sgld_data_row_where(h5sets[s], i, buf, sizeof buf), want);
        }
    sgld_data_destroy(&ds);
    sgld_data_destroy(&te);

    o = opts("synthetic:linreg");
    ds = load_ok(&o);
    assert_string_equal(sgld_data_row_where(ds, 16, buf, sizeof buf), "synthetic:linreg: row 16");
    /* a set made by hand has no origin: its index */
    sgld_dataset hand = {.n_total = 4, .row_begin = 2, .n_local = 2, .source = "mine"};
    assert_string_equal(sgld_data_row_where(&hand, 1, buf, sizeof buf), "mine: row 3");
    sgld_data_destroy(&ds);
}

static void test_test_file(void **state)
{
    (void)state;
    const char *train = write_text("train.csv", "a,b,y\n1,2,neg\n3,4,pos\n5,6,neg\n");
    const char *test = write_text("test.csv", "a,b,y\n7,8,pos\n\n9,10,neg\n");
    sgld_data_options o = opts(train);
    o.test_path = test;
    o.classification = 1;
    sgld_dataset *tr = NULL, *te = NULL;
    assert_int_equal(load(&o, &tr, &te), SGLD_OK);
    assert_int_equal(tr->n_total, 3);
    assert_int_equal(te->n_total, 2);
    assert_string_equal(te->source, test);
    assert_string_equal(te->class_names[1], "pos");
    assert_true(te->X[0] == 7.0f && te->X[3] == 10.0f && te->y[0] == 1.0f && te->y[1] == 0.0f);
    sgld_data_destroy(&tr);
    sgld_data_destroy(&te);

    char msg[1024];
    o.test_path = write_text("test-bad.csv", "a,b,y\n7,8,pos\n9,10,maybe\n");
    snprintf(msg, sizeof msg,
             "%s:3: class label 'maybe' is not one of the training labels (neg, pos)", o.test_path);
    expect_error(&o, SGLD_ERR_ARG, msg);
    o.test_path = write_text("test-cols.csv", "a,b,c,y\n7,8,9,pos\n");
    snprintf(msg, sizeof msg, "%s:1: 3 feature columns, but the training data have 2", o.test_path);
    expect_error(&o, SGLD_ERR_PARSE, msg);
    o.test_path = write_text("test-empty.csv", "a,b,y\n");
    snprintf(msg, sizeof msg, "%s: no data rows", o.test_path);
    expect_error(&o, SGLD_ERR_PARSE, msg);
    /* Numeric training labels: a test label must be an index below the training K. */
    o = opts(write_text("train-num.csv", "a,y\n1,0\n2,1\n"));
    o.classification = 1;
    o.test_path = write_text("test-num.csv", "a,y\n1,2\n");
    snprintf(msg, sizeof msg, "%s:2: class label 2 out of range 0..1", o.test_path);
    expect_error(&o, SGLD_ERR_ARG, msg);
}

/* ---- standardization ---- */

static void test_standardize(void **state)
{
    (void)state;
    const char *train = write_text("std.csv", "a,c,b,y\n1,5,10,0\n2,5,30,1\n3,5,20,0\n6,5,40,1\n");
    const char *test = write_text("std-test.csv", "a,c,b,y\n4,5,25,1\n");
    sgld_data_options o = opts(train);
    o.test_path = test;
    o.standardize = 1;
    sgld_dataset *tr = NULL, *te = NULL;
    assert_int_equal(load(&o, &tr, &te), SGLD_OK);
    /* a: mean 3, population sd sqrt(3.5); c constant: sd 1; b: mean 25, sd sqrt(125). */
    assert_true(fabs(tr->mean[0] - 3) < 1e-12 && fabs(tr->sd[0] - sqrt(3.5)) < 1e-12);
    assert_true(tr->mean[1] == 5 && tr->sd[1] == 1);
    assert_true(fabs(tr->mean[2] - 25) < 1e-12 && fabs(tr->sd[2] - sqrt(125.0)) < 1e-12);
    for (int j = 0; j < 3; j++) {
        double s1 = 0, s2 = 0;
        for (int i = 0; i < 4; i++) {
            s1 += tr->X[3 * i + j];
            s2 += tr->X[3 * i + j] * tr->X[3 * i + j];
        }
        assert_true(fabs(s1 / 4) < 1e-6);
        assert_true(fabs(s2 / 4 - (j == 1 ? 0 : 1)) < 1e-6);
    }
    assert_true(te->mean[0] == tr->mean[0] && te->sd[2] == tr->sd[2]);
    assert_true(fabs(te->X[0] - 1 / sqrt(3.5)) < 1e-6 && te->X[1] == 0.0f && fabs(te->X[2]) < 1e-6);
    assert_true(tr->y[1] == 1.0f); /* targets untouched */
    sgld_data_destroy(&tr);
    sgld_data_destroy(&te);
}

/* ---- robustness ---- */

/* Fail each allocation in turn: every load returns SGLD_ERR_NOMEM (or succeeds once the
 * countdown passes the last allocation) and leaves both outputs NULL; run under valgrind or
 * ASan to see that nothing leaks. */
static void test_alloc_failures(void **state)
{
    (void)state;
    const char *train = write_text("oom.csv", "a,b,y\n1,2,neg\n3,4,pos\n5,6,neg\n7,8,pos\n");
    const char *test = write_text("oom-test.csv", "a,b,y\n1,2,pos\n");
    double X[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int y[4] = {0, 1, 1, 0};
    const char *h5 = write_h5("oom.h5", 4, 2, X, y);
    sgld_data_options cases[4] = {opts(train), opts(train), opts(h5), opts("synthetic:softmax")};
    cases[0].classification = cases[1].classification = 1;
    cases[0].test_path = test;
    cases[0].standardize = 1;
    cases[1].test_fraction = 0.5;
    cases[2].test_fraction = 0.25;
    cases[2].standardize = 1;
    cases[3].classification = 1;
    for (int c = 0; c < 4; c++) {
        int ok = 0;
        for (long k = 1; k < 1000 && !ok; k++) {
            sgld_dataset *tr = NULL, *te = NULL;
            sgld_alloc_fail_after(k);
            sgld_status st = load(&cases[c], &tr, &te);
            sgld_alloc_fail_after(0);
            if (st == SGLD_OK) {
                ok = 1;
                assert_non_null(tr);
                sgld_data_destroy(&tr);
                sgld_data_destroy(&te);
            } else {
                assert_int_equal(st, SGLD_ERR_NOMEM);
                assert_null(tr);
                assert_null(te);
            }
        }
        assert_true(ok);
    }
}

static void test_shard_range_and_destroy(void **state)
{
    (void)state;
    int64_t b, e;
    const int64_t expect[3][2] = {{0, 3}, {3, 6}, {6, 10}};
    for (int s = 0; s < 3; s++) {
        sgld_data_shard_range(10, s, 3, &b, &e);
        assert_int_equal(b, expect[s][0]);
        assert_int_equal(e, expect[s][1]);
    }
    sgld_data_shard_range(INT64_C(1) << 62, 3, 4, &b, &e);
    assert_int_equal(b, 3 * (INT64_C(1) << 60));
    assert_int_equal(e, INT64_C(1) << 62);
    sgld_dataset *ds = NULL;
    sgld_data_destroy(&ds);
    sgld_data_destroy(NULL);
    assert_null(ds);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linreg),
        cmocka_unit_test(test_linreg3),
        cmocka_unit_test(test_logreg),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_synthetic_fixed_and_checked),
        cmocka_unit_test(test_pima),
        cmocka_unit_test(test_boston),
        cmocka_unit_test(test_csv_format),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_io_and_option_errors),
        cmocka_unit_test(test_hdf5),
        cmocka_unit_test(test_hdf5_errors),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_row_where),
        cmocka_unit_test(test_test_file),
        cmocka_unit_test(test_standardize),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_shard_range_and_destroy),
    };
    return sgld_test_run(argc, argv, "data", tests, sizeof tests / sizeof tests[0]);
}
