/* predict.c - streaming evaluation of the draws of a sample file on data sets: the
 * (chain, draw) pairs are split over the ranks in contiguous ranges, read a block of draws of
 * one chain at a time (sgld_samples_read_draws, one hyperslab per tensor), evaluated through
 * the model's predict (batched GEMMs for the networks) and added to per-chain accumulators
 * (metrics.c), which are reduced to rank 0 at the end.  MC dropout: each draw K times with
 * fresh dropout masks, every (draw, mask) one member.  Memory: one block of parameters plus
 * the accumulators; the draws are never all in memory. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ensemble_impl.h"
#include "sgld/net.h"

/* Forward flops of one row (the model's hook; 0 for models without one). */
static double forward_flops(const sgld_model *m)
{
    return m->type->forward_flops ? m->type->forward_flops(m) : 0.0;
}

/* One member's dropout masks (MC dropout): stream r, draw index in the file, mask number, and
 * the set's first row in the masks' numbering. */
typedef struct member {
    const sgld_rng *r;
    uint32_t draw, mask, row0;
} member;

/* The model's predictions for rows [i0, i0 + k) of a set: deterministic, or with mc's masks. */
static void predict_rows(const sgld_model *m, const float *theta, const float *x, size_t i0, size_t k,
                         const member *mc, double *out)
{
    if (mc)
        m->type->predict_dropout(m, theta, x, k, mc->r, mc->draw, mc->row0 + (uint32_t)i0, mc->mask, out);
    else
        m->type->predict(m, theta, x, k, out);
}

/* Adds the predictions of add_draw (prob, var, logp) to acc. */
static void add_to(sgld_ens_acc *acc, const double *prob, const double *var, const double *logp, const float *y)
{
    if (acc->K > 0)
        sgld_ens_acc_add_class(acc, prob, y);
    else
        sgld_ens_acc_add_reg_logp(acc, prob, var, logp, y);
}

/* Predicts one draw (one member: mc != NULL for MC dropout) on one set in batches and adds it
 * to acc.  out: [batch][max(K, 2)] scratch, prob: [n][K] (classification) or mu/var [n] each;
 * logp [n]: each row's log density from the model's loglik_rows (a regression with targets
 * and the hook; NULL otherwise). */
static void add_draw(const sgld_model *m, const float *theta, const sgld_ens_set *set, size_t batch,
                     const member *mc, double *out, double *prob, double *var, double *logp, sgld_ens_acc *acc)
{
    const int K = acc->K;
    const size_t n = (size_t)set->n, d = (size_t)m->d;
    for (size_t i0 = 0; i0 < n; i0 += batch) {
        size_t k = n - i0 < batch ? n - i0 : batch;
        if (K > 0) {
            predict_rows(m, theta, set->X + i0 * d, i0, k, mc, prob + i0 * (size_t)K);
        } else { /* (mean, variance) per row */
            predict_rows(m, theta, set->X + i0 * d, i0, k, mc, out);
            for (size_t i = 0; i < k; i++) {
                prob[i0 + i] = out[2 * i];
                var[i0 + i] = out[2 * i + 1];
            }
            if (logp) m->type->loglik_rows(m, theta, set->X + i0 * d, set->y + i0, k, logp + i0);
        }
    }
    add_to(acc, prob, var, logp, set->y);
}

/* Rank r filled rows [G r / size, G (r + 1) / size) of pointwise [G][n] (the (chain, draw)
 * pairs it evaluated); gathers them all into rank 0's.  Collective. */
static sgld_status gather_pointwise(MPI_Comm comm, int rank, int size, int64_t G, int64_t n, double *pointwise)
{
    if (G * n > INT_MAX) return sgld_error_set(SGLD_ERR_ARG, "pointwise log densities: %lld draws x %lld rows are "
                                               "more than one MPI message holds", (long long)G, (long long)n);
    int *counts = sgld_malloc((size_t)size * 2 * sizeof *counts);
    sgld_status st = sgld_status_agree(comm, counts ? SGLD_OK : sgld_error_set(SGLD_ERR_NOMEM, "out of memory"));
    if (st != SGLD_OK) {
        sgld_free(counts);
        return st;
    }
    for (int r = 0; r < size; r++) {
        counts[size + r] = (int)(G * r / size * n);
        counts[r] = (int)(G * (r + 1) / size * n) - counts[size + r];
    }
    double *mine = pointwise + counts[size + rank];
    int rc = MPI_Gatherv(rank == 0 ? MPI_IN_PLACE : mine, counts[rank], MPI_DOUBLE, pointwise, counts,
                         counts + size, MPI_DOUBLE, 0, comm);
    sgld_free(counts);
    return rc == MPI_SUCCESS ? SGLD_OK : sgld_error_set(SGLD_ERR_MPI, "MPI_Gatherv of the pointwise log densities failed");
}

/* Reads the draws of the (chain, draw) pairs [g0, g1) of opt (g = chain * n_sel + selected
 * index) in blocks of opt->block_draws and calls fn(ctx, theta, chain, j) for each.  theta:
 * [block][P] scratch, tmp the same.  Stops at the first failing call.  Not collective. */
sgld_status sgld_ens_walk_draws(sgld_samples_reader *rd, const sgld_model *m, const sgld_ens_eval_options *opt,
                                int64_t g0, int64_t g1, float *theta, float *tmp, sgld_ens_draw_fn fn, void *ctx)
{
    const size_t P = m->n_params;
    const int64_t blk = opt->block_draws > 0 ? opt->block_draws : 1;
    sgld_status st = SGLD_OK;
    /* A block stays within one chain and covers draws [draws[j0], draws[j1 - 1]] of the file
     * (read whole, used where selected). */
    for (int64_t g = g0; st == SGLD_OK && g < g1;) {
        const int64_t c = g / opt->n_sel, j0 = g % opt->n_sel;
        int64_t j1 = j0 + 1;
        while (j1 < opt->n_sel && (c * opt->n_sel + j1) < g1 && opt->draws[j1] - opt->draws[j0] < blk) j1++;
        const int64_t t0 = opt->draws[j0], nt = opt->draws[j1 - 1] - t0 + 1;
        for (int v = 0; st == SGLD_OK && v < m->n_vars; v++) {
            const sgld_param_var *pv = &m->vars[v];
            st = sgld_samples_read_draws(rd, opt->group, pv->name, c, t0, nt, tmp);
            for (int64_t t = 0; st == SGLD_OK && t < nt; t++)
                memcpy(theta + (size_t)t * P + pv->offset, tmp + (size_t)t * pv->size, pv->size * sizeof *tmp);
        }
        for (int64_t j = j0; st == SGLD_OK && j < j1; j++)
            st = fn(ctx, theta + (size_t)(opt->draws[j] - t0) * P, c, j);
        g = c * opt->n_sel + j1;
    }
    return st;
}

sgld_status sgld_ens_check_tensors(sgld_samples_reader *rd, const sgld_model *m, const sgld_ens_eval_options *opt)
{
    sgld_status st = SGLD_OK;
    int64_t max_draw = opt->n_sel > 0 ? opt->draws[opt->n_sel - 1] : -1;
    for (int v = 0; st == SGLD_OK && v < m->n_vars; v++) {
        const sgld_param_var *pv = &m->vars[v];
        int nd;
        int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2], elems = 1;
        st = sgld_samples_shape(rd, opt->group, pv->name, &nd, dims);
        if (st != SGLD_OK) break;
        for (int k = 2; k < nd; k++) elems *= dims[k];
        if (dims[0] != opt->n_chains || dims[1] <= max_draw || elems != (int64_t)pv->size)
            st = sgld_error_set(SGLD_ERR_PARSE, "variable '%s' has shape [%lld, %lld, %lld values], the "
                                "model needs [%d, > %lld, %zu values]", pv->name, (long long)dims[0],
                                (long long)dims[1], (long long)elems, opt->n_chains, (long long)max_draw, pv->size);
    }
    return st;
}

/* The state of sgld_ens_evaluate's walk: what one draw is added to. */
typedef struct eval_walk {
    const sgld_model *m;
    const sgld_ens_eval_options *opt;
    int n_sets, K;
    sgld_ens_set *sets;
    size_t batch;
    double *out, *prob, *var, *logp;
    double t_pred, fl, f_row;
} eval_walk;

/* One selected draw: every member (MC dropout masks) on every set. */
static sgld_status eval_draw(void *ctx, const float *th, int64_t c, int64_t j)
{
    eval_walk *w = ctx;
    const sgld_ens_eval_options *opt = w->opt;
    double t_start = MPI_Wtime();
    const sgld_rng mc_rng = {opt->mc_seed, (uint32_t)c};
    const int is_last = c == 0 && j == opt->n_sel - 1;
    for (int k = 0; k < (opt->mc_dropout > 0 ? opt->mc_dropout : 1); k++) {
        uint32_t row0 = 0;
        for (int s = 0; s < w->n_sets; s++) {
            sgld_ens_set *set = &w->sets[s];
            const member mc = {&mc_rng, (uint32_t)opt->draws[j], (uint32_t)k, row0};
            double *lp = set->y ? w->logp : NULL;
            add_draw(w->m, th, set, w->batch, opt->mc_dropout > 0 ? &mc : NULL, w->out, w->prob, w->var, lp,
                     &set->chain[c]);
            if (set->pointwise)
                sgld_ens_row_logp(w->K, set->n, w->prob, w->var, lp, set->y,
                                  set->pointwise + (size_t)(c * opt->n_sel + j) * (size_t)set->n);
            /* the same predictions once more into `last` (cheap next to the forward) */
            if (is_last) add_to(set->last, w->prob, w->var, lp, set->y);
            w->fl += w->f_row * (double)set->n;
            row0 += (uint32_t)set->n;
        }
    }
    w->t_pred += MPI_Wtime() - t_start;
    return SGLD_OK;
}

sgld_status sgld_ens_evaluate(MPI_Comm comm, sgld_samples_reader *rd, const sgld_model *m,
                              const sgld_ens_eval_options *opt, int n_sets, sgld_ens_set *sets,
                              double *seconds, double *flops)
{
    int rank, size;
    SGLD_MPI(MPI_Comm_rank(comm, &rank));
    SGLD_MPI(MPI_Comm_size(comm, &size));
    const int64_t G = (int64_t)opt->n_chains * opt->n_sel;
    const int64_t blk = opt->block_draws > 0 ? opt->block_draws : 1;
    const size_t P = m->n_params, batch = opt->batch_rows > 0 ? opt->batch_rows : 1;
    const int K = m->classification ? sgld_model_n_outputs(m) : 0;
    int64_t n_max = 0;
    for (int s = 0; s < n_sets; s++) n_max = sets[s].n > n_max ? sets[s].n : n_max;
    const size_t w = (size_t)(K > 2 ? K : 2);
    float *theta = sgld_malloc((size_t)blk * P * sizeof *theta);
    float *tmp = sgld_malloc((size_t)blk * P * sizeof *tmp);
    eval_walk ew = {.m = m, .opt = opt, .n_sets = n_sets, .K = K, .sets = sets, .batch = batch,
                    .f_row = forward_flops(m)};
    ew.out = sgld_malloc(batch * w * sizeof *ew.out);
    ew.prob = sgld_malloc((size_t)(n_max > 0 ? n_max : 1) * w * sizeof *ew.prob);
    ew.var = sgld_malloc((size_t)(n_max > 0 ? n_max : 1) * sizeof *ew.var);
    const int own_density = K == 0 && m->type->loglik_rows;
    ew.logp = own_density ? sgld_malloc((size_t)(n_max > 0 ? n_max : 1) * sizeof *ew.logp) : NULL;
    sgld_status st = SGLD_OK;
    if (!theta || !tmp || !ew.out || !ew.prob || !ew.var || (own_density && !ew.logp))
        st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory: a block of %lld draws x %zu parameters",
                            (long long)blk, P);
    if (st == SGLD_OK && opt->mc_dropout > 0 && !m->type->predict_dropout)
        st = sgld_error_set(SGLD_ERR_ARG, "MC dropout: model %s has no dropout", m->type->name);
    if (st == SGLD_OK && opt->mc_dropout > SGLD_NET_MC_MASKS)
        st = sgld_error_set(SGLD_ERR_ARG, "MC dropout: %d masks per draw, at most %d", opt->mc_dropout,
                            SGLD_NET_MC_MASKS);
    if (st == SGLD_OK) st = sgld_ens_check_tensors(rd, m, opt);
    if (st == SGLD_OK)
        st = sgld_ens_walk_draws(rd, m, opt, G * rank / size, G * (rank + 1) / size, theta, tmp, eval_draw, &ew);
    sgld_free(theta);
    sgld_free(tmp);
    sgld_free(ew.out);
    sgld_free(ew.prob);
    sgld_free(ew.var);
    sgld_free(ew.logp);
    if (st == SGLD_OK && opt->mc_dropout > 0)
        for (int s = 0; s < n_sets; s++)
            if (sets[s].pointwise) st = sgld_error_set(SGLD_ERR_ARG, "pointwise log densities with MC dropout");
    st = sgld_status_agree(comm, st);
    for (int s = 0; st == SGLD_OK && s < n_sets; s++)
        if (sets[s].pointwise) st = gather_pointwise(comm, rank, size, G, sets[s].n, sets[s].pointwise);
    for (int s = 0; st == SGLD_OK && s < n_sets; s++) {
        for (int c = 0; st == SGLD_OK && c < opt->n_chains; c++) st = sgld_ens_acc_reduce(&sets[s].chain[c], comm);
        if (st == SGLD_OK) st = sgld_ens_acc_reduce(sets[s].last, comm);
    }
    if (seconds) *seconds = ew.t_pred;
    if (flops) *flops = ew.fl;
    return st;
}
