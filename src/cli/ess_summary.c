/* ess_summary.c - `sgld-ess summary`: the per-element ESS, R-hat, MCSE and quantiles (and the
 * nested R-hat when the chains form superchains) and the multivariate ESS of a sample file,
 * computed by sgld_diag_report_create (include/sgld/diag.h has the algorithms and references)
 * and printed here as a table, JSON or CSV.
 *
 * Exit status: 0 success (non-finite draws are reported on stderr, their diagnostics are NaN),
 * 2 bad input or usage, 1 runtime failure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ess.h"
#include "sgld/diag.h"

/* summary's part of `sgld-ess --help`, and `sgld-ess summary --help`. */
void ess_summary_usage(FILE *f)
{
    fprintf(f,
"usage: sgld-ess summary FILE [options]\n"
"\n"
"Summarizes the draws of a sample file (/GROUP/<var> shaped [chain, draw, ...]): per element\n"
"mean, sd, 5/50/95%% quantiles (type 7), mcse_mean, mcse_sd, the MCSE of the three quantiles\n"
"(mcse_q5, mcse_q50, mcse_q95: JSON and CSV only, the table has no room), ess_bulk, ess_tail\n"
"and rank R-hat (Vehtari et al. 2021, as the R package posterior), then the multivariate ESS\n"
"of Vats, Flegal & Jones (2019) with mcmcse's batch size rule.  Elements are named like\n"
"w[2,1] (zero-based).  Run under mpirun -n P to split the elements over P ranks; the output\n"
"is the same for any P.\n"
"FILE is any HDF5 or netCDF-4 file (sgld-dist's; xarray's, ArviZ's, PyMC's, netCDF4-python's):\n"
"a variable is an integer or float dataset of the group whose first two dimensions are chain\n"
"and draw, with or without coordinate variables; other datasets are left out.  Variables\n"
"whose draw counts differ (a file still being written) are all read at the smallest one, and\n"
"the output says so (\"read at the common N draws\").\n"
"When the chains form superchains (chains started from one point: the file's 'superchain'\n"
"coordinate, which sgld-dist --superchains writes, or --superchains K), also the nested R-hat\n"
"of Margossian et al. (2024) per element (nRhat) and its maximum; an element above 1.01 =\n"
"1 + delta (the paper's threshold, delta = 0.01) is marked '*'.\n"
"\n"
"options:\n"
"  --var NAME          summarize only this variable (repeatable; default: every variable)\n"
"  --group NAME        group to read, at any depth (a/b/c; default posterior)\n"
"  --json              one JSON object: 'variables' list and 'multivariate' object (with\n"
"                      superchains also each element's nRhat and a 'nested_rhat' object)\n"
"  --csv               CSV: one row per element, then a blank line and the multivariate\n"
"                      key,value rows (with superchains an nRhat column and nrhat_* rows)\n"
"  --max-rows N        rows of the table (default 40; 0 = all); JSON and CSV print all\n"
"  --mess-method M     lugsail (default: lugsail batch means r = 3, c = 1/2, mcmcse's\n"
"                      multiESS default), bm (plain batch means), obm (overlapping batch\n"
"                      means) or bartlett (modified-Bartlett spectral variance)\n"
"  --mcse-sd-rule R    posterior (default: the ESS of (x - mean)^2 in the delta method, as the\n"
"                      R package posterior and so what ArviZ users compare with) or stan (the\n"
"                      ESS of |x - mean|, Stan 2.35's mcse_sd)\n"
"  --batch-size B      batch size / window (default: mcmcse's batchSize rule per chain, the\n"
"                      floor of their mean)\n"
"  --project K         when p is large (p >= number of batches): mESS of K random orthonormal\n"
"                      projections and of the top K principal components (randomized range\n"
"                      finder on the draws' Gram matrix, one power iteration; one more pass)\n"
"  --seed S            seed of the projections (Philox key {S, 0}, default 1)\n"
"  --alpha A --eps E   minESS(p, A, E) for the verdict line (default 0.05 and 0.05)\n"
"  --block N           elements read per block (default 64): memory ~ N x chains x draws x 8 B\n"
"  --curve K           the mESS and its diagonal approximation (the geometric mean of the\n"
"                      univariate ESS, as Vats et al. approximate it for a large p) on the\n"
"                      first 1/K, 2/K, ..., K/K of the draws of every chain (2 <= K <= 1000;\n"
"                      the first 1/K must hold 4 draws and, for the mESS, more batches than\n"
"                      components): the table's 'mESS over the draws' lines, JSON 'curve',\n"
"                      CSV rows after the key,value rows; tools/plot draws it\n"
"  --superchains K     nested R-hat of K superchains of C / K consecutive chains (K >= 2\n"
"                      dividing the C chains; it overrides the file's superchain coordinate)\n"
"  --timing            print on stderr the seconds rank 0 spent reading, in the univariate\n"
"                      diagnostics and in the multivariate part\n"
"The univariate diagnostics of a block run on OMP_NUM_THREADS threads per rank (default:\n"
"every core); the output does not depend on the number of threads.\n"
"  -h, --help          this text\n"
"  -V, --version       print the version (the same as sgld-dist's) and exit\n"
"\n"
"exit status: 0 success (NaN or Inf draws are reported on stderr with variable, chain and\n"
"draw; that element's diagnostics are NaN and the run carries on), 2 bad input or usage (not\n"
"an HDF5 file, no group, unknown variable, variables of different chains, fewer than 4 draws\n"
"per chain, p >= number of batches without --project, --superchains K not dividing the chains,\n"
"--curve K whose first 1/K is too short,\n"
"a superchain coordinate of unequal superchains, bad option), 1 runtime failure.\n");
}

static void fmt_num(char *buf, size_t cap, double x, const char *f)
{
    if (isnan(x))
        snprintf(buf, cap, "NaN");
    else
        snprintf(buf, cap, f, x);
}

enum { N_KEYS = 13 };
static const char *const keys[N_KEYS] = {"mean", "sd", "q5", "q50", "q95", "mcse_mean", "mcse_sd", "mcse_q5",
                                         "mcse_q50", "mcse_q95", "ess_bulk", "ess_tail", "rhat"};

/* The printed diagnostics of an element, in the order of keys (JSON and CSV print all of them). */
static void elem_values(const sgld_diag_report_elem *el, double v[N_KEYS])
{
    const sgld_diag_summary *s = &el->s;
    const double x[N_KEYS] = {s->mean, s->sd, s->q05, s->q50, s->q95, s->mcse_mean, s->mcse_sd, s->mcse_q05,
                              s->mcse_q50, s->mcse_q95, s->ess_bulk, s->ess_tail, s->rhat};
    memcpy(v, x, sizeof x);
}

/* "read at the common N draws ..." when the group's variables hold different draw counts (a
 * file still being written), else "". */
static const char *draws_note(const sgld_diag_report *r, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (r->n_draws_max > r->n_draws)
        snprintf(buf, cap, "read at the common %lld draws (the group's variables hold %lld to %lld draws per chain: "
                 "a file still being written)", (long long)r->n_draws, (long long)r->n_draws, (long long)r->n_draws_max);
    return buf;
}

/* The estimate the verdict uses: of the projections with --project, else of the full estimator. */
static const sgld_mess_result *main_result(const ess_args *o, const sgld_diag_report *r)
{
    return o->project ? &r->proj : &r->full;
}

/* The name of element k (global index) of the report. */
static void elem_name(const sgld_diag_report *r, int64_t k, char *buf, size_t cap)
{
    int v = 0;
    while (v + 1 < r->n_vars && k >= r->vars[v + 1].first) v++;
    sgld_diag_elem_name(&r->vars[v], k - r->vars[v].first, buf, cap);
}

/* The JSON object "nested_rhat" (followed by a comma). */
static void print_json_nested(const sgld_diag_report *r)
{
    char name[512] = "";
    if (r->nrhat_max_elem >= 0) elem_name(r, r->nrhat_max_elem, name, sizeof name);
    printf(" \"nested_rhat\": {\"superchains\": %d, \"chains_per_superchain\": %d, \"source\": \"%s\", "
           "\"delta\": %g, \"threshold\": %g, \"max\": ", r->n_superchains, r->chains_per_superchain,
           r->superchains_from_file ? "file" : "option", SGLD_DIAG_NRHAT_DELTA, 1.0 + SGLD_DIAG_NRHAT_DELTA);
    cli_json_num(stdout, r->nrhat_max);
    if (r->nrhat_max_elem >= 0)
        printf(", \"max_element\": \"%s\"", name);
    else
        printf(", \"max_element\": null");
    printf(", \"above_threshold\": %lld},\n", (long long)r->n_nrhat_above);
}

/* One point of --curve: the first `draws` draws of every chain (n in all). */
typedef struct curve_point {
    int64_t draws, n;
    double mess, mess_diag;
} curve_point;

/* --curve's points: JSON (a member of the summary's object, after a comma), CSV rows or the
 * table's lines. */
static void print_curve(const ess_args *o, const curve_point *pts)
{
    char b1[64], b2[64];
    if (o->format == ESS_JSON) { /* the last member of the summary's object */
        printf(",\n \"curve\": [");
        for (int64_t k = 0; k < o->curve; k++) {
            printf("%s{\"draws_per_chain\": %lld, \"n\": %lld, \"mess\": ", k ? ", " : "", (long long)pts[k].draws,
                   (long long)pts[k].n);
            cli_json_num(stdout, pts[k].mess);
            printf(", \"mess_diag\": ");
            cli_json_num(stdout, pts[k].mess_diag);
            printf("}");
        }
        printf("]");
    } else if (o->format == ESS_CSV) {
        printf("\ncurve_draws_per_chain,curve_n,curve_mess,curve_mess_diag\n");
        for (int64_t k = 0; k < o->curve; k++)
            printf("%lld,%lld,%.10g,%.10g\n", (long long)pts[k].draws, (long long)pts[k].n, pts[k].mess,
                   pts[k].mess_diag);
    } else {
        printf("\nmESS over the draws (the first k/%lld of every chain)\n", (long long)o->curve);
        printf("  %12s %10s %12s %12s\n", "draws/chain", "n", "mESS", "mESS diag");
        for (int64_t k = 0; k < o->curve; k++) {
            fmt_num(b1, sizeof b1, pts[k].mess, "%.1f");
            fmt_num(b2, sizeof b2, pts[k].mess_diag, "%.1f");
            printf("  %12lld %10lld %12s %12s\n", (long long)pts[k].draws, (long long)pts[k].n, b1, b2);
        }
    }
}

static void print_json(const ess_args *o, const sgld_diag_report *r, const curve_point *pts)
{
    const char *mname = sgld_mess_method_name(r->method);
    char name[512];
    char note[256];
    printf("{\"file\": \"%s\", \"group\": \"%s\", \"chains\": %d, \"draws\": %lld, \"draws_max\": %lld,", o->file,
           o->group, r->n_chains, (long long)r->n_draws, (long long)r->n_draws_max);
    if (draws_note(r, note, sizeof note)[0]) printf(" \"draws_note\": \"%s\",", note);
    printf(" \"mcse_sd_rule\": \"%s\",\n \"variables\": [\n", sgld_mcse_sd_rule_name((sgld_mcse_sd_rule)o->mcse_sd_rule));
    for (int v = 0; v < r->n_vars; v++)
        for (int64_t e = 0; e < r->vars[v].n_elem; e++) {
            int64_t k = r->vars[v].first + e;
            double x[N_KEYS];
            elem_values(&r->elems[k], x);
            sgld_diag_elem_name(&r->vars[v], e, name, sizeof name);
            printf("  {\"name\": \"%s\"", name);
            for (int f = 0; f < N_KEYS; f++) {
                printf(", \"%s\": ", keys[f]);
                cli_json_num(stdout, x[f]);
            }
            if (r->n_superchains) {
                printf(", \"nRhat\": ");
                cli_json_num(stdout, r->elems[k].nrhat);
            }
            printf("}%s\n", k + 1 < r->n_elems ? "," : "");
        }
    printf(" ],\n");
    if (r->n_superchains) print_json_nested(r);
    printf(" \"multivariate\": {\"p\": %lld, \"n\": %lld, \"chains\": %d, \"mess\": ", (long long)r->n_elems,
           (long long)r->n_chains * r->n_draws, r->n_chains);
    cli_json_num(stdout, r->mess);
    printf(", \"method\": \"%s\", \"batch_size\": %lld, \"min_ess\": ", mname,
           (long long)main_result(o, r)->batch_size);
    cli_json_num(stdout, r->min_ess);
    printf(", \"mess_diag\": ");
    cli_json_num(stdout, r->mess_diag);
    printf(", \"alpha\": %g, \"eps\": %g, \"skipped_constant\": %lld", o->alpha, o->eps, (long long)r->n_constant);
    if (!o->project) {
        printf(", \"mess_per_chain\": [");
        for (int c = 0; c < r->n_per_chain; c++) {
            if (c) printf(", ");
            cli_json_num(stdout, r->per_chain[c]);
        }
        printf("]");
    } else {
        printf(", \"projection\": {\"k\": %lld, \"seed\": %lld, \"mess\": ", (long long)o->project, (long long)o->seed);
        cli_json_num(stdout, r->have_proj ? r->proj.mess : NAN);
        printf("}, \"pca\": {\"k\": %lld, \"mess\": ", (long long)o->project);
        cli_json_num(stdout, r->have_pca ? r->pca.mess : NAN);
        printf(", \"batch_size\": %lld}", (long long)r->pca.batch_size);
    }
    if (r->note[0]) printf(", \"note\": \"%s\"", r->note);
    printf("}");
    if (o->curve) print_curve(o, pts);
    printf("}\n");
}

static void print_csv(const ess_args *o, const sgld_diag_report *r)
{
    char name[512];
    printf("variable");
    for (int f = 0; f < N_KEYS; f++) printf(",%s", keys[f]);
    printf("%s\n", r->n_superchains ? ",nRhat" : "");
    for (int v = 0; v < r->n_vars; v++)
        for (int64_t e = 0; e < r->vars[v].n_elem; e++) {
            double x[N_KEYS];
            elem_values(&r->elems[r->vars[v].first + e], x);
            sgld_diag_elem_name(&r->vars[v], e, name, sizeof name);
            printf("\"%s\"", name);
            for (int f = 0; f < N_KEYS; f++) {
                if (isnan(x[f])) printf(",NaN");
                else printf(",%.10g", x[f]);
            }
            if (r->n_superchains) {
                const double nr = r->elems[r->vars[v].first + e].nrhat;
                if (isnan(nr)) printf(",NaN");
                else printf(",%.10g", nr);
            }
            printf("\n");
        }
    printf("\nkey,value\np,%lld\nn,%lld\nchains,%d\nmess,%.10g\nmethod,%s\nbatch_size,%lld\n"
           "min_ess,%.10g\nmess_diag,%.10g\n", (long long)r->n_elems, (long long)r->n_chains * r->n_draws,
           r->n_chains, r->mess, sgld_mess_method_name(r->method), (long long)main_result(o, r)->batch_size,
           r->min_ess, r->mess_diag);
    if (o->project) printf("pca_mess,%.10g\n", r->have_pca ? r->pca.mess : NAN);
    if (r->n_constant) printf("skipped_constant,%lld\n", (long long)r->n_constant);
    char note[256];
    printf("draws_max,%lld\nmcse_sd_rule,%s\n", (long long)r->n_draws_max,
           sgld_mcse_sd_rule_name((sgld_mcse_sd_rule)o->mcse_sd_rule));
    if (draws_note(r, note, sizeof note)[0]) printf("draws_note,\"%s\"\n", note);
    if (r->n_superchains)
        printf("superchains,%d\nchains_per_superchain,%d\nnrhat_max,%.10g\nnrhat_delta,%g\n"
               "nrhat_threshold,%g\nnrhat_above_threshold,%lld\n", r->n_superchains, r->chains_per_superchain,
               r->nrhat_max, SGLD_DIAG_NRHAT_DELTA, 1.0 + SGLD_DIAG_NRHAT_DELTA, (long long)r->n_nrhat_above);
}

/* The table's multivariate lines and the verdict. */
static void print_table_mv(const ess_args *o, const sgld_diag_report *r)
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
        printf("  mESS of %lld random orthonormal projections (seed %lld; %s, b = %lld)  %s\n", (long long)o->project, (long long)o->seed,
               mname, (long long)r->proj.batch_size, b1);
        fmt_num(b1, sizeof b1, r->have_pca ? r->pca.mess : NAN, "%.1f");
        printf("  mESS of the top %lld principal components (randomized, b = %lld)  %s\n", (long long)o->project,
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

/* The table's nested R-hat lines: the grouping, the largest value and the verdict. */
static void print_table_nested(const sgld_diag_report *r)
{
    printf("\nnested R-hat (Margossian et al. 2024), %d superchains of %d chains (%s)\n", r->n_superchains,
           r->chains_per_superchain, r->superchains_from_file ? "the file's superchain coordinate" : "--superchains");
    if (r->n_superchains < 2) {
        printf("  not defined: it compares superchains, and there is only one\n");
        return;
    }
    if (r->nrhat_max_elem < 0) {
        printf("  max nRhat NaN (no element has one: non-finite or constant draws)\n");
        return;
    }
    char name[512];
    elem_name(r, r->nrhat_max_elem, name, sizeof name);
    printf("  max nRhat %.4f (%s); threshold 1 + delta = %g (delta = %g, the paper's choice)\n", r->nrhat_max,
           name, 1.0 + SGLD_DIAG_NRHAT_DELTA, SGLD_DIAG_NRHAT_DELTA);
    if (r->n_nrhat_above)
        printf("  verdict: NOT converged: %lld of %lld elements above the threshold (marked *)\n",
               (long long)r->n_nrhat_above, (long long)r->n_elems);
    else
        printf("  verdict: every element below the threshold\n");
}

static void print_table(const ess_args *o, const sgld_diag_report *r)
{
    const int64_t p = r->n_elems;
    char name[512];
    char note[256];
    printf("%s: %d chains x %lld draws, %lld elements in /%s\n", o->file, r->n_chains, (long long)r->n_draws,
           (long long)p, o->group);
    if (draws_note(r, note, sizeof note)[0]) printf("  %s\n", note);
    printf("\n");
    printf("%-16s %10s %10s %10s %10s %10s %10s %10s %9s %9s %7s%s\n", "variable", "mean", "sd", "q5", "q50", "q95",
           "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "rhat", r->n_superchains ? "    nRhat" : "");
    int64_t shown = 0;
    for (int v = 0; v < r->n_vars; v++)
        for (int64_t e = 0; e < r->vars[v].n_elem; e++) {
            if (o->max_rows && shown >= o->max_rows) break;
            double x[N_KEYS];
            elem_values(&r->elems[r->vars[v].first + e], x);
            sgld_diag_elem_name(&r->vars[v], e, name, sizeof name);
            char c[10][32]; /* the table's columns: keys 0-6, then 10-12 */
            for (int f = 0; f < 7; f++) fmt_num(c[f], 32, x[f], "%.4g");
            fmt_num(c[7], 32, x[10], "%.0f");
            fmt_num(c[8], 32, x[11], "%.0f");
            fmt_num(c[9], 32, x[12], "%.4f");
            printf("%-16s %10s %10s %10s %10s %10s %10s %10s %9s %9s %7s", name, c[0], c[1], c[2], c[3], c[4],
                   c[5], c[6], c[7], c[8], c[9]);
            if (r->n_superchains) {
                const double nr = r->elems[r->vars[v].first + e].nrhat;
                char b[32];
                fmt_num(b, sizeof b, nr, "%.4f");
                printf(" %8s%s", b, nr > 1.0 + SGLD_DIAG_NRHAT_DELTA ? "*" : "");
            }
            printf("\n");
            shown++;
        }
    if (shown < p) printf("... %lld more elements (--max-rows 0 shows all)\n", (long long)(p - shown));
    if (r->n_superchains) print_table_nested(r);
    print_table_mv(o, r);
}

/* Rank 0's stderr lines: the timing (--timing), then one line per element with a non-finite
 * draw. */
static void print_notices(const ess_args *o, const sgld_diag_report *r, int size)
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

/* --curve K: the report of the first k/K of the draws, k = 1..K (the K-th is r itself), into
 * pts[K].  Returns -1 when done, else the exit status.  Collective. */
static int curve(const cli_ctx *c, const ess_args *o, const sgld_diag_report_opts *ro, const sgld_diag_report *r,
                 curve_point *pts)
{
    const int64_t K = o->curve, n = r->n_draws, first = n / K, N1 = (int64_t)r->n_chains * first;
    const int64_t p = r->n_elems;
    if (first < SGLD_DIAG_MIN_DRAWS)
        return cli_fail(c, CLI_EXIT_BAD_INPUT, "--curve %lld: the first 1/%lld of the %lld draws per chain of %s is %lld "
                        "draws, need at least %d", (long long)K, (long long)K, (long long)n, o->file, (long long)first,
                        SGLD_DIAG_MIN_DRAWS);
    if (o->project ? o->project + 10 > N1 / 2 : p >= N1 / 2)
        return cli_fail(c, CLI_EXIT_BAD_INPUT, "--curve %lld: the first 1/%lld of the draws of %s (%lld draws in all) "
                        "is too few for the mESS of %lld components (%s must be below half the draws); use a smaller "
                        "K%s", (long long)K, (long long)K, o->file, (long long)N1,
                        (long long)(o->project ? o->project + 10 : p), o->project ? "k + 10" : "p",
                        o->project ? "" : " or --project k");
    for (int64_t k = 1; k <= K; k++) {
        sgld_diag_report_opts ko = *ro;
        ko.max_draws = n * k / K;
        sgld_diag_report *rk = NULL;
        if (k < K) {
            sgld_status st = sgld_diag_report_create(c->comm, &ko, &rk);
            if (st != SGLD_OK) return cli_fail_status(c, st);
        }
        const sgld_diag_report *x = k < K ? rk : r;
        pts[k - 1] = (curve_point){x->n_draws, (int64_t)x->n_chains * x->n_draws, x->mess, x->mess_diag};
        sgld_diag_report_destroy(&rk);
    }
    return -1;
}

/* Summarizes o->file and prints the report on rank 0; returns the exit status (the same on
 * every rank).  Collective. */
static int run(const cli_ctx *c, const ess_args *o)
{
    sgld_diag_report_opts ro = {.file = o->file, .group = o->group, .vars = o->vars, .n_vars = o->n_vars,
                                .method = (sgld_mess_method)o->method, .batch_size = o->batch_size,
                                .project = (int)o->project, .seed = (uint32_t)o->seed, .alpha = o->alpha,
                                .eps = o->eps, .mcse_sd_rule = (sgld_mcse_sd_rule)o->mcse_sd_rule,
                                .block = o->block, .superchains = (int)o->superchains};
    sgld_diag_report *r = NULL;
    sgld_status st = sgld_diag_report_create(c->comm, &ro, &r);
    if (st != SGLD_OK) return cli_fail_status(c, st);
    curve_point *pts = o->curve ? calloc((size_t)o->curve, sizeof *pts) : NULL;
    int status = o->curve && !pts ? cli_fail(c, CLI_EXIT_RUNTIME, "out of memory") : -1;
    if (status < 0 && o->curve) status = curve(c, o, &ro, r, pts);
    if (status >= 0) {
        free(pts);
        sgld_diag_report_destroy(&r);
        return status;
    }
    if (c->rank == 0) {
        print_notices(o, r, c->size);
        if (o->format == ESS_JSON)
            print_json(o, r, pts);
        else if (o->format == ESS_CSV)
            print_csv(o, r);
        else
            print_table(o, r);
        if (o->curve && o->format != ESS_JSON) print_curve(o, pts);
        fflush(stdout);
    }
    free(pts);
    sgld_diag_report_destroy(&r);
    return CLI_EXIT_OK;
}

int ess_summary(const cli_ctx *c, int argc, char **argv)
{
    ess_args o;
    int status = ess_args_parse(c, ESS_SUMMARY, argc, argv, &o);
    if (status < 0) status = run(c, &o);
    ess_args_free(&o);
    return status;
}
