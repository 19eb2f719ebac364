/* run.c - one run on the ranks of a communicator: its lifecycle and its sampling loop
 * (include/sgld/run.h states the step, the stop protocol and sgld_run's contract).
 *
 * Lifecycle (sgld_run): the usage checks every rank finds alike; the grid; the files checked
 * and locked (files.c); data and model (and --check-gradient, which ends the run there); the
 * state sizes; the --dry-run plan; every buffer allocated once; the checkpoint restored
 * (resume.c) and the sample file opened (output.c); the loop; then the reductions and gathers
 * that fill the report.
 *
 * Loop (sample): per step the minibatch (Floyd's algorithm), the gradient with its one fused
 * allreduce, the sampler's step, the divergence checks (divergence.c) and the kept draw into
 * the buffer; at sync points the agreement, the flush and the checkpoint.  The run's part of a
 * step allocates nothing, compares no string and reads the clock only per timed event
 * (timer.h: --log-view's events, sgld_event_name). */
#include "sgld/run.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sgld/checkpoint.h"
#include "sgld/data.h"
#include "sgld/ensemble.h"
#include "sgld/grid.h"
#include "sgld/rng.h"
#include "sgld/sampler.h"
#include "sgld/samples.h"
#include "sgld/timer.h"

#include "run_impl.h"

#define KEEP_DRAWS_MAX_FLOATS 50000000 /* 200 MB on rank 0 */

static const char *const event_names[SGLD_EV_COUNT] = {"batch", "gradient", "allreduce", "update", "noise",
                                                        "sync", "I/O", "checkpoint", "monitor",
                                                        "control"};

/* The first stop signal received (0: none).  Set by the handler, read at every step. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    if (stop_signal && sig == SIGINT) { /* a second Ctrl-C: the user means it */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    if (!stop_signal) stop_signal = sig;
}

static const int stop_signals[3] = {SIGTERM, SIGINT, SIGUSR1};

const char *sgld_event_name(int ev) { return ev >= 0 && ev < SGLD_EV_COUNT ? event_names[ev] : "?"; }

/* Options that only make sense together (--checkpoint-every and --checkpoint-seconds without
 * --checkpoint are allowed, so that a config file can carry them).  Every rank finds the same. */
static sgld_status check_options(const sgld_config *cfg)
{
    SGLD_CHECK(!cfg->resume || cfg->checkpoint[0], SGLD_ERR_USAGE, "--resume needs --checkpoint FILE");
    /* sgld_config_parse checks it too; a configuration filled by hand is checked here. */
    SGLD_CHECK(cfg->superchains >= 0 && (cfg->superchains == 0 || cfg->chains % cfg->superchains == 0),
               SGLD_ERR_USAGE, "--superchains: %d does not divide --chains %d (every superchain holds "
               "C / K chains)", cfg->superchains, cfg->chains);
    return SGLD_OK;
}

/* The model and sampler types that cfg names (an unknown name lists the valid ones) and a
 * --task the model accepts.  Not collective: every rank finds the same. */
static sgld_status lookup(const sgld_config *cfg, const sgld_model_type **mt,
                          const sgld_sampler_type **st)
{
    char names[256];
    *mt = sgld_model_find(cfg->model);
    if (!*mt) {
        sgld_model_names(names, sizeof names);
        return sgld_error_set(SGLD_ERR_USAGE, "--model: unknown model '%s' (valid: %s)", cfg->model, names);
    }
    int classification;
    SGLD_TRY(sgld_model_task(*mt, cfg, &classification)); /* --task before any data are read */
    *st = sgld_sampler_find(cfg->sampler);
    if (!*st) {
        sgld_sampler_names(names, sizeof names);
        return sgld_error_set(SGLD_ERR_USAGE, "--sampler: unknown sampler '%s' (valid: %s)", cfg->sampler, names);
    }
    return SGLD_OK;
}

/* Draws a chain keeps: steps after burn-in, every thin-th, that the sampler keeps. */
static int64_t count_draws(const sgld_config *cfg, const sgld_sampler_type *s)
{
    if (!s->keep_draw || cfg->thin > cfg->steps - cfg->burnin) return (cfg->steps - cfg->burnin) / cfg->thin;
    int64_t n = 0;
    for (int64_t t = cfg->burnin + cfg->thin; t <= cfg->steps; t += cfg->thin) n += sgld_sampler_keep_draw(s, cfg, (uint64_t)t);
    return n;
}

/* Refuses settings under which a chain keeps no draw (a run that would write an empty sample
 * file and say nothing).  Not collective: every rank finds the same. */
static sgld_status check_draws(const sgld_config *cfg, const sgld_sampler_type *s)
{
    if (count_draws(cfg, s) > 0) return SGLD_OK;
    if (!s->keep_draw)
        return sgld_error_set(SGLD_ERR_USAGE, "no draws kept: --thin %lld with --steps %lld and --burnin %lld "
                              "keeps 0 draws per chain (one every thin steps after burn-in: thin must be "
                              "<= steps - burnin = %lld)", (long long)cfg->thin, (long long)cfg->steps,
                              (long long)cfg->burnin, (long long)(cfg->steps - cfg->burnin));
    return sgld_error_set(SGLD_ERR_USAGE, "no draws kept: --sampler %s keeps none of the "
                          "iterations --burnin %lld + k --thin %lld up to --steps %lld",
                          cfg->sampler, (long long)cfg->burnin, (long long)cfg->thin,
                          (long long)cfg->steps);
}

/* Loads the data, sets up the model and lets it check the data; the same status on every rank
 * of the grid. */
static sgld_status load(run *r, const sgld_model_type *mt)
{
    const sgld_config *cfg = r->cfg;
    int classification;
    SGLD_TRY(sgld_model_task(mt, cfg, &classification));
    sgld_data_options opt = {
        .path = cfg->data,
        .test_path = cfg->test_data[0] ? cfg->test_data : NULL,
        .test_fraction = cfg->test_fraction,
        .standardize = cfg->standardize,
        .seed = cfg->seed,
        .classification = classification,
        .n_classes = mt->n_classes,
    };
    sgld_status st = sgld_data_load(r->grid->chain_comm, r->grid->shard, r->grid->n_shards, &opt,
                                    &r->train, &r->test);
    if (st == SGLD_OK && cfg->batch_size > r->train->n_total)
        st = sgld_error_set(SGLD_ERR_USAGE, "--batch-size %lld is larger than the %lld training rows of %s",
                            (long long)cfg->batch_size, (long long)r->train->n_total, cfg->data);
    if (st == SGLD_OK)
        st = sgld_model_init(&r->model, mt, r->train->d, r->train->n_classes, cfg);
    /* The model's own refusal of targets it cannot take (its check_data hook): this rank's
     * training shard and the test set; the lowest failing rank's row is the one reported. */
    if (st == SGLD_OK && mt->check_data) {
        st = mt->check_data(&r->model, r->train);
        if (st == SGLD_OK && r->test) st = mt->check_data(&r->model, r->test);
    }
    return sgld_status_agree(r->grid->comm, st);
}

/* The state sizes of a chain (after the sampler's are known): the run's own DIV_STATE floats
 * with --on-divergence shrink|skip (parsed here, once), a checkpoint's record, the stats the
 * file holds besides the sampler's.  Not collective: every rank finds the same. */
static sgld_status size_state(run *r)
{
    const sgld_config *cfg = r->cfg;
    r->on_div = !strcmp(cfg->on_divergence, "shrink") ? DIV_SHRINK
              : !strcmp(cfg->on_divergence, "skip")   ? DIV_SKIP
                                                        : DIV_ABORT;
    r->state_size = r->sampler_state + (r->on_div != DIV_ABORT ? DIV_STATE : 0);
    SGLD_TRY(sgld_run_start_size(r));
    r->ck_state = r->state_size + (size_t)(r->grid->n_shards - 1) * r->sampler_local;
    r->n_run_stats = r->on_div != DIV_ABORT ? 3 : 2;
    if (cfg->checkpoint[0]) SGLD_TRY(sgld_checkpoint_config(cfg, &r->ck_config));
    SGLD_CHECK(r->model.n_params + r->ck_state <= INT_MAX, SGLD_ERR_USAGE,
               "--checkpoint: %zu parameters and state floats per chain exceed one MPI message",
               r->model.n_params + r->ck_state);
    return SGLD_OK;
}

/* The --dry-run plan. */
static void plan(const run *r, int64_t n_draws, sgld_run_plan *p)
{
    const sgld_config *cfg = r->cfg;
    int64_t saved = 0;
    for (int v = 0; v < r->model.n_vars; v++)
        if (r->model.vars[v].save) saved += (int64_t)r->model.vars[v].size;
    p->n_ranks = r->grid->size;
    p->n_params = (int64_t)r->model.n_params;
    p->state_floats = (int64_t)r->ck_state;
    p->draws_per_flush = cfg->flush_draws;
    p->steps_per_flush = cfg->flush_draws * cfg->thin;
    /* float32 parameters, float64 lp, step_size and stats, int64 draw coordinates */
    p->file_bytes = r->grid->n_chains * n_draws * (4 * saved + 8 * (r->n_run_stats + r->sampler->n_stats) + (r->on_div != DIV_ABORT)) + 2 * 8 * n_draws;
    p->checkpoint_bytes = cfg->checkpoint[0] ? 80 + (int64_t)strlen(r->ck_config) +
                                                   4 * r->grid->n_chains * (p->n_params + p->state_floats) + 4
                                             : 0;
    p->resume_step = p->resume_draws = -1;
}

/* Rank 0, unless --quiet: one stderr line before sampling when the sample file will pass
 * SGLD_RUN_LARGE_OUTPUT_BYTES, with the --thin that keeps it below (a run at thin 1 on a
 * network writes gigabytes, mostly waiting on I/O).  Not collective. */
static void warn_large_output(const run *r, int64_t n_draws)
{
    const sgld_config *cfg = r->cfg;
    if (r->grid->rank != 0 || cfg->quiet || !cfg->output[0]) return;
    sgld_run_plan p;
    plan(r, n_draws, &p);
    if ((double)p.file_bytes <= SGLD_RUN_LARGE_OUTPUT_BYTES) return;
    fprintf(stderr, "sgld-dist: warning: %s will hold about %.1f GB of draws (%lld per chain of %lld "
            "parameters); --thin %lld keeps it under %.0f GB\n", cfg->output, p.file_bytes / 1e9,
            (long long)n_draws, (long long)p.n_params,
            (long long)sgld_run_suggest_thin((double)p.file_bytes, cfg->thin), SGLD_RUN_LARGE_OUTPUT_BYTES / 1e9);
    fflush(stderr);
}

/* What of the draws reaches rep->draws on rank 0 with keep_draws: all when they fit in
 * KEEP_DRAWS_MAX_FLOATS; else only the parameters the summary prints (the first --max-rows, in
 * the summary's order), which still fit for any network; else none (rep->not_kept says why).
 * Sets r->kept_width and returns keep_draws as it stands.  Not collective. */
static int plan_kept(run *r, sgld_run_report *rep, int64_t n_draws, int keep_draws)
{
    const sgld_config *cfg = r->cfg;
    const double kept_floats = (double)n_draws * r->model.n_params * r->grid->n_chains;
    r->kept_width = r->model.n_params;
    if (kept_floats > KEEP_DRAWS_MAX_FLOATS && cfg->max_rows > 0 && (size_t)cfg->max_rows < r->kept_width &&
        (double)n_draws * (double)cfg->max_rows * r->grid->n_chains <= KEEP_DRAWS_MAX_FLOATS)
        r->kept_width = (size_t)cfg->max_rows;
    if (keep_draws && (cfg->resume || (double)n_draws * r->kept_width * r->grid->n_chains > KEEP_DRAWS_MAX_FLOATS ||
                       r->kept_width < r->model.n_params)) {
        rep->not_kept = cfg->resume                      ? SGLD_NOT_KEPT_RESUMED
                      : r->kept_width < r->model.n_params ? SGLD_KEPT_SUMMARY_ONLY
                                                          : SGLD_NOT_KEPT_TOO_LARGE;
        rep->kept_bytes = 4.0 * kept_floats;
        rep->kept_max_bytes = 4.0 * KEEP_DRAWS_MAX_FLOATS;
        if (rep->not_kept != SGLD_KEPT_SUMMARY_ONLY) keep_draws = 0;
    }
    rep->draws_width = r->kept_width;
    return keep_draws;
}

/* Every buffer of the run, sized once so that the loop allocates nothing: the step's, the
 * divergence copies, the writer's draw buffer and kept draws, the checkpoint's records.
 * Local; the caller agrees the status (run_free frees what was allocated). */
static sgld_status allocate(run *r, int keep_draws)
{
    const size_t P = r->model.n_params;
    const sgld_config *cfg = r->cfg;
    size_t ns = r->state_size;
    SGLD_ALLOC(r->theta, P);
    SGLD_ALLOC(r->state, ns);
    SGLD_ALLOC(r->work, 4 * P);
    SGLD_ALLOC(r->fused, P + 2);
    SGLD_ALLOC(r->grad, P);
    if (cfg->step_size_auto) { /* the run's own cfg, whose a the start sets */
        SGLD_ALLOC(r->cfg_auto, 1);
        *r->cfg_auto = *cfg;
        r->cfg = r->cfg_auto;
    }
    if (r->on_div != DIV_ABORT) {
        SGLD_ALLOC(r->theta_prev, P);
        SGLD_ALLOC(r->state_prev, ns);
    }
    SGLD_ALLOC(r->picked, (size_t)(r->train->n_total + 7) / 8);
    SGLD_ALLOC(r->batch, cfg->batch_size);
    SGLD_ALLOC(r->local, cfg->batch_size);
    if (r->writer) {
        /* Rows of the draw buffer: the draws between two flushes, at most the run's.  It and the
         * kept draws are written whole before the run ends, so they are touched here (memset):
         * the loop then takes no first-touch page faults (one per 4 KiB of every new draw:
         * 2 x 2345 a draw of the 784-1200-1200-10 MLP, measured) and the peak memory is the
         * same. */
        const int64_t n_draws = count_draws(cfg, r->sampler);
        const size_t rows = (size_t)(cfg->flush_draws < n_draws ? cfg->flush_draws : n_draws);
        for (int v = 0; v < r->model.n_vars; v++)
            if (r->model.vars[v].save) {
                SGLD_ALLOC(r->buf_var[v], rows * r->model.vars[v].size);
                memset(r->buf_var[v], 0, rows * r->model.vars[v].size * sizeof(float));
            }
        for (int k = 0; k < r->n_run_stats + r->sampler->n_stats; k++)
            SGLD_ALLOC(r->buf_stat[k], cfg->flush_draws);
        if (r->on_div != DIV_ABORT) SGLD_ALLOC(r->buf_diverging, cfg->flush_draws);
        if (keep_draws) {
            SGLD_ALLOC(r->kept, (size_t)n_draws * r->kept_width);
            memset(r->kept, 0, (size_t)n_draws * r->kept_width * sizeof(float));
        }
    }
    if (cfg->checkpoint[0]) {
        SGLD_ALLOC(r->ck_pack, P + r->ck_state);
        if (r->grid->rank == 0) SGLD_ALLOC(r->ck_all, (size_t)r->grid->n_chains * (P + r->ck_state));
    }
    return SGLD_OK;
}

/* Frees what the run holds (whatever part of it was set up) except the locks, which go after
 * (sgld_run_files_release). */
static void run_free(run *r)
{
    sgld_free(r->theta);
    sgld_free(r->state);
    sgld_free(r->work);
    sgld_free(r->fused);
    sgld_free(r->grad);
    sgld_free(r->cfg_auto);
    sgld_free(r->picked);
    sgld_free(r->batch);
    sgld_free(r->local);
    for (int v = 0; v < SGLD_MODEL_MAX_VARS; v++) sgld_free(r->buf_var[v]);
    for (int k = 0; k < 3 + SGLD_SAMPLER_MAX_STATS; k++) sgld_free(r->buf_stat[k]);
    sgld_free(r->buf_diverging);
    sgld_free(r->theta_prev);
    sgld_free(r->state_prev);
    sgld_free(r->kept);
    sgld_free(r->ck_config);
    sgld_free(r->ck_pack);
    sgld_free(r->ck_all);
    sgld_run_monitor_free(r);
    sgld_model_finalize(&r->model);
    sgld_data_destroy(&r->train);
    sgld_data_destroy(&r->test);
    sgld_grid_destroy(&r->grid);
}

/* The sample file to sample into (none without --output): a resumed run's reopened and cut
 * back to the checkpoint's draws_first, a fresh run's created.  Collective over the grid, so
 * the status is shared.  On failure no file is left open; a failed create leaves nothing (and
 * never touches an existing file), a failure after it removes the file this run made. */
static sgld_status open_output(run *r, int64_t draws_first)
{
    const sgld_config *cfg = r->cfg;
    if (!cfg->output[0]) return SGLD_OK;
    sgld_status st = cfg->resume ? sgld_run_output_reopen(r, draws_first) : sgld_run_output_create(r);
    if (st != SGLD_OK && r->out) {
        sgld_samples_close(&r->out);
        if (!cfg->resume) sgld_samples_discard(r->grid->comm, cfg->output);
    }
    return st;
}

size_t sgld_run_draw_batch(run *r, uint64_t step, uint32_t purpose)
{
    const int64_t N = r->train->n_total, B = r->cfg->batch_size;
    const int64_t lo = r->train->row_begin, hi = lo + r->train->n_local;
    size_t n_local = 0;
    if (B == N) { /* full batch: no randomness needed */
        for (int64_t i = 0; i < r->train->n_local; i++) r->local[n_local++] = i;
        return n_local;
    }
    for (int64_t k = 0; k < B; k++) {
        int64_t j = N - B + k;
        int64_t t = (int64_t)sgld_rng_below(&r->rng, step, purpose, (uint64_t)k, (uint64_t)j + 1);
        int64_t pick = (r->picked[t >> 3] >> (t & 7)) & 1 ? j : t;
        r->picked[pick >> 3] |= (unsigned char)(1u << (pick & 7));
        r->batch[k] = pick;
    }
    for (int64_t k = 0; k < B; k++) {
        int64_t g = r->batch[k];
        r->picked[g >> 3] = 0;
        if (g >= lo && g < hi) r->local[n_local++] = g - lo;
    }
    return n_local;
}

/* An in-place MPI_Allreduce (sum) of n floats over the chain, timed as one allreduce.
 * Collective over the chain. */
static sgld_status chain_allreduce(run *r, float *buf, size_t n)
{
    sgld_timer_begin(&r->timer, SGLD_EV_ALLREDUCE);
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, r->grid->chain_comm);
    sgld_timer_end(&r->timer, SGLD_EV_ALLREDUCE);
    SGLD_CHECK(rc == MPI_SUCCESS, SGLD_ERR_MPI, "MPI_Allreduce of %zu floats over chain %d failed (code %d)", n,
               r->grid->chain, rc);
    return SGLD_OK;
}

/* This rank's batch sums at theta into r->fused (gradient, log-likelihood, stop flag), summed
 * over the chain by one allreduce.  A centred estimator's batch gradient at the centre goes to
 * grad (timed as `control`) and *at_centre.  Collective over the chain. */
static sgld_status batch_sums(run *r, const float *theta, float *grad, double *at_centre_out)
{
    const size_t P = r->model.n_params;
    const sgld_model *m = &r->model;
    memset(r->fused, 0, (P + 2) * sizeof(float));
    double at_centre = 0.0;
    if (r->gtype->centred) { /* grad holds the centre's batch sum until the combine */
        sgld_timer_begin(&r->timer, SGLD_EV_CONTROL);
        at_centre = sgld_gradient_at_centre(r->gtype, m, r->train, r->local, r->n_local, r->state + r->grad_at, grad);
        sgld_timer_end(&r->timer, SGLD_EV_CONTROL);
    }
    sgld_timer_begin(&r->timer, SGLD_EV_GRAD);
    r->fused[P] = (float)sgld_gradient_local(r->gtype, m, r->train, r->local, r->n_local, theta, grad, at_centre,
                                             r->fused);
    /* The stop flag rides along in the sum (no collective of its own); a one-rank chain reads
     * its own flag. */
    r->fused[P + 1] = stop_signal ? 1.0f : 0.0f;
    sgld_timer_end(&r->timer, SGLD_EV_GRAD);
    if (r->grid->n_shards > 1) SGLD_TRY(chain_allreduce(r, r->fused, P + 2));
    if (r->fused[P + 1] > 0.0f) r->chain_stop = 1;
    *at_centre_out = at_centre;
    return SGLD_OK;
}

/* The gradient estimate (--gradient, gradient.h) at theta on this step's batch (r->local):
 * batch_sums, then sgld_gradient_combine (the minibatch log posterior in *lp).  Collective
 * over the chain (sgld_gradient_fn). */
sgld_status sgld_run_gradient(void *self, const float *theta, float *grad, double *lp)
{
    run *r = self;
    double at_centre;
    SGLD_TRY(batch_sums(r, theta, grad, &at_centre));
    sgld_gradient_combine(r->gtype, &r->model, r->state + r->grad_at, r->scale, theta, r->fused,
                          r->fused[r->model.n_params], grad, lp);
    return SGLD_OK;
}

/* The step's gradient left unformed for a sampler that folds the prior (r->fold): the batch
 * sums go to ctx->lik_sum and *lp = N/B times the batch log-likelihood + the log prior from
 * theta's sum of squares (the last step's, or one pass now).  Collective over the chain. */
static sgld_status gradient_unformed(run *r, sgld_step_ctx *ctx, double *lp)
{
    const size_t P = r->model.n_params;
    double at_centre;
    SGLD_TRY(batch_sums(r, r->theta, r->grad, &at_centre));
    if (!r->theta_ss_ok) r->theta_ss = sgld_rng_sumsq(P, r->theta);
    *lp = r->scale * r->fused[P] + sgld_model_log_prior_sumsq(&r->model, r->theta_ss);
    ctx->lik_sum = r->fused;
    ctx->lik_scale = r->scale;
    ctx->prior_prec = r->fold_prec;
    return SGLD_OK;
}

/* sgld_chain_sum_fn: an in-place MPI_Allreduce (sum) over the chain, like the gradient's (a
 * one-rank chain has nothing to add).  Timed and counted as an allreduce. */
static sgld_status chain_sum(void *self, float *buf, size_t n)
{
    run *r = self;
    if (r->grid->n_shards == 1) return SGLD_OK;
    SGLD_CHECK(n <= INT_MAX, SGLD_ERR_USAGE, "%zu floats to sum over the chain exceed one MPI message", n);
    return chain_allreduce(r, buf, n);
}

/* Rank 0's progress line: a few times a second on a TTY (carriage return), once a second as
 * plain lines with --progress elsewhere. */
typedef struct progress {
    int on, tty;
    double start, last;
    char mon[48]; /* the monitor's figures of the last flush point (sgld_run_monitor_format) */
} progress;

static void progress_show(progress *p, int64_t t, int64_t steps, double lp, double eps, int final)
{
    double now = MPI_Wtime();
    if (!p->on || (!final && now - p->last < (p->tty ? 0.25 : 1.0))) return;
    p->last = now;
    double rate = t / fmax(now - p->start, 1e-9);
    fprintf(stderr, "%sstep %lld/%lld %5.1f%%  %.0f steps/s  ETA %.1f s  lp %.6g  eps %.3g%s%s",
            p->tty ? "\r" : "", (long long)t, (long long)steps, 100.0 * t / steps, rate,
            (steps - t) / fmax(rate, 1e-9), lp, eps, p->mon, p->tty ? (final ? "\n" : "  ") : "\n");
    fflush(stderr);
}

/* FNV-1a of a byte buffer (to compare parameter copies across ranks cheaply). */
static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Step t of the chain on this rank: the minibatch, the gradient, the sampler's step, the
 * divergence checks and, when kept, the draw.  Returns the local status (failures are agreed
 * at sync points); *lp is the minibatch log posterior, *eps the step size.  Collective over the
 * chain (the gradient's allreduce). */
static sgld_status step(run *r, sgld_step_ctx *ctx, int64_t t, int64_t t_first, double *lp, double *eps)
{
    const sgld_config *cfg = r->cfg;
    sgld_timer_begin(&r->timer, SGLD_EV_BATCH);
    r->n_local = sgld_run_draw_batch(r, (uint64_t)t, SGLD_RNG_BATCH);
    sgld_timer_end(&r->timer, SGLD_EV_BATCH);
    /* 'update': the step without the gradient, allreduces and normals nested in it */
    sgld_timer_begin(&r->timer, SGLD_EV_UPDATE);
    sgld_status st = sgld_run_start_recentre(r, t);
    ctx->lik_sum = NULL;
    if (st == SGLD_OK) st = r->fold ? gradient_unformed(r, ctx, lp) : sgld_run_gradient(r, r->theta, r->grad, lp);
    if (st == SGLD_OK && !isfinite(*lp)) {
        ctx->lik_sum = NULL; /* the restored theta's gradient is formed */
        st = sgld_run_div_lp_not_finite(r, t, t > t_first + 1, lp);
    }
    *eps = sgld_run_div_before_step(r, sgld_sampler_step_size(r->sampler, cfg, (uint64_t)t));
    ctx->step = (uint64_t)t;
    ctx->eps = *eps;
    ctx->lp = *lp;
    double ss = NAN;
    ctx->theta_sumsq = r->fold ? &ss : NULL;
    r->theta_ss_ok = 0;
    if (st == SGLD_OK) st = r->sampler->step(ctx, r->theta, r->grad, r->state);
    /* A finite sum of squares from the sampler's pass means every theta is finite. */
    if (st == SGLD_OK && isfinite(ss)) {
        r->theta_ss = ss;
        r->theta_ss_ok = 1;
    } else if (st == SGLD_OK) {
        st = sgld_run_div_check_theta(r, t);
    }
    if (st == SGLD_OK && t > cfg->burnin && (t - cfg->burnin) % cfg->thin == 0 && r->writer &&
        sgld_sampler_keep_draw(r->sampler, cfg, (uint64_t)t))
        sgld_run_output_record(r, ctx, *lp);
    sgld_timer_end(&r->timer, SGLD_EV_UPDATE);
    return st;
}

/* The first agreement of a sync point after step t: failure (every rank returns the agreed
 * status), then the largest of {stop signal, step, checkpoint due by --checkpoint-seconds}
 * (run.h, step 3), which sets r->stop_at when a stop was requested.  Sets *checkpoint when
 * one is due.  Collective over the grid. */
static sgld_status agree(run *r, sgld_run_report *rep, int64_t t, sgld_status local, int *checkpoint)
{
    const sgld_config *cfg = r->cfg;
    const int64_t ck_every = cfg->checkpoint[0] ? cfg->checkpoint_every : 0;
    SGLD_TRY(sgld_status_agree(r->grid->comm, local));
    int64_t in[3] = {r->chain_stop ? (stop_signal ? stop_signal : 1) : 0, t,
                     r->grid->rank == 0 && cfg->checkpoint_seconds > 0 &&
                         MPI_Wtime() - r->last_checkpoint >= cfg->checkpoint_seconds},
            out[3];
    SGLD_MPI(MPI_Allreduce(in, out, 3, MPI_INT64_T, MPI_MAX, r->grid->comm));
    *checkpoint = out[2] || (ck_every && t % ck_every == 0) || t == cfg->steps;
    if (out[0]) {
        r->stop_at = out[1];
        rep->stop_signal = out[0] > 1 ? (int)out[0] : 0;
    }
    return SGLD_OK;
}

/* A sync point after step t (collective over the grid; the stop protocol of run.h): the ranks
 * agree on failure and on a stop, flush the buffered draws and, when due, checkpoint.  Returns
 * the agreed status; *stop is set when the run ends here.  A rank that learns here of a stop
 * at a later step returns at once (*stop unset) to catch up.  Each agreement is one 'sync'. */
static sgld_status sync_point(run *r, sgld_run_report *rep, int64_t t, sgld_status local, int *stop)
{
    const sgld_config *cfg = r->cfg;
    int checkpoint = 0;
    sgld_status st = SGLD_OK;
    *stop = 0;
    sgld_timer_begin(&r->timer, SGLD_EV_SYNC);
    if (!r->stop_at) {
        st = agree(r, rep, t, local, &checkpoint);
        if (st == SGLD_OK && r->stop_at) { /* the agreement on the steps run since is another */
            sgld_timer_end(&r->timer, SGLD_EV_SYNC);
            if (t < r->stop_at) return SGLD_OK; /* others are ahead: catch up with them */
            sgld_timer_begin(&r->timer, SGLD_EV_SYNC);
        }
    }
    if (st == SGLD_OK && r->stop_at) { /* everyone is at stop_at: agree on the steps run since */
        st = sgld_status_agree(r->grid->comm, local);
        checkpoint = 1;
    }
    int64_t n_buf = 0;
    if (st == SGLD_OK && MPI_Allreduce(&r->n_buf, &n_buf, 1, MPI_INT64_T, MPI_MAX, r->grid->comm) != MPI_SUCCESS)
        st = sgld_error_set(SGLD_ERR_MPI, "MPI_Allreduce of the buffered draws failed");
    sgld_timer_end(&r->timer, SGLD_EV_SYNC);
    if (st != SGLD_OK) return st;
    if (r->mon) { /* the writer's own draws, before the flush empties the buffer */
        sgld_timer_begin(&r->timer, SGLD_EV_MONITOR);
        sgld_run_monitor_feed(r, r->n_buf);
        sgld_timer_end(&r->timer, SGLD_EV_MONITOR);
    }
    /* Every rank is at step t here, so --stop-when's agreed decision stops them all at t (the
     * signal protocol's last meeting, without the catching up).  The figures are those of the
     * draws up to t, so they are taken before the flush, which writes them with the draws.  A
     * row of the file's monitor table goes with the flushes of the schedule (every
     * --flush-every draws, --steps, a --stop-when stop), not with those a signal or a
     * checkpoint alone brought forward, so a resumed run has the uninterrupted run's rows. */
    if (r->mon) {
        int met;
        SGLD_TRY(sgld_run_monitor_check(r, &met)); /* times itself: monitor and sync */
        if (met && t < cfg->steps) { /* at --steps the run ends complete anyway */
            r->stop_at = t;
            rep->converged = 1;
            checkpoint = 1;
        }
        if (n_buf > 0 && (t % (cfg->flush_draws * cfg->thin) == 0 || t == cfg->steps || met))
            SGLD_TRY(sgld_run_monitor_stage(r, t));
    }
    r->n_buf = n_buf; /* non-writers hold no draws but take part with the same count */
    if (r->out && n_buf > 0) {
        sgld_timer_begin(&r->timer, SGLD_EV_IO);
        st = sgld_run_output_flush(r);
        sgld_timer_end(&r->timer, SGLD_EV_IO);
        SGLD_TRY(st);
    }
    r->n_buf = 0;
    r->n_draws_done += n_buf;
    if (checkpoint && cfg->checkpoint[0]) {
        sgld_timer_begin(&r->timer, SGLD_EV_CHECKPOINT);
        st = sgld_run_checkpoint_save(r, t);
        sgld_timer_end(&r->timer, SGLD_EV_CHECKPOINT);
        SGLD_TRY(st);
        rep->n_checkpoints++;
        r->last_checkpoint = MPI_Wtime();
    }
    rep->last_step = t;
    *stop = r->stop_at != 0;
    return SGLD_OK;
}

/* Steps t_first + 1 .. --steps, each followed by a sync point when one is due.  Returns the
 * agreed status of a failed sync point, else SGLD_OK (at --steps or an agreed stop).
 * Collective over the grid. */
static sgld_status loop(run *r, sgld_run_report *rep, sgld_step_ctx *ctx, progress *pg, int64_t t_first,
                        double *lp)
{
    const sgld_config *cfg = r->cfg;
    /* Sync points every flush_draws * thin steps: at most flush_draws draws fall between two. */
    const int64_t sync_every = cfg->flush_draws * cfg->thin;
    const int64_t ck_every = cfg->checkpoint[0] ? cfg->checkpoint_every : 0;
    sgld_status local = SGLD_OK;
    for (int64_t t = t_first + 1; t <= cfg->steps; t++) {
        if (local == SGLD_OK) {
            double eps;
            local = step(r, ctx, t, t_first, lp, &eps);
            progress_show(pg, t, cfg->steps, *lp, eps, 0);
        }
        /* A chain that failed or was told to stop goes straight to the next agreement, which
         * the other chains enter at their next sync point; after a stop was agreed, all meet
         * again at the agreed step. */
        int due = r->stop_at ? t == r->stop_at
                             : local != SGLD_OK || r->chain_stop || t == cfg->steps || t % sync_every == 0 ||
                                   (ck_every && t % ck_every == 0);
        if (!due) continue;
        int stop;
        sgld_status st = sync_point(r, rep, t, local, &stop);
        sgld_run_monitor_format(r, pg->mon, sizeof pg->mon);
        if (st != SGLD_OK || stop) return st;
    }
    return SGLD_OK;
}

/* The run from step t_first + 1 (0: a fresh start, which initializes theta and the sampler's
 * state).  Returns the agreed status; on success rep holds the steps run, this rank's event
 * times and counts and its final parameters' hash.  The stop protocol is described in run.h.
 * Collective over the grid. */
static sgld_status sample(run *r, sgld_run_report *rep, int64_t t_first)
{
    const sgld_config *cfg = r->cfg;
    const size_t P = r->model.n_params;
    sgld_timer_init(&r->timer, SGLD_EV_COUNT, event_names);
    progress pg = {.on = r->grid->rank == 0 && !cfg->quiet && (cfg->progress || isatty(2)),
                   .tty = isatty(2), .start = MPI_Wtime()};
    sgld_step_ctx ctx = {.n_params = P, .temperature = cfg->temperature, .rng = &r->rng, .work = r->work,
                         .cfg = cfg, .opts = sgld_config_opts(cfg, r->sampler), .model = &r->model,
                         .gradient = sgld_run_gradient, .chain_sum = chain_sum,
                         .gradient_self = r};
    double lp = 0.0;
    r->fold = r->sampler->folds_prior && !r->gtype->centred && sgld_model_prior_single(&r->model, &r->fold_prec);
    r->theta_ss_ok = 0;
    r->last_checkpoint = MPI_Wtime();
    r->stop_at = 0;
    r->div_at_draw = sgld_run_div_count(r);
    rep->first_step = rep->last_step = t_first;
    sgld_rng_time_normals(&r->rng, &r->timer, SGLD_EV_NOISE); /* the sampler's, inside its step */
    /* A resumed run whose draws already meet --stop-when (the checkpoint of a run it stopped)
     * is complete as it stands. */
    sgld_status st = SGLD_OK;
    int met = 0;
    if (t_first > 0 && r->mon) {
        st = sgld_run_monitor_check(r, &met);
        sgld_run_monitor_format(r, pg.mon, sizeof pg.mon);
    }
    rep->converged = met;
    if (st == SGLD_OK && !met) st = loop(r, rep, &ctx, &pg, t_first, &lp);
    sgld_rng_time_normals(NULL, NULL, 0);
    if (st != SGLD_OK) return st;
    rep->incomplete = rep->last_step < cfg->steps && !rep->converged;
    rep->monitor_ess_min = r->mon ? r->mon_ess : NAN;
    rep->monitor_rhat_max = r->mon ? r->mon_rhat : NAN;
    rep->monitor_mess = r->mon ? r->mon_mess : NAN;
    rep->monitor_draws = r->mon ? r->mon_draws : 0;
    rep->theta_hash = fnv1a(r->theta, P * sizeof(float));
    progress_show(&pg, rep->last_step, cfg->steps, lp,
                  sgld_sampler_step_size(r->sampler, cfg, (uint64_t)rep->last_step), 1);
    sgld_timer_stop(&r->timer);
    rep->seconds = r->timer.wall;
    for (int e = 0; e < SGLD_EV_COUNT; e++) {
        rep->event_seconds[e] = r->timer.seconds[e];
        rep->event_count[e] = r->timer.count[e];
    }
    return SGLD_OK;
}

/* --log-view: min, max and mean of every event over the ranks.  Collective over the grid. */
static sgld_status reduce_events(const run *r, sgld_run_report *rep)
{
    sgld_timer_summary sum;
    SGLD_TRY(sgld_timer_reduce(&r->timer, r->grid->comm, &sum));
    memcpy(rep->event_min, sum.min, sizeof rep->event_min);
    memcpy(rep->event_max, sum.max, sizeof rep->event_max);
    memcpy(rep->event_mean, sum.mean, sizeof rep->event_mean);
    rep->seconds_mean = sum.wall_mean;
    rep->n_ranks = sum.n_ranks;
    return SGLD_OK;
}

/* Gathers the writers' kept draws to rank 0 (collective over the writers). */
static sgld_status gather_draws(run *r, sgld_run_report *rep)
{
    if (!r->writer) return SGLD_OK;
    const size_t per_chain = (size_t)r->n_kept * r->kept_width;
    if (r->grid->rank == 0) {
        rep->draws = sgld_malloc(per_chain * (size_t)r->grid->n_chains * sizeof(float));
        SGLD_CHECK(rep->draws, SGLD_ERR_NOMEM, "out of memory gathering %zu draws", per_chain * r->grid->n_chains);
    }
    SGLD_MPI(MPI_Gather(r->kept, (int)per_chain, MPI_FLOAT, rep->draws, (int)per_chain, MPI_FLOAT, 0,
                        r->grid->shard_comm));
    return SGLD_OK;
}

/* Posterior predictive metrics on the test set from all kept draws (rank 0), with the same
 * accumulators as `sgld-ess predict` (ensemble.h; a model's loglik_rows gives the test
 * log-likelihood, as there). */
static sgld_status evaluate(run *r, sgld_run_report *rep)
{
    const sgld_dataset *te = r->test;
    const sgld_model *m = &r->model;
    const int classify = m->classification, K = sgld_model_n_outputs(m);
    const int64_t n = te->n_total, S = (int64_t)rep->n_chains * rep->n_draws;
    sgld_ens_acc acc;
    SGLD_TRY(sgld_ens_acc_init(&acc, n, classify ? K : 0, 1));
    double *out = sgld_calloc((size_t)n * K, sizeof *out), *mu = NULL, *var = NULL, *logp = NULL;
    if (!classify) {
        mu = sgld_calloc((size_t)n, sizeof *mu);
        var = sgld_calloc((size_t)n, sizeof *var);
        if (m->type->loglik_rows) logp = sgld_calloc((size_t)n, sizeof *logp);
    }
    sgld_status st = SGLD_OK;
    if (!out || (!classify && (!mu || !var || (m->type->loglik_rows && !logp))))
        st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory evaluating %lld draws on %lld test rows",
                            (long long)S, (long long)n);
    for (int64_t s = 0; s < S && st == SGLD_OK; s++) {
        m->type->predict(m, rep->draws + (size_t)s * m->n_params, te->X, (size_t)n, out);
        if (classify) {
            sgld_ens_acc_add_class(&acc, out, te->y);
            continue;
        }
        for (int64_t i = 0; i < n; i++) {
            mu[i] = out[2 * i];
            var[i] = out[2 * i + 1];
        }
        if (logp) m->type->loglik_rows(m, rep->draws + (size_t)s * m->n_params, te->X, te->y, (size_t)n, logp);
        sgld_ens_acc_add_reg_logp(&acc, mu, var, logp, te->y);
    }
    if (st == SGLD_OK && S > 0) {
        rep->test_accuracy = rep->test_rmse = NAN;
        if (classify) {
            sgld_ens_class_summary cs;
            st = sgld_ens_class_scores(&acc, te->y, &cs, NULL);
            rep->test_accuracy = cs.accuracy;
            rep->test_nll = cs.nll;
        } else {
            sgld_ens_reg_summary rs;
            st = sgld_ens_reg_scores(&acc, te->y, &rs, NULL);
            rep->test_rmse = rs.rmse;
            rep->test_nll = -rs.loglik;
        }
        rep->has_test = st == SGLD_OK;
    }
    sgld_free(out);
    sgld_free(mu);
    sgld_free(var);
    sgld_free(logp);
    sgld_ens_acc_finalize(&acc);
    return st;
}

sgld_status sgld_run(MPI_Comm comm, const sgld_config *cfg, int keep_draws, sgld_run_report *rep)
{
    memset(rep, 0, sizeof *rep);
    run r = {.cfg = cfg, .out_lock = {.fd = -1}, .ck_lock = {.fd = -1}};
    const sgld_model_type *mt;
    sgld_status st;
    int64_t t_first = 0, draws_first = 0;

    /* Usage errors are found by every rank alike, so no agreement is needed for them. */
    SGLD_TRY(check_options(cfg));
    SGLD_TRY(lookup(cfg, &mt, &r.sampler));
    SGLD_TRY(check_draws(cfg, r.sampler));
    SGLD_TRY(sgld_grid_create(comm, cfg->chains, &r.grid));
    st = sgld_status_agree(r.grid->comm, r.grid->rank == 0 ? sgld_run_files_check(cfg) : SGLD_OK);
    if (st != SGLD_OK) goto done;
    r.writer = r.grid->shard == 0;
    r.rng = (sgld_rng){cfg->seed, (uint32_t)r.grid->chain};
    r.n_draws_done = 0;
    SGLD_TRY_GOTO(load(&r, mt), st, done);
    if (cfg->check_gradient) {
        const sgld_gradcheck_options gopt = {.n_points = cfg->check_gradient_points, .tol = cfg->check_gradient_tol,
                                             .batch_rows = cfg->batch_size, .seed = cfg->seed};
        st = sgld_status_agree(r.grid->comm,
                               sgld_model_check_gradient(r.grid->chain_comm, &r.model, r.train, &gopt, &rep->gradcheck));
        rep->gradient_checked = st == SGLD_OK;
        goto done;
    }
    st = sgld_status_agree(r.grid->comm, r.grid->rank == 0 ? sgld_run_files_check_checkpoint_dir(cfg) : SGLD_OK);
    if (st != SGLD_OK) goto done;
    /* ksgld: a sampler that needs the model's layers checks them and sizes its state.  The
     * status is agreed: a prepare that reads a file (a plug-in's) may fail on some ranks only. */
    st = SGLD_OK;
    if (r.sampler->prepare)
        st = r.sampler->prepare(&r.model, cfg, r.grid->n_shards, (double)r.train->n_total, &r.sampler_state,
                                &r.sampler_local);
    else
        r.sampler_state = sgld_sampler_state_size(r.sampler, r.model.n_params);
    st = sgld_status_agree(r.grid->comm, st == SGLD_OK ? size_state(&r) : st);
    if (st != SGLD_OK) goto done;

    int64_t n_draws = count_draws(cfg, r.sampler);
    rep->n_chains = r.grid->n_chains;
    rep->n_shards = r.grid->n_shards;
    rep->n_ranks = r.grid->size;
    rep->n_draws = n_draws;
    rep->n_train = r.train->n_total;
    rep->n_test = r.test ? r.test->n_total : 0;
    rep->model = r.model;
    rep->model.impl = NULL; /* the layout only: the type's data are freed with the run */
    if (cfg->dry_run) {
        rep->dry_run = 1;
        plan(&r, n_draws, &rep->plan);
        if (cfg->resume) {
            st = sgld_run_checkpoint_restore(&r, 0, &t_first, &draws_first);
            rep->plan.resume_step = t_first;
            rep->plan.resume_draws = draws_first;
        }
        goto done;
    }

    keep_draws = plan_kept(&r, rep, n_draws, keep_draws);
    st = sgld_status_agree(r.grid->comm, allocate(&r, keep_draws));
    if (st == SGLD_OK) st = sgld_status_agree(r.grid->comm, sgld_run_monitor_create(&r));
    if (st != SGLD_OK) goto done;
    st = sgld_status_agree(r.grid->comm, r.grid->rank == 0 ? sgld_run_files_claim(&r) : SGLD_OK);
    if (st != SGLD_OK) goto done;
    if (cfg->resume) {
        /* The checkpoint is checked before the sample file is touched. */
        SGLD_TRY_GOTO(sgld_run_checkpoint_restore(&r, 1, &t_first, &draws_first), st, done);
        r.n_draws_done = draws_first;
        if (t_first >= cfg->steps) { /* a complete run: nothing to sample, no file to touch */
            rep->first_step = rep->last_step = t_first;
            st = sgld_run_output_check_complete(&r, draws_first);
            goto done;
        }
        SGLD_TRY_GOTO(sgld_run_monitor_restore(&r, draws_first), st, done);
        sgld_run_start_resumed(&r);
    } else {
        SGLD_TRY_GOTO(sgld_run_start_fresh(&r), st, done);
    }
    SGLD_TRY_GOTO(open_output(&r, draws_first), st, done);

    if (t_first < cfg->steps) warn_large_output(&r, n_draws);
    /* --threads: OpenBLAS's and the noise's for the loop, then what they were */
    const int blas_threads = openblas_get_num_threads(), noise_threads = sgld_rng_threads();
    openblas_set_num_threads(cfg->threads);
    sgld_rng_set_threads(cfg->threads);
    st = sample(&r, rep, t_first);
    openblas_set_num_threads(blas_threads);
    sgld_rng_set_threads(noise_threads);
    if (st == SGLD_OK && rep->converged) rep->n_draws = r.n_draws_done;
    if (st == SGLD_OK) st = sgld_run_monitor_write(&r, rep);
    if (r.out) {
        sgld_status cst = sgld_samples_close(&r.out);
        if (st == SGLD_OK) st = cst;
    }
    if (st != SGLD_OK) goto done;
    SGLD_TRY_GOTO(reduce_events(&r, rep), st, done);
    st = sgld_status_agree(r.grid->comm, sgld_run_div_gather(&r, rep));
    if (st != SGLD_OK) goto done;
    if (keep_draws && !rep->incomplete) {
        st = sgld_status_agree(r.grid->comm, gather_draws(&r, rep));
        if (st == SGLD_OK && r.grid->rank == 0 && r.test && r.kept_width == r.model.n_params)
            st = evaluate(&r, rep);
        st = sgld_status_agree(r.grid->comm, st);
    }
done:
    run_free(&r);
    /* After the sample file is closed and the last checkpoint saved (or a failed run's file
     * discarded). */
    sgld_run_files_release(&r);
    return st;
}

/* Installs the stop handlers (sgld_run_signals(1)) or restores the previous ones (0).  The
 * handler only records the first signal; the loop stops at the next agreement (run.h).  Not
 * collective. */
void sgld_run_signals(int on)
{
    static struct sigaction saved[3];
    static int installed;
    if (on && !installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        stop_signal = 0;
        for (int i = 0; i < 3; i++) sigaction(stop_signals[i], &sa, &saved[i]);
        installed = 1;
    } else if (!on && installed) {
        for (int i = 0; i < 3; i++) sigaction(stop_signals[i], &saved[i], NULL);
        installed = 0;
    }
}

void sgld_run_report_free(sgld_run_report *rep)
{
    sgld_free(rep->draws);
    rep->draws = NULL;
    sgld_free(rep->div_count);
    rep->div_count = NULL;
    sgld_free(rep->div_eps_scale);
    rep->div_eps_scale = NULL;
}
int64_t sgld_run_suggest_thin(double file_bytes, int64_t thin)
{
    if (!(file_bytes > SGLD_RUN_LARGE_OUTPUT_BYTES)) return thin;
    double k = ceil(file_bytes / SGLD_RUN_LARGE_OUTPUT_BYTES);
    return k * (double)thin >= (double)INT64_MAX ? INT64_MAX : thin * (int64_t)k;
}
