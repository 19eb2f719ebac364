/* mess.c - multivariate effective sample size and the batch means estimators.
 *
 * Vats, Flegal & Jones (2019), "Multivariate output analysis for Markov chain Monte Carlo",
 * Biometrika 106(2): mESS = n (det Lambda / det Sigma)^(1/p), Lambda the sample covariance,
 * Sigma a strongly consistent estimator of the asymptotic covariance in the Markov chain CLT.
 * Estimators (as mcmcse 1.5, mbmC / mobmC / mSVE): batch means Sigma_b = b/(a-1) sum_k
 * (Ybar_k - mu)(Ybar_k - mu)^T around the full-chain mean; overlapping batch means
 * b/n sum over the n-b+1 windows; modified-Bartlett spectral variance; lugsail
 * (Vats & Flegal 2022, r = 3, c = 1/2) Sigma_L = 2 Sigma_b - Sigma_floor(b/3).
 * Several chains: replicated batch means around the grand mean (Gupta & Vats 2020),
 * denominators over all batches.  Batch size: Liu, Vats & Flegal (2021) via an AR(p) fit
 * by Yule-Walker / Levinson-Durbin per component (mcmcse's batchSize / batchsize_cpp). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diag_impl.h"

const char *sgld_mess_method_name(sgld_mess_method m)
{
    switch (m) {
    case SGLD_MESS_LUGSAIL: return "lugsail";
    case SGLD_MESS_BM: return "bm";
    case SGLD_MESS_OBM: return "obm";
    case SGLD_MESS_BARTLETT: return "bartlett";
    }
    return "unknown";
}

int sgld_diag_cholesky(double *a, int n)
{
    for (int j = 0; j < n; j++) {
        double d = a[j * n + j];
        for (int k = 0; k < j; k++) d -= a[j * n + k] * a[j * n + k];
        if (!(d > 0.0) || !isfinite(d)) return 0;
        d = sqrt(d);
        a[j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double s = a[i * n + j];
            for (int k = 0; k < j; k++) s -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = s / d;
        }
    }
    return 1;
}

sgld_status sgld_diag_log_det(const double *a, int p, double *logdet)
{
    double *l;
    SGLD_ALLOC(l, (size_t)p * p);
    memcpy(l, a, sizeof(double) * (size_t)p * p);
    int ok = sgld_diag_cholesky(l, p);
    double s = 0.0;
    for (int j = 0; ok && j < p; j++) s += 2.0 * log(l[j * p + j]);
    sgld_free(l);
    *logdet = ok ? s : NAN;
    SGLD_CHECK(ok, SGLD_ERR_NUMERIC, "matrix of dimension %d is not positive definite", p);
    return SGLD_OK;
}

/* Levinson-Durbin on the autocovariances r[0..order_max], stopping at the first partial
 * coefficient with |phi_ll| <= threshold (mcmcse's thresholded eureka).  Writes the AR
 * coefficients of the order reached into coef and returns that order; *var_out the
 * innovation variance of that order (r[0] for order 0). */
static int levinson_threshold(const double *r, int order_max, double threshold, double *coef,
                              double *var_out)
{
    double prev[order_max + 1], cur[order_max + 1];
    double phi = r[1] / r[0];
    if (fabs(phi) <= threshold) {
        *var_out = r[0];
        return 0;
    }
    prev[0] = phi;
    double v = (1.0 - phi * phi) * r[0];
    int order = 1;
    for (int l = 2; l <= order_max; l++) {
        double num = r[l];
        for (int j = 1; j < l; j++) num -= prev[j - 1] * r[l - j];
        double kappa = num / v;
        if (fabs(kappa) <= threshold) break;
        for (int j = 1; j < l; j++) cur[j - 1] = prev[j - 1] - kappa * prev[l - j - 1];
        cur[l - 1] = kappa;
        memcpy(prev, cur, sizeof(double) * (size_t)l);
        v *= 1.0 - kappa * kappa;
        order = l;
    }
    memcpy(coef, prev, sizeof(double) * (size_t)order);
    *var_out = v;
    return order;
}

int64_t sgld_diag_batch_size(const double *x, int64_t n, int p, sgld_mess_method method)
{
    if (n < 2 || p < 1) return 1;
    int order_max = (int)floor(10.0 * log10((double)n));
    if (order_max > p) order_max = p;
    if (order_max > n - 1) order_max = (int)(n - 1);
    if (order_max < 1) order_max = 1;
    int64_t last = n < 50000 ? n : 50000; /* mcmcse's fast = TRUE: the chain's tail */
    const double *tail = x + (n - last) * p;
    double threshold = 1.959963984540054 / sqrt((double)n);
    double num = 0.0, den = 0.0;
    for (int j = 0; j < p; j++) {
        double mu = 0.0;
        for (int64_t t = 0; t < last; t++) mu += tail[t * p + j];
        mu /= (double)last;
        double r[order_max + 1];
        for (int k = 0; k <= order_max; k++) {
            double s = 0.0;
            for (int64_t t = 0; t + k < last; t++)
                s += (tail[t * p + j] - mu) * (tail[(t + k) * p + j] - mu);
            r[k] = s / (double)last;
        }
        if (r[0] == 0.0) return 1;
        double coef[order_max + 1], v;
        int order = levinson_threshold(r, order_max, threshold, coef, &v);
        v = v * (double)n / (double)(n - (order + 1));
        double csum = 0.0, wsum = 0.0;
        for (int i = 0; i < order; i++) {
            csum += coef[i];
            wsum += (i + 1) * coef[i];
        }
        double spec = v / ((1.0 - csum) * (1.0 - csum));
        double gam = 0.0;
        if (order > 0) {
            double foo = 0.0;
            for (int i = 1; i <= order; i++)
                for (int k = 1; k <= i; k++) foo += coef[i - 1] * k * r[abs(k - i)];
            gam = 2.0 * (foo + (spec - r[0]) / 2.0 * wsum) / (1.0 - csum);
        }
        num += gam * gam;
        den += spec * spec;
    }
    double c = (method == SGLD_MESS_OBM || method == SGLD_MESS_BARTLETT) ? 1.5 : 1.0;
    double b = pow(c * (double)n, 1.0 / 3.0) * pow(num / den, 1.0 / 3.0);
    if (!(b >= 1.0)) b = 1.0;
    int64_t bi = (int64_t)floor(b);
    if (bi > n / (p + 1)) bi = n / (p + 1);
    if (n > 10 && bi > n / 10) bi = n / 10;
    return bi < 1 ? 1 : bi;
}

/* Adds w (v v^T) to the p x p matrix s (upper triangle; mirrored by the caller). */
static void add_outer(double *s, const double *v, int p, double w)
{
    for (int i = 0; i < p; i++)
        for (int j = i; j < p; j++) s[i * p + j] += w * v[i] * v[j];
}

static void mirror(double *s, int p)
{
    for (int i = 0; i < p; i++)
        for (int j = 0; j < i; j++) s[i * p + j] = s[j * p + i];
}

/* Replicated (overlapping) batch means with batch size b around mu. */
static sgld_status batch_means(const double *x, int m, int64_t n, int p, int64_t b,
                               int overlap, const double *mu, double *s)
{
    double *acc, *v;
    SGLD_ALLOC(acc, p);
    SGLD_ALLOC(v, p);
    memset(s, 0, sizeof(double) * (size_t)p * p);
    int64_t a = n / b, count = 0;
    for (int c = 0; c < m; c++) {
        const double *xc = x + (int64_t)c * n * p;
        if (!overlap) {
            for (int64_t k = 0; k < a; k++) {
                memset(acc, 0, sizeof(double) * (size_t)p);
                for (int64_t t = k * b; t < (k + 1) * b; t++)
                    for (int j = 0; j < p; j++) acc[j] += xc[t * p + j];
                for (int j = 0; j < p; j++) v[j] = acc[j] / (double)b - mu[j];
                add_outer(s, v, p, 1.0);
                count++;
            }
        } else {
            for (int64_t k = 0; k + b <= n; k++) {
                /* recompute each window: exact and O(n b p), fine for the small p here */
                memset(acc, 0, sizeof(double) * (size_t)p);
                for (int64_t t = k; t < k + b; t++)
                    for (int j = 0; j < p; j++) acc[j] += xc[t * p + j];
                for (int j = 0; j < p; j++) v[j] = acc[j] / (double)b - mu[j];
                add_outer(s, v, p, 1.0);
                count++;
            }
        }
    }
    double scale = overlap ? (double)b / ((double)m * (double)n) : (double)b / (double)(count - 1);
    for (int i = 0; i < p * p; i++) s[i] *= scale;
    mirror(s, p);
    sgld_free(acc);
    sgld_free(v);
    return SGLD_OK;
}

/* Modified-Bartlett spectral variance, lags averaged over chains around mu. */
static sgld_status bartlett(const double *x, int m, int64_t n, int p, int64_t b,
                            const double *mu, double *s)
{
    memset(s, 0, sizeof(double) * (size_t)p * p);
    double N = (double)m * (double)n;
    for (int64_t k = 0; k < b; k++) {
        double w = k == 0 ? 1.0 : 1.0 - (double)k / (double)b;
        for (int c = 0; c < m; c++) {
            const double *xc = x + (int64_t)c * n * p;
            for (int64_t t = 0; t + k < n; t++) {
                const double *u = xc + t * p, *v = xc + (t + k) * p;
                for (int i = 0; i < p; i++) {
                    double ui = (u[i] - mu[i]) * w / N;
                    for (int j = 0; j < p; j++) {
                        double g = ui * (v[j] - mu[j]);
                        s[i * p + j] += g;
                        if (k > 0) s[j * p + i] += g;
                    }
                }
            }
        }
    }
    return SGLD_OK;
}

static sgld_status sigma_plain(const double *x, int m, int64_t n, int p, int64_t b,
                               sgld_mess_method method, const double *mu, double *s)
{
    if (method == SGLD_MESS_BARTLETT) return bartlett(x, m, n, p, b, mu, s);
    return batch_means(x, m, n, p, b, method == SGLD_MESS_OBM, mu, s);
}

double sgld_diag_min_ess(int p, double alpha, double eps)
{
    double crit = sgld_diag_qchisq(1.0 - alpha, p);
    double f = 2.0 / p;
    return exp(f * log(2.0) + log(M_PI) - f * log((double)p) - f * lgamma(p / 2.0) -
               2.0 * log(eps) + log(crit));
}

sgld_status sgld_diag_mess(const double *x, int n_chains, int64_t n_draws, int p,
                           sgld_mess_method method, int64_t batch_size, sgld_mess_result *out)
{
    int m = n_chains;
    int64_t n = n_draws;
    out->mess = out->log_det_lambda = out->log_det_sigma = NAN;
    out->batch_size = 0;
    out->n_batches = 0;
    out->method_used = method;
    SGLD_CHECK(m >= 1 && p >= 1 && n >= SGLD_DIAG_MIN_DRAWS, SGLD_ERR_ARG,
               "mESS needs at least %d draws per chain (got %lld)", SGLD_DIAG_MIN_DRAWS,
               (long long)n);
    int64_t b = batch_size;
    if (b <= 0) {
        double bs = 0.0;
        for (int c = 0; c < m; c++)
            bs += (double)sgld_diag_batch_size(x + (int64_t)c * n * p, n, p, method);
        b = (int64_t)floor(bs / m);
        if (b < 1) b = 1;
    }
    SGLD_CHECK(b < n, SGLD_ERR_ARG, "batch size %lld must be smaller than the %lld draws per chain",
               (long long)b, (long long)n);
    out->batch_size = b;
    out->n_batches = (int64_t)m * (n / b);
    SGLD_CHECK(p < out->n_batches, SGLD_ERR_ARG,
               "p = %d parameters >= %lld batches: the batch means estimator is singular; "
               "use --project k", p, (long long)out->n_batches);

    sgld_status st = SGLD_OK;
    double *mu = NULL, *lam = NULL, *sig = NULL, *sig2 = NULL, *v = NULL;
    double N = (double)m * (double)n;
    mu = sgld_calloc((size_t)p, sizeof *mu);
    lam = sgld_calloc((size_t)p * p, sizeof *lam);
    sig = sgld_calloc((size_t)p * p, sizeof *sig);
    sig2 = sgld_calloc((size_t)p * p, sizeof *sig2);
    v = sgld_calloc((size_t)p, sizeof *v);
    if (!mu || !lam || !sig || !sig2 || !v) {
        st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for mESS with p = %d", p);
        goto done;
    }
    for (int64_t r = 0; r < (int64_t)m * n; r++)
        for (int j = 0; j < p; j++) mu[j] += x[r * p + j];
    for (int j = 0; j < p; j++) mu[j] /= N;
    for (int64_t r = 0; r < (int64_t)m * n; r++) {
        for (int j = 0; j < p; j++) v[j] = x[r * p + j] - mu[j];
        add_outer(lam, v, p, 1.0);
    }
    for (int i = 0; i < p * p; i++) lam[i] /= N - 1.0;
    mirror(lam, p);

    sgld_mess_method plain = method == SGLD_MESS_LUGSAIL ? SGLD_MESS_BM : method;
    out->method_used = plain;
    if (b == 1) {
        memcpy(sig, lam, sizeof(double) * (size_t)p * p);
    } else {
        SGLD_TRY_GOTO(sigma_plain(x, m, n, p, b, plain, mu, sig), st, done);
        if (method == SGLD_MESS_LUGSAIL && b >= 6) {
            SGLD_TRY_GOTO(sigma_plain(x, m, n, p, b / 3, plain, mu, sig2), st, done);
            int diag_ok = 1;
            for (int i = 0; i < p * p; i++) sig2[i] = 2.0 * sig[i] - sig2[i];
            for (int j = 0; j < p; j++) diag_ok &= sig2[j * p + j] > 0.0;
            /* mcmcse: negative diagonals or a matrix that is not positive definite fall back
             * to the plain estimator (r = 1). */
            if (diag_ok) {
                double *chk = sgld_malloc(sizeof(double) * (size_t)p * p);
                if (!chk) {
                    st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for mESS");
                    goto done;
                }
                memcpy(chk, sig2, sizeof(double) * (size_t)p * p);
                int pd = sgld_diag_cholesky(chk, p);
                sgld_free(chk);
                if (pd) {
                    memcpy(sig, sig2, sizeof(double) * (size_t)p * p);
                    out->method_used = SGLD_MESS_LUGSAIL;
                }
            }
        }
    }
    double ldl, lds;
    SGLD_TRY_GOTO(sgld_diag_log_det(lam, p, &ldl), st, done);
    st = sgld_diag_log_det(sig, p, &lds);
    if (st != SGLD_OK) {
        st = sgld_error_set(SGLD_ERR_NUMERIC,
                            "the %s estimate of the asymptotic covariance (p = %d, b = %lld) is "
                            "not positive definite", sgld_mess_method_name(out->method_used), p,
                            (long long)b);
        goto done;
    }
    out->log_det_lambda = ldl;
    out->log_det_sigma = lds;
    out->mess = N * exp((ldl - lds) / p);
done:
    sgld_free(mu);
    sgld_free(lam);
    sgld_free(sig);
    sgld_free(sig2);
    sgld_free(v);
    return st;
}
