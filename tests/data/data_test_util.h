/* data_test_util.h - small helpers shared by the data tests: temp files, HDF5 writing and
 * option shortcuts.  Header-only (static inline functions), included by each test program. */
#ifndef DATA_TEST_UTIL_H
#define DATA_TEST_UTIL_H

#include "sgld_test.h"

#include <hdf5.h>
#include <stdio.h>
#include <string.h>

#include "sgld/data.h"

/* Path of `name` in the test's temp directory (static buffer, one of 4 in rotation). */
static inline const char *tmp_path(const char *name)
{
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", sgld_test_tmpdir(), name);
    return b;
}

/* Writes text to the temp file `name` and returns its path. */
static inline const char *write_text(const char *name, const char *text)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Writes one dataset (any rank) of the given memory type into an open file. */
static inline void h5_put(hid_t f, const char *name, int rank, const hsize_t *dims, hid_t type,
                   const void *data)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    assert_true(sp >= 0);
    hid_t ds = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(ds >= 0);
    assert_true(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(ds);
    H5Sclose(sp);
}

/* Writes /X [n, d] (double) and /y [n] (int) to the temp file `name`; returns its path. */
static inline const char *write_h5(const char *name, int n, int d, const double *X, const int *y)
{
    const char *path = tmp_path(name);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hsize_t dx[2] = {(hsize_t)n, (hsize_t)d}, dy[1] = {(hsize_t)n};
    h5_put(f, "X", 2, dx, H5T_NATIVE_DOUBLE, X);
    h5_put(f, "y", 1, dy, H5T_NATIVE_INT, y);
    assert_true(H5Fclose(f) >= 0);
    return path;
}

static inline sgld_data_options opts(const char *path)
{
    sgld_data_options o = {0};
    o.path = path;
    return o;
}

#endif
