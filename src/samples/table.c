/* table.c - a table of rows that grows with the draws (samples.h, sgld_samples_table): one
 * row per append that staged one, in a group of its own.
 *
 * Layout, as netCDF-4 and xarray read it: the group holds a 1-D int64 coordinate DIM
 * (0..rows-1), an unlimited dimension scale like `draw`, and the variables [DIM]: `draws`
 * (int64, the draws per chain in the file after the row's append, written by this module)
 * then the caller's columns (float64), all chunked along DIM with no fill value, like the
 * draws' variables.
 *
 * A staged row is written inside the append that carries its draws (writer.c): the same
 * reservation (table_bytes is part of append_bytes), the same extension before the writes and
 * the same flush, so what a kill -9 leaves is what it leaves of the draws.  `draws` is what
 * ties a row to its draws: a truncate, and a reopen that finds variables at different draw
 * counts, keep the leading rows whose `draws` is at most the draws kept (table_keep). */
#include <hdf5_hl.h>
#include <stdio.h>
#include <string.h>

#include "samples_impl.h"

#define TABLE_CHUNK_ROWS 256

/* Rows of the table that belong to the first n_draws draws: the leading rows whose `draws`
 * increase and are at most n_draws.  Local. */
int64_t table_keep(const samples_table *t, int64_t n_draws)
{
    int64_t i = 0;
    while (i < t->file_rows && t->draws[i] <= n_draws && (i == 0 || t->draws[i] > t->draws[i - 1])) i++;
    return i;
}

hsize_t table_bytes(const sgld_samples *s)
{
    if (!s->table || !s->table->staged) return 0;
    /* per dataset (the coordinate, draws, the columns): its header's new extent, and when the
     * row starts a chunk, the chunk and the growth of its chunk index */
    const hsize_t per = 512 + (s->table->rows % TABLE_CHUNK_ROWS == 0 ? TABLE_CHUNK_ROWS * 8 + 2048 : 0);
    return (hsize_t)(s->table->n_cols + 2) * per;
}

static sgld_status grow_rows(samples_table *t, int64_t rows)
{
    if (rows <= t->cap) return SGLD_OK;
    int64_t cap = t->cap ? 2 * t->cap : 64;
    while (cap < rows) cap *= 2;
    int64_t *p = sgld_realloc(t->draws, (size_t)cap * sizeof *p);
    SGLD_CHECK(p, SGLD_ERR_NOMEM, "out of memory for %lld table rows", (long long)rows);
    t->draws = p;
    t->cap = cap;
    return SGLD_OK;
}

sgld_status table_set_rows(sgld_samples *s, int64_t rows)
{
    samples_table *t = s->table;
    if (!t) return SGLD_OK;
    hsize_t n = (hsize_t)rows;
    for (int c = -1; c <= t->n_cols; c++) {
        hid_t d = c < 0 ? t->dim : t->dset[c];
        if (H5Dset_extent(d, &n) < 0)
            return sgld_error_set(SGLD_ERR_HDF5, "%s: cannot set the rows of table '%s'", s->path, t->group);
    }
    return SGLD_OK;
}

/* Writes one 1-D row value at `row` of dset: rank 0 writes, the others select nothing.
 * Collective; local status. */
static sgld_status write_cell(sgld_samples *s, hid_t dset, hid_t mtype, int64_t row, const void *value)
{
    hsize_t start = (hsize_t)row, one = 1;
    hid_t fspace = H5Dget_space(dset), mspace = H5Screate_simple(1, &one, NULL);
    sgld_status st = SGLD_OK;
    if (fspace < 0 || mspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &one, NULL) < 0)
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot select row %lld of table '%s'", s->path, (long long)row,
                            s->table->group);
    if (s->rank != 0 || st != SGLD_OK) {
        if (fspace >= 0) H5Sselect_none(fspace);
        if (mspace >= 0) H5Sselect_none(mspace);
    }
    if (H5Dwrite(dset, mtype, mspace, fspace, s->dxpl, value) < 0 && st == SGLD_OK)
        st = sgld_error_set(SGLD_ERR_IO, "%s: writing row %lld of table '%s' failed", s->path, (long long)row,
                            s->table->group);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    return st;
}

sgld_status table_write_row(sgld_samples *s, int64_t draws)
{
    samples_table *t = s->table;
    const int64_t row = t->rows;
    sgld_status st = grow_rows(t, row + 1), w;
    if (st == SGLD_OK) t->draws[row] = draws;
    w = write_cell(s, t->dim, H5T_NATIVE_INT64, row, &row);
    if (st == SGLD_OK) st = w;
    w = write_cell(s, t->dset[0], H5T_NATIVE_INT64, row, &draws);
    if (st == SGLD_OK) st = w;
    for (int c = 0; c < t->n_cols; c++) {
        w = write_cell(s, t->dset[1 + c], H5T_NATIVE_DOUBLE, row, &t->row[c]);
        if (st == SGLD_OK) st = w;
    }
    return st;
}

void table_close(samples_table *t)
{
    if (!t) return;
    for (int c = 0; c <= t->n_cols; c++)
        if (t->dset[c] >= 0) H5Dclose(t->dset[c]), t->dset[c] = H5I_INVALID_HID;
    if (t->dim >= 0) H5Dclose(t->dim), t->dim = H5I_INVALID_HID;
    if (t->gid >= 0) H5Gclose(t->gid), t->gid = H5I_INVALID_HID;
}

void table_free(samples_table **pt)
{
    samples_table *t = *pt;
    if (!t) return;
    table_close(t);
    for (int c = 0; c <= t->n_cols; c++) sgld_free(t->names[c]);
    sgld_free(t->group);
    sgld_free(t->dim_name);
    sgld_free(t->draws);
    sgld_free(t);
    *pt = NULL;
}

sgld_status table_open(sgld_samples *s)
{
    samples_table *t = s->table;
    if (!t) return SGLD_OK;
    SGLD_CHECK((t->gid = H5Gopen2(s->file, t->group, H5P_DEFAULT)) >= 0, SGLD_ERR_PARSE,
               "%s: no group '%s' to append rows to", s->path, t->group);
    SGLD_CHECK((t->dim = H5Dopen2(t->gid, t->dim_name, H5P_DEFAULT)) >= 0, SGLD_ERR_PARSE,
               "%s: group '%s' has no '%s' coordinate", s->path, t->group, t->dim_name);
    for (int c = 0; c <= t->n_cols; c++)
        SGLD_CHECK((t->dset[c] = H5Dopen2(t->gid, t->names[c], H5P_DEFAULT)) >= 0, SGLD_ERR_PARSE,
                   "%s: no variable '%s/%s' to append rows to", s->path, t->group, t->names[c]);
    return SGLD_OK;
}

/* Creates the group, its dimension and its variables in a new file.  Collective; local status. */
static sgld_status create_layout(sgld_samples *s)
{
    samples_table *t = s->table;
    sgld_status st = SGLD_OK;
    const unsigned order = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED; /* as writer.c's */
    hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = TABLE_CHUNK_ROWS;
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t space = H5Screate_simple(1, &zero, &unlimited);
    if (gcpl < 0 || dcpl < 0 || space < 0 || H5Pset_link_creation_order(gcpl, order) < 0 ||
        H5Pset_attr_creation_order(gcpl, order) < 0 || H5Pset_attr_creation_order(dcpl, order) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 || H5Pset_chunk(dcpl, 1, &chunk) < 0 ||
        (t->gid = H5Gcreate2(s->file, t->group, H5P_DEFAULT, gcpl, H5P_DEFAULT)) < 0 ||
        (t->dim = H5Dcreate2(t->gid, t->dim_name, H5T_STD_I64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0)
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot create table '%s'", s->path, t->group);
    if (st == SGLD_OK) st = samples_set_scale(s, t->dim, t->dim_name);
    for (int c = 0; c <= t->n_cols && st == SGLD_OK; c++)
        if ((t->dset[c] = H5Dcreate2(t->gid, t->names[c], c ? H5T_IEEE_F64LE : H5T_STD_I64LE, space, H5P_DEFAULT,
                                     dcpl, H5P_DEFAULT)) < 0 ||
            H5DSattach_scale(t->dset[c], t->dim, 0) < 0)
            st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot create '%s/%s'", s->path, t->group, t->names[c]);
    if (st == SGLD_OK && H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
        st = sgld_error_set(SGLD_ERR_IO, "%s: flush failed", s->path);
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (gcpl >= 0) H5Pclose(gcpl);
    return st;
}

/* A reopened file: the rows in the file and their `draws` (every rank reads them; independent
 * reads).  Local. */
static sgld_status read_rows(sgld_samples *s)
{
    samples_table *t = s->table;
    hsize_t n = 0;
    hid_t space = H5Dget_space(t->dset[0]);
    int ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 1 && H5Sget_simple_extent_dims(space, &n, NULL) == 1;
    if (space >= 0) H5Sclose(space);
    SGLD_CHECK(ok, SGLD_ERR_PARSE, "%s: '%s/draws' is not 1-D", s->path, t->group);
    SGLD_TRY(grow_rows(t, (int64_t)n + 1));
    SGLD_CHECK(n == 0 || H5Dread(t->dset[0], H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->draws) >= 0,
               SGLD_ERR_IO, "%s: cannot read '%s/draws'", s->path, t->group);
    t->file_rows = (int64_t)n;
    t->rows = table_keep(t, s->n_draws);
    return SGLD_OK;
}

/* The handle's table from the arguments.  Local. */
static sgld_status build_table(sgld_samples *s, const char *group, const char *dim, int n_cols,
                               const char *const *cols)
{
    SGLD_CHECK(group && group[0] && !strchr(group, '/') && dim && dim[0] && !strchr(dim, '/') && cols &&
               n_cols >= 1 && n_cols <= SGLD_SAMPLES_TABLE_MAX_COLS, SGLD_ERR_ARG,
               "%s: table '%s': bad arguments", s->path, group ? group : "");
    for (int g = 0; g < s->n_groups; g++)
        SGLD_CHECK(strcmp(s->groups[g].name, group) != 0, SGLD_ERR_ARG, "%s: group '%s' holds draws", s->path, group);
    SGLD_ALLOC(s->table, 1);
    samples_table *t = s->table;
    memset(t, 0, sizeof *t);
    t->gid = t->dim = H5I_INVALID_HID;
    for (int c = 0; c <= SGLD_SAMPLES_TABLE_MAX_COLS; c++) t->dset[c] = H5I_INVALID_HID;
    t->n_cols = n_cols;
    t->group = sgld_strdup(group);
    t->dim_name = sgld_strdup(dim);
    t->names[0] = sgld_strdup("draws");
    SGLD_CHECK(t->group && t->dim_name && t->names[0], SGLD_ERR_NOMEM, "out of memory for a table");
    for (int c = 0; c < n_cols; c++) {
        SGLD_CHECK(cols[c] && cols[c][0] && !strchr(cols[c], '/') && strcmp(cols[c], dim) && strcmp(cols[c], "draws"),
                   SGLD_ERR_ARG, "%s: table '%s': bad column name '%s'", s->path, group, cols[c] ? cols[c] : "");
        SGLD_CHECK(t->names[1 + c] = sgld_strdup(cols[c]), SGLD_ERR_NOMEM, "out of memory for a table");
    }
    return SGLD_OK;
}

sgld_status sgld_samples_table(sgld_samples *s, const char *group, const char *dim, int n_cols,
                               const char *const *cols)
{
    SGLD_CHECK(s, SGLD_ERR_ARG, "sgld_samples_table: NULL handle");
    if (s->table) return sgld_status_agree(s->comm, sgld_error_set(SGLD_ERR_ARG, "%s: the file has a table already",
                                                                    s->path));
    sgld_status st = build_table(s, group, dim, n_cols, cols);
    if (st == SGLD_OK && !s->reopened && H5Lexists(s->file, group, H5P_DEFAULT) != 0)
        st = sgld_error_set(SGLD_ERR_ARG, "%s: group '%s' exists", s->path, group);
    st = sgld_status_agree(s->comm, st);
    if (st != SGLD_OK) {
        table_free(&s->table);
        return st;
    }
    if (s->reopened) {
        st = table_open(s);
        if (st == SGLD_OK) st = read_rows(s);
    } else {
        st = create_layout(s);
    }
    st = sgld_status_agree(s->comm, st);
    if (st != SGLD_OK && s->reopened) table_free(&s->table); /* a new file is discarded anyway */
    return st;
}

sgld_status sgld_samples_table_row(sgld_samples *s, const double *values)
{
    SGLD_CHECK(s && s->table && values, SGLD_ERR_ARG, "sgld_samples_table_row: no table or no values");
    memcpy(s->table->row, values, (size_t)s->table->n_cols * sizeof *values);
    s->table->staged = 1;
    return SGLD_OK;
}

int64_t sgld_samples_table_rows(const sgld_samples *s) { return s && s->table ? s->table->rows : 0; }
