/* ensemble.h - the posterior predictive of a set of draws: streaming accumulators, uncertainty
 * scores, calibration and out-of-distribution metrics, and the evaluation of a sample file's
 * draws on data (sgld_ens_predictive_create, what `sgld-ess predict` prints).
 *
 * A draw s gives per example i class probabilities p_s(k | x_i) (classification) or a Gaussian
 * N(mu_s(x_i), v_s(x_i)) (regression: v_s = noise_sd^2, or the heteroscedastic network's own
 * variance).  The Bayesian model average of S draws is the mixture p(k | x) = (1/S) sum_s p_s(k | x)
 * (Welling & Teh 2011; the uncertainty decomposition of Depeweg et al. 2018):
 *
 *   predictive entropy     H[p] = -sum_k p_k log p_k                      (total uncertainty)
 *   expected entropy       (1/S) sum_s H[p_s]                             (aleatoric)
 *   mutual information     H[p] - (1/S) sum_s H[p_s]  >= 0                (epistemic)
 *   max probability        max_k p_k (the confidence), prediction argmax_k p_k
 *   NLL                    -log p(y | x) = -(logsumexp_s log p_s(y | x) - log S)
 *   Brier score            sum_k (p_k - [y = k])^2   (Brier 1950, summed over the classes)
 *   ECE                    sum_b (n_b / n) |acc_b - conf_b| over 15 equal-width confidence bins,
 *                          bin b = min(floor(15 conf), 14) (Guo et al. 2017)
 *   regression mean        m = (1/S) sum_s mu_s, RMSE of m against y
 *   regression log-lik     log (1/S) sum_s N(y; mu_s, v_s)   (logsumexp over draws; a model
 *                          with its own density, loglik_rows: log (1/S) sum_s p_s(y | x))
 *   PIT                    F(y) = (1/S) sum_s Phi((y - mu_s) / sqrt(v_s)); y lies in the
 *                          mixture's central (1 - a) interval iff a/2 <= F(y) <= 1 - a/2, so
 *                          the 50/90/95% coverages are exact without storing the draws
 *   AUROC, AUPR            of a score that is larger for out-of-distribution inputs
 *                          (1 - max probability, entropy, mutual information), the OOD set
 *                          the positive class; AUROC = P(s_ood > s_in) + P(tie) / 2
 *                          (Mann-Whitney), AUPR = average precision sum_t (R_t - R_{t-1}) P_t
 *                          over the distinct score thresholds t, descending.
 *
 * Every sum over draws is held in an accumulator, so the draws are added one at a time and
 * never held together; accumulators of disjoint draw sets merge (per chain -> ensemble, ranks ->
 * rank 0).  Sums in double. */
#ifndef SGLD_ENSEMBLE_H
#define SGLD_ENSEMBLE_H

#include <mpi.h>
#include <stdint.h>

#include "sgld/data.h"
#include "sgld/model.h"
#include "sgld/samples.h"
#include "sgld/status.h"

#define SGLD_ENS_ECE_BINS 15

/* Sums over the draws added so far for n examples.  K > 0: classification with K classes;
 * K = 0: regression. */
typedef struct sgld_ens_acc {
    int64_t n;
    int K;
    int has_y;         /* targets known: NLL / log-likelihood and PIT are accumulated */
    int64_t n_draws;   /* draws added */
    double *psum;      /* classification [n][K] sum_s p_s; regression [n] sum_s mu_s */
    double *second;    /* classification [n] sum_s H[p_s]; regression [n] sum_s (mu_s^2 + v_s) */
    double *lse_max;   /* [n] running max of log p_s(y_i) (has_y) */
    double *lse_sum;   /* [n] sum_s exp(log p_s(y_i) - lse_max) (has_y) */
    double *cdf_sum;   /* regression [n] sum_s Phi((y - mu_s) / sd_s) (has_y) */
} sgld_ens_acc;

/* Allocates the sums (zero) for n examples, K classes (0: regression), with or without
 * targets.  Release with sgld_ens_acc_finalize.  SGLD_ERR_NOMEM, SGLD_ERR_ARG.  Not collective. */
sgld_status sgld_ens_acc_init(sgld_ens_acc *a, int64_t n, int K, int has_y);
void sgld_ens_acc_finalize(sgld_ens_acc *a); /* NULL-safe, idempotent */

/* Adds one draw: prob [n][K] (classification) with targets y (class indices; ignored when
 * !has_y).  No allocation.  Not collective. */
void sgld_ens_acc_add_class(sgld_ens_acc *a, const double *prob, const float *y);

/* Adds one draw: predictive mean mu [n] and variance var [n] (> 0) of each example.
 * Not collective. */
void sgld_ens_acc_add_reg(sgld_ens_acc *a, const double *mu, const double *var, const float *y);

/* sgld_ens_acc_add_reg with each example's log density under this draw given: logp [n] =
 * log p_s(y_i | x_i) (a model's loglik_rows: a count model's Poisson density) enters the
 * log-likelihood in place of the Gaussian's; the PIT and coverages stay those of the Gaussian
 * N(mu, var).  logp NULL: sgld_ens_acc_add_reg. */
void sgld_ens_acc_add_reg_logp(sgld_ens_acc *a, const double *mu, const double *var, const double *logp,
                               const float *y);

/* Each row's log density under one draw, out[i] = log p_s(y_i | x_i), the term that draw adds
 * to the log-likelihood of sgld_ens_acc_add_class / sgld_ens_acc_add_reg_logp (the same prob,
 * mu/var, logp and y; K = 0 for a regression): ArviZ's pointwise log_likelihood, the input of
 * LOO and WAIC.  Not collective. */
void sgld_ens_row_logp(int K, int64_t n, const double *prob, const double *var, const double *logp,
                       const float *y, double *out);

/* dst += src (the same n, K, has_y): the accumulator of the union of two disjoint draw sets.
 * Not collective. */
void sgld_ens_acc_merge(sgld_ens_acc *dst, const sgld_ens_acc *src);

/* Merges the accumulators of every rank of comm into rank 0's (the others are left as they
 * were).  Collective. */
sgld_status sgld_ens_acc_reduce(sgld_ens_acc *a, MPI_Comm comm);

/* Classification summary of an accumulator (means over the n examples). */
typedef struct sgld_ens_class_summary {
    int64_t n, n_draws;
    double accuracy, nll, brier, ece;
    double entropy, expected_entropy, mutual_info, max_prob;
} sgld_ens_class_summary;

/* Per-example classification scores; any pointer may be NULL (not written). */
typedef struct sgld_ens_class_examples {
    double *prob;             /* [n][K] the mixture */
    double *max_prob, *entropy, *expected_entropy, *mutual_info, *nll; /* [n] */
    int *pred, *correct;      /* [n] */
} sgld_ens_class_examples;

/* Scores of a classification accumulator with >= 1 draw: the summary (nll, accuracy, brier,
 * ece are NaN without targets) and, when ex != NULL, the per-example values.  y: class
 * indices (NULL when !has_y).  SGLD_ERR_ARG without draws; SGLD_ERR_NOMEM.  Not collective. */
sgld_status sgld_ens_class_scores(const sgld_ens_acc *a, const float *y, sgld_ens_class_summary *s,
                                  const sgld_ens_class_examples *ex);

/* Regression summary: RMSE of the mixture mean, mean log-likelihood of the mixture, coverage of
 * its central 50/90/95% intervals, mean predictive sd. */
typedef struct sgld_ens_reg_summary {
    int64_t n, n_draws;
    double rmse, loglik, cover50, cover90, cover95, sd;
} sgld_ens_reg_summary;

typedef struct sgld_ens_reg_examples {
    double *mean, *sd, *loglik, *pit; /* [n]; any may be NULL */
} sgld_ens_reg_examples;

/* Scores of a regression accumulator with >= 1 draw and targets.  SGLD_ERR_ARG otherwise.
 * Not collective. */
sgld_status sgld_ens_reg_scores(const sgld_ens_acc *a, const float *y, sgld_ens_reg_summary *s,
                                const sgld_ens_reg_examples *ex);

/* Entropy -sum_k p_k log p_k (0 log 0 = 0) of K probabilities.  Not collective. */
double sgld_ens_entropy(const double *p, int K);

/* Expected calibration error of n (confidence, correct) pairs over n_bins equal-width bins
 * (bin = min(floor(n_bins conf), n_bins - 1)); fills per bin (when not NULL) the count, the
 * mean confidence and the accuracy (NaN for an empty bin).  Not collective. */
double sgld_ens_ece(const double *conf, const int *correct, int64_t n, int n_bins, int64_t *count,
                    double *mean_conf, double *accuracy);

/* AUROC and AUPR of scores where larger means "out of distribution": score_in [n_in] (negatives)
 * and score_out [n_out] (positives).  Ties count one half (AUROC) and form one threshold (AUPR).
 * NaN when either set is empty.  Allocates a sorted copy: SGLD_ERR_NOMEM.  Not collective. */
sgld_status sgld_ens_auroc_aupr(const double *score_in, int64_t n_in, const double *score_out,
                                int64_t n_out, double *auroc, double *aupr);

/* Counts of x[n] in n_bins equal-width bins of [lo, hi] (the last bin closed; values outside
 * are clamped into the end bins).  Not collective. */
void sgld_ens_histogram(const double *x, int64_t n, int n_bins, double lo, double hi, int64_t *count);

/* ---- streaming evaluation of a sample file (src/ensemble/predict.c) ---- */

/* One data set to evaluate: X [n][d] (standardized like the training data), y [n] or NULL;
 * chain [n_chains] and last: accumulators (initialized by the caller with this set's n, the
 * model's K and has_y = y != NULL) that receive each chain's selected draws and, for `last`,
 * only the last selected draw of chain 0. */
typedef struct sgld_ens_set {
    const float *X, *y;
    int64_t n;
    sgld_ens_acc *chain;
    sgld_ens_acc *last;
    double *pointwise; /* NULL, or [n_chains][n_sel][n] (needs y, no MC dropout): each selected
                        * draw's sgld_ens_row_logp, complete on rank 0 after the evaluation */
} sgld_ens_set;

/* Draw layout: which tensor of the file fills which part of theta. */
typedef struct sgld_ens_eval_options {
    const char *group;      /* "posterior" */
    int n_chains;
    const int64_t *draws;   /* the selected draw indices (ascending), n_sel of them */
    int64_t n_sel;
    int64_t block_draws;    /* draws read per block (>= 1) */
    size_t batch_rows;      /* rows per predict call (>= 1) */
    int mc_dropout;         /* K >= 1: MC dropout, every draw evaluated K times with fresh
                             * masks, each (draw, mask) one member of the ensemble; 0: off */
    uint32_t mc_seed;       /* MC dropout: the masks' stream key is (mc_seed, chain) */
} sgld_ens_eval_options;

/* Evaluates every selected (chain, draw) of the sample file rd on every set: the (chain, draw)
 * pairs are split over the ranks of comm in contiguous ranges, each rank reads its draws in
 * blocks of block_draws (one block of parameters in memory: block_draws x n_params floats),
 * runs the model's predict on batch_rows rows at a time, and adds each draw to its chain's
 * accumulator; then the accumulators are reduced to rank 0 (sgld_ens_acc_reduce).  The model m
 * is the one the file was written with (its vars name the tensors); every tensor must be in
 * the file with dims [n_chains, >= max draw + 1, var dims].  The heteroscedastic mlp's own
 * variance is used (sgld_net_predict), else noise_sd^2; a model with loglik_rows gives each
 * row's log density itself (sgld_ens_acc_add_reg_logp).  With opt->mc_dropout = K, the model's
 * predict_dropout (the caller checks that it has dropout layers) runs K times per draw, masks
 * 0..K-1, and every (draw, mask) is added as one member (to `last` too: the last selected draw
 * of chain 0 with its K masks, the MC-dropout ensemble of one network); row i of set s is row
 * sets[0].n + ... + sets[s-1].n + i of the masks' numbering, draw = the index in the file, so
 * a member's predictions do not depend on the ranks, --block, --batch, the other sets or K.
 * *seconds (may be NULL) receives this rank's predict time, *flops its forward GEMM flops
 * (networks; 0 otherwise).  Collective; every rank returns the same status. */
sgld_status sgld_ens_evaluate(MPI_Comm comm, sgld_samples_reader *rd, const sgld_model *m,
                              const sgld_ens_eval_options *opt, int n_sets, sgld_ens_set *sets,
                              double *seconds, double *flops);

/* ---- FGSM adversarial examples (fgsm.c) ----
 *
 * The fast gradient sign method (Goodfellow, Shlens & Szegedy 2015) on the posterior predictive:
 * x' = clip(x + eps sign(grad_x L(x, y)), 0, 1), with L the loss of what is attacked:
 *   the model average   L = -log (1/S) sum_s p_s(y | x)  (the ensemble's NLL), whose gradient
 *                       is -sum_s w_s grad_x log p_s(y | x), w_s = p_s(y | x) / sum_r p_r(y | x)
 *                       (held, like the NLL, as a running logsumexp over the draws)
 *   one draw alone      L = -log p_s(y | x)
 * The sign is taken in the standardized inputs the model sees (the same as in the pixels, the
 * standardization dividing by sd > 0); the step and the clip in the pixels. */

#define SGLD_ENS_FGSM_MAX 8          /* eps values of one evaluation */
#define SGLD_ENS_LOGP_FLOOR (-700.0) /* log p_s(y | x) below this (exp underflows) counts as this */

/* Sums over the draws added so far of each row's weight and weighted input gradient. */
typedef struct sgld_ens_grad_acc {
    int64_t n, n_draws;
    int d;
    double *lmax;  /* [n] running max of l_s = log p_s(y_i | x_i) */
    double *lsum;  /* [n] sum_s exp(l_s - lmax) */
    double *g;     /* [n][d] sum_s exp(l_s - lmax) grad_x l_s */
} sgld_ens_grad_acc;

/* Allocates the sums (empty) for n rows of d inputs.  SGLD_ERR_NOMEM, SGLD_ERR_ARG.  Release
 * with sgld_ens_grad_acc_finalize (NULL-safe, idempotent).  Not collective. */
sgld_status sgld_ens_grad_acc_init(sgld_ens_grad_acc *a, int64_t n, int d);
void sgld_ens_grad_acc_finalize(sgld_ens_grad_acc *a);

/* Adds one draw: logp [n] (each row's log p_s(y_i | x_i), floored at SGLD_ENS_LOGP_FLOOR) and
 * dlogp [n][d] (its input gradient).  No allocation.  Not collective. */
void sgld_ens_grad_acc_add(sgld_ens_grad_acc *a, const double *logp, const float *dlogp);

/* The sums of every rank of comm, on every rank (the same n and d).  Collective. */
sgld_status sgld_ens_grad_acc_allreduce(sgld_ens_grad_acc *a, MPI_Comm comm);

/* From >= 1 draw: nll [n] = -log (1/S) sum_s p_s(y_i | x_i) (may be NULL) and grad [n][d] its
 * input gradient.  SGLD_ERR_ARG without draws.  Not collective. */
sgld_status sgld_ens_grad_acc_nll(const sgld_ens_grad_acc *a, double *nll, float *grad);

/* One draw theta of m on n rows x [n][d] with class targets y: logp [n] = log p(y_i | x_i)
 * (from predict, floored at SGLD_ENS_LOGP_FLOOR) and dlogp [n][d] its input gradient (the
 * model's loglik_grad_input), batch rows per call (<= m->max_rows).  prob: [batch][K] scratch.
 * The model must have loglik_grad_input.  No allocation.  Not collective. */
void sgld_ens_draw_input_grad(const sgld_model *m, const float *theta, const float *x, const float *y, size_t n,
                              size_t batch, double *prob, double *logp, float *dlogp);

/* x' = clip(x + eps sign(grad), 0, 1) for n values (sign 0 = 0).  Not collective. */
void sgld_ens_fgsm_step(const float *x, const float *grad, size_t n, double eps, float *out);

/* ---- the posterior predictive of a sample file (predictive.c, predictive_scores.c) ---- */

#define SGLD_ENS_TEST_SPLIT "test-split" /* data: the rows the run held out (--test-fraction) */
#define SGLD_ENS_HIST_BINS 20            /* max-probability histograms of OOD scoring */
#define SGLD_ENS_CHAINS 256              /* chains scored alone (the first ones) */

typedef struct sgld_ens_predictive_opts {
    const char *file;     /* a sample file written by sgld-dist with its model attributes */
    const char *data;     /* TEST: a source as sgld_data_load reads it, or SGLD_ENS_TEST_SPLIT */
    const char *ood;      /* OTHER (out-of-distribution inputs, targets not read), or NULL */
    const char *draws;    /* of every chain: "all", an index I or a slice A:B[:S] (Python's,
                           * zero-based, S >= 1) */
    int64_t block_draws;  /* draws read at once (>= 1) */
    int64_t batch_rows;   /* rows per predict call (>= 1) */
    int mc_dropout;       /* K >= 1: MC dropout with K masks per draw; 0: dropout off */
    uint32_t seed;        /* the masks' stream key, with the chain */
    int pointwise;        /* keep each selected draw's log density of each TEST row (loglik
                           * below); not with mc_dropout */
    const double *fgsm_eps; /* n_fgsm (<= SGLD_ENS_FGSM_MAX) values >= 0: FGSM examples of TEST
                             * (classification networks; TEST's inputs in [0, 1]; not with
                             * mc_dropout) */
    int n_fgsm;
} sgld_ens_predictive_opts;

/* The scores of TEST's FGSM examples at one eps. */
typedef struct sgld_ens_fgsm_result {
    double eps;
    sgld_ens_class_summary ens;      /* the model average on the examples made against it */
    sgld_ens_class_examples ens_ex;  /* its per-example max_prob, mutual_info, nll, pred, correct */
    double draw_accuracy, draw_nll, draw_max_prob; /* each draw on the examples made against it
                                                    * alone: means over the draws and rows */
    double *draw_correct;            /* [n] the fraction of draws right on their own examples */
} sgld_ens_fgsm_result;

/* The scores of one data set (TEST or OTHER), classification. */
typedef struct sgld_ens_predictive_set {
    int64_t n;                         /* rows */
    sgld_ens_class_summary ens, last;  /* all selected draws; the last one of chain 0 */
    sgld_ens_class_examples ex;        /* per example of ens (every array [n], prob [n][K]) */
    sgld_ens_class_examples last_ex;   /* per example of last: max_prob, entropy, mutual_info */
} sgld_ens_predictive_set;

typedef struct sgld_ens_predictive {
    char *model;               /* the model's name */
    int classification, n_classes, n_chains;
    int64_t n_draws;           /* selected draws per chain */
    int mc_dropout;
    int n_sets;                /* 1, or 2 with OTHER */
    sgld_dataset *data[2];     /* TEST (targets mapped to the file's classes) and OTHER, as
                                * standardized and evaluated */
    /* On rank 0 only (the rest zero elsewhere): */
    double seconds;            /* the evaluation's wall time */
    double predict_seconds;    /* predict time of the slowest rank */
    double flops;              /* forward GEMM flops over all ranks (networks; else 0) */
    int n_chain_scores;        /* min(n_chains, SGLD_ENS_CHAINS) */
    /* classification: */
    sgld_ens_predictive_set set[2];
    sgld_ens_class_summary chain_class[SGLD_ENS_CHAINS]; /* TEST, each chain alone */
    int64_t ece_count[SGLD_ENS_ECE_BINS];                /* reliability bins of TEST's ensemble */
    double ece_conf[SGLD_ENS_ECE_BINS], ece_acc[SGLD_ENS_ECE_BINS];
    double auroc[2][3], aupr[2][3]; /* [ensemble, last draw][1 - max prob, entropy, mutual
                                     * information] telling TEST from OTHER; NaN without OTHER
                                     * (and for the last draw's mutual information unless
                                     * mc_dropout > 1) */
    int64_t hist[4][SGLD_ENS_HIST_BINS]; /* max prob over [0, 1]: TEST ensemble, OTHER
                                          * ensemble, TEST last, OTHER last (with OTHER) */
    /* regression (TEST): */
    sgld_ens_reg_summary reg_ens, reg_last, chain_reg[SGLD_ENS_CHAINS];
    sgld_ens_reg_examples reg_ex; /* per example of reg_ens: mean, sd, loglik, pit [n] */
    /* opts pointwise, on rank 0: */
    double *loglik;            /* [n_chains][n_draws][n] log p_s(y_i | x_i) of TEST's rows */
    int64_t *draw_index;       /* [n_draws] the selected draws' indices in the file */
    /* opts n_fgsm, on rank 0: */
    int n_fgsm;
    sgld_ens_fgsm_result fgsm[SGLD_ENS_FGSM_MAX];
} sgld_ens_predictive;

/* Rebuilds the model of opt->file from its root attributes (`config`, parsed with
 * sgld_config_parse_text, `model`, `n_features`, `n_classes`, `class_names`), loads TEST and
 * OTHER on every rank, maps TEST's classes to the file's by name and standardizes both with the
 * stored `standardize_mean` / `standardize_sd`, evaluates the selected draws of every chain
 * with sgld_ens_evaluate (split over the ranks of comm) and scores them on rank 0: the ensemble
 * of all selected draws, each chain alone and the last selected draw of chain 0.  With
 * opt->n_fgsm, a pass over the draws before it (fgsm.c, split the same way) makes TEST's FGSM
 * examples of each eps against the model average and against each draw alone; the former are
 * evaluated with TEST and scored in p->fgsm.
 * Returns SGLD_OK and *out (free with sgld_ens_predictive_destroy); SGLD_ERR_USAGE when the
 * input does not fit (not a sample file with the model attributes, a tensor of the model
 * missing, data whose features or classes differ from the model's, TEST targets the model
 * refuses (its check_data hook: the row, column and value), an empty or malformed
 * draw selection, MC dropout on a model without dropout layers, OTHER on a regression, FGSM on a
 * regression, on a model without loglik_grad_input, with MC dropout or on TEST inputs outside
 * [0, 1]); any
 * other status is a runtime failure.  Collective on comm: every rank returns the same status
 * and holds its message. */
sgld_status sgld_ens_predictive_create(MPI_Comm comm, const sgld_ens_predictive_opts *opt,
                                       sgld_ens_predictive **out);
void sgld_ens_predictive_destroy(sgld_ens_predictive **p); /* NULL-safe; *p = NULL */

#endif
