/* exact_linreg.c - see exact_linreg.h. */
#include "exact_linreg.h"

#include <math.h>

#include "sgld/data.h"
#include "sgld_test.h"

void exact_linreg_posterior(const char *data, double noise_sd, double prior_sd, int *p_out,
                            double *mu, double *sd)
{
    enum { PM = EXACT_LINREG_PMAX };
    sgld_data_options opt = {.path = data};
    sgld_dataset *tr = NULL, *te = NULL;
    assert_int_equal(sgld_data_load(MPI_COMM_SELF, 0, 1, &opt, &tr, &te), SGLD_OK);
    const int d = tr->d, p = d + 1;
    assert_true(p <= PM);
    const double s2 = noise_sd * noise_sd;
    double A[PM * 2 * PM] = {0}, r[PM] = {0}; /* [Lambda | I], Phi^T y / s^2 */
    for (int64_t i = 0; i < tr->n_local; i++) {
        double phi[PM];
        for (int j = 0; j < d; j++) phi[j] = tr->X[i * d + j];
        phi[d] = 1.0;
        for (int a = 0; a < p; a++) {
            r[a] += phi[a] * tr->y[i] / s2;
            for (int b = 0; b < p; b++) A[a * 2 * p + b] += phi[a] * phi[b] / s2;
        }
    }
    for (int a = 0; a < p; a++) {
        A[a * 2 * p + a] += 1.0 / (prior_sd * prior_sd);
        A[a * 2 * p + p + a] = 1.0;
    }
    for (int c = 0; c < p; c++) { /* Gauss-Jordan: [Lambda | I] -> [I | Lambda^-1] (p <= 8) */
        double piv = A[c * 2 * p + c];
        for (int b = 0; b < 2 * p; b++) A[c * 2 * p + b] /= piv;
        for (int a = 0; a < p; a++) {
            if (a == c) continue;
            double f = A[a * 2 * p + c];
            for (int b = 0; b < 2 * p; b++) A[a * 2 * p + b] -= f * A[c * 2 * p + b];
        }
    }
    for (int a = 0; a < p; a++) {
        mu[a] = 0;
        for (int b = 0; b < p; b++) mu[a] += A[a * 2 * p + p + b] * r[b];
        sd[a] = sqrt(A[a * 2 * p + p + a]);
    }
    *p_out = p;
    sgld_data_destroy(&tr);
    sgld_data_destroy(&te);
}
