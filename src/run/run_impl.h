/* run_impl.h - one rank's state of a run (include/sgld/run.h), shared by the files of src/run:
 *
 *   run.c         the lifecycle (sgld_run: checks, setup, allocate/free, the --dry-run plan)
 *                 and the sampling loop (step, sync points, the stop protocol, --log-view)
 *   output.c      the sample file: its variables, create, reopen, config attribute, the draw
 *                 buffer and its flush, the checks of a finished run's file
 *   resume.c      checkpoints: a chain's state packed and unpacked, save, restore
 *   divergence.c  --on-divergence: undo a step, halve a chain's step size, gather the counts
 *   files.c       the files a run touches: identity checks, locks, checkpoint names
 *   start.c       where a chain starts (--init, --step-size auto) and the gradient estimator's
 *                 state and centre moves (--gradient)
 *
 * The fields of `run` are grouped by the file whose functions give them their meaning (the
 * group's comment says which); run.c sets up the sizes and allocates and frees every buffer.
 * Functions declared here are internal to src/run (not collective unless they say so). */
#ifndef SGLD_RUN_IMPL_H
#define SGLD_RUN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "sgld/config.h"
#include "sgld/data.h"
#include "sgld/fileguard.h"
#include "sgld/gradient.h"
#include "sgld/grid.h"
#include "sgld/model.h"
#include "sgld/rng.h"
#include "sgld/run.h"
#include "sgld/sampler.h"
#include "sgld/samples.h"
#include "sgld/status.h"
#include "sgld/timer.h"

/* --on-divergence, parsed once at setup (no string comparison in the loop). */
enum { DIV_ABORT, DIV_SHRINK, DIV_SKIP };

/* With --on-divergence shrink|skip the run keeps two floats after the sampler's state (so a
 * checkpoint carries them): the chain's step-size factor (halved by each shrink; powers of
 * two are exact in float) and its count of undone steps. */
#define DIV_EPS_SCALE 0
#define DIV_COUNT 1
#define DIV_STATE 2

/* Everything one rank holds for a run; freed by run_free (run.c). */
typedef struct run {
    /* run.c: the inputs, the chain's parameters and the buffers of one step */
    const sgld_config *cfg;
    sgld_grid *grid;
    sgld_dataset *train, *test;
    sgld_model model;
    const sgld_sampler_type *sampler;
    int writer;              /* shard 0 of a chain: writes the chain's draws */
    sgld_rng rng;            /* key (seed, chain) */
    float *theta, *state, *work;
    size_t sampler_state;    /* sampler state floats */
    size_t sampler_local;    /* the last of them that are this rank's own (sampler.h, prepare) */
    size_t state_size;       /* state floats of a rank: the sampler's, then with
                              * --on-divergence shrink|skip the run's own DIV_STATE */
    float *fused;            /* [n_params + 2]: gradient, minibatch log-likelihood, stop flag */
    float *grad;             /* [n_params]: the scaled gradient estimate handed to the sampler */
    unsigned char *picked;   /* n_train bits: Floyd's membership set */
    int64_t *batch, *local;  /* B global indices; the local rows among them */
    size_t n_local;          /* local rows in this step's batch */
    double scale;            /* N / B */
    /* The gradient handed over unformed (sampler.h, lik_sum): the sampler folds the prior,
     * N(0, 1 / fold_prec) on every parameter, into its pass over theta and reports the new
     * theta's sum of squares, which the next step's log prior reuses while theta_ss_ok. */
    int fold;
    double fold_prec;
    double theta_ss;         /* sum theta^2 of the current theta (sgld_rng_sumsq's bits) */
    int theta_ss_ok;         /* theta_ss is that of the current theta (set after a step) */

    /* start.c: the gradient estimator and where a chain starts (gradient.h) */
    const sgld_gradient_type *gtype;
    int64_t recentre_every;  /* steps between moves of a centred estimator's centre (0: never) */
    size_t grad_at;          /* the centre, G and L in the state (centred estimators) */
    size_t auto_at;          /* --step-size auto: the chosen a, one float of the state */
    int init_kind;           /* SGLD_INIT_* */
    int64_t init_epochs;     /* sgd:K */
    sgld_config *cfg_auto;   /* --step-size auto: the run's copy of cfg with a set (r->cfg) */
    sgld_mode_report mode;   /* --init map: this chain's search */
    double init_seconds;     /* the slowest chain's --init (map or sgd), 0 without */
    double lambda_max;       /* --step-size auto: the largest curvature over the chains */

    /* run.c: the loop's position, the stop protocol (run.h) and --log-view */
    int64_t n_draws_done;    /* draws per chain flushed (or, without output, counted) so far */
    int chain_stop;          /* a rank of my chain was signalled (agreed through the allreduce) */
    int64_t stop_at;         /* the agreed step to stop after, once a stop was requested */
    double last_checkpoint;  /* MPI_Wtime of the last checkpoint (--checkpoint-seconds) */
    sgld_timer timer;        /* the events of sgld_event_name, from sample() on */

    /* output.c: the sample file, the writer's draw buffer and the draws kept in memory */
    sgld_samples *out;
    int n_run_stats;         /* lp, step_size (and divergences with --on-divergence) */
    /* draw buffer of a writer: per saved variable [flush][size], then lp, step_size and the
     * sampler's own stats, [flush] each (the order of the file's variables) */
    float *buf_var[SGLD_MODEL_MAX_VARS];
    double *buf_stat[3 + SGLD_SAMPLER_MAX_STATS];
    int8_t *buf_diverging;   /* [flush]: `diverging`, the file's last variable (with --on-divergence) */
    float div_at_draw;       /* the divergence count when the last draw was recorded (or the run
                              * started or resumed) */
    int64_t n_buf;           /* draws in the buffer (at a flush: the largest over the grid) */
    float *kept;             /* writer's kept draws [n_draws][kept_width] (keep_draws) */
    int64_t n_kept;
    size_t kept_width;       /* leading parameters of each kept draw: n_params, or only the
                              * summary's --max-rows when all would pass the in-memory cap */

    /* monitor.c: the convergence monitor and --stop-when (NULL: off) and its last figures */
    struct sgld_monitor *mon;
    double mon_ess, mon_rhat, mon_mess; /* min ESS, max R-hat (nested with superchains), mESS */
    int64_t mon_draws;

    /* resume.c: the checkpoint's record of every chain */
    size_t ck_state;         /* state floats of a chain in a checkpoint (ck_pack below) */
    char *ck_config;         /* the chain-defining configuration text (checkpoint.h) */
    int64_t ck_steps;        /* --resume: the --steps the checkpoint was saved for (restore) */
    float *ck_pack;          /* [n_params + ck_state]: this chain's theta, the state its ranks
                              * share (sampler's, then the run's), then every shard's own part
                              * in shard order (with --checkpoint) */
    float *ck_all;           /* rank 0: [n_chains][n_params + ck_state] */

    /* divergence.c: --on-divergence */
    int on_div;              /* DIV_ABORT, DIV_SHRINK or DIV_SKIP */
    float *theta_prev, *state_prev; /* the state before the step, to undo a divergent one */

    /* files.c: rank 0's locks, held from before the files are touched to the end of the run
     * (fileguard.h) */
    sgld_file_lock out_lock, ck_lock;
} run;

/* run.c */

/* The minibatch gradient estimate at theta on this step's batch (an sgld_gradient_fn with
 * self = the run).  Collective over the chain. */
sgld_status sgld_run_gradient(void *self, const float *theta, float *grad, double *lp);

/* Floyd's algorithm: the B global indices of the batch of `step` from the chain's stream of
 * `purpose` (BATCH while sampling, WARMUP for --init sgd:K) into r->batch, the local rows
 * among them into r->local; returns their number.  Local. */
size_t sgld_run_draw_batch(run *r, uint64_t step, uint32_t purpose);

/* start.c */

/* Parses --gradient and --init, refuses a centred estimator on a model with dropout layers,
 * and adds the estimator's and --step-size auto's floats to r->state_size (after the
 * sampler's and the divergence state).  Not collective: every rank finds the same. */
sgld_status sgld_run_start_size(run *r);

/* A fresh chain's start, before the sample file is created: the model's initialization (a
 * superchain's shared one), --init map or sgd:K, --step-size auto (the largest curvature over
 * the chains), the estimator's centre, the sampler's and the divergence state; rank 0 prints
 * what --init found unless --quiet.  Collective over the grid (the status is agreed); a mode
 * not reached is SGLD_ERR_USAGE naming the data and the chain. */
sgld_status sgld_run_start_fresh(run *r);

/* A resumed chain: --step-size auto's a from the restored state.  Local. */
void sgld_run_start_resumed(run *r);

/* Before step t: moves the centre of an estimator that recentres (svrg) when t is due.
 * Collective over the chain. */
sgld_status sgld_run_start_recentre(run *r, int64_t t);

/* output.c */

/* Creates the sample file with the run's variables and attributes.  Collective over the grid;
 * on failure r->out may be open (the caller discards the file). */
sgld_status sgld_run_output_create(run *r);

/* Opens the sample file of a resumed run, checks that it is this checkpoint's and cuts it back
 * to the checkpoint's draws.  Collective over the grid. */
sgld_status sgld_run_output_reopen(run *r, int64_t draws);

/* A resumed run that is already complete: checks, read-only, that the sample file is this
 * checkpoint's with at least its draws.  Collective over the grid (the status is agreed). */
sgld_status sgld_run_output_check_complete(run *r, int64_t draws);

/* Appends the r->n_buf buffered draws of every chain (writers pass their chain) and empties
 * the buffer.  Collective over the grid. */
sgld_status sgld_run_output_flush(run *r);

/* Buffers the writer's draw after a step (theta, lp, the step size, the divergence count and
 * the sampler's stats) and its kept copy.  Local; allocates nothing. */
void sgld_run_output_record(run *r, const sgld_step_ctx *ctx, double lp);

/* resume.c */

/* Saves the state after step `step` to --checkpoint.  Collective over the grid, right after
 * a flush; every rank returns the agreed status. */
sgld_status sgld_run_checkpoint_save(run *r, int64_t step);

/* Reads --checkpoint and checks it against this run; with apply every rank takes its chain's
 * theta and state.  Sets *step, *draws and r->ck_steps.  Collective over the grid (the status
 * is agreed). */
sgld_status sgld_run_checkpoint_restore(run *r, int apply, int64_t *step, int64_t *draws);

/* monitor.c */

typedef struct sgld_monitor sgld_monitor;

/* Sets up r->mon (every rank; the batch store on writers, the chains' summaries on rank 0);
 * leaves it NULL on a resumed run without --output (no draws to rebuild it from), which
 * --stop-when refuses (SGLD_ERR_USAGE).  Local; the caller agrees the status. */
sgld_status sgld_run_monitor_create(run *r);
void sgld_run_monitor_free(run *r);

/* A writer feeds the n_draws draws of its buffer (before the flush empties it).  Local;
 * allocates nothing; a no-op elsewhere. */
void sgld_run_monitor_feed(run *r, int64_t n_draws);

/* The figures over all chains into r->mon_ess, r->mon_rhat, r->mon_mess, r->mon_draws on every rank, and
 * *met = 1 when --stop-when's rule holds (every rank the same).  Collective over the grid. */
sgld_status sgld_run_monitor_check(run *r, int *met);

/* A resumed run: the writers feed their chain's first n_draws draws from the sample file, so
 * the state is the uninterrupted run's.  Before the file is reopened.  Collective over the
 * grid (the status is agreed). */
sgld_status sgld_run_monitor_restore(run *r, int64_t n_draws);

/* The sample file's group `monitor` (dimension `check`; variables draws, step,
 * monitored_draws, ess_min, rhat_max, mess; attributes saying what rhat_max is): created with
 * a new file, opened on a reopened one, before it is cut back.  Collective over the grid;
 * nothing without a monitor or a sample file. */
sgld_status sgld_run_monitor_table(run *r);

/* Stages the last figures as the monitor table's row of the next flush (after step `step`).
 * Local; call on every rank, only when the flush that follows appends draws. */
sgld_status sgld_run_monitor_stage(run *r, int64_t step);

/* "  ESS 1043  R-hat 1.004  mESS 980" (nR-hat with superchains) for the progress line, or ""
 * before there are figures.  Local. */
void sgld_run_monitor_format(const run *r, char *buf, size_t size);

/* Root attributes of the sample file: monitor_ess_min, monitor_rhat_max, monitor_mess, monitor_draws,
 * monitor_elements, monitor_step and, when --stop-when ended the run, stopped_when (the rule).
 * Collective over the grid; nothing without a monitor or a sample file. */
sgld_status sgld_run_monitor_write(run *r, const sgld_run_report *rep);

/* divergence.c */

/* A fresh chain's divergence state: factor 1, no step undone.  Local. */
void sgld_run_div_init(run *r);

/* Before a step: keeps theta and the state for an undo and returns eps times the chain's
 * factor (eps itself under --on-divergence abort).  Local. */
double sgld_run_div_before_step(run *r, double eps);

/* The chain's count of undone steps (0 under abort).  Local. */
float sgld_run_div_count(const run *r);

/* At the start of step t the minibatch log posterior *lp is not finite: ends the run or
 * undoes the previous step and recomputes *lp.  Collective over the chain. */
sgld_status sgld_run_div_lp_not_finite(run *r, int64_t t, int can_undo, double *lp);

/* After step t: non-finite parameters end the run (abort) or the step is undone.  Local. */
sgld_status sgld_run_div_check_theta(run *r, int64_t t);

/* Every chain's count of undone steps and final factor into rep on rank 0.  Collective over
 * the writers. */
sgld_status sgld_run_div_gather(run *r, sgld_run_report *rep);

/* files.c */

/* No file the run writes may be a file it reads or another it writes.  Rank 0; touches
 * nothing. */
sgld_status sgld_run_files_check(const sgld_config *cfg);

/* --checkpoint's directory is writable.  Rank 0. */
sgld_status sgld_run_files_check_checkpoint_dir(const sgld_config *cfg);

/* Rank 0 takes the locks of --output and --checkpoint and checks the checkpoint's names; on
 * failure no lock is held. */
sgld_status sgld_run_files_claim(run *r);

/* Releases what sgld_run_files_claim took; nothing on a rank that holds nothing. */
void sgld_run_files_release(run *r);

#endif
