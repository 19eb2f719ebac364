/* fuzz_samples.c - libFuzzer harness for the sample-file reader that sgld-ess uses
 * (sgld_samples_open / list / shape / read_elems / read_attr_*).  The input is the recipe of
 * the file (fuzz_common.h: groups /posterior and /sample_stats, up to four variables each of
 * any rank, extent, type and value, root attributes), or with SGLD_FUZZ_RAW_HDF5=1 the file's
 * bytes.  Every variable is read whole when it is small. */
#include "fuzz_common.h"
#include "sgld/samples.h"

#define MAX_VALUES (1 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

static void read_group(sgld_samples_reader *r, const char *group)
{
    int n_vars = 0;
    char **names = NULL;
    if (sgld_samples_list(r, group, &n_vars, &names) != SGLD_OK) return;
    for (int v = 0; v < n_vars; v++) {
        int n_dims = 0;
        int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2];
        if (sgld_samples_shape(r, group, names[v], &n_dims, dims) != SGLD_OK) continue;
        int64_t n_elem = 1, total = dims[0] * dims[1];
        for (int k = 2; k < n_dims; k++) n_elem *= dims[k];
        if (n_elem < 1 || total < 1 || total > MAX_VALUES || n_elem > MAX_VALUES / total) continue;
        double *out = malloc((size_t)(n_elem * total) * sizeof *out);
        if (out) sgld_samples_read_elems(r, group, names[v], 0, n_elem, out);
        free(out);
    }
    sgld_samples_free_names(n_vars, &names);
}

static void build(hid_t f, fuzz_bytes *b)
{
    static const char *groups[] = {"posterior", "sample_stats"};
    static const char *vars[] = {"w", "b", "lp", "step_size"};
    unsigned which = fuzz_u8(b);
    for (int g = 0; g < 2; g++) {
        if (!(which & (1u << g))) continue;
        hid_t gid = H5Gcreate2(f, groups[g], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (gid < 0) continue;
        unsigned n = fuzz_u8(b) % 5;
        for (unsigned v = 0; v < n; v++) fuzz_dataset(gid, vars[v], b);
        if (which & 16) fuzz_attr(gid, "created_by", b);
        H5Gclose(gid);
    }
    if (which & 4) fuzz_attr(f, "model", b);
    if (which & 8) fuzz_attr(f, "n_train", b);
    if (which & 32) fuzz_attr(f, "standardize_mean", b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_hdf5_file(data, size, build);
    if (!path) return 0;
    sgld_samples_reader *r = NULL;
    if (sgld_samples_open(path, &r) == SGLD_OK) {
        read_group(r, "posterior");
        read_group(r, "sample_stats");
        char *s = NULL;
        if (sgld_samples_read_attr_string(r, "", "model", &s) == SGLD_OK) sgld_free(s);
        double v[8];
        int n = 0;
        sgld_samples_read_attr_double(r, "", "n_train", 8, &n, v);
        sgld_samples_read_attr_double(r, "", "standardize_mean", 8, &n, v);
    }
    sgld_samples_reader_close(&r);
    unlink(path);
    return 0;
}
