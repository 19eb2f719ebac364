/* reader.c - the sample file reader: serial, read-only HDF5 access to variables shaped
 * [chain, draw, ...] and to attributes, for any rank on its own (tools, diagnostics).
 *
 * read_elems selects exactly the requested flattened element range over the trailing dims
 * (a union of at most 2k+1 hyperslabs for k trailing dims: partial first row, whole rows,
 * partial last row, recursively), so a block of a huge variable costs only its own bytes.
 * HDF5 returns a selection in row-major file order, i.e. [chain][draw][element]; one pass
 * turns that into the element-major order of the contract. */
#include <errno.h>
#include <fcntl.h>
#include <hdf5_hl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "samples_impl.h"

sgld_status sgld_samples_open(const char *path, sgld_samples_reader **out)
{
    SGLD_CHECK(out && path && path[0], SGLD_ERR_ARG, "sgld_samples_open: no path");
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our one line, not HDF5's stack */
    /* O_NONBLOCK: opening a FIFO without a writer would otherwise never return. */
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    SGLD_CHECK(fd >= 0, SGLD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    int is_dir = fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode);
    close(fd);
    SGLD_CHECK(!is_dir, SGLD_ERR_IO, "%s: cannot open: %s", path, strerror(EISDIR));
    SGLD_TRY(sgld_input_check(path));
    SGLD_CHECK(H5Fis_hdf5(path) > 0, SGLD_ERR_IO, "%s: not an HDF5 file", path);
    sgld_samples_reader *r;
    SGLD_ALLOC(r, 1);
    r->path = sgld_strdup(path);
    r->file = r->path ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : H5I_INVALID_HID;
    if (r->file < 0) {
        sgld_status st = r->path ? sgld_error_set(SGLD_ERR_IO, "%s: cannot open: HDF5 could "
                                                               "not open the file", path)
                                 : sgld_error_set(SGLD_ERR_NOMEM, "out of memory");
        sgld_free(r->path);
        sgld_free(r);
        return st;
    }
    *out = r;
    return SGLD_OK;
}

void sgld_samples_reader_close(sgld_samples_reader **pr)
{
    if (!pr || !*pr) return;
    sgld_samples_reader *r = *pr;
    *pr = NULL;
    if (r->file >= 0) H5Fclose(r->file);
    sgld_free(r->work);
    sgld_free(r->path);
    sgld_free(r);
}

/* Opens a group ("" or "/" is the root, "a/b/c" a group at any depth) into *gid.  Each
 * component is checked on its own, so a missing parent is "no group", not an HDF5 error. */
static sgld_status open_group(sgld_samples_reader *r, const char *group, hid_t *gid)
{
    char gpath[300];
    samples_group_path(group, gpath, sizeof gpath);
    *gid = H5I_INVALID_HID;
    int ok = strlen(gpath) + 1 < sizeof gpath;
    for (char *p = gpath + 1; ok && *p; p++) { /* "a//b" and a trailing '/' are one name */
        if (*p == '/' && (p[1] == '/' || p[1] == '\0')) {
            memmove(p, p + 1, strlen(p + 1) + 1);
            p--;
        }
    }
    for (char *p = gpath + 1; ok && *p;) {
        char *slash = strchr(p, '/');
        if (slash) *slash = '\0';
        ok = H5Lexists(r->file, gpath, H5P_DEFAULT) > 0;
        if (ok) {
            H5O_info_t info;
            ok = H5Oget_info_by_name2(r->file, gpath, &info, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 &&
                 info.type == H5O_TYPE_GROUP;
        }
        if (!slash) break;
        *slash = '/';
        p = slash + 1;
    }
    if (ok) *gid = H5Gopen2(r->file, gpath, H5P_DEFAULT);
    SGLD_CHECK(*gid >= 0, SGLD_ERR_ARG, "%s: no group '%s'", r->path, gpath);
    return SGLD_OK;
}

typedef struct {
    const char *want;
    int ok;
} scale_check;

/* Whether the scale dsid names dimension c->want: its NAME attribute, or its dataset's own
 * name (last path component) when NAME is missing, empty or netCDF's placeholder. */
static herr_t check_scale_name(hid_t did, unsigned dim, hid_t dsid, void *ctx)
{
    (void)did;
    (void)dim;
    scale_check *c = ctx;
    char name[256];
    ssize_t n = H5DSget_scale_name(dsid, name, sizeof name);
    if (n > 0 && (size_t)n < sizeof name && strncmp(name, NC_DIM_PLACEHOLDER, strlen(NC_DIM_PLACEHOLDER))) {
        c->ok = strcmp(name, c->want) == 0;
        return 1; /* the first scale decides */
    }
    n = H5Iget_name(dsid, name, sizeof name);
    const char *base = n > 0 && (size_t)n < sizeof name ? strrchr(name, '/') : NULL;
    c->ok = base && strcmp(base + 1, c->want) == 0;
    return 1;
}

/* Whether a dataset is a sample variable: not a scale, rank >= 2, integer or float of any
 * width, and its first two axes (when they carry scales) are chain and draw. */
static int is_sample_var(hid_t dset)
{
    if (H5DSis_scale(dset) != 0) return 0;
    hid_t space = H5Dget_space(dset), type = H5Dget_type(dset);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (rank < 2 || rank > 2 + SGLD_SAMPLES_MAX_DIMS) return 0;
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) return 0;
    static const char *const want[2] = {"chain", "draw"};
    for (unsigned d = 0; d < 2; d++) {
        if (H5DSget_num_scales(dset, d) <= 0) continue;
        scale_check c = {want[d], 0};
        if (H5DSiterate_scales(dset, d, NULL, check_scale_name, &c) < 0 || !c.ok) return 0;
    }
    return 1;
}

/* Opens a sample variable of a group into *dset. */
static sgld_status open_var(sgld_samples_reader *r, const char *group, const char *name,
                            hid_t *dset)
{
    hid_t gid;
    *dset = H5I_INVALID_HID;
    SGLD_TRY(open_group(r, group, &gid));
    char gpath[300];
    samples_group_path(group, gpath, sizeof gpath);
    htri_t ok = name && name[0] && !strchr(name, '/') ? H5Lexists(gid, name, H5P_DEFAULT) : 0;
    hid_t obj = ok > 0 ? H5Oopen(gid, name, H5P_DEFAULT) : H5I_INVALID_HID;
    H5Gclose(gid);
    if (obj >= 0 && H5Iget_type(obj) == H5I_DATASET && is_sample_var(obj)) {
        *dset = obj;
        return SGLD_OK;
    }
    if (obj >= 0) H5Oclose(obj);
    return sgld_error_set(SGLD_ERR_ARG, "%s: no variable '%s' in group '%s'", r->path,
                          name ? name : "", gpath);
}

typedef struct {
    int n, cap;
    char **names;
    sgld_status st;
} list_ctx;

static herr_t list_one(hid_t gid, const char *name, const H5L_info_t *info, void *data)
{
    list_ctx *c = data;
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t obj = H5Oopen(gid, name, H5P_DEFAULT);
    if (obj < 0) return 0;
    int take = H5Iget_type(obj) == H5I_DATASET && is_sample_var(obj);
    H5Oclose(obj);
    if (!take) return 0;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 8;
        char **p = sgld_realloc(c->names, (size_t)cap * sizeof *p);
        if (!p) {
            c->st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory listing variables");
            return -1;
        }
        c->names = p;
        c->cap = cap;
    }
    c->names[c->n] = sgld_strdup(name);
    if (!c->names[c->n]) {
        c->st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory listing variables");
        return -1;
    }
    c->n++;
    return 0;
}

sgld_status sgld_samples_list(sgld_samples_reader *r, const char *group, int *n_vars,
                              char ***names)
{
    SGLD_CHECK(r && n_vars && names, SGLD_ERR_ARG, "sgld_samples_list: NULL argument");
    *n_vars = 0;
    *names = NULL;
    hid_t gid;
    SGLD_TRY(open_group(r, group, &gid));
    /* File order is creation order when the group tracks it (ours do), else by name. */
    unsigned order = 0;
    hid_t gcpl = H5Gget_create_plist(gid);
    if (gcpl >= 0) {
        if (H5Pget_link_creation_order(gcpl, &order) < 0) order = 0;
        H5Pclose(gcpl);
    }
    H5_index_t index = (order & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
    list_ctx c = {0, 0, NULL, SGLD_OK};
    herr_t rc = H5Literate(gid, index, H5_ITER_INC, NULL, list_one, &c);
    H5Gclose(gid);
    if (rc < 0 || c.st != SGLD_OK) {
        sgld_samples_free_names(c.n, &c.names);
        if (c.st != SGLD_OK) return c.st;
        return sgld_error_set(SGLD_ERR_HDF5, "%s: cannot list group '%s'", r->path, group);
    }
    *n_vars = c.n;
    *names = c.names;
    return SGLD_OK;
}

void sgld_samples_free_names(int n, char ***names)
{
    if (!names || !*names) return;
    for (int i = 0; i < n; i++) sgld_free((*names)[i]);
    sgld_free(*names);
    *names = NULL;
}

static sgld_status var_shape(sgld_samples_reader *r, hid_t dset, const char *name, int *n_dims,
                             hsize_t *dims)
{
    hid_t space = H5Dget_space(dset);
    int rank = space >= 0 ? H5Sget_simple_extent_dims(space, dims, NULL) : -1;
    if (space >= 0) H5Sclose(space);
    SGLD_CHECK(rank >= 2 && rank <= SGLD_SAMPLES_MAX_DIMS + 2, SGLD_ERR_HDF5,
               "%s: cannot read the shape of '%s'", r->path, name);
    *n_dims = rank;
    return SGLD_OK;
}

/* open_var + var_shape: the variable's dataset (the caller closes it) and its shape. */
static sgld_status open_shaped(sgld_samples_reader *r, const char *group, const char *name, hid_t *dset,
                               int *n_dims, hsize_t *dims)
{
    SGLD_TRY(open_var(r, group, name, dset));
    sgld_status st = var_shape(r, *dset, name, n_dims, dims);
    if (st != SGLD_OK) {
        H5Dclose(*dset);
        *dset = H5I_INVALID_HID;
    }
    return st;
}

sgld_status sgld_samples_shape(sgld_samples_reader *r, const char *group, const char *name,
                               int *n_dims, int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2])
{
    SGLD_CHECK(r && n_dims && dims, SGLD_ERR_ARG, "sgld_samples_shape: NULL argument");
    hid_t dset;
    hsize_t d[SGLD_SAMPLES_MAX_DIMS + 2];
    SGLD_TRY(open_shaped(r, group, name, &dset, n_dims, d));
    H5Dclose(dset);
    for (int k = 0; k < *n_dims; k++) dims[k] = (int64_t)d[k];
    return SGLD_OK;
}

/* Adds the flattened range [lo, hi) over the trailing dims d[level..k) to the selection;
 * start/count hold the full-rank hyperslab, with the leading axes already set. */
static herr_t add_range(hid_t space, int k, const hsize_t *d, hsize_t *start, hsize_t *count,
                        int level, hsize_t lo, hsize_t hi, int *first)
{
    hsize_t inner = 1;
    for (int j = level + 1; j < k; j++) inner *= d[j];
    hsize_t r0 = lo / inner, r1 = (hi - 1) / inner;
    const int ax = 2 + level;
    if (lo % inner) { /* partial first row */
        hsize_t end = r0 == r1 ? hi - r0 * inner : inner;
        start[ax] = r0;
        count[ax] = 1;
        if (add_range(space, k, d, start, count, level + 1, lo % inner, end, first) < 0)
            return -1;
        if (r0 == r1) return 0;
        r0++;
    }
    hsize_t full_end = hi % inner ? r1 : r1 + 1; /* whole rows [r0, full_end) */
    if (full_end > r0) {
        start[ax] = r0;
        count[ax] = full_end - r0;
        for (int j = level + 1; j < k; j++) {
            start[2 + j] = 0;
            count[2 + j] = d[j];
        }
        if (H5Sselect_hyperslab(space, *first ? H5S_SELECT_SET : H5S_SELECT_OR, start, NULL,
                                count, NULL) < 0)
            return -1;
        *first = 0;
    }
    if (hi % inner && r1 >= r0) { /* partial last row */
        start[ax] = r1;
        count[ax] = 1;
        if (add_range(space, k, d, start, count, level + 1, 0, hi - r1 * inner, first) < 0)
            return -1;
    }
    return 0;
}

sgld_status sgld_samples_read_elems(sgld_samples_reader *r, const char *group,
                                    const char *name, int64_t elem_begin, int64_t n_elem,
                                    double *out)
{
    return sgld_samples_read_elems_draws(r, group, name, elem_begin, n_elem, -1, out);
}

sgld_status sgld_samples_read_elems_draws(sgld_samples_reader *r, const char *group, const char *name,
                                          int64_t elem_begin, int64_t n_elem, int64_t n_draws_read,
                                          double *out)
{
    SGLD_CHECK(r, SGLD_ERR_ARG, "sgld_samples_read_elems: NULL reader");
    hid_t dset;
    int rank = 0;
    hsize_t dims[SGLD_SAMPLES_MAX_DIMS + 2];
    SGLD_TRY(open_shaped(r, group, name, &dset, &rank, dims));
    sgld_status st = SGLD_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    const int k = rank - 2;
    hsize_t n_per_draw = 1;
    for (int j = 0; j < k; j++) n_per_draw *= dims[2 + j];
    if (n_draws_read > (int64_t)dims[1]) {
        st = sgld_error_set(SGLD_ERR_ARG, "%s: '%s': %lld draws asked, the variable holds %llu", r->path, name,
                            (long long)n_draws_read, (unsigned long long)dims[1]);
        goto done;
    }
    if (n_draws_read >= 0) dims[1] = (hsize_t)n_draws_read;
    if (elem_begin < 0 || n_elem < 0 || (hsize_t)elem_begin + (hsize_t)n_elem > n_per_draw ||
        (n_elem > 0 && !out)) {
        st = sgld_error_set(SGLD_ERR_ARG,
                            "%s: '%s': elements [%lld, %lld) out of range (%llu per draw)",
                            r->path, name, (long long)elem_begin,
                            (long long)(elem_begin + n_elem), (unsigned long long)n_per_draw);
        goto done;
    }
    const hsize_t n_chains = dims[0], n_draws = dims[1], n = (hsize_t)n_elem;
    const hsize_t total = n_chains * n_draws * n;
    if (total == 0) goto done;
    if (total > r->work_n) {
        double *p = sgld_realloc(r->work, (size_t)total * sizeof *p);
        if (!p) {
            st = sgld_error_set(SGLD_ERR_NOMEM, "%s: out of memory reading %llu values of '%s'",
                                r->path, (unsigned long long)total, name);
            goto done;
        }
        r->work = p;
        r->work_n = total;
    }
    hsize_t start[SGLD_SAMPLES_MAX_DIMS + 2] = {0}, count[SGLD_SAMPLES_MAX_DIMS + 2];
    count[0] = n_chains;
    count[1] = n_draws;
    int first = 1;
    fspace = H5Dget_space(dset);
    mspace = H5Screate_simple(1, &total, NULL);
    if (fspace < 0 || mspace < 0) {
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot get the dataspace of '%s'", r->path, name);
        goto done;
    }
    if (k == 0) {
        if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0) first = -1;
    } else if (add_range(fspace, k, dims + 2, start, count, 0, (hsize_t)elem_begin,
                         (hsize_t)(elem_begin + n_elem), &first) < 0) {
        first = -1;
    }
    if (first < 0) {
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot select elements of '%s'", r->path, name);
        goto done;
    }
    if (H5Dread(dset, H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, r->work) < 0) {
        st = sgld_error_set(SGLD_ERR_IO, "%s: reading '%s' failed", r->path, name);
        goto done;
    }
    /* work[(c * n_draws + t) * n + e] -> out[(e * n_chains + c) * n_draws + t] */
    for (hsize_t c = 0; c < n_chains; c++)
        for (hsize_t t = 0; t < n_draws; t++) {
            const double *src = r->work + (c * n_draws + t) * n;
            double *dst = out + c * n_draws + t;
            for (hsize_t e = 0; e < n; e++) dst[e * n_chains * n_draws] = src[e];
        }
done:
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    H5Dclose(dset);
    return st;
}

sgld_status sgld_samples_read_draws(sgld_samples_reader *r, const char *group, const char *name,
                                    int64_t chain, int64_t draw_begin, int64_t n_draws, float *out)
{
    SGLD_CHECK(r, SGLD_ERR_ARG, "sgld_samples_read_draws: NULL reader");
    hid_t dset;
    int rank = 0;
    hsize_t dims[SGLD_SAMPLES_MAX_DIMS + 2];
    SGLD_TRY(open_shaped(r, group, name, &dset, &rank, dims));
    sgld_status st = SGLD_OK;
    hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID;
    if (chain < 0 || (hsize_t)chain >= dims[0] || draw_begin < 0 || n_draws < 0 ||
        (hsize_t)(draw_begin + n_draws) > dims[1] || (n_draws > 0 && !out)) {
        st = sgld_error_set(SGLD_ERR_ARG, "%s: '%s': chain %lld, draws [%lld, %lld) out of range "
                            "(%llu chains x %llu draws)", r->path, name, (long long)chain,
                            (long long)draw_begin, (long long)(draw_begin + n_draws),
                            (unsigned long long)dims[0], (unsigned long long)dims[1]);
        goto done;
    }
    if (n_draws == 0) goto done;
    hsize_t start[SGLD_SAMPLES_MAX_DIMS + 2] = {0}, count[SGLD_SAMPLES_MAX_DIMS + 2];
    hsize_t total = (hsize_t)n_draws;
    start[0] = (hsize_t)chain;
    count[0] = 1;
    start[1] = (hsize_t)draw_begin;
    count[1] = (hsize_t)n_draws;
    for (int j = 2; j < rank; j++) {
        count[j] = dims[j];
        total *= dims[j];
    }
    fspace = H5Dget_space(dset);
    mspace = H5Screate_simple(1, &total, NULL);
    if (fspace < 0 || mspace < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0) {
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot select draws of '%s'", r->path, name);
        goto done;
    }
    if (H5Dread(dset, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, out) < 0)
        st = sgld_error_set(SGLD_ERR_IO, "%s: reading '%s' failed", r->path, name);
done:
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    H5Dclose(dset);
    return st;
}

sgld_status sgld_samples_read_coord(sgld_samples_reader *r, const char *name, int64_t *n, int64_t **values)
{
    SGLD_CHECK(r && name && n && values, SGLD_ERR_ARG, "sgld_samples_read_coord: NULL argument");
    *n = 0;
    *values = NULL;
    hid_t ds = H5Lexists(r->file, name, H5P_DEFAULT) > 0 ? H5Dopen2(r->file, name, H5P_DEFAULT) : H5I_INVALID_HID;
    hid_t sp = ds >= 0 ? H5Dget_space(ds) : H5I_INVALID_HID;
    hssize_t len = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 ? H5Sget_simple_extent_npoints(sp) : -1;
    int64_t *v = NULL;
    sgld_status st = SGLD_OK;
    if (len <= 0)
        st = sgld_error_set(SGLD_ERR_ARG, "%s: no 1-D coordinate '%s'", r->path, name);
    else if (!(v = sgld_malloc((size_t)len * sizeof *v)))
        st = sgld_error_set(SGLD_ERR_NOMEM, "%s: out of memory reading %lld values of '%s'", r->path,
                            (long long)len, name);
    else if (H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        st = sgld_error_set(SGLD_ERR_IO, "%s: reading '%s' failed", r->path, name);
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    if (st != SGLD_OK) {
        sgld_free(v);
        return st;
    }
    *n = len;
    *values = v;
    return SGLD_OK;
}

/* Opens attribute `name` of a group into *attr. */
static sgld_status open_attr(sgld_samples_reader *r, const char *group, const char *name,
                             hid_t *attr)
{
    hid_t gid;
    *attr = H5I_INVALID_HID;
    SGLD_TRY(open_group(r, group, &gid));
    char gpath[300];
    samples_group_path(group, gpath, sizeof gpath);
    htri_t ok = name && name[0] ? H5Aexists(gid, name) : 0;
    if (ok > 0) *attr = H5Aopen(gid, name, H5P_DEFAULT);
    H5Gclose(gid);
    SGLD_CHECK(*attr >= 0, SGLD_ERR_ARG, "%s: no attribute '%s' on '%s'", r->path,
               name ? name : "", gpath);
    return SGLD_OK;
}

sgld_status sgld_samples_read_attr_string(sgld_samples_reader *r, const char *group,
                                          const char *name, char **value)
{
    SGLD_CHECK(r && value, SGLD_ERR_ARG, "sgld_samples_read_attr_string: NULL argument");
    *value = NULL;
    hid_t attr;
    SGLD_TRY(open_attr(r, group, name, &attr));
    sgld_status st = SGLD_OK;
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr), mtype = H5I_INVALID_HID;
    if (type < 0 || space < 0 || H5Tget_class(type) != H5T_STRING) {
        st = sgld_error_set(SGLD_ERR_ARG, "%s: attribute '%s' is not a string", r->path, name);
        goto done;
    }
    hssize_t npoints = H5Sget_simple_extent_npoints(space);
    if (npoints <= 0) { /* netCDF writes an empty text attribute with a null dataspace */
        *value = sgld_strdup("");
    } else if (H5Tis_variable_str(type) > 0) {
        char **strs = sgld_calloc((size_t)npoints, sizeof *strs);
        mtype = H5Tcopy(H5T_C_S1);
        if (strs && mtype >= 0 && H5Tset_size(mtype, H5T_VARIABLE) >= 0 &&
            H5Aread(attr, mtype, strs) >= 0) {
            *value = sgld_strdup(strs[0] ? strs[0] : "");
            H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, strs);
        }
        sgld_free(strs);
    } else {
        size_t size = H5Tget_size(type);
        char *buf = sgld_calloc((size_t)npoints * size + 1, 1);
        mtype = H5Tcopy(type);
        if (buf && mtype >= 0 && H5Aread(attr, mtype, buf) >= 0) {
            *value = sgld_malloc(size + 1);
            if (*value) {
                memcpy(*value, buf, size);
                (*value)[size] = '\0';
            }
        }
        sgld_free(buf);
    }
    if (!*value)
        st = sgld_error_set(SGLD_ERR_IO, "%s: cannot read attribute '%s'", r->path, name);
done:
    if (mtype >= 0) H5Tclose(mtype);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    H5Aclose(attr);
    return st;
}

sgld_status sgld_samples_read_attr_double(sgld_samples_reader *r, const char *group,
                                          const char *name, int max_n, int *n, double *values)
{
    SGLD_CHECK(r && n, SGLD_ERR_ARG, "sgld_samples_read_attr_double: NULL argument");
    *n = 0;
    hid_t attr;
    SGLD_TRY(open_attr(r, group, name, &attr));
    sgld_status st = SGLD_OK;
    hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    hssize_t npoints = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if ((cls != H5T_FLOAT && cls != H5T_INTEGER) || npoints < 0 || npoints > 1 << 30) {
        st = sgld_error_set(SGLD_ERR_ARG, "%s: attribute '%s' is not numeric", r->path, name);
    } else if (max_n == 0 && !values) {
        *n = (int)npoints;
    } else if (npoints > max_n || !values) {
        st = sgld_error_set(SGLD_ERR_ARG, "%s: attribute '%s' has %lld values, room for %d",
                            r->path, name, (long long)npoints, max_n);
    } else if (npoints > 0 && H5Aread(attr, H5T_NATIVE_DOUBLE, values) < 0) {
        st = sgld_error_set(SGLD_ERR_IO, "%s: cannot read attribute '%s'", r->path, name);
    } else {
        *n = (int)npoints;
    }
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    H5Aclose(attr);
    return st;
}
