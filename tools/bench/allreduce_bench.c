/* allreduce_bench.c - the latency and bandwidth curve of the collective a chain's shards run
 * every step: an in-place MPI_Allreduce (MPI_SUM) of n floats over all ranks of the
 * communicator (src/run/run.c, chain_allreduce: one call of n_params + 2 floats per gradient
 * evaluation, over the chain's shards).  Driven by tools/bench/scaling, which fits the
 * alpha-beta model to its output.
 *
 *   mpiexec -n P allreduce_bench [--groups G] [SECONDS_PER_SIZE] [N_FLOATS ...]
 *
 * --groups G splits the P ranks as sgld-dist's grid does with --chains G (src/grid/grid.c:
 * consecutive blocks of P / G ranks) and every group reduces over its own block at the same
 * time; the times are over all ranks.
 * For each size (default: powers of 4 from 1 to 4M floats), after one warm-up call, it repeats
 * the call for about SECONDS_PER_SIZE (at least 5, at most 1000 times; every rank runs the same
 * count, decided by rank 0) with a barrier before each call, and takes as one call's time the
 * slowest rank's (MPI_MAX); then the same count back to back without barriers (STREAM_S: the
 * slowest rank's mean, the pattern of a loop whose ranks drift apart).  Rank 0 prints one line
 * a size (P: the ranks of one group):
 *   allreduce P N_FLOATS BYTES MIN_S MEDIAN_S REPS STREAM_S
 * Exit status 2 on a bad argument (one line naming it), 1 on an MPI failure. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIZES 64
#define MAX_REPS 1000

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Parses a positive count of floats in [1, 2^28]; returns 0 on a bad one. */
static long parse_count(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 1 && v <= (double)(1L << 28)) || v != (double)(long)v) return 0;
    return (long)v;
}

/* One size over `group` (this rank's block), timed over `world`: returns 0, or 1 on an MPI
 * failure.  Rank 0 of world prints its line. */
static int bench_size(MPI_Comm world, MPI_Comm group, float *buf, long n, double seconds, double *times)
{
    int rank, size;
    MPI_Comm_rank(world, &rank);
    MPI_Comm_size(group, &size);
    for (long i = 0; i < n; i++) buf[i] = 1e-3f * (float)(i % 7);
    if (MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, group) != MPI_SUCCESS) return 1;
    /* the warm-up's time sets the count, the same on every rank */
    double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, group);
    double first = MPI_Wtime() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_DOUBLE, MPI_MAX, world);
    int reps = (int)(seconds / (first > 1e-7 ? first : 1e-7));
    reps = reps < 5 ? 5 : reps > MAX_REPS ? MAX_REPS : reps;
    MPI_Bcast(&reps, 1, MPI_INT, 0, world);
    for (int k = 0; k < reps; k++) {
        MPI_Barrier(world);
        double t = MPI_Wtime();
        if (MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, group) != MPI_SUCCESS) return 1;
        times[k] = MPI_Wtime() - t;
    }
    MPI_Allreduce(MPI_IN_PLACE, times, reps, MPI_DOUBLE, MPI_MAX, world);
    /* the same count back to back, no barrier: ranks drift as in sgld-dist's loop */
    MPI_Barrier(world);
    double t = MPI_Wtime();
    for (int k = 0; k < reps; k++)
        if (MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, group) != MPI_SUCCESS) return 1;
    double stream = (MPI_Wtime() - t) / reps;
    MPI_Allreduce(MPI_IN_PLACE, &stream, 1, MPI_DOUBLE, MPI_MAX, world);
    if (rank == 0) {
        qsort(times, (size_t)reps, sizeof *times, cmp_double);
        printf("allreduce %d %ld %ld %.9e %.9e %d %.9e\n", size, n, n * (long)sizeof(float), times[0],
               times[reps / 2], reps, stream);
        fflush(stdout);
    }
    return 0;
}

/* Exits with status 2 after one line naming the bad argument (every rank reads the same). */
static int usage_error(int rank, const char *what, const char *value)
{
    if (rank == 0) fprintf(stderr, "allreduce_bench: %s '%s'\n", what, value);
    MPI_Finalize();
    return 2;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size, groups = 1, arg = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    double seconds = 0.2;
    long sizes[MAX_SIZES];
    int n_sizes = 0;
    if (arg < argc && !strcmp(argv[arg], "--groups")) {
        long g = arg + 1 < argc ? parse_count(argv[arg + 1]) : 0;
        if (!g || size % g)
            return usage_error(rank, "--groups: not a divisor of the ranks:", arg + 1 < argc ? argv[arg + 1] : "");
        groups = (int)g;
        arg += 2;
    }
    if (arg < argc) {
        char *end;
        seconds = strtod(argv[arg], &end);
        if (end == argv[arg] || *end || !(seconds > 0 && seconds <= 60))
            return usage_error(rank, "SECONDS_PER_SIZE is not in (0, 60]:", argv[arg]);
        arg++;
    }
    for (; arg < argc && n_sizes < MAX_SIZES; arg++) {
        sizes[n_sizes] = parse_count(argv[arg]);
        if (!sizes[n_sizes]) return usage_error(rank, "N_FLOATS is not a whole number in [1, 2^28]:", argv[arg]);
        n_sizes++;
    }
    if (!n_sizes)
        for (long n = 1; n <= 4L << 20; n *= 4) sizes[n_sizes++] = n;
    long max_n = 0;
    for (int i = 0; i < n_sizes; i++) max_n = sizes[i] > max_n ? sizes[i] : max_n;
    MPI_Comm group;
    if (MPI_Comm_split(MPI_COMM_WORLD, rank / (size / groups), rank, &group) != MPI_SUCCESS) {
        if (rank == 0) fprintf(stderr, "allreduce_bench: MPI_Comm_split failed\n");
        MPI_Finalize();
        return 1;
    }
    float *buf = malloc((size_t)max_n * sizeof *buf);
    double *times = malloc(MAX_REPS * sizeof *times);
    int ok = buf && times, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    int rc = 0;
    if (!all_ok) {
        if (rank == 0) fprintf(stderr, "allreduce_bench: out of memory for %ld floats\n", max_n);
        rc = 1;
    }
    for (int i = 0; i < n_sizes && !rc; i++) rc = bench_size(MPI_COMM_WORLD, group, buf, sizes[i], seconds, times);
    if (rc == 1 && all_ok && rank == 0) fprintf(stderr, "allreduce_bench: MPI_Allreduce failed\n");
    free(buf);
    free(times);
    MPI_Comm_free(&group);
    MPI_Finalize();
    return rc;
}
