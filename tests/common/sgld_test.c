/* sgld_test.c - MPI-aware cmocka runner: only rank 0 prints, exit status is the worst rank's. */
#include "sgld_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int test_rank, test_size;

int sgld_test_rank(void) { return test_rank; }
int sgld_test_size(void) { return test_size; }

const char *sgld_test_source_path(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("SGLD_SOURCE_ROOT");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : ".", rel);
    return buf;
}

const char *sgld_test_tmpdir(void)
{
    static char dir[512];
    if (dir[0]) return dir;
    if (test_rank == 0) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/sgld-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    return dir;
}

int sgld_test_run(int argc, char **argv, const char *name, const struct CMUnitTest *tests,
                  size_t n_tests)
{
    (void)argc;
    (void)argv;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, &test_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &test_size);
    if (test_rank != 0) {
        /* cmocka prints to stdout and stderr; keep one report. */
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) return 1;
    }
    int failed = _cmocka_run_group_tests(name, tests, n_tests, NULL, NULL);
    int worst = 0;
    MPI_Allreduce(&failed, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (test_rank == 0 && worst != failed)
        printf("[  ERROR   ] %s: another rank reported %d failed test(s)\n", name, worst);
    fflush(stdout);
    MPI_Finalize();
    return worst != 0;
}
