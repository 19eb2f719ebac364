/* laplace_glm.h - the Laplace approximation of a GLM posterior, the reference of the
 * posterior tests of models without a closed form (Poisson, logistic).
 *
 * Model: eta_i = w . x_i + b, canonical link with mean mu(eta) (d log p(y | eta) / d eta =
 * y - mu, -d^2 / d eta^2 = mu'(eta)), prior N(0, prior_sd^2) on w and b.  Newton's method in
 * double from 0 until the largest step is below 1e-12, on the float values the model reads;
 * then the mode, the sds sqrt(diag((-H)^-1)) and the extreme eigenvalues of -H (Jacobi
 * rotations): the precisions along the posterior's axes, from which a test derives its
 * step-size bias and ESS. */
#ifndef LAPLACE_GLM_H
#define LAPLACE_GLM_H

#include "sgld/data.h"

#define LAPLACE_GLM_PMAX 8

/* mean(eta, &dmean) returns mu(eta) and its derivative.  ds: the whole data set (one rank),
 * d + 1 <= LAPLACE_GLM_PMAX parameters (w, then b). */
void laplace_glm(const sgld_dataset *ds, double prior_sd, double (*mean)(double eta, double *dmean),
                 double *mode, double *sd, double *lam_min, double *lam_max);

/* Pooled draws ([n][P] floats: w, then b) against the reference mode and sds: prints one line
 * per parameter ("  LABEL w[0]: mean ..., sd ...") and returns the worst |mean - mode| in sds,
 * the worst |sd / ref - 1| and the smallest sd / ref - 1. */
void laplace_glm_compare(const char *label, const float *draws, size_t n, int P, const double *mode,
                         const double *sd, double *worst_mean, double *worst_sd, double *best_sd);

#endif
