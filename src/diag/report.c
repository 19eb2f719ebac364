/* report.c - the summary of a sample file: per-element ESS, R-hat, MCSE and quantiles of every
 * variable of a group (and their nested R-hat when the chains form superchains, nested_rhat.c),
 * then the multivariate ESS (report_mv.c).  The algorithms and their
 * references are in include/sgld/diag.h.
 *
 * Elements are split over the ranks in contiguous ranges and streamed in blocks, so memory is
 * bounded by a block (block elements x chains x draws doubles), not by the file.  Each element
 * is computed by the same code whatever rank or thread holds it and rank 0 gathers the
 * elements in order, so the report does not depend on the number of ranks or threads. */
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdio.h>
#include <string.h>

#include "diag_impl.h"

void sgld_diag_elem_name(const sgld_diag_report_var *v, int64_t e, char *buf, size_t cap)
{
    int nd = v->n_dims - 2;
    if (nd == 0) {
        snprintf(buf, cap, "%s", v->name);
        return;
    }
    int64_t idx[SGLD_SAMPLES_MAX_DIMS];
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = e % v->dims[d + 2];
        e /= v->dims[d + 2];
    }
    size_t len = (size_t)snprintf(buf, cap, "%s[", v->name);
    for (int d = 0; d < nd && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", d ? "," : "", (long long)idx[d]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

void sgld_diag_report_destroy(sgld_diag_report **pr)
{
    if (!pr || !*pr) return;
    sgld_diag_report *r = *pr;
    for (int v = 0; r->vars && v < r->n_vars; v++) sgld_free(r->vars[v].name);
    sgld_free(r->vars);
    sgld_free(r->elems);
    sgld_free(r);
    *pr = NULL;
}

/* Fills r->vars with the requested variables of the group (all of them when none is named)
 * and their shapes.  A failure is the input's: SGLD_ERR_USAGE with the reader's message or
 * our own.  Local. */
static sgld_status find_vars(report_ctx *c, int n_names, char **names)
{
    const sgld_diag_report_opts *o = c->o;
    sgld_diag_report *r = c->r;
    int want = o->n_vars ? o->n_vars : n_names;
    SGLD_ALLOC(r->vars, want);
    SGLD_ALLOC(c->br, want);
    for (int i = 0; i < want; i++) {
        const char *nm = o->n_vars ? o->vars[i] : names[i];
        int found = 0;
        for (int j = 0; j < n_names; j++) found |= !strcmp(names[j], nm);
        SGLD_CHECK(found, SGLD_ERR_USAGE, "%s: no variable '%s' in group '%s'", o->file, nm, o->group);
        sgld_diag_report_var *v = &r->vars[r->n_vars];
        v->name = sgld_strdup(nm);
        SGLD_CHECK(v->name, SGLD_ERR_NOMEM, "out of memory");
        r->n_vars++;
        if (sgld_samples_shape(c->rd, o->group, nm, &v->n_dims, v->dims) != SGLD_OK) return SGLD_ERR_USAGE;
    }
    SGLD_CHECK(r->n_vars > 0, SGLD_ERR_USAGE, "%s: group '%s' has no variable shaped [chain, draw, ...]",
               o->file, o->group);
    return SGLD_OK;
}

/* The draw count every variable is read at: the smallest draw extent of the group's
 * variables (all of them, not only those summarized, so that --var gives the numbers of the
 * full summary).  One flush of the writer extends every variable of a group, and a file still
 * being written can show some extended and some not: their common draws are complete.  Sets
 * r->n_draws and r->n_draws_max.  Local. */
static sgld_status group_draws(report_ctx *c, int n_names, char **names)
{
    sgld_diag_report *r = c->r;
    r->n_draws = -1;
    r->n_draws_max = 0;
    for (int j = 0; j < n_names; j++) {
        int nd;
        int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2];
        if (sgld_samples_shape(c->rd, c->o->group, names[j], &nd, dims) != SGLD_OK) return SGLD_ERR_USAGE;
        if (r->n_draws < 0 || dims[1] < r->n_draws) r->n_draws = dims[1];
        if (dims[1] > r->n_draws_max) r->n_draws_max = dims[1];
    }
    return SGLD_OK;
}

/* Checks that the variables share the chains; sets the elements of the report.  SGLD_ERR_USAGE
 * when they do not fit. */
static sgld_status check_shapes(report_ctx *c)
{
    const sgld_diag_report_opts *o = c->o;
    sgld_diag_report *r = c->r;
    const sgld_diag_report_var *v0 = &r->vars[0];
    const int64_t m = v0->dims[0];
    int64_t p = 0;
    for (int k = 0; k < r->n_vars; k++) {
        sgld_diag_report_var *v = &r->vars[k];
        SGLD_CHECK(v->dims[0] == m, SGLD_ERR_USAGE, "%s: variable '%s' has %lld chains but '%s' has %lld",
                   o->file, v->name, (long long)v->dims[0], v0->name, (long long)m);
        v->n_elem = 1;
        for (int d = 2; d < v->n_dims; d++) v->n_elem *= v->dims[d];
        v->first = p;
        p += v->n_elem;
    }
    SGLD_CHECK(m <= INT32_MAX, SGLD_ERR_USAGE, "%s: variable '%s': %lld chains", o->file, v0->name, (long long)m);
    r->n_chains = (int)m;
    r->n_elems = p;
    return SGLD_OK;
}

/* The ranks read the file on their own, and a file still being written can have grown between
 * their reads: every rank takes the smallest draw count any rank found.  The chains and
 * elements cannot change that way; if they differ the file was replaced meanwhile.
 * Collective; the same status on every rank. */
static sgld_status agree_shapes(report_ctx *c)
{
    sgld_diag_report *r = c->r;
    int64_t mine[5] = {r->n_draws, -r->n_draws_max, r->n_chains, -(int64_t)r->n_chains, r->n_elems}, lo[5];
    int64_t elems_hi = 0;
    SGLD_MPI(MPI_Allreduce(mine, lo, 5, MPI_INT64_T, MPI_MIN, c->comm));
    SGLD_MPI(MPI_Allreduce(&r->n_elems, &elems_hi, 1, MPI_INT64_T, MPI_MAX, c->comm));
    SGLD_CHECK(lo[2] == -lo[3] && lo[4] == elems_hi, SGLD_ERR_USAGE,
               "%s: the file changed while it was read (the ranks found different chains or elements)", c->o->file);
    r->n_draws = lo[0];
    r->n_draws_max = -lo[1];
    if (c->o->max_draws > 0 && r->n_draws > c->o->max_draws) r->n_draws = c->o->max_draws;
    for (int k = 0; k < r->n_vars; k++) r->vars[k].dims[1] = r->n_draws;
    return SGLD_OK;
}

/* Checks that the estimators can be formed with the common draws and opens the fast readers.
 * SGLD_ERR_USAGE when they cannot.  Local; every rank finds the same (after agree_shapes). */
static sgld_status check_limits(report_ctx *c)
{
    const sgld_diag_report_opts *o = c->o;
    sgld_diag_report *r = c->r;
    const int64_t n = r->n_draws, p = r->n_elems;
    SGLD_CHECK(n >= SGLD_DIAG_MIN_DRAWS, SGLD_ERR_USAGE, "%s: variable '%s': %lld draws per chain, need at least %d",
               o->file, r->vars[0].name, (long long)n, SGLD_DIAG_MIN_DRAWS);
    const int64_t N = (int64_t)r->n_chains * n;
    /* The full estimator needs p < number of batches <= N / 2 and all p columns in memory. */
    SGLD_CHECK(o->project || (p < N / 2 && (double)p * (double)N * 8.0 <= 2e9), SGLD_ERR_USAGE,
               "%s: p = %lld parameters is too many for the batch means estimator with %lld draws "
               "(p must be below the number of batches); use --project k (e.g. --project 10) "
               "for the mESS of k random projections and of the top k principal components",
               o->file, (long long)p, (long long)N);
    SGLD_CHECK(!o->project || o->project + 10 <= N / 2, SGLD_ERR_USAGE,
               "%s: --project k is too large for the number of draws", o->file);
    for (int k = 0; k < r->n_vars; k++)
        if (r->vars[k].n_dims == 3) c->br[k] = sgld_samples_block_open(c->rd, o->group, r->vars[k].name, n);
    return SGLD_OK;
}

/* Opens the file and finds what to summarize.  SGLD_ERR_USAGE when the input does not fit,
 * SGLD_ERR_NOMEM.  Local: every rank opens the file read-only and finds the same, except
 * that a file still being written may show more draws to a later reader (agree_shapes). */
static sgld_status open_input(report_ctx *c)
{
    if (sgld_samples_open(c->o->file, &c->rd) != SGLD_OK) return SGLD_ERR_USAGE;
    int n_names = 0;
    char **names = NULL;
    if (sgld_samples_list(c->rd, c->o->group, &n_names, &names) != SGLD_OK) return SGLD_ERR_USAGE;
    sgld_status st = find_vars(c, n_names, names);
    if (st == SGLD_OK) st = group_draws(c, n_names, names);
    sgld_samples_free_names(n_names, &names);
    SGLD_TRY(st);
    SGLD_TRY(check_shapes(c));
    return sgld_diag_report_superchains(c);
}

sgld_status sgld_diag_report_read(const report_ctx *c, int64_t g0, int64_t n, double *buf)
{
    const sgld_diag_report *r = c->r;
    for (int v = 0; v < r->n_vars && n > 0; v++) {
        const sgld_diag_report_var *vi = &r->vars[v];
        if (g0 >= vi->first + vi->n_elem) continue;
        int64_t off = g0 - vi->first, take = vi->n_elem - off < n ? vi->n_elem - off : n;
        if (c->br[v])
            SGLD_TRY(sgld_samples_block_read(c->br[v], off, take, buf));
        else
            SGLD_TRY(sgld_samples_read_elems_draws(c->rd, c->o->group, vi->name, off, take, r->n_draws, buf));
        buf += take * c->N;
        g0 += take;
        n -= take;
    }
    return SGLD_OK;
}

/* The workspaces of pass 1 on this rank: the block, the rows, the columns (full estimator) or
 * the sketch (projections), one diagnostics workspace per thread. */
static sgld_status alloc_pass1(report_ctx *c)
{
    const int64_t n_mine = c->e_end - c->e_begin, blk = c->o->block, N = c->N, kk = c->kk;
    const size_t mine = (size_t)(n_mine > 0 ? n_mine : 1);
    c->n_threads = 1;
#ifdef _OPENMP
    c->n_threads = omp_get_max_threads();
#endif
    c->wss = sgld_calloc((size_t)c->n_threads, sizeof *c->wss);
    c->buf = sgld_malloc(sizeof(double) * (size_t)(blk * N));
    c->rows = sgld_calloc(mine, sizeof *c->rows);
    if (!c->o->project) c->cols = sgld_malloc(sizeof(double) * mine * (size_t)N);
    if (kk) {
        c->g = sgld_malloc(sizeof(double) * (size_t)(blk * kk));
        c->y = sgld_calloc((size_t)(N * kk), sizeof *c->y);
        c->gtg = sgld_calloc((size_t)(kk * kk), sizeof *c->gtg);
        c->mu = sgld_calloc(mine, sizeof *c->mu);
    }
    SGLD_CHECK(c->wss && c->buf && c->rows && (c->o->project || c->cols) && (!kk || (c->g && c->y && c->gtg && c->mu)),
               SGLD_ERR_NOMEM, "rank %d: out of memory (block of %lld elements x %lld draws)", c->rank,
               (long long)blk, (long long)N);
    for (int th = 0; th < c->n_threads; th++) {
        SGLD_TRY(sgld_diag_ws_create(c->r->n_chains, c->r->n_draws, &c->wss[th]));
        sgld_diag_ws_set_mcse_sd_rule(c->wss[th], c->o->mcse_sd_rule);
    }
    return SGLD_OK;
}

/* 1 when each of the m chains of x [chain][draw] (n draws) holds one value.  Such an element
 * has no variance within a chain, which makes the batch-means covariance singular (an mESS of
 * 0/0), so the multivariate part skips it. */
static int constant_in_chains(const double *x, int m, int64_t n)
{
    for (int c = 0; c < m; c++)
        for (int64_t i = 1; i < n; i++)
            if (x[c * n + i] != x[c * n]) return 0;
    return 1;
}

/* The univariate diagnostics of the ne elements of buf (global elements from e0), one
 * workspace per thread: the elements are independent and each thread's result is the same. */
static void summarize_block(report_ctx *c, int64_t e0, int64_t ne)
{
    const int m = c->r->n_chains;
    const int64_t n = c->r->n_draws;
#pragma omp parallel for schedule(dynamic, 2)
    for (int64_t e = 0; e < ne; e++) {
        int th = 0;
#ifdef _OPENMP
        th = omp_get_thread_num();
#endif
        const double *x = c->buf + e * c->N;
        sgld_diag_report_elem *row = &c->rows[e0 - c->e_begin + e];
        sgld_diag_summarize(c->wss[th], x, &row->s, &row->first_bad);
        row->constant = constant_in_chains(x, m, n);
        row->nrhat = c->sc_chains ? sgld_diag_nested_rhat(x, n, c->sc_chains, c->r->n_superchains,
                                                          c->r->chains_per_superchain)
                                  : NAN;
    }
}

/* Keeps what the multivariate part needs of a block: its columns (full estimator), or its
 * means and its share of Y = X G and G^T G (projections). */
static void keep_block(report_ctx *c, int64_t e0, int64_t ne)
{
    const int64_t N = c->N;
    const int kk = c->kk;
    for (int64_t e = 0; e < ne; e++) {
        const double *x = c->buf + e * N;
        if (c->cols) memcpy(c->cols + (e0 - c->e_begin + e) * N, x, sizeof(double) * (size_t)N);
        if (kk) {
            double s1 = 0.0;
            for (int64_t i = 0; i < N; i++) s1 += x[i];
            c->mu[e0 - c->e_begin + e] = s1 / (double)N;
        }
    }
    if (kk) {
        sgld_diag_project_rows(c->o->seed, e0, ne, kk, c->g);
        sgld_diag_project_accumulate(c->buf, ne, N, c->g, kk, c->y);
        for (int64_t e = 0; e < ne; e++)
            for (int i = 0; i < kk; i++)
                for (int j = 0; j < kk; j++) c->gtg[i * kk + j] += c->g[e * kk + i] * c->g[e * kk + j];
    }
}

/* Pass 1 over this rank's elements.  Local; the caller agrees on the status. */
static sgld_status pass1(report_ctx *c)
{
    sgld_diag_report *r = c->r;
    SGLD_TRY(alloc_pass1(c));
    const int64_t blk = c->o->block;
    for (int64_t e0 = c->e_begin; e0 < c->e_end; e0 += blk) {
        int64_t ne = c->e_end - e0 < blk ? c->e_end - e0 : blk;
        double t0 = MPI_Wtime();
        SGLD_TRY(sgld_diag_report_read(c, e0, ne, c->buf));
        r->seconds_read += MPI_Wtime() - t0;
        t0 = MPI_Wtime();
        summarize_block(c, e0, ne);
        r->seconds_univariate += MPI_Wtime() - t0;
        keep_block(c, e0, ne);
    }
    return SGLD_OK;
}

/* Gathers the elements on rank 0 in rank order, i.e. in element order.  Collective. */
static sgld_status gather_elems(report_ctx *c)
{
    sgld_diag_report *r = c->r;
    int *counts = NULL, *displs = NULL, n_mine = (int)r->n_mine;
    sgld_status st = SGLD_OK;
    if (c->rank == 0) {
        r->elems = sgld_malloc(sizeof *r->elems * (size_t)(r->n_elems > 0 ? r->n_elems : 1));
        counts = sgld_calloc((size_t)c->size, sizeof *counts);
        displs = sgld_calloc((size_t)c->size, sizeof *displs);
        if (!r->elems || !counts || !displs)
            st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory gathering %lld elements", (long long)r->n_elems);
    }
    st = sgld_status_agree(c->comm, st);
    MPI_Datatype elem_type;
    MPI_Type_contiguous((int)sizeof *r->elems, MPI_BYTE, &elem_type);
    MPI_Type_commit(&elem_type);
    if (st == SGLD_OK) MPI_Gather(&n_mine, 1, MPI_INT, counts, 1, MPI_INT, 0, c->comm);
    if (st == SGLD_OK && c->rank == 0)
        for (int k = 1; k < c->size; k++) displs[k] = displs[k - 1] + counts[k - 1];
    if (st == SGLD_OK)
        MPI_Gatherv(c->rows, n_mine, elem_type, r->elems, counts, displs, elem_type, 0, c->comm);
    MPI_Type_free(&elem_type);
    sgld_free(counts);
    sgld_free(displs);
    return st;
}

static void free_ctx(report_ctx *c)
{
    for (int th = 0; c->wss && th < c->n_threads; th++) sgld_diag_ws_destroy(&c->wss[th]);
    sgld_free(c->wss);
    sgld_free(c->buf);
    sgld_free(c->rows);
    sgld_free(c->cols);
    sgld_free(c->g);
    sgld_free(c->y);
    sgld_free(c->gtg);
    sgld_free(c->mu);
    for (int v = 0; c->br && c->r && v < c->r->n_vars; v++) sgld_samples_block_close(&c->br[v]);
    sgld_free(c->br);
    sgld_free(c->sc_chains);
    sgld_samples_reader_close(&c->rd);
}

sgld_status sgld_diag_report_create(MPI_Comm comm, const sgld_diag_report_opts *opt, sgld_diag_report **out)
{
    SGLD_CHECK(opt && out && opt->file && opt->group && opt->block >= 1 && opt->project >= 0 &&
                   opt->max_draws >= 0, SGLD_ERR_ARG,
               "sgld_diag_report_create: bad arguments");
    *out = NULL;
    report_ctx c = {.comm = comm, .o = opt};
    MPI_Comm_rank(comm, &c.rank);
    MPI_Comm_size(comm, &c.size);
    sgld_status st = (c.r = sgld_calloc(1, sizeof *c.r)) ? SGLD_OK : sgld_error_set(SGLD_ERR_NOMEM, "out of memory");
    if (st == SGLD_OK) st = open_input(&c);
    st = sgld_status_agree(comm, st);
    if (st == SGLD_OK) st = agree_shapes(&c);
    if (st == SGLD_OK) st = sgld_status_agree(comm, check_limits(&c));
    if (st == SGLD_OK) {
        sgld_diag_report *r = c.r;
        c.N = (int64_t)r->n_chains * r->n_draws;
        c.e_begin = r->n_elems * c.rank / c.size;
        c.e_end = r->n_elems * (c.rank + 1) / c.size;
        c.kk = opt->project ? opt->project + 10 : 0; /* oversampled sketch width */
        r->n_mine = c.e_end - c.e_begin;
        double t_start = MPI_Wtime();
        st = sgld_status_agree(comm, pass1(&c));
        double t_mv0 = MPI_Wtime();
        r->seconds_pass1 = t_mv0 - t_start;
        if (st == SGLD_OK) st = gather_elems(&c);
        if (st == SGLD_OK && c.rank == 0) sgld_diag_report_nrhat_max(r);
        if (st == SGLD_OK) st = sgld_diag_report_mv(&c);
        r->seconds_multivariate = MPI_Wtime() - t_mv0;
    }
    free_ctx(&c);
    if (st == SGLD_OK)
        *out = c.r;
    else
        sgld_diag_report_destroy(&c.r);
    return st;
}
