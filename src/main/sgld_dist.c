/* sgld_dist.c - the sgld-dist program: parse, run, report.
 *
 * Exit status: 0 success; 2 bad input or usage (the message names the file, field and value;
 * also a missing, truncated, corrupted or foreign --resume checkpoint, an output that is an
 * input or another run's, and an --output or --checkpoint in use by a running run); 1 any
 * other failure (divergence, MPI, HDF5, memory); 3 incomplete: stopped by SIGTERM, SIGINT or
 * SIGUSR1 after flushing the draws and saving --checkpoint, to be continued with --resume.
 * Only rank 0 prints. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "sgld/config.h"
#include "sgld/run.h"
#include "sgld/status.h"

#define SUMMARY_MAX_ROWS 40
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

/* Element name like ArviZ: "b", "w[3]", "w[2,1]" (zero-based). */
static void element_name(const sgld_param_var *v, size_t e, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "%s", v->name);
    if (v->n_dims == 0) return;
    size_t idx[SGLD_MODEL_MAX_DIMS];
    for (int k = v->n_dims - 1; k >= 0; k--) {
        idx[k] = e % (size_t)v->dims[k];
        e /= (size_t)v->dims[k];
    }
    for (int k = 0; k < v->n_dims && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%zu", k ? "," : "[", idx[k]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

static void print_summary(const sgld_config *cfg, const sgld_run_report *rep)
{
    const sgld_model *m = &rep->model;
    const size_t n = (size_t)rep->n_chains * (size_t)rep->n_draws;
    printf("sgld-dist: %s on %s, sampler %s: %d chain%s x %d shard%s, %lld steps (burn-in %lld, thin %lld)\n",
           cfg->model, cfg->data, cfg->sampler, rep->n_chains, rep->n_chains == 1 ? "" : "s",
           rep->n_shards, rep->n_shards == 1 ? "" : "s", (long long)cfg->steps,
           (long long)cfg->burnin, (long long)cfg->thin);
    if (rep->draws && n > 0) {
        printf("\nposterior summary (%zu draws: %d chain%s x %lld)\n", n, rep->n_chains, rep->n_chains == 1 ? "" : "s", (long long)rep->n_draws);
        printf("%-16s %12s %12s %12s %12s\n", "", "mean", "sd", "5%", "95%");
        float *col = malloc(n * sizeof *col);
        size_t rows = 0;
        for (int v = 0; v < m->n_vars && col; v++)
            for (size_t e = 0; e < m->vars[v].size; e++, rows++) {
                if (rows == SUMMARY_MAX_ROWS) continue;
                size_t k = m->vars[v].offset + e;
                double s1 = 0, s2 = 0;
                for (size_t i = 0; i < n; i++) {
                    col[i] = rep->draws[i * m->n_params + k];
                    s1 += col[i];
                }
                double mean = s1 / n;
                for (size_t i = 0; i < n; i++) s2 += (col[i] - mean) * (col[i] - mean);
                qsort(col, n, sizeof *col, compare_float);
                char name[64];
                element_name(&m->vars[v], e, name, sizeof name);
                printf("%-16s %12.5g %12.5g %12.5g %12.5g\n", name, mean, n > 1 ? sqrt(s2 / (n - 1)) : 0.0,
                       quantile(col, n, 0.05), quantile(col, n, 0.95));
            }
        if (rows > SUMMARY_MAX_ROWS)
            printf("... %zu more elements%s%s\n", rows - SUMMARY_MAX_ROWS,
                   cfg->output[0] ? ": sgld-ess summary " : "", cfg->output);
        free(col);
    }
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
    printf("\ntime: %.3f s, %.0f steps/s per chain;", rep->seconds, cfg->steps / fmax(rep->seconds, 1e-9));
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
    printf("  steps            %lld (burn-in %lld, thin %lld)\n", (long long)cfg->steps,
           (long long)cfg->burnin, (long long)cfg->thin);
    printf("  draws            %lld per chain, %lld in all; a flush every %lld draws (%lld steps)\n",
           (long long)rep->n_draws, (long long)rep->n_draws * rep->n_chains, (long long)p->draws_per_flush,
           (long long)p->steps_per_flush);
    if (cfg->output[0])
        printf("  output           %s, about %.3f MB of draws\n", cfg->output, p->file_bytes / 1e6);
    else
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

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
    }
}

int main(int argc, char **argv)
{
    sgld_run_signals(1); /* before MPI_Init: a signal during start-up also stops cleanly */
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);

    sgld_config cfg;
    sgld_status st = sgld_config_parse(&cfg, argc, argv);
    if (st == SGLD_OK && (cfg.help || cfg.version)) {
        if (rank == 0) {
            if (cfg.help) sgld_config_help(stdout, "sgld-dist");
            else printf("sgld-dist %s\n", SGLD_VERSION);
        }
        MPI_Finalize();
        return 0;
    }
    sgld_run_report rep;
    memset(&rep, 0, sizeof rep);
    if (st == SGLD_OK) st = sgld_run(MPI_COMM_WORLD, &cfg, 1, &rep);
    if (rank == 0) {
        if (st != SGLD_OK) {
            fprintf(stderr, "sgld-dist: %s\n", sgld_error_message());
            if (getenv("SGLD_TRACE")) fputs(sgld_error_trace(), stderr);
        } else if (rep.dry_run) {
            print_plan(&cfg, &rep);
        } else if (rep.incomplete) {
            fprintf(stderr, "sgld-dist: stopped by %s after step %lld of %lld; draws flushed%s%s%s\n",
                    signal_name(rep.stop_signal), (long long)rep.last_step, (long long)cfg.steps,
                    cfg.checkpoint[0] ? ", checkpoint saved to " : "; no --checkpoint, so it cannot be resumed",
                    cfg.checkpoint, cfg.checkpoint[0] ? "; continue with the same options and --resume" : "");
            if (cfg.log_view) print_log_view(&rep);
        } else if (!cfg.quiet) {
            print_summary(&cfg, &rep);
        }
        if (st == SGLD_OK && !rep.dry_run && !rep.incomplete && cfg.log_view) print_log_view(&rep);
    }
    sgld_run_report_free(&rep);
    MPI_Finalize();
    return st == SGLD_OK && rep.incomplete ? EXIT_INCOMPLETE : exit_code(st);
}
