/* metrics.c - accumulators of the posterior predictive and the scores computed from them:
 * accuracy, NLL, Brier, ECE, entropy decomposition, regression RMSE / log-likelihood / PIT
 * coverage, AUROC / AUPR, histograms.  Definitions and references in include/sgld/ensemble.h.
 *
 * Invariant: an accumulator of draws D holds sums over D only, so the accumulator of D1 u D2
 * is the elementwise sum of the two (the streaming logsumexp pair (max, sum) is rescaled to the
 * larger max first). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sgld/ensemble.h"

#define LOG_SQRT_2PI 0.91893853320467274178

sgld_status sgld_ens_acc_init(sgld_ens_acc *a, int64_t n, int K, int has_y)
{
    SGLD_CHECK(a && n >= 0 && K >= 0, SGLD_ERR_ARG, "sgld_ens_acc_init: bad arguments (n %lld, K %d)",
               (long long)n, K);
    memset(a, 0, sizeof *a);
    a->n = n;
    a->K = K;
    a->has_y = has_y;
    size_t m = n > 0 ? (size_t)n : 1;
    a->psum = sgld_calloc(m * (size_t)(K > 0 ? K : 1), sizeof *a->psum);
    a->second = sgld_calloc(m, sizeof *a->second);
    if (has_y) {
        a->lse_max = sgld_calloc(m, sizeof *a->lse_max);
        a->lse_sum = sgld_calloc(m, sizeof *a->lse_sum);
        if (K == 0) a->cdf_sum = sgld_calloc(m, sizeof *a->cdf_sum);
    }
    if (!a->psum || !a->second || (has_y && (!a->lse_max || !a->lse_sum || (K == 0 && !a->cdf_sum)))) {
        sgld_ens_acc_finalize(a); /* nothing half-allocated is left to the caller */
        return sgld_error_set(SGLD_ERR_NOMEM, "out of memory for the predictive sums of %lld examples",
                              (long long)n);
    }
    for (int64_t i = 0; has_y && i < n; i++) a->lse_max[i] = -INFINITY;
    return SGLD_OK;
}

void sgld_ens_acc_finalize(sgld_ens_acc *a)
{
    if (!a) return;
    sgld_free(a->psum);
    sgld_free(a->second);
    sgld_free(a->lse_max);
    sgld_free(a->lse_sum);
    sgld_free(a->cdf_sum);
    memset(a, 0, sizeof *a);
}

/* Adds exp(l) to the logsumexp pair of example i. */
static void lse_add(sgld_ens_acc *a, int64_t i, double l)
{
    if (l == -INFINITY) return;
    if (l > a->lse_max[i]) {
        a->lse_sum[i] = a->lse_sum[i] * exp(a->lse_max[i] - l) + 1.0;
        a->lse_max[i] = l;
    } else {
        a->lse_sum[i] += exp(l - a->lse_max[i]);
    }
}

double sgld_ens_entropy(const double *p, int K)
{
    double h = 0.0;
    for (int k = 0; k < K; k++)
        if (p[k] > 0) h -= p[k] * log(p[k]);
    return h;
}

/* Row i's log density under one draw of a regression: the model's own (logp) or the Gaussian's. */
static double reg_logp(const double *mu, const double *var, const double *logp, const float *y, int64_t i)
{
    if (logp) return logp[i];
    double sd = sqrt(var[i]), z = (y[i] - mu[i]) / sd;
    return -0.5 * z * z - log(sd) - LOG_SQRT_2PI;
}

void sgld_ens_row_logp(int K, int64_t n, const double *prob, const double *var, const double *logp,
                       const float *y, double *out)
{
    for (int64_t i = 0; i < n; i++) out[i] = K > 0 ? log(prob[i * K + (int)y[i]]) : reg_logp(prob, var, logp, y, i);
}

void sgld_ens_acc_add_class(sgld_ens_acc *a, const double *prob, const float *y)
{
    const int K = a->K;
    for (int64_t i = 0; i < a->n; i++) {
        const double *p = prob + i * K;
        double *s = a->psum + i * K;
        for (int k = 0; k < K; k++) s[k] += p[k];
        a->second[i] += sgld_ens_entropy(p, K);
        if (a->has_y) lse_add(a, i, log(p[(int)y[i]]));
    }
    a->n_draws++;
}

void sgld_ens_acc_add_reg(sgld_ens_acc *a, const double *mu, const double *var, const float *y)
{
    sgld_ens_acc_add_reg_logp(a, mu, var, NULL, y);
}

void sgld_ens_acc_add_reg_logp(sgld_ens_acc *a, const double *mu, const double *var, const double *logp,
                               const float *y)
{
    for (int64_t i = 0; i < a->n; i++) {
        a->psum[i] += mu[i];
        a->second[i] += mu[i] * mu[i] + var[i];
        if (a->has_y) {
            double sd = sqrt(var[i]), z = (y[i] - mu[i]) / sd;
            lse_add(a, i, reg_logp(mu, var, logp, y, i));
            a->cdf_sum[i] += 0.5 * erfc(-z / sqrt(2.0));
        }
    }
    a->n_draws++;
}

void sgld_ens_acc_merge(sgld_ens_acc *dst, const sgld_ens_acc *src)
{
    const int64_t n = dst->n, w = dst->K > 0 ? dst->K : 1;
    for (int64_t i = 0; i < n * w; i++) dst->psum[i] += src->psum[i];
    for (int64_t i = 0; i < n; i++) dst->second[i] += src->second[i];
    if (dst->has_y) {
        for (int64_t i = 0; i < n; i++) {
            if (src->lse_max[i] == -INFINITY) continue;
            if (src->lse_max[i] > dst->lse_max[i]) {
                dst->lse_sum[i] = dst->lse_sum[i] * exp(dst->lse_max[i] - src->lse_max[i]) + src->lse_sum[i];
                dst->lse_max[i] = src->lse_max[i];
            } else {
                dst->lse_sum[i] += src->lse_sum[i] * exp(src->lse_max[i] - dst->lse_max[i]);
            }
        }
        if (dst->cdf_sum)
            for (int64_t i = 0; i < n; i++) dst->cdf_sum[i] += src->cdf_sum[i];
    }
    dst->n_draws += src->n_draws;
}

sgld_status sgld_ens_acc_reduce(sgld_ens_acc *a, MPI_Comm comm)
{
    int size, rank;
    SGLD_MPI(MPI_Comm_size(comm, &size));
    SGLD_MPI(MPI_Comm_rank(comm, &rank));
    if (size == 1) return SGLD_OK;
    const int64_t n = a->n, w = a->K > 0 ? a->K : 1;
    /* Rescale every rank's logsumexp pair to the common max, then one sum. */
    if (a->has_y && n > 0) {
        double *gmax = sgld_malloc((size_t)n * sizeof *gmax);
        SGLD_CHECK(gmax, SGLD_ERR_NOMEM, "out of memory reducing %lld examples", (long long)n);
        int rc = MPI_Allreduce(a->lse_max, gmax, (int)n, MPI_DOUBLE, MPI_MAX, comm);
        if (rc == MPI_SUCCESS)
            for (int64_t i = 0; i < n; i++) {
                if (gmax[i] == -INFINITY) continue;
                a->lse_sum[i] = a->lse_max[i] == -INFINITY ? 0.0 : a->lse_sum[i] * exp(a->lse_max[i] - gmax[i]);
                a->lse_max[i] = gmax[i];
            }
        sgld_free(gmax);
        SGLD_CHECK(rc == MPI_SUCCESS, SGLD_ERR_MPI, "MPI_Allreduce of the log-likelihood maxima failed");
    }
    double *bufs[4] = {a->psum, a->second, a->has_y ? a->lse_sum : NULL, a->cdf_sum};
    int64_t lens[4] = {n * w, n, n, n};
    for (int b = 0; b < 4; b++) {
        if (!bufs[b] || lens[b] == 0) continue;
        SGLD_MPI(MPI_Reduce(rank == 0 ? MPI_IN_PLACE : bufs[b], bufs[b], (int)lens[b], MPI_DOUBLE,
                            MPI_SUM, 0, comm));
    }
    int64_t total = 0;
    SGLD_MPI(MPI_Reduce(&a->n_draws, &total, 1, MPI_INT64_T, MPI_SUM, 0, comm));
    if (rank == 0) a->n_draws = total;
    return SGLD_OK;
}

double sgld_ens_ece(const double *conf, const int *correct, int64_t n, int n_bins, int64_t *count,
                    double *mean_conf, double *accuracy)
{
    int64_t cnt[256] = {0};
    double sc[256] = {0}, sa[256] = {0};
    if (n_bins > 256) n_bins = 256;
    for (int64_t i = 0; i < n; i++) {
        int b = (int)floor(conf[i] * n_bins);
        b = b < 0 ? 0 : b >= n_bins ? n_bins - 1 : b;
        cnt[b]++;
        sc[b] += conf[i];
        sa[b] += correct[i] ? 1.0 : 0.0;
    }
    double ece = 0.0;
    for (int b = 0; b < n_bins; b++) {
        if (count) count[b] = cnt[b];
        if (mean_conf) mean_conf[b] = cnt[b] ? sc[b] / cnt[b] : NAN;
        if (accuracy) accuracy[b] = cnt[b] ? sa[b] / cnt[b] : NAN;
        if (cnt[b]) ece += fabs(sa[b] - sc[b]) / (double)n; /* (n_b / n) |acc_b - conf_b| */
    }
    return n > 0 ? ece : NAN;
}

sgld_status sgld_ens_class_scores(const sgld_ens_acc *a, const float *y, sgld_ens_class_summary *s,
                                  const sgld_ens_class_examples *ex)
{
    SGLD_CHECK(a && s && a->K > 0, SGLD_ERR_ARG, "sgld_ens_class_scores: not a classification accumulator");
    SGLD_CHECK(a->n_draws > 0, SGLD_ERR_ARG, "no draws to score");
    const int K = a->K;
    const int64_t n = a->n;
    const double S = (double)a->n_draws;
    const int with_y = a->has_y && y;
    memset(s, 0, sizeof *s);
    s->n = n;
    s->n_draws = a->n_draws;
    double *conf = sgld_malloc((size_t)(n > 0 ? n : 1) * sizeof *conf);
    int *corr = sgld_malloc((size_t)(n > 0 ? n : 1) * sizeof *corr);
    double *p = sgld_malloc((size_t)K * sizeof *p);
    if (!conf || !corr || !p) {
        sgld_free(conf);
        sgld_free(corr);
        sgld_free(p);
        return sgld_error_set(SGLD_ERR_NOMEM, "out of memory scoring %lld examples", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        for (int k = 0; k < K; k++) {
            p[k] = a->psum[i * K + k] / S;
            if (p[k] > p[best]) best = k;
        }
        double h = sgld_ens_entropy(p, K), eh = a->second[i] / S, mi = fmax(h - eh, 0.0);
        conf[i] = p[best];
        corr[i] = with_y && best == (int)y[i];
        double nll = NAN;
        if (with_y) {
            nll = -(a->lse_max[i] + log(a->lse_sum[i]) - log(S));
            double b = 0.0;
            for (int k = 0; k < K; k++) {
                double e = p[k] - (k == (int)y[i]);
                b += e * e;
            }
            s->nll += nll;
            s->brier += b;
            s->accuracy += corr[i];
        }
        s->entropy += h;
        s->expected_entropy += eh;
        s->mutual_info += mi;
        s->max_prob += conf[i];
        if (ex) {
            if (ex->prob) memcpy(ex->prob + i * K, p, (size_t)K * sizeof *p);
            if (ex->max_prob) ex->max_prob[i] = conf[i];
            if (ex->entropy) ex->entropy[i] = h;
            if (ex->expected_entropy) ex->expected_entropy[i] = eh;
            if (ex->mutual_info) ex->mutual_info[i] = mi;
            if (ex->nll) ex->nll[i] = nll;
            if (ex->pred) ex->pred[i] = best;
            if (ex->correct) ex->correct[i] = corr[i];
        }
    }
    double inv = n > 0 ? 1.0 / (double)n : NAN;
    s->entropy *= inv;
    s->expected_entropy *= inv;
    s->mutual_info *= inv;
    s->max_prob *= inv;
    if (with_y) {
        s->nll *= inv;
        s->brier *= inv;
        s->accuracy *= inv;
        s->ece = sgld_ens_ece(conf, corr, n, SGLD_ENS_ECE_BINS, NULL, NULL, NULL);
    } else {
        s->nll = s->brier = s->accuracy = s->ece = NAN;
    }
    sgld_free(conf);
    sgld_free(corr);
    sgld_free(p);
    return SGLD_OK;
}

sgld_status sgld_ens_reg_scores(const sgld_ens_acc *a, const float *y, sgld_ens_reg_summary *s,
                                const sgld_ens_reg_examples *ex)
{
    SGLD_CHECK(a && s && a->K == 0 && a->has_y && y, SGLD_ERR_ARG,
               "sgld_ens_reg_scores: not a regression accumulator with targets");
    SGLD_CHECK(a->n_draws > 0, SGLD_ERR_ARG, "no draws to score");
    const int64_t n = a->n;
    const double S = (double)a->n_draws;
    memset(s, 0, sizeof *s);
    s->n = n;
    s->n_draws = a->n_draws;
    for (int64_t i = 0; i < n; i++) {
        double m = a->psum[i] / S, v = fmax(a->second[i] / S - m * m, 0.0), e = y[i] - m;
        double ll = a->lse_max[i] + log(a->lse_sum[i]) - log(S), pit = a->cdf_sum[i] / S;
        s->rmse += e * e;
        s->loglik += ll;
        s->sd += sqrt(v);
        s->cover50 += pit >= 0.25 && pit <= 0.75;
        s->cover90 += pit >= 0.05 && pit <= 0.95;
        s->cover95 += pit >= 0.025 && pit <= 0.975;
        if (ex) {
            if (ex->mean) ex->mean[i] = m;
            if (ex->sd) ex->sd[i] = sqrt(v);
            if (ex->loglik) ex->loglik[i] = ll;
            if (ex->pit) ex->pit[i] = pit;
        }
    }
    double inv = n > 0 ? 1.0 / (double)n : NAN;
    s->rmse = sqrt(s->rmse * inv);
    s->loglik *= inv;
    s->sd *= inv;
    s->cover50 *= inv;
    s->cover90 *= inv;
    s->cover95 *= inv;
    return SGLD_OK;
}

typedef struct {
    double score;
    int pos;
} scored;

static int by_score_desc(const void *pa, const void *pb)
{
    double a = ((const scored *)pa)->score, b = ((const scored *)pb)->score;
    return (a < b) - (a > b);
}

sgld_status sgld_ens_auroc_aupr(const double *score_in, int64_t n_in, const double *score_out,
                                int64_t n_out, double *auroc, double *aupr)
{
    *auroc = *aupr = NAN;
    if (n_in <= 0 || n_out <= 0) return SGLD_OK;
    const int64_t n = n_in + n_out;
    scored *v = sgld_malloc((size_t)n * sizeof *v);
    SGLD_CHECK(v, SGLD_ERR_NOMEM, "out of memory sorting %lld scores", (long long)n);
    for (int64_t i = 0; i < n_in; i++) v[i] = (scored){score_in[i], 0};
    for (int64_t i = 0; i < n_out; i++) v[n_in + i] = (scored){score_out[i], 1};
    qsort(v, (size_t)n, sizeof *v, by_score_desc);
    /* Walk the distinct thresholds from the top: each group of tied scores is one step. */
    double tp = 0, fp = 0, area = 0, ap = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        double gp = 0, gn = 0;
        while (j < n && v[j].score == v[i].score) {
            gp += v[j].pos;
            gn += !v[j].pos;
            j++;
        }
        /* positives of this group beat the negatives below (counted later) and tie with the
         * group's negatives: negatives here lose to every positive above and tie half. */
        area += gn * (tp + 0.5 * gp);
        tp += gp;
        fp += gn;
        if (gp > 0) ap += (gp / (double)n_out) * (tp / (tp + fp));
        i = j;
    }
    *auroc = area / ((double)n_in * (double)n_out);
    *aupr = ap;
    sgld_free(v);
    return SGLD_OK;
}

void sgld_ens_histogram(const double *x, int64_t n, int n_bins, double lo, double hi, int64_t *count)
{
    for (int b = 0; b < n_bins; b++) count[b] = 0;
    for (int64_t i = 0; i < n; i++) {
        int b = (int)floor((x[i] - lo) / (hi - lo) * n_bins);
        b = b < 0 ? 0 : b >= n_bins ? n_bins - 1 : b;
        count[b]++;
    }
}
