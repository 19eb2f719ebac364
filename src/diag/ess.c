/* ess.c - univariate effective sample size and the per-element summary.
 *
 * Algorithm: Vehtari, Gelman, Simpson, Carpenter & Burkner (2021), "Rank-normalization,
 * folding, and localization: an improved R-hat", Bayesian Analysis 16(2), as implemented by
 * the R package posterior (.ess, ess_bulk, ess_tail) and Stan (compute_effective_sample_size):
 *   acov_c(k) = (1/L) sum_t (x_ct - xbar_c)(x_c,t+k - xbar_c)       (biased, by FFT)
 *   var+ = W (L-1)/L + B/L,  rho(k) = 1 - (W - mean_c acov_c(k)) / var+
 *   Geyer's initial positive sequence on pairs rho(2t) + rho(2t+1), then the initial monotone
 *   sequence, tau = -1 + 2 sum_{k<K} rho(k) + rho(K), ESS = m L / max(tau, 1/log10(m L)).
 * Invariant: every element is computed by the same code path whatever rank holds it, so the
 * results do not depend on how elements are distributed. */
#include <math.h>
#include <string.h>

#include "diag_impl.h"

static int64_t next_good_size(int64_t n)
{
    if (n <= 2) return 2;
    for (;; n++) {
        int64_t m = n;
        while (m % 2 == 0) m /= 2;
        while (m % 3 == 0) m /= 3;
        while (m % 5 == 0) m /= 5;
        if (m <= 1) return n;
    }
}

static sgld_status slot_init(fft_slot *s, int64_t len)
{
    s->len = len;
    s->size = 2 * next_good_size(len);
    s->buf = fftw_alloc_real((size_t)s->size);
    s->spec = fftw_alloc_complex((size_t)(s->size / 2 + 1));
    SGLD_CHECK(s->buf && s->spec, SGLD_ERR_NOMEM, "out of memory for an FFT of size %lld",
               (long long)s->size);
    /* FFTW_ESTIMATE: the plan (hence the rounding) is the same on every rank and every run. */
    s->fwd = fftw_plan_dft_r2c_1d((int)s->size, s->buf, s->spec, FFTW_ESTIMATE);
    s->inv = fftw_plan_dft_c2r_1d((int)s->size, s->spec, s->buf, FFTW_ESTIMATE);
    SGLD_CHECK(s->fwd && s->inv, SGLD_ERR_INTERNAL, "FFTW could not plan size %lld",
               (long long)s->size);
    return SGLD_OK;
}

static void slot_free(fft_slot *s)
{
    if (s->fwd) fftw_destroy_plan(s->fwd);
    if (s->inv) fftw_destroy_plan(s->inv);
    fftw_free(s->buf);
    fftw_free(s->spec);
    memset(s, 0, sizeof *s);
}

void sgld_diag_ws_destroy(sgld_diag_ws **ws)
{
    if (!ws || !*ws) return;
    sgld_diag_ws *w = *ws;
    slot_free(&w->slot[0]);
    slot_free(&w->slot[1]);
    sgld_free(w->acov);
    sgld_free(w->xs);
    sgld_free(w->work);
    sgld_free(w->sorted);
    sgld_free(w->sorted_all);
    sgld_free(w->fold);
    sgld_free(w->idx);
    sgld_free(w->fidx);
    sgld_free(w->key_a);
    sgld_free(w->key_b);
    sgld_free(w->idx_b);
    sgld_free(w->ztab);
    sgld_free(w->rho);
    sgld_free(w);
    *ws = NULL;
}

static sgld_status ws_fill(sgld_diag_ws *w, int n_chains, int64_t n_draws)
{
    w->m = n_chains;
    w->n = n_draws;
    w->h = n_draws / 2;
    w->n_all = (int64_t)n_chains * n_draws;
    w->n_split = 2 * (int64_t)n_chains * w->h;
    SGLD_TRY(slot_init(&w->slot[0], w->h > 0 ? w->h : 1));
    SGLD_TRY(slot_init(&w->slot[1], n_draws));
    SGLD_ALLOC(w->acov, w->n_all);
    SGLD_ALLOC(w->xs, w->n_split);
    SGLD_ALLOC(w->work, w->n_all);
    SGLD_ALLOC(w->sorted, w->n_all);
    SGLD_ALLOC(w->sorted_all, w->n_all);
    SGLD_ALLOC(w->fold, w->n_split);
    SGLD_ALLOC(w->idx, w->n_all);
    SGLD_ALLOC(w->fidx, w->n_split);
    SGLD_ALLOC(w->key_a, w->n_all);
    SGLD_ALLOC(w->key_b, w->n_all);
    SGLD_ALLOC(w->idx_b, w->n_all);
    SGLD_ALLOC(w->ztab, w->n_split);
    SGLD_ALLOC(w->rho, n_draws);
    for (int64_t i = 0; i < w->n_split; i++)
        w->ztab[i] = sgld_diag_qnorm(((double)(i + 1) - 0.375) / ((double)w->n_split + 0.25));
    return SGLD_OK;
}

sgld_status sgld_diag_ws_create(int n_chains, int64_t n_draws, sgld_diag_ws **out)
{
    SGLD_CHECK(out, SGLD_ERR_ARG, "sgld_diag_ws_create: out is NULL");
    *out = NULL;
    SGLD_CHECK(n_chains >= 1 && n_draws >= 1, SGLD_ERR_ARG,
               "diagnostics need at least 1 chain and 1 draw (got %d chains, %lld draws)",
               n_chains, (long long)n_draws);
    SGLD_CHECK((int64_t)n_chains * n_draws < ((int64_t)1 << 32), SGLD_ERR_ARG,
               "%lld draws per element exceed the 2^32 limit of the rank sort",
               (long long)n_chains * n_draws);
    sgld_diag_ws *w = sgld_calloc(1, sizeof *w);
    SGLD_CHECK(w, SGLD_ERR_NOMEM, "out of memory allocating the diagnostics workspace");
    sgld_status st = ws_fill(w, n_chains, n_draws);
    if (st != SGLD_OK) {
        sgld_error_frame(__FILE__, __LINE__, "ws_fill(w, n_chains, n_draws)");
        sgld_diag_ws_destroy(&w);
        return st;
    }
    *out = w;
    return SGLD_OK;
}

void sgld_diag_ws_set_mcse_sd_rule(sgld_diag_ws *ws, sgld_mcse_sd_rule rule)
{
    if (ws) ws->mcse_sd_rule = rule == SGLD_MCSE_SD_STAN ? SGLD_MCSE_SD_STAN : SGLD_MCSE_SD_POSTERIOR;
}

static const fft_slot *slot_for(const sgld_diag_ws *ws, int64_t len)
{
    if (ws->slot[0].len == len) return &ws->slot[0];
    if (ws->slot[1].len == len) return &ws->slot[1];
    return NULL;
}

/* Biased autocovariance of x[0..len) at every lag into ac, by FFT. */
static void autocov(const fft_slot *s, const double *x, int64_t len, double *ac)
{
    double mean = 0.0;
    for (int64_t t = 0; t < len; t++) mean += x[t];
    mean /= (double)len;
    for (int64_t t = 0; t < len; t++) s->buf[t] = x[t] - mean;
    memset(s->buf + len, 0, sizeof(double) * (size_t)(s->size - len));
    fftw_execute(s->fwd);
    for (int64_t k = 0; k <= s->size / 2; k++) {
        double re = s->spec[k][0], im = s->spec[k][1];
        s->spec[k][0] = re * re + im * im;
        s->spec[k][1] = 0.0;
    }
    fftw_execute(s->inv);
    /* c2r(r2c(y)) = size * y: divide by size, then by len for the biased estimate. */
    double scale = 1.0 / ((double)s->size * (double)len);
    for (int64_t k = 0; k < len; k++) ac[k] = s->buf[k] * scale;
}

double sgld_diag_ess_core(sgld_diag_ws *ws, const double *x, int n_chains, int64_t len)
{
    const fft_slot *s = slot_for(ws, len);
    if (!s || len < 3 || n_chains < 1) return NAN;
    int64_t total = (int64_t)n_chains * len;
    int varies = 0;
    for (int64_t i = 0; i < total; i++) {
        if (!isfinite(x[i])) return NAN;
        if (x[i] != x[0]) varies = 1;
    }
    if (!varies) return NAN;

    double *acov = ws->acov;
    double mean_ac0 = 0.0, cm_mean = 0.0;
    double cmean[n_chains > 0 ? n_chains : 1];
    for (int c = 0; c < n_chains; c++) {
        const double *xc = x + (int64_t)c * len;
        autocov(s, xc, len, acov + (int64_t)c * len);
        double mu = 0.0;
        for (int64_t t = 0; t < len; t++) mu += xc[t];
        cmean[c] = mu / (double)len;
        cm_mean += cmean[c];
        mean_ac0 += acov[(int64_t)c * len];
    }
    mean_ac0 /= n_chains;
    cm_mean /= n_chains;
    double mean_var = mean_ac0 * (double)len / (double)(len - 1);
    double var_plus = mean_var * (double)(len - 1) / (double)len;
    if (n_chains > 1) {
        double v = 0.0;
        for (int c = 0; c < n_chains; c++) v += (cmean[c] - cm_mean) * (cmean[c] - cm_mean);
        var_plus += v / (n_chains - 1);
    }
    double *rh = ws->rho;
    int64_t t = 0;
    double even = 1.0, odd;
    {
        double a1 = 0.0;
        for (int c = 0; c < n_chains; c++) a1 += acov[(int64_t)c * len + 1];
        odd = 1.0 - (mean_var - a1 / n_chains) / var_plus;
    }
    rh[0] = even;
    rh[1] = odd;
    for (int64_t k = 2; k < len; k++) rh[k] = 0.0;
    while (t < len - 5 && !isnan(even + odd) && even + odd > 0.0) {
        t += 2;
        double ae = 0.0, ao = 0.0;
        for (int c = 0; c < n_chains; c++) {
            ae += acov[(int64_t)c * len + t];
            ao += acov[(int64_t)c * len + t + 1];
        }
        even = 1.0 - (mean_var - ae / n_chains) / var_plus;
        odd = 1.0 - (mean_var - ao / n_chains) / var_plus;
        if (even + odd >= 0.0) {
            rh[t] = even;
            rh[t + 1] = odd;
        }
    }
    int64_t max_t = t;
    if (even > 0.0) rh[max_t] = even;
    /* Geyer's initial monotone sequence. */
    for (t = 2; t <= max_t - 2; t += 2) {
        if (rh[t] + rh[t + 1] > rh[t - 2] + rh[t - 1]) {
            rh[t] = (rh[t - 2] + rh[t - 1]) / 2.0;
            rh[t + 1] = rh[t];
        }
    }
    double n_tot = (double)total;
    double sum = 0.0;
    for (int64_t k = 0; k < max_t; k++) sum += rh[k];
    double tau = -1.0 + 2.0 * sum + rh[max_t];
    double floor_tau = 1.0 / log10(n_tot);
    if (tau < floor_tau) tau = floor_tau;
    return n_tot / tau;
}

double sgld_diag_ess_basic(sgld_diag_ws *ws, const double *x, int n_chains, int64_t n_draws)
{
    return sgld_diag_ess_core(ws, x, n_chains, n_draws);
}

/* First halves of every chain, then second halves (posterior's split_chains; the middle
 * draw of an odd-length chain is dropped). */
static void split_into(const sgld_diag_ws *ws, const double *x, double *xs)
{
    int64_t n = ws->n, h = ws->h;
    for (int c = 0; c < ws->m; c++) {
        memcpy(xs + (int64_t)c * h, x + (int64_t)c * n, sizeof(double) * (size_t)h);
        memcpy(xs + (int64_t)(ws->m + c) * h, x + (int64_t)c * n + (n - h),
               sizeof(double) * (size_t)h);
    }
}

void sgld_diag_summarize(sgld_diag_ws *ws, const double *x, sgld_diag_summary *out,
                         int64_t *first_bad)
{
    const double nan = NAN;
    int64_t N = ws->n_all, S = ws->n_split, h = ws->h;
    int m2 = 2 * ws->m;
    out->mean = out->sd = out->q05 = out->q50 = out->q95 = nan;
    out->mcse_mean = out->mcse_sd = out->ess_bulk = out->ess_tail = out->rhat = nan;
    out->mcse_q05 = out->mcse_q50 = out->mcse_q95 = nan;
    out->ess_mean = nan;
    if (first_bad) *first_bad = -1;
    for (int64_t i = 0; i < N; i++) {
        if (!isfinite(x[i])) {
            if (first_bad) *first_bad = i;
            return;
        }
    }
    double mean = 0.0;
    for (int64_t i = 0; i < N; i++) mean += x[i];
    mean /= (double)N;
    double ss = 0.0;
    for (int64_t i = 0; i < N; i++) ss += (x[i] - mean) * (x[i] - mean);
    out->mean = mean;
    out->sd = N > 1 ? sqrt(ss / (double)(N - 1)) : nan;

    const double *sorted_all = ws->sorted;
    if (S != N) { /* odd n: the quantiles use every draw, the split chains drop the middle */
        sgld_diag_argsort(ws, x, N, ws->sorted_all, ws->idx);
        sorted_all = ws->sorted_all;
    }
    split_into(ws, x, ws->xs);
    sgld_diag_argsort(ws, ws->xs, S, ws->sorted, ws->idx);
    out->q05 = sgld_diag_quantile_sorted(sorted_all, N, 0.05);
    out->q50 = sgld_diag_quantile_sorted(sorted_all, N, 0.50);
    out->q95 = sgld_diag_quantile_sorted(sorted_all, N, 0.95);
    if (ws->n < SGLD_DIAG_MIN_DRAWS) return;
    double q05 = out->q05, q50 = out->q50, q95 = out->q95;

    /* Bulk: rank-normalized split chains. */
    sgld_diag_zscores(ws, ws->sorted, ws->idx, S, ws->work);
    out->ess_bulk = sgld_diag_ess_core(ws, ws->work, m2, h);
    double rhat_bulk = sgld_diag_rhat_core(ws->work, m2, h);

    /* Folded draws |x - median| keep an order obtained by merging the two sides of the
     * median in the sorted split draws: no second sort. */
    int64_t lo = 0;
    while (lo < S && ws->sorted[lo] < q50) lo++;
    int64_t i = lo - 1, j = lo, k = 0;
    while (i >= 0 || j < S) {
        double left = i >= 0 ? q50 - ws->sorted[i] : INFINITY;
        double right = j < S ? ws->sorted[j] - q50 : INFINITY;
        if (left <= right) {
            ws->fold[k] = left;
            ws->fidx[k++] = ws->idx[i--];
        } else {
            ws->fold[k] = right;
            ws->fidx[k++] = ws->idx[j++];
        }
    }
    sgld_diag_zscores(ws, ws->fold, ws->fidx, S, ws->work);
    double rhat_tail = sgld_diag_rhat_core(ws->work, m2, h);
    out->rhat = isnan(rhat_bulk) || isnan(rhat_tail) ? nan
                : (rhat_bulk > rhat_tail ? rhat_bulk : rhat_tail);

    /* Tail: indicators of the 5% and 95% quantiles of the unsplit draws. */
    for (int64_t s = 0; s < S; s++) ws->work[s] = ws->xs[s] <= q05 ? 1.0 : 0.0;
    double e05 = sgld_diag_ess_core(ws, ws->work, m2, h);
    for (int64_t s = 0; s < S; s++) ws->work[s] = ws->xs[s] <= q95 ? 1.0 : 0.0;
    double e95 = sgld_diag_ess_core(ws, ws->work, m2, h);
    out->ess_tail = isnan(e05) || isnan(e95) ? nan : (e05 < e95 ? e05 : e95);
    for (int64_t s = 0; s < S; s++) ws->work[s] = ws->xs[s] <= q50 ? 1.0 : 0.0;
    double e50 = sgld_diag_ess_core(ws, ws->work, m2, h);
    out->mcse_q05 = sgld_diag_mcse_quantile_core(sorted_all, N, 0.05, e05);
    out->mcse_q50 = sgld_diag_mcse_quantile_core(sorted_all, N, 0.50, e50);
    out->mcse_q95 = sgld_diag_mcse_quantile_core(sorted_all, N, 0.95, e95);

    out->ess_mean = sgld_diag_ess_core(ws, ws->xs, m2, h);
    out->mcse_mean = out->sd / sqrt(out->ess_mean);
    out->mcse_sd = sgld_diag_mcse_sd_core(ws, x, mean);
}

double sgld_diag_ess_mean(sgld_diag_ws *ws, const double *x)
{
    sgld_diag_summary s;
    sgld_diag_summarize(ws, x, &s, NULL);
    return s.ess_mean;
}

double sgld_diag_ess_bulk(sgld_diag_ws *ws, const double *x)
{
    sgld_diag_summary s;
    sgld_diag_summarize(ws, x, &s, NULL);
    return s.ess_bulk;
}

double sgld_diag_ess_tail(sgld_diag_ws *ws, const double *x)
{
    sgld_diag_summary s;
    sgld_diag_summarize(ws, x, &s, NULL);
    return s.ess_tail;
}

double sgld_diag_rhat(sgld_diag_ws *ws, const double *x)
{
    sgld_diag_summary s;
    sgld_diag_summarize(ws, x, &s, NULL);
    return s.rhat;
}
