/* test_faults.c - injected allocation failures ("Memory" and "MPI" faults).
 *
 * alloc_walk (1 rank): sgld_alloc_fail_after(n) makes the n-th allocation through the
 * sgld_* wrappers fail.  For n = 1, 2, ... one short run (config parse + sgld_run with data
 * split, standardization, a sample file, checkpoints and the draws gathered) is driven
 * in-process until a run needs fewer than n allocations.  Every failing run must return
 * SGLD_ERR_NOMEM with an "out of memory" message, leave either no sample file or a readable
 * one, and (under AddressSanitizer) leak nothing: a recoverable leak check runs after every n.
 * The number of allocations a run makes is measured with the same hook: after the run the
 * countdown's remainder is found by allocating until the injected failure hits.
 *
 * rank_alloc_failure (4 ranks, 2 chains x 2 shards): rank 2 alone fails its k-th allocation,
 * for every k = 1 .. (allocations rank 2 makes in a run): data loading, set-up, sampling, the
 * end.  Every rank must
 * return the same SGLD_ERR_NOMEM and rank 2's message, within FAIL_SECONDS of each other
 * (no rank waits in a collective for the failed one); alarm() turns a hang into a failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "sgld/config.h"
#include "sgld/run.h"
#include "sgld/samples.h"
#include "sgld/status.h"
#include "sgld_test.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define HAVE_LSAN 1
#else
#define HAVE_LSAN 0
#endif

#define WALK_MAX 20000    /* a run making more allocations than this is itself a finding */
#define FAIL_SECONDS 10.0 /* every rank returns within this of the failing rank's failure */

/* Allocations left on the countdown: allocates until the injected failure hits (at most
 * limit tries); returns how many succeeded before it, or -1 when none failed (the countdown
 * had already run out).  Leaves injection off. */
static long countdown_left(long limit)
{
    long k;
    for (k = 0; k < limit; k++) {
        void *p = sgld_malloc(1);
        if (!p) break;
        sgld_free(p);
    }
    sgld_alloc_fail_after(0);
    return k < limit ? k : -1;
}

static void make_argv(char **argv, int *argc, const char *out, const char *ck, const char *chains)
{
    static const char *fixed[] = {"sgld-dist", "--data", "synthetic:linreg", "--test-fraction", "0.2",
                                  "--standardize", "--steps", "60", "--burnin", "10", "--flush-every",
                                  "10", "--checkpoint-every", "20", "--batch-size", "20", "--quiet"};
    int n = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) argv[n++] = (char *)fixed[i];
    argv[n++] = "--chains";
    argv[n++] = (char *)chains;
    argv[n++] = "--output";
    argv[n++] = (char *)out;
    argv[n++] = "--checkpoint";
    argv[n++] = (char *)ck;
    argv[n] = NULL;
    *argc = n;
}

static void remove_outputs(const char *out, const char *ck)
{
    char p[SGLD_PATH_MAX + 8];
    unlink(out);
    unlink(ck);
    snprintf(p, sizeof p, "%s.prev", ck);
    unlink(p);
    snprintf(p, sizeof p, "%s.tmp", ck);
    unlink(p);
}

/* One run with the n-th allocation failing (n = 0: none); *used = allocations it made. */
static sgld_status one_run(MPI_Comm comm, long n, char **argv, int argc, long *used)
{
    sgld_config cfg;
    sgld_run_report rep;
    memset(&rep, 0, sizeof rep);
    sgld_error_clear();
    sgld_alloc_fail_after(n ? n : WALK_MAX + 1);
    sgld_status st = sgld_config_parse(&cfg, argc, argv);
    if (st == SGLD_OK) st = sgld_run(comm, &cfg, 1, &rep);
    long left = countdown_left(WALK_MAX + 2);
    long budget = n ? n : WALK_MAX + 1;
    *used = left < 0 ? budget : budget - left - 1;
    sgld_run_report_free(&rep);
    return st;
}

static void alloc_walk(void **state)
{
    (void)state;
    if (sgld_test_size() != 1) skip();
    char out[SGLD_PATH_MAX], ck[SGLD_PATH_MAX], *argv[32];
    int argc;
    snprintf(out, sizeof out, "%s/walk.h5", sgld_test_tmpdir());
    snprintf(ck, sizeof ck, "%s/walk.ckpt", sgld_test_tmpdir());
    make_argv(argv, &argc, out, ck, "1");

    long total;
    assert_int_equal(one_run(MPI_COMM_WORLD, 0, argv, argc, &total), SGLD_OK);
    remove_outputs(out, ck);
    assert_true(total > 10 && total <= WALK_MAX);

    long n, n_failed = 0, leaks = 0;
    H5E_BEGIN_TRY
    {
        for (n = 1; n <= WALK_MAX; n++) {
            long used;
            sgld_status st = one_run(MPI_COMM_WORLD, n, argv, argc, &used);
            if (st == SGLD_OK) {
                /* Only when the run no longer reaches the n-th allocation; an injected
                 * failure that a run survives would be a silently ignored NULL. */
                if (used >= n) fail_msg("n = %ld: the failed allocation was ignored (run succeeded)", n);
                break;
            }
            n_failed++;
            if (st != SGLD_ERR_NOMEM || !strstr(sgld_error_message(), "out of memory"))
                fail_msg("n = %ld: status %s, message '%s' (want SGLD_ERR_NOMEM, 'out of memory')", n,
                         sgld_strerror(st), sgld_error_message());
            if (access(out, F_OK) == 0) {
                sgld_samples_reader *r = NULL;
                if (sgld_samples_open(out, &r) != SGLD_OK)
                    fail_msg("n = %ld: the sample file left behind does not open: %s", n, sgld_error_message());
                sgld_samples_reader_close(&r);
            }
            remove_outputs(out, ck);
#if HAVE_LSAN
            if (__lsan_do_recoverable_leak_check()) {
                print_error("n = %ld: leak after a failed allocation (report above)\n", n);
                leaks++;
            }
#endif
        }
    }
    H5E_END_TRY;
    printf("alloc walk: a run makes %ld allocations; %ld injected failures, each SGLD_ERR_NOMEM%s\n",
           total, n_failed, HAVE_LSAN ? " and checked for leaks" : "");
    assert_int_equal(n_failed, total);
    assert_int_equal(leaks, 0);
}

static void rank_alloc_failure(void **state)
{
    (void)state;
    if (sgld_test_size() != 4) skip();
    const int bad_rank = 2, rank = sgld_test_rank();
    char out[SGLD_PATH_MAX], ck[SGLD_PATH_MAX], *argv[32];
    int argc;
    snprintf(out, sizeof out, "%s/rank.h5", sgld_test_tmpdir());
    snprintf(ck, sizeof ck, "%s/rank.ckpt", sgld_test_tmpdir());
    make_argv(argv, &argc, out, ck, "2");

    long total;
    sgld_error_clear();
    sgld_status st = one_run(MPI_COMM_WORLD, 0, argv, argc, &total);
    assert_int_equal(st, SGLD_OK);
    MPI_Bcast(&total, 1, MPI_LONG, bad_rank, MPI_COMM_WORLD);
    if (rank == 0) remove_outputs(out, ck);
    MPI_Barrier(MPI_COMM_WORLD);

    alarm(120); /* a hang is a failure, not a stuck CI job */
    for (long k = 1; k <= total; k++) {
        long used;
        double t0 = MPI_Wtime();
        st = one_run(MPI_COMM_WORLD, rank == bad_rank ? k : 0, argv, argc, &used);
        double t1 = MPI_Wtime(), t_max = t1, t_min = t1;
        MPI_Allreduce(MPI_IN_PLACE, &t_max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(MPI_IN_PLACE, &t_min, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
        int codes[2] = {(int)st, -(int)st};
        MPI_Allreduce(MPI_IN_PLACE, codes, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        char msg[256] = "", ref[256] = "";
        snprintf(msg, sizeof msg, "%s", sgld_error_message());
        memcpy(ref, msg, sizeof ref);
        MPI_Bcast(ref, (int)sizeof ref, MPI_CHAR, bad_rank, MPI_COMM_WORLD);
        if (rank == 0 && (k == 1 || k == total || getenv("SGLD_FAULTS_VERBOSE")))
            printf("rank %d fails allocation %ld of %ld: status %s on every rank, all returned within "
                   "%.2f s of each other (run %.2f s): %s\n",
                   bad_rank, k, total, sgld_strerror(st), t_max - t_min, t_max - t0, msg);
        if (codes[0] != -codes[1]) fail_msg("k = %ld: ranks returned different statuses", k);
        if (st != SGLD_ERR_NOMEM) fail_msg("k = %ld: status %s, want SGLD_ERR_NOMEM", k, sgld_strerror(st));
        if (strcmp(msg, ref) != 0 || !strstr(msg, "out of memory"))
            fail_msg("k = %ld: rank %d says '%s', the failing rank '%s'", k, rank, msg, ref);
        if (t_max - t_min > FAIL_SECONDS) fail_msg("k = %ld: ranks returned %.1f s apart", k, t_max - t_min);
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0) remove_outputs(out, ck);
        MPI_Barrier(MPI_COMM_WORLD);
    }
    alarm(0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alloc_walk),
        cmocka_unit_test(rank_alloc_failure),
    };
    return sgld_test_run(argc, argv, "faults", tests, sizeof tests / sizeof tests[0]);
}
