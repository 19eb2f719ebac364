/* sgld_ess.c - `sgld-ess summary`: the per-element ESS, R-hat, MCSE and quantiles and the
 * multivariate ESS of a sample file, computed by sgld_diag_report_create (include/sgld/diag.h
 * has the algorithms and references) and printed here as a table, JSON or CSV.
 *
 * Exit status: 0 success (non-finite draws are reported on stderr, their diagnostics are NaN),
 * 2 bad input or usage, 1 runtime failure. */
#include <getopt.h>
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
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
    int format, max_rows, project, timing;
    int64_t block;
    sgld_mess_method method;
    int64_t batch_size;
    uint32_t seed;
    double alpha, eps;
} opts;

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

/* Prints "sgld-ess: <message>" on stderr from rank 0; returns status. */
static int bad(int rank, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(int rank, int status, const char *fmt, ...)
{
    if (rank == 0) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "sgld-ess: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    return status;
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
static int parse_args(int argc, char **argv, int rank, opts *o)
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
    if (argc < 2) return bad(rank, EXIT_BAD_INPUT, "missing subcommand (expected 'summary' or 'predict'; see sgld-ess --help)");
    if (strcmp(argv[1], "summary") != 0)
        return bad(rank, EXIT_BAD_INPUT, "unknown subcommand '%s' (expected 'summary' or 'predict'; see sgld-ess --help)", argv[1]);
    char msg[256];
    if (sgld_ess_check_spelling(argc, argv, 2, longopts, msg, sizeof msg) != 0) return bad(rank, EXIT_BAD_INPUT, "%s", msg);
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
            if (!parse_long(optarg, &ll) || ll < 0) return bad(rank, EXIT_BAD_INPUT, "--max-rows: '%s' is not a count", optarg);
            o->max_rows = (int)ll;
            break;
        case 'm':
            if (!strcmp(optarg, "lugsail")) o->method = SGLD_MESS_LUGSAIL;
            else if (!strcmp(optarg, "bm")) o->method = SGLD_MESS_BM;
            else if (!strcmp(optarg, "obm")) o->method = SGLD_MESS_OBM;
            else if (!strcmp(optarg, "bartlett")) o->method = SGLD_MESS_BARTLETT;
            else return bad(rank, EXIT_BAD_INPUT, "--mess-method: '%s' is not one of lugsail, bm, obm, bartlett", optarg);
            break;
        case 'b':
            if (!parse_long(optarg, &ll) || ll < 1) return bad(rank, EXIT_BAD_INPUT, "--batch-size: '%s' is not a positive integer", optarg);
            o->batch_size = ll;
            break;
        case 'p':
            if (!parse_long(optarg, &ll) || ll < 1 || ll > 200) return bad(rank, EXIT_BAD_INPUT, "--project: '%s' is not an integer in [1, 200]", optarg);
            o->project = (int)ll;
            break;
        case 's':
            if (!parse_long(optarg, &ll) || ll < 0 || ll > 4294967295LL) return bad(rank, EXIT_BAD_INPUT, "--seed: '%s' is not an integer in [0, 2^32)", optarg);
            o->seed = (uint32_t)ll;
            break;
        case 'a':
            if (!parse_double(optarg, &d) || !(d > 0 && d < 1)) return bad(rank, EXIT_BAD_INPUT, "--alpha: '%s' is not in (0, 1)", optarg);
            o->alpha = d;
            break;
        case 'e':
            if (!parse_double(optarg, &d) || !(d > 0 && d < 1)) return bad(rank, EXIT_BAD_INPUT, "--eps: '%s' is not in (0, 1)", optarg);
            o->eps = d;
            break;
        case 'B':
            if (!parse_long(optarg, &ll) || ll < 1 || ll > 1000000) return bad(rank, EXIT_BAD_INPUT, "--block: '%s' is not an integer in [1, 1000000]", optarg);
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
            return bad(rank, EXIT_BAD_INPUT, "unknown or incomplete option '%s' (see sgld-ess --help)", argv[optind - 1]);
        }
    }
    if (optind >= argc) return bad(rank, EXIT_BAD_INPUT, "missing FILE");
    if (optind < argc - 1) return bad(rank, EXIT_BAD_INPUT, "expected one FILE, got extra '%s'", argv[optind + 1]);
    o->file = argv[optind];
    return -1;
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

static const char *const keys[10] = {"mean", "sd", "q5", "q50", "q95", "mcse_mean", "mcse_sd", "ess_bulk",
                                     "ess_tail", "rhat"};

/* The ten printed diagnostics of an element, in the order of keys. */
static void elem_values(const sgld_diag_report_elem *el, double v[10])
{
    const sgld_diag_summary *s = &el->s;
    const double x[10] = {s->mean, s->sd, s->q05, s->q50, s->q95, s->mcse_mean, s->mcse_sd, s->ess_bulk,
                          s->ess_tail, s->rhat};
    memcpy(v, x, sizeof x);
}

/* The estimate the verdict uses: of the projections with --project, else of the full estimator. */
static const sgld_mess_result *main_result(const opts *o, const sgld_diag_report *r)
{
    return o->project ? &r->proj : &r->full;
}

static void print_json(const opts *o, const sgld_diag_report *r)
{
    const char *mname = sgld_mess_method_name(r->method);
    char name[512];
    printf("{\"file\": \"%s\", \"group\": \"%s\", \"chains\": %d, \"draws\": %lld,\n \"variables\": [\n", o->file,
           o->group, r->n_chains, (long long)r->n_draws);
    for (int v = 0; v < r->n_vars; v++)
        for (int64_t e = 0; e < r->vars[v].n_elem; e++) {
            int64_t k = r->vars[v].first + e;
            double x[10];
            elem_values(&r->elems[k], x);
            sgld_diag_elem_name(&r->vars[v], e, name, sizeof name);
            printf("  {\"name\": \"%s\"", name);
            for (int f = 0; f < 10; f++) {
                printf(", \"%s\": ", keys[f]);
                json_num(stdout, x[f]);
            }
            printf("}%s\n", k + 1 < r->n_elems ? "," : "");
        }
    printf(" ],\n \"multivariate\": {\"p\": %lld, \"n\": %lld, \"chains\": %d, \"mess\": ", (long long)r->n_elems,
           (long long)r->n_chains * r->n_draws, r->n_chains);
    json_num(stdout, r->mess);
    printf(", \"method\": \"%s\", \"batch_size\": %lld, \"min_ess\": ", mname,
           (long long)main_result(o, r)->batch_size);
    json_num(stdout, r->min_ess);
    printf(", \"mess_diag\": ");
    json_num(stdout, r->mess_diag);
    printf(", \"alpha\": %g, \"eps\": %g, \"skipped_constant\": %lld", o->alpha, o->eps, (long long)r->n_constant);
    if (!o->project) {
        printf(", \"mess_per_chain\": [");
        for (int c = 0; c < r->n_per_chain; c++) {
            if (c) printf(", ");
            json_num(stdout, r->per_chain[c]);
        }
        printf("]");
    } else {
        printf(", \"projection\": {\"k\": %d, \"seed\": %u, \"mess\": ", o->project, o->seed);
        json_num(stdout, r->have_proj ? r->proj.mess : NAN);
        printf("}, \"pca\": {\"k\": %d, \"mess\": ", o->project);
        json_num(stdout, r->have_pca ? r->pca.mess : NAN);
        printf(", \"batch_size\": %lld}", (long long)r->pca.batch_size);
    }
    if (r->note[0]) printf(", \"note\": \"%s\"", r->note);
    printf("}}\n");
}

static void print_csv(const opts *o, const sgld_diag_report *r)
{
    char name[512];
    printf("variable");
    for (int f = 0; f < 10; f++) printf(",%s", keys[f]);
    printf("\n");
    for (int v = 0; v < r->n_vars; v++)
        for (int64_t e = 0; e < r->vars[v].n_elem; e++) {
            double x[10];
            elem_values(&r->elems[r->vars[v].first + e], x);
            sgld_diag_elem_name(&r->vars[v], e, name, sizeof name);
            printf("\"%s\"", name);
            for (int f = 0; f < 10; f++) {
                if (isnan(x[f])) printf(",NaN");
                else printf(",%.10g", x[f]);
            }
            printf("\n");
        }
    printf("\nkey,value\np,%lld\nn,%lld\nchains,%d\nmess,%.10g\nmethod,%s\nbatch_size,%lld\n"
           "min_ess,%.10g\nmess_diag,%.10g\n", (long long)r->n_elems, (long long)r->n_chains * r->n_draws,
           r->n_chains, r->mess, sgld_mess_method_name(r->method), (long long)main_result(o, r)->batch_size,
           r->min_ess, r->mess_diag);
    if (o->project) printf("pca_mess,%.10g\n", r->have_pca ? r->pca.mess : NAN);
    if (r->n_constant) printf("skipped_constant,%lld\n", (long long)r->n_constant);
}

/* The table's multivariate lines and the verdict. */
static void print_table_mv(const opts *o, const sgld_diag_report *r)
{
    const int64_t p = r->n_elems;
    const char *mname = sgld_mess_method_name(r->method);
    printf("\nmultivariate ESS (Vats, Flegal & Jones 2019), p = %lld, n = %lld draws in %d chains\n",
           (long long)p, (long long)r->n_chains * r->n_draws, r->n_chains);
    if (r->n_constant)
        printf("  skipped %lld constant element%s (one value in every draw of a chain; no variance "
               "to estimate): the mESS is of the other %lld\n", (long long)r->n_constant,
               r->n_constant == 1 ? "" : "s", (long long)(p - r->n_constant));
    char b1[64];
    if (!o->project) {
        fmt_num(b1, sizeof b1, r->mess, "%.1f");
        printf("  mESS (%s batch means, b = %lld, %lld batches, all chains)  %s\n", mname,
               (long long)r->full.batch_size, (long long)r->full.n_batches, b1);
        printf("  mESS per chain (own batch size rule):");
        for (int c = 0; c < r->n_per_chain; c++) {
            fmt_num(b1, sizeof b1, r->per_chain[c], "%.1f");
            printf(" %s", b1);
        }
        printf("\n");
    } else {
        fmt_num(b1, sizeof b1, r->have_proj ? r->proj.mess : NAN, "%.1f");
        printf("  mESS of %d random orthonormal projections (seed %u; %s, b = %lld)  %s\n", o->project, o->seed,
               mname, (long long)r->proj.batch_size, b1);
        fmt_num(b1, sizeof b1, r->have_pca ? r->pca.mess : NAN, "%.1f");
        printf("  mESS of the top %d principal components (randomized, b = %lld)  %s\n", o->project,
               (long long)r->pca.batch_size, b1);
    }
    fmt_num(b1, sizeof b1, r->mess_diag, "%.1f");
    printf("  diagonal approximation (geometric mean of univariate ESS; ignores "
           "cross-correlation)  %s\n", b1);
    fmt_num(b1, sizeof b1, r->min_ess, "%.0f");
    printf("  minESS(p = %d, alpha = %g, eps = %g)  %s\n", r->p_eff, o->alpha, o->eps, b1);
    if (isnan(r->mess))
        printf("  verdict: mESS not available%s%s\n", r->note[0] ? ": " : "", r->note);
    else
        printf("  verdict: %s (mESS %.0f %s minESS %.0f)\n", r->mess >= r->min_ess ? "enough draws" : "NOT enough draws",
               r->mess, r->mess >= r->min_ess ? ">=" : "<", r->min_ess);
}

static void print_table(const opts *o, const sgld_diag_report *r)
{
    const int64_t p = r->n_elems;
    char name[512];
    printf("%s: %d chains x %lld draws, %lld elements in /%s\n\n", o->file, r->n_chains, (long long)r->n_draws,
           (long long)p, o->group);
    printf("%-16s %10s %10s %10s %10s %10s %10s %10s %9s %9s %7s\n", "variable", "mean", "sd", "q5", "q50", "q95",
           "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "rhat");
    int64_t shown = 0;
    for (int v = 0; v < r->n_vars; v++)
        for (int64_t e = 0; e < r->vars[v].n_elem; e++) {
            if (o->max_rows && shown >= o->max_rows) break;
            double x[10];
            elem_values(&r->elems[r->vars[v].first + e], x);
            sgld_diag_elem_name(&r->vars[v], e, name, sizeof name);
            char c[10][32];
            for (int f = 0; f < 7; f++) fmt_num(c[f], 32, x[f], "%.4g");
            fmt_num(c[7], 32, x[7], "%.0f");
            fmt_num(c[8], 32, x[8], "%.0f");
            fmt_num(c[9], 32, x[9], "%.4f");
            printf("%-16s %10s %10s %10s %10s %10s %10s %10s %9s %9s %7s\n", name, c[0], c[1], c[2], c[3], c[4],
                   c[5], c[6], c[7], c[8], c[9]);
            shown++;
        }
    if (shown < p) printf("... %lld more elements (--max-rows 0 shows all)\n", (long long)(p - shown));
    print_table_mv(o, r);
}

/* Rank 0's stderr lines: the timing (--timing), then one line per element with a non-finite
 * draw. */
static void print_notices(const opts *o, const sgld_diag_report *r, int size)
{
    if (o->timing)
        fprintf(stderr, "timing (rank 0 of %d): elements %lld, read %.3f s, univariate %.3f s "
                "(%.1f us/element), pass 1 total %.3f s, multivariate %.3f s\n", size, (long long)r->n_mine,
                r->seconds_read, r->seconds_univariate,
                r->n_mine ? 1e6 * r->seconds_univariate / (double)r->n_mine : 0.0, r->seconds_pass1,
                r->seconds_multivariate);
    char name[512];
    for (int v = 0; v < r->n_vars; v++)
        for (int64_t e = 0; e < r->vars[v].n_elem; e++) {
            int64_t i = r->elems[r->vars[v].first + e].first_bad;
            if (i < 0) continue;
            sgld_diag_elem_name(&r->vars[v], e, name, sizeof name);
            fprintf(stderr, "sgld-ess: %s: variable '%s': non-finite draw at chain %lld, draw %lld; "
                    "its diagnostics are NaN\n", o->file, name, (long long)(i / r->n_draws),
                    (long long)(i % r->n_draws));
        }
}

/* Runs the summary of o; returns the exit status (the same on every rank).  Collective. */
static int run(const opts *o, MPI_Comm comm)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    sgld_diag_report_opts ro = {.file = o->file, .group = o->group, .vars = (const char *const *)o->vars,
                                .n_vars = o->n_vars, .method = o->method, .batch_size = o->batch_size,
                                .project = o->project, .seed = o->seed, .alpha = o->alpha, .eps = o->eps,
                                .block = o->block};
    sgld_diag_report *r = NULL;
    sgld_status st = sgld_diag_report_create(comm, &ro, &r);
    if (st != SGLD_OK)
        return bad(rank, st == SGLD_ERR_USAGE ? EXIT_BAD_INPUT : EXIT_RUNTIME, "%s", sgld_error_message());
    if (rank == 0) {
        print_notices(o, r, size);
        if (o->format == FMT_JSON)
            print_json(o, r);
        else if (o->format == FMT_CSV)
            print_csv(o, r);
        else
            print_table(o, r);
        fflush(stdout);
    }
    sgld_diag_report_destroy(&r);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    opts o;
    memset(&o, 0, sizeof o);
    int status = argc >= 2 && !strcmp(argv[1], "predict") ? sgld_ess_predict(argc, argv, MPI_COMM_WORLD)
                                                           : parse_args(argc, argv, rank, &o);
    if (status < 0) status = run(&o, MPI_COMM_WORLD);
    free(o.vars);
    MPI_Finalize();
    return status;
}
