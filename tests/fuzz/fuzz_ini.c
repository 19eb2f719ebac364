/* fuzz_ini.c - libFuzzer harness for the INI configuration parser (sgld_config_parse with
 * --config FILE); the input is the file. */
#include "fuzz_common.h"
#include "sgld/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".ini");
    if (!path) return 0;
    char *argv[] = {"sgld-dist", "--config", (char *)path, NULL};
    sgld_config cfg;
    sgld_config_parse(&cfg, 3, argv);
    unlink(path);
    return 0;
}
