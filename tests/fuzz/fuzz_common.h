/* fuzz_common.h - what the libFuzzer harnesses share: MPI and HDF5 set up once, and the
 * input written to a private file, since every reader under test takes a path. */
#ifndef SGLD_FUZZ_COMMON_H
#define SGLD_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <hdf5.h>
#include <mpi.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* MPI (the readers are MPI code) and no HDF5 error stacks on stderr. */
static inline void fuzz_init(void)
{
    int up = 0;
    MPI_Initialized(&up);
    if (!up) MPI_Init(NULL, NULL);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    setenv("SGLD_PLUGIN_PATH", "", 1); /* no plug-in of the environment runs in a harness */
}

/* Writes data to a per-process file under /dev/shm (or /tmp) with the given suffix and
 * returns its path (a static buffer), or NULL. */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
    static char path[256];
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/sgld-fuzz-%ld%s", dir, (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return NULL;
    }
    fclose(f);
    return path;
}

/* ---- structured HDF5 inputs ----
 * libhdf5 1.10's own parser crashes within seconds on byte-mutated files (inside
 * H5F__accum_read, H5HG_read, ...: not our code, and not fixable here), so by default the
 * HDF5 harnesses do not hand libFuzzer's bytes to HDF5 as a file.  They read the bytes as a
 * recipe (which datasets and attributes, ranks, extents, types, values; NaN, Inf, huge and
 * negative values included), build a well-formed file with the HDF5 API, and give that to
 * the reader under test: what is fuzzed is our handling of every shape, type and value a
 * valid file can hold.  SGLD_FUZZ_RAW_HDF5=1 restores raw bytes (to hunt HDF5's crashes). */
typedef struct fuzz_bytes {
    const uint8_t *p;
    size_t n;
} fuzz_bytes;

static inline unsigned fuzz_u8(fuzz_bytes *b)
{
    if (!b->n) return 0;
    b->n--;
    return *b->p++;
}

/* A value for element i: mostly small numbers, sometimes NaN, Inf, huge or negative. */
static inline double fuzz_value(fuzz_bytes *b)
{
    unsigned k = fuzz_u8(b);
    switch (k % 16) {
    case 0: return 0.0 / 0.0;
    case 1: return 1.0 / 0.0;
    case 2: return -1e300;
    case 3: return 3e9;
    default: return ((double)k - 128.0) / 16.0 + (double)(fuzz_u8(b) % 4);
    }
}

/* Writes dataset `name` (under group g) of rank 0..3, extents from the recipe (0..12 each),
 * one of ten file types, values from the recipe. */
static inline void fuzz_dataset(hid_t g, const char *name, fuzz_bytes *b)
{
    static const int n_types = 10;
    hid_t types[10] = {H5T_NATIVE_DOUBLE, H5T_NATIVE_FLOAT, H5T_NATIVE_INT, H5T_NATIVE_LLONG,
                       H5T_NATIVE_UCHAR, H5T_NATIVE_SCHAR, H5T_NATIVE_USHORT, H5T_NATIVE_UINT,
                       H5T_NATIVE_ULLONG, -1};
    int rank = (int)(fuzz_u8(b) % 4);
    hsize_t dims[3] = {1, 1, 1}, n = 1;
    for (int k = 0; k < rank; k++) {
        dims[k] = fuzz_u8(b) % 13;
        n *= dims[k];
    }
    int t = (int)(fuzz_u8(b) % (unsigned)n_types);
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    if (types[t] < 0) { /* fixed-length strings */
        hid_t st = H5Tcopy(H5T_C_S1);
        H5Tset_size(st, 4);
        char *buf = calloc(n ? n : 1, 4);
        for (hsize_t i = 0; i < n && buf; i++) buf[4 * i] = (char)('a' + fuzz_u8(b) % 26);
        hid_t d = H5Dcreate2(g, name, st, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (d >= 0 && buf && n) H5Dwrite(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        if (d >= 0) H5Dclose(d);
        free(buf);
        H5Tclose(st);
    } else {
        double *v = malloc((n ? n : 1) * sizeof *v);
        for (hsize_t i = 0; i < n && v; i++) v[i] = fuzz_value(b);
        hid_t d = H5Dcreate2(g, name, types[t], sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        /* converting NaN/Inf/out-of-range doubles to integer types is HDF5's business:
         * let it clip them (its default exception handling) */
        if (d >= 0 && v && n) H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        if (d >= 0) H5Dclose(d);
        free(v);
    }
    H5Sclose(sp);
}

/* A numeric or string attribute `name` on object o, from the recipe. */
static inline void fuzz_attr(hid_t o, const char *name, fuzz_bytes *b)
{
    unsigned k = fuzz_u8(b);
    if (k % 3 == 0) {
        hid_t st = H5Tcopy(H5T_C_S1);
        size_t len = 1 + fuzz_u8(b) % 16;
        H5Tset_size(st, len);
        char s[17] = {0};
        for (size_t i = 0; i < len; i++) s[i] = (char)(fuzz_u8(b) % 96 + 32);
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(o, name, st, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) H5Awrite(a, st, s), H5Aclose(a);
        H5Sclose(sp);
        H5Tclose(st);
        return;
    }
    hsize_t n = fuzz_u8(b) % 12;
    double v[12];
    for (hsize_t i = 0; i < n; i++) v[i] = fuzz_value(b);
    hid_t sp = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    if (!n) v[0] = fuzz_value(b);
    hid_t a = H5Acreate2(o, name, k % 3 == 1 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) H5Awrite(a, H5T_NATIVE_DOUBLE, v), H5Aclose(a);
    H5Sclose(sp);
}

static inline int fuzz_raw_hdf5(void)
{
    const char *e = getenv("SGLD_FUZZ_RAW_HDF5");
    return e && *e == '1';
}

/* The HDF5 file path for this input: raw bytes (SGLD_FUZZ_RAW_HDF5=1) or a file built from
 * the recipe by build(fid, bytes). */
static inline const char *fuzz_hdf5_file(const uint8_t *data, size_t size,
                                          void (*build)(hid_t, fuzz_bytes *))
{
    if (fuzz_raw_hdf5()) return fuzz_file(data, size, ".h5");
    const char *path = fuzz_file(NULL, 0, ".h5");
    if (!path) return NULL;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return NULL;
    fuzz_bytes b = {data, size};
    build(f, &b);
    H5Fclose(f);
    return path;
}

#endif
