/* project.c - low-dimensional views of high-dimensional draws for mESS when p >= the number
 * of batches (the batch means estimator is then singular).
 *
 * Random projections: Y = X Q, Q = G R^-1 with G p x k standard normal (Philox key
 * {seed, 0}, purpose SGLD_RNG_PROJECT, element e column j = normal number e k + j) and
 * G^T G = R^T R, so the columns of Q are orthonormal; accumulated block by block of elements.
 * Principal components: one power iteration of the randomized range finder (Halko, Martinsson
 * & Tropp 2011, Alg. 4.3): S = Xc Xc^T Q0 with Q0 = orth(Xc G), i.e. the N x N Gram matrix of
 * the centred draws applied without being formed; the top-k left singular vectors of S
 * (from the Jacobi eigen-decomposition of S^T S) are the PC scores up to scale, and mESS
 * is invariant to the scale of each column. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "diag_impl.h"
#include "sgld/rng.h"

void sgld_diag_project_rows(uint32_t seed, int64_t e_begin, int64_t n_e, int k, double *out)
{
    sgld_rng r = {seed, 0};
    sgld_rng_normal(&r, 0, SGLD_RNG_PROJECT, (uint64_t)e_begin * (uint64_t)k,
                    (size_t)n_e * (size_t)k, out);
}

void sgld_diag_project_accumulate(const double *x_blk, int64_t n_e, int64_t n_rows,
                                  const double *g_blk, int k, double *y)
{
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_rows, k, (int)n_e, 1.0, x_blk,
                (int)n_rows, g_blk, k, 1.0, y, k);
}

void sgld_diag_project_block(const double *x_blk, int64_t n_e, int64_t n_rows, const double *q,
                             int k, double *t)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n_e, k, (int)n_rows, 1.0, x_blk,
                (int)n_rows, q, k, 0.0, t, k);
}

sgld_status sgld_diag_project_finish(double *y, int64_t n_rows, int k, const double *gtg)
{
    double *l;
    SGLD_ALLOC(l, (size_t)k * k);
    memcpy(l, gtg, sizeof(double) * (size_t)k * k);
    int ok = sgld_diag_cholesky(l, k);
    if (!ok) {
        sgld_free(l);
        return sgld_error_set(SGLD_ERR_NUMERIC, "random projection: G^T G (k = %d) is singular", k);
    }
    /* y_new R = y_old with R = L^T: forward substitution on each row. */
    for (int64_t r = 0; r < n_rows; r++) {
        double *row = y + r * k;
        for (int j = 0; j < k; j++) {
            double s = row[j];
            for (int i = 0; i < j; i++) s -= row[i] * l[j * k + i];
            row[j] = s / l[j * k + j];
        }
    }
    sgld_free(l);
    return SGLD_OK;
}

void sgld_diag_eigen_sym(double *a, int n, double *w, double *v)
{
    for (int i = 0; i < n * n; i++) v[i] = 0.0;
    for (int i = 0; i < n; i++) v[i * n + i] = 1.0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, tot = 0.0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                tot += a[i * n + j] * a[i * n + j];
                if (i != j) off += a[i * n + j] * a[i * n + j];
            }
        if (off <= 1e-30 * tot) break;
        for (int p = 0; p < n - 1; p++) {
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0.0) continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < n; k++) { /* columns p, q */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows p, q */
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {
                    double vkp = v[k * n + p], vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    for (int i = 0; i < n; i++) w[i] = a[i * n + i];
    /* sort descending (selection sort; n is small) */
    for (int i = 0; i < n; i++) {
        int best = i;
        for (int j = i + 1; j < n; j++)
            if (w[j] > w[best]) best = j;
        if (best != i) {
            double t = w[i];
            w[i] = w[best];
            w[best] = t;
            for (int k = 0; k < n; k++) {
                t = v[k * n + i];
                v[k * n + i] = v[k * n + best];
                v[k * n + best] = t;
            }
        }
    }
}

sgld_status sgld_diag_pca_scores(const double *s, int64_t n_rows, int kk, int k, double *pcs,
                                 double *eigvals)
{
    SGLD_CHECK(k >= 1 && k <= kk, SGLD_ERR_ARG, "PCA: k = %d must be in [1, %d]", k, kk);
    double *c, *w, *v;
    SGLD_ALLOC(c, (size_t)kk * kk);
    SGLD_ALLOC(w, kk);
    SGLD_ALLOC(v, (size_t)kk * kk);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kk, kk, (int)n_rows, 1.0, s, kk, s,
                kk, 0.0, c, kk);
    sgld_diag_eigen_sym(c, kk, w, v);
    /* pcs = S V[:, :k] */
    for (int64_t r = 0; r < n_rows; r++)
        for (int j = 0; j < k; j++) {
            double acc = 0.0;
            for (int i = 0; i < kk; i++) acc += s[r * kk + i] * v[i * kk + j];
            pcs[r * k + j] = acc;
        }
    if (eigvals)
        for (int j = 0; j < k; j++) eigvals[j] = w[j];
    sgld_free(c);
    sgld_free(w);
    sgld_free(v);
    return SGLD_OK;
}
