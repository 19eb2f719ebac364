/* ensemble_impl.h - private state shared by predictive.c and predictive_scores.c. */
#ifndef SGLD_ENSEMBLE_IMPL_H
#define SGLD_ENSEMBLE_IMPL_H

#include "sgld/config.h"
#include "sgld/ensemble.h"

/* A callback of sgld_ens_walk_draws: selected draw j of chain `chain`, its parameters theta. */
typedef sgld_status (*sgld_ens_draw_fn)(void *ctx, const float *theta, int64_t chain, int64_t j);

/* predict.c: calls fn for each (chain, draw) pair g in [g0, g1) of opt (g = chain * n_sel + j),
 * reading opt->block_draws draws of a chain at once into theta and tmp ([block][n_params]
 * each).  Stops at the first failure.  Not collective. */
sgld_status sgld_ens_walk_draws(sgld_samples_reader *rd, const sgld_model *m, const sgld_ens_eval_options *opt,
                                int64_t g0, int64_t g1, float *theta, float *tmp, sgld_ens_draw_fn fn, void *ctx);

/* predict.c: every tensor of m is in rd's opt->group with dims [n_chains, > the last selected
 * draw, the tensor's values]; SGLD_ERR_PARSE (the tensor and both shapes) otherwise.  Local. */
sgld_status sgld_ens_check_tensors(sgld_samples_reader *rd, const sgld_model *m, const sgld_ens_eval_options *opt);

#define SGLD_ENS_SETS (2 + SGLD_ENS_FGSM_MAX) /* TEST, OTHER, then one adversarial TEST per eps */

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
    sgld_ens_acc *chain[SGLD_ENS_SETS]; /* [n_chains] per set: each chain's draws */
    sgld_ens_acc last[SGLD_ENS_SETS], ens[SGLD_ENS_SETS];
    /* FGSM (fgsm.c): TEST's pixels before standardization, the stored training statistics
     * (NULL: none), and the adversarial TEST of each eps (standardized), sets 2 + e */
    float *raw;
    double *mean, *sd;
    float *adv[SGLD_ENS_FGSM_MAX];
} predictive_ctx;

/* predictive_scores.c: rank 0 merges the chains and fills the scores of c->p.
 * SGLD_ERR_NOMEM.  Local (rank 0 only). */
sgld_status sgld_ens_predictive_score(predictive_ctx *c);

/* fgsm.c: refuses --fgsm where it does not apply (a regression, a model without
 * loglik_grad_input, MC dropout, TEST pixels outside [0, 1]): SGLD_ERR_USAGE.  Local. */
sgld_status sgld_ens_fgsm_check(const predictive_ctx *c);

/* fgsm.c: the gradient pass: each rank's draws give the ensemble NLL's input gradient (reduced
 * over comm) and each draw's own attack; builds c->adv and fills p->fgsm's `draw` figures (rank
 * 0).  Collective. */
sgld_status sgld_ens_fgsm_attack(predictive_ctx *c);

/* fgsm.c: rank 0's scores of the adversarial sets: p->fgsm[e].ens and its per-example arrays. */
sgld_status sgld_ens_fgsm_score(predictive_ctx *c);

#endif
