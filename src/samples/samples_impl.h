/* samples_impl.h - private definitions shared by the sample-file writer and reader. */
#ifndef SGLD_SAMPLES_IMPL_H
#define SGLD_SAMPLES_IMPL_H

#include <hdf5.h>

#include "sgld/samples.h"

/* The placeholder netCDF-4 writes as the NAME of a dimension scale that has no coordinate
 * variable ("... variable.         4", the dimension's length after it in 10 columns): the
 * dimension's name is then the scale dataset's own name. */
#define NC_DIM_PLACEHOLDER "This is a netCDF dimension but not a netCDF variable."

/* A dimension of a group: a coordinate dataset that is also a dimension scale, 1-D int64
 * 0..len-1, or, when labels were given (sgld_var_spec), netCDF's char coordinate [len, width]
 * (writer.c's top comment). */
typedef struct {
    char *name;
    int64_t len; /* -1 for draw (unlimited, grows with the appends) */
    hid_t dset;
    const char *const *labels; /* [len] or NULL; the caller's, read during sgld_samples_create only */
    int64_t width;             /* labels: bytes of the longest (>= 1); 0 without labels */
    int width_dimid;           /* labels: _Netcdf4Dimid of the placeholder dimension of that width */
} samples_dim;

/* A group of the file (posterior, sample_stats, ...) with its own chain and draw scales. */
typedef struct {
    char *name;
    hid_t gid;
    int n_dims; /* dims[0] = chain, dims[1] = draw, then the extra dims by first use */
    samples_dim *dims;
} samples_group;

typedef struct {
    int group;
    char *name;
    int n_dims;                          /* extra dims after [chain, draw] */
    hsize_t dims[SGLD_SAMPLES_MAX_DIMS];
    int dim_ids[SGLD_SAMPLES_MAX_DIMS];  /* index into the group's dims */
    int64_t elems_per_draw;
    sgld_dtype dtype;
    hid_t dset;
} samples_var;

/* The file's table of rows (table.c, sgld_samples_table): names[0] is `draws`, written by the
 * module, names[1..n_cols] the caller's columns; dset[] in the same order. */
typedef struct {
    char *group, *dim_name;
    int n_cols;
    char *names[SGLD_SAMPLES_TABLE_MAX_COLS + 1];
    hid_t gid, dim, dset[SGLD_SAMPLES_TABLE_MAX_COLS + 1];
    int64_t rows;      /* rows that belong to the file's n_draws draws */
    int64_t file_rows; /* rows the datasets hold: rows unless an append failed or a kill cut one */
    int64_t *draws;    /* [cap]: `draws` of each row */
    int64_t cap;
    double row[SGLD_SAMPLES_TABLE_MAX_COLS]; /* the staged row */
    int staged;
} samples_table;

struct sgld_samples {
    MPI_Comm comm;
    int rank, size;
    char *path;
    hid_t file;
    hid_t dxpl; /* collective MPI-IO transfer */
    int next_dimid; /* _Netcdf4Dimid of the next dimension scale (samples_set_scale) */
    int n_chains;
    int64_t n_draws;
    int64_t extent; /* draws the datasets hold: n_draws unless an append failed midway */
    int64_t chunk_draws;
    int n_groups;
    samples_group *groups;
    int n_vars;
    samples_var *vars;
    int *chain_count; /* workspace: n_chains */
    int *chain_total; /* workspace: n_chains */
    int64_t *draw_buf; /* workspace for the draw coordinate, grown on demand */
    int64_t draw_buf_n;
    int reopened;         /* opened by sgld_samples_reopen (sgld_samples_table opens, not creates) */
    samples_table *table; /* NULL: none */
};

struct sgld_samples_reader {
    char *path;
    hid_t file;
    double *work; /* [chain][draw][element] staging for read_elems, grown on demand */
    size_t work_n;
};

/* The group path for a user group name: "" and "/" are the root, "x" and "/x" are "/x". */
const char *samples_group_path(const char *group, char *buf, size_t size);

/* Closes the file (collective when open) and frees the handle; returns the local status of
 * closing the file.  writer.c. */
sgld_status samples_free_handle(sgld_samples *s);

/* Makes dset the dimension scale of the dimension `name` (H5DSset_scale; `name` is netCDF's
 * placeholder for a dimension without a coordinate variable) and numbers it: the attribute
 * _Netcdf4Dimid = s->next_dimid++, unique in the file (writer.c's top comment says why every
 * scale carries one).  Collective (a metadata write); local status.  writer.c. */
sgld_status samples_set_scale(sgld_samples *s, hid_t dset, const char *name);

/* table.c, for writer.c: bytes an append that writes the staged row may allocate (0 when none is
 * staged); the rows of the first n_draws draws; the extent of every table dataset (collective
 * when the file is parallel; local status); the staged row written at row t->rows with `draws`
 * (collective: rank 0 writes; local status); the table's handles closed, reopened (local
 * status), and everything freed (NULL-safe). */
hsize_t table_bytes(const sgld_samples *s);
int64_t table_keep(const samples_table *t, int64_t n_draws);
sgld_status table_set_rows(sgld_samples *s, int64_t rows);
sgld_status table_write_row(sgld_samples *s, int64_t draws);
void table_close(samples_table *t);
sgld_status table_open(sgld_samples *s);
void table_free(samples_table **t);

/* Sets the end-of-allocation address in the superblock of the HDF5 file open read-write on fd
 * to the file's size on disk, when the superblock is of a kind this code knows (version 0 or 1
 * at offset 0, 8-byte offsets, base address 0, no driver info block, an EOA not past the end).
 * Returns 1 when the superblock now says so, 0 when it refused (the file is untouched), -1
 * (errno set) when reading, writing or stat failed.  Local; superblock.c. */
int samples_eoa_to_eof(int fd);

#endif
