/* fgsm.c - FGSM adversarial examples (Goodfellow, Shlens & Szegedy 2015) against the posterior
 * predictive of a sample file's draws (definitions in include/sgld/ensemble.h): the input
 * gradient of the model average's NLL, accumulated over the draws as a running logsumexp
 * (sgld_ens_grad_acc), and each draw's own attack; the adversarial sets are then evaluated by
 * predictive.c like TEST (sets 2 + e of its context).
 *
 * Invariant: after sgld_ens_grad_acc_add of draws s = 1..S, lsum[i] exp(lmax[i]) =
 * sum_s p_s(y_i | x_i) and g[i] exp(lmax[i]) = sum_s p_s(y_i | x_i) grad_x log p_s(y_i | x_i). */
#include <math.h>
#include <string.h>

#include "ensemble_impl.h"

sgld_status sgld_ens_grad_acc_init(sgld_ens_grad_acc *a, int64_t n, int d)
{
    memset(a, 0, sizeof *a);
    SGLD_CHECK(n >= 0 && d >= 1, SGLD_ERR_ARG, "sgld_ens_grad_acc_init: n = %lld, d = %d", (long long)n, d);
    a->n = n;
    a->d = d;
    const size_t nn = (size_t)(n > 0 ? n : 1);
    a->lmax = sgld_malloc(nn * sizeof *a->lmax);
    a->lsum = sgld_calloc(nn, sizeof *a->lsum);
    a->g = sgld_calloc(nn * (size_t)d, sizeof *a->g);
    if (!a->lmax || !a->lsum || !a->g) {
        sgld_ens_grad_acc_finalize(a);
        return sgld_error_set(SGLD_ERR_NOMEM, "out of memory: input gradients of %lld rows x %d", (long long)n, d);
    }
    for (int64_t i = 0; i < n; i++) a->lmax[i] = -INFINITY;
    return SGLD_OK;
}

void sgld_ens_grad_acc_finalize(sgld_ens_grad_acc *a)
{
    if (!a) return;
    sgld_free(a->lmax);
    sgld_free(a->lsum);
    sgld_free(a->g);
    a->lmax = a->lsum = a->g = NULL;
}

void sgld_ens_grad_acc_add(sgld_ens_grad_acc *a, const double *logp, const float *dlogp)
{
    const size_t d = (size_t)a->d;
    for (int64_t i = 0; i < a->n; i++) {
        const double l = logp[i] > SGLD_ENS_LOGP_FLOOR ? logp[i] : SGLD_ENS_LOGP_FLOOR;
        double *g = a->g + (size_t)i * d;
        const float *gi = dlogp + (size_t)i * d;
        if (l > a->lmax[i]) { /* rescale the sums to the new maximum */
            const double r = isinf(a->lmax[i]) ? 0.0 : exp(a->lmax[i] - l);
            a->lsum[i] *= r;
            for (size_t j = 0; j < d; j++) g[j] *= r;
            a->lmax[i] = l;
        }
        const double w = exp(l - a->lmax[i]);
        a->lsum[i] += w;
        for (size_t j = 0; j < d; j++) g[j] += w * (double)gi[j];
    }
    a->n_draws++;
}

sgld_status sgld_ens_grad_acc_allreduce(sgld_ens_grad_acc *a, MPI_Comm comm)
{
    const size_t n = (size_t)a->n, d = (size_t)a->d;
    double *lm = sgld_malloc((n > 0 ? n : 1) * sizeof *lm);
    SGLD_CHECK(lm, SGLD_ERR_NOMEM, "out of memory");
    int rc = MPI_Allreduce(a->lmax, lm, (int)n, MPI_DOUBLE, MPI_MAX, comm);
    for (size_t i = 0; rc == MPI_SUCCESS && i < n; i++) { /* every rank to the common maximum */
        const double r = isinf(a->lmax[i]) ? 0.0 : exp(a->lmax[i] - lm[i]);
        a->lsum[i] *= r;
        for (size_t j = 0; j < d; j++) a->g[i * d + j] *= r;
        a->lmax[i] = lm[i];
    }
    sgld_free(lm);
    long long nd = (long long)a->n_draws;
    if (rc == MPI_SUCCESS) rc = MPI_Allreduce(MPI_IN_PLACE, a->lsum, (int)n, MPI_DOUBLE, MPI_SUM, comm);
    if (rc == MPI_SUCCESS) rc = MPI_Allreduce(MPI_IN_PLACE, a->g, (int)(n * d), MPI_DOUBLE, MPI_SUM, comm);
    if (rc == MPI_SUCCESS) rc = MPI_Allreduce(MPI_IN_PLACE, &nd, 1, MPI_LONG_LONG, MPI_SUM, comm);
    a->n_draws = nd;
    return rc == MPI_SUCCESS ? SGLD_OK : sgld_error_set(SGLD_ERR_MPI, "MPI_Allreduce of the input gradients failed");
}

sgld_status sgld_ens_grad_acc_nll(const sgld_ens_grad_acc *a, double *nll, float *grad)
{
    SGLD_CHECK(a->n_draws >= 1, SGLD_ERR_ARG, "sgld_ens_grad_acc_nll: no draw added");
    const size_t d = (size_t)a->d;
    for (int64_t i = 0; i < a->n; i++) {
        if (nll) nll[i] = -(a->lmax[i] + log(a->lsum[i]) - log((double)a->n_draws));
        for (size_t j = 0; j < d; j++) grad[(size_t)i * d + j] = (float)(-a->g[(size_t)i * d + j] / a->lsum[i]);
    }
    return SGLD_OK;
}

void sgld_ens_draw_input_grad(const sgld_model *m, const float *theta, const float *x, const float *y, size_t n,
                              size_t batch, double *prob, double *logp, float *dlogp)
{
    const size_t d = (size_t)m->d, K = (size_t)sgld_model_n_outputs(m);
    for (size_t i0 = 0; i0 < n; i0 += batch) {
        const size_t k = n - i0 < batch ? n - i0 : batch;
        m->type->predict(m, theta, x + i0 * d, k, prob);
        for (size_t i = 0; i < k; i++) {
            const double p = prob[i * K + (size_t)y[i0 + i]];
            logp[i0 + i] = p > 0 ? fmax(log(p), SGLD_ENS_LOGP_FLOOR) : SGLD_ENS_LOGP_FLOOR;
        }
        m->type->loglik_grad_input(m, theta, x + i0 * d, y + i0, k, dlogp + i0 * d);
    }
}

void sgld_ens_fgsm_step(const float *x, const float *grad, size_t n, double eps, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const double s = grad[i] > 0 ? 1.0 : grad[i] < 0 ? -1.0 : 0.0;
        const double v = x[i] + eps * s;
        out[i] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
    }
}

sgld_status sgld_ens_fgsm_check(const predictive_ctx *c)
{
    const sgld_ens_predictive_opts *o = c->o;
    if (o->n_fgsm == 0) return SGLD_OK;
    SGLD_CHECK(c->m.classification, SGLD_ERR_USAGE,
               "--fgsm: the %s model of %s is a regression; FGSM attacks a classifier", c->cfg.model, o->file);
    SGLD_CHECK(c->m.type->loglik_grad_input, SGLD_ERR_USAGE,
               "--fgsm: the %s model of %s has no input gradient (loglik_grad_input); FGSM needs a network: mlp or "
               "cnn", c->cfg.model, o->file);
    SGLD_CHECK(!o->mc_dropout, SGLD_ERR_USAGE, "--fgsm: not with --mc-dropout (the attack's gradient is of the "
               "network without dropout)");
    SGLD_CHECK(o->n_fgsm <= SGLD_ENS_FGSM_MAX, SGLD_ERR_USAGE, "--fgsm: %d values, at most %d", o->n_fgsm,
               SGLD_ENS_FGSM_MAX);
    const sgld_dataset *ds = c->p->data[0];
    const size_t n = (size_t)ds->n_local * (size_t)ds->d;
    for (size_t k = 0; k < n; k++)
        if (!(ds->X[k] >= 0 && ds->X[k] <= 1))
            return sgld_error_set(SGLD_ERR_USAGE, "--fgsm: %s: row %lld, feature %lld = %g is outside [0, 1] (FGSM "
                                  "clips to the pixel range [0, 1])", o->data, (long long)(k / (size_t)ds->d),
                                  (long long)(k % (size_t)ds->d), (double)ds->X[k]);
    return SGLD_OK;
}

/* The gradient pass's state: TEST standardized, each draw's gradient and attacked rows. */
typedef struct attack_walk {
    predictive_ctx *c;
    size_t batch;
    sgld_ens_grad_acc acc;
    double *prob, *logp;
    float *dlogp, *xadv;
    double sums[SGLD_ENS_FGSM_MAX][3]; /* per eps: correct, nll, max prob summed over draws and rows */
    double *right;                     /* [n_fgsm][n] draws right on their own examples */
} attack_walk;

/* Pixels -> the model's inputs (the stored standardization, if any), n rows in place. */
static void standardize_rows(const predictive_ctx *c, float *x, size_t n)
{
    if (!c->mean) return;
    const size_t d = (size_t)c->d;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) x[i * d + j] = (float)((x[i * d + j] - c->mean[j]) / c->sd[j]);
}

/* One draw: its log p and input gradient on TEST into the ensemble's sums, then its own attack
 * at every eps scored on that draw. */
static sgld_status attack_draw(void *ctx, const float *theta, int64_t chain, int64_t j)
{
    (void)chain;
    (void)j;
    attack_walk *w = ctx;
    const predictive_ctx *c = w->c;
    const sgld_dataset *ds = c->p->data[0];
    const size_t n = (size_t)ds->n_local, d = (size_t)c->d, K = (size_t)sgld_model_n_outputs(&c->m);
    sgld_ens_draw_input_grad(&c->m, theta, ds->X, ds->y, n, w->batch, w->prob, w->logp, w->dlogp);
    sgld_ens_grad_acc_add(&w->acc, w->logp, w->dlogp);
    for (size_t k = 0; k < n * d; k++) w->dlogp[k] = -w->dlogp[k]; /* the loss's gradient */
    for (int e = 0; e < c->o->n_fgsm; e++) {
        sgld_ens_fgsm_step(c->raw, w->dlogp, n * d, c->o->fgsm_eps[e], w->xadv);
        standardize_rows(c, w->xadv, n);
        for (size_t i0 = 0; i0 < n; i0 += w->batch) {
            const size_t k = n - i0 < w->batch ? n - i0 : w->batch;
            c->m.type->predict(&c->m, theta, w->xadv + i0 * d, k, w->prob);
            for (size_t i = 0; i < k; i++) {
                const double *p = w->prob + i * K;
                size_t best = 0;
                for (size_t q = 1; q < K; q++) best = p[q] > p[best] ? q : best;
                const size_t y = (size_t)ds->y[i0 + i];
                const int right = best == y;
                w->sums[e][0] += right;
                w->sums[e][1] -= p[y] > 0 ? fmax(log(p[y]), SGLD_ENS_LOGP_FLOOR) : SGLD_ENS_LOGP_FLOOR;
                w->sums[e][2] += p[best];
                w->right[(size_t)e * n + i0 + i] += right;
            }
        }
    }
    return SGLD_OK;
}

/* The model average's examples of every eps, from the reduced sums: c->adv[e]. */
static sgld_status make_adversarial(predictive_ctx *c, attack_walk *w)
{
    const size_t n = (size_t)c->p->data[0]->n_local, d = (size_t)c->d;
    SGLD_TRY(sgld_ens_grad_acc_nll(&w->acc, NULL, w->dlogp));
    for (int e = 0; e < c->o->n_fgsm; e++) {
        SGLD_ALLOC(c->adv[e], n * d > 0 ? n * d : 1);
        sgld_ens_fgsm_step(c->raw, w->dlogp, n * d, c->o->fgsm_eps[e], c->adv[e]);
        standardize_rows(c, c->adv[e], n);
    }
    return SGLD_OK;
}

sgld_status sgld_ens_fgsm_attack(predictive_ctx *c)
{
    sgld_ens_predictive *p = c->p;
    const sgld_ens_predictive_opts *o = c->o;
    const size_t n = (size_t)p->data[0]->n_local, d = (size_t)c->d, nn = n > 0 ? n : 1;
    const size_t K = (size_t)sgld_model_n_outputs(&c->m), P = c->m.n_params;
    const int64_t blk = o->block_draws, G = (int64_t)p->n_chains * c->n_sel;
    attack_walk w = {.c = c, .batch = (size_t)o->batch_rows};
    float *theta = sgld_malloc((size_t)blk * P * sizeof *theta), *tmp = sgld_malloc((size_t)blk * P * sizeof *tmp);
    w.prob = sgld_malloc(w.batch * K * sizeof *w.prob);
    w.logp = sgld_malloc(nn * sizeof *w.logp);
    w.dlogp = sgld_malloc(nn * d * sizeof *w.dlogp);
    w.xadv = sgld_malloc(nn * d * sizeof *w.xadv);
    w.right = sgld_calloc(nn * (size_t)o->n_fgsm, sizeof *w.right);
    sgld_status st = sgld_ens_grad_acc_init(&w.acc, (int64_t)n, c->d);
    if (st == SGLD_OK && (!theta || !tmp || !w.prob || !w.logp || !w.dlogp || !w.xadv || !w.right))
        st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory: FGSM on %zu rows", n);
    sgld_ens_eval_options eo = {.group = "posterior", .n_chains = p->n_chains, .draws = c->sel, .n_sel = c->n_sel,
                                .block_draws = blk, .batch_rows = w.batch};
    if (st == SGLD_OK) st = sgld_ens_check_tensors(c->rd, &c->m, &eo);
    if (st == SGLD_OK)
        st = sgld_ens_walk_draws(c->rd, &c->m, &eo, G * c->rank / c->size, G * (c->rank + 1) / c->size, theta, tmp,
                                 attack_draw, &w);
    st = sgld_status_agree(c->comm, st);
    if (st == SGLD_OK) st = sgld_ens_grad_acc_allreduce(&w.acc, c->comm);
    if (st == SGLD_OK && MPI_Allreduce(MPI_IN_PLACE, w.sums, 3 * SGLD_ENS_FGSM_MAX, MPI_DOUBLE, MPI_SUM, c->comm) != MPI_SUCCESS)
        st = sgld_error_set(SGLD_ERR_MPI, "MPI_Allreduce of the FGSM sums failed");
    if (st == SGLD_OK && MPI_Reduce(c->rank == 0 ? MPI_IN_PLACE : w.right, w.right, (int)(n * (size_t)o->n_fgsm),
                                    MPI_DOUBLE, MPI_SUM, 0, c->comm) != MPI_SUCCESS)
        st = sgld_error_set(SGLD_ERR_MPI, "MPI_Reduce of the FGSM counts failed");
    if (st == SGLD_OK) st = make_adversarial(c, &w);
    p->n_fgsm = o->n_fgsm;
    for (int e = 0; st == SGLD_OK && e < o->n_fgsm; e++) {
        sgld_ens_fgsm_result *r = &p->fgsm[e];
        const double members = (double)G * (double)n;
        r->eps = o->fgsm_eps[e];
        r->draw_accuracy = w.sums[e][0] / members;
        r->draw_nll = w.sums[e][1] / members;
        r->draw_max_prob = w.sums[e][2] / members;
        if (c->rank != 0) continue;
        SGLD_ALLOC(r->draw_correct, nn);
        for (size_t i = 0; i < n; i++) r->draw_correct[i] = w.right[(size_t)e * n + i] / (double)G;
    }
    sgld_ens_grad_acc_finalize(&w.acc);
    sgld_free(theta);
    sgld_free(tmp);
    sgld_free(w.prob);
    sgld_free(w.logp);
    sgld_free(w.dlogp);
    sgld_free(w.xadv);
    sgld_free(w.right);
    return sgld_status_agree(c->comm, st);
}

sgld_status sgld_ens_fgsm_score(predictive_ctx *c)
{
    sgld_ens_predictive *p = c->p;
    const int64_t n = p->data[0]->n_local;
    const size_t nn = (size_t)(n > 0 ? n : 1);
    for (int e = 0; e < p->n_fgsm; e++) {
        sgld_ens_class_examples *x = &p->fgsm[e].ens_ex;
        x->max_prob = sgld_malloc(nn * sizeof(double));
        x->mutual_info = sgld_malloc(nn * sizeof(double));
        x->nll = sgld_malloc(nn * sizeof(double));
        x->pred = sgld_malloc(nn * sizeof(int));
        x->correct = sgld_malloc(nn * sizeof(int));
        SGLD_CHECK(x->max_prob && x->mutual_info && x->nll && x->pred && x->correct, SGLD_ERR_NOMEM,
                   "out of memory scoring %lld FGSM examples", (long long)n);
        SGLD_TRY(sgld_ens_class_scores(&c->ens[2 + e], p->data[0]->y, &p->fgsm[e].ens, x));
    }
    return SGLD_OK;
}
