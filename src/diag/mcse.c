/* mcse.c - Monte Carlo standard errors of the mean and of the standard deviation.
 *
 * mcse_mean = sd / sqrt(ess_mean) (posterior; Vehtari et al. 2021, section 4.4).
 * mcse_sd: delta method on the variance, as posterior >= 1.5 and Stan 2.35's mcse_sd:
 *   d = |x - mean|, E = mean(d^2), Var(E) ~ (mean(d^4) - E^2) / ESS(split chains of d),
 *   mcse_sd = sqrt(Var(E) / E / 4). */
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
