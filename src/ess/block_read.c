/* block_read.c - reads blocks of elements of a sample variable in the file's chunk order.
 *
 * sgld_samples_read_elems selects [all chains, all draws, elements e0..e0+ne) in one hyperslab
 * and converts to double inside HDF5: for a block of 256 elements of 8 x 10^4 draws HDF5 walks
 * 80 000 short runs per read and converts float to double element by element (95 MB/s here).
 * For the common case of a 3-D float or double variable this reader instead reads one
 * chunk row at a time ([chain c, draws of one chunk, the block's elements], memory space of
 * the same shape, so HDF5 maps the selection to chunks in one step) in the file's own type
 * into a staging buffer, and converts and transposes it into the element-major block
 * itself.  The values are the same bits as the general reader gives (float -> double is exact),
 * so the diagnostics do not depend on which reader ran. */
#include "block_read.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct block_reader {
    hid_t file, dset, fspace;
    int is_float;          /* 4-byte floats in the file (else 8-byte) */
    hsize_t dims[3];
    hsize_t t_chunk;       /* draws per read: the chunk's draw extent, or 1024 */
    void *stage;           /* [t_chunk][block elements] in the file's type */
    size_t stage_n;
};

void block_reader_close(block_reader **pbr)
{
    if (!pbr || !*pbr) return;
    block_reader *br = *pbr;
    if (br->fspace >= 0) H5Sclose(br->fspace);
    if (br->dset >= 0) H5Dclose(br->dset);
    if (br->file >= 0) H5Fclose(br->file);
    free(br->stage);
    free(br);
    *pbr = NULL;
}

block_reader *block_reader_open(const char *path, const char *group, const char *name)
{
    block_reader *br = calloc(1, sizeof *br);
    if (!br) return NULL;
    br->file = br->dset = br->fspace = H5I_INVALID_HID;
    char dpath[1024];
    while (*group == '/') group++;
    snprintf(dpath, sizeof dpath, "/%s%s%s", group, *group ? "/" : "", name);
    br->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (br->file < 0) goto fail;
    /* HDF5's default chunk cache: a chunk row is read once per block, so a larger cache
     * would only help blocks narrower than a chunk, and it would cost memory. */
    br->dset = H5Dopen2(br->file, dpath, H5P_DEFAULT);
    if (br->dset < 0) goto fail;
    br->fspace = H5Dget_space(br->dset);
    if (br->fspace < 0 || H5Sget_simple_extent_ndims(br->fspace) != 3) goto fail;
    H5Sget_simple_extent_dims(br->fspace, br->dims, NULL);
    hid_t type = H5Dget_type(br->dset);
    int ok = H5Tget_class(type) == H5T_FLOAT && (H5Tget_size(type) == 4 || H5Tget_size(type) == 8);
    br->is_float = H5Tget_size(type) == 4;
    H5Tclose(type);
    if (!ok) goto fail;
    br->t_chunk = 1024;
    hid_t dcpl = H5Dget_create_plist(br->dset);
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED) {
        hsize_t cd[3];
        if (H5Pget_chunk(dcpl, 3, cd) == 3 && cd[1] > 0) br->t_chunk = cd[1];
    }
    if (dcpl >= 0) H5Pclose(dcpl);
    if (br->t_chunk > br->dims[1]) br->t_chunk = br->dims[1] ? br->dims[1] : 1;
    return br;
fail:
    block_reader_close(&br);
    return NULL;
}

int block_reader_read(block_reader *br, int64_t e0, int64_t ne, double *out)
{
    const hsize_t m = br->dims[0], n = br->dims[1], N = m * n, en = (hsize_t)ne;
    size_t esz = br->is_float ? 4 : 8, need = (size_t)(br->t_chunk * en) * esz;
    if (need > br->stage_n) {
        void *p = realloc(br->stage, need);
        if (!p) return -1;
        br->stage = p;
        br->stage_n = need;
    }
    hid_t mtype = br->is_float ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
    for (hsize_t c = 0; c < m; c++) {
        for (hsize_t t0 = 0; t0 < n; t0 += br->t_chunk) {
            hsize_t nt = n - t0 < br->t_chunk ? n - t0 : br->t_chunk;
            hsize_t start[3] = {c, t0, (hsize_t)e0}, count[3] = {1, nt, en};
            /* The memory space has the file selection's shape: otherwise HDF5 maps every
             * element to its chunk one by one. */
            hid_t mspace = H5Screate_simple(3, count, NULL);
            herr_t rc = H5Sselect_hyperslab(br->fspace, H5S_SELECT_SET, start, NULL, count, NULL);
            if (rc >= 0) rc = H5Dread(br->dset, mtype, mspace, br->fspace, H5P_DEFAULT, br->stage);
            H5Sclose(mspace);
            if (rc < 0) return -1;
            /* transpose [t][e] -> out[e][c n + t], 16 elements at a time for the cache */
            double *dst = out + c * n + t0;
            for (hsize_t eb = 0; eb < en; eb += 16) {
                hsize_t ee = en - eb < 16 ? en : eb + 16;
                if (br->is_float) {
                    const float *s = br->stage;
                    for (hsize_t t = 0; t < nt; t++)
                        for (hsize_t e = eb; e < ee; e++) dst[e * N + t] = (double)s[t * en + e];
                } else {
                    const double *s = br->stage;
                    for (hsize_t t = 0; t < nt; t++)
                        for (hsize_t e = eb; e < ee; e++) dst[e * N + t] = s[t * en + e];
                }
            }
        }
    }
    return 0;
}
