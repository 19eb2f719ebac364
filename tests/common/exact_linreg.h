/* exact_linreg.h - the closed-form posterior of Bayesian linear regression, for the
 * statistical tests: noise N(0, s^2), prior N(0, p^2 I) on (w, b), Phi = [X, 1]:
 *   Lambda = Phi^T Phi / s^2 + I / p^2,  mu = Lambda^-1 Phi^T y / s^2. */
#ifndef SGLD_TEST_EXACT_LINREG_H
#define SGLD_TEST_EXACT_LINREG_H

#define EXACT_LINREG_PMAX 8

/* Loads `data` whole (one rank) and fills *p_out = d + 1 (<= EXACT_LINREG_PMAX), the posterior
 * means mu[] and sds sd[] of (w, b).  Fails the calling cmocka test on a load error. */
void exact_linreg_posterior(const char *data, double noise_sd, double prior_sd, int *p_out,
                            double *mu, double *sd);

#endif
