/* mcse.c - Monte Carlo standard errors of the mean, the standard deviation and quantiles.
 *
 * mcse_mean = sd / sqrt(ess_mean) (posterior; Vehtari et al. 2021, section 4.4).
 * mcse_sd: delta method on the variance (Kenney & Keeping 1951, p. 141), which assumes no
 * normality of the draws:
 *   d = x - mean, E = mean(d^2), Var(E) ~ (mean(d^4) - E^2) / ESS, mcse_sd = sqrt(Var(E) / E / 4),
 * where ESS is the split-chain ESS of
 *   - d^2 (SGLD_MCSE_SD_POSTERIOR, the default): the R package posterior's mcse_sd.default
 *     (R/convergence.R as of posterior 1.5.0; ArviZ users compare with posterior);
 *   - |d| (SGLD_MCSE_SD_STAN): Stan 2.35's stan::analyze::mcse_sd (src/stan/analyze/mcmc/
 *     mcse.hpp, checked by its mcse_test.cpp on bern1-4).
 * On bern1-4 they give lp__ / theta 0.0308898 / 0.0021642 (posterior) and 0.0355305 /
 * 0.0021966 (Stan); the published table's 0.03553 / 0.00216 takes lp__ from Stan and theta
 * from posterior (tests/diag/fixtures/README.md).
 * mcse_quantile (posterior 1.5.0's .mcse_quantile, Vehtari et al. 2021, section 4.3): with the
 * ESS of the split indicator I(x <= q_p) and the pooled draws sorted, s_1 <= ... <= s_S,
 *   a_1, a_2 = qbeta(0.1586553, 0.8413447; ESS p + 1, ESS (1 - p) + 1)   (Phi(-1), Phi(1))
 *   mcse = (s_min(ceil(a_2 S), S) - s_max(floor(a_1 S), 1)) / 2,
 * half the width of the draws' +-1 sd interval of the quantile's rank. */
#include <math.h>

#include "diag_impl.h"

const char *sgld_mcse_sd_rule_name(sgld_mcse_sd_rule rule)
{
    return rule == SGLD_MCSE_SD_STAN ? "stan" : "posterior";
}

double sgld_diag_mcse_sd_core(sgld_diag_ws *ws, const double *x, double mean)
{
    int64_t N = ws->n_all, h = ws->h;
    double m2 = 0.0, m4 = 0.0;
    for (int64_t i = 0; i < N; i++) {
        double d = x[i] - mean, d2 = d * d;
        m2 += d2;
        m4 += d2 * d2;
    }
    m2 /= (double)N;
    m4 /= (double)N;
    if (ws->mcse_sd_rule == SGLD_MCSE_SD_STAN)
        for (int64_t s = 0; s < ws->n_split; s++) ws->work[s] = fabs(ws->xs[s] - mean);
    else
        for (int64_t s = 0; s < ws->n_split; s++) ws->work[s] = (ws->xs[s] - mean) * (ws->xs[s] - mean);
    double ess = sgld_diag_ess_core(ws, ws->work, 2 * ws->m, h);
    double varvar = (m4 - m2 * m2) / ess;
    return sqrt(varvar / m2 / 4.0);
}

double sgld_diag_mcse_quantile_core(const double *sorted, int64_t S, double prob, double ess)
{
    if (!(ess > 0.0) || S < 1) return NAN;
    double a1 = sgld_diag_qbeta(0.1586553, ess * prob + 1.0, ess * (1.0 - prob) + 1.0);
    double a2 = sgld_diag_qbeta(0.8413447, ess * prob + 1.0, ess * (1.0 - prob) + 1.0);
    if (isnan(a1) || isnan(a2)) return NAN;
    double i1 = floor(a1 * (double)S), i2 = ceil(a2 * (double)S); /* 1-based ranks */
    i1 = i1 < 1.0 ? 1.0 : i1 > (double)S ? (double)S : i1; /* posterior clamps i1 below, i2 above; */
    i2 = i2 < 1.0 ? 1.0 : i2 > (double)S ? (double)S : i2; /* the other sides only guard rounding */
    return (sorted[(int64_t)i2 - 1] - sorted[(int64_t)i1 - 1]) / 2.0;
}
