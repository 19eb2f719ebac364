/* report_mv.c - the multivariate part of a sample file's summary (report.c): the mESS of Vats,
 * Flegal & Jones (2019) of all non-constant elements, the columns gathered on rank 0; or, when
 * p is too large for that (opt->project = k), the mESS of k random orthonormal projections
 * (Y = X G reduced in rank order) and of the top k principal components (randomized range
 * finder with one power iteration, Halko, Martinsson & Tropp 2011: a second pass over the file
 * forms S = Xc Xc^T Q0).  Sums over ranks are reduced in rank order, so the result does not
 * depend on the number of ranks. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "diag_impl.h"

static const char *const NOTE_NONFINITE = "non-finite draws: multivariate ESS not computed";

/* Gathers per-rank double arrays (counts in doubles) to rank 0 in rank order.  Collective. */
static sgld_status gather_doubles(const report_ctx *c, const double *mine, int n_mine, double *all)
{
    int *counts = NULL, *displs = NULL;
    sgld_status st = SGLD_OK;
    if (c->rank == 0) {
        counts = sgld_calloc((size_t)c->size, sizeof *counts);
        displs = sgld_calloc((size_t)c->size, sizeof *displs);
        if (!counts || !displs) st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory gathering the draws");
    }
    st = sgld_status_agree(c->comm, st);
    if (st == SGLD_OK) {
        MPI_Gather(&n_mine, 1, MPI_INT, counts, 1, MPI_INT, 0, c->comm);
        if (c->rank == 0)
            for (int k = 1; k < c->size; k++) displs[k] = displs[k - 1] + counts[k - 1];
        MPI_Gatherv(mine, n_mine, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, c->comm);
    }
    sgld_free(counts);
    sgld_free(displs);
    return st;
}

/* Sums a len-double array over the ranks onto rank 0 in rank order (deterministic).
 * Collective. */
static sgld_status reduce_ordered(const report_ctx *c, double *a, int64_t len)
{
    if (c->size == 1) return SGLD_OK;
    sgld_status st = SGLD_OK;
    double *tmp = NULL;
    if (c->rank == 0 && !(tmp = sgld_malloc(sizeof(double) * (size_t)len)))
        st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory reducing the sketch");
    st = sgld_status_agree(c->comm, st);
    if (st == SGLD_OK && c->rank == 0) {
        for (int r = 1; r < c->size; r++) {
            MPI_Recv(tmp, (int)len, MPI_DOUBLE, r, 7, c->comm, MPI_STATUS_IGNORE);
            for (int64_t i = 0; i < len; i++) a[i] += tmp[i];
        }
    } else if (st == SGLD_OK) {
        MPI_Send(a, (int)len, MPI_DOUBLE, 0, 7, c->comm);
    }
    sgld_free(tmp);
    return st;
}

/* Rank 0: the constant elements and the diagonal approximation from the gathered elements;
 * returns 1 when an element has a non-finite draw. */
static int count_elems(sgld_diag_report *r)
{
    double sl = 0.0;
    int64_t cnt = 0;
    int any_bad = 0;
    r->mess_diag = NAN;
    for (int64_t e = 0; e < r->n_elems; e++) {
        const sgld_diag_report_elem *el = &r->elems[e];
        any_bad |= el->first_bad >= 0;
        if (el->constant) {
            r->n_constant++;
        } else if (isfinite(el->s.ess_mean) && el->s.ess_mean > 0) {
            sl += log(el->s.ess_mean);
            cnt++;
        }
    }
    if (cnt > 0 && cnt == r->n_elems - r->n_constant) r->mess_diag = exp(sl / (double)cnt);
    return any_bad;
}

/* Rank 0, full estimator: the mESS of the non-constant columns of all_cols [p][N], all chains
 * and each chain alone.  SGLD_ERR_USAGE when the estimator refuses the input (a batch size
 * too large, say); another failure becomes the note. */
static sgld_status full_mess(report_ctx *c, const double *all_cols)
{
    const sgld_diag_report_opts *o = c->o;
    sgld_diag_report *r = c->r;
    const int m = r->n_chains;
    const int64_t n = r->n_draws, N = c->N, p = r->n_elems, pm = p - r->n_constant;
    double *xr = sgld_malloc(sizeof(double) * (size_t)(pm * N));
    SGLD_CHECK(xr, SGLD_ERR_NOMEM, "out of memory for %lld x %lld draws", (long long)N, (long long)pm);
    for (int64_t e = 0, k = 0; e < p; e++) {
        if (r->elems[e].constant) continue;
        for (int64_t i = 0; i < N; i++) xr[i * pm + k] = all_cols[e * N + i];
        k++;
    }
    sgld_status ms = sgld_diag_mess(xr, m, n, (int)pm, o->method, o->batch_size, &r->full);
    if (ms == SGLD_ERR_ARG) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", sgld_error_message());
        sgld_free(xr);
        return sgld_error_set(SGLD_ERR_USAGE, "%s: %s", o->file, msg);
    }
    if (ms != SGLD_OK) snprintf(r->note, sizeof r->note, "%s", sgld_error_message());
    r->have_full = ms == SGLD_OK;
    r->n_per_chain = m < SGLD_DIAG_REPORT_CHAINS ? m : SGLD_DIAG_REPORT_CHAINS;
    for (int k = 0; k < r->n_per_chain; k++) {
        sgld_mess_result rc;
        r->per_chain[k] = sgld_diag_mess(xr + (int64_t)k * n * pm, 1, n, (int)pm, o->method, o->batch_size,
                                         &rc) == SGLD_OK ? rc.mess : NAN;
    }
    sgld_free(xr);
    return SGLD_OK;
}

/* The full estimator: every rank's columns gathered on rank 0.  Collective. */
static sgld_status mv_full(report_ctx *c, int any_bad)
{
    sgld_diag_report *r = c->r;
    const int64_t N = c->N, p = r->n_elems;
    sgld_status st = SGLD_OK;
    double *all_cols = NULL;
    if (c->rank == 0 && !(all_cols = sgld_malloc(sizeof(double) * (size_t)(p * N))))
        st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for %lld x %lld draws", (long long)p, (long long)N);
    st = sgld_status_agree(c->comm, st);
    /* counts in doubles fit an int: p N 8 <= 2e9 was checked */
    if (st == SGLD_OK) st = gather_doubles(c, c->cols, (int)(r->n_mine * N), all_cols);
    if (st == SGLD_OK && c->rank == 0) {
        if (any_bad)
            snprintf(r->note, sizeof r->note, "%s", NOTE_NONFINITE);
        else if (p == r->n_constant)
            snprintf(r->note, sizeof r->note, "every element is constant within its chains: multivariate ESS not computed");
        else
            st = full_mess(c, all_cols);
        r->p_eff = (int)(p - r->n_constant);
    }
    sgld_free(all_cols);
    return sgld_status_agree(c->comm, st);
}

/* Rank 0, projections: the mESS of the k orthonormalized projections (Q = G R^-1 through
 * G^T G), then q0, an orthonormal basis of the centred sketch (Cholesky QR).  Returns 0 when
 * the second pass is not to run (non-finite draws, or a sketch that is not of full rank). */
static int project_sketch(report_ctx *c, int any_bad, double *q0, sgld_status *st)
{
    const sgld_diag_report_opts *o = c->o;
    sgld_diag_report *r = c->r;
    const int64_t N = c->N;
    const int k = o->project, kk = c->kk;
    if (any_bad) {
        snprintf(r->note, sizeof r->note, "%s", NOTE_NONFINITE);
        return 0;
    }
    double *yk = sgld_malloc(sizeof(double) * (size_t)(N * k)), *yq = sgld_malloc(sizeof(double) * (size_t)(N * kk));
    if (!yk || !yq) {
        sgld_free(yk), sgld_free(yq);
        *st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for the %d projections of %lld draws", k, (long long)N);
        return 0;
    }
    memcpy(yq, c->y, sizeof(double) * (size_t)(N * kk));
    int ok = sgld_diag_project_finish(yq, N, kk, c->gtg) == SGLD_OK;
    for (int64_t i = 0; ok && i < N; i++) memcpy(yk + i * k, yq + i * kk, sizeof(double) * (size_t)k);
    if (ok && sgld_diag_mess(yk, r->n_chains, r->n_draws, k, o->method, o->batch_size, &r->proj) == SGLD_OK)
        r->have_proj = 1;
    sgld_free(yk);
    sgld_free(yq);
    double cm[kk], yty[kk * kk];
    for (int j = 0; j < kk; j++) {
        cm[j] = 0.0;
        for (int64_t i = 0; i < N; i++) cm[j] += c->y[i * kk + j];
        cm[j] /= (double)N;
    }
    for (int64_t i = 0; i < N; i++)
        for (int j = 0; j < kk; j++) q0[i * kk + j] = c->y[i * kk + j] - cm[j];
    memset(yty, 0, sizeof yty);
    for (int64_t i = 0; i < N; i++)
        for (int a = 0; a < kk; a++)
            for (int b = 0; b < kk; b++) yty[a * kk + b] += q0[i * kk + a] * q0[i * kk + b];
    return ok && sgld_diag_project_finish(q0, N, kk, yty) == SGLD_OK;
}

/* The second pass: S = Xc Xc^T Q0 block by block, reduced on rank 0, whose leading k left
 * singular vectors are the principal component scores.  Collective. */
static sgld_status pca_pass(report_ctx *c, const double *q0)
{
    const sgld_diag_report_opts *o = c->o;
    sgld_diag_report *r = c->r;
    const int64_t N = c->N, blk = o->block;
    const int kk = c->kk;
    double *s = sgld_calloc((size_t)(N * kk), sizeof *s), *t = sgld_malloc(sizeof(double) * (size_t)(blk * kk));
    sgld_status st = s && t ? SGLD_OK : sgld_error_set(SGLD_ERR_NOMEM, "rank %d: out of memory for the sketch", c->rank);
    for (int64_t e0 = c->e_begin; st == SGLD_OK && e0 < c->e_end; e0 += blk) {
        int64_t ne = c->e_end - e0 < blk ? c->e_end - e0 : blk;
        st = sgld_diag_report_read(c, e0, ne, c->buf);
        if (st != SGLD_OK) break;
        for (int64_t e = 0; e < ne; e++) { /* centre the block in place */
            double me = c->mu[e0 - c->e_begin + e];
            for (int64_t i = 0; i < N; i++) c->buf[e * N + i] -= me;
        }
        sgld_diag_project_block(c->buf, ne, N, q0, kk, t); /* T = Xc_B^T Q0 */
        sgld_diag_project_accumulate(c->buf, ne, N, t, kk, s);
    }
    st = sgld_status_agree(c->comm, st);
    if (st == SGLD_OK) st = reduce_ordered(c, s, N * kk);
    if (st == SGLD_OK && c->rank == 0) {
        double *pcs = sgld_malloc(sizeof(double) * (size_t)(N * o->project));
        if (pcs && sgld_diag_pca_scores(s, N, kk, o->project, pcs, NULL) == SGLD_OK &&
            sgld_diag_mess(pcs, r->n_chains, r->n_draws, o->project, o->method, o->batch_size, &r->pca) == SGLD_OK)
            r->have_pca = 1;
        sgld_free(pcs);
    }
    sgld_free(s);
    sgld_free(t);
    return st;
}

/* The projections: Y = X G and G^T G reduced in rank order, then the two estimates.
 * Collective. */
static sgld_status mv_project(report_ctx *c, int any_bad)
{
    const int64_t N = c->N;
    const int kk = c->kk;
    SGLD_TRY(reduce_ordered(c, c->y, N * kk));
    SGLD_TRY(reduce_ordered(c, c->gtg, (int64_t)kk * kk));
    double *q0 = sgld_malloc(sizeof(double) * (size_t)(N * kk));
    sgld_status st = q0 ? SGLD_OK : sgld_error_set(SGLD_ERR_NOMEM, "rank %d: out of memory for the sketch", c->rank);
    int ok = st == SGLD_OK && c->rank == 0 ? project_sketch(c, any_bad, q0, &st) : 1;
    st = sgld_status_agree(c->comm, st);
    MPI_Bcast(&ok, 1, MPI_INT, 0, c->comm);
    if (st == SGLD_OK && ok) {
        MPI_Bcast(q0, (int)(N * kk), MPI_DOUBLE, 0, c->comm);
        st = pca_pass(c, q0);
    }
    sgld_free(q0);
    c->r->p_eff = c->o->project;
    return st;
}

sgld_status sgld_diag_report_mv(report_ctx *c)
{
    const sgld_diag_report_opts *o = c->o;
    sgld_diag_report *r = c->r;
    int any_bad = c->rank == 0 ? count_elems(r) : 0;
    SGLD_TRY(o->project ? mv_project(c, any_bad) : mv_full(c, any_bad));
    if (c->rank != 0) return SGLD_OK;
    if (o->project)
        r->mess = r->have_proj ? r->proj.mess : NAN;
    else
        r->mess = r->have_full ? r->full.mess : NAN;
    r->method = r->have_full || r->have_proj || r->have_pca ? (o->project ? r->proj.method_used : r->full.method_used)
                                                             : o->method;
    r->min_ess = r->p_eff > 0 ? sgld_diag_min_ess(r->p_eff, o->alpha, o->eps) : NAN;
    return SGLD_OK;
}
