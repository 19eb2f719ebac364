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
} sgld_dataset;

typedef struct sgld_data_options {
    const char *path;       /* CSV (".csv") or HDF5 (/X [n, d], /y [n]); or "synthetic:NAME" */
    const char *test_path;  /* separate test file, or NULL */
    double test_fraction;   /* in [0, 1): rows held out of `path` for testing (0 = none) */
    int standardize;        /* z-score features with training statistics (test too) */
    uint32_t seed;          /* seeds the train/test split permutation */
    int classification;     /* 1: target is a class label; 0: real-valued */
    int n_classes;          /* required K (2 for logistic regression), or 0 to infer */
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
 *   synthetic:softmax  3 classes, 2 features, n = 600
 * Errors: SGLD_ERR_IO (missing/unreadable), SGLD_ERR_PARSE (file:line:column messages),
 * SGLD_ERR_ARG (labels out of range, unknown synthetic set, bad fraction). */
sgld_status sgld_data_load(MPI_Comm comm, int shard, int n_shards,
                           const sgld_data_options *opt, sgld_dataset **train,
                           sgld_dataset **test);

/* Frees a data set and sets *d = NULL; NULL-safe. */
void sgld_data_destroy(sgld_dataset **d);

/* Global row range [*begin, *end) of shard s of S over n rows (the rule above). */
void sgld_data_shard_range(int64_t n, int s, int S, int64_t *begin, int64_t *end);

#endif
