/* laplace_glm.c - see laplace_glm.h. */
#include "laplace_glm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sgld_test.h"

enum { PM = LAPLACE_GLM_PMAX };

/* Solves A x = r for the P x P symmetric positive definite A (Cholesky). */
static void spd_solve(int P, const double A[PM][PM], const double *r, double *x)
{
    double L[PM][PM] = {{0}}, z[PM];
    for (int i = 0; i < P; i++)
        for (int j = 0; j <= i; j++) {
            double s = A[i][j];
            for (int k = 0; k < j; k++) s -= L[i][k] * L[j][k];
            if (i == j) {
                assert_true(s > 0);
                L[i][i] = sqrt(s);
            } else {
                L[i][j] = s / L[j][j];
            }
        }
    for (int i = 0; i < P; i++) {
        z[i] = r[i];
        for (int k = 0; k < i; k++) z[i] -= L[i][k] * z[k];
        z[i] /= L[i][i];
    }
    for (int i = P - 1; i >= 0; i--) {
        x[i] = z[i];
        for (int k = i + 1; k < P; k++) x[i] -= L[k][i] * x[k];
        x[i] /= L[i][i];
    }
}

/* The extreme eigenvalues of the symmetric A (cyclic Jacobi rotations). */
static void eigen_range(int P, const double A[PM][PM], double *lo, double *hi)
{
    double J[PM][PM];
    memcpy(J, A, sizeof J);
    for (int sweep = 0; sweep < 50; sweep++)
        for (int p = 0; p < P; p++)
            for (int q = p + 1; q < P; q++) {
                if (fabs(J[p][q]) < 1e-14 * (fabs(J[p][p]) + fabs(J[q][q]))) continue;
                const double th = 0.5 * atan2(2 * J[p][q], J[q][q] - J[p][p]), c = cos(th), s = sin(th);
                for (int k = 0; k < P; k++) { /* J <- R^T J R, rotation in the (p, q) plane */
                    const double kp = J[k][p], kq = J[k][q];
                    J[k][p] = c * kp - s * kq;
                    J[k][q] = s * kp + c * kq;
                }
                for (int k = 0; k < P; k++) {
                    const double pk = J[p][k], qk = J[q][k];
                    J[p][k] = c * pk - s * qk;
                    J[q][k] = s * pk + c * qk;
                }
            }
    *lo = INFINITY;
    *hi = 0;
    for (int j = 0; j < P; j++) {
        *lo = fmin(*lo, J[j][j]);
        *hi = fmax(*hi, J[j][j]);
    }
}

void laplace_glm(const sgld_dataset *ds, double prior_sd, double (*mean)(double eta, double *dmean),
                 double *mode, double *sd, double *lam_min, double *lam_max)
{
    const int D = ds->d, P = D + 1;
    assert_true(P <= PM);
    double theta[PM] = {0}, A[PM][PM];
    for (int it = 0; it < 100; it++) {
        double g[PM], step[PM];
        for (int j = 0; j < P; j++) {
            g[j] = -theta[j] / (prior_sd * prior_sd);
            for (int k = 0; k < P; k++) A[j][k] = j == k ? 1.0 / (prior_sd * prior_sd) : 0.0;
        }
        for (int64_t i = 0; i < ds->n_local; i++) {
            double phi[PM], eta = theta[D], w;
            for (int j = 0; j < D; j++) phi[j] = ds->X[i * D + j];
            phi[D] = 1.0;
            for (int j = 0; j < D; j++) eta += theta[j] * phi[j];
            const double mu = mean(eta, &w);
            for (int j = 0; j < P; j++) {
                g[j] += (ds->y[i] - mu) * phi[j];
                for (int k = 0; k < P; k++) A[j][k] += w * phi[j] * phi[k];
            }
        }
        spd_solve(P, (const double (*)[PM])A, g, step);
        double size = 0;
        for (int j = 0; j < P; j++) {
            theta[j] += step[j];
            size = fmax(size, fabs(step[j]));
        }
        if (size < 1e-12) break;
        assert_true(it < 99);
    }
    /* A is -H at the previous iterate, equal to the mode's to ~1e-12 */
    for (int j = 0; j < P; j++) {
        double e[PM] = {0}, col[PM];
        e[j] = 1.0;
        spd_solve(P, (const double (*)[PM])A, e, col);
        mode[j] = theta[j];
        sd[j] = sqrt(col[j]);
    }
    eigen_range(P, (const double (*)[PM])A, lam_min, lam_max);
}

void laplace_glm_compare(const char *label, const float *draws, size_t n, int P, const double *mode,
                         const double *sd, double *worst_mean, double *worst_sd, double *best_sd)
{
    *worst_mean = *worst_sd = 0;
    *best_sd = INFINITY;
    for (int k = 0; k < P; k++) {
        double s1 = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) s1 += draws[i * P + k];
        const double m = s1 / n;
        for (size_t i = 0; i < n; i++) s2 += pow(draws[i * P + k] - m, 2);
        const double s = sqrt(s2 / (n - 1)), dm = (m - mode[k]) / sd[k], ds = s / sd[k] - 1;
        char name[16];
        if (k < P - 1) snprintf(name, sizeof name, "w[%d]", k);
        else snprintf(name, sizeof name, "b   ");
        printf("  %s %s: mean %.5f (Laplace %.5f, %+.3f sd), sd %.5f (Laplace %.5f, %+.1f%%)\n", label, name, m,
               mode[k], dm, s, sd[k], 100 * ds);
        *worst_mean = fmax(*worst_mean, fabs(dm));
        *worst_sd = fmax(*worst_sd, fabs(ds));
        *best_sd = fmin(*best_sd, ds);
    }
}
