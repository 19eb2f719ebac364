/* ensemble_impl.h - private state shared by predictive.c and predictive_scores.c. */
#ifndef SGLD_ENSEMBLE_IMPL_H
#define SGLD_ENSEMBLE_IMPL_H

#include "sgld/config.h"
#include "sgld/ensemble.h"

/* The state of one sgld_ens_predictive_create call. */
typedef struct predictive_ctx {
    MPI_Comm comm;
    int rank, size;
    const sgld_ens_predictive_opts *o;
    sgld_ens_predictive *p;
    sgld_samples_reader *rd;
    sgld_config cfg;           /* the run's, from the file's `config` attribute */
    sgld_model m;
    int have_model;
    int d, n_classes;          /* the file's `n_features` and `n_classes` */
    int64_t *sel, n_sel;       /* the selected draws, ascending */
    sgld_ens_acc *chain[2];    /* [n_chains] per set: each chain's draws */
    sgld_ens_acc last[2], ens[2];
} predictive_ctx;

/* predictive_scores.c: rank 0 merges the chains and fills the scores of c->p.
 * SGLD_ERR_NOMEM.  Local (rank 0 only). */
sgld_status sgld_ens_predictive_score(predictive_ctx *c);

#endif
