/* samples.h - the HDF5 sample file (netCDF-4 / ArviZ InferenceData layout).
 *
 * Groups /posterior and /sample_stats hold variables shaped [chain, draw, ...] with HDF5
 * dimension scales named `chain`, `draw` and one per extra dimension (`<var>_dim_<k>` unless
 * named; 0..len-1, or labels such as feature names), and /observed_data one variable over its
 * own rows (sgld_samples_observed), and at most one group of rows that grows with the draws
 * (sgld_samples_table: the run's convergence monitor), so that xarray (netcdf4 and h5netcdf engines), arviz.from_netcdf and `ncdump -h`
 * read it.  `draw` is unlimited and chunked; draws are appended by all chains together
 * (collective) and the file is flushed, so it is valid after every append.
 *
 * Writing is collective over the communicator given to create (parallel HDF5, MPI-IO):
 * every rank calls every function with the same arguments, but only ranks that pass data
 * for a chain write it (others pass chain = -1). */
#ifndef SGLD_SAMPLES_H
#define SGLD_SAMPLES_H

#include <mpi.h>
#include <stdint.h>

#include "sgld/status.h"

#define SGLD_SAMPLES_MAX_DIMS 6 /* extra dimensions after [chain, draw] */

/* SGLD_BOOL: int8_t 0/1 in memory, int8 in the file with the attribute dtype = "bool" (how
 * xarray encodes a boolean variable; both engines read it back as bool). */
typedef enum { SGLD_F32 = 0, SGLD_F64 = 1, SGLD_BOOL = 2 } sgld_dtype;

typedef struct sgld_var_spec {
    const char *group;                         /* "posterior" or "sample_stats" */
    const char *name;                          /* e.g. "w" */
    int n_dims;                                /* extra dims after [chain, draw], 0.. */
    int64_t dims[SGLD_SAMPLES_MAX_DIMS];
    const char *dim_names[SGLD_SAMPLES_MAX_DIMS]; /* NULL entries default to <name>_dim_<k> */
    sgld_dtype dtype;
    /* NULL, or dims[k] UTF-8 labels of dimension k (feature or class names, any bytes but
     * NUL): its coordinate variable holds them as netCDF text (a char coordinate [dims[k],
     * stringW] with the placeholder dimension stringW, W = the longest label's bytes, and
     * _Encoding = "utf-8"), which both xarray engines read as str and ncdump shows as char,
     * instead of 0..len-1.  The first variable with labels for a dimension sets them; the same
     * labels on every rank (rank 0's are written); read by sgld_samples_create only
     * (sgld_samples_reopen ignores them).  Written collectively with the file's creation, so a
     * labelled file keeps the kill -9 guarantee of sgld_samples_append_chains.  SGLD_ERR_ARG
     * when a label is NULL or a dim or variable of the group is named stringW. */
    const char *const *dim_labels[SGLD_SAMPLES_MAX_DIMS];
} sgld_var_spec;

typedef struct sgld_samples sgld_samples;

/* Creates `path` (refuses an existing file with SGLD_ERR_EXISTS unless force) with the given
 * variables, n_chains chains, zero draws; chunk_draws is the chunk length along draw.
 * Collective over comm; comm is duplicated.  On failure no file is left behind. */
sgld_status sgld_samples_create(MPI_Comm comm, const char *path, int force, int n_chains,
                                int n_vars, const sgld_var_spec *vars, int64_t chunk_draws,
                                sgld_samples **out);

/* Attributes: on a group ("" or "/" = root, "posterior", ...). Collective.  The group must
 * be the root or hold variables (SGLD_ERR_ARG otherwise); an attribute of the same name is
 * replaced; n >= 1 (one value is stored as a scalar). */
sgld_status sgld_samples_attr_string(sgld_samples *s, const char *group, const char *name,
                                     const char *value);
sgld_status sgld_samples_attr_double(sgld_samples *s, const char *group, const char *name,
                                     int n, const double *values);
sgld_status sgld_samples_attr_int(sgld_samples *s, const char *group, const char *name,
                                  int n, const int64_t *values);

/* A 1-D int64 coordinate NAME of n >= 1 given values in the root group: a dimension scale of
 * its own (netCDF: a coordinate variable of dimension NAME), contiguous, written once by rank 0
 * from its `values` (the other ranks' are not read).  Collective, same name and n everywhere;
 * SGLD_ERR_ARG when a dataset of that name exists. */
sgld_status sgld_samples_index_coord(sgld_samples *s, const char *name, int64_t n, const int64_t *values);

/* A coordinate NAME on the chain dimension of every group (posterior, sample_stats, ...): one
 * int64 per chain, values[c] for chain c, written once by rank 0 from its `values` (the other
 * ranks' are not read); the netCDF variable NAME(chain) in each group, and the group attribute
 * `coordinates = "NAME"` that makes xarray read it as a coordinate (chain_coord.c).  Once per
 * file: SGLD_ERR_ARG when a group already holds NAME or a `coordinates` attribute.  Collective,
 * the same name everywhere; the same status on every rank. */
sgld_status sgld_samples_chain_coord(sgld_samples *s, const char *name, const int64_t *values);

/* A new group GROUP (not one of the draws' groups) holding a 1-D variable NAME over a new
 * dimension DIM of n_total rows, with DIM's coordinate 0..n_total-1: ArviZ's observed_data.
 * The values come from the ranks that hold them: each passes its rows [row_begin, row_begin +
 * n_local) (float, converted to float64, or with integer != 0 to int64) and together they
 * cover every row once; a rank with none passes n_local = 0.  Written with one collective
 * write (no rank holds the whole) and flushed.  SGLD_ERR_ARG when GROUP exists or the rows
 * are out of range.  Collective: the same group, name, dim, n_total and integer everywhere. */
sgld_status sgld_samples_observed(sgld_samples *s, const char *group, const char *name, const char *dim,
                                  int64_t n_total, int64_t row_begin, int64_t n_local, const float *values,
                                  int integer);

/* Appends n_draws draws.  Collective: every rank calls with the same n_draws; a rank that
 * writes chain c passes chain = c and data[v] pointing to n_draws x prod(dims of v) values
 * of var v (in its dtype, draw-major); every other rank passes chain = -1 and data = NULL.
 * Each chain must be written by exactly one rank.  Extends draw, writes, flushes. */
sgld_status sgld_samples_append(sgld_samples *s, int chain, int64_t n_draws,
                                const void *const *data);

/* The same for a rank that holds several chains (or none): one collective call appends
 * n_draws draws to every chain.  Each rank passes the n_local chains it writes, chains[i]
 * with data[i][v] laid out as in sgld_samples_append; n_local = 0 (chains and data NULL) on
 * ranks that write nothing.  Across all ranks every chain must appear exactly once, else
 * SGLD_ERR_ARG on every rank (checked with one MPI_Allreduce); n_draws must be equal on all
 * ranks.  The draw extent grows once per call, so a rank never calls this once per chain.
 * sgld_samples_append(s, c, n, data) is sgld_samples_append_chains(s, c >= 0, &c, n, &data). */
sgld_status sgld_samples_append_chains(sgld_samples *s, int n_local, const int *chains,
                                       int64_t n_draws, const void *const *const *data);

/* Opens an existing file made by sgld_samples_create with the same n_chains and vars, to append
 * to it (a resumed run).  Every variable must exist with shape [n_chains, D, dims...] and the
 * same D, which becomes sgld_samples_n_draws.  Attributes are left as they are.  SGLD_ERR_IO
 * when the file is missing or not writable HDF5, SGLD_ERR_PARSE naming the variable when the
 * layout differs.  Collective over comm (duplicated); the same status on every rank. */
sgld_status sgld_samples_reopen(MPI_Comm comm, const char *path, int n_chains, int n_vars,
                                const sgld_var_spec *vars, sgld_samples **out);

/* A table of rows that grows with the draws (table.c): group GROUP (not a group of draws) with
 * an unlimited dimension DIM (coordinate 0..rows-1) and 1-D variables over it: `draws` (int64,
 * the draws per chain in the file after the row was written; the module writes it) and the
 * n_cols float64 columns cols[] (1..SGLD_SAMPLES_TABLE_MAX_COLS, none named `draws` or DIM).
 * A row staged with sgld_samples_table_row is written by the next append of draws, inside it
 * (same flush: what a kill -9 leaves of the row is what it leaves of the draws); an append of 0
 * draws writes none.  sgld_samples_truncate (and an append after a reopen that found the
 * variables at different draw counts) keeps the rows whose `draws` is at most the draws kept.
 * On a handle from sgld_samples_create it creates the group (SGLD_ERR_ARG when it exists); on
 * one from sgld_samples_reopen it opens the existing table (SGLD_ERR_PARSE naming what is
 * missing), whose rows beyond the file's draws are cut by the next truncate or append.  At most
 * one table per handle.  Collective, the same arguments everywhere; the same status on every
 * rank. */
#define SGLD_SAMPLES_TABLE_MAX_COLS 15
sgld_status sgld_samples_table(sgld_samples *s, const char *group, const char *dim, int n_cols,
                               const char *const *cols);

/* Stages the next row (n_cols values; the last staged row wins) for the next append.  Call it
 * on every rank with the same values (rank 0's are written).  Local. */
sgld_status sgld_samples_table_row(sgld_samples *s, const double *values);

/* Rows of the table that belong to the file's draws (0 without a table).  Not collective. */
int64_t sgld_samples_table_rows(const sgld_samples *s);

/* Draws written so far (the same on every rank).  Not collective. */
int64_t sgld_samples_n_draws(const sgld_samples *s);

/* Truncates every variable (and the draw scale) to n_draws <= sgld_samples_n_draws (for a
 * resume). Collective; briefly closes the file (rank 0 shrinks it serially, see writer.c). */
sgld_status sgld_samples_truncate(sgld_samples *s, int64_t n_draws);

/* Closes the file and frees; *s = NULL. Collective. NULL-safe.  Returns the close status. */
sgld_status sgld_samples_close(sgld_samples **s);

/* Deletes a file this run created (used after a failure so no half-written output is left);
 * call after close.  Not collective: rank 0 of comm unlinks, the others return at once
 * (comm only tells rank 0 apart). */
void sgld_samples_discard(MPI_Comm comm, const char *path);

/* ---- reading: nothing below is collective (any rank may read on its own) ---- */

typedef struct sgld_samples_reader sgld_samples_reader;

/* Opens any HDF5 file in the layout above read-only.  SGLD_ERR_IO when missing or not HDF5
 * ("FILE: not an HDF5 file").  Not collective. */
sgld_status sgld_samples_open(const char *path, sgld_samples_reader **out);
void sgld_samples_reader_close(sgld_samples_reader **r);

/* Names of the variables of a group that are shaped [chain, draw, ...] (in file order);
 * caller frees with sgld_samples_free_names.  SGLD_ERR_ARG if the group does not exist.
 * A group is a path at any depth ("posterior", "a/b/c").  A variable is a dataset of integers
 * (any width, signed or not) or floats of rank 2 to SGLD_SAMPLES_MAX_DIMS + 2 that is not a
 * dimension scale and whose first two axes, when they carry dimension scales, are the
 * dimensions `chain` and `draw`: a scale names its dimension by its NAME attribute, or, when
 * that is missing or netCDF-4's placeholder for a dimension without a coordinate variable
 * (what xarray writes then), by its own dataset name.  Every other dataset (coordinates,
 * variables over other dimensions, strings) is left out.  All values are read as double.  Not collective. */
sgld_status sgld_samples_list(sgld_samples_reader *r, const char *group, int *n_vars,
                              char ***names);
void sgld_samples_free_names(int n, char ***names);

/* Shape of a variable: *n_dims total dims (>= 2) and dims[0..n_dims); SGLD_ERR_ARG naming the
 * variable if absent.  Not collective. */
sgld_status sgld_samples_shape(sgld_samples_reader *r, const char *group, const char *name,
                               int *n_dims, int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2]);

/* Reads flattened elements [elem_begin, elem_begin + n_elem) (row-major over the dims after
 * [chain, draw]) of all chains and draws, as double, into out laid out element-major:
 * out[(e * n_chains + c) * n_draws + t].  Reads only what it needs from the file.  Not
 * collective. */
sgld_status sgld_samples_read_elems(sgld_samples_reader *r, const char *group,
                                    const char *name, int64_t elem_begin, int64_t n_elem,
                                    double *out);

/* The same for the first n_draws draws of every chain only (n_draws < 0: all of them), with
 * n_draws in place of the draw extent in out's layout: the common part of variables whose
 * draw extents differ, as a file still being written leaves them.  SGLD_ERR_ARG naming the
 * variable when n_draws exceeds its extent. */
sgld_status sgld_samples_read_elems_draws(sgld_samples_reader *r, const char *group, const char *name,
                                          int64_t elem_begin, int64_t n_elem, int64_t n_draws,
                                          double *out);

/* Reads draws [draw_begin, draw_begin + n_draws) of one chain of a variable, every element,
 * as float, into out[t][e] (draw-major, elements row-major over the dims after [chain, draw]).
 * Reads only that hyperslab: a draw block of a large network costs its own bytes.
 * SGLD_ERR_ARG naming the variable when the chain or draws are out of range.  Not collective. */
sgld_status sgld_samples_read_draws(sgld_samples_reader *r, const char *group, const char *name,
                                    int64_t chain, int64_t draw_begin, int64_t n_draws, float *out);

/* Reads the 1-D int64 dataset NAME of the root group (a coordinate such as
 * sgld_samples_index_coord writes) into *values [*n >= 1] (caller frees with sgld_free).
 * SGLD_ERR_ARG naming the file when there is no such non-empty 1-D dataset, SGLD_ERR_IO when
 * reading it fails, SGLD_ERR_NOMEM.  Not collective. */
sgld_status sgld_samples_read_coord(sgld_samples_reader *r, const char *name, int64_t *n,
                                    int64_t **values);

/* Reads the chain coordinate NAME of group (as sgld_samples_chain_coord writes it) into
 * values[n_chains] and sets *found; a group without NAME is no error (*found = 0, values
 * untouched).  SGLD_ERR_ARG naming the file when there is no such group; SGLD_ERR_PARSE naming
 * the file and GROUP/NAME when NAME is not n_chains integers on one axis; SGLD_ERR_IO when reading
 * fails. */
sgld_status sgld_samples_read_chain_coord(sgld_samples_reader *r, const char *group, const char *name,
                                          int64_t n_chains, int64_t *values, int *found);

/* ---- block reads of a 3-D variable in the file's chunk order (block_reader.c) ---- */

/* Reads blocks of elements of one variable shaped [chain, draw, element] of 4- or 8-byte IEEE
 * floats one chunk row at a time, in the file's own type, and converts them itself: the same
 * values as sgld_samples_read_elems gives, several times faster on a large file. */
typedef struct sgld_samples_block_reader sgld_samples_block_reader;

/* Opens group/name of r for block reads of the first n_draws draws of every chain (n_draws < 0:
 * all of them).  Returns NULL when it is not a 3-D dataset of 4- or 8-byte floats holding at
 * least n_draws draws (or on any HDF5 failure or out of memory), and the caller reads with
 * sgld_samples_read_elems_draws instead; records no error.  Close it before r.  Not collective. */
sgld_samples_block_reader *sgld_samples_block_open(sgld_samples_reader *r, const char *group,
                                                   const char *name, int64_t n_draws);
void sgld_samples_block_close(sgld_samples_block_reader **b); /* NULL-safe; *b = NULL */

/* Reads elements [e0, e0 + ne) of every chain and of the draws it was opened for into
 * out[e][c * n_draws + t] (the layout of sgld_samples_read_elems_draws).  SGLD_ERR_IO naming
 * the file, variable and elements when HDF5 fails; SGLD_ERR_NOMEM.  Not
 * collective. */
sgld_status sgld_samples_block_read(sgld_samples_block_reader *b, int64_t e0, int64_t ne,
                                    double *out);

/* Reads an attribute as a string (caller frees) / as doubles; SGLD_ERR_ARG if absent.
 * read_attr_double converts any numeric attribute and sets *n to its number of values; it
 * fails with SGLD_ERR_ARG (values untouched) when that exceeds max_n, except that max_n = 0
 * with values = NULL only queries *n.  Not collective. */
sgld_status sgld_samples_read_attr_string(sgld_samples_reader *r, const char *group,
                                          const char *name, char **value);
sgld_status sgld_samples_read_attr_double(sgld_samples_reader *r, const char *group,
                                          const char *name, int max_n, int *n, double *values);

#endif
