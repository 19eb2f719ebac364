/* hdf5.c - the HDF5 reader: datasets /X [n, d] and /y [n] of any numeric type, read as
 * double (HDF5 converts) and stored as float.
 *
 * Serial HDF5 calls (default file access), each rank independently: the scan reads the shape
 * and, for a class target only, streams /y (every rank validates every label, so all agree on
 * the classes); the fill reads only this rank's hyperslab of training rows, in blocks, or,
 * with a train/test split, streams the file in blocks keeping the test rows and its own
 * training rows.  Values are checked where they are stored, so a NaN is found by the rank
 * that holds its row (the agreement in data.c hands that message to every rank).
 *
 * Class targets in /y are class indices 0..K-1 (K = opt->n_classes or the largest + 1); class
 * names are "0".."K-1".  Columns are named x0..x{d-1} and the target y.  HDF5's own error stack
 * printing is switched off for the duration of each call, so the user sees only our line. */
#include "data_private.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <hdf5.h>

typedef struct h5_data {
    hid_t file, X, y;
    int64_t n;
    int d;
    H5E_auto2_t old_fn;
    void *old_data;
} h5_data;

/* Silences HDF5's error printing until h5_close. */
static void h5_begin(h5_data *h)
{
    h->file = h->X = h->y = -1;
    H5Eget_auto2(H5E_DEFAULT, &h->old_fn, &h->old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void h5_close(h5_data *h)
{
    if (h->X >= 0) H5Dclose(h->X);
    if (h->y >= 0) H5Dclose(h->y);
    if (h->file >= 0) H5Fclose(h->file);
    H5Eset_auto2(H5E_DEFAULT, h->old_fn, h->old_data);
}

/* Opens /name, which must be a numeric dataset of the given rank; its dims go to dims. */
static sgld_status open_dataset(h5_data *h, const char *path, const char *name, int rank,
                                hid_t *out, hsize_t dims[2])
{
    char full[8];
    snprintf(full, sizeof full, "/%s", name);
    SGLD_CHECK(H5Lexists(h->file, full, H5P_DEFAULT) > 0, SGLD_ERR_PARSE, "%s: no dataset %s",
               path, full);
    *out = H5Dopen2(h->file, full, H5P_DEFAULT);
    SGLD_CHECK(*out >= 0, SGLD_ERR_PARSE, "%s: %s is not a dataset", path, full);
    hid_t type = H5Dget_type(*out);
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    if (type >= 0) H5Tclose(type);
    SGLD_CHECK(cls == H5T_INTEGER || cls == H5T_FLOAT, SGLD_ERR_PARSE, "%s: %s is not numeric",
               path, full);
    hid_t space = H5Dget_space(*out);
    int r = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (r == rank) H5Sget_simple_extent_dims(space, dims, NULL);
    if (space >= 0) H5Sclose(space);
    SGLD_CHECK(r == rank, SGLD_ERR_PARSE, "%s: %s has rank %d, expected %d (%s)", path, full, r,
               rank, rank == 2 ? "[n, d]" : "[n]");
    return SGLD_OK;
}

/* Opens the file, /X and (unless ignore_y: inputs scored without targets) /y. */
static sgld_status h5_open(const char *path, h5_data *h, int ignore_y)
{
    FILE *f = fopen(path, "rb");
    SGLD_CHECK(f, SGLD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fclose(f);
    h->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    SGLD_CHECK(h->file >= 0, SGLD_ERR_PARSE, "%s: not an HDF5 file", path);
    hsize_t dx[2], dy[2];
    SGLD_TRY(open_dataset(h, path, "X", 2, &h->X, dx));
    if (ignore_y) dy[0] = dx[0];
    else SGLD_TRY(open_dataset(h, path, "y", 1, &h->y, dy));
    SGLD_CHECK(dx[0] == dy[0], SGLD_ERR_PARSE, "%s: /X has %llu rows but /y has %llu", path,
               (unsigned long long)dx[0], (unsigned long long)dy[0]);
    SGLD_CHECK(dx[0] > 0, SGLD_ERR_PARSE, "%s: no data rows", path);
    SGLD_CHECK(dx[1] > 0 && dx[1] <= INT_MAX, SGLD_ERR_PARSE, "%s: /X has %llu columns", path,
               (unsigned long long)dx[1]);
    h->n = (int64_t)dx[0];
    h->d = (int)dx[1];
    return SGLD_OK;
}

/* Reads rows [start, start + count) of dataset ds (width columns; 1 for /y) as double. */
static sgld_status read_rows(hid_t ds, const char *path, const char *name, int rank, int width,
                             int64_t start, int64_t count, double *out)
{
    hsize_t off[2] = {(hsize_t)start, 0}, num[2] = {(hsize_t)count, (hsize_t)width};
    hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(rank, num, NULL);
    herr_t rc = -1;
    if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, num, NULL) >= 0)
        rc = H5Dread(ds, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, out);
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    SGLD_CHECK(rc >= 0, SGLD_ERR_HDF5, "%s: reading %s rows %lld..%lld failed", path, name,
               (long long)start, (long long)(start + count - 1));
    return SGLD_OK;
}

/* Rows per block read: about 8 MB of doubles. */
static int64_t block_rows(int d)
{
    int64_t b = ((int64_t)1 << 20) / d;
    return b < 1 ? 1 : b > 65536 ? 65536 : b;
}

/* Checks that every /y value is a class index below limit and finds the largest. */
static sgld_status check_labels(const h5_data *h, const char *path, int limit, double *max_label)
{
    int64_t B = 65536;
    double *buf = sgld_malloc((size_t)(h->n < B ? h->n : B) * sizeof *buf);
    SGLD_CHECK(buf, SGLD_ERR_NOMEM, "out of memory reading %s /y", path);
    sgld_status st = SGLD_OK;
    *max_label = -1;
    for (int64_t s = 0; s < h->n && st == SGLD_OK; s += B) {
        int64_t cnt = h->n - s < B ? h->n - s : B;
        SGLD_TRY_GOTO(read_rows(h->y, path, "/y", 1, 1, s, cnt, buf), st, done);
        for (int64_t i = 0; i < cnt; i++) {
            double v = buf[i];
            long long row = (long long)(s + i);
            if (!isfinite(v))
                st = sgld_error_set(SGLD_ERR_PARSE, "%s: /y[%lld]: NaN/Inf not allowed", path, row);
            else if (fabs(v) > FLT_MAX)
                st = sgld_error_set(SGLD_ERR_PARSE, "%s: /y[%lld]: %.17g is outside the float range",
                                    path, row, v);
            else if (v != floor(v))
                st = sgld_error_set(SGLD_ERR_ARG, "%s: /y[%lld]: class label %.17g is not an integer",
                                    path, row, v);
            else if (v < 0 || v >= limit)
                st = sgld_error_set(SGLD_ERR_ARG, "%s: /y[%lld]: class label %.17g out of range 0..%d",
                                    path, row, v, limit - 1);
            if (st != SGLD_OK) break;
            if (v > *max_label) *max_label = v;
        }
    }
done:
    sgld_free(buf);
    return st;
}

static sgld_status scan(const char *path, const sgld_data_options *opt, const data_meta *ref,
                        data_meta *m, h5_data *h)
{
    m->ignore_target = opt->ignore_target && !(ref ? ref->n_classes > 0 : opt->classification);
    SGLD_TRY(h5_open(path, h, m->ignore_target));
    m->n = h->n;
    m->d = h->d;
    SGLD_CHECK(!ref || m->d == ref->d, SGLD_ERR_PARSE,
               "%s: %d feature columns, but the training data have %d", path, m->d, ref->d);
    SGLD_TRY(data_meta_default_names(m));
    int classification = ref ? ref->n_classes > 0 : opt->classification;
    if (!classification) return SGLD_OK; /* real /y values are checked where they are stored */
    int required = data_required_classes(opt, ref);
    double max_label = -1;
    SGLD_TRY(check_labels(h, path, required ? required : DATA_MAX_CLASSES, &max_label));
    if (ref) return data_meta_copy_classes(m, ref);
    int K = required ? required : (int)max_label + 1;
    SGLD_CHECK(K >= 2, SGLD_ERR_ARG,
               "%s: only one class label (0) found; classification needs at least 2", path);
    return data_meta_numeric_classes(m, K);
}

static sgld_status h5_scan(const char *path, const sgld_data_options *opt, const data_meta *ref,
                           data_meta *m)
{
    h5_data h;
    h5_begin(&h);
    sgld_status st = scan(path, opt, ref, m, &h);
    h5_close(&h);
    return st;
}

/* Stores row `row` (x[d], y) as row k of ds, checking the features. */
static sgld_status store_row(const char *path, int64_t row, const double *x, double y, int d,
                             sgld_dataset *ds, int64_t k)
{
    float *out = ds->X + k * d;
    for (int j = 0; j < d; j++) {
        SGLD_CHECK(isfinite(x[j]), SGLD_ERR_PARSE, "%s: /X[%lld, %d]: NaN/Inf not allowed", path,
                   (long long)row, j);
        SGLD_CHECK(fabs(x[j]) <= FLT_MAX, SGLD_ERR_PARSE,
                   "%s: /X[%lld, %d]: %.17g is outside the float range", path, (long long)row, j,
                   x[j]);
        out[j] = (float)x[j];
    }
    SGLD_CHECK(isfinite(y), SGLD_ERR_PARSE, "%s: /y[%lld]: NaN/Inf not allowed", path, (long long)row);
    SGLD_CHECK(fabs(y) <= FLT_MAX, SGLD_ERR_PARSE, "%s: /y[%lld]: %.17g is outside the float range",
               path, (long long)row, y);
    ds->y[k] = (float)y;
    ds->origin[k] = row;
    return SGLD_OK;
}

static sgld_status fill(const char *path, const data_plan *plan, sgld_dataset *train,
                        sgld_dataset *test, h5_data *h, double *xb, double *yb, int64_t B)
{
    int d = h->d;
    SGLD_CHECK(h->n == plan->n, SGLD_ERR_IO, "%s: file changed while reading", path);
    /* Without a split only this rank's block is read; with one, the whole file is streamed. */
    int64_t first = plan->test ? 0 : plan->begin, last = plan->test ? plan->n : plan->end;
    int64_t seen = first, k_train = 0, k_test = 0;
    for (int64_t s = first; s < last; s += B) {
        int64_t cnt = last - s < B ? last - s : B;
        SGLD_TRY(read_rows(h->X, path, "/X", 2, d, s, cnt, xb));
        if (h->y >= 0) SGLD_TRY(read_rows(h->y, path, "/y", 1, 1, s, cnt, yb));
        else memset(yb, 0, (size_t)cnt * sizeof *yb);
        for (int64_t i = 0; i < cnt; i++) {
            enum data_route to = data_route_row(plan, s + i, &seen);
            if (to == ROUTE_TRAIN)
                SGLD_TRY(store_row(path, s + i, xb + i * d, yb[i], d, train, k_train++));
            else if (to == ROUTE_TEST)
                SGLD_TRY(store_row(path, s + i, xb + i * d, yb[i], d, test, k_test++));
        }
    }
    return SGLD_OK;
}

static sgld_status h5_fill(const char *path, const data_meta *m, const data_plan *plan,
                           sgld_dataset *train, sgld_dataset *test)
{
    h5_data h;
    sgld_status st = SGLD_OK;
    double *xb = NULL, *yb = NULL;
    h5_begin(&h);
    SGLD_TRY_GOTO(h5_open(path, &h, m->ignore_target), st, done);
    int64_t B = block_rows(m->d);
    if (B > plan->n) B = plan->n;
    xb = sgld_malloc((size_t)B * (size_t)m->d * sizeof *xb);
    yb = sgld_malloc((size_t)B * sizeof *yb);
    if (!xb || !yb) {
        st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for read buffers of %s", path);
        goto done;
    }
    SGLD_TRY_GOTO(fill(path, plan, train, test, &h, xb, yb, B), st, done);
done:
    sgld_free(xb);
    sgld_free(yb);
    h5_close(&h);
    return st;
}

const data_reader data_reader_hdf5 = {"hdf5", h5_scan, h5_fill};
