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
 * (e.g. diverges) stops every rank at the next flush instead of hanging them. */
#ifndef SGLD_RUN_H
#define SGLD_RUN_H

#include <mpi.h>
#include <stdint.h>

#include "sgld/config.h"
#include "sgld/model.h"
#include "sgld/status.h"

/* Named timing events (seconds on rank 0).  `sync` is the wait at flush points where all
 * ranks agree on failure (it absorbs the difference in speed between chains). */
enum sgld_event { SGLD_EV_BATCH, SGLD_EV_GRAD, SGLD_EV_ALLREDUCE, SGLD_EV_UPDATE, SGLD_EV_SYNC,
                  SGLD_EV_IO, SGLD_EV_COUNT };

typedef struct sgld_run_report {
    int n_chains, n_shards;
    int64_t n_draws;        /* per chain */
    int64_t n_train, n_test;
    sgld_model model;       /* the layout, for naming elements */
    float *draws;           /* rank 0 only, when kept: [chain][draw][n_params]; else NULL */
    double seconds;         /* wall time of the sampling loop */
    double event_seconds[SGLD_EV_COUNT];
    int has_test;           /* test metrics below are valid */
    double test_accuracy;   /* classification: accuracy of the posterior predictive */
    double test_nll;        /* mean negative log predictive density */
    double test_rmse;       /* regression: RMSE of the predictive mean */
    uint64_t theta_hash;    /* FNV-1a of this rank's final parameters (copies must agree) */
} sgld_run_report;

/* Runs the configured chains on the ranks of comm.  Collective over comm; every rank
 * returns the same status (and rank 0 holds the message to print).  keep_draws: gather
 * every draw to rank 0 into rep->draws (for summaries and tests; small models only).
 * On a usage or input error no output file is left behind; on a failure during sampling
 * the output keeps every draw up to the last flush. */
sgld_status sgld_run(MPI_Comm comm, const sgld_config *cfg, int keep_draws,
                     sgld_run_report *rep);

/* Frees what the report owns. */
void sgld_run_report_free(sgld_run_report *rep);

/* Event names, for reports. */
const char *sgld_event_name(int ev);

#endif
