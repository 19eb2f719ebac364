/* fuzz_h5data.c - libFuzzer harness for the HDF5 data loader (sgld_data_load on a ".h5"
 * path: /X [n, d], /y [n]).  The first byte picks the options as in fuzz_csv.c; the rest is
 * the recipe of the file (fuzz_common.h: which of /X, /y exist, as datasets or groups, their
 * ranks, extents, types and values), or with SGLD_FUZZ_RAW_HDF5=1 the file's bytes. */
#include "fuzz_common.h"
#include "sgld/data.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

static void build(hid_t f, fuzz_bytes *b)
{
    unsigned which = fuzz_u8(b);
    if (which & 1) fuzz_dataset(f, "X", b);
    if (which & 2) fuzz_dataset(f, "y", b);
    if (which & 4) H5Gclose(H5Gcreate2(f, (which & 1) ? "Xg" : "X", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (which & 8) fuzz_attr(f, "note", b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t mode = data[0];
    const char *path = fuzz_hdf5_file(data + 1, size - 1, build);
    if (!path) return 0;
    sgld_data_options opt = {.path = path, .seed = 1, .classification = mode & 1,
                             .n_classes = (mode & 2) ? 2 : 0, .standardize = (mode >> 2) & 1,
                             .test_fraction = (mode & 8) ? 0.25 : 0.0};
    sgld_dataset *train = NULL, *test = NULL;
    sgld_data_load(MPI_COMM_SELF, 0, 1, &opt, &train, &test);
    sgld_data_destroy(&train);
    sgld_data_destroy(&test);
    unlink(path);
    return 0;
}
