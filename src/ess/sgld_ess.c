/* sgld_ess.c - `sgld-ess summary`: per-element ESS, R-hat, MCSE and quantiles and the
 * multivariate ESS of a sample file (include/sgld/diag.h has the algorithms and references).
 *
 * Elements are split over the ranks in contiguous ranges and streamed in blocks, so memory is
 * bounded by a block (--block elements x chains x draws doubles), not by the file.  Each
 * element is computed by the same code whatever rank holds it and rank 0 gathers the rows in
 * element order, so the per-element output does not depend on the number of ranks.  The
 * multivariate part either gathers the (few) columns on rank 0 or, with --project k, reduces
 * the k-column sketches in rank order.
 *
 * Exit status: 0 success (non-finite draws are reported on stderr, their diagnostics are NaN),
 * 2 bad input or usage, 1 runtime failure. */
#include <getopt.h>
#include <math.h>
#include <mpi.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "predict.h"
#include "sgld/diag.h"
#include "sgld/samples.h"
#include "sgld/status.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_BAD_INPUT = 2 };
enum { FMT_TABLE, FMT_JSON, FMT_CSV };

typedef struct opts {
    const char *file, *group;
    char **vars;
    int n_vars;
    int format, max_rows, project, block, timing;
    sgld_mess_method method;
    int64_t batch_size;
    uint32_t seed;
    double alpha, eps;
} opts;

typedef struct var_info {
    char *name;
    int n_dims;
    int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2];
    int64_t n_elem, first; /* elements and global index of the first */
    sgld_samples_block_reader *br; /* fast chunk-order reader (3-D float variables), or NULL */
} var_info;

#define N_FIELDS 13 /* doubles per element row sent to rank 0 */
#define F_CONSTANT 12 /* row field: 1 when every chain's draws of the element are all equal */

static int rank, size;

/* The whole program's usage (sgld-ess --help): both subcommands, then summary's options. */
static void usage_all(FILE *f)
{
    fprintf(f,
"usage: sgld-ess summary FILE [options]         convergence diagnostics of a sample file\n"
"       sgld-ess predict FILE --data TEST [...] predictive metrics of its draws on test data\n"
"                                               (sgld-ess predict --help lists its options)\n"
"       sgld-ess --version\n"
"\n");
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: sgld-ess summary FILE [options]\n"
"\n"
"Summarizes the draws of a sample file (/GROUP/<var> shaped [chain, draw, ...]): per element\n"
"mean, sd, 5/50/95%% quantiles (type 7), mcse_mean, mcse_sd, ess_bulk, ess_tail and rank R-hat\n"
"(Vehtari et al. 2021, as the R package posterior), then the multivariate ESS of Vats, Flegal\n"
"& Jones (2019) with mcmcse's batch size rule.  Elements are named like w[2,1] (zero-based).\n"
"Run under mpirun -n P to split the elements over P ranks; the output is the same for any P.\n"
"\n"
"options:\n"
"  --var NAME          summarize only this variable (repeatable; default: every variable)\n"
"  --group NAME        group to read (default posterior)\n"
"  --json              one JSON object: 'variables' list and 'multivariate' object\n"
"  --csv               CSV: one row per element, then a blank line and the multivariate\n"
"                      key,value rows\n"
"  --max-rows N        rows of the table (default 40; 0 = all); JSON and CSV print all\n"
"  --mess-method M     lugsail (default: lugsail batch means r = 3, c = 1/2, mcmcse's\n"
"                      multiESS default), bm (plain batch means), obm (overlapping batch\n"
"                      means) or bartlett (modified-Bartlett spectral variance)\n"
"  --batch-size B      batch size / window (default: mcmcse's batchSize rule per chain, the\n"
"                      floor of their mean)\n"
"  --project K         when p is large (p >= number of batches): mESS of K random orthonormal\n"
"                      projections and of the top K principal components (randomized range\n"
"                      finder on the draws' Gram matrix, one power iteration; one more pass)\n"
"  --seed S            seed of the projections (Philox key {S, 0}, default 1)\n"
"  --alpha A --eps E   minESS(p, A, E) for the verdict line (default 0.05 and 0.05)\n"
"  --block N           elements read per block (default 64): memory ~ N x chains x draws x 8 B\n"
"  --timing            print on stderr the seconds rank 0 spent reading, in the univariate\n"
"                      diagnostics and in the multivariate part\n"
"The univariate diagnostics of a block run on OMP_NUM_THREADS threads per rank (default:\n"
"every core); the output does not depend on the number of threads.\n"
"  -h, --help          this text\n"
"  -V, --version       print the version (the same as sgld-dist's) and exit\n"
"\n"
"exit status: 0 success (NaN or Inf draws are reported on stderr with variable, chain and\n"
"draw; that element's diagnostics are NaN and the run carries on), 2 bad input or usage (not\n"
"an HDF5 file, no group, unknown variable, fewer than 4 draws per chain, p >= number of\n"
"batches without --project, bad option), 1 runtime failure.\n");
}

static int bad(const char *fmt, const char *a, const char *b)
{
    if (rank == 0) {
        fprintf(stderr, "sgld-ess: ");
        fprintf(stderr, fmt, a, b);
        fprintf(stderr, "\n");
    }
    return EXIT_BAD_INPUT;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return *s && !*end;
}

static int parse_long(const char *s, long long *out)
{
    char *end;
    *out = strtoll(s, &end, 10);
    return *s && !*end;
}

/* Returns -1 on success, else the exit status. */
static int parse_args(int argc, char **argv, opts *o)
{
    static const struct option longopts[] = {
        {"var", required_argument, 0, 'v'},     {"group", required_argument, 0, 'g'},
        {"json", no_argument, 0, 'j'},          {"csv", no_argument, 0, 'c'},
        {"max-rows", required_argument, 0, 'r'}, {"mess-method", required_argument, 0, 'm'},
        {"batch-size", required_argument, 0, 'b'}, {"project", required_argument, 0, 'p'},
        {"seed", required_argument, 0, 's'},    {"alpha", required_argument, 0, 'a'},
        {"eps", required_argument, 0, 'e'},     {"block", required_argument, 0, 'B'},
        {"timing", no_argument, 0, 'T'},
        {"help", no_argument, 0, 'h'},          {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->group = "posterior";
    o->max_rows = 40;
    o->block = 64;
    o->seed = 1;
    o->alpha = 0.05;
    o->eps = 0.05;
    o->method = SGLD_MESS_LUGSAIL;
    o->vars = calloc((size_t)argc, sizeof *o->vars);
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        if (rank == 0) {
            usage_all(stdout);
            usage(stdout);
        }
        return EXIT_OK;
    }
    if (argc >= 2 && (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
        if (rank == 0) printf("sgld-ess %s\n", SGLD_VERSION);
        return EXIT_OK;
    }
    if (argc < 2) return bad("missing subcommand (expected '%s'; see %s --help)", "summary' or 'predict", "sgld-ess");
    if (strcmp(argv[1], "summary") != 0)
        return bad("unknown subcommand '%s' (expected '%s'; see sgld-ess --help)", argv[1], "summary' or 'predict");
    char msg[256];
    if (sgld_ess_check_spelling(argc, argv, 2, longopts, msg, sizeof msg) != 0) return bad("%s%s", msg, "");
    opterr = 0;
    optind = 2;
    int c;
    long long ll;
    double d;
    while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'v': o->vars[o->n_vars++] = optarg; break;
        case 'g': o->group = optarg; break;
        case 'j': o->format = FMT_JSON; break;
        case 'c': o->format = FMT_CSV; break;
        case 'r':
            if (!parse_long(optarg, &ll) || ll < 0) return bad("--max-rows: '%s' is not a count%s", optarg, "");
            o->max_rows = (int)ll;
            break;
        case 'm':
            if (!strcmp(optarg, "lugsail")) o->method = SGLD_MESS_LUGSAIL;
            else if (!strcmp(optarg, "bm")) o->method = SGLD_MESS_BM;
            else if (!strcmp(optarg, "obm")) o->method = SGLD_MESS_OBM;
            else if (!strcmp(optarg, "bartlett")) o->method = SGLD_MESS_BARTLETT;
            else return bad("--mess-method: '%s' is not one of lugsail, bm, obm, bartlett%s", optarg, "");
            break;
        case 'b':
            if (!parse_long(optarg, &ll) || ll < 1) return bad("--batch-size: '%s' is not a positive integer%s", optarg, "");
            o->batch_size = ll;
            break;
        case 'p':
            if (!parse_long(optarg, &ll) || ll < 1 || ll > 200) return bad("--project: '%s' is not an integer in [1, 200]%s", optarg, "");
            o->project = (int)ll;
            break;
        case 's':
            if (!parse_long(optarg, &ll) || ll < 0 || ll > 4294967295LL) return bad("--seed: '%s' is not an integer in [0, 2^32)%s", optarg, "");
            o->seed = (uint32_t)ll;
            break;
        case 'a':
            if (!parse_double(optarg, &d) || !(d > 0 && d < 1)) return bad("--alpha: '%s' is not in (0, 1)%s", optarg, "");
            o->alpha = d;
            break;
        case 'e':
            if (!parse_double(optarg, &d) || !(d > 0 && d < 1)) return bad("--eps: '%s' is not in (0, 1)%s", optarg, "");
            o->eps = d;
            break;
        case 'B':
            if (!parse_long(optarg, &ll) || ll < 1 || ll > 1000000) return bad("--block: '%s' is not an integer in [1, 1000000]%s", optarg, "");
            o->block = (int)ll;
            break;
        case 'T': o->timing = 1; break;
        case 'h':
            if (rank == 0) usage(stdout);
            return EXIT_OK;
        case 'V':
            if (rank == 0) printf("sgld-ess %s\n", SGLD_VERSION);
            return EXIT_OK;
        default:
            return bad("unknown or incomplete option '%s'%s", argv[optind - 1], " (see sgld-ess --help)");
        }
    }
    if (optind != argc - 1)
        return bad(optind >= argc ? "missing FILE%s%s" : "expected one FILE, got extra '%s'%s",
                   optind >= argc ? "" : argv[optind + 1 < argc ? optind + 1 : optind], "");
    o->file = argv[optind];
    return -1;
}

static void elem_name(const var_info *v, int64_t e, char *buf, size_t cap)
{
    int nd = v->n_dims - 2;
    if (nd == 0) {
        snprintf(buf, cap, "%s", v->name);
        return;
    }
    int64_t idx[SGLD_SAMPLES_MAX_DIMS];
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = e % v->dims[d + 2];
        e /= v->dims[d + 2];
    }
    size_t len = (size_t)snprintf(buf, cap, "%s[", v->name);
    for (int d = 0; d < nd && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", d ? "," : "", (long long)idx[d]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* Reads the global elements [g0, g0 + n) (which may span variables) into buf [e][N]. */
static sgld_status read_range(sgld_samples_reader *rd, const opts *o, const var_info *vars,
                              int n_vars, int64_t g0, int64_t n, int64_t n_rows, double *buf)
{
    for (int v = 0; v < n_vars && n > 0; v++) {
        const var_info *vi = &vars[v];
        if (g0 >= vi->first + vi->n_elem) continue;
        int64_t off = g0 - vi->first, take = vi->n_elem - off < n ? vi->n_elem - off : n;
        if (vi->br) {
            SGLD_TRY(sgld_samples_block_read(vi->br, off, take, buf));
        } else {
            SGLD_TRY(sgld_samples_read_elems(rd, o->group, vi->name, off, take, buf));
        }
        buf += take * n_rows;
        g0 += take;
        n -= take;
    }
    return SGLD_OK;
}

static void fmt_num(char *buf, size_t cap, double x, const char *f)
{
    if (isnan(x))
        snprintf(buf, cap, "NaN");
    else
        snprintf(buf, cap, f, x);
}

static void json_num(FILE *f, double x)
{
    if (isfinite(x))
        fprintf(f, "%.10g", x);
    else
        fprintf(f, "null");
}

/* 1 when each of the m chains of x [chain][draw] (n draws) holds one value.  Such an element
 * has no variance within a chain, which makes the batch-means covariance singular (an mESS of
 * 0/0), so the multivariate part skips it. */
static int constant_in_chains(const double *x, int m, int64_t n)
{
    for (int c = 0; c < m; c++)
        for (int64_t i = 1; i < n; i++)
            if (x[c * n + i] != x[c * n]) return 0;
    return 1;
}

typedef struct mv_out {
    int have_full, have_proj;
    sgld_mess_result full, proj, pca;
    double per_chain[64];
    int n_per_chain;
    double mess_diag, min_ess;
    int p_eff;
    int64_t n_constant; /* elements skipped by the multivariate part (constant_in_chains) */
    const char *note;
    char note_buf[512];
} mv_out;

/* Gathers per-rank double arrays (counts in doubles) to rank 0 in rank order. */
static int gather_doubles(const double *mine, int n_mine, double *all, MPI_Comm comm)
{
    int *counts = NULL, *displs = NULL;
    if (rank == 0) {
        counts = calloc((size_t)size, sizeof *counts);
        displs = calloc((size_t)size, sizeof *displs);
    }
    MPI_Gather(&n_mine, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
    if (rank == 0)
        for (int r = 1; r < size; r++) displs[r] = displs[r - 1] + counts[r - 1];
    int rc = MPI_Gatherv(mine, n_mine, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, comm);
    free(counts);
    free(displs);
    return rc;
}

/* Sums a len-double array over ranks onto rank 0 in rank order (deterministic). */
static void reduce_ordered(double *a, int64_t len, MPI_Comm comm)
{
    if (size == 1) return;
    if (rank == 0) {
        double *tmp = malloc(sizeof(double) * (size_t)len);
        for (int r = 1; r < size; r++) {
            MPI_Recv(tmp, (int)len, MPI_DOUBLE, r, 7, comm, MPI_STATUS_IGNORE);
            for (int64_t i = 0; i < len; i++) a[i] += tmp[i];
        }
        free(tmp);
    } else {
        MPI_Send(a, (int)len, MPI_DOUBLE, 0, 7, comm);
    }
}

static int run(const opts *o, MPI_Comm comm)
{
    sgld_samples_reader *rd = NULL;
    var_info *vars = NULL;
    int n_vars = 0, status = EXIT_OK;
    char **names = NULL;
    int n_names = 0;
    sgld_status st = sgld_samples_open(o->file, &rd);
    if (st != SGLD_OK) return bad("%s%s", sgld_error_message(), "");
    st = sgld_samples_list(rd, o->group, &n_names, &names);
    if (st != SGLD_OK) {
        sgld_samples_reader_close(&rd);
        return bad("%s%s", sgld_error_message(), "");
    }
    int want = o->n_vars ? o->n_vars : n_names;
    vars = calloc((size_t)(want > 0 ? want : 1), sizeof *vars);
    for (int i = 0; i < want; i++) {
        const char *nm = o->n_vars ? o->vars[i] : names[i];
        int found = 0;
        for (int j = 0; j < n_names; j++) found |= !strcmp(names[j], nm);
        if (!found) {
            char grp[256];
            snprintf(grp, sizeof grp, "%s' in group '%s", nm, o->group);
            status = bad("%s: no variable '%s'", o->file, grp);
            goto done;
        }
        vars[n_vars].name = strdup(nm);
        if (sgld_samples_shape(rd, o->group, nm, &vars[n_vars].n_dims, vars[n_vars].dims) != SGLD_OK) {
            status = bad("%s%s", sgld_error_message(), "");
            goto done;
        }
        n_vars++;
    }
    if (n_vars == 0) {
        status = bad("%s: group '%s' has no variable shaped [chain, draw, ...]", o->file, o->group);
        goto done;
    }
    int m = (int)vars[0].dims[0];
    int64_t n = vars[0].dims[1], p = 0;
    for (int v = 0; v < n_vars; v++) {
        if (vars[v].dims[0] != m || vars[v].dims[1] != n) {
            char msg[512];
            snprintf(msg, sizeof msg, "variable '%s' has %lld chains x %lld draws but '%s' has %d x %lld",
                     vars[v].name, (long long)vars[v].dims[0], (long long)vars[v].dims[1],
                     vars[0].name, m, (long long)n);
            status = bad("%s: %s", o->file, msg);
            goto done;
        }
        vars[v].n_elem = 1;
        for (int d = 2; d < vars[v].n_dims; d++) vars[v].n_elem *= vars[v].dims[d];
        vars[v].first = p;
        p += vars[v].n_elem;
        if (vars[v].n_dims == 3) vars[v].br = sgld_samples_block_open(rd, o->group, vars[v].name);
    }
    if (n < SGLD_DIAG_MIN_DRAWS) {
        char msg[256];
        snprintf(msg, sizeof msg, "variable '%s': %lld draws per chain, need at least %d",
                 vars[0].name, (long long)n, SGLD_DIAG_MIN_DRAWS);
        status = bad("%s: %s", o->file, msg);
        goto done;
    }
    int64_t N = (int64_t)m * n;
    /* The full estimator needs p < number of batches <= N / 2 and all p columns in memory. */
    int full_mode = !o->project;
    if (full_mode && (p >= N / 2 || (double)p * (double)N * 8.0 > 2e9)) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "p = %lld parameters is too many for the batch means estimator with %lld draws "
                 "(p must be below the number of batches); use --project k (e.g. --project 10) "
                 "for the mESS of k random projections and of the top k principal components",
                 (long long)p, (long long)N);
        status = bad("%s: %s", o->file, msg);
        goto done;
    }
    if (o->project && o->project + 10 > N / 2) {
        status = bad("%s: --project %s is too large for the number of draws", o->file,
                     o->project > 99 ? "k" : "k");
        goto done;
    }

    /* ---- pass 1: univariate per element, columns or sketch for the multivariate part ---- */
    int64_t e_begin = p * rank / size, e_end = p * (rank + 1) / size, n_mine = e_end - e_begin;
    int kk = o->project ? o->project + 10 : 0; /* oversampled sketch width */
    int64_t blk = o->block;
    double *buf = malloc(sizeof(double) * (size_t)(blk * N));
    double *rows = calloc((size_t)(n_mine > 0 ? n_mine : 1) * N_FIELDS, sizeof *rows);
    double *cols = full_mode ? malloc(sizeof(double) * (size_t)((n_mine > 0 ? n_mine : 1) * N)) : NULL;
    double *g = kk ? malloc(sizeof(double) * (size_t)(blk * kk)) : NULL;
    double *y = kk ? calloc((size_t)(N * kk), sizeof *y) : NULL;
    double *gtg = kk ? calloc((size_t)kk * kk, sizeof *gtg) : NULL;
    double *mu = kk ? calloc((size_t)(n_mine > 0 ? n_mine : 1), sizeof *mu) : NULL;
    /* One workspace per thread: the elements of a block are independent, each is computed by
     * the same code whatever thread or rank holds it, so the output does not depend on either. */
    int n_threads = 1;
#ifdef _OPENMP
    n_threads = omp_get_max_threads();
#endif
    sgld_diag_ws **wss = calloc((size_t)n_threads, sizeof *wss);
    if (!wss || !buf || !rows || (full_mode && !cols) || (kk && (!g || !y || !gtg || !mu))) {
        fprintf(stderr, "sgld-ess: rank %d: out of memory (block of %lld elements x %lld draws)\n",
                rank, (long long)blk, (long long)N);
        status = EXIT_RUNTIME;
        goto free_all;
    }
    double t_read = 0.0, t_uni = 0.0, t_start = MPI_Wtime(), t_mv0;
    for (int th = 0; st == SGLD_OK && th < n_threads; th++) st = sgld_diag_ws_create(m, n, &wss[th]);
    for (int64_t e0 = e_begin; st == SGLD_OK && e0 < e_end; e0 += blk) {
        int64_t ne = e_end - e0 < blk ? e_end - e0 : blk;
        double t0 = MPI_Wtime();
        st = read_range(rd, o, vars, n_vars, e0, ne, N, buf);
        t_read += MPI_Wtime() - t0;
        if (st != SGLD_OK) break;
        t0 = MPI_Wtime();
#pragma omp parallel for schedule(dynamic, 2)
        for (int64_t e = 0; e < ne; e++) {
            int th = 0;
#ifdef _OPENMP
            th = omp_get_thread_num();
#endif
            sgld_diag_summary s;
            int64_t first_bad;
            const double *x = buf + e * N;
            sgld_diag_summarize(wss[th], x, &s, &first_bad);
            double *r = rows + (e0 - e_begin + e) * N_FIELDS;
            r[0] = s.mean; r[1] = s.sd; r[2] = s.q05; r[3] = s.q50; r[4] = s.q95;
            r[5] = s.mcse_mean; r[6] = s.mcse_sd; r[7] = s.ess_bulk; r[8] = s.ess_tail;
            r[9] = s.rhat; r[10] = s.ess_mean; r[11] = (double)first_bad;
            r[F_CONSTANT] = constant_in_chains(x, m, n);
        }
        t_uni += MPI_Wtime() - t0;
        for (int64_t e = 0; e < ne; e++) {
            const double *x = buf + e * N;
            if (full_mode) memcpy(cols + (e0 - e_begin + e) * N, x, sizeof(double) * (size_t)N);
            if (kk) {
                double s1 = 0.0;
                for (int64_t i = 0; i < N; i++) s1 += x[i];
                mu[e0 - e_begin + e] = s1 / (double)N;
            }
        }
        if (kk) {
            sgld_diag_project_rows(o->seed, e0, ne, kk, g);
            sgld_diag_project_accumulate(buf, ne, N, g, kk, y);
            for (int64_t e = 0; e < ne; e++)
                for (int i = 0; i < kk; i++)
                    for (int j = 0; j < kk; j++) gtg[i * kk + j] += g[e * kk + i] * g[e * kk + j];
        }
    }
    st = sgld_status_agree(comm, st);
    if (st != SGLD_OK) {
        if (sgld_error_message()[0]) fprintf(stderr, "sgld-ess: %s\n", sgld_error_message());
        status = EXIT_RUNTIME;
        goto free_all;
    }

    t_mv0 = MPI_Wtime();
    double *all_rows = rank == 0 ? malloc(sizeof(double) * (size_t)(p * N_FIELDS)) : NULL;
    gather_doubles(rows, (int)(n_mine * N_FIELDS), all_rows, comm);

    mv_out mv;
    memset(&mv, 0, sizeof mv);
    mv.mess_diag = NAN;
    int any_bad = 0;
    if (rank == 0) {
        double sl = 0.0;
        int64_t cnt = 0;
        for (int64_t e = 0; e < p; e++) {
            double em = all_rows[e * N_FIELDS + 10];
            any_bad |= all_rows[e * N_FIELDS + 11] >= 0;
            if (all_rows[e * N_FIELDS + F_CONSTANT] != 0.0) {
                mv.n_constant++;
            } else if (isfinite(em) && em > 0) {
                sl += log(em);
                cnt++;
            }
        }
        if (cnt > 0 && cnt == p - mv.n_constant) mv.mess_diag = exp(sl / (double)cnt);
    }
    MPI_Bcast(&any_bad, 1, MPI_INT, 0, comm);

    if (full_mode) {
        double *all_cols = rank == 0 ? malloc(sizeof(double) * (size_t)(p * N)) : NULL;
        /* counts in doubles fit an int: p N 8 <= 2e9 was checked */
        gather_doubles(cols, (int)(n_mine * N), all_cols, comm);
        const int64_t pm = p - mv.n_constant; /* the columns of the mESS (rank 0) */
        if (rank == 0 && !any_bad && pm == 0) {
            mv.note = "every element is constant within its chains: multivariate ESS not computed";
        } else if (rank == 0 && !any_bad) {
            double *xr = malloc(sizeof(double) * (size_t)(pm * N));
            for (int64_t e = 0, k = 0; e < p; e++) {
                if (all_rows[e * N_FIELDS + F_CONSTANT] != 0.0) continue;
                for (int64_t r = 0; r < N; r++) xr[r * pm + k] = all_cols[e * N + r];
                k++;
            }
            sgld_status ms = sgld_diag_mess(xr, m, n, (int)pm, o->method, o->batch_size, &mv.full);
            if (ms == SGLD_ERR_ARG) {
                fprintf(stderr, "sgld-ess: %s: %s\n", o->file, sgld_error_message());
                status = EXIT_BAD_INPUT;
            } else if (ms != SGLD_OK) {
                snprintf(mv.note_buf, sizeof mv.note_buf, "%s", sgld_error_message());
                mv.note = mv.note_buf;
            }
            mv.have_full = ms == SGLD_OK;
            mv.n_per_chain = m < 64 ? m : 64;
            for (int c = 0; c < mv.n_per_chain; c++) {
                sgld_mess_result rc;
                mv.per_chain[c] = sgld_diag_mess(xr + (int64_t)c * n * pm, 1, n, (int)pm, o->method,
                                                 o->batch_size, &rc) == SGLD_OK ? rc.mess : NAN;
            }
            free(xr);
        } else if (rank == 0) {
            mv.note = "non-finite draws: multivariate ESS not computed";
        }
        free(all_cols);
        mv.p_eff = (int)pm;
    } else {
        /* Random projections: Y = X G reduced in rank order, orthonormalized through G^T G. */
        reduce_ordered(y, N * kk, comm);
        reduce_ordered(gtg, (int64_t)kk * kk, comm);
        double *q0 = malloc(sizeof(double) * (size_t)(N * kk));
        int ok = 1;
        if (rank == 0) {
            if (any_bad) {
                ok = 0;
                mv.note = "non-finite draws: multivariate ESS not computed";
            } else {
                double *yk = malloc(sizeof(double) * (size_t)(N * o->project));
                double *yq = malloc(sizeof(double) * (size_t)(N * kk));
                memcpy(yq, y, sizeof(double) * (size_t)(N * kk));
                if (sgld_diag_project_finish(yq, N, kk, gtg) != SGLD_OK) ok = 0;
                for (int64_t r = 0; ok && r < N; r++)
                    memcpy(yk + r * o->project, yq + r * kk, sizeof(double) * (size_t)o->project);
                if (ok && sgld_diag_mess(yk, m, n, o->project, o->method, o->batch_size, &mv.proj) == SGLD_OK)
                    mv.have_proj = 1;
                /* Q0: orthonormal basis of the centred sketch, by Cholesky QR. */
                double cm[kk];
                for (int j = 0; j < kk; j++) {
                    cm[j] = 0.0;
                    for (int64_t r = 0; r < N; r++) cm[j] += y[r * kk + j];
                    cm[j] /= (double)N;
                }
                for (int64_t r = 0; r < N; r++)
                    for (int j = 0; j < kk; j++) q0[r * kk + j] = y[r * kk + j] - cm[j];
                double ytY[kk * kk];
                memset(ytY, 0, sizeof ytY);
                for (int64_t r = 0; r < N; r++)
                    for (int i = 0; i < kk; i++)
                        for (int j = 0; j < kk; j++) ytY[i * kk + j] += q0[r * kk + i] * q0[r * kk + j];
                if (ok && sgld_diag_project_finish(q0, N, kk, ytY) != SGLD_OK) ok = 0;
                free(yk);
                free(yq);
            }
        }
        MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
        if (ok) {
            /* pass 2: S = Xc Xc^T Q0, block by block. */
            MPI_Bcast(q0, (int)(N * kk), MPI_DOUBLE, 0, comm);
            double *s = calloc((size_t)(N * kk), sizeof *s);
            double *t = malloc(sizeof(double) * (size_t)(blk * kk));
            for (int64_t e0 = e_begin; st == SGLD_OK && e0 < e_end; e0 += blk) {
                int64_t ne = e_end - e0 < blk ? e_end - e0 : blk;
                st = read_range(rd, o, vars, n_vars, e0, ne, N, buf);
                if (st != SGLD_OK) break;
                for (int64_t e = 0; e < ne; e++) { /* centre the block in place */
                    double me = mu[e0 - e_begin + e];
                    for (int64_t r = 0; r < N; r++) buf[e * N + r] -= me;
                }
                sgld_diag_project_block(buf, ne, N, q0, kk, t); /* T = Xc_B^T Q0 */
                sgld_diag_project_accumulate(buf, ne, N, t, kk, s);
            }
            st = sgld_status_agree(comm, st);
            if (st == SGLD_OK) reduce_ordered(s, N * kk, comm);
            if (st == SGLD_OK && rank == 0) {
                double *pcs = malloc(sizeof(double) * (size_t)(N * o->project));
                if (sgld_diag_pca_scores(s, N, kk, o->project, pcs, NULL) == SGLD_OK &&
                    sgld_diag_mess(pcs, m, n, o->project, o->method, o->batch_size, &mv.pca) == SGLD_OK)
                    mv.have_full = 1; /* have_full marks the PCA result in projection mode */
                free(pcs);
            }
            free(s);
            free(t);
            if (st != SGLD_OK) {
                if (sgld_error_message()[0]) fprintf(stderr, "sgld-ess: %s\n", sgld_error_message());
                status = EXIT_RUNTIME;
            }
        }
        free(q0);
        mv.p_eff = o->project;
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, comm);
    if (rank == 0 && o->timing)
        fprintf(stderr, "timing (rank 0 of %d): elements %lld, read %.3f s, univariate %.3f s "
                "(%.1f us/element), pass 1 total %.3f s, multivariate %.3f s\n", size,
                (long long)n_mine, t_read, t_uni, n_mine ? 1e6 * t_uni / (double)n_mine : 0.0,
                t_mv0 - t_start, MPI_Wtime() - t_mv0);
    if (rank == 0 && status == EXIT_OK) {
        mv.min_ess = mv.p_eff > 0 ? sgld_diag_min_ess(mv.p_eff, o->alpha, o->eps) : NAN;
        char name[512];
        /* non-finite draws: one line per element on stderr */
        for (int v = 0; v < n_vars; v++)
            for (int64_t e = 0; e < vars[v].n_elem; e++) {
                double fb = all_rows[(vars[v].first + e) * N_FIELDS + 11];
                if (fb < 0) continue;
                elem_name(&vars[v], e, name, sizeof name);
                int64_t i = (int64_t)fb;
                fprintf(stderr, "sgld-ess: %s: variable '%s': non-finite draw at chain %lld, draw %lld; "
                        "its diagnostics are NaN\n", o->file, name, (long long)(i / n), (long long)(i % n));
            }
        static const char *keys[10] = {"mean", "sd", "q5", "q50", "q95", "mcse_mean",
                                       "mcse_sd", "ess_bulk", "ess_tail", "rhat"};
        const char *mname = sgld_mess_method_name(mv.have_full || mv.have_proj
                                                  ? (o->project ? mv.proj.method_used : mv.full.method_used)
                                                  : o->method);
        const sgld_mess_result *main_r = o->project ? &mv.proj : &mv.full;
        double main_mess = o->project ? (mv.have_proj ? mv.proj.mess : NAN) : (mv.have_full ? mv.full.mess : NAN);
        if (o->format == FMT_JSON) {
            printf("{\"file\": \"%s\", \"group\": \"%s\", \"chains\": %d, \"draws\": %lld,\n \"variables\": [\n",
                   o->file, o->group, m, (long long)n);
            int64_t k = 0;
            for (int v = 0; v < n_vars; v++)
                for (int64_t e = 0; e < vars[v].n_elem; e++, k++) {
                    elem_name(&vars[v], e, name, sizeof name);
                    printf("  {\"name\": \"%s\"", name);
                    for (int f = 0; f < 10; f++) {
                        printf(", \"%s\": ", keys[f]);
                        json_num(stdout, all_rows[k * N_FIELDS + f]);
                    }
                    printf("}%s\n", k + 1 < p ? "," : "");
                }
            printf(" ],\n \"multivariate\": {\"p\": %lld, \"n\": %lld, \"chains\": %d, \"mess\": ",
                   (long long)p, (long long)N, m);
            json_num(stdout, main_mess);
            printf(", \"method\": \"%s\", \"batch_size\": %lld, \"min_ess\": ", mname,
                   (long long)main_r->batch_size);
            json_num(stdout, mv.min_ess);
            printf(", \"mess_diag\": ");
            json_num(stdout, mv.mess_diag);
            printf(", \"alpha\": %g, \"eps\": %g, \"skipped_constant\": %lld", o->alpha, o->eps,
                   (long long)mv.n_constant);
            if (!o->project) {
                printf(", \"mess_per_chain\": [");
                for (int c = 0; c < mv.n_per_chain; c++) {
                    if (c) printf(", ");
                    json_num(stdout, mv.per_chain[c]);
                }
                printf("]");
            } else {
                printf(", \"projection\": {\"k\": %d, \"seed\": %u, \"mess\": ", o->project, o->seed);
                json_num(stdout, mv.have_proj ? mv.proj.mess : NAN);
                printf("}, \"pca\": {\"k\": %d, \"mess\": ", o->project);
                json_num(stdout, mv.have_full ? mv.pca.mess : NAN);
                printf(", \"batch_size\": %lld}", (long long)mv.pca.batch_size);
            }
            if (mv.note) printf(", \"note\": \"%s\"", mv.note);
            printf("}}\n");
        } else if (o->format == FMT_CSV) {
            printf("variable");
            for (int f = 0; f < 10; f++) printf(",%s", keys[f]);
            printf("\n");
            int64_t k = 0;
            for (int v = 0; v < n_vars; v++)
                for (int64_t e = 0; e < vars[v].n_elem; e++, k++) {
                    elem_name(&vars[v], e, name, sizeof name);
                    printf("\"%s\"", name);
                    for (int f = 0; f < 10; f++) {
                        double x = all_rows[k * N_FIELDS + f];
                        if (isnan(x)) printf(",NaN");
                        else printf(",%.10g", x);
                    }
                    printf("\n");
                }
            printf("\nkey,value\np,%lld\nn,%lld\nchains,%d\nmess,%.10g\nmethod,%s\nbatch_size,%lld\n"
                   "min_ess,%.10g\nmess_diag,%.10g\n", (long long)p, (long long)N, m, main_mess,
                   mname, (long long)main_r->batch_size, mv.min_ess, mv.mess_diag);
            if (o->project) printf("pca_mess,%.10g\n", mv.have_full ? mv.pca.mess : NAN);
            if (mv.n_constant) printf("skipped_constant,%lld\n", (long long)mv.n_constant);
        } else {
            printf("%s: %d chains x %lld draws, %lld elements in /%s\n\n", o->file, m, (long long)n,
                   (long long)p, o->group);
            printf("%-16s %10s %10s %10s %10s %10s %10s %10s %9s %9s %7s\n", "variable", "mean", "sd",
                   "q5", "q50", "q95", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "rhat");
            int64_t k = 0, shown = 0;
            for (int v = 0; v < n_vars; v++)
                for (int64_t e = 0; e < vars[v].n_elem; e++, k++) {
                    if (o->max_rows && shown >= o->max_rows) continue;
                    elem_name(&vars[v], e, name, sizeof name);
                    const double *r = all_rows + k * N_FIELDS;
                    char c[10][32];
                    for (int f = 0; f < 7; f++) fmt_num(c[f], 32, r[f], "%.4g");
                    fmt_num(c[7], 32, r[7], "%.0f");
                    fmt_num(c[8], 32, r[8], "%.0f");
                    fmt_num(c[9], 32, r[9], "%.4f");
                    printf("%-16s %10s %10s %10s %10s %10s %10s %10s %9s %9s %7s\n", name, c[0], c[1],
                           c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]);
                    shown++;
                }
            if (shown < p) printf("... %lld more elements (--max-rows 0 shows all)\n", (long long)(p - shown));
            printf("\nmultivariate ESS (Vats, Flegal & Jones 2019), p = %lld, n = %lld draws in %d chains\n",
                   (long long)p, (long long)N, m);
            if (mv.n_constant)
                printf("  skipped %lld constant element%s (one value in every draw of a chain; no variance "
                       "to estimate): the mESS is of the other %lld\n", (long long)mv.n_constant,
                       mv.n_constant == 1 ? "" : "s", (long long)(p - mv.n_constant));
            char b1[64];
            if (!o->project) {
                fmt_num(b1, sizeof b1, main_mess, "%.1f");
                printf("  mESS (%s batch means, b = %lld, %lld batches, all chains)  %s\n", mname,
                       (long long)mv.full.batch_size, (long long)mv.full.n_batches, b1);
                printf("  mESS per chain (own batch size rule):");
                for (int c = 0; c < mv.n_per_chain; c++) {
                    fmt_num(b1, sizeof b1, mv.per_chain[c], "%.1f");
                    printf(" %s", b1);
                }
                printf("\n");
            } else {
                fmt_num(b1, sizeof b1, mv.have_proj ? mv.proj.mess : NAN, "%.1f");
                printf("  mESS of %d random orthonormal projections (seed %u; %s, b = %lld)  %s\n",
                       o->project, o->seed, mname, (long long)mv.proj.batch_size, b1);
                fmt_num(b1, sizeof b1, mv.have_full ? mv.pca.mess : NAN, "%.1f");
                printf("  mESS of the top %d principal components (randomized, b = %lld)  %s\n",
                       o->project, (long long)mv.pca.batch_size, b1);
            }
            fmt_num(b1, sizeof b1, mv.mess_diag, "%.1f");
            printf("  diagonal approximation (geometric mean of univariate ESS; ignores "
                   "cross-correlation)  %s\n", b1);
            fmt_num(b1, sizeof b1, mv.min_ess, "%.0f");
            printf("  minESS(p = %d, alpha = %g, eps = %g)  %s\n", mv.p_eff, o->alpha, o->eps, b1);
            if (isnan(main_mess))
                printf("  verdict: mESS not available%s%s\n", mv.note ? ": " : "", mv.note ? mv.note : "");
            else
                printf("  verdict: %s (mESS %.0f %s minESS %.0f)\n",
                       main_mess >= mv.min_ess ? "enough draws" : "NOT enough draws", main_mess,
                       main_mess >= mv.min_ess ? ">=" : "<", mv.min_ess);
        }
        fflush(stdout);
    }
    free(all_rows);
free_all:
    for (int th = 0; wss && th < n_threads; th++) sgld_diag_ws_destroy(&wss[th]);
    free(wss);
    free(buf);
    free(rows);
    free(cols);
    free(g);
    free(y);
    free(gtg);
    free(mu);
done:
    for (int v = 0; v < n_vars; v++) {
        free(vars[v].name);
        sgld_samples_block_close(&vars[v].br);
    }
    free(vars);
    if (names) sgld_samples_free_names(n_names, &names);
    sgld_samples_reader_close(&rd);
    return status;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    opts o;
    memset(&o, 0, sizeof o);
    int status = argc >= 2 && !strcmp(argv[1], "predict") ? sgld_ess_predict(argc, argv, MPI_COMM_WORLD)
                                                           : parse_args(argc, argv, &o);
    if (status < 0) status = run(&o, MPI_COMM_WORLD);
    free(o.vars);
    MPI_Finalize();
    return status;
}
