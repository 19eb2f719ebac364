/* sgld_dist.c - the sgld-dist program: parse, run, report (sgld_main, sgld/main.h, in libsgld;
 * the executable's main is main_dist.c).
 *
 * Exit status: 0 success; 2 bad input or usage (the message names the file, field and value;
 * also a missing, truncated, corrupted or foreign --resume checkpoint, an output that is an
 * input or another run's, and an --output or --checkpoint in use by a running run); 1 any
 * other failure (divergence, MPI, HDF5, memory); 3 incomplete: stopped by SIGTERM, SIGINT or
 * SIGUSR1 after flushing the draws and saving --checkpoint, to be continued with --resume;
 * --check-gradient: 1 when a gradient fails the check.
 * Only rank 0 prints. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "cli.h"
#include "sgld/config.h"
#include "sgld/main.h"
#include "sgld/run.h"
#include "sgld/status.h"

#define EXIT_INCOMPLETE 3 /* stopped by a signal; resume me */

static int exit_code(sgld_status st)
{
    switch (st) {
    case SGLD_OK: return 0;
    case SGLD_ERR_USAGE:
    case SGLD_ERR_ARG:
    case SGLD_ERR_PARSE:
    case SGLD_ERR_IO:
    case SGLD_ERR_EXISTS: return 2;
    default: return 1;
    }
}

static int compare_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Type-7 quantile of sorted v[n]. */
static double quantile(const float *v, size_t n, double q)
{
    double h = (n - 1) * q;
    size_t lo = (size_t)floor(h);
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (h - lo) * (v[hi] - v[lo]);
}

/* "burn-in 200" or, when the default was clipped, "burn-in 1 = steps / 10, as the default
 * 2000 is not below --steps". */
static void burnin_text(const sgld_config *cfg, char *buf, size_t size)
{
    int n = snprintf(buf, size, "burn-in %lld", (long long)cfg->burnin);
    if (cfg->burnin_clipped && n > 0 && (size_t)n < size) {
        sgld_config def;
        sgld_config_defaults(&def);
        snprintf(buf + n, size - (size_t)n, " = steps / 10, as the default %lld is not below --steps",
                 (long long)def.burnin);
    }
}

/* --on-divergence shrink|skip: one line with the undone steps and the final step-size factor
 * of every chain (the first DIV_LIST_MAX chains, then the smallest factor), so a run whose
 * step was halved is not mistaken for one at --step-size. */
#define DIV_LIST_MAX 16
static void print_divergences(const sgld_config *cfg, const sgld_run_report *rep)
{
    int64_t total = 0;
    int hit = 0;
    double lo = 1.0;
    for (int c = 0; c < rep->n_chains; c++) {
        total += rep->div_count[c];
        hit += rep->div_count[c] > 0;
        lo = fmin(lo, rep->div_eps_scale[c]);
    }
    printf("\ndivergences (--on-divergence %s): ", cfg->on_divergence);
    if (!total) {
        printf("none\n");
        return;
    }
    printf("%lld step%s undone in %d of %d chain%s; per chain", (long long)total, total == 1 ? "" : "s", hit,
           rep->n_chains, rep->n_chains == 1 ? "" : "s");
    for (int c = 0; c < rep->n_chains && c < DIV_LIST_MAX; c++) printf(" %lld", (long long)rep->div_count[c]);
    if (rep->n_chains > DIV_LIST_MAX) printf(" ...");
    if (!strcmp(cfg->on_divergence, "shrink")) {
        printf("; final step-size factor per chain");
        for (int c = 0; c < rep->n_chains && c < DIV_LIST_MAX; c++) printf(" %g", rep->div_eps_scale[c]);
        if (rep->n_chains > DIV_LIST_MAX) printf(" ... (smallest %g)", lo);
    }
    printf("\n");
}

static void print_summary(const sgld_config *cfg, const sgld_run_report *rep)
{
    const sgld_model *m = &rep->model;
    const size_t n = (size_t)rep->n_chains * (size_t)rep->n_draws;
    char burnin[128];
    burnin_text(cfg, burnin, sizeof burnin);
    printf("sgld-dist: %s on %s, sampler %s: %d chain%s x %d shard%s, %lld steps (%s, thin %lld)\n",
           cfg->model, cfg->data, cfg->sampler, rep->n_chains, rep->n_chains == 1 ? "" : "s",
           rep->n_shards, rep->n_shards == 1 ? "" : "s", (long long)cfg->steps, burnin,
           (long long)cfg->thin);
    if (rep->draws && n > 0) {
        printf("\nposterior summary (%zu draws: %d chain%s x %lld)\n", n, rep->n_chains, rep->n_chains == 1 ? "" : "s", (long long)rep->n_draws);
        printf("%-16s %12s %12s %12s %12s\n", "", "mean", "sd", "5%", "95%");
        float *col = malloc(n * sizeof *col);
        size_t rows = 0, total = 0;
        /* Only what --save-params keeps: the summary describes the sample file.  Over the
         * memory cap rep->draws holds the leading draws_width parameters only. */
        for (int v = 0; v < m->n_vars; v++) total += m->vars[v].save ? m->vars[v].size : 0;
        size_t shown = cfg->max_rows > 0 && (uint64_t)cfg->max_rows < total ? (size_t)cfg->max_rows : total;
        for (int v = 0; v < m->n_vars && col && rows < shown; v++)
            for (size_t e = 0; m->vars[v].save && e < m->vars[v].size && rows < shown; e++, rows++) {
                if (m->vars[v].offset + e >= rep->draws_width) {
                    shown = rows;
                    break;
                }
                size_t k = m->vars[v].offset + e;
                double s1 = 0, s2 = 0;
                for (size_t i = 0; i < n; i++) {
                    col[i] = rep->draws[i * rep->draws_width + k];
                    s1 += col[i];
                }
                double mean = s1 / n;
                for (size_t i = 0; i < n; i++) s2 += (col[i] - mean) * (col[i] - mean);
                qsort(col, n, sizeof *col, compare_float);
                char name[64];
                sgld_model_elem_name(&m->vars[v], e, name, sizeof name);
                printf("%-16s %12.5g %12.5g %12.5g %12.5g\n", name, mean, n > 1 ? sqrt(s2 / (n - 1)) : 0.0,
                       quantile(col, n, 0.05), quantile(col, n, 0.95));
            }
        if (shown < total) {
            printf("... %zu more of %zu elements not shown: ", total - shown, total);
            if (rep->not_kept != SGLD_KEPT_SUMMARY_ONLY) printf("--max-rows 0 prints all, ");
            else printf("only these rows' draws fit in memory; ");
            if (cfg->output[0]) printf("sgld-ess summary %s gives all with R-hat and ESS\n", cfg->output);
            else printf("with --output FILE, sgld-ess summary FILE gives them with R-hat and ESS\n");
        }
        free(col);
    }
    if (rep->draws && n > 0 && rep->not_kept == SGLD_KEPT_SUMMARY_ONLY && rep->n_test) {
        printf("\nno test-set metrics: all %.2g GB of draws exceed the %.0f MB this program keeps in memory "
               "(the summary kept its rows only); %s%s\n", rep->kept_bytes / 1e9, rep->kept_max_bytes / 1e6,
               cfg->output[0] ? "sgld-ess predict computes them from " : "write the draws with --output FILE for sgld-ess predict",
               cfg->output);
    } else if (rep->not_kept == SGLD_NOT_KEPT_TOO_LARGE) {
        printf("\nno posterior summary%s: its %.2g GB of draws exceed the %.0f MB this program keeps in "
               "memory%s; %s%s\n", rep->n_test ? " and no test-set metrics" : "", rep->kept_bytes / 1e9,
               rep->kept_max_bytes / 1e6, cfg->max_rows ? "" : " (--max-rows 0 asks for all; a row count keeps only those)",
               cfg->output[0] ? "sgld-ess summary/predict read them from " : "raise --thin, or write them with --output FILE for sgld-ess summary",
               cfg->output);
    } else if (rep->not_kept == SGLD_NOT_KEPT_RESUMED) {
        printf("\nno posterior summary%s: a resumed run holds only its later draws%s%s\n",
               rep->n_test ? " and no test-set metrics" : "",
               cfg->output[0] ? "; sgld-ess summary/predict read them all from " : "", cfg->output);
    }
    if (rep->div_tracked && rep->div_count && rep->div_eps_scale)
        print_divergences(cfg, rep);
    if (rep->has_test) {
        if (m->classification)
            printf("\ntest set (%lld rows): accuracy %.4f, NLL %.4f (posterior predictive)\n",
                   (long long)rep->n_test, rep->test_accuracy, rep->test_nll);
        else
            printf("\ntest set (%lld rows): RMSE %.4f, log-likelihood %.4f (posterior predictive)\n",
                   (long long)rep->n_test, rep->test_rmse, -rep->test_nll);
    }
    double busy = 0;
    for (int e = 0; e < SGLD_EV_COUNT; e++) busy += rep->event_seconds[e];
    printf("\ntime: %.3f s, %.0f steps/s per chain;", rep->seconds,
           (double)(rep->last_step - rep->first_step) / fmax(rep->seconds, 1e-9));
    for (int e = 0; e < SGLD_EV_COUNT; e++)
        printf(" %s %.0f%%%s", sgld_event_name(e), 100.0 * rep->event_seconds[e] / fmax(busy, 1e-12),
               e + 1 < SGLD_EV_COUNT ? "," : "\n");
    if (cfg->output[0]) printf("draws written to %s\n", cfg->output);
}

/* --log-view: one row per named event, over all ranks. */
static void print_log_view(const sgld_run_report *rep)
{
    printf("\nevent log (%d ranks, %lld steps %lld..%lld, loop %.3f s mean over ranks)\n", rep->n_ranks,
           (long long)(rep->last_step - rep->first_step), (long long)rep->first_step + 1,
           (long long)rep->last_step, rep->seconds_mean);
    printf("%-12s %10s %12s %12s %12s %8s %12s\n", "event", "count", "min s", "max s", "mean s",
           "share", "mean us/call");
    for (int e = 0; e < SGLD_EV_COUNT; e++)
        printf("%-12s %10lld %12.6f %12.6f %12.6f %7.1f%% %12.3f\n", sgld_event_name(e),
               (long long)rep->event_count[e], rep->event_min[e], rep->event_max[e], rep->event_mean[e],
               100.0 * rep->event_mean[e] / fmax(rep->seconds_mean, 1e-12),
               rep->event_count[e] ? 1e6 * rep->event_mean[e] / (double)rep->event_count[e] : 0.0);
    printf("(counts are rank 0's; 'update' is the sampler's step without its normals, which are 'noise'; "
           "'sync' the wait where ranks agree at flush points)\n");
}

static void print_plan(const sgld_config *cfg, const sgld_run_report *rep)
{
    const sgld_run_plan *p = &rep->plan;
    printf("sgld-dist --dry-run: configuration and data are valid\n");
    printf("  ranks            %d = %d chain%s x %d shard%s\n", p->n_ranks, rep->n_chains,
           rep->n_chains == 1 ? "" : "s", rep->n_shards, rep->n_shards == 1 ? "" : "s");
    printf("  model            %s (%s), %lld parameters, sampler %s (%lld state floats)\n", cfg->model,
           rep->model.classification ? "classification" : "regression", (long long)p->n_params, cfg->sampler,
           (long long)p->state_floats);
    printf("  data             %s: %lld training rows (about %lld per rank), %lld test rows\n", cfg->data,
           (long long)rep->n_train, (long long)(rep->n_train / rep->n_shards), (long long)rep->n_test);
    printf("  batch            %lld per chain, about %.1f per rank\n", (long long)cfg->batch_size,
           (double)cfg->batch_size / rep->n_shards);
    char burnin[128];
    burnin_text(cfg, burnin, sizeof burnin);
    printf("  steps            %lld (%s, thin %lld)\n", (long long)cfg->steps, burnin,
           (long long)cfg->thin);
    printf("  draws            %lld per chain, %lld in all; a flush every %lld draws (%lld steps)\n",
           (long long)rep->n_draws, (long long)rep->n_draws * rep->n_chains, (long long)p->draws_per_flush,
           (long long)p->steps_per_flush);
    if (cfg->output[0])
        printf("  output           %s, about %.3f MB of draws\n", cfg->output, p->file_bytes / 1e6);
    if (cfg->output[0] && (double)p->file_bytes > SGLD_RUN_LARGE_OUTPUT_BYTES)
        printf("  warning          the sample file passes %.0f GB: --thin %lld keeps it below\n",
               SGLD_RUN_LARGE_OUTPUT_BYTES / 1e9,
               (long long)sgld_run_suggest_thin((double)p->file_bytes, cfg->thin));
    if (!cfg->output[0])
        printf("  output           none\n");
    if (cfg->checkpoint[0]) {
        printf("  checkpoint       %s, %lld bytes each", cfg->checkpoint, (long long)p->checkpoint_bytes);
        if (cfg->checkpoint_every) printf(", every %lld steps", (long long)cfg->checkpoint_every);
        if (cfg->checkpoint_seconds > 0) printf(", every %g s (at flushes)", cfg->checkpoint_seconds);
        printf(", on SIGTERM/SIGINT/SIGUSR1 and at the end\n");
    }
    if (p->resume_step >= 0)
        printf("  resume           from step %lld with %lld draws per chain\n", (long long)p->resume_step,
               (long long)p->resume_draws);
}

/* The --stop-when line: where the run stopped and the figures that met the rule. */
static void print_converged(const sgld_config *cfg, const sgld_run_report *rep)
{
    double ess = 0.0, rhat = 0.0, mess = 0.0;
    sgld_config_parse_stop_when(cfg->stop_when, &ess, &rhat, &mess);
    printf("sgld-dist: stopped at step %lld of %lld (--stop-when %s):", (long long)rep->last_step,
           (long long)cfg->steps, cfg->stop_when);
    const char *sep = "";
    if (ess > 0.0) printf(" min ESS %.0f >= %g", rep->monitor_ess_min, ess), sep = ",";
    if (rhat > 0.0)
        printf("%s max %s %.4f <= %g", sep, cfg->superchains >= 2 ? "nested R-hat" : "R-hat", rep->monitor_rhat_max,
               rhat), sep = ",";
    if (mess > 0.0) printf("%s mESS %.0f >= %g", sep, rep->monitor_mess, mess);
    printf(" (%lld draws per chain)\n", (long long)rep->monitor_draws);
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
    }
}

int sgld_main(int argc, char **argv)
{
    sgld_run_signals(1); /* a no-op when main_dist.c's .preinit_array ran it */
    int mpi_up;
    MPI_Initialized(&mpi_up);
    const int own_mpi = !mpi_up; /* finalize only what this call initialized */
    if (own_mpi) MPI_Init(&argc, &argv);
    cli_ctx cli;
    cli_init(&cli, "sgld-dist", MPI_COMM_WORLD);

    sgld_config cfg;
    sgld_status st = sgld_config_parse(&cfg, argc, argv);
    if (st == SGLD_OK && (cfg.help || cfg.version)) {
        if (!cfg.help)
            cli_version(&cli);
        else if (cli.rank == 0)
            sgld_config_help_for(&cfg, stdout, "sgld-dist");
        if (own_mpi) MPI_Finalize();
        return 0;
    }
    sgld_run_report rep;
    memset(&rep, 0, sizeof rep);
    if (st == SGLD_OK) st = sgld_run(MPI_COMM_WORLD, &cfg, 1, &rep);
    if (cli.rank == 0) {
        if (st != SGLD_OK) {
            cli_fail(&cli, exit_code(st), "%s", sgld_error_message());
            if (getenv("SGLD_TRACE")) fputs(sgld_error_trace(), stderr);
        } else if (rep.dry_run) {
            print_plan(&cfg, &rep);
        } else if (rep.gradient_checked) {
            sgld_model_gradcheck_print(stdout, &rep.gradcheck);
        } else if (rep.incomplete) {
            cli_fail(&cli, EXIT_INCOMPLETE, "stopped by %s after step %lld of %lld; draws flushed%s%s%s",
                     signal_name(rep.stop_signal), (long long)rep.last_step, (long long)cfg.steps,
                     cfg.checkpoint[0] ? ", checkpoint saved to " : "; no --checkpoint, so it cannot be resumed",
                     cfg.checkpoint, cfg.checkpoint[0] ? "; continue with the same options and --resume" : "");
            if (cfg.log_view) print_log_view(&rep);
        } else if (cfg.resume && rep.first_step >= cfg.steps) {
            if (!cfg.quiet)
                printf("sgld-dist: nothing to do: the run is complete (checkpoint %s is at step %lld of %lld%s%s)\n",
                       cfg.checkpoint, (long long)rep.first_step, (long long)cfg.steps,
                       cfg.output[0] ? "; its draws are in " : "", cfg.output);
        } else if (!cfg.quiet) {
            if (rep.converged) print_converged(&cfg, &rep);
            print_summary(&cfg, &rep);
        }
        if (st == SGLD_OK && !rep.dry_run && !rep.incomplete && cfg.log_view &&
            !(cfg.resume && rep.first_step >= cfg.steps))
            print_log_view(&rep);
    }
    sgld_run_report_free(&rep);
    if (own_mpi) MPI_Finalize();
    if (st == SGLD_OK && rep.gradient_checked && rep.gradcheck.failed) return 1; /* a wrong gradient */
    return st == SGLD_OK && rep.incomplete ? EXIT_INCOMPLETE : exit_code(st);
}
