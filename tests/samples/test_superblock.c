/* test_superblock.c - samples_eoa_to_eof, the superblock EOA raised to the file's size: on
 * files made by serial HDF5 with superblock versions 0 (the sample files' own) and 1, read
 * back and appended to by HDF5 afterwards; and every refusal (versions 2/3, a user block,
 * 4-byte offsets, a base address, a driver info block, an EOA past the end, not HDF5, empty)
 * leaving the file byte for byte as it was. */
#include "sgld_test.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "samples_impl.h"

#define N0 100
#define PAD 65536

static const char *tmp_path(const char *name)
{
    static char buf[600];
    snprintf(buf, sizeof buf, "%s/%s", sgld_test_tmpdir(), name);
    return buf;
}

static uint64_t le64_at(const char *path, long off)
{
    unsigned char b[8];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, off, SEEK_SET), 0);
    assert_int_equal(fread(b, 1, 8, f), 8);
    fclose(f);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static int byte_at(const char *path, long off)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, off, SEEK_SET), 0);
    int c = fgetc(f);
    fclose(f);
    return c;
}

static long long file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (long long)st.st_size;
}

/* The whole file, malloc'ed; *n its length. */
static unsigned char *slurp(const char *path, long long *n)
{
    *n = file_size(path);
    unsigned char *b = malloc((size_t)*n + 1);
    assert_non_null(b);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal((long long)fread(b, 1, (size_t)*n, f), *n);
    fclose(f);
    return b;
}

/* A file with one chunked, unlimited dataset "d" holding 0..N0-1, through the sec2 driver. */
static void make_file(const char *path, hid_t fcpl, hid_t fapl)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    assert_true(f >= 0);
    hsize_t cur = N0, max = H5S_UNLIMITED, chunk = 16;
    hid_t space = H5Screate_simple(1, &cur, &max), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(H5Pset_chunk(dcpl, 1, &chunk) >= 0);
    hid_t d = H5Dcreate2(f, "d", H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    double v[N0];
    for (int i = 0; i < N0; i++) v[i] = i;
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    assert_true(H5Fclose(f) >= 0);
}

/* "d" holds 0..n-1. */
static void check_data(const char *path, int n)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, "d", H5P_DEFAULT), space = H5Dget_space(d);
    hsize_t cur = 0;
    assert_int_equal(H5Sget_simple_extent_dims(space, &cur, NULL), 1);
    assert_int_equal((int)cur, n);
    double *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    for (int i = 0; i < n; i++) assert_true(v[i] == i);
    free(v);
    H5Sclose(space);
    H5Dclose(d);
    H5Fclose(f);
}

/* Grows "d" to 2 * N0 values 0..2 * N0 - 1 (new chunks: HDF5 allocates from its EOA). */
static void grow(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, "d", H5P_DEFAULT);
    hsize_t n = 2 * N0, start = N0, count = N0;
    assert_true(H5Dset_extent(d, &n) >= 0);
    hid_t fspace = H5Dget_space(d), mspace = H5Screate_simple(1, &count, NULL);
    assert_true(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0);
    double v[N0];
    for (int i = 0; i < N0; i++) v[i] = N0 + i;
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, v) >= 0);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(d);
    assert_true(H5Fclose(f) >= 0);
}

/* samples_eoa_to_eof on path opened read-write. */
static int raise_eoa(const char *path)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    int r = samples_eoa_to_eof(fd);
    close(fd);
    return r;
}

/* Superblock version `version` (byte 8) with its EOA at eoa_at: raised over PAD bytes of
 * zeros past HDF5's end, readable, and HDF5 appends to it afterwards. */
static void check_raised(const char *path, int version, long eoa_at)
{
    long long size = file_size(path);
    assert_int_equal(byte_at(path, 8), version);
    assert_int_equal((long long)le64_at(path, eoa_at), size); /* sec2 ends the file at its EOA */
    assert_int_equal(truncate(path, size + PAD), 0);
    assert_int_equal(raise_eoa(path), 1);
    assert_int_equal((long long)le64_at(path, eoa_at), size + PAD);
    assert_int_equal(raise_eoa(path), 1); /* already there: nothing to do */
    assert_int_equal((long long)le64_at(path, eoa_at), size + PAD);
    check_data(path, N0);
    grow(path);
    check_data(path, 2 * N0);
    assert_true((long long)le64_at(path, eoa_at) > size + PAD); /* allocated from the raised EOA */
}

static void test_version_0(void **state)
{
    (void)state;
    const char *path = tmp_path("v0.h5");
    make_file(path, H5P_DEFAULT, H5P_DEFAULT);
    check_raised(path, 0, 40);
}

/* The sample files' own creation properties (creation order tracked and indexed): still 0. */
static void test_version_0_creation_order(void **state)
{
    (void)state;
    const char *path = tmp_path("v0o.h5");
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    unsigned flags = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
    assert_true(H5Pset_link_creation_order(fcpl, flags) >= 0);
    assert_true(H5Pset_attr_creation_order(fcpl, flags) >= 0);
    make_file(path, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    check_raised(path, 0, 40);
}

static void test_version_1(void **state)
{
    (void)state;
    const char *path = tmp_path("v1.h5");
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    assert_true(H5Pset_istore_k(fcpl, 64) >= 0); /* a non-default K needs version 1 */
    make_file(path, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    check_raised(path, 1, 44);
}

/* samples_eoa_to_eof refuses (0) and the file is unchanged byte for byte. */
static void check_refused(const char *path)
{
    long long n0, n1;
    unsigned char *before = slurp(path, &n0);
    assert_int_equal(raise_eoa(path), 0);
    unsigned char *after = slurp(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, (size_t)n0);
    free(before);
    free(after);
}

static void pad(const char *path) { assert_int_equal(truncate(path, file_size(path) + PAD), 0); }

/* Overwrites 8 bytes at off with v. */
static void poke(const char *path, long off, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++, v >>= 8) b[i] = (unsigned char)(v & 0xff);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, b, 8, off), 8);
    close(fd);
}

static void test_refusals(void **state)
{
    (void)state;
    const char *path = tmp_path("latest.h5");
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl;
    assert_true(H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) >= 0);
    make_file(path, H5P_DEFAULT, fapl); /* superblock version 3, with a checksum */
    H5Pclose(fapl);
    pad(path);
    assert_int_equal(byte_at(path, 8), 3);
    check_refused(path);

    path = tmp_path("userblock.h5");
    fcpl = H5Pcreate(H5P_FILE_CREATE);
    assert_true(H5Pset_userblock(fcpl, 512) >= 0); /* the superblock at 512 */
    make_file(path, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    pad(path);
    assert_int_equal(byte_at(path, 512 + 1), 'H');
    check_refused(path);

    path = tmp_path("offsets4.h5");
    fcpl = H5Pcreate(H5P_FILE_CREATE);
    assert_true(H5Pset_sizes(fcpl, 4, 8) >= 0);
    make_file(path, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    pad(path);
    assert_int_equal(byte_at(path, 8), 0);
    assert_int_equal(byte_at(path, 13), 4);
    check_refused(path);

    path = tmp_path("base.h5");
    make_file(path, H5P_DEFAULT, H5P_DEFAULT);
    pad(path);
    poke(path, 24, 1); /* base address */
    check_refused(path);

    path = tmp_path("driver.h5");
    make_file(path, H5P_DEFAULT, H5P_DEFAULT);
    pad(path);
    poke(path, 48, 4096); /* driver information block address */
    check_refused(path);

    path = tmp_path("short.h5"); /* an EOA past the end: a truncated file */
    make_file(path, H5P_DEFAULT, H5P_DEFAULT);
    assert_int_equal(truncate(path, file_size(path) - 1), 0);
    check_refused(path);

    path = tmp_path("text.h5");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 100; i++) fputs("not an HDF5 file\n", f);
    fclose(f);
    check_refused(path);

    path = tmp_path("empty.h5");
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    check_refused(path);
}

static void test_io_errors(void **state)
{
    (void)state;
    const char *path = tmp_path("wronly.h5");
    make_file(path, H5P_DEFAULT, H5P_DEFAULT);
    pad(path);
    int fd = open(path, O_WRONLY); /* cannot read the superblock */
    assert_true(fd >= 0);
    errno = 0;
    assert_int_equal(samples_eoa_to_eof(fd), -1);
    assert_int_equal(errno, EBADF);
    close(fd);
    fd = open(path, O_RDONLY); /* cannot write it */
    assert_true(fd >= 0);
    assert_int_equal(samples_eoa_to_eof(fd), -1);
    close(fd);
    assert_int_equal(samples_eoa_to_eof(-1), -1);
    check_data(path, N0);
}

int main(int argc, char **argv)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_0),
        cmocka_unit_test(test_version_0_creation_order),
        cmocka_unit_test(test_version_1),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_io_errors),
    };
    return sgld_test_run(argc, argv, "superblock", tests, sizeof tests / sizeof tests[0]);
}
