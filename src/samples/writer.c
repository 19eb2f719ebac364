/* writer.c - the sample file writer: parallel HDF5 (MPI-IO) in the netCDF-4 / ArviZ
 * InferenceData layout (groups /posterior and /sample_stats, variables [chain, draw, ...]).
 *
 * Every dimension is a 1-D int64 coordinate dataset holding 0..len-1 that is also an HDF5
 * dimension scale (H5DSset_scale with NAME = the dimension name) attached to each variable
 * axis; that is what netCDF-C and h5netcdf use to recover a variable's dims.  What else the
 * readers needed (found by running ncdump -h, xarray engine="netcdf4" and engine="h5netcdf"
 * on the files, see tests/samples/check_layout.py and check_arviz.py):
 *   - A labelled dimension (sgld_var_spec.dim_labels: feature and class names) is netCDF's
 *     char coordinate, the layout netCDF-C writes for xarray's
 *     encoding={"dtype": "S1"}: a 2-D [len, W] dataset of 1-byte H5T_C_S1 (NC_CHAR), each
 *     label NUL-padded to W = the longest label's bytes, that is itself the scale of its
 *     dimension, with _Encoding = "utf-8" and _Netcdf4Coordinates = [its dimid, the dimid of
 *     stringW]; stringW is a placeholder dimension (a 1-D float scale of length W without
 *     values whose NAME is netCDF's "This is a netCDF dimension but not a netCDF variable."
 *     and W in 10 columns), one per width per group.  Both engines read it as str, ncdump as
 *     `char feature(feature, string8)`.  Fixed-size bytes go through collective MPI-IO like
 *     any other data (write_labels), so it is written inside the file's creation: variable-
 *     length strings (NC_STRING) cannot be written through MPI-IO by parallel HDF5 1.10, and
 *     a file closed and reopened to write them serially lost the kill -9 guarantee of its
 *     appends; a 1-D dataset of fixed-length strings of size > 1 aborts the netcdf4 engine
 *     (netCDF-C 4.9.0: "double free or corruption").
 *   - _Netcdf4Dimid (int32) on every dimension scale of the file, numbered 0, 1, ... in
 *     creation order across all groups (samples_set_scale), as netCDF-C numbers dims.  A
 *     variable with _Netcdf4Coordinates names its dims by these numbers, and a scale without
 *     one gets a number from its reading order (netCDF-C: the next after the largest seen;
 *     h5netcdf: a count of the dims opened), which collided with the explicit ones: ncdump
 *     then listed `feature` twice and xarray's netcdf4 engine refused the group.  With every
 *     scale numbered nothing is left to either reader's count.
 *   - Link and attribute creation order TRACKED|INDEXED on the file (root group), on every
 *     group and on every dataset, as netCDF-C itself writes.  netCDF-C 4.9.0 and h5netcdf
 *     1.1 do read files without it (checked with an h5py-made file), but then iterate by
 *     name, so ncdump, xarray and sgld_samples_list would show variables and attributes in
 *     alphabetical rather than creation order (chain, draw, dims, variables as given).
 *   - String attributes as fixed-length, NUL-terminated C strings in a scalar dataspace (what
 *     netCDF-C writes for NC_CHAR text).  ncdump shows them as text, netcdf4 and h5netcdf
 *     both give Python str (variable-length strings read too, but as NC_STRING, which ncdump
 *     marks `string` unlike files written by netCDF itself).  An empty string is written as one NUL byte (H5Tset_size(0) is
 *     invalid).  Character set ASCII, or UTF-8 when the value has bytes >= 0x80.
 *   - Numeric attributes as IEEE f64 / int64 (NC_DOUBLE / NC_INT64); one value in a scalar
 *     dataspace (both engines also turn a 1-element array into a scalar; h5py does not).
 *   - No fill value is written (H5D_FILL_TIME_NEVER): every element is written by an append,
 *     and writing fills collectively on every extend would double the I/O.
 *   - Nothing else: no _NCProperties, and _Netcdf4Coordinates only on char coordinates
 *     (netCDF-C infers the other variables' dims from their scales).
 *
 * Shrinking (truncate) is done by rank 0 through the serial driver, see shrink().
 *
 * Parallel rules: every call is collective over the duplicated communicator (HDF5 metadata
 * operations must be made by all ranks with the same arguments); raw data are written with
 * collective MPI-IO, ranks without data selecting nothing.  Before every collective step the
 * ranks agree on failure (sgld_status_agree), so all return the same status. */
#include <errno.h>
#include <fcntl.h>
#include <hdf5_hl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "samples_impl.h"

/* Chunks are [n_chains, chunk_draws, whole extra dims]; larger chunks than this (HDF5's limit
 * is 4 GiB) are reduced, first along draw, then along chain, then along the extra dims. */
#define CHUNK_MAX_BYTES ((hsize_t)64 << 20)

#define H5_GOTO(expr, path, st, label)                                                       \
    do {                                                                                     \
        if ((long long)(expr) < 0) {                                                         \
            (st) = sgld_error_set(SGLD_ERR_HDF5, "%s: HDF5 call %s failed", (path), #expr); \
            goto label;                                                                      \
        }                                                                                    \
    } while (0)

const char *samples_group_path(const char *group, char *buf, size_t size)
{
    while (group && *group == '/') group++;
    snprintf(buf, size, "/%s", group ? group : "");
    return buf;
}

static sgld_status check_name(const char *path, const char *what, const char *name)
{
    SGLD_CHECK(name && name[0], SGLD_ERR_ARG, "%s: empty %s name", path, what);
    SGLD_CHECK(!strchr(name, '/') && strcmp(name, ".") != 0 && strlen(name) < 256,
               SGLD_ERR_ARG, "%s: invalid %s name '%s'", path, what, name);
    return SGLD_OK;
}

static int find_group(const sgld_samples *s, const char *name)
{
    for (int g = 0; g < s->n_groups; g++)
        if (strcmp(s->groups[g].name, name) == 0) return g;
    return -1;
}

static int find_dim(const samples_group *grp, const char *name)
{
    for (int d = 0; d < grp->n_dims; d++)
        if (strcmp(grp->dims[d].name, name) == 0) return d;
    return -1;
}

static sgld_status add_dim(const char *path, samples_group *grp, int cap, const char *name,
                           int64_t len)
{
    SGLD_CHECK(grp->n_dims < cap, SGLD_ERR_INTERNAL, "%s: too many dims", path);
    samples_dim *d = &grp->dims[grp->n_dims];
    d->name = sgld_strdup(name);
    SGLD_CHECK(d->name, SGLD_ERR_NOMEM, "out of memory copying a dim name");
    d->len = len;
    d->dset = H5I_INVALID_HID;
    d->labels = NULL;
    d->width = 0;
    grp->n_dims++;
    return SGLD_OK;
}

static sgld_status add_group(sgld_samples *s, const char *name, int cap, int *g)
{
    samples_group *grp = &s->groups[s->n_groups];
    grp->gid = H5I_INVALID_HID;
    grp->name = sgld_strdup(name);
    SGLD_CHECK(grp->name, SGLD_ERR_NOMEM, "out of memory copying a group name");
    s->n_groups++;
    SGLD_ALLOC(grp->dims, cap);
    SGLD_TRY(add_dim(s->path, grp, cap, "chain", s->n_chains));
    SGLD_TRY(add_dim(s->path, grp, cap, "draw", -1));
    *g = s->n_groups - 1;
    return SGLD_OK;
}

static sgld_status close_file(sgld_samples *s);
static sgld_status open_file(sgld_samples *s, hid_t fapl);

/* Bytes of one value of a dtype, in memory and in the file. */
static hsize_t dtype_bytes(sgld_dtype t) { return t == SGLD_F32 ? 4 : t == SGLD_F64 ? 8 : 1; }

static hid_t dtype_file(sgld_dtype t)
{
    return t == SGLD_F32 ? H5T_IEEE_F32LE : t == SGLD_F64 ? H5T_IEEE_F64LE : H5T_STD_I8LE;
}

static hid_t dtype_mem(sgld_dtype t)
{
    return t == SGLD_F32 ? H5T_NATIVE_FLOAT : t == SGLD_F64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT8;
}

/* Grows the int64 workspace to n values. Local. */
static sgld_status grow_draw_buf(sgld_samples *s, int64_t n)
{
    if (n <= s->draw_buf_n) return SGLD_OK;
    int64_t *p = sgld_realloc(s->draw_buf, (size_t)n * sizeof *p);
    SGLD_CHECK(p, SGLD_ERR_NOMEM, "%s: out of memory for %lld coordinate values", s->path,
               (long long)n);
    s->draw_buf = p;
    s->draw_buf_n = n;
    return SGLD_OK;
}

/* The name of the placeholder dimension of labels `width` bytes wide, as xarray names it. */
static void width_dim_name(int64_t width, char *buf, size_t size)
{
    snprintf(buf, size, "string%lld", (long long)width);
}

/* The width of each labelled dimension of a group (its longest label in bytes, at least 1),
 * and the check that no dim or variable of the group has the name of a width's placeholder
 * dimension.  Local. */
static sgld_status label_widths(sgld_samples *s, samples_group *grp)
{
    for (int d = 0; d < grp->n_dims; d++) {
        samples_dim *dim = &grp->dims[d];
        if (!dim->labels) continue;
        dim->width = 1;
        for (int64_t i = 0; i < dim->len; i++) {
            SGLD_CHECK(dim->labels[i], SGLD_ERR_ARG, "%s: dim '%s/%s': label %lld is NULL", s->path,
                       grp->name, dim->name, (long long)i);
            int64_t n = (int64_t)strlen(dim->labels[i]);
            if (n > dim->width) dim->width = n;
        }
        char name[32];
        width_dim_name(dim->width, name, sizeof name);
        int clash = find_dim(grp, name) >= 0;
        for (int v = 0; v < s->n_vars; v++)
            clash |= &s->groups[s->vars[v].group] == grp && strcmp(s->vars[v].name, name) == 0;
        SGLD_CHECK(!clash, SGLD_ERR_ARG, "%s: group '%s': the labels of dim '%s' need a dimension '%s', "
                   "which is the name of a dim or variable", s->path, grp->name, dim->name, name);
    }
    return SGLD_OK;
}

/* Checks the variables and builds the in-memory layout (no file access). Local. */
static sgld_status build(sgld_samples *s, const char *path, int n_chains, int n_vars,
                         const sgld_var_spec *vars, int64_t chunk_draws)
{
    SGLD_CHECK(path && path[0], SGLD_ERR_ARG, "sgld_samples_create: empty path");
    s->path = sgld_strdup(path);
    SGLD_CHECK(s->path, SGLD_ERR_NOMEM, "out of memory copying the path");
    SGLD_CHECK(n_chains >= 1, SGLD_ERR_ARG, "%s: n_chains = %d, need >= 1", path, n_chains);
    SGLD_CHECK(n_vars >= 1 && vars, SGLD_ERR_ARG, "%s: no variables", path);
    SGLD_CHECK(chunk_draws >= 1, SGLD_ERR_ARG, "%s: chunk_draws = %lld, need >= 1", path,
               (long long)chunk_draws);
    s->n_chains = n_chains;
    s->chunk_draws = chunk_draws;
    const int dim_cap = 2 + SGLD_SAMPLES_MAX_DIMS * n_vars;
    SGLD_ALLOC(s->vars, n_vars);
    SGLD_ALLOC(s->groups, n_vars);
    SGLD_ALLOC(s->chain_count, n_chains);
    SGLD_ALLOC(s->chain_total, n_chains);
    for (int v = 0; v < n_vars; v++) {
        const sgld_var_spec *spec = &vars[v];
        samples_var *var = &s->vars[v];
        var->dset = H5I_INVALID_HID;
        const char *gname = spec->group;
        while (gname && *gname == '/') gname++;
        SGLD_TRY(check_name(path, "group", gname));
        SGLD_TRY(check_name(path, "variable", spec->name));
        var->name = sgld_strdup(spec->name);
        SGLD_CHECK(var->name, SGLD_ERR_NOMEM, "out of memory copying a variable name");
        s->n_vars++;
        SGLD_CHECK(spec->n_dims >= 0 && spec->n_dims <= SGLD_SAMPLES_MAX_DIMS, SGLD_ERR_ARG,
                   "%s: variable '%s': n_dims = %d, need 0..%d", path, spec->name,
                   spec->n_dims, SGLD_SAMPLES_MAX_DIMS);
        SGLD_CHECK(spec->dtype == SGLD_F32 || spec->dtype == SGLD_F64 || spec->dtype == SGLD_BOOL, SGLD_ERR_ARG,
                   "%s: variable '%s': unknown dtype %d", path, spec->name, (int)spec->dtype);
        int g = find_group(s, gname);
        if (g < 0) SGLD_TRY(add_group(s, gname, dim_cap, &g));
        for (int u = 0; u < v; u++)
            SGLD_CHECK(s->vars[u].group != g || strcmp(s->vars[u].name, spec->name) != 0,
                       SGLD_ERR_ARG, "%s: variable '%s/%s' given twice", path, gname,
                       spec->name);
        var->group = g;
        var->n_dims = spec->n_dims;
        var->dtype = spec->dtype;
        var->elems_per_draw = 1;
        samples_group *grp = &s->groups[g];
        for (int k = 0; k < spec->n_dims; k++) {
            char def[300];
            const char *dname = spec->dim_names[k];
            if (!dname) {
                snprintf(def, sizeof def, "%s_dim_%d", spec->name, k);
                dname = def;
            }
            SGLD_TRY(check_name(path, "dim", dname));
            int64_t len = spec->dims[k];
            SGLD_CHECK(len >= 1, SGLD_ERR_ARG, "%s: variable '%s': dim '%s' has length %lld",
                       path, spec->name, dname, (long long)len);
            SGLD_CHECK(strcmp(dname, "chain") != 0 && strcmp(dname, "draw") != 0,
                       SGLD_ERR_ARG, "%s: variable '%s': dim name '%s' is reserved", path,
                       spec->name, dname);
            int d = find_dim(grp, dname);
            if (d < 0) {
                SGLD_TRY(add_dim(path, grp, dim_cap, dname, len));
                d = grp->n_dims - 1;
            }
            SGLD_CHECK(grp->dims[d].len == len, SGLD_ERR_ARG,
                       "%s: dim '%s' of '%s/%s' has length %lld but %lld in another variable",
                       path, dname, gname, spec->name, (long long)len,
                       (long long)grp->dims[d].len);
            if (!grp->dims[d].labels) grp->dims[d].labels = spec->dim_labels[k];
            for (int j = 0; j < k; j++)
                SGLD_CHECK(var->dim_ids[j] != d, SGLD_ERR_ARG,
                           "%s: variable '%s' uses dim '%s' twice", path, spec->name, dname);
            var->dim_ids[k] = d;
            var->dims[k] = (hsize_t)len;
            SGLD_CHECK(var->elems_per_draw <= ((int64_t)1 << 50) / len, SGLD_ERR_ARG,
                       "%s: variable '%s' is too large", path, spec->name);
            var->elems_per_draw *= len;
        }
    }
    /* A coordinate dataset carries the dim's name, so no variable may share it. */
    for (int v = 0; v < s->n_vars; v++)
        SGLD_CHECK(find_dim(&s->groups[s->vars[v].group], s->vars[v].name) < 0, SGLD_ERR_ARG,
                   "%s: variable '%s/%s' has the name of a dim", path,
                   s->groups[s->vars[v].group].name, s->vars[v].name);
    for (int g = 0; g < s->n_groups; g++) SGLD_TRY(label_widths(s, &s->groups[g]));
    return SGLD_OK;
}

/* Writes first..first+n-1 to elements [first, first + n) of a 1-D coordinate. Collective:
 * rank 0 writes, the others select nothing; a rank that fails locally still enters the
 * collective write with an empty selection.  Returns the local status. */
static sgld_status write_coord(sgld_samples *s, hid_t dset, int64_t first, int64_t n)
{
    sgld_status st = SGLD_OK;
    int mine = s->rank == 0;
    if (mine) {
        st = grow_draw_buf(s, n);
        if (st != SGLD_OK) mine = 0;
        else
            for (int64_t i = 0; i < n; i++) s->draw_buf[i] = first + i;
    }
    hsize_t start = (hsize_t)first, count = (hsize_t)n, one = 1;
    int64_t dummy = 0;
    hid_t fspace = H5Dget_space(dset);
    hid_t mspace = H5Screate_simple(1, mine ? &count : &one, NULL);
    if (fspace < 0 || mspace < 0) {
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot get a coordinate's dataspace", s->path);
        mine = 0;
    } else if (mine) {
        if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0) {
            st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot select coordinate values", s->path);
            mine = 0;
        }
    }
    if (!mine) {
        if (fspace >= 0) H5Sselect_none(fspace);
        if (mspace >= 0) H5Sselect_none(mspace);
    }
    if (H5Dwrite(dset, H5T_NATIVE_INT64, mspace, fspace, s->dxpl,
                 mine ? (const void *)s->draw_buf : (const void *)&dummy) < 0 &&
        st == SGLD_OK)
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: writing a coordinate failed", s->path);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    return st;
}

/* Writes a labelled dimension's labels into its char coordinate [len, width], each padded
 * with NULs.  Collective: rank 0 writes, the others select nothing; a rank that fails locally
 * still enters the collective write with an empty selection.  Returns the local status. */
static sgld_status write_labels(sgld_samples *s, const samples_dim *dim)
{
    sgld_status st = SGLD_OK;
    const size_t width = (size_t)dim->width;
    char *buf = NULL, dummy = 0;
    if (s->rank == 0) {
        buf = sgld_calloc((size_t)dim->len, width);
        if (!buf)
            st = sgld_error_set(SGLD_ERR_NOMEM, "%s: out of memory for the labels of dim '%s'", s->path, dim->name);
        for (int64_t i = 0; buf && i < dim->len; i++)
            memcpy(buf + (size_t)i * width, dim->labels[i], strlen(dim->labels[i]));
    }
    hid_t space = H5Dget_space(dim->dset);
    if (space < 0) st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot get a coordinate's dataspace", s->path);
    else if (!buf) H5Sselect_none(space);
    if (H5Dwrite(dim->dset, H5T_C_S1, space, space, s->dxpl, buf ? (const void *)buf : (const void *)&dummy) < 0 &&
        st == SGLD_OK)
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: writing the labels of dim '%s' failed", s->path, dim->name);
    if (space >= 0) H5Sclose(space);
    sgld_free(buf);
    return st;
}

/* A property list with creation order tracked and indexed (see the top comment). */
static hid_t order_plist(hid_t cls)
{
    hid_t p = H5Pcreate(cls);
    if (p < 0) return p;
    unsigned flags = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
    if ((cls != H5P_DATASET_CREATE && H5Pset_link_creation_order(p, flags) < 0) ||
        H5Pset_attr_creation_order(p, flags) < 0) {
        H5Pclose(p);
        return H5I_INVALID_HID;
    }
    return p;
}

sgld_status samples_set_scale(sgld_samples *s, hid_t dset, const char *name)
{
    sgld_status st = SGLD_OK;
    const int32_t id = s->next_dimid++;
    hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    H5_GOTO(H5DSset_scale(dset, name), s->path, st, done);
    H5_GOTO(space = H5Screate(H5S_SCALAR), s->path, st, done);
    H5_GOTO(attr = H5Acreate2(dset, "_Netcdf4Dimid", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT), s->path, st,
            done);
    H5_GOTO(H5Awrite(attr, H5T_NATIVE_INT32, &id), s->path, st, done);
done:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    return st;
}

/* The text attribute name = value (non-empty ASCII) on a dataset, as netCDF-C writes NC_CHAR
 * text.  Collective. */
static sgld_status text_attr(sgld_samples *s, hid_t dset, const char *name, const char *value)
{
    sgld_status st = SGLD_OK;
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    H5_GOTO(type = H5Tcopy(H5T_C_S1), s->path, st, done);
    H5_GOTO(H5Tset_size(type, strlen(value)), s->path, st, done);
    H5_GOTO(H5Tset_strpad(type, H5T_STR_NULLTERM), s->path, st, done);
    H5_GOTO(space = H5Screate(H5S_SCALAR), s->path, st, done);
    H5_GOTO(attr = H5Acreate2(dset, name, type, space, H5P_DEFAULT, H5P_DEFAULT), s->path, st, done);
    H5_GOTO(H5Awrite(attr, type, value), s->path, st, done);
done:
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return st;
}

/* What makes the char coordinate of grp->dims[d] (already a scale numbered dimid) a netCDF
 * string coordinate: the placeholder dimension of its width (created by the first labelled
 * dim of the group with that width, shared by the others), the attribute _Netcdf4Coordinates
 * = [dimid, the placeholder's], and _Encoding = "utf-8".  Collective. */
static sgld_status label_attrs(sgld_samples *s, samples_group *grp, int d, int dimid)
{
    sgld_status st = SGLD_OK;
    samples_dim *dim = &grp->dims[d];
    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID, attr = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
    int shared = -1;
    for (int e = 0; e < d && shared < 0; e++)
        if (grp->dims[e].width == dim->width) shared = e;
    if (shared >= 0) {
        dim->width_dimid = grp->dims[shared].width_dimid;
    } else {
        /* 1-D float, as netCDF-C makes a dimension without a variable; its zeros written at
         * creation (parallel HDF5 allocates the space at once), so that its bytes are the same
         * in every file */
        char name[32], scale_name[80];
        const hsize_t w = (hsize_t)dim->width;
        width_dim_name(dim->width, name, sizeof name);
        snprintf(scale_name, sizeof scale_name, "%s%10lld", NC_DIM_PLACEHOLDER, (long long)dim->width);
        H5_GOTO(dcpl = order_plist(H5P_DATASET_CREATE), s->path, st, done);
        H5_GOTO(H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC), s->path, st, done);
        H5_GOTO(space = H5Screate_simple(1, &w, NULL), s->path, st, done);
        H5_GOTO(dset = H5Dcreate2(grp->gid, name, H5T_IEEE_F32BE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), s->path,
                st, done);
        dim->width_dimid = s->next_dimid;
        SGLD_TRY_GOTO(samples_set_scale(s, dset, scale_name), st, done);
        H5Sclose(space);
        space = H5I_INVALID_HID;
    }
    const hsize_t two = 2;
    const int32_t ids[2] = {dimid, dim->width_dimid};
    H5_GOTO(space = H5Screate_simple(1, &two, NULL), s->path, st, done);
    H5_GOTO(attr = H5Acreate2(dim->dset, "_Netcdf4Coordinates", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT),
            s->path, st, done);
    H5_GOTO(H5Awrite(attr, H5T_NATIVE_INT32, ids), s->path, st, done);
    SGLD_TRY_GOTO(text_attr(s, dim->dset, "_Encoding", "utf-8"), st, done);
done:
    if (attr >= 0) H5Aclose(attr);
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    return st;
}

/* Creates a group's coordinates (dimension scales), numbered in order. Collective. */
static sgld_status create_dims(sgld_samples *s, samples_group *grp)
{
    sgld_status st = SGLD_OK;
    hid_t dcpl = H5I_INVALID_HID, space = H5I_INVALID_HID;
    for (int d = 0; d < grp->n_dims; d++) {
        samples_dim *dim = &grp->dims[d];
        int unlimited = dim->len < 0;
        hsize_t cur[2] = {unlimited ? 0 : (hsize_t)dim->len, (hsize_t)dim->width};
        hsize_t max[2] = {unlimited ? H5S_UNLIMITED : cur[0], cur[1]};
        H5_GOTO(dcpl = order_plist(H5P_DATASET_CREATE), s->path, st, done);
        H5_GOTO(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), s->path, st, done);
        if (unlimited) {
            hsize_t chunk = (hsize_t)(s->chunk_draws < 1024 ? 1024 : s->chunk_draws);
            H5_GOTO(H5Pset_chunk(dcpl, 1, &chunk), s->path, st, done);
        }
        H5_GOTO(space = H5Screate_simple(dim->labels ? 2 : 1, cur, max), s->path, st, done);
        H5_GOTO(dim->dset = H5Dcreate2(grp->gid, dim->name, dim->labels ? H5T_C_S1 : H5T_STD_I64LE, space,
                                       H5P_DEFAULT, dcpl, H5P_DEFAULT),
                s->path, st, done);
        const int dimid = s->next_dimid;
        SGLD_TRY_GOTO(samples_set_scale(s, dim->dset, dim->name), st, done);
        if (dim->labels) SGLD_TRY_GOTO(label_attrs(s, grp, d, dimid), st, done);
        H5Sclose(space);
        H5Pclose(dcpl);
        space = dcpl = H5I_INVALID_HID;
    }
done:
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    return st;
}

/* The attribute dtype = "bool" on an int8 variable: xarray's own encoding of a boolean
 * variable (netCDF has no bool), which both engines decode back to bool.  Collective. */
static sgld_status mark_bool(sgld_samples *s, hid_t dset) { return text_attr(s, dset, "dtype", "bool"); }

static sgld_status create_var(sgld_samples *s, samples_var *var)
{
    sgld_status st = SGLD_OK;
    samples_group *grp = &s->groups[var->group];
    int rank = 2 + var->n_dims;
    hsize_t cur[2 + SGLD_SAMPLES_MAX_DIMS], max[2 + SGLD_SAMPLES_MAX_DIMS],
        chunk[2 + SGLD_SAMPLES_MAX_DIMS];
    cur[0] = max[0] = chunk[0] = (hsize_t)s->n_chains;
    cur[1] = 0;
    max[1] = H5S_UNLIMITED;
    chunk[1] = (hsize_t)s->chunk_draws;
    for (int k = 0; k < var->n_dims; k++) cur[2 + k] = max[2 + k] = chunk[2 + k] = var->dims[k];
    hsize_t elem = dtype_bytes(var->dtype), bytes = elem;
    for (int k = 0; k < rank; k++) bytes *= chunk[k];
    /* Shrink draw, then chain, then the extra dims in order until the chunk fits. */
    for (int i = 0; i < rank && bytes > CHUNK_MAX_BYTES; i++) {
        int k = i == 0 ? 1 : i == 1 ? 0 : i;
        hsize_t rest = bytes / chunk[k];
        hsize_t fit = CHUNK_MAX_BYTES / rest;
        if (fit < 1) fit = 1;
        if (fit < chunk[k]) chunk[k] = fit;
        bytes = rest * chunk[k];
    }
    hid_t dcpl = H5I_INVALID_HID, space = H5I_INVALID_HID;
    hid_t ftype = dtype_file(var->dtype);
    H5_GOTO(dcpl = order_plist(H5P_DATASET_CREATE), s->path, st, done);
    H5_GOTO(H5Pset_chunk(dcpl, rank, chunk), s->path, st, done);
    H5_GOTO(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), s->path, st, done);
    H5_GOTO(space = H5Screate_simple(rank, cur, max), s->path, st, done);
    H5_GOTO(var->dset = H5Dcreate2(grp->gid, var->name, ftype, space, H5P_DEFAULT, dcpl,
                                   H5P_DEFAULT),
            s->path, st, done);
    H5_GOTO(H5DSattach_scale(var->dset, grp->dims[0].dset, 0), s->path, st, done);
    H5_GOTO(H5DSattach_scale(var->dset, grp->dims[1].dset, 1), s->path, st, done);
    for (int k = 0; k < var->n_dims; k++)
        H5_GOTO(H5DSattach_scale(var->dset, grp->dims[var->dim_ids[k]].dset, 2 + (unsigned)k),
                s->path, st, done);
    if (var->dtype == SGLD_BOOL) SGLD_TRY_GOTO(mark_bool(s, var->dset), st, done);
done:
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    return st;
}

/* Creates the file and its layout. Collective; returns the local status. */
static sgld_status create_file(sgld_samples *s)
{
    sgld_status st = SGLD_OK;
    hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID, gcpl = H5I_INVALID_HID;
    H5_GOTO(fapl = H5Pcreate(H5P_FILE_ACCESS), s->path, st, done);
    H5_GOTO(H5Pset_fapl_mpio(fapl, s->comm, MPI_INFO_NULL), s->path, st, done);
    H5_GOTO(fcpl = order_plist(H5P_FILE_CREATE), s->path, st, done);
    s->file = H5Fcreate(s->path, H5F_ACC_TRUNC, fcpl, fapl);
    if (s->file < 0) {
        st = sgld_error_set(SGLD_ERR_IO, "%s: cannot create: HDF5 could not create the file",
                            s->path);
        goto done;
    }
    H5_GOTO(s->dxpl = H5Pcreate(H5P_DATASET_XFER), s->path, st, done);
    H5_GOTO(H5Pset_dxpl_mpio(s->dxpl, H5FD_MPIO_COLLECTIVE), s->path, st, done);
    H5_GOTO(gcpl = order_plist(H5P_GROUP_CREATE), s->path, st, done);
    for (int g = 0; g < s->n_groups; g++) {
        samples_group *grp = &s->groups[g];
        H5_GOTO(grp->gid = H5Gcreate2(s->file, grp->name, H5P_DEFAULT, gcpl, H5P_DEFAULT),
                s->path, st, done);
        SGLD_TRY_GOTO(create_dims(s, grp), st, done);
    }
    for (int v = 0; v < s->n_vars; v++) SGLD_TRY_GOTO(create_var(s, &s->vars[v]), st, done);
    /* Coordinate values.  A local failure (rank 0 cannot grow its workspace) must not skip
     * the collective writes that follow, so the first one is kept and the loop goes on. */
    for (int g = 0; g < s->n_groups; g++)
        for (int d = 0; d < s->groups[g].n_dims; d++) {
            const samples_dim *dim = &s->groups[g].dims[d];
            sgld_status w = dim->len < 0 ? SGLD_OK
                            : dim->labels ? write_labels(s, dim)
                                          : write_coord(s, dim->dset, 0, dim->len);
            if (st == SGLD_OK) st = w;
        }
    if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0 && st == SGLD_OK)
        st = sgld_error_set(SGLD_ERR_IO, "%s: flush failed", s->path);
done:
    if (gcpl >= 0) H5Pclose(gcpl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fapl >= 0) H5Pclose(fapl);
    return st;
}

/* Rank 0's check of the path before HDF5 touches it, for a clear message. Sets *created
 * when it created the (empty) file. */
static sgld_status probe_path(const char *path, int force, int *created)
{
    struct stat sb;
    *created = 0;
    if (stat(path, &sb) == 0) {
        SGLD_CHECK(force, SGLD_ERR_EXISTS, "%s: file exists (use --force to overwrite)", path);
        SGLD_CHECK(!S_ISDIR(sb.st_mode), SGLD_ERR_IO, "%s: cannot create: %s", path,
                   strerror(EISDIR));
        /* Opening a FIFO for writing blocks until a reader comes. */
        SGLD_CHECK(S_ISREG(sb.st_mode), SGLD_ERR_IO,
                   "%s: cannot create: it exists and is not a regular file (a FIFO, device or socket)", path);
        int fd = open(path, O_WRONLY);
        SGLD_CHECK(fd >= 0, SGLD_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        close(fd);
        return SGLD_OK;
    }
    SGLD_CHECK(errno == ENOENT, SGLD_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0 && errno == EEXIST && !force)
        return sgld_error_set(SGLD_ERR_EXISTS, "%s: file exists (use --force to overwrite)",
                              path);
    SGLD_CHECK(fd >= 0, SGLD_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    close(fd);
    *created = 1;
    return SGLD_OK;
}

/* Bytes the new file may need before its first append: a superblock and metadata margin, the
 * object headers of every dataset and coordinate, and the coordinate values.  Local. */
static hsize_t create_bytes(const sgld_samples *s)
{
    hsize_t need = (hsize_t)64 << 10;
    need += (hsize_t)s->n_vars * ((hsize_t)8 << 10);
    for (int g = 0; g < s->n_groups; g++)
        for (int d = 0; d < s->groups[g].n_dims; d++) {
            const samples_dim *dim = &s->groups[g].dims[d];
            need += ((hsize_t)8 << 10) + (dim->len > 0 ? 8 * (hsize_t)dim->len : 0);
            /* labels: their bytes and a placeholder dimension */
            if (dim->labels) need += ((hsize_t)8 << 10) + (hsize_t)dim->len * (hsize_t)dim->width;
        }
    return need;
}

/* Rank 0, after probe_path: checks that the disk has room for create_bytes before HDF5 writes
 * the file, by reserving that much past the file's end and handing it back.  On a full disk
 * parallel HDF5 1.10.8 fails inside H5Fcreate's writes, its file object can then not be
 * closed, and MPI_Finalize crashes closing it (SIGSEGV in H5F__close_cb): a write error must
 * never reach HDF5 at creation.  The reservation is released at once (ftruncate), since
 * H5Fcreate truncates the file anyway; a file system without fallocate skips the check.  The
 * caller removes the file probe_path created; an existing one (--force) is left as it was.
 * SGLD_ERR_WRITE: a runtime failure of the output (exit 1), not bad input. */
static sgld_status check_room(const sgld_samples *s)
{
    int fd = open(s->path, O_WRONLY);
    struct stat sb;
    int err = fd < 0 ? errno : fstat(fd, &sb) != 0 ? errno : 0;
    hsize_t need = create_bytes(s);
    if (!err) {
        err = fallocate(fd, FALLOC_FL_KEEP_SIZE, sb.st_size, (off_t)need) == 0 ? 0 : errno;
        if (err == EINVAL || err == EOPNOTSUPP || err == ENOSYS) err = 0;
        (void)!ftruncate(fd, sb.st_size);
    }
    if (fd >= 0) close(fd);
    if (!err) return SGLD_OK;
    return sgld_error_set(SGLD_ERR_WRITE, "%s: cannot create: %s (a new sample file needs about %llu KiB)",
                          s->path, strerror(err), (unsigned long long)(need >> 10));
}

/* Frees everything; H5Fclose is collective when the file is open. Returns the local
 * status of closing the file.  (samples_impl.h; reopen.c uses it for a failed reopen.) */
sgld_status samples_free_handle(sgld_samples *s)
{
    sgld_status st = SGLD_OK;
    for (int v = 0; v < s->n_vars; v++) {
        if (s->vars[v].dset >= 0) H5Dclose(s->vars[v].dset);
        sgld_free(s->vars[v].name);
    }
    for (int g = 0; g < s->n_groups; g++) {
        samples_group *grp = &s->groups[g];
        for (int d = 0; grp->dims && d < grp->n_dims; d++) {
            if (grp->dims[d].dset >= 0) H5Dclose(grp->dims[d].dset);
            sgld_free(grp->dims[d].name);
        }
        sgld_free(grp->dims);
        if (grp->gid >= 0) H5Gclose(grp->gid);
        sgld_free(grp->name);
    }
    table_free(&s->table);
    if (s->dxpl >= 0) H5Pclose(s->dxpl);
    if (s->file >= 0 && H5Fclose(s->file) < 0)
        st = sgld_error_set(SGLD_ERR_IO, "%s: closing the file failed", s->path);
    sgld_free(s->vars);
    sgld_free(s->groups);
    sgld_free(s->chain_count);
    sgld_free(s->chain_total);
    sgld_free(s->draw_buf);
    sgld_free(s->path);
    if (s->comm != MPI_COMM_NULL) MPI_Comm_free(&s->comm);
    sgld_free(s);
    return st;
}

sgld_status sgld_samples_create(MPI_Comm comm, const char *path, int force, int n_chains,
                                int n_vars, const sgld_var_spec *vars, int64_t chunk_draws,
                                sgld_samples **out)
{
    SGLD_CHECK(out, SGLD_ERR_ARG, "sgld_samples_create: out is NULL");
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our one line, not HDF5's stack */
    MPI_Comm dup;
    SGLD_MPI(MPI_Comm_dup(comm, &dup));
    sgld_status st = SGLD_OK;
    sgld_samples *s = sgld_calloc(1, sizeof *s);
    if (!s) {
        st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for the sample file");
    } else {
        s->comm = dup;
        s->file = s->dxpl = H5I_INVALID_HID;
        MPI_Comm_rank(dup, &s->rank);
        MPI_Comm_size(dup, &s->size);
        st = build(s, path, n_chains, n_vars, vars, chunk_draws);
    }
    st = sgld_status_agree(dup, st);
    if (st != SGLD_OK) {
        if (s) samples_free_handle(s);
        else MPI_Comm_free(&dup);
        return st;
    }
    int created = 0;
    if (s->rank == 0) st = probe_path(path, force, &created);
    if (s->rank == 0 && st == SGLD_OK) st = check_room(s);
    st = sgld_status_agree(s->comm, st);
    if (st == SGLD_OK) {
        st = sgld_status_agree(s->comm, create_file(s));
        if (st != SGLD_OK) {
            /* Close before rank 0 unlinks, so that no rank writes the file afterwards. */
            close_file(s);
            created = 1;
        }
    }
    if (st != SGLD_OK) {
        MPI_Barrier(s->comm);
        if (s->rank == 0 && created) unlink(path);
        MPI_Barrier(s->comm);
        samples_free_handle(s);
        return st;
    }
    *out = s;
    return SGLD_OK;
}

int64_t sgld_samples_n_draws(const sgld_samples *s) { return s ? s->n_draws : 0; }

sgld_status sgld_samples_index_coord(sgld_samples *s, const char *name, int64_t n, const int64_t *values)
{
    SGLD_CHECK(s, SGLD_ERR_ARG, "sgld_samples_index_coord: NULL handle");
    sgld_status st = check_name(s->path, "coordinate", name);
    if (st == SGLD_OK && (n < 1 || (s->rank == 0 && !values)))
        st = sgld_error_set(SGLD_ERR_ARG, "%s: coordinate '%s': n = %lld", s->path, name, (long long)n);
    if (st == SGLD_OK && H5Lexists(s->file, name, H5P_DEFAULT) != 0)
        st = sgld_error_set(SGLD_ERR_ARG, "%s: coordinate '%s' exists", s->path, name);
    SGLD_TRY(sgld_status_agree(s->comm, st));
    hsize_t len = (hsize_t)n;
    hid_t dcpl = H5I_INVALID_HID, space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    H5_GOTO(dcpl = order_plist(H5P_DATASET_CREATE), s->path, st, done);
    H5_GOTO(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), s->path, st, done);
    H5_GOTO(space = H5Screate_simple(1, &len, NULL), s->path, st, done);
    H5_GOTO(dset = H5Dcreate2(s->file, name, H5T_STD_I64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), s->path, st,
            done);
    SGLD_TRY_GOTO(samples_set_scale(s, dset, name), st, done);
    /* Rank 0 writes everything, the others select nothing (a collective write). */
    if (s->rank != 0) H5_GOTO(H5Sselect_none(space), s->path, st, done);
    if (H5Dwrite(dset, H5T_NATIVE_INT64, space, space, s->dxpl, s->rank == 0 ? (const void *)values : (const void *)&len) < 0)
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: writing coordinate '%s' failed", s->path, name);
    if (st == SGLD_OK && H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
        st = sgld_error_set(SGLD_ERR_IO, "%s: flush failed", s->path);
done:
    if (dset >= 0) H5Dclose(dset);
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    return sgld_status_agree(s->comm, st);
}

sgld_status sgld_samples_observed(sgld_samples *s, const char *group, const char *name, const char *dim,
                                  int64_t n_total, int64_t row_begin, int64_t n_local, const float *values,
                                  int integer)
{
    SGLD_CHECK(s, SGLD_ERR_ARG, "sgld_samples_observed: NULL handle");
    sgld_status st = check_name(s->path, "group", group);
    if (st == SGLD_OK) st = check_name(s->path, "variable", name);
    if (st == SGLD_OK) st = check_name(s->path, "dim", dim);
    if (st == SGLD_OK && (n_total < 1 || n_local < 0 || row_begin < 0 || row_begin + n_local > n_total ||
                          (n_local > 0 && !values)))
        st = sgld_error_set(SGLD_ERR_ARG, "%s: observed '%s': rows [%lld, +%lld) of %lld", s->path, name,
                            (long long)row_begin, (long long)n_local, (long long)n_total);
    if (st == SGLD_OK && (find_group(s, group) >= 0 || H5Lexists(s->file, group, H5P_DEFAULT) != 0))
        st = sgld_error_set(SGLD_ERR_ARG, "%s: group '%s' exists", s->path, group);
    if (st == SGLD_OK && !strcmp(name, dim))
        st = sgld_error_set(SGLD_ERR_ARG, "%s: variable '%s' has the name of its dim", s->path, name);
    SGLD_TRY(sgld_status_agree(s->comm, st));
    hsize_t len = (hsize_t)n_total, start = (hsize_t)row_begin, count = (hsize_t)n_local;
    hid_t gcpl = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, space = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    hid_t gid = H5I_INVALID_HID, coord = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    H5_GOTO(gcpl = order_plist(H5P_GROUP_CREATE), s->path, st, done);
    H5_GOTO(dcpl = order_plist(H5P_DATASET_CREATE), s->path, st, done);
    H5_GOTO(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), s->path, st, done);
    H5_GOTO(space = H5Screate_simple(1, &len, NULL), s->path, st, done);
    H5_GOTO(gid = H5Gcreate2(s->file, group, H5P_DEFAULT, gcpl, H5P_DEFAULT), s->path, st, done);
    H5_GOTO(coord = H5Dcreate2(gid, dim, H5T_STD_I64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), s->path, st, done);
    SGLD_TRY_GOTO(samples_set_scale(s, coord, dim), st, done);
    H5_GOTO(dset = H5Dcreate2(gid, name, integer ? H5T_STD_I64LE : H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl,
                              H5P_DEFAULT), s->path, st, done);
    H5_GOTO(H5DSattach_scale(dset, coord, 0), s->path, st, done);
    /* The coordinate 0..n-1 from rank 0, the values from every rank that holds rows: one
     * collective write each, whatever failed locally. */
    st = write_coord(s, coord, 0, n_total);
    H5_GOTO(mspace = H5Screate_simple(1, n_local > 0 ? &count : &len, NULL), s->path, st, done);
    if (n_local > 0) {
        H5_GOTO(H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, NULL, &count, NULL), s->path, st, done);
    } else {
        H5Sselect_none(space);
        H5Sselect_none(mspace);
    }
    if (H5Dwrite(dset, H5T_NATIVE_FLOAT, mspace, space, s->dxpl, n_local > 0 ? (const void *)values : (const void *)&len) < 0 &&
        st == SGLD_OK)
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: writing '%s/%s' failed", s->path, group, name);
    if (st == SGLD_OK && H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
        st = sgld_error_set(SGLD_ERR_IO, "%s: flush failed", s->path);
done:
    if (dset >= 0) H5Dclose(dset);
    if (coord >= 0) H5Dclose(coord);
    if (gid >= 0) H5Gclose(gid);
    if (mspace >= 0) H5Sclose(mspace);
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (gcpl >= 0) H5Pclose(gcpl);
    return sgld_status_agree(s->comm, st);
}

/* ---- attributes ---- */

static sgld_status attr_write(sgld_samples *s, const char *group, const char *name,
                              hid_t ftype, hid_t mtype, hid_t space, const void *buf)
{
    sgld_status st = SGLD_OK;
    char gpath[300];
    samples_group_path(group, gpath, sizeof gpath);
    SGLD_CHECK(gpath[1] == '\0' || find_group(s, gpath + 1) >= 0 || (s->table && !strcmp(s->table->group, gpath + 1)),
               SGLD_ERR_ARG,
               "%s: no group '%s'", s->path, gpath);
    SGLD_TRY(check_name(s->path, "attribute", name));
    hid_t obj = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    H5_GOTO(obj = H5Oopen(s->file, gpath, H5P_DEFAULT), s->path, st, done);
    htri_t exists = H5Aexists(obj, name);
    H5_GOTO(exists, s->path, st, done);
    if (exists) H5_GOTO(H5Adelete(obj, name), s->path, st, done);
    H5_GOTO(attr = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT), s->path, st,
            done);
    H5_GOTO(H5Awrite(attr, mtype, buf), s->path, st, done);
done:
    if (attr >= 0) H5Aclose(attr);
    if (obj >= 0) H5Oclose(obj);
    return st;
}

/* Checks locally, agrees, writes (collective), flushes and agrees again. */
static sgld_status attr_collective(sgld_samples *s, sgld_status local, const char *group,
                                   const char *name, hid_t ftype, hid_t mtype, hid_t space,
                                   const void *buf)
{
    sgld_status st = sgld_status_agree(s->comm, local);
    if (st != SGLD_OK) return st;
    st = attr_write(s, group, name, ftype, mtype, space, buf);
    if (st == SGLD_OK && H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
        st = sgld_error_set(SGLD_ERR_IO, "%s: flush failed", s->path);
    return sgld_status_agree(s->comm, st);
}

sgld_status sgld_samples_attr_string(sgld_samples *s, const char *group, const char *name,
                                     const char *value)
{
    SGLD_CHECK(s, SGLD_ERR_ARG, "sgld_samples_attr_string: NULL handle");
    sgld_status st = SGLD_OK;
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    const char *v = value ? value : "";
    size_t len = strlen(v);
    int utf8 = 0;
    for (size_t i = 0; i < len; i++) utf8 |= (unsigned char)v[i] >= 0x80;
    if (!value) st = sgld_error_set(SGLD_ERR_ARG, "%s: attribute '%s': NULL value", s->path,
                                    name ? name : "");
    if (st == SGLD_OK && ((type = H5Tcopy(H5T_C_S1)) < 0 ||
                          H5Tset_size(type, len ? len : 1) < 0 ||
                          H5Tset_strpad(type, H5T_STR_NULLTERM) < 0 ||
                          H5Tset_cset(type, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII) < 0 ||
                          (space = H5Screate(H5S_SCALAR)) < 0))
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot make a string type", s->path);
    st = attr_collective(s, st, group, name, type, type, space, v);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return st;
}

static sgld_status attr_array(sgld_samples *s, const char *group, const char *name, int n,
                              const void *values, hid_t ftype, hid_t mtype)
{
    SGLD_CHECK(s, SGLD_ERR_ARG, "sgld_samples_attr: NULL handle");
    sgld_status st = SGLD_OK;
    hid_t space = H5I_INVALID_HID;
    hsize_t len = n > 0 ? (hsize_t)n : 1;
    if (n < 1 || !values)
        st = sgld_error_set(SGLD_ERR_ARG, "%s: attribute '%s': need n >= 1 values (n = %d)",
                            s->path, name ? name : "", n);
    else if ((space = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &len, NULL)) < 0)
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot make a dataspace", s->path);
    st = attr_collective(s, st, group, name, ftype, mtype, space, values);
    if (space >= 0) H5Sclose(space);
    return st;
}

sgld_status sgld_samples_attr_double(sgld_samples *s, const char *group, const char *name,
                                     int n, const double *values)
{
    return attr_array(s, group, name, n, values, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE);
}

sgld_status sgld_samples_attr_int(sgld_samples *s, const char *group, const char *name,
                                  int n, const int64_t *values)
{
    return attr_array(s, group, name, n, values, H5T_STD_I64LE, H5T_NATIVE_INT64);
}

/* ---- appending ---- */

/* Sets every variable and draw coordinate to n_draws draws. Collective; local status. */
static sgld_status set_extent(sgld_samples *s, int64_t n_draws)
{
    sgld_status st = SGLD_OK;
    for (int g = 0; g < s->n_groups; g++) {
        hsize_t n = (hsize_t)n_draws;
        H5_GOTO(H5Dset_extent(s->groups[g].dims[1].dset, &n), s->path, st, done);
    }
    for (int v = 0; v < s->n_vars; v++) {
        samples_var *var = &s->vars[v];
        hsize_t dims[2 + SGLD_SAMPLES_MAX_DIMS];
        dims[0] = (hsize_t)s->n_chains;
        dims[1] = (hsize_t)n_draws;
        for (int k = 0; k < var->n_dims; k++) dims[2 + k] = var->dims[k];
        H5_GOTO(H5Dset_extent(var->dset, dims), s->path, st, done);
    }
    /* the table's rows of these draws (a shrink, on rank 0; an append grows the table itself,
     * and shrink() sets the rows on every rank) */
    if (s->table && n_draws <= s->n_draws) {
        const int64_t keep = table_keep(s->table, n_draws);
        if (keep != s->table->file_rows) st = table_set_rows(s, keep);
    }
done:
    return st;
}

/* Writes one chain's block of one variable, or (chain < 0) takes part in the collective
 * write with an empty selection. Returns the local status. */
static sgld_status write_block(sgld_samples *s, const samples_var *var, int chain,
                               int64_t draw0, int64_t n_draws, const void *buf)
{
    sgld_status st = SGLD_OK;
    hsize_t start[2 + SGLD_SAMPLES_MAX_DIMS] = {0}, count[2 + SGLD_SAMPLES_MAX_DIMS];
    start[0] = chain >= 0 ? (hsize_t)chain : 0;
    start[1] = (hsize_t)draw0;
    count[0] = 1;
    count[1] = (hsize_t)n_draws;
    for (int k = 0; k < var->n_dims; k++) count[2 + k] = var->dims[k];
    hsize_t n_mem = (hsize_t)n_draws * (hsize_t)var->elems_per_draw;
    int mine = chain >= 0;
    double dummy = 0;
    hid_t fspace = H5Dget_space(var->dset);
    hid_t mspace = H5Screate_simple(1, &n_mem, NULL);
    if (fspace < 0 || mspace < 0 ||
        (mine && H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0)) {
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot select chain %d of '%s'", s->path,
                            chain, var->name);
        mine = 0;
    }
    if (!mine) {
        if (fspace >= 0) H5Sselect_none(fspace);
        if (mspace >= 0) H5Sselect_none(mspace);
    }
    hid_t mtype = dtype_mem(var->dtype);
    if (H5Dwrite(var->dset, mtype, mspace, fspace, s->dxpl, mine ? buf : (const void *)&dummy) <
            0 &&
        st == SGLD_OK)
        st = sgld_error_set(SGLD_ERR_IO, "%s: writing '%s' failed", s->path, var->name);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    return st;
}

/* Closes every object and the file. Collective (H5Fclose); local status. */
static sgld_status close_file(sgld_samples *s)
{
    for (int v = 0; v < s->n_vars; v++)
        if (s->vars[v].dset >= 0) H5Dclose(s->vars[v].dset), s->vars[v].dset = H5I_INVALID_HID;
    for (int g = 0; g < s->n_groups; g++) {
        samples_group *grp = &s->groups[g];
        for (int d = 0; d < grp->n_dims; d++)
            if (grp->dims[d].dset >= 0)
                H5Dclose(grp->dims[d].dset), grp->dims[d].dset = H5I_INVALID_HID;
        if (grp->gid >= 0) H5Gclose(grp->gid), grp->gid = H5I_INVALID_HID;
    }
    table_close(s->table);
    hid_t file = s->file;
    s->file = H5I_INVALID_HID;
    if (file >= 0 && H5Fclose(file) < 0)
        return sgld_error_set(SGLD_ERR_IO, "%s: closing the file failed", s->path);
    return SGLD_OK;
}

/* Opens the file (fapl: MPI-IO, or serial for H5P_DEFAULT) and every group and dataset of
 * the layout. Collective when fapl is MPI-IO; local status. */
static sgld_status open_file(sgld_samples *s, hid_t fapl)
{
    sgld_status st = SGLD_OK;
    H5_GOTO(s->file = H5Fopen(s->path, H5F_ACC_RDWR, fapl), s->path, st, done);
    for (int g = 0; g < s->n_groups; g++) {
        samples_group *grp = &s->groups[g];
        H5_GOTO(grp->gid = H5Gopen2(s->file, grp->name, H5P_DEFAULT), s->path, st, done);
        for (int d = 0; d < grp->n_dims; d++)
            H5_GOTO(grp->dims[d].dset = H5Dopen2(grp->gid, grp->dims[d].name, H5P_DEFAULT),
                    s->path, st, done);
    }
    for (int v = 0; v < s->n_vars; v++)
        H5_GOTO(s->vars[v].dset = H5Dopen2(s->groups[s->vars[v].group].gid, s->vars[v].name,
                                           H5P_DEFAULT),
                s->path, st, done);
    st = table_open(s);
done:
    return st;
}

/* Shrinks every draw extent to n_draws.  Shrinking with H5Dset_extent under MPI-IO breaks
 * parallel HDF5 1.10.8: after freeing chunks the ranks disagree about the end of the file
 * and the next flush fails on some ranks (MPI_ERR_TRUNCATE in H5FD_mpio_truncate) and hangs
 * the others.  So the file is closed, rank 0 shrinks it alone through the serial driver,
 * and every rank reopens it.  Growing in parallel is fine.  Collective. */
static sgld_status shrink(sgld_samples *s, int64_t n_draws)
{
    SGLD_TRY(sgld_status_agree(s->comm, close_file(s)));
    sgld_status st = SGLD_OK;
    if (s->rank == 0) {
        st = open_file(s, H5P_DEFAULT);
        if (st == SGLD_OK) st = set_extent(s, n_draws);
        sgld_status c = close_file(s);
        if (st == SGLD_OK) st = c;
    }
    SGLD_TRY(sgld_status_agree(s->comm, st));
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_mpio(fapl, s->comm, MPI_INFO_NULL) < 0)
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot make an MPI-IO file access list",
                            s->path);
    st = sgld_status_agree(s->comm, st);
    if (st == SGLD_OK) st = sgld_status_agree(s->comm, open_file(s, fapl));
    if (fapl >= 0) H5Pclose(fapl);
    SGLD_TRY(st);
    s->extent = n_draws;
    if (s->table) s->table->rows = s->table->file_rows = table_keep(s->table, n_draws);
    return SGLD_OK;
}

/* Bytes an append of n draws after draw0 may allocate: every chunk it touches, whole (a new
 * chunk is allocated whole however little of it is written), and a margin for the metadata
 * that grows with it (chunk index nodes, object headers, HDF5's 2 KiB aggregator blocks).
 * Local, no file I/O (the creation properties are in memory). */
static hsize_t append_bytes(const sgld_samples *s, int64_t draw0, int64_t n)
{
    hsize_t need = (hsize_t)64 << 10;
    for (int v = 0; v < s->n_vars; v++) {
        const samples_var *var = &s->vars[v];
        hsize_t chunk[2 + SGLD_SAMPLES_MAX_DIMS], bytes = dtype_bytes(var->dtype);
        int rank = 2 + var->n_dims;
        hid_t dcpl = H5Dget_create_plist(var->dset);
        if (dcpl < 0 || H5Pget_chunk(dcpl, rank, chunk) != rank) {
            /* Unknown chunking: the whole appended block, twice. */
            chunk[0] = (hsize_t)s->n_chains;
            chunk[1] = (hsize_t)n;
            for (int k = 0; k < var->n_dims; k++) chunk[2 + k] = var->dims[k];
            bytes *= 2;
        }
        if (dcpl >= 0) H5Pclose(dcpl);
        for (int k = 0; k < rank; k++) bytes *= chunk[k];
        hsize_t touched = ((hsize_t)(draw0 + n) + chunk[1] - 1) / chunk[1] - (hsize_t)draw0 / chunk[1];
        need += touched * bytes + ((hsize_t)8 << 10);
    }
    for (int g = 0; g < s->n_groups; g++) /* the draw coordinate: int64, chunks >= 1024 */
        need += (hsize_t)8 * (hsize_t)(n + 2 * (s->chunk_draws < 1024 ? 1024 : s->chunk_draws)) +
                ((hsize_t)8 << 10);
    return need + table_bytes(s);
}

/* Rank 0 reserves the disk space an append will need before HDF5 writes anything: every hole
 * in the file (parts of chunks not written yet) and append_bytes past its end, with
 * posix_fallocate.  A write error inside HDF5's collective writes and flushes leaves the ranks
 * disagreeing: parallel HDF5 1.10.8 then hangs in H5Fflush (rank 0's metadata write fails, the
 * others wait in the sync point's barrier) or keeps a half-written extension, and at close
 * writes metadata that points at draws never written.  A failed reservation instead stops
 * the run while the file is exactly as the last successful flush left it (and closes
 * cleanly: nothing is dirty).  A full disk, a quota, a read-only remount all fail here.  A
 * file system without fallocate (glibc then writes a byte per block) or a failed hole search
 * only skips the reservation.  Once the file reaches past everything the append may
 * allocate, rank 0 raises the superblock's end-of-allocation address to the file's size, so
 * that a kill -9 in the flush leaves no address past it (see sgld_samples_append_chains).
 * Collective; returns the agreed status. */
static sgld_status reserve(sgld_samples *s, int64_t draw0, int64_t n)
{
    sgld_status st = SGLD_OK;
    if (s->rank == 0) {
        int fd = open(s->path, O_RDWR);
        struct stat sb;
        int err = fd < 0 ? errno : fstat(fd, &sb) != 0 ? errno : 0;
        if (!err) {
            off_t from = lseek(fd, 0, SEEK_HOLE);
            if (from < 0 || from > sb.st_size) from = 0;
            off_t end = sb.st_size + (off_t)append_bytes(s, draw0, n);
            err = posix_fallocate(fd, from, end - from);
            if (err == EINVAL || err == EOPNOTSUPP || err == ENOSYS) err = 0;
            /* A failed reservation may have grown the file (ext4 extends as it goes); if it
             * cannot be cut back, zeros past HDF5's end of file are harmless to readers. */
            struct stat now;
            if (err && fstat(fd, &now) == 0 && now.st_size > sb.st_size)
                (void)!ftruncate(fd, sb.st_size);
            /* Not raised (an unknown superblock, an I/O error), the append goes on as before. */
            if (!err && fstat(fd, &now) == 0 && now.st_size >= end)
                (void)samples_eoa_to_eof(fd);
        }
        if (fd >= 0) close(fd);
        /* SGLD_ERR_HDF5: a run-time failure of the output (exit 1), not bad input. */
        if (err)
            st = sgld_error_set(SGLD_ERR_HDF5,
                                "%s: cannot write draws %lld to %lld: %s (the file holds the "
                                "first %lld draws of every chain)",
                                s->path, (long long)draw0 + 1, (long long)(draw0 + n),
                                strerror(err), (long long)draw0);
    }
    return sgld_status_agree(s->comm, st);
}

/* What a reader finds after every rank is killed (kill -9; the page cache survives it, so
 * there is no fsync) at any instant of an append:
 *   - in reserve(): the file grows (zeros past HDF5's end), then rank 0 raises the
 *     superblock's end-of-allocation address (EOA) to the file's new size, which covers every
 *     byte this append may allocate (append_bytes, the bound the disk-full guarantee rests on
 *     too).  The file reads as the last flush left it.
 *   - in set_extent and the H5Dwrite calls: chunks are allocated in memory and the draws
 *     written into space that no metadata on disk points to yet: the last flush's file.
 *   - in H5Fflush: the object headers (new extents) and chunk index nodes go out, split
 *     among the ranks in no fixed order; rank 0 writes the superblock after its share, with
 *     HDF5's own EOA (which covers everything it allocated); then the file is cut to it.
 *     Without the raised EOA, a kill before that last write left chunk indexes pointing
 *     past the on-disk EOA ("addr overflow" in every reader).  With it, every address on
 *     disk is below the on-disk EOA at every instant.  (When the append allocated nothing,
 *     HDF5's EOA did not change and it writes neither: the raised EOA stays, the reserved
 *     zeros counted as allocated, until a flush or the close that changes the EOA; a kill
 *     before that only leaves those zeros unused when the file is resumed.)
 * What remains: a kill among the flush's own metadata writes (a few KB in a handful of
 * writes; microseconds, more when a rank is descheduled) can leave some variables with the
 * new draw count and some with the old, or an extent whose chunk index is not all written
 * (its newest draws read as zeros, or the variable does not read).  sgld_samples_reopen
 * takes the fewest draws of any variable, so --resume cuts variables apart back to its
 * checkpoint like any extra draws.  Not covered either: a collective sync point inside
 * set_extent, which HDF5 makes only when one append dirties more metadata than its cache
 * keeps dirty (256 KiB by default, some 80 variables), writes part of the append's metadata
 * before its draws and lowers the on-disk EOA again.  When the reservation could not grow
 * the file, or the superblock is not of the version 0 or 1 HDF5 1.10 writes here, the EOA
 * is not raised and a kill in H5Fflush can leave "addr overflow" as before. */
sgld_status sgld_samples_append_chains(sgld_samples *s, int n_local, const int *chains,
                                       int64_t n_draws, const void *const *const *data)
{
    SGLD_CHECK(s, SGLD_ERR_ARG, "sgld_samples_append: NULL handle");
    sgld_status st = SGLD_OK;
    memset(s->chain_count, 0, (size_t)s->n_chains * sizeof *s->chain_count);
    if (n_local < 0 || n_draws < 0 || (n_local > 0 && (!chains || !data))) {
        st = sgld_error_set(SGLD_ERR_ARG, "%s: append: n_local = %d, n_draws = %lld", s->path,
                            n_local, (long long)n_draws);
        n_local = 0;
    }
    for (int i = 0; i < n_local && st == SGLD_OK; i++) {
        if (chains[i] < 0 || chains[i] >= s->n_chains) {
            st = sgld_error_set(SGLD_ERR_ARG, "%s: append: chain %d out of range 0..%d",
                                s->path, chains[i], s->n_chains - 1);
            break;
        }
        s->chain_count[chains[i]]++;
        for (int v = 0; v < s->n_vars && n_draws > 0; v++)
            if (!data[i] || !data[i][v]) {
                st = sgld_error_set(SGLD_ERR_ARG, "%s: append: no data for '%s' of chain %d",
                                    s->path, s->vars[v].name, chains[i]);
                break;
            }
    }
    SGLD_TRY(sgld_status_agree(s->comm, st));

    /* The same arguments on every rank: each chain once, equal n_draws. */
    int64_t mx[3] = {n_draws, -n_draws, n_local}, agreed[3];
    SGLD_MPI(MPI_Allreduce(s->chain_count, s->chain_total, s->n_chains, MPI_INT, MPI_SUM,
                           s->comm));
    SGLD_MPI(MPI_Allreduce(mx, agreed, 3, MPI_INT64_T, MPI_MAX, s->comm));
    SGLD_CHECK(agreed[0] == -agreed[1], SGLD_ERR_ARG,
               "%s: append: ranks passed different n_draws (%lld and %lld)", s->path,
               (long long)-agreed[1], (long long)agreed[0]);
    for (int c = 0; c < s->n_chains; c++)
        SGLD_CHECK(s->chain_total[c] == 1, SGLD_ERR_ARG,
                   "%s: append: chain %d is written by %d ranks (each chain must be written "
                   "by exactly one rank)",
                   s->path, c, s->chain_total[c]);
    if (n_draws == 0) return SGLD_OK;

    /* Everything that can fail locally comes before the extension. */
    SGLD_TRY(sgld_status_agree(s->comm, s->rank == 0 ? grow_draw_buf(s, n_draws) : SGLD_OK));
    if (s->extent != s->n_draws || (s->table && s->table->file_rows != s->table->rows))
        SGLD_TRY(shrink(s, s->n_draws));
    int64_t draw0 = s->n_draws;
    SGLD_TRY(reserve(s, draw0, n_draws));
    SGLD_TRY(sgld_status_agree(s->comm, set_extent(s, draw0 + n_draws)));
    s->extent = draw0 + n_draws;
    const int row = s->table && s->table->staged; /* the staged row goes with these draws */
    if (row) {
        SGLD_TRY(sgld_status_agree(s->comm, table_set_rows(s, s->table->rows + 1)));
        s->table->file_rows = s->table->rows + 1;
        st = table_write_row(s, draw0 + n_draws);
    }
    for (int g = 0; g < s->n_groups; g++) {
        sgld_status w = write_coord(s, s->groups[g].dims[1].dset, draw0, n_draws);
        if (st == SGLD_OK) st = w;
    }
    /* Round i writes every rank's i-th chain, so ranks holding fewer chains join the later
     * collective writes with empty selections. */
    for (int64_t i = 0; i < agreed[2]; i++)
        for (int v = 0; v < s->n_vars; v++) {
            int mine = i < n_local;
            sgld_status w = write_block(s, &s->vars[v], mine ? chains[i] : -1, draw0, n_draws,
                                        mine ? data[i][v] : NULL);
            if (st == SGLD_OK) st = w;
        }
    if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0 && st == SGLD_OK)
        st = sgld_error_set(SGLD_ERR_IO, "%s: flush failed", s->path);
    SGLD_TRY(sgld_status_agree(s->comm, st));
    s->n_draws = draw0 + n_draws;
    if (row) {
        s->table->rows++;
        s->table->staged = 0;
    }
    return SGLD_OK;
}

sgld_status sgld_samples_append(sgld_samples *s, int chain, int64_t n_draws,
                                const void *const *data)
{
    return sgld_samples_append_chains(s, chain >= 0 ? 1 : 0, &chain, n_draws, &data);
}

sgld_status sgld_samples_truncate(sgld_samples *s, int64_t n_draws)
{
    SGLD_CHECK(s, SGLD_ERR_ARG, "sgld_samples_truncate: NULL handle");
    sgld_status st = SGLD_OK;
    if (n_draws < 0 || n_draws > s->n_draws)
        st = sgld_error_set(SGLD_ERR_ARG, "%s: cannot truncate to %lld draws (have %lld)",
                            s->path, (long long)n_draws, (long long)s->n_draws);
    SGLD_TRY(sgld_status_agree(s->comm, st));
    SGLD_TRY(shrink(s, n_draws));
    s->n_draws = n_draws;
    return SGLD_OK;
}

sgld_status sgld_samples_close(sgld_samples **ps)
{
    if (!ps || !*ps) return SGLD_OK;
    sgld_samples *s = *ps;
    *ps = NULL;
    MPI_Comm comm;
    if (MPI_Comm_dup(s->comm, &comm) != MPI_SUCCESS) {
        samples_free_handle(s);
        return sgld_error_set(SGLD_ERR_MPI, "MPI_Comm_dup failed while closing");
    }
    sgld_status st = sgld_status_agree(comm, samples_free_handle(s));
    MPI_Comm_free(&comm);
    return st;
}

void sgld_samples_discard(MPI_Comm comm, const char *path)
{
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0 && path) unlink(path);
}
