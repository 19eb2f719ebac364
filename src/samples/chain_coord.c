/* chain_coord.c - a coordinate on the chain dimension of every group (samples.h): one int64
 * per chain, such as the `superchain` of a run with --superchains.
 *
 * Layout, as netCDF-4 and xarray read it: in each group a 1-D dataset NAME of n_chains int64
 * whose one axis carries the group's `chain` dimension scale (so netCDF-C and h5netcdf see the
 * variable NAME(chain)), and the group attribute `coordinates = "NAME"`, which xarray's CF
 * decoding (decode_coords) turns into a non-dimension coordinate of the group's dataset rather
 * than a data variable.  A 1-D dataset is no sample variable (those are [chain, draw, ...]), so
 * sgld_samples_list, the resume checks and sgld-ess never take it for one. */
#include <hdf5_hl.h>
#include <stdio.h>
#include <string.h>

#include "samples_impl.h"

/* Local checks before the collective part: a usable name that no group holds yet, values on
 * rank 0, no `coordinates` attribute to overwrite. */
static sgld_status check_chain_coord(const sgld_samples *s, const char *name, const int64_t *values)
{
    SGLD_CHECK(name && name[0] && !strchr(name, '/') && strlen(name) < 256, SGLD_ERR_ARG,
               "%s: invalid coordinate name '%s'", s->path, name ? name : "");
    SGLD_CHECK(s->rank != 0 || values, SGLD_ERR_ARG, "%s: coordinate '%s': no values", s->path, name);
    for (int g = 0; g < s->n_groups; g++) {
        const samples_group *grp = &s->groups[g];
        SGLD_CHECK(H5Lexists(grp->gid, name, H5P_DEFAULT) == 0, SGLD_ERR_ARG,
                   "%s: group '%s' already holds '%s'", s->path, grp->name, name);
        SGLD_CHECK(H5Aexists(grp->gid, "coordinates") == 0, SGLD_ERR_ARG,
                   "%s: group '%s' already has a 'coordinates' attribute", s->path, grp->name);
    }
    return SGLD_OK;
}

/* Creates group grp's dataset NAME on its chain dimension and writes it (rank 0 writes every
 * value, the others select nothing).  Collective; returns the local status. */
static sgld_status write_one(sgld_samples *s, const samples_group *grp, const char *name,
                             const int64_t *values)
{
    sgld_status st = SGLD_OK;
    hsize_t len = (hsize_t)s->n_chains;
    int64_t dummy = 0;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    const unsigned order = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED; /* as writer.c's */
    if (dcpl < 0 || H5Pset_attr_creation_order(dcpl, order) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 || (space = H5Screate_simple(1, &len, NULL)) < 0 ||
        (dset = H5Dcreate2(grp->gid, name, H5T_STD_I64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0 ||
        H5DSattach_scale(dset, grp->dims[0].dset, 0) < 0)
        st = sgld_error_set(SGLD_ERR_HDF5, "%s: cannot create coordinate '%s/%s'", s->path, grp->name, name);
    if (dset >= 0) {
        if (s->rank != 0 || st != SGLD_OK) H5Sselect_none(space);
        if (H5Dwrite(dset, H5T_NATIVE_INT64, space, space, s->dxpl,
                     s->rank == 0 && st == SGLD_OK ? (const void *)values : (const void *)&dummy) < 0 &&
            st == SGLD_OK)
            st = sgld_error_set(SGLD_ERR_HDF5, "%s: writing coordinate '%s/%s' failed", s->path, grp->name, name);
        H5Dclose(dset);
    }
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    return st;
}

sgld_status sgld_samples_chain_coord(sgld_samples *s, const char *name, const int64_t *values)
{
    SGLD_CHECK(s, SGLD_ERR_ARG, "sgld_samples_chain_coord: NULL handle");
    SGLD_TRY(sgld_status_agree(s->comm, check_chain_coord(s, name, values)));
    sgld_status st = SGLD_OK;
    /* Every rank makes every collective call, whatever failed before on it. */
    for (int g = 0; g < s->n_groups; g++) {
        sgld_status w = write_one(s, &s->groups[g], name, values);
        if (st == SGLD_OK) st = w;
    }
    if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0 && st == SGLD_OK)
        st = sgld_error_set(SGLD_ERR_IO, "%s: flush failed", s->path);
    SGLD_TRY(sgld_status_agree(s->comm, st));
    for (int g = 0; g < s->n_groups; g++)
        SGLD_TRY(sgld_samples_attr_string(s, s->groups[g].name, "coordinates", name));
    return SGLD_OK;
}

sgld_status sgld_samples_read_chain_coord(sgld_samples_reader *r, const char *group, const char *name,
                                          int64_t n_chains, int64_t *values, int *found)
{
    SGLD_CHECK(r && group && name && values && found && n_chains >= 1, SGLD_ERR_ARG,
               "sgld_samples_read_chain_coord: bad arguments");
    *found = 0;
    char gpath[300];
    samples_group_path(group, gpath, sizeof gpath);
    hid_t gid = gpath[1] == '\0' || H5Lexists(r->file, gpath, H5P_DEFAULT) > 0
                    ? H5Gopen2(r->file, gpath, H5P_DEFAULT) : H5I_INVALID_HID;
    SGLD_CHECK(gid >= 0, SGLD_ERR_ARG, "%s: no group '%s'", r->path, gpath);
    sgld_status st = SGLD_OK;
    htri_t there = name[0] && !strchr(name, '/') ? H5Lexists(gid, name, H5P_DEFAULT) : 0;
    hid_t obj = there > 0 ? H5Oopen(gid, name, H5P_DEFAULT) : H5I_INVALID_HID;
    H5Gclose(gid);
    if (there <= 0) return SGLD_OK;
    hid_t space = H5I_INVALID_HID, type = H5I_INVALID_HID;
    hsize_t len = 0;
    int ok = obj >= 0 && H5Iget_type(obj) == H5I_DATASET && (space = H5Dget_space(obj)) >= 0 &&
             (type = H5Dget_type(obj)) >= 0 && H5Tget_class(type) == H5T_INTEGER &&
             H5Sget_simple_extent_ndims(space) == 1 && H5Sget_simple_extent_dims(space, &len, NULL) == 1 &&
             len == (hsize_t)n_chains;
    if (!ok)
        st = sgld_error_set(SGLD_ERR_PARSE, "%s: '%s/%s' is not a coordinate on the chain dimension (want "
                            "%lld integers, one per chain)", r->path, gpath + 1, name, (long long)n_chains);
    else if (H5Dread(obj, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0)
        st = sgld_error_set(SGLD_ERR_IO, "%s: reading '%s/%s' failed", r->path, gpath + 1, name);
    else
        *found = 1;
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (obj >= 0) H5Oclose(obj);
    return st;
}
