/* predictive_scores.c - rank 0's part of sgld_ens_predictive_create (predictive.c): the chains'
 * accumulators merged into the ensemble's, and the scores of the ensemble, of each chain alone
 * and of the last selected draw of chain 0: per set and per example, the reliability bins of
 * TEST and, with OTHER, AUROC / AUPR of three uncertainty scores and max-probability
 * histograms (definitions in include/sgld/ensemble.h). */
#include <math.h>

#include "ensemble_impl.h"

/* Regression: the mixture's scores on TEST (per example too), the last draw, each chain. */
static sgld_status score_reg(predictive_ctx *c)
{
    sgld_ens_predictive *p = c->p;
    const int64_t n = p->data[0]->n_local;
    const float *y = p->data[0]->y;
    sgld_ens_reg_examples *ex = &p->reg_ex;
    const size_t nn = (size_t)(n > 0 ? n : 1);
    ex->mean = sgld_malloc(nn * sizeof(double));
    ex->sd = sgld_malloc(nn * sizeof(double));
    ex->loglik = sgld_malloc(nn * sizeof(double));
    ex->pit = sgld_malloc(nn * sizeof(double));
    SGLD_CHECK(ex->mean && ex->sd && ex->loglik && ex->pit, SGLD_ERR_NOMEM, "out of memory scoring %lld examples",
               (long long)n);
    SGLD_TRY(sgld_ens_reg_scores(&c->ens[0], y, &p->reg_ens, ex));
    SGLD_TRY(sgld_ens_reg_scores(&c->last[0], y, &p->reg_last, NULL));
    for (int k = 0; k < p->n_chain_scores; k++) SGLD_TRY(sgld_ens_reg_scores(&c->chain[0][k], y, &p->chain_reg[k], NULL));
    return SGLD_OK;
}

/* Classification scores of set s: the ensemble's and the last draw's, per example too. */
static sgld_status score_class_set(predictive_ctx *c, int s)
{
    sgld_ens_predictive *p = c->p;
    sgld_ens_predictive_set *set = &p->set[s];
    const int64_t n = p->data[s]->n_local;
    const size_t nn = (size_t)(n > 0 ? n : 1);
    sgld_ens_class_examples *x = &set->ex, *l = &set->last_ex;
    set->n = n;
    x->prob = sgld_malloc(nn * (size_t)p->n_classes * sizeof(double));
    double **d[] = {&x->max_prob, &x->entropy, &x->expected_entropy, &x->mutual_info, &x->nll,
                    &l->max_prob, &l->entropy, &l->mutual_info};
    int ok = x->prob != NULL;
    for (size_t k = 0; k < sizeof d / sizeof d[0]; k++) ok &= (*d[k] = sgld_malloc(nn * sizeof(double))) != NULL;
    ok &= (x->pred = sgld_malloc(nn * sizeof(int))) != NULL;
    ok &= (x->correct = sgld_malloc(nn * sizeof(int))) != NULL;
    SGLD_CHECK(ok, SGLD_ERR_NOMEM, "out of memory scoring %lld examples", (long long)n);
    const float *y = s == 0 ? p->data[0]->y : NULL;
    SGLD_TRY(sgld_ens_class_scores(&c->ens[s], y, &set->ens, x));
    /* the last draw's mutual information: its K members' disagreement (MC dropout only) */
    return sgld_ens_class_scores(&c->last[s], y, &set->last, l);
}

/* 1 - max probability of n examples, the score that is larger out of distribution. */
static double *one_minus(const double *max_prob, int64_t n)
{
    double *u = sgld_malloc((size_t)(n > 0 ? n : 1) * sizeof *u);
    for (int64_t i = 0; u && i < n; i++) u[i] = 1.0 - max_prob[i];
    return u;
}

/* TEST against OTHER: AUROC and AUPR of the three scores of the ensemble and of the last draw
 * (its mutual information only with several masks), and the max-probability histograms. */
static sgld_status score_ood(sgld_ens_predictive *p)
{
    const sgld_ens_predictive_set *a = &p->set[0], *b = &p->set[1];
    double *u[4] = {one_minus(a->ex.max_prob, a->n), one_minus(b->ex.max_prob, b->n),
                    one_minus(a->last_ex.max_prob, a->n), one_minus(b->last_ex.max_prob, b->n)};
    sgld_status st = u[0] && u[1] && u[2] && u[3] ? SGLD_OK : sgld_error_set(SGLD_ERR_NOMEM, "out of memory");
    const double *in[2][3] = {{u[0], a->ex.entropy, a->ex.mutual_info}, {u[2], a->last_ex.entropy, a->last_ex.mutual_info}};
    const double *out[2][3] = {{u[1], b->ex.entropy, b->ex.mutual_info}, {u[3], b->last_ex.entropy, b->last_ex.mutual_info}};
    for (int w = 0; w < 2; w++)
        for (int k = 0; st == SGLD_OK && k < 3; k++)
            if (w == 0 || k < 2 || p->mc_dropout > 1)
                st = sgld_ens_auroc_aupr(in[w][k], a->n, out[w][k], b->n, &p->auroc[w][k], &p->aupr[w][k]);
    for (int k = 0; k < 4; k++) sgld_free(u[k]);
    sgld_ens_histogram(a->ex.max_prob, a->n, SGLD_ENS_HIST_BINS, 0, 1, p->hist[0]);
    sgld_ens_histogram(b->ex.max_prob, b->n, SGLD_ENS_HIST_BINS, 0, 1, p->hist[1]);
    sgld_ens_histogram(a->last_ex.max_prob, a->n, SGLD_ENS_HIST_BINS, 0, 1, p->hist[2]);
    sgld_ens_histogram(b->last_ex.max_prob, b->n, SGLD_ENS_HIST_BINS, 0, 1, p->hist[3]);
    return st;
}

static sgld_status score_class(predictive_ctx *c)
{
    sgld_ens_predictive *p = c->p;
    for (int s = 0; s < p->n_sets; s++) SGLD_TRY(score_class_set(c, s));
    for (int k = 0; k < p->n_chain_scores; k++)
        SGLD_TRY(sgld_ens_class_scores(&c->chain[0][k], p->data[0]->y, &p->chain_class[k], NULL));
    sgld_ens_ece(p->set[0].ex.max_prob, p->set[0].ex.correct, p->set[0].n, SGLD_ENS_ECE_BINS, p->ece_count,
                 p->ece_conf, p->ece_acc);
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < 3; k++) p->auroc[w][k] = p->aupr[w][k] = NAN;
    return p->n_sets == 2 ? score_ood(p) : SGLD_OK;
}

sgld_status sgld_ens_predictive_score(predictive_ctx *c)
{
    sgld_ens_predictive *p = c->p;
    for (int s = 0; s < 2 + p->n_fgsm; s++)
        for (int k = 0; c->chain[s] && k < p->n_chains; k++) sgld_ens_acc_merge(&c->ens[s], &c->chain[s][k]);
    p->n_chain_scores = p->n_chains < SGLD_ENS_CHAINS ? p->n_chains : SGLD_ENS_CHAINS;
    if (!p->classification) return score_reg(c);
    SGLD_TRY(score_class(c));
    return sgld_ens_fgsm_score(c);
}
