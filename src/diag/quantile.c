/* quantile.c - ordering, rank normalization, quantiles and the normal / chi-square / beta
 * quantiles.
 *
 * Sorting: LSD radix sort on the order-preserving map of IEEE-754 doubles to unsigned
 * integers (flip all bits of negatives, the sign bit of positives), 6 passes of 11 bits
 * (a pass whose digit is the same for every key is skipped), stable, so ties keep their original order and get the average rank.
 * Rank normalization (posterior's z_scale): z = Phi^-1((r - 3/8) / (S + 1/4)), Blom (1958),
 * with average ranks r for ties.
 * Quantiles: Hyndman & Fan (1996) type 7, R's and numpy's default.
 * Beta quantile: I_x(a, b) by its continued fraction (Abramowitz & Stegun 26.5.8, evaluated by
 * the modified Lentz method) on the side where it converges fast, inverted by Newton steps kept
 * inside a bisection bracket. */
#include <math.h>
#include <string.h>

#include "diag_impl.h"

static inline uint64_t order_key(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return (u >> 63) ? ~u : (u | ((uint64_t)1 << 63));
}

/* 11-bit digits: the 2048 counters of a pass stay in L1 and the scatter writes go to 2048
 * streams (16-bit digits scattered 80 000 values over 65 536 buckets, a cache miss each).
 * The counters live on the stack, so concurrent calls on different workspaces are safe. */
enum { RADIX_BITS = 11, RADIX = 1 << RADIX_BITS, RADIX_PASSES = (64 + RADIX_BITS - 1) / RADIX_BITS };

void sgld_diag_argsort(sgld_diag_ws *ws, const double *x, int64_t n, double *sorted,
                       uint32_t *idx)
{
    uint64_t *ka = ws->key_a, *kb = ws->key_b;
    uint32_t *ia = idx, *ib = ws->idx_b;
    uint32_t count[RADIX_PASSES][RADIX];
    memset(count, 0, sizeof count);
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = order_key(x[i]);
        ka[i] = k;
        ia[i] = (uint32_t)i;
        for (int d = 0; d < RADIX_PASSES; d++) count[d][(k >> (RADIX_BITS * d)) & (RADIX - 1)]++;
    }
    for (int d = 0; d < RADIX_PASSES; d++) {
        uint32_t *c = count[d];
        int shift = RADIX_BITS * d;
        if (n > 0 && c[(ka[0] >> shift) & (RADIX - 1)] == (uint32_t)n) continue; /* one bucket */
        uint32_t sum = 0;
        for (int b = 0; b < RADIX; b++) {
            uint32_t t = c[b];
            c[b] = sum;
            sum += t;
        }
        for (int64_t i = 0; i < n; i++) {
            uint32_t pos = c[(ka[i] >> shift) & (RADIX - 1)]++;
            kb[pos] = ka[i];
            ib[pos] = ia[i];
        }
        uint64_t *tk = ka;
        ka = kb;
        kb = tk;
        uint32_t *ti = ia;
        ia = ib;
        ib = ti;
    }
    if (ia != idx) memcpy(idx, ia, sizeof(uint32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) sorted[i] = x[idx[i]];
}

void sgld_diag_zscores(const sgld_diag_ws *ws, const double *sorted, const uint32_t *idx,
                       int64_t n, double *z)
{
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j + 1 < n && sorted[j + 1] == sorted[i]) j++;
        double v;
        if (i == j && n == ws->n_split) {
            v = ws->ztab[i];
        } else {
            double r = (double)(i + j) / 2.0 + 1.0;
            v = sgld_diag_qnorm((r - 0.375) / ((double)n + 0.25));
        }
        for (int64_t k = i; k <= j; k++) z[idx[k]] = v;
        i = j + 1;
    }
}

double sgld_diag_quantile_sorted(const double *sorted, int64_t n, double prob)
{
    if (n <= 0) return NAN;
    double index = (double)(n - 1) * prob;
    int64_t lo = (int64_t)floor(index);
    int64_t hi = (int64_t)ceil(index);
    double q = sorted[lo];
    double h = index - (double)lo;
    if (hi != lo && sorted[hi] != q) q = (1.0 - h) * q + h * sorted[hi];
    return q;
}

/* Acklam's rational approximation (relative error 1.15e-9) refined by one Halley step on
 * the exact CDF computed with erfc. */
double sgld_diag_qnorm(double p)
{
    static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                -2.759285104469687e+02, 1.383577518672690e+02,
                                -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                -1.556989798598866e+02, 6.680131188771972e+01,
                                -1.328068155288572e+01};
    static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                -2.400758277161838e+00, -2.549732539343734e+00,
                                4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01,
                                2.445134137142996e+00, 3.754408661907416e+00};
    if (!(p > 0.0 && p < 1.0)) {
        if (p == 0.0) return -INFINITY;
        if (p == 1.0) return INFINITY;
        return NAN;
    }
    double x;
    const double plow = 0.02425;
    if (p < plow) {
        double q = sqrt(-2.0 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    } else if (p <= 1.0 - plow) {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    } else {
        double q = sqrt(-2.0 * log1p(-p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    }
    /* Halley: work in the tail that keeps precision. */
    for (int it = 0; it < 2; it++) {
        double e;
        if (x < 0.0)
            e = 0.5 * erfc(-x / M_SQRT2) - p;
        else
            e = (1.0 - p) - 0.5 * erfc(x / M_SQRT2);
        double u = e * sqrt(2.0 * M_PI) * exp(x * x / 2.0);
        x = x - u / (1.0 + x * u / 2.0);
    }
    return x;
}

/* Regularized lower incomplete gamma P(a, x): series below a + 1, continued fraction
 * (modified Lentz) above. */
static double gamma_p(double a, double x)
{
    if (x <= 0.0) return 0.0;
    double lg = lgamma(a);
    if (x < a + 1.0) {
        double sum = 1.0 / a, term = sum, ap = a;
        for (int i = 0; i < 10000; i++) {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if (fabs(term) < fabs(sum) * 1e-17) break;
        }
        return sum * exp(-x + a * log(x) - lg);
    }
    double b = x + 1.0 - a, c = 1.0 / 1e-300, d = 1.0 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < 1e-300) d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300) c = 1e-300;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-17) break;
    }
    return 1.0 - exp(-x + a * log(x) - lg) * h;
}

double sgld_diag_qchisq(double p, double k)
{
    if (!(p > 0.0 && p < 1.0) || !(k > 0.0)) return NAN;
    double a = k / 2.0, lo = 0.0, hi = k + 10.0 * sqrt(2.0 * k) + 50.0;
    while (gamma_p(a, hi / 2.0) < p) hi *= 2.0;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (gamma_p(a, mid / 2.0) < p)
            lo = mid;
        else
            hi = mid;
        if (hi - lo <= 1e-15 * hi) break;
    }
    return 0.5 * (lo + hi);
}

/* lgamma(x) - Stirling's (x - 1/2) log x - x + log sqrt(2 pi), for x >= 10: the series in
 * B_2k / (2k (2k - 1) x^(2k - 1)), eight terms (the ninth is below 1e-18 at x = 10). */
static double lgamma_corr(double x)
{
    static const double c[8] = {1.0 / 12, -1.0 / 360, 1.0 / 1260, -1.0 / 1680, 1.0 / 1188, -691.0 / 360360,
                                1.0 / 156, -3617.0 / 122400};
    double r = 1.0 / (x * x), sum = 0.0;
    for (int k = 7; k >= 0; k--) sum = sum * r + c[k];
    return sum / x;
}

/* log B(a, b) without the cancellation of lgamma(a) + lgamma(b) - lgamma(a + b) when a or b
 * is large (the shapes of mcse_quantile are ESS-sized): Stirling's terms cancel analytically,
 * as R's lbeta does. */
static double log_beta(double a, double b)
{
    double p = a < b ? a : b, q = a < b ? b : a;
    if (p >= 10.0)
        return -0.5 * log(q) + 0.918938533204672741780 + lgamma_corr(p) + lgamma_corr(q) - lgamma_corr(p + q) +
               (p - 0.5) * log(p / (p + q)) + q * log1p(-p / (p + q));
    if (q >= 10.0)
        return lgamma(p) + lgamma_corr(q) - lgamma_corr(p + q) + p - p * log(p + q) + (q - 0.5) * log1p(-p / (p + q));
    return lgamma(p) + lgamma(q) - lgamma(p + q);
}

/* The continued fraction of I_x(a, b) (modified Lentz), converging for x < (a + 1) / (a + b + 2)
 * in O(sqrt(max(a, b))) terms. */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 100000; m++) {
        double m2 = 2.0 * m;
        double an = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + an * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        an = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + an * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-16) break;
    }
    return h;
}

/* e - log(1 + e) for e > -1, by its series where the difference cancels. */
static double log1pmx_neg(double e)
{
    if (fabs(e) > 0.1) return e - log1p(e);
    double term = e * e, sum = 0.0;
    for (int k = 2; k < 40 && fabs(term) > 1e-18 * fabs(sum); k++, term *= -e) sum += term / k;
    return sum;
}

/* x^a (1 - x)^b / B(a, b).  For a, b >= 8 around the mode x0 = a / (a + b) it is written as
 * sqrt(a b / (2 pi (a + b))) exp(-a u - b v - corr) with u = e - log(1 + e), e = x / x0 - 1 (v
 * the same for 1 - x) and corr the Stirling remainders, so that no term of size a log x
 * cancels (DiDonato & Morris 1992, BRCOMP): at the shapes mcse_quantile uses (ESS-sized) the
 * plain exponent would lose ~ 1e-11 of relative precision. */
static double beta_front(double a, double b, double x, double lbeta)
{
    if (a < 8.0 || b < 8.0) return exp(a * log(x) + b * log1p(-x) - lbeta);
    const double x0 = a / (a + b), y0 = b / (a + b);
    double u = log1pmx_neg(x / x0 - 1.0), v = log1pmx_neg((1.0 - x) / y0 - 1.0);
    double corr = lgamma_corr(a) + lgamma_corr(b) - lgamma_corr(a + b);
    return 0.398942280401432677940 * sqrt(b * x0) * exp(-(a * u + b * v) - corr);
}

/* Regularized incomplete beta I_x(a, b); lbeta = log B(a, b). */
static double beta_inc(double a, double b, double x, double lbeta)
{
    if (x <= 0.0) return 0.0;
    if (x >= 1.0) return 1.0;
    double front = beta_front(a, b, x, lbeta);
    if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_cf(a, b, x) / a;
    return 1.0 - front * beta_cf(b, a, 1.0 - x) / b;
}

double sgld_diag_qbeta(double p, double a, double b)
{
    if (!(p > 0.0 && p < 1.0) || !(a > 0.0) || !(b > 0.0) || isinf(a) || isinf(b)) return NAN;
    const double lbeta = log_beta(a, b);
    /* Start from the normal approximation, inside (0, 1). */
    double mu = a / (a + b), sd = sqrt(a * b / ((a + b) * (a + b) * (a + b + 1.0)));
    double x = mu + sgld_diag_qnorm(p) * sd, lo = 0.0, hi = 1.0;
    if (!(x > 0.0 && x < 1.0)) x = mu;
    for (int it = 0; it < 300; it++) {
        double f = beta_inc(a, b, x, lbeta) - p;
        if (f == 0.0) return x;
        if (f < 0.0)
            lo = x;
        else
            hi = x;
        double dens = beta_front(a, b, x, lbeta) / (x * (1.0 - x));
        double next = dens > 0.0 && isfinite(dens) ? x - f / dens : NAN;
        if (!(next > lo && next < hi)) next = 0.5 * (lo + hi); /* Newton left the bracket */
        if (fabs(next - x) <= 1e-15 * x || hi - lo <= 1e-15 * hi) return next;
        x = next;
    }
    return x;
}
