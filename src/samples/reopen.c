/* reopen.c - opening an existing sample file to append more draws (for --resume).
 *
 * The in-memory layout is rebuilt from the file: per group only the `chain` and `draw`
 * coordinates (appending extends `draw`; the extra dims' coordinates, labelled ones
 * included, are fixed at create), the next free _Netcdf4Dimid, per
 * variable its dataset, checked against the caller's specs.  Everything else is shared with
 * writer.c through samples_impl.h, so sgld_samples_append/truncate/close work unchanged. */
#include "samples_impl.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* The group called name, opened on first use with its chain and draw coordinates. */
static sgld_status open_group(sgld_samples *s, const char *name, int *g)
{
    for (int i = 0; i < s->n_groups; i++)
        if (strcmp(s->groups[i].name, name) == 0) return *g = i, SGLD_OK;
    samples_group *grp = &s->groups[s->n_groups++];
    grp->gid = H5I_INVALID_HID;
    grp->name = sgld_strdup(name);
    SGLD_CHECK(grp->name, SGLD_ERR_NOMEM, "out of memory");
    SGLD_ALLOC(grp->dims, 2);
    grp->n_dims = 2;
    grp->dims[0].dset = grp->dims[1].dset = H5I_INVALID_HID;
    grp->dims[0].name = sgld_strdup("chain");
    grp->dims[1].name = sgld_strdup("draw");
    SGLD_CHECK(grp->dims[0].name && grp->dims[1].name, SGLD_ERR_NOMEM, "out of memory");
    grp->dims[0].len = s->n_chains;
    grp->dims[1].len = -1;
    grp->gid = H5Gopen2(s->file, name, H5P_DEFAULT);
    SGLD_CHECK(grp->gid >= 0, SGLD_ERR_PARSE, "%s: no group '%s' to append to", s->path, name);
    for (int d = 0; d < 2; d++) {
        grp->dims[d].dset = H5Dopen2(grp->gid, grp->dims[d].name, H5P_DEFAULT);
        SGLD_CHECK(grp->dims[d].dset >= 0, SGLD_ERR_PARSE, "%s: group '%s' has no '%s' coordinate",
                   s->path, name, grp->dims[d].name);
    }
    *g = s->n_groups - 1;
    return SGLD_OK;
}

/* H5Ovisit2 callback: raises *(int *)ctx past the _Netcdf4Dimid of a dataset that has one. */
static herr_t max_dimid(hid_t obj, const char *name, const H5O_info_t *info, void *ctx)
{
    int32_t id = -1;
    if (info->type != H5O_TYPE_DATASET || H5Aexists_by_name(obj, name, "_Netcdf4Dimid", H5P_DEFAULT) <= 0) return 0;
    hid_t attr = H5Aopen_by_name(obj, name, "_Netcdf4Dimid", H5P_DEFAULT, H5P_DEFAULT);
    if (attr >= 0 && H5Aread(attr, H5T_NATIVE_INT32, &id) >= 0 && id >= *(int *)ctx) *(int *)ctx = id + 1;
    if (attr >= 0) H5Aclose(attr);
    return 0;
}

/* Opens the variables and checks their shapes; sets s->n_draws.  Local. */
static sgld_status open_layout(sgld_samples *s, int n_vars, const sgld_var_spec *vars)
{
    SGLD_ALLOC(s->vars, n_vars);
    SGLD_ALLOC(s->groups, n_vars);
    SGLD_ALLOC(s->chain_count, s->n_chains);
    SGLD_ALLOC(s->chain_total, s->n_chains);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    SGLD_CHECK(fapl >= 0 && H5Pset_fapl_mpio(fapl, s->comm, MPI_INFO_NULL) >= 0, SGLD_ERR_HDF5,
               "%s: cannot set up MPI-IO access", s->path);
    s->file = H5Fopen(s->path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    SGLD_CHECK(s->file >= 0, SGLD_ERR_IO, "%s: cannot open the sample file to append to it "
               "(not HDF5, or not writable)", s->path);
    /* a scale created later must not take a number the file's scales hold (writer.c) */
    SGLD_CHECK(H5Ovisit2(s->file, H5_INDEX_NAME, H5_ITER_NATIVE, max_dimid, &s->next_dimid, H5O_INFO_BASIC) >= 0,
               SGLD_ERR_IO, "%s: cannot list the objects of the sample file", s->path);
    s->dxpl = H5Pcreate(H5P_DATASET_XFER);
    SGLD_CHECK(s->dxpl >= 0 && H5Pset_dxpl_mpio(s->dxpl, H5FD_MPIO_COLLECTIVE) >= 0, SGLD_ERR_HDF5,
               "%s: cannot set up collective transfers", s->path);
    int64_t n_draws = -1, most = 0;
    for (int v = 0; v < n_vars; v++) {
        samples_var *var = &s->vars[v];
        var->dset = H5I_INVALID_HID;
        var->name = sgld_strdup(vars[v].name);
        SGLD_CHECK(var->name, SGLD_ERR_NOMEM, "out of memory");
        s->n_vars++;
        const char *gname = vars[v].group;
        while (*gname == '/') gname++;
        SGLD_TRY(open_group(s, gname, &var->group));
        var->n_dims = vars[v].n_dims;
        var->dtype = vars[v].dtype;
        var->elems_per_draw = 1;
        for (int k = 0; k < var->n_dims; k++) {
            var->dims[k] = (hsize_t)vars[v].dims[k];
            var->elems_per_draw *= vars[v].dims[k];
        }
        var->dset = H5Dopen2(s->groups[var->group].gid, var->name, H5P_DEFAULT);
        SGLD_CHECK(var->dset >= 0, SGLD_ERR_PARSE, "%s: no variable '%s/%s' to append to", s->path,
                   gname, var->name);
        hid_t space = H5Dget_space(var->dset);
        hsize_t dims[2 + SGLD_SAMPLES_MAX_DIMS];
        int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
        int ok = rank == 2 + var->n_dims && H5Sget_simple_extent_dims(space, dims, NULL) == rank;
        if (space >= 0) H5Sclose(space);
        ok = ok && dims[0] == (hsize_t)s->n_chains;
        for (int k = 0; ok && k < var->n_dims; k++) ok = dims[2 + k] == var->dims[k];
        SGLD_CHECK(ok, SGLD_ERR_PARSE, "%s: variable '%s/%s' does not have the shape of this run "
                   "(%d chains)", s->path, gname, var->name, s->n_chains);
        if (n_draws < 0 || (int64_t)dims[1] < n_draws) n_draws = (int64_t)dims[1];
        if ((int64_t)dims[1] > most) most = (int64_t)dims[1];
    }
    for (int g = 0; g < s->n_groups; g++) {
        hid_t space = H5Dget_space(s->groups[g].dims[1].dset);
        hsize_t len = 0;
        int ok = space >= 0 && H5Sget_simple_extent_dims(space, &len, NULL) == 1;
        if (space >= 0) H5Sclose(space);
        SGLD_CHECK(ok, SGLD_ERR_PARSE, "%s: group '%s' has a 'draw' coordinate of another shape",
                   s->path, s->groups[g].name);
        if ((int64_t)len < n_draws) n_draws = (int64_t)len;
        if ((int64_t)len > most) most = (int64_t)len;
    }
    /* A run killed among the metadata writes of a flush can leave the variables and draw
     * coordinates with different draw counts (see sgld_samples_append_chains): the fewest are
     * every variable's, and the next truncate or append first cuts all back to them. */
    s->n_draws = n_draws < 0 ? 0 : n_draws;
    s->extent = most; /* what the longest dataset holds (writer.c shrinks when they differ) */
    return SGLD_OK;
}

sgld_status sgld_samples_reopen(MPI_Comm comm, const char *path, int n_chains, int n_vars,
                                const sgld_var_spec *vars, sgld_samples **out)
{
    SGLD_CHECK(out, SGLD_ERR_ARG, "sgld_samples_reopen: out is NULL");
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    MPI_Comm dup;
    SGLD_MPI(MPI_Comm_dup(comm, &dup));
    sgld_status st = SGLD_OK;
    sgld_samples *s = sgld_calloc(1, sizeof *s);
    if (!s) {
        MPI_Comm_free(&dup);
        return sgld_status_agree(comm, sgld_error_set(SGLD_ERR_NOMEM, "out of memory"));
    }
    s->comm = dup;
    s->file = s->dxpl = H5I_INVALID_HID;
    MPI_Comm_rank(dup, &s->rank);
    MPI_Comm_size(dup, &s->size);
    s->n_chains = n_chains;
    s->chunk_draws = 1;
    s->reopened = 1;
    s->path = sgld_strdup(path ? path : "");
    if (!s->path || !path || !path[0] || n_chains < 1 || n_vars < 1 || !vars)
        st = sgld_error_set(SGLD_ERR_ARG, "sgld_samples_reopen: bad arguments");
    else if (s->rank == 0 && access(path, R_OK | W_OK) != 0)
        st = sgld_error_set(SGLD_ERR_IO, "%s: cannot open the sample file to append to it: %s",
                            path, strerror(errno));
    st = sgld_status_agree(dup, st);
    if (st == SGLD_OK) st = sgld_status_agree(dup, open_layout(s, n_vars, vars));
    if (st != SGLD_OK) {
        samples_free_handle(s); /* H5Fclose is collective: every rank reaches it */
        return st;
    }
    *out = s;
    return SGLD_OK;
}
