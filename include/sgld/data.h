/* data.h - data sets: CSV and HDF5 readers, built-in synthetic sets, train/test split,
 * sharding and standardization.
 *
 * A data set is held in row-major float.  Training data are sharded in contiguous blocks
 * of the *training* rows: shard s of S holds global rows [s N / S, (s + 1) N / S) (integer
 * division), so each rank holds only its block.  Test data are small and held whole by every
 * rank.  Class targets are stored as the class index (0..K-1) in y. */
#ifndef SGLD_DATA_H
#define SGLD_DATA_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "sgld/status.h"

typedef struct sgld_dataset {
    int64_t n_total;     /* rows of the whole set (all shards) */
    int64_t row_begin;   /* global index of the first local row */
    int64_t n_local;     /* rows held here */
    int d;               /* features per row */
    float *X;            /* [n_local][d] row-major */
    float *y;            /* [n_local] target, or class index for classification */
    int n_classes;       /* 0 for a real-valued target, else K >= 2 */
    char **class_names;  /* [n_classes] labels in index order ("0", "1", ... for integer labels) */
    char **feature_names;/* [d] column names ("x0", ... when the source has none) */
    char *target_name;   /* name of the target column ("y" when none) */
    char *source;        /* the path or "synthetic:NAME" it came from */
    double *mean, *sd;   /* [d] standardization statistics applied, or NULL */
    int64_t *source_rows;/* test set of a test_fraction split: [n_local] the 0-based row of the
                          * source each row came from (ascending); else NULL */
    int64_t *origin;     /* [n_local] where each row stands in its source, for messages
                          * (sgld_data_row_where): the 1-based line of a CSV file, else the
                          * 0-based row (of an HDF5 file's /X and /y, of a synthetic set);
                          * NULL for a set not made by sgld_data_load */
    int origin_is_line;  /* 1: origin holds CSV line numbers */
} sgld_dataset;

typedef struct sgld_data_options {
    const char *path;       /* CSV (".csv") or HDF5 (/X [n, d], /y [n]); or "synthetic:NAME" */
    const char *test_path;  /* separate test file, or NULL */
    double test_fraction;   /* in [0, 1): rows held out of `path` for testing (0 = none) */
    int standardize;        /* z-score features with training statistics (test too) */
    uint32_t seed;          /* seeds the train/test split permutation */
    int classification;     /* 1: target is a class label; 0: real-valued */
    int n_classes;          /* required K (2 for logistic regression), or 0 to infer */
    int ignore_target;      /* 1: targets are not read, y = 0 (inputs whose targets do not matter:
                             * predict --ood): a CSV's target column may hold anything, an HDF5
                             * file needs no /y; ignored with classification */
} sgld_data_options;

/* Loads the training shard `shard` of `n_shards` (and the whole test set, if any) into
 * *train and *test (*test = NULL when there is no test data).  Caller owns both (free with
 * sgld_data_destroy).
 *
 * Collective over comm (the ranks of one chain; statistics such as the standardization
 * means are reduced over it; every rank of comm returns the same status and, on failure,
 * the failing rank's message).
 *
 * Built-in sets (fixed data, independent of opt->seed):
 *   synthetic:linreg   x ~ U(-1.5, 1.5), y = 0.9 x - 0.7 + N(0, 0.5^2), n = 1000
 *   synthetic:linreg3  3 correlated features (x ~ N(0, C), C_ij = 0.8^|i-j|),
 *                      y = x . (1, -0.5, 0.25) + 0.3 + N(0, 0.5^2), n = 500
 *   synthetic:logreg   x ~ N(0, I_2), P(y = 1) = sigmoid(1.5 x0 - x1 + 0.5), n = 1000
 *   synthetic:softmax  3 classes, 2 features, n = 600: y = row mod 3 (200 rows per class),
 *                      x ~ N(mu_y, I_2) with the class means on a triangle,
 *                      mu_k = 2 (cos t_k, sin t_k), t_k = pi/2 + 2 pi k / 3
 *                      (equal covariances: the true posterior is exactly softmax-linear)
 * Row r of a built-in set is a pure function of r (Philox key {0x53474c44, set id 1..4},
 * SGLD_RNG_DATA, step 0, normals r * width .. r * width + width - 1), so a rank generates only
 * its rows.  A built-in set's target type must match opt->classification / n_classes.
 *
 * Sources: "synthetic:NAME"; a name ending in .h5/.hdf5 or a file starting with the HDF5
 * signature (/X [n, d], /y [n], any numeric type; class targets are indices 0..K-1); else
 * CSV (header row, numeric features, target last; quoted fields, CRLF, blank lines skipped).
 * CSV class targets: if the first row's target is a number all labels are integers 0..K-1
 * (class_names "0".."K-1"), otherwise all are strings, numbered in strcmp order.  K is
 * opt->n_classes, or inferred (largest label + 1, or the number of strings; at most 1024).
 *
 * Split: test_fraction f > 0 holds out round(f N) rows picked by a Fisher-Yates permutation
 * (key {opt->seed, 0}, SGLD_RNG_SPLIT, element i for swap i, i = N-1 .. 1; the test rows are
 * perm[0 .. n_test-1]).  Training and test rows keep their file order; the test set's
 * source_rows lists the rows it holds.  test_path and
 * test_fraction > 0 together are an error.  A test file needs the training feature count,
 * and its labels map through the training classes.
 *
 * Standardize: mean and population sd (divide by N) of each feature over all training rows
 * of comm (comm must hold each shard exactly once), applied to train and test, stored in
 * mean/sd of both.  A constant column gets sd = 1 (it becomes 0).  Targets are untouched.
 *
 * Sharding needs at least n_shards training rows.  test may be NULL (the test rows are then
 * dropped).  On failure *train and *test are NULL, and every rank returns the status and
 * message of the lowest-numbered failing rank (sgld_status_agree): an error found only by
 * the rank that reads a bad row reaches every rank.  Nothing collective runs before that
 * agreement, so no rank hangs.
 * Errors: SGLD_ERR_IO (missing/unreadable), SGLD_ERR_PARSE (file:line:column messages,
 * NaN/Inf, wrong shape, not HDF5), SGLD_ERR_ARG (labels out of range or not integers, unknown
 * labels in a test file, wrong number of classes, unknown synthetic set, bad fraction, bad
 * shard), SGLD_ERR_NOMEM, SGLD_ERR_HDF5 (a failed read). */
sgld_status sgld_data_load(MPI_Comm comm, int shard, int n_shards,
                           const sgld_data_options *opt, sgld_dataset **train,
                           sgld_dataset **test);

/* Writes into buf (size > 0) where local row i of d is in its source, as a user finds it:
 * "counts.csv:17" (the CSV line), "counts.h5: /y[16]" (the HDF5 row, 0-based, as the HDF5
 * reader's messages name it), "synthetic:linreg: row 16"; without d->origin, the row's index
 * in the set ("SOURCE: row row_begin + i").  Returns buf.  Not collective. */
const char *sgld_data_row_where(const sgld_dataset *d, int64_t i, char *buf, size_t size);

/* Frees a data set and sets *d = NULL; NULL-safe.  Not collective. */
void sgld_data_destroy(sgld_dataset **d);

/* Global row range [*begin, *end) of shard s of S over n rows (the rule above).  Not
 * collective. */
void sgld_data_shard_range(int64_t n, int s, int S, int64_t *begin, int64_t *end);

#endif
