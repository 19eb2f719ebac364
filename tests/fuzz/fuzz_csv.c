/* fuzz_csv.c - libFuzzer harness for the CSV data reader (sgld_data_load on a ".csv" path).
 * The first byte picks the options (classification, test split, standardization), so the
 * label and split paths are fuzzed as well as the parser; the rest is the file. */
#include "fuzz_common.h"
#include "sgld/data.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t mode = data[0];
    const char *path = fuzz_file(data + 1, size - 1, ".csv");
    if (!path) return 0;
    sgld_data_options opt = {.path = path, .seed = 1, .classification = mode & 1,
                             .n_classes = (mode & 2) ? 2 : 0, .standardize = (mode >> 2) & 1,
                             .test_fraction = (mode & 8) ? 0.25 : 0.0};
    sgld_dataset *train = NULL, *test = NULL;
    sgld_data_load(MPI_COMM_SELF, 0, 1, &opt, &train, (mode & 16) ? NULL : &test);
    sgld_data_destroy(&train);
    sgld_data_destroy(&test);
    unlink(path);
    return 0;
}
