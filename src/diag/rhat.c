/* rhat.c - potential scale reduction.
 *
 * Classic split R-hat (Gelman et al., BDA3 11.4) and the rank-normalized R-hat of Vehtari et
 * al. (2021): max(R-hat of rank-normalized split chains, R-hat of rank-normalized split
 * chains of |x - median|), as the R package posterior's rhat():
 *   B/L = var(chain means), W = mean(chain variances), R-hat = sqrt(((L-1)/L W + B/L) / W). */
#include <math.h>
#include <stdlib.h>

#include "diag_impl.h"

double sgld_diag_rhat_core(const double *x, int n_chains, int64_t len)
{
    if (n_chains < 1 || len < 2) return NAN;
    int64_t total = (int64_t)n_chains * len;
    int varies = 0;
    for (int64_t i = 0; i < total; i++) {
        if (!isfinite(x[i])) return NAN;
        if (x[i] != x[0]) varies = 1;
    }
    if (!varies) return NAN;
    double mean_of_means = 0.0, w = 0.0;
    double cm[n_chains];
    for (int c = 0; c < n_chains; c++) {
        const double *xc = x + (int64_t)c * len;
        double mu = 0.0;
        for (int64_t t = 0; t < len; t++) mu += xc[t];
        mu /= (double)len;
        double v = 0.0;
        for (int64_t t = 0; t < len; t++) v += (xc[t] - mu) * (xc[t] - mu);
        cm[c] = mu;
        mean_of_means += mu;
        w += v / (double)(len - 1);
    }
    mean_of_means /= n_chains;
    w /= n_chains;
    double b = 0.0;
    if (n_chains > 1) {
        for (int c = 0; c < n_chains; c++) b += (cm[c] - mean_of_means) * (cm[c] - mean_of_means);
        b = b / (n_chains - 1) * (double)len;
    }
    return sqrt((b / w + (double)len - 1.0) / (double)len);
}

double sgld_diag_rhat_basic(const double *x, int n_chains, int64_t n_draws)
{
    int64_t h = n_draws / 2;
    if (h < 2) return NAN;
    double *xs = sgld_malloc(sizeof(double) * (size_t)(2 * (int64_t)n_chains * h));
    if (!xs) return NAN;
    for (int c = 0; c < n_chains; c++) {
        for (int64_t t = 0; t < h; t++) {
            xs[(int64_t)c * h + t] = x[(int64_t)c * n_draws + t];
            xs[(int64_t)(n_chains + c) * h + t] = x[(int64_t)c * n_draws + (n_draws - h) + t];
        }
    }
    double r = sgld_diag_rhat_core(xs, 2 * n_chains, h);
    sgld_free(xs);
    return r;
}
