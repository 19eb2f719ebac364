/* sgld_test.h - shared test helpers: an MPI-aware cmocka runner and small utilities.
 *
 * Every test program (serial or MPI) ends its main() with
 *     return sgld_test_run(argc, argv, "name", tests, n);
 * which initializes MPI, runs the cmocka group on every rank, prints cmocka's report on
 * rank 0 only, and exits with the worst status of all ranks. */
#ifndef SGLD_TEST_H
#define SGLD_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <mpi.h>

int sgld_test_run(int argc, char **argv, const char *name, const struct CMUnitTest *tests,
                  size_t n_tests);

/* MPI rank and size in MPI_COMM_WORLD (valid inside tests). */
int sgld_test_rank(void);
int sgld_test_size(void);

/* Path of a file under the source tree (SGLD_SOURCE_ROOT or "."), in a static buffer. */
const char *sgld_test_source_path(const char *rel);

/* A fresh empty temporary directory for this test program, created on first call by rank 0
 * and shared with the other ranks (collective on first call). */
const char *sgld_test_tmpdir(void);

#endif
