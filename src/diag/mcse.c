/* mcse.c - Monte Carlo standard errors of the mean and of the standard deviation.
 *
 * mcse_mean = sd / sqrt(ess_mean) (posterior; Vehtari et al. 2021, section 4.4).
 * mcse_sd: delta method on the variance (Kenney & Keeping 1951, p. 141), as Stan 2.35's
 * stan::analyze::mcse_sd (src/stan/analyze/mcmc/mcse.hpp, checked by its mcse_test.cpp on
 * bern1-4):
 *   d = |x - mean|, E = mean(d^2), Var(E) ~ (mean(d^4) - E^2) / ESS(split chains of d),
 *   mcse_sd = sqrt(Var(E) / E / 4).
 * The R package posterior >= 1.5 (R/convergence.R, mcse_sd.default) takes the ESS of
 * (x - mean)^2 instead of |x - mean|; older posterior used ess_sd = min(ess_mean(x),
 * ess_mean(x^2)) and sd sqrt(e (1 - 1/ess)^(ess - 1) - 1).  On bern1-4 these give lp__ / theta
 * 0.0355305 / 0.0021966 (Stan), 0.0308898 / 0.0021642 (posterior >= 1.5), 0.0142618 /
 * 0.0022873 (older posterior); the reference table's 0.03553 / 0.00216 mixes the first two
 * (tests/diag/fixtures/README.md), and Stan's is kept: it is the implementation those listed
 * values were tested against, at Stan's tolerance of 1e-4. */
#include <math.h>

#include "diag_impl.h"

double sgld_diag_mcse_sd_core(sgld_diag_ws *ws, const double *x, double mean)
{
    int64_t N = ws->n_all, h = ws->h;
    double m2 = 0.0, m4 = 0.0;
    for (int64_t i = 0; i < N; i++) {
        double d = fabs(x[i] - mean), d2 = d * d;
        m2 += d2;
        m4 += d2 * d2;
    }
    m2 /= (double)N;
    m4 /= (double)N;
    for (int64_t s = 0; s < ws->n_split; s++) ws->work[s] = fabs(ws->xs[s] - mean);
    double ess = sgld_diag_ess_core(ws, ws->work, 2 * ws->m, h);
    double varvar = (m4 - m2 * m2) / ess;
    return sqrt(varvar / m2 / 4.0);
}
