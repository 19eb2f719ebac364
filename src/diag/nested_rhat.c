/* nested_rhat.c - nested R-hat for many short chains (Margossian, Hoffman, Sountsov,
 * Riou-Durand, Vehtari & Gelman 2024, "Nested R-hat: assessing the convergence of Markov chain
 * Monte Carlo when running many short chains", Bayesian Analysis; Definition 2.2).
 *
 * K superchains of M chains of N draws; the chains of a superchain start from one point and
 * differ by their own randomness.  With theta(n,m,k) draw n of chain m of superchain k:
 *   chain mean          thb(.mk) = (1/N) sum_n theta(n,m,k)
 *   superchain mean     thb(..k) = (1/M) sum_m thb(.mk)                              eq. (4)
 *   overall mean        thb(...) = (1/K) sum_k thb(..k)
 *   between superchains nB = 1/(K-1) sum_k (thb(..k) - thb(...))^2                  eq. (6)
 *   within superchain k Bt_k = 1/(M-1) sum_m (thb(.mk) - thb(..k))^2   (0 when M = 1)
 *                       Wt_k = (1/M) sum_m 1/(N-1) sum_n (theta(n,m,k) - thb(.mk))^2
 *                                                                      (0 when N = 1)
 *                       nW = (1/K) sum_k (Bt_k + Wt_k)                               eq. (7)
 *   nested R-hat        nRhat = sqrt(1 + nB / nW)                                    eq. (8)
 * nRhat >= 1 always (so with M = 1 it is not quite the classic R-hat, whose within-chain
 * weight is (N-1)/N).  The paper's threshold is nRhat < 1 + delta with delta = 0.01
 * (SGLD_DIAG_NRHAT_DELTA).  At stationarity with independent chains nB / nW is about
 * 1 / (M ESS) for ESS effective draws per chain, so the threshold needs M ESS >~ 50 draws'
 * worth per superchain; below that, nRhat flags the run however well it mixed.
 *
 * Means and variances accumulate by Welford's updates in double, superchain by superchain in
 * the order of a chain list, so no workspace is needed and the value does not depend on which
 * rank or thread computes it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diag_impl.h"

double sgld_diag_nested_rhat(const double *x, int64_t n_draws, const int *chains, int n_groups,
                             int per_group)
{
    if (!x || !chains || n_groups < 2 || per_group < 1 || n_draws < 1) return NAN;
    double sc_mean = 0.0, sc_m2 = 0.0; /* Welford over the K superchain means */
    double w_sum = 0.0;                /* sum_k (Bt_k + Wt_k) */
    for (int k = 0; k < n_groups; k++) {
        double ch_mean = 0.0, ch_m2 = 0.0, within = 0.0; /* Welford over the M chain means */
        for (int j = 0; j < per_group; j++) {
            const double *xc = x + (int64_t)chains[k * per_group + j] * n_draws;
            double mu = 0.0, ss = 0.0;
            for (int64_t t = 0; t < n_draws; t++) {
                if (!isfinite(xc[t])) return NAN;
                mu += xc[t];
            }
            mu /= (double)n_draws;
            for (int64_t t = 0; t < n_draws; t++) ss += (xc[t] - mu) * (xc[t] - mu);
            if (n_draws > 1) within += ss / (double)(n_draws - 1);
            double d = mu - ch_mean;
            ch_mean += d / (double)(j + 1);
            ch_m2 += d * (mu - ch_mean);
        }
        const double bt = per_group > 1 ? ch_m2 / (double)(per_group - 1) : 0.0;
        w_sum += bt + within / (double)per_group;
        double d = ch_mean - sc_mean;
        sc_mean += d / (double)(k + 1);
        sc_m2 += d * (ch_mean - sc_mean);
    }
    const double nb = sc_m2 / (double)(n_groups - 1), nw = w_sum / (double)n_groups;
    if (!(nw > 0.0)) return NAN; /* no spread within any superchain: the ratio is undefined */
    return sqrt(1.0 + nb / nw);
}

/* ---- the report's superchains ---- */

typedef struct {
    int64_t label;
    int chain;
} labelled;

static int by_label(const void *a, const void *b)
{
    const labelled *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    return x->chain < y->chain ? -1 : x->chain > y->chain;
}

/* From the superchain label of every chain: the chain list by superchain (ascending label,
 * chains ascending within one) and K.  SGLD_ERR_USAGE naming the file when the superchains are
 * not all of one size. */
static sgld_status group_labels(report_ctx *c, const int64_t *label, const char *where)
{
    sgld_diag_report *r = c->r;
    const int m = r->n_chains;
    labelled *lc = sgld_malloc((size_t)m * sizeof *lc);
    SGLD_CHECK(lc, SGLD_ERR_NOMEM, "out of memory grouping %d chains into superchains", m);
    for (int i = 0; i < m; i++) lc[i] = (labelled){label[i], i};
    qsort(lc, (size_t)m, sizeof *lc, by_label);
    int k = 0, first_size = 0;
    sgld_status st = SGLD_OK;
    for (int i = 0; i < m && st == SGLD_OK;) {
        int j = i;
        while (j < m && lc[j].label == lc[i].label) j++;
        if (k == 0) first_size = j - i;
        if (j - i != first_size)
            st = sgld_error_set(SGLD_ERR_USAGE, "%s: %s: superchain %lld holds %d chains but superchain %lld "
                                "holds %d (nested R-hat needs superchains of one size)", c->o->file, where,
                                (long long)lc[i].label, j - i, (long long)lc[0].label, first_size);
        k++;
        i = j;
    }
    for (int i = 0; i < m && st == SGLD_OK; i++) c->sc_chains[i] = lc[i].chain;
    sgld_free(lc);
    SGLD_TRY(st);
    r->n_superchains = k;
    r->chains_per_superchain = m / k;
    return SGLD_OK;
}

sgld_status sgld_diag_report_superchains(report_ctx *c)
{
    const sgld_diag_report_opts *o = c->o;
    sgld_diag_report *r = c->r;
    const int m = r->n_chains;
    r->n_superchains = r->chains_per_superchain = 0;
    r->superchains_from_file = 0;
    r->nrhat_max = NAN;
    r->nrhat_max_elem = -1;
    r->n_nrhat_above = 0;
    if (o->superchains > 0)
        SGLD_CHECK(m % o->superchains == 0, SGLD_ERR_USAGE,
                   "%s: --superchains %d does not divide the %d chains (every superchain holds C / K chains)",
                   o->file, o->superchains, m);
    int64_t *label = sgld_malloc((size_t)m * sizeof *label);
    c->sc_chains = sgld_malloc((size_t)m * sizeof *c->sc_chains);
    if (!label || !c->sc_chains) {
        sgld_free(label);
        return sgld_error_set(SGLD_ERR_NOMEM, "out of memory for %d superchain ids", m);
    }
    int found = 1;
    char where[320];
    sgld_status st = SGLD_OK;
    if (o->superchains > 0) { /* the option overrides the file: contiguous groups */
        for (int i = 0; i < m; i++) label[i] = i / (m / o->superchains);
        snprintf(where, sizeof where, "--superchains %d", o->superchains);
    } else {
        st = sgld_samples_read_chain_coord(c->rd, o->group, "superchain", m, label, &found);
        /* A malformed coordinate is the input's fault (the reader's message names the file
         * and the variable); a failed read is not. */
        if (st == SGLD_ERR_PARSE || st == SGLD_ERR_ARG) st = SGLD_ERR_USAGE;
        snprintf(where, sizeof where, "coordinate '%s/superchain'", o->group);
        r->superchains_from_file = found;
    }
    if (st == SGLD_OK && found) st = group_labels(c, label, where);
    sgld_free(label);
    if (st != SGLD_OK || !found) {
        sgld_free(c->sc_chains);
        c->sc_chains = NULL;
    }
    return st;
}

void sgld_diag_report_nrhat_max(sgld_diag_report *r)
{
    if (!r->elems || r->n_superchains < 1) return;
    for (int64_t e = 0; e < r->n_elems; e++) {
        const double v = r->elems[e].nrhat;
        if (isnan(v)) continue;
        if (isnan(r->nrhat_max) || v > r->nrhat_max) {
            r->nrhat_max = v;
            r->nrhat_max_elem = e;
        }
        r->n_nrhat_above += v > 1.0 + SGLD_DIAG_NRHAT_DELTA;
    }
}
