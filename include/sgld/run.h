/* run.h - one complete run: data -> chains x shards -> sampler -> sample file.
 *
 * One step of a chain (every rank of the chain runs it; see DESIGN.md):
 *   batch   = B distinct global row indices from the chain's stream (Floyd's algorithm,
 *             purpose BATCH, counter = step), the same on every rank of the chain
 *   g_local = sum over the batch rows this rank holds of grad log p(y | x, theta)
 *   g       = allreduce(g_local over chain_comm) * N / B + grad log p(theta)
 *             (one in-place MPI_Allreduce of one fused float buffer: gradient, log-likelihood)
 *   theta   = sampler->step(theta, g, eps_t, noise of (seed, chain, step))
 * so the copies of a chain stay bitwise identical without a broadcast and the chain does not
 * depend on the number of shards (up to floating-point summation order).
 *
 * Draws are kept after --burnin every --thin steps and appended collectively every
 * --flush-every draws; before each append the ranks agree on failure, so a chain that fails
 * (e.g. diverges) stops every rank at the next flush instead of hanging them.
 *
 * Checkpoints (--checkpoint, checkpoint.h) are taken at flush points, right after a flush, so
 * the saved draw count is the sample file's.  SIGTERM, SIGINT and SIGUSR1 stop a run cleanly:
 *   1. the handler only sets a flag;
 *   2. each step's gradient allreduce over the chain carries it (one more float in the fused
 *      buffer, summed), so every rank of a chain learns of it at the same step; a one-rank
 *      chain (S = 1) has no allreduce and reads its own flag;
 *   3. a chain that learned of it enters the grid's next flush-point agreement (the existing
 *      sgld_status_agree plus one MPI_MAX allreduce of {stop, step, checkpoint due}) right
 *      away instead of at the flush point; chains not yet told enter it at the flush point
 *      as usual, so the collectives match and all ranks learn the largest step T reached;
 *   4. every chain runs on to step T, then all agree on failure, flush, checkpoint and return
 *      with rep->incomplete = 1 (sgld-dist exits 3).
 * No collective is added per step.  A stop needs at most one flush interval
 * (--flush-every x --thin steps) when only some ranks were signalled, a step or two when all
 * were (mpirun forwards SIGUSR1 and SIGTERM to every rank; SLURM signals every task).
 * --stop-when (src/run/monitor.c) ends a run at the flush point after step T where the
 * monitored draws meet its rule: every rank is at T there, so it only sets the agreed step to T
 * (no catching up): flush, checkpoint, return complete with rep->converged = 1 (exit 0).
 * --resume restores theta and the sampler state from the checkpoint, cuts the sample file back
 * to the checkpoint's draws and continues at the next step: the counter-based streams are
 * keyed by step, so the continued chain is bitwise the uninterrupted one. */
#ifndef SGLD_RUN_H
#define SGLD_RUN_H

#include <mpi.h>
#include <stdint.h>

#include "sgld/config.h"
#include "sgld/model.h"
#include "sgld/status.h"

/* Named timing events (seconds on rank 0).  `sync` is the wait at flush points where all
 * ranks agree on failure (it absorbs the difference in speed between chains); `monitor` the
 * convergence monitor's work at flush points (src/run/monitor.c); `control` a centred gradient
 * estimator's extra work (the batch's gradient at the centre, and the full-data gradient when
 * the centre moves: gradient.h). */
enum sgld_event { SGLD_EV_BATCH, SGLD_EV_GRAD, SGLD_EV_ALLREDUCE, SGLD_EV_UPDATE, SGLD_EV_NOISE,
                  SGLD_EV_SYNC, SGLD_EV_IO, SGLD_EV_CHECKPOINT,
                  SGLD_EV_MONITOR, SGLD_EV_CONTROL, SGLD_EV_COUNT };

/* What --dry-run found (the plan), filled instead of running. */
typedef struct sgld_run_plan {
    int n_ranks;
    int64_t n_params, state_floats; /* per chain */
    int64_t draws_per_flush, steps_per_flush;
    int64_t file_bytes;             /* draws and stats of all chains (HDF5 overhead excluded) */
    int64_t checkpoint_bytes;       /* one checkpoint file */
    int64_t resume_step, resume_draws; /* --resume: the checkpoint's position, else -1 */
} sgld_run_plan;

typedef struct sgld_run_report {
    int n_chains, n_shards;
    int64_t n_draws;        /* per chain */
    int64_t n_train, n_test;
    sgld_model model;       /* the layout, for naming elements */
    float *draws;           /* rank 0 only, when kept: [chain][draw][draws_width]; else NULL */
    size_t draws_width;     /* n_params, or the first --max-rows parameters only
                             * (not_kept = SGLD_KEPT_SUMMARY_ONLY) */
    double seconds;         /* wall time of the sampling loop */
    double event_seconds[SGLD_EV_COUNT]; /* this rank's */
    /* --log-view: over all ranks (filled on every rank at the end of a run) */
    int64_t event_count[SGLD_EV_COUNT]; /* this rank's count of each event */
    double event_min[SGLD_EV_COUNT], event_max[SGLD_EV_COUNT], event_mean[SGLD_EV_COUNT];
    double seconds_mean;    /* mean over ranks of the loop's wall time */
    int n_ranks;
    int64_t first_step;     /* 0, or the checkpoint's step on --resume */
    int64_t last_step;      /* last completed step */
    int incomplete;         /* stopped by a signal before --steps (checkpointed when set) */
    int stop_signal;        /* the signal that stopped it */
    /* The convergence monitor (src/run/monitor.c) at the last flush point, on every rank:
     * min batch-means ESS and max split R-hat (nested R-hat with --superchains K >= 2) over
     * the monitored elements and the multivariate ESS of their random projections (NaN: too
     * few draws, or no monitor), from monitor_draws draws per chain.  converged: --stop-when's
     * rule held at last_step, which ended the run there complete (incomplete = 0). */
    int converged;
    double monitor_ess_min, monitor_rhat_max, monitor_mess;
    int64_t monitor_draws;
    int64_t n_checkpoints;  /* checkpoints written by this run */
    int dry_run;            /* plan below is filled, nothing ran */
    sgld_run_plan plan;
    int gradient_checked;   /* --check-gradient: gradcheck below is filled, nothing ran */
    sgld_gradcheck_report gradcheck;
    int has_test;           /* test metrics below are valid */
    double test_accuracy;   /* classification: accuracy of the posterior predictive */
    double test_nll;        /* mean negative log predictive density */
    double test_rmse;       /* regression: RMSE of the predictive mean */
    uint64_t theta_hash;    /* FNV-1a of this rank's final parameters (copies must agree) */
    /* keep_draws was asked for but not every draw is in draws: SGLD_KEPT_SUMMARY_ONLY
     * (all draws would take kept_bytes, more than kept_max_bytes on rank 0, so only the
     * parameters of the summary's --max-rows rows are kept: a summary, no test-set metrics),
     * SGLD_NOT_KEPT_TOO_LARGE (not even those fit, or --max-rows 0: draws is NULL) or
     * SGLD_NOT_KEPT_RESUMED (a resumed run holds only its later draws: draws is NULL). */
    int not_kept;
    double kept_bytes, kept_max_bytes;
    /* --on-divergence shrink|skip (div_tracked set): per chain, rank 0 only, [n_chains]
     * each, owned by the report: steps undone and the final step-size factor (1: never
     * halved). */
    int div_tracked;
    int64_t *div_count;
    double *div_eps_scale;
} sgld_run_report;

enum { SGLD_KEPT = 0, SGLD_KEPT_SUMMARY_ONLY, SGLD_NOT_KEPT_TOO_LARGE, SGLD_NOT_KEPT_RESUMED };

/* A sample file above this size is announced before sampling (and in the --dry-run plan)
 * with the --thin that would keep it below. */
#define SGLD_RUN_LARGE_OUTPUT_BYTES 1000000000.0

/* The smallest multiple of thin that keeps file_bytes (written at thin) at or below
 * SGLD_RUN_LARGE_OUTPUT_BYTES; thin itself when it already does.  Not collective. */
int64_t sgld_run_suggest_thin(double file_bytes, int64_t thin);

/* Runs the configured chains on the ranks of comm.  Collective over comm, which may be any
 * communicator (a part of MPI_COMM_WORLD from MPI_Comm_split, say: the run touches no other,
 * so disjoint communicators run independent runs at once); every rank of comm returns the
 * same status (and its rank 0 holds the message to print).  keep_draws: gather
 * every draw to rank 0 into rep->draws (for summaries and tests; not for resumed or
 * stopped runs; beyond 200 MB of draws only the first cfg->max_rows parameters of each, or
 * none: rep->not_kept).
 * On a usage or input error no output file is left behind; on a failure during sampling
 * the output keeps every draw up to the last flush.  A run stopped by a signal returns
 * SGLD_OK with rep->incomplete set.  With --resume a missing, truncated, corrupted or foreign
 * checkpoint is an input error (SGLD_ERR_IO, SGLD_ERR_PARSE, SGLD_ERR_USAGE) found before
 * anything is written.  No file written may be a file read (compared by identity, fileguard.h;
 * SGLD_ERR_USAGE); a fresh run creates --checkpoint, FILE.prev and FILE.tmp only where none
 * is, unless --force (SGLD_ERR_EXISTS); a resumed run's sample file must have the checkpoint's
 * chain-defining configuration; rank 0 holds the locks of --output and --checkpoint from
 * before they are touched to the return (a second writer gets SGLD_ERR_EXISTS naming the
 * holder).  With cfg->dry_run it loads and checks everything, fills rep->plan
 * and returns without writing.  With cfg->check_gradient it loads the data and the model, runs
 * sgld_model_check_gradient on each chain's shards (every chain checks the same points and
 * rows: the check does not depend on the layout), sets rep->gradient_checked and fills
 * rep->gradcheck (rep->gradcheck.failed: a gradient is wrong; the status stays SGLD_OK) and
 * returns without writing.  Installs no signal handler: a program whose runs should stop
 * cleanly on SIGTERM, SIGINT and SIGUSR1 calls sgld_run_signals(1) first (sgld_main does). */
sgld_status sgld_run(MPI_Comm comm, const sgld_config *cfg, int keep_draws,
                     sgld_run_report *rep);

/* on = 1: installs handlers for SIGTERM, SIGINT and SIGUSR1 that make sgld_run stop cleanly
 * (run.h's stop protocol; a second SIGINT kills); on = 0 restores the previous handlers.  The
 * program calls it (the library never installs handlers by itself).  Not collective. */
void sgld_run_signals(int on);

/* Frees what the report owns.  Not collective. */
void sgld_run_report_free(sgld_run_report *rep);

/* Event names, for reports.  Not collective. */
const char *sgld_event_name(int ev);

#endif
