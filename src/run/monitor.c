/* monitor.c - convergence monitored while sampling, and --stop-when.
 *
 * What is monitored: up to MON_MAX_ELEMS elements of the saved parameters (all of them when
 * there are no more; else elements evenly spread over the saved tensors in file order,
 * element j = floor(j * n / MON_MAX_ELEMS)), from the draws kept after --burnin.
 *
 * Per chain and element (on the chain's writer, fed from its draw buffer at each flush
 * point): batch means with a doubling batch size.  Complete batches of b draws are stored as
 * (mean, M2); when MON_MAX_BATCHES are stored, adjacent pairs are merged (Chan, Golub & LeVeque
 * 1979) and b doubles; the draws of the batch being filled are a Welford accumulator.  Memory
 * is MON_MAX_ELEMS x MON_MAX_BATCHES x 2 doubles per writer (256 KB) whatever the run's length;
 * a draw costs one Welford update per element, a flush point O(elements x batches).  The
 * state is a function of the chain's draws alone (the same sequence of double operations on
 * the same float draws), so a resumed run rebuilds it bitwise by feeding the sample file's
 * draws (sgld_run_monitor_restore: one read of the monitored tensors' draws).
 *
 * At a flush point, from the U stored complete batches (n = U b draws per chain; the draws of
 * the unfinished batch wait for the next point):
 *   batch-means ESS, pooled over the C chains around the grand mean (replicated batch means,
 *   Gupta & Vats 2020): the stored batches grouped g at a time into a = U / g batches of
 *   size bs = g b ~ n^(2/3), n' = a bs.  Not sqrt(n) (Flegal & Jones 2010's consistent
 *   choice): with SGLD's long autocorrelations (tau of 100+ draws) batches of sqrt(n) are too
 *   short and the ESS came out 2 to 3.5 times the rank-normalized bulk ESS that sgld-ess summary
 *   reports for the same draws, so a --stop-when rule would stop too early; with n^(2/3) it
 *   is within about 20% of it (src/run/README.md),
 *     Lambda = sum_c sum_t (x_ct - G)^2 / (C n' - 1),  Sigma = bs sum_c sum_i (y_ci - G)^2 / (C a - 1)
 *     ESS = C n' Lambda / Sigma;
 *   split R-hat (Gelman et al. 2013, the classic form of sgld_diag_rhat_basic): the first and
 *   the last floor(a g / 2) stored batches of every chain are 2C half-chains of h draws,
 *     W = mean s_i^2, B/h = var(half means), R = sqrt(((h - 1)/h W + B/h) / W);
 *   the run's figures are the worst over the elements: min ESS and max R-hat (a constant
 *   element, W = 0, is left out).  Both are NaN before MON_MIN_DRAWS draws per chain.
 * The writers send 7 doubles per element to rank 0 (one MPI_Gather over the writers) and rank 0
 * broadcasts {min ESS, max R-hat, n} over the grid (one MPI_Bcast), so every rank takes the
 * same decision; the figures depend only on the draws, not on the number of shards.  The
 * --log-view event `monitor` times the arithmetic (feeding, summaries, combining); the two
 * collectives are waits at a flush point like the agreement's and count as `sync`. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "run_impl.h"

#define MON_MAX_ELEMS 64
#define MON_MAX_BATCHES 256  /* even: merged in pairs when full */
#define MON_MIN_DRAWS 64
#define MON_SUM 7            /* per element and chain: mean, M2, batch SS, two halves' mean, M2 */
#define MON_READ_FLOATS (1 << 22) /* floats per block read from the sample file on resume */

struct sgld_monitor {
    double stop_ess, stop_rhat; /* --stop-when bounds, 0: none */
    int k;                      /* monitored elements */
    int var[MON_MAX_ELEMS];     /* element j: model variable var[j], offset off[j] in it */
    size_t off[MON_MAX_ELEMS];
    int64_t b, nb, n_part;      /* stored batch size, complete batches, draws in the partial one */
    double *mean, *m2;          /* [MON_MAX_BATCHES][k] */
    double pmean[MON_MAX_ELEMS], pm2[MON_MAX_ELEMS];
    double sum[MON_MAX_ELEMS * MON_SUM]; /* this chain's summary */
    double *all;                /* rank 0: [C][k][MON_SUM] */
};

/* Which elements are monitored: see the file comment.  Local. */
static void pick_elements(run *r, sgld_monitor *m)
{
    size_t n = 0;
    for (int v = 0; v < r->model.n_vars; v++)
        if (r->model.vars[v].save) n += r->model.vars[v].size;
    m->k = n < MON_MAX_ELEMS ? (int)n : MON_MAX_ELEMS;
    for (int j = 0; j < m->k; j++) {
        size_t e = (size_t)((double)j * (double)n / m->k), base = 0;
        for (int v = 0; v < r->model.n_vars; v++) {
            if (!r->model.vars[v].save) continue;
            if (e < base + r->model.vars[v].size) {
                m->var[j] = v;
                m->off[j] = e - base;
                break;
            }
            base += r->model.vars[v].size;
        }
    }
}

sgld_status sgld_run_monitor_create(run *r)
{
    const sgld_config *cfg = r->cfg;
    if (cfg->stop_when[0] && cfg->resume && !cfg->output[0])
        return sgld_error_set(SGLD_ERR_USAGE, "--stop-when with --resume needs --output: the monitor "
                              "is rebuilt from the sample file's draws");
    if (cfg->resume && !cfg->output[0]) return SGLD_OK; /* no draws to rebuild it from: off */
    SGLD_ALLOC(r->mon, 1);
    sgld_monitor *m = r->mon;
    memset(m, 0, sizeof *m);
    if (cfg->stop_when[0] && sgld_config_parse_stop_when(cfg->stop_when, &m->stop_ess, &m->stop_rhat) != SGLD_OK)
        return sgld_error_set(SGLD_ERR_USAGE, "--stop-when: '%s' is not a stop rule", cfg->stop_when);
    pick_elements(r, m);
    m->b = 1;
    r->mon_ess = r->mon_rhat = NAN;
    if (!r->writer) return SGLD_OK;
    SGLD_ALLOC(m->mean, (size_t)MON_MAX_BATCHES * m->k);
    SGLD_ALLOC(m->m2, (size_t)MON_MAX_BATCHES * m->k);
    if (r->grid->rank == 0) SGLD_ALLOC(m->all, (size_t)r->grid->n_chains * m->k * MON_SUM);
    return SGLD_OK;
}

void sgld_run_monitor_free(run *r)
{
    if (!r->mon) return;
    sgld_free(r->mon->mean);
    sgld_free(r->mon->m2);
    sgld_free(r->mon->all);
    sgld_free(r->mon);
    r->mon = NULL;
}

/* One draw x[k] into the batches.  Local; allocates nothing. */
static void feed(sgld_monitor *m, const double *x)
{
    const int k = m->k;
    m->n_part++;
    for (int j = 0; j < k; j++) {
        const double d = x[j] - m->pmean[j];
        m->pmean[j] += d / (double)m->n_part;
        m->pm2[j] += d * (x[j] - m->pmean[j]);
    }
    if (m->n_part < m->b) return;
    memcpy(m->mean + m->nb * k, m->pmean, k * sizeof(double));
    memcpy(m->m2 + m->nb * k, m->pm2, k * sizeof(double));
    memset(m->pmean, 0, sizeof m->pmean);
    memset(m->pm2, 0, sizeof m->pm2);
    m->n_part = 0;
    if (++m->nb < MON_MAX_BATCHES) return;
    const double half = 0.5 * (double)m->b; /* na nb / (na + nb) for two batches of b */
    for (int64_t i = 0; i < MON_MAX_BATCHES / 2; i++)
        for (int j = 0; j < k; j++) {
            const double ma = m->mean[2 * i * k + j], mb = m->mean[(2 * i + 1) * k + j];
            const double d = mb - ma;
            m->m2[i * k + j] = m->m2[2 * i * k + j] + m->m2[(2 * i + 1) * k + j] + d * d * half;
            m->mean[i * k + j] = ma + 0.5 * d;
        }
    m->nb = MON_MAX_BATCHES / 2;
    m->b *= 2;
}

void sgld_run_monitor_feed(run *r, int64_t n_draws)
{
    sgld_monitor *m = r->mon;
    if (!m || !r->writer) return;
    double x[MON_MAX_ELEMS];
    for (int64_t t = 0; t < n_draws; t++) {
        for (int j = 0; j < m->k; j++)
            x[j] = r->buf_var[m->var[j]][(size_t)t * r->model.vars[m->var[j]].size + m->off[j]];
        feed(m, x);
    }
}

/* Batch-combining geometry (file comment): grouping g, grouped batches a, stored batches in
 * each half.  Every chain finds the same (the same draw count). */
static void geometry(const sgld_monitor *m, int64_t *g, int64_t *a, int64_t *half)
{
    const int64_t n = m->nb * m->b;
    *g = (int64_t)floor(pow((double)n, 2.0 / 3.0) / (double)m->b);
    if (*g < 1) *g = 1;
    *a = m->nb / *g;
    *half = *a * *g / 2;
}

/* Mean and M2 of stored batches [i0, i1) of element j. */
static void merge(const sgld_monitor *m, int64_t i0, int64_t i1, int j, double *mean, double *m2)
{
    double mu = 0.0, s = 0.0;
    for (int64_t i = i0; i < i1; i++) mu += m->mean[i * m->k + j];
    mu /= (double)(i1 - i0);
    for (int64_t i = i0; i < i1; i++) {
        const double d = m->mean[i * m->k + j] - mu;
        s += m->m2[i * m->k + j] + (double)m->b * d * d;
    }
    *mean = mu;
    *m2 = s;
}

/* This chain's summary of every element into m->sum (file comment).  Local. */
static void summarize(sgld_monitor *m)
{
    int64_t g, a, half;
    geometry(m, &g, &a, &half);
    for (int j = 0; j < m->k; j++) {
        double *s = m->sum + j * MON_SUM, bss = 0.0;
        if (a < 2) {
            memset(s, 0, MON_SUM * sizeof(double));
            continue;
        }
        const int64_t used = a * g;
        merge(m, 0, half, j, &s[3], &s[4]);
        merge(m, used - half, used, j, &s[5], &s[6]);
        /* the whole from the halves (Chan et al.), plus the middle batch when used is odd */
        const double nh = (double)half * (double)m->b, dh = s[5] - s[3];
        double mu = 0.5 * (s[3] + s[5]), m2 = s[4] + s[6] + dh * dh * 0.5 * nh, nw = 2.0 * nh;
        if (used > 2 * half) {
            const double mm = m->mean[half * m->k + j], nb = (double)m->b, d = mm - mu;
            m2 += m->m2[half * m->k + j] + d * d * nw * nb / (nw + nb);
            mu += d * nb / (nw + nb);
        }
        s[0] = mu;
        s[1] = m2;
        for (int64_t i = 0; i < a; i++) {
            double y = 0.0;
            for (int64_t q = 0; q < g; q++) y += m->mean[(i * g + q) * m->k + j];
            y = y / (double)g - s[0];
            bss += y * y;
        }
        s[2] = bss;
    }
}

/* Rank 0: the worst ESS and R-hat over the elements from every chain's summary. */
static void combine(const sgld_monitor *m, int C, double *ess_min, double *rhat_max)
{
    int64_t g, a, half;
    geometry(m, &g, &a, &half);
    const double bs = (double)(g * m->b), n = (double)a * bs, h = (double)half * (double)m->b;
    double lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < m->k; j++) {
        double G = 0.0;
        for (int c = 0; c < C; c++) G += m->all[((size_t)c * m->k + j) * MON_SUM];
        G /= C;
        double ss = 0.0, bss = 0.0, w = 0.0, hm = 0.0, hb = 0.0;
        for (int c = 0; c < C; c++) {
            const double *s = m->all + ((size_t)c * m->k + j) * MON_SUM, d = s[0] - G;
            ss += s[1] + n * d * d;
            bss += s[2] + (double)a * d * d;
            w += s[4] / (h - 1.0) + s[6] / (h - 1.0);
            hm += s[3] + s[5];
        }
        w /= 2.0 * C;
        hm /= 2.0 * C;
        for (int c = 0; c < C; c++) {
            const double *s = m->all + ((size_t)c * m->k + j) * MON_SUM;
            hb += (s[3] - hm) * (s[3] - hm) + (s[5] - hm) * (s[5] - hm);
        }
        hb /= 2.0 * C - 1.0;
        const double lambda = ss / (C * n - 1.0), sigma = bs * bss / (C * (double)a - 1.0);
        if (!(lambda > 0.0) || !(w > 0.0)) continue; /* a constant element */
        const double ess = sigma > 0.0 ? C * n * lambda / sigma : C * n;
        const double rhat = sqrt(((h - 1.0) / h * w + hb) / w);
        lo = fmin(lo, ess);
        hi = fmax(hi, rhat);
    }
    *ess_min = isfinite(lo) ? lo : NAN;
    *rhat_max = isfinite(hi) ? hi : NAN;
}

sgld_status sgld_run_monitor_check(run *r, int *met)
{
    sgld_monitor *m = r->mon;
    *met = 0;
    if (!m) return SGLD_OK;
    sgld_status st = SGLD_OK;
    const int enough = m->nb * m->b >= MON_MIN_DRAWS; /* the same on every writer */
    double out[3] = {NAN, NAN, 0.0};
    if (r->writer) {
        sgld_timer_begin(&r->timer, SGLD_EV_MONITOR);
        if (enough) summarize(m);
        sgld_timer_end(&r->timer, SGLD_EV_MONITOR);
        sgld_timer_begin(&r->timer, SGLD_EV_SYNC);
        if (MPI_Gather(m->sum, m->k * MON_SUM, MPI_DOUBLE, m->all, m->k * MON_SUM, MPI_DOUBLE, 0,
                       r->grid->shard_comm) != MPI_SUCCESS)
            st = sgld_error_set(SGLD_ERR_MPI, "MPI_Gather of the monitor's summaries failed");
        sgld_timer_end(&r->timer, SGLD_EV_SYNC);
        if (st == SGLD_OK && r->grid->rank == 0) {
            sgld_timer_begin(&r->timer, SGLD_EV_MONITOR);
            if (enough) combine(m, r->grid->n_chains, &out[0], &out[1]);
            out[2] = (double)(m->nb * m->b);
            sgld_timer_end(&r->timer, SGLD_EV_MONITOR);
        }
    }
    sgld_timer_begin(&r->timer, SGLD_EV_SYNC);
    st = sgld_status_agree(r->grid->comm, st);
    if (st == SGLD_OK && MPI_Bcast(out, 3, MPI_DOUBLE, 0, r->grid->comm) != MPI_SUCCESS)
        st = sgld_error_set(SGLD_ERR_MPI, "MPI_Bcast of the monitor's figures failed");
    sgld_timer_end(&r->timer, SGLD_EV_SYNC);
    if (st != SGLD_OK) return st;
    r->mon_ess = out[0];
    r->mon_rhat = out[1];
    r->mon_draws = (int64_t)out[2];
    *met = r->cfg->stop_when[0] && (m->stop_ess <= 0.0 || out[0] >= m->stop_ess) &&
           (m->stop_rhat <= 0.0 || out[1] <= m->stop_rhat);
    return SGLD_OK;
}

/* The writer's part of sgld_run_monitor_restore: its chain's first n_draws draws from the
 * sample file, in blocks, into the batches.  Local. */
static sgld_status restore_chain(run *r, int64_t n_draws)
{
    sgld_monitor *m = r->mon;
    float *blk[SGLD_MODEL_MAX_VARS] = {0};
    size_t widest = 1;
    for (int j = 0; j < m->k; j++)
        if (r->model.vars[m->var[j]].size > widest) widest = r->model.vars[m->var[j]].size;
    const int64_t per = MON_READ_FLOATS / (int64_t)widest > 0 ? MON_READ_FLOATS / (int64_t)widest : 1;
    sgld_samples_reader *rd = NULL;
    sgld_status st = sgld_samples_open(r->cfg->output, &rd);
    for (int j = 0; j < m->k && st == SGLD_OK; j++) {
        const int v = m->var[j];
        if (!blk[v] && !(blk[v] = sgld_malloc((size_t)per * r->model.vars[v].size * sizeof(float))))
            st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory reading draws for the monitor");
    }
    double x[MON_MAX_ELEMS];
    for (int64_t t0 = 0; t0 < n_draws && st == SGLD_OK; t0 += per) {
        const int64_t n = n_draws - t0 < per ? n_draws - t0 : per;
        for (int v = 0; v < r->model.n_vars && st == SGLD_OK; v++)
            if (blk[v])
                st = sgld_samples_read_draws(rd, "posterior", r->model.vars[v].name, r->grid->chain, t0, n, blk[v]);
        for (int64_t t = 0; t < n && st == SGLD_OK; t++) {
            for (int j = 0; j < m->k; j++)
                x[j] = blk[m->var[j]][(size_t)t * r->model.vars[m->var[j]].size + m->off[j]];
            feed(m, x);
        }
    }
    for (int v = 0; v < SGLD_MODEL_MAX_VARS; v++) sgld_free(blk[v]);
    sgld_samples_reader_close(&rd);
    return st;
}

sgld_status sgld_run_monitor_restore(run *r, int64_t n_draws)
{
    if (!r->mon) return SGLD_OK;
    return sgld_status_agree(r->grid->comm, r->writer && n_draws > 0 ? restore_chain(r, n_draws) : SGLD_OK);
}

void sgld_run_monitor_format(const run *r, char *buf, size_t size)
{
    if (!r->mon || !isfinite(r->mon_ess)) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, size, "  ESS %.0f  R-hat %.3f", r->mon_ess, r->mon_rhat);
}

sgld_status sgld_run_monitor_write(run *r, const sgld_run_report *rep)
{
    if (!r->mon || !r->out) return SGLD_OK;
    SGLD_TRY(sgld_samples_attr_double(r->out, "", "monitor_ess_min", 1, &r->mon_ess));
    SGLD_TRY(sgld_samples_attr_double(r->out, "", "monitor_rhat_max", 1, &r->mon_rhat));
    const double draws = (double)r->mon_draws, elems = (double)r->mon->k, step = (double)rep->last_step;
    SGLD_TRY(sgld_samples_attr_double(r->out, "", "monitor_draws", 1, &draws));
    SGLD_TRY(sgld_samples_attr_double(r->out, "", "monitor_elements", 1, &elems));
    SGLD_TRY(sgld_samples_attr_double(r->out, "", "monitor_step", 1, &step));
    if (rep->converged) SGLD_TRY(sgld_samples_attr_string(r->out, "", "stopped_when", r->cfg->stop_when));
    return SGLD_OK;
}
