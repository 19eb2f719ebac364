/* fuzz_ini.c - libFuzzer harness for the INI configuration parser (sgld_config_parse with
 * --config FILE); the input is the file.  An input that names a plug-in is skipped: loading
 * one runs its code by design (dlopen of whatever file the fuzzer named), which is no parser
 * input; the loader's refusals are rows of the bad-input table. */
#include <string.h>

#include "fuzz_common.h"
#include "sgld/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

/* 1 when the n bytes at p hold the word "plugin". */
static int names_plugin(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 6 <= n; i++)
        if (!memcmp(p + i, "plugin", 6)) return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (names_plugin(data, size)) return 0;
    const char *path = fuzz_file(data, size, ".ini");
    if (!path) return 0;
    char *argv[] = {"sgld-dist", "--config", (char *)path, NULL};
    sgld_config cfg;
    sgld_config_parse(&cfg, 3, argv);
    unlink(path);
    return 0;
}
