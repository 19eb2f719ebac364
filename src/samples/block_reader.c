/* block_reader.c - reads blocks of elements of a sample variable in the file's chunk order.
 *
 * sgld_samples_read_elems selects [all chains, all draws, elements e0..e0+ne) in one hyperslab
 * and converts to double inside HDF5: for a block of 256 elements of 8 x 10^4 draws HDF5 walks
 * 80 000 short runs per read and converts float to double element by element (95 MB/s here).
 * For the common case of a 3-D float or double variable this reader instead reads one
 * chunk row at a time ([chain c, draws of one chunk, the block's elements], memory space of
 * the same shape, so HDF5 maps the selection to chunks in one step) in the file's own type
 * into a staging buffer, and converts and transposes it into the element-major block
 * itself.  The values are the same bits as the general reader gives (float -> double is exact),
 * so what is computed from them does not depend on which reader ran. */
#include <stdio.h>
#include <string.h>

#include "samples_impl.h"

struct sgld_samples_block_reader {
    const char *path;      /* the reader's, for messages */
    char *name;
    hid_t dset, fspace;
    int is_float;          /* 4-byte floats in the file (else 8-byte) */
    hsize_t dims[3];
    hsize_t t_chunk;       /* draws per read: the chunk's draw extent, or 1024 */
    void *stage;           /* [t_chunk][block elements] in the file's type */
    size_t stage_n;
};

void sgld_samples_block_close(sgld_samples_block_reader **pb)
{
    if (!pb || !*pb) return;
    sgld_samples_block_reader *b = *pb;
    if (b->fspace >= 0) H5Sclose(b->fspace);
    if (b->dset >= 0) H5Dclose(b->dset);
    sgld_free(b->name);
    sgld_free(b->stage);
    sgld_free(b);
    *pb = NULL;
}

sgld_samples_block_reader *sgld_samples_block_open(sgld_samples_reader *r, const char *group,
                                                   const char *name, int64_t n_draws)
{
    sgld_samples_block_reader *b = sgld_calloc(1, sizeof *b);
    if (!b) return NULL;
    b->dset = b->fspace = H5I_INVALID_HID;
    b->path = r->path;
    b->name = sgld_strdup(name);
    char dpath[1024];
    while (*group == '/') group++;
    snprintf(dpath, sizeof dpath, "/%s%s%s", group, *group ? "/" : "", name);
    /* HDF5's default chunk cache: a chunk row is read once per block, so a larger cache
     * would only help blocks narrower than a chunk, and it would cost memory. */
    b->dset = b->name ? H5Dopen2(r->file, dpath, H5P_DEFAULT) : H5I_INVALID_HID;
    if (b->dset < 0) goto fail;
    b->fspace = H5Dget_space(b->dset);
    if (b->fspace < 0 || H5Sget_simple_extent_ndims(b->fspace) != 3) goto fail;
    H5Sget_simple_extent_dims(b->fspace, b->dims, NULL);
    if (n_draws > (int64_t)b->dims[1]) goto fail;
    if (n_draws >= 0) b->dims[1] = (hsize_t)n_draws;
    hid_t type = H5Dget_type(b->dset);
    int ok = H5Tget_class(type) == H5T_FLOAT && (H5Tget_size(type) == 4 || H5Tget_size(type) == 8);
    b->is_float = H5Tget_size(type) == 4;
    H5Tclose(type);
    if (!ok) goto fail;
    b->t_chunk = 1024;
    hid_t dcpl = H5Dget_create_plist(b->dset);
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED) {
        hsize_t cd[3];
        if (H5Pget_chunk(dcpl, 3, cd) == 3 && cd[1] > 0) b->t_chunk = cd[1];
    }
    if (dcpl >= 0) H5Pclose(dcpl);
    if (b->t_chunk > b->dims[1]) b->t_chunk = b->dims[1] ? b->dims[1] : 1;
    return b;
fail:
    sgld_samples_block_close(&b);
    return NULL;
}

/* Converts and transposes one staged chunk row [t][e] (nt draws, en elements) into
 * dst[e * n_rows + t], 16 elements at a time for the cache. */
static void unstage(const sgld_samples_block_reader *b, hsize_t nt, hsize_t en, hsize_t n_rows,
                    double *dst)
{
    for (hsize_t eb = 0; eb < en; eb += 16) {
        hsize_t ee = en - eb < 16 ? en : eb + 16;
        if (b->is_float) {
            const float *s = b->stage;
            for (hsize_t t = 0; t < nt; t++)
                for (hsize_t e = eb; e < ee; e++) dst[e * n_rows + t] = (double)s[t * en + e];
        } else {
            const double *s = b->stage;
            for (hsize_t t = 0; t < nt; t++)
                for (hsize_t e = eb; e < ee; e++) dst[e * n_rows + t] = s[t * en + e];
        }
    }
}

sgld_status sgld_samples_block_read(sgld_samples_block_reader *b, int64_t e0, int64_t ne, double *out)
{
    const hsize_t m = b->dims[0], n = b->dims[1], en = (hsize_t)ne;
    size_t esz = b->is_float ? 4 : 8, need = (size_t)(b->t_chunk * en) * esz;
    if (need > b->stage_n) {
        void *p = sgld_realloc(b->stage, need);
        SGLD_CHECK(p, SGLD_ERR_NOMEM, "%s: '%s': out of memory staging %zu bytes", b->path, b->name, need);
        b->stage = p;
        b->stage_n = need;
    }
    hid_t mtype = b->is_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
    for (hsize_t c = 0; c < m; c++) {
        for (hsize_t t0 = 0; t0 < n; t0 += b->t_chunk) {
            hsize_t nt = n - t0 < b->t_chunk ? n - t0 : b->t_chunk;
            hsize_t start[3] = {c, t0, (hsize_t)e0}, count[3] = {1, nt, en};
            /* The memory space has the file selection's shape: otherwise HDF5 maps every
             * element to its chunk one by one. */
            hid_t mspace = H5Screate_simple(3, count, NULL);
            herr_t rc = H5Sselect_hyperslab(b->fspace, H5S_SELECT_SET, start, NULL, count, NULL);
            if (rc >= 0) rc = H5Dread(b->dset, mtype, mspace, b->fspace, H5P_DEFAULT, b->stage);
            H5Sclose(mspace);
            SGLD_CHECK(rc >= 0, SGLD_ERR_IO, "%s: '%s': HDF5 could not read elements [%lld, %lld)", b->path,
                       b->name, (long long)e0, (long long)(e0 + ne));
            unstage(b, nt, en, m * n, out + c * n + t0);
        }
    }
    return SGLD_OK;
}
