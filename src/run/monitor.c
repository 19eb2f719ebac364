/* monitor.c - convergence monitored while sampling, and --stop-when.
 *
 * What is monitored: up to MON_MAX_ELEMS elements of the saved parameters (all of them when
 * there are no more; else elements evenly spread over the saved tensors in file order,
 * element j = floor(j * n / MON_MAX_ELEMS)), from the draws kept after --burnin.  For the
 * multivariate ESS, p = min(k, MON_MESS_DIMS) random projections y = x Q of the k monitored
 * elements (Q k x p standard normal, a fixed stream) and their p (p - 1) / 2 pairwise sums
 * y_i + y_l are stored as further columns beside the elements (kk columns in all).
 *
 * Per chain and element (on the chain's writer, fed from its draw buffer at each flush
 * point): batch means with a doubling batch size.  Complete batches of b draws are stored as
 * (mean, M2); when MON_MAX_BATCHES are stored, adjacent pairs are merged (Chan, Golub & LeVeque
 * 1979) and b doubles; the draws of the batch being filled are a Welford accumulator.  Memory
 * is MON_MAX_COLS x MON_MAX_BATCHES x 2 doubles per writer (296 KB) whatever the run's length;
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
 *   with --superchains K >= 2, nested R-hat (Margossian et al. 2024, eqs. 6-8) in its place,
 *   from the chains' means and variances of the same draws (nested());
 *   the run's figures are the worst over the elements: min ESS and max R-hat (a constant
 *   element, W = 0, is left out), and the multivariate ESS of the projections,
 *     mESS = C n' (det Lambda / det Sigma)^(1/p) (Vats, Flegal & Jones 2019),
 *   Lambda and Sigma the pooled figures above, off the diagonal by polarization from the
 *   pairwise sums' (mess()).  All are NaN before MON_MIN_DRAWS draws per chain; mESS also
 *   while a <= p (Sigma singular).
 * The writers send 7 doubles per column to rank 0 (one MPI_Gather over the writers) and rank 0
 * broadcasts {min ESS, max R-hat, n, mESS} over the grid (one MPI_Bcast), so every rank takes the
 * same decision; the figures depend only on the draws, not on the number of shards.  The
 * --log-view event `monitor` times the arithmetic (feeding, summaries, combining); the two
 * collectives are waits at a flush point like the agreement's and count as `sync`. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "run_impl.h"

#define MON_MAX_ELEMS 64
#define MON_MESS_DIMS 4      /* p: random projections of the monitored elements for mESS */
#define MON_MAX_COLS (MON_MAX_ELEMS + MON_MESS_DIMS + MON_MESS_DIMS * (MON_MESS_DIMS - 1) / 2)
#define MON_MAX_BATCHES 256  /* even: merged in pairs when full */
#define MON_MIN_DRAWS 64
#define MON_SUM 7            /* per element and chain: mean, M2, batch SS, two halves' mean, M2 */
#define MON_READ_FLOATS (1 << 22) /* floats per block read from the sample file on resume */

struct sgld_monitor {
    double stop_ess, stop_rhat, stop_mess; /* --stop-when bounds, 0: none */
    int k;                      /* monitored elements */
    int p;                      /* mESS dimensions: min(k, MON_MESS_DIMS) */
    int kk;                     /* stored columns: the k elements, the p projections, their
                                 * p (p - 1) / 2 pairwise sums (file comment) */
    int superchains;            /* K >= 2: nested R-hat over K superchains of C / K chains */
    int var[MON_MAX_ELEMS];     /* element j: model variable var[j], offset off[j] in it */
    size_t off[MON_MAX_ELEMS];
    double proj[MON_MAX_ELEMS * MON_MESS_DIMS]; /* [k][p] standard normal */
    int64_t b, nb, n_part;      /* stored batch size, complete batches, draws in the partial one */
    double *mean, *m2;          /* [MON_MAX_BATCHES][kk] */
    double pmean[MON_MAX_COLS], pm2[MON_MAX_COLS];
    double sum[MON_MAX_COLS * MON_SUM]; /* this chain's summary */
    double *all;                /* rank 0: [C][kk][MON_SUM] */
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
    /* The projections: Philox key {seed, 0}, purpose SGLD_RNG_PROJECT, step 0, element j
     * column i = normal number j p + i (sgld-ess's projection stream, sized for the monitor). */
    m->p = m->k < MON_MESS_DIMS ? m->k : MON_MESS_DIMS;
    m->kk = m->k + m->p + m->p * (m->p - 1) / 2;
    const sgld_rng key = {r->cfg->seed, 0};
    sgld_rng_normal(&key, 0, SGLD_RNG_PROJECT, 0, (size_t)m->k * (size_t)m->p, m->proj);
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
    if (cfg->stop_when[0] &&
        sgld_config_parse_stop_when(cfg->stop_when, &m->stop_ess, &m->stop_rhat, &m->stop_mess) != SGLD_OK)
        return sgld_error_set(SGLD_ERR_USAGE, "--stop-when: '%s' is not a stop rule", cfg->stop_when);
    pick_elements(r, m);
    m->superchains = cfg->superchains >= 2 ? cfg->superchains : 0;
    m->b = 1;
    r->mon_ess = r->mon_rhat = r->mon_mess = NAN;
    if (!r->writer) return SGLD_OK;
    SGLD_ALLOC(m->mean, (size_t)MON_MAX_BATCHES * m->kk);
    SGLD_ALLOC(m->m2, (size_t)MON_MAX_BATCHES * m->kk);
    if (r->grid->rank == 0) SGLD_ALLOC(m->all, (size_t)r->grid->n_chains * m->kk * MON_SUM);
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

/* One draw into the batches: x[0..k) the monitored elements; x[k..kk) is filled here with
 * the projections and their pairwise sums.  Local; allocates nothing. */
static void feed(sgld_monitor *m, double *x)
{
    const int k = m->kk, p = m->p;
    double *y = x + m->k, *pair = y + p;
    for (int i = 0; i < p; i++) {
        double v = 0.0;
        for (int j = 0; j < m->k; j++) v += x[j] * m->proj[j * p + i];
        y[i] = v;
    }
    for (int i = 0; i < p; i++)
        for (int j = i + 1; j < p; j++) *pair++ = y[i] + y[j];
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
    double x[MON_MAX_COLS];
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
    for (int64_t i = i0; i < i1; i++) mu += m->mean[i * m->kk + j];
    mu /= (double)(i1 - i0);
    for (int64_t i = i0; i < i1; i++) {
        const double d = m->mean[i * m->kk + j] - mu;
        s += m->m2[i * m->kk + j] + (double)m->b * d * d;
    }
    *mean = mu;
    *m2 = s;
}

/* This chain's summary of every element into m->sum (file comment).  Local. */
static void summarize(sgld_monitor *m)
{
    int64_t g, a, half;
    geometry(m, &g, &a, &half);
    for (int j = 0; j < m->kk; j++) {
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
            const double mm = m->mean[half * m->kk + j], nb = (double)m->b, d = mm - mu;
            m2 += m->m2[half * m->kk + j] + d * d * nw * nb / (nw + nb);
            mu += d * nb / (nw + nb);
        }
        s[0] = mu;
        s[1] = m2;
        for (int64_t i = 0; i < a; i++) {
            double y = 0.0;
            for (int64_t q = 0; q < g; q++) y += m->mean[(i * g + q) * m->kk + j];
            y = y / (double)g - s[0];
            bss += y * y;
        }
        s[2] = bss;
    }
}

/* Rank 0: column j pooled over the C chains (file comment): *lambda the pooled variance of the
 * draws, *sigma the batch size times the variance of the batch means, *rhat split R-hat over
 * the 2C half-chains.  *lambda <= 0 for a constant column. */
static void pooled(const sgld_monitor *m, int C, int j, double *lambda, double *sigma, double *rhat)
{
    int64_t g, a, half;
    geometry(m, &g, &a, &half);
    const double bs = (double)(g * m->b), n = (double)a * bs, h = (double)half * (double)m->b;
    double G = 0.0;
    for (int c = 0; c < C; c++) G += m->all[((size_t)c * m->kk + j) * MON_SUM];
    G /= C;
    double ss = 0.0, bss = 0.0, w = 0.0, hm = 0.0, hb = 0.0;
    for (int c = 0; c < C; c++) {
        const double *s = m->all + ((size_t)c * m->kk + j) * MON_SUM, d = s[0] - G;
        ss += s[1] + n * d * d;
        bss += s[2] + (double)a * d * d;
        w += s[4] / (h - 1.0) + s[6] / (h - 1.0);
        hm += s[3] + s[5];
    }
    w /= 2.0 * C;
    hm /= 2.0 * C;
    for (int c = 0; c < C; c++) {
        const double *s = m->all + ((size_t)c * m->kk + j) * MON_SUM;
        hb += (s[3] - hm) * (s[3] - hm) + (s[5] - hm) * (s[5] - hm);
    }
    hb /= 2.0 * C - 1.0;
    *lambda = w > 0.0 ? ss / (C * n - 1.0) : 0.0;
    *sigma = bs * bss / (C * (double)a - 1.0);
    *rhat = w > 0.0 ? sqrt(((h - 1.0) / h * w + hb) / w) : NAN;
}

/* Rank 0: nested R-hat of element j over m->superchains superchains of C / K consecutive
 * chains (the chains' means and variances of their n used draws), Margossian et al. 2024,
 * Definition 2.2 as src/diag/nested_rhat.c computes it from whole chains:
 *   nB = var over superchains of their means (eq. 6); nW = mean over superchains of the
 *   variance of their chains' means (0 with one chain each) plus their chains' mean within
 *   variance (eq. 7); nR-hat = sqrt(1 + nB / nW) (eq. 8).  NaN when nW = 0. */
static double nested(const sgld_monitor *m, int C, int j, double n)
{
    const int K = m->superchains, M = C / K;
    double grand = 0.0, sc_ss = 0.0, w = 0.0; /* the grand mean: superchains are of one size */
    for (int c = 0; c < C; c++) grand += m->all[((size_t)c * m->kk + j) * MON_SUM];
    grand /= C;
    for (int k = 0; k < K; k++) {
        double mu = 0.0, bt = 0.0, wt = 0.0;
        for (int c = k * M; c < (k + 1) * M; c++) mu += m->all[((size_t)c * m->kk + j) * MON_SUM];
        mu /= M;
        for (int c = k * M; c < (k + 1) * M; c++) {
            const double *s = m->all + ((size_t)c * m->kk + j) * MON_SUM;
            bt += (s[0] - mu) * (s[0] - mu);
            wt += s[1] / (n - 1.0);
        }
        w += (M > 1 ? bt / (M - 1) : 0.0) + wt / M;
        sc_ss += (mu - grand) * (mu - grand);
    }
    const double nb = sc_ss / (K - 1), nw = w / K;
    return nw > 0.0 ? sqrt(1.0 + nb / nw) : NAN;
}

/* log det of the p x p symmetric a by Cholesky (p <= MON_MESS_DIMS); NaN unless positive
 * definite. */
static double log_det(const double *a, int p)
{
    double l[MON_MESS_DIMS * MON_MESS_DIMS], ld = 0.0;
    for (int j = 0; j < p; j++)
        for (int i = j; i < p; i++) {
            double v = a[i * p + j];
            for (int q = 0; q < j; q++) v -= l[i * p + q] * l[j * p + q];
            if (i == j) {
                if (!(v > 0.0)) return NAN;
                l[j * p + j] = sqrt(v);
                ld += 2.0 * log(l[j * p + j]);
            } else {
                l[i * p + j] = v / l[j * p + j];
            }
        }
    return ld;
}

/* Rank 0: multivariate ESS of the p projections, C n (det Lambda / det Sigma)^(1/p) (Vats,
 * Flegal & Jones 2019) with the replicated batch means of the univariate figures.  The
 * off-diagonal entries come from the pairwise sums by polarization: Lambda_il =
 * (Lambda(y_i + y_l) - Lambda_ii - Lambda_ll) / 2, and the same for Sigma.  NaN with no more
 * grouped batches than dimensions (Sigma is then singular) or a matrix not positive definite. */
static double mess(const sgld_monitor *m, int C, int64_t a, double n)
{
    const int p = m->p;
    if (p < 1 || a <= p) return NAN;
    double lam[MON_MESS_DIMS * MON_MESS_DIMS], sig[MON_MESS_DIMS * MON_MESS_DIMS], rh;
    for (int i = 0; i < p; i++) pooled(m, C, m->k + i, &lam[i * p + i], &sig[i * p + i], &rh);
    int pair = m->k + p;
    for (int i = 0; i < p; i++)
        for (int l = i + 1; l < p; l++, pair++) {
            double ls, ss;
            pooled(m, C, pair, &ls, &ss, &rh);
            lam[i * p + l] = lam[l * p + i] = 0.5 * (ls - lam[i * p + i] - lam[l * p + l]);
            sig[i * p + l] = sig[l * p + i] = 0.5 * (ss - sig[i * p + i] - sig[l * p + l]);
        }
    return C * n * exp((log_det(lam, p) - log_det(sig, p)) / p);
}

/* Rank 0: out[0] the worst ESS (min), out[1] the worst R-hat (max; nested R-hat with
 * superchains) over the elements, out[3] the multivariate ESS, from every chain's summary. */
static void combine(const sgld_monitor *m, int C, double *out)
{
    int64_t g, a, half;
    geometry(m, &g, &a, &half);
    const double n = (double)(a * g * m->b);
    double lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < m->k; j++) {
        double lambda, sigma, rhat;
        pooled(m, C, j, &lambda, &sigma, &rhat);
        if (!(lambda > 0.0)) continue; /* a constant element */
        if (m->superchains) rhat = nested(m, C, j, n);
        lo = fmin(lo, sigma > 0.0 ? C * n * lambda / sigma : C * n);
        if (!isnan(rhat)) hi = fmax(hi, rhat);
    }
    out[0] = isfinite(lo) ? lo : NAN;
    out[1] = isfinite(hi) ? hi : NAN;
    out[3] = mess(m, C, a, n);
}

sgld_status sgld_run_monitor_check(run *r, int *met)
{
    sgld_monitor *m = r->mon;
    *met = 0;
    if (!m) return SGLD_OK;
    sgld_status st = SGLD_OK;
    const int enough = m->nb * m->b >= MON_MIN_DRAWS; /* the same on every writer */
    double out[4] = {NAN, NAN, 0.0, NAN};
    if (r->writer) {
        sgld_timer_begin(&r->timer, SGLD_EV_MONITOR);
        if (enough) summarize(m);
        sgld_timer_end(&r->timer, SGLD_EV_MONITOR);
        sgld_timer_begin(&r->timer, SGLD_EV_SYNC);
        if (MPI_Gather(m->sum, m->kk * MON_SUM, MPI_DOUBLE, m->all, m->kk * MON_SUM, MPI_DOUBLE, 0,
                       r->grid->shard_comm) != MPI_SUCCESS)
            st = sgld_error_set(SGLD_ERR_MPI, "MPI_Gather of the monitor's summaries failed");
        sgld_timer_end(&r->timer, SGLD_EV_SYNC);
        if (st == SGLD_OK && r->grid->rank == 0) {
            sgld_timer_begin(&r->timer, SGLD_EV_MONITOR);
            if (enough) combine(m, r->grid->n_chains, out);
            out[2] = (double)(m->nb * m->b);
            sgld_timer_end(&r->timer, SGLD_EV_MONITOR);
        }
    }
    sgld_timer_begin(&r->timer, SGLD_EV_SYNC);
    st = sgld_status_agree(r->grid->comm, st);
    if (st == SGLD_OK && MPI_Bcast(out, 4, MPI_DOUBLE, 0, r->grid->comm) != MPI_SUCCESS)
        st = sgld_error_set(SGLD_ERR_MPI, "MPI_Bcast of the monitor's figures failed");
    sgld_timer_end(&r->timer, SGLD_EV_SYNC);
    if (st != SGLD_OK) return st;
    r->mon_ess = out[0];
    r->mon_rhat = out[1];
    r->mon_draws = (int64_t)out[2];
    r->mon_mess = out[3];
    /* a bound not given holds; NaN figures (too few draws) meet no bound */
    *met = r->cfg->stop_when[0] && (m->stop_ess <= 0.0 || out[0] >= m->stop_ess) &&
           (m->stop_rhat <= 0.0 || out[1] <= m->stop_rhat) && (m->stop_mess <= 0.0 || out[3] >= m->stop_mess);
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
    double x[MON_MAX_COLS];
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
    const int n = snprintf(buf, size, "  ESS %.0f  %s %.3f", r->mon_ess, r->mon->superchains ? "nR-hat" : "R-hat",
                           r->mon_rhat);
    if (isfinite(r->mon_mess) && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "  mESS %.0f", r->mon_mess);
}

/* The sample file's monitor table: one row per flush point (sgld_samples_table). */
static const char *const mon_cols[] = {"step", "monitored_draws", "ess_min", "rhat_max", "mess"};
#define MON_COLS ((int)(sizeof mon_cols / sizeof mon_cols[0]))

sgld_status sgld_run_monitor_table(run *r)
{
    if (!r->mon || !r->out) return SGLD_OK;
    SGLD_TRY(sgld_samples_table(r->out, "monitor", "check", MON_COLS, mon_cols));
    if (r->cfg->resume) return SGLD_OK; /* the attributes are the creating run's */
    const sgld_monitor *m = r->mon;
    const int64_t facts[3] = {m->k, m->p, m->superchains};
    SGLD_TRY(sgld_samples_attr_string(r->out, "monitor", "rhat_kind",
                                      m->superchains ? "nested R-hat (Margossian et al. 2024), max over the elements"
                                                     : "split R-hat, max over the elements"));
    SGLD_TRY(sgld_samples_attr_int(r->out, "monitor", "elements", 1, &facts[0]));
    SGLD_TRY(sgld_samples_attr_int(r->out, "monitor", "mess_projections", 1, &facts[1]));
    return sgld_samples_attr_int(r->out, "monitor", "superchains", 1, &facts[2]);
}

sgld_status sgld_run_monitor_stage(run *r, int64_t step)
{
    if (!r->mon || !r->out) return SGLD_OK;
    const double row[MON_COLS] = {(double)step, (double)r->mon_draws, r->mon_ess, r->mon_rhat, r->mon_mess};
    return sgld_samples_table_row(r->out, row);
}

sgld_status sgld_run_monitor_write(run *r, const sgld_run_report *rep)
{
    if (!r->mon || !r->out) return SGLD_OK;
    SGLD_TRY(sgld_samples_attr_double(r->out, "", "monitor_ess_min", 1, &r->mon_ess));
    SGLD_TRY(sgld_samples_attr_double(r->out, "", "monitor_rhat_max", 1, &r->mon_rhat));
    SGLD_TRY(sgld_samples_attr_double(r->out, "", "monitor_mess", 1, &r->mon_mess));
    const double draws = (double)r->mon_draws, elems = (double)r->mon->k, step = (double)rep->last_step;
    SGLD_TRY(sgld_samples_attr_double(r->out, "", "monitor_draws", 1, &draws));
    SGLD_TRY(sgld_samples_attr_double(r->out, "", "monitor_elements", 1, &elems));
    SGLD_TRY(sgld_samples_attr_double(r->out, "", "monitor_step", 1, &step));
    if (rep->converged) SGLD_TRY(sgld_samples_attr_string(r->out, "", "stopped_when", r->cfg->stop_when));
    return SGLD_OK;
}
