/* diag.h - MCMC convergence diagnostics: univariate ESS, R-hat, MCSE and quantiles
 * (Vehtari, Gelman, Simpson, Carpenter & Burkner 2021, as the R package posterior and Stan
 * compute them), and multivariate ESS (Vats, Flegal & Jones 2019, as the R package mcmcse 1.5
 * computes it, with replicated batch means over chains, Gupta & Vats 2020).
 *
 * Layout of draws.  Univariate functions take one element's draws chain-major:
 * x[c * n_draws + t] for chain c < n_chains, draw t < n_draws (what sgld_samples_read_elems
 * gives per element).  Multivariate functions take draws row-major over the p components:
 * x[(c * n_draws + t) * p + j].
 *
 * All arithmetic is double.  A diagnostic that is undefined (non-finite draws, a constant
 * element, too few draws) comes back as NaN.  Every function here is local (no MPI) except
 * sgld_diag_report_create, the summary of a whole sample file, which is collective on the
 * communicator it is given. */
#ifndef SGLD_DIAG_H
#define SGLD_DIAG_H

#include <mpi.h>
#include <stdint.h>

#include "sgld/samples.h"
#include "sgld/status.h"

#define SGLD_DIAG_MIN_DRAWS 4 /* fewer draws per chain than this: every diagnostic is NaN */

/* ---- univariate ---- */

/* Workspace for one (n_chains, n_draws) shape: FFTW plans, sort buffers and the
 * rank-to-normal-score table.  Create once, reuse for every element of that shape. */
typedef struct sgld_diag_ws sgld_diag_ws;

sgld_status sgld_diag_ws_create(int n_chains, int64_t n_draws, sgld_diag_ws **out);
void sgld_diag_ws_destroy(sgld_diag_ws **ws); /* NULL-safe; *ws = NULL */

/* How mcse_sd takes the ESS of its delta method (mcse.c): of the split (x - mean)^2, as the R
 * package posterior >= 1.4 (and ArviZ's users compare with it), or of the split |x - mean|, as
 * Stan 2.35's stan::analyze::mcse_sd. */
typedef enum { SGLD_MCSE_SD_POSTERIOR = 0, SGLD_MCSE_SD_STAN = 1 } sgld_mcse_sd_rule;

const char *sgld_mcse_sd_rule_name(sgld_mcse_sd_rule rule); /* "posterior", "stan" */

/* Sets the mcse_sd rule of the summaries ws computes (SGLD_MCSE_SD_POSTERIOR when created). */
void sgld_diag_ws_set_mcse_sd_rule(sgld_diag_ws *ws, sgld_mcse_sd_rule rule);

/* The per-element summary (posterior's summarise_draws defaults and its mcse measures). */
typedef struct sgld_diag_summary {
    double mean, sd;          /* over all chains; sd with the n-1 denominator */
    double q05, q50, q95;     /* type-7 (linear) quantiles of the pooled draws */
    double mcse_mean;         /* sd / sqrt(ess_mean), ess_mean = split-chain Geyer ESS */
    double mcse_sd;           /* delta method, ESS by the workspace's rule (see mcse.c) */
    double mcse_q05, mcse_q50, mcse_q95; /* posterior's mcse_quantile of q05, q50, q95 (mcse.c) */
    double ess_bulk;          /* split, rank-normalized ESS */
    double ess_tail;          /* min ESS of the 5% and 95% quantile indicators */
    double rhat;              /* max of rank-normalized split R-hat and folded split R-hat */
    double ess_mean;          /* split-chain ESS of the raw draws (feeds mcse_mean) */
} sgld_diag_summary;

/* Fills *out for one element (x chain-major, shape of ws).  Draws containing NaN or Inf give
 * all-NaN diagnostics (mean/sd/quantiles too); *first_bad (if not NULL) receives the flat
 * index c * n_draws + t of the first non-finite draw, or -1. */
void sgld_diag_summarize(sgld_diag_ws *ws, const double *x, sgld_diag_summary *out,
                         int64_t *first_bad);

/* Geyer's initial-positive + initial-monotone ESS of n_chains chains of n_draws each (no
 * splitting, no rank normalization: Stan's compute_effective_sample_size, posterior's
 * ess_basic(split = FALSE)).  n_draws may be the ws's n_draws or half of it. */
double sgld_diag_ess_basic(sgld_diag_ws *ws, const double *x, int n_chains, int64_t n_draws);

/* Split-chain ESS of the raw draws (posterior's ess_mean / ess_basic). */
double sgld_diag_ess_mean(sgld_diag_ws *ws, const double *x);
double sgld_diag_ess_bulk(sgld_diag_ws *ws, const double *x);
double sgld_diag_ess_tail(sgld_diag_ws *ws, const double *x);

/* Classic split R-hat (posterior's rhat_basic) and rank R-hat (posterior's rhat). */
double sgld_diag_rhat_basic(const double *x, int n_chains, int64_t n_draws);
double sgld_diag_rhat(sgld_diag_ws *ws, const double *x);

/* Nested R-hat (Margossian et al. 2024, Definition 2.2, eqs. (4)-(8); nested_rhat.c) of one
 * element, x chain-major as above with n_draws per chain: chains lists the chain indices
 * superchain by superchain (chains[k * per_group + j] is chain j of superchain k, n_groups
 * superchains of per_group chains).  NaN when a draw is not finite, n_groups < 2, or no
 * superchain has any spread (nW = 0).  Converged by the paper's rule when below
 * 1 + SGLD_DIAG_NRHAT_DELTA. */
#define SGLD_DIAG_NRHAT_DELTA 0.01
double sgld_diag_nested_rhat(const double *x, int64_t n_draws, const int *chains, int n_groups,
                             int per_group);

/* Type-7 quantile of an ascending array of n values (R's default, numpy's "linear"). */
double sgld_diag_quantile_sorted(const double *sorted, int64_t n, double prob);

/* Standard normal quantile (Acklam's rational approximation plus one Halley step on erfc:
 * relative error below 1e-15) and the chi-square quantile with k degrees of freedom. */
double sgld_diag_qnorm(double p);
double sgld_diag_qchisq(double p, double k);

/* Quantile of the Beta(a, b) distribution (R's qbeta(p, a, b)) for 0 < p < 1, a, b > 0:
 * the regularized incomplete beta function by its continued fraction (modified Lentz),
 * inverted by safeguarded Newton steps to a relative error near 1e-14.  NaN otherwise. */
double sgld_diag_qbeta(double p, double a, double b);

/* ---- multivariate ---- */

typedef enum {
    SGLD_MESS_LUGSAIL = 0, /* lugsail batch means, r = 3, c = 1/2: 2 Sigma_b - Sigma_{b/3} */
    SGLD_MESS_BM,          /* plain non-overlapping batch means */
    SGLD_MESS_OBM,         /* overlapping batch means */
    SGLD_MESS_BARTLETT     /* spectral variance, modified Bartlett window of width b */
} sgld_mess_method;

const char *sgld_mess_method_name(sgld_mess_method m);

/* mcmcse 1.5's batchSize(): per component a Yule-Walker AR fit (Levinson-Durbin, order up to
 * min(p, n - 1, floor(10 log10 n)), stopping at the first coefficient below
 * qnorm(0.975)/sqrt(n)), then b = floor((c n)^(1/3) (sum Gamma^2 / sum Sigma^2)^(1/3)) with
 * c = 1 (bm, lugsail) or 3/2 (obm, bartlett), capped at n/(p+1) and n/10.  One chain,
 * x row-major [n][p].  Returns b >= 1. */
int64_t sgld_diag_batch_size(const double *x, int64_t n, int p, sgld_mess_method method);

typedef struct sgld_mess_result {
    double mess;          /* n_total (det Lambda / det Sigma)^(1/p); NaN if undefined */
    double log_det_lambda, log_det_sigma;
    int64_t batch_size;   /* b used */
    int64_t n_batches;    /* batches over all chains (bm, lugsail) */
    sgld_mess_method method_used; /* lugsail falls back to bm when not positive definite */
} sgld_mess_result;

/* mESS of n_chains chains, x row-major [(c n + t) p + j].  batch_size <= 0 applies the
 * batchSize rule per chain and uses the floor of their mean.  Sigma is the replicated
 * estimator around the grand mean (Gupta & Vats); Lambda the pooled sample covariance.
 * SGLD_ERR_ARG if p >= the number of batches (the estimator is singular) or n < 4;
 * SGLD_ERR_NUMERIC if Lambda is singular. */
sgld_status sgld_diag_mess(const double *x, int n_chains, int64_t n_draws, int p,
                           sgld_mess_method method, int64_t batch_size, sgld_mess_result *out);

/* minESS(p, alpha, eps) of Vats, Flegal & Jones (2019), not rounded. */
double sgld_diag_min_ess(int p, double alpha, double eps);

/* ---- high dimension: random projections and principal components (project.c) ---- */

/* Rows [e_begin, e_begin + n_e) of the p x k Gaussian matrix of the random projections:
 * element e, column j is normal number e * k + j of the Philox stream key {seed, 0},
 * step 0, purpose SGLD_RNG_PROJECT.  out row-major [n_e][k]. */
void sgld_diag_project_rows(uint32_t seed, int64_t e_begin, int64_t n_e, int k, double *out);

/* Y[N][k] += X_blk G_blk where X_blk is one block of elements laid out element-major
 * ([e][N], as read) and G_blk its [n_e][k] rows. */
void sgld_diag_project_accumulate(const double *x_blk, int64_t n_e, int64_t n_rows,
                                  const double *g_blk, int k, double *y);

/* T[n_e][k] = X_blk Q for one block of elements laid out element-major ([e][N]) and
 * Q[n_rows][k] (the second pass of the principal components; BLAS dgemm). */
void sgld_diag_project_block(const double *x_blk, int64_t n_e, int64_t n_rows, const double *q,
                             int k, double *t);

/* Orthonormalizes the columns of the Gaussian matrix implicitly: given Y = X G and
 * GtG = G^T G (k x k), replaces Y by X Q with Q = G R^-1, G^T G = R^T R (Cholesky). */
sgld_status sgld_diag_project_finish(double *y, int64_t n_rows, int k, const double *gtg);

/* Top-k principal component scores from a sketch: given S = Xc Xc^T Q (n_rows x kk, one
 * power iteration of the randomized range finder of Halko, Martinsson & Tropp 2011),
 * writes the leading k left singular vectors of S (scaled by their singular values, i.e.
 * PC scores up to scale) into pcs[n_rows][k].  Jacobi eigen-solver on S^T S. */
sgld_status sgld_diag_pca_scores(const double *s, int64_t n_rows, int kk, int k, double *pcs,
                                 double *eigvals);

/* Symmetric eigen-decomposition (cyclic Jacobi) of a[n][n] (destroyed): eigenvalues
 * descending in w, eigenvectors in the columns of v[n][n]. */
void sgld_diag_eigen_sym(double *a, int n, double *w, double *v);

/* Cholesky a = L L^T in place (lower triangle); returns 0 if not positive definite. */
int sgld_diag_cholesky(double *a, int n);

/* ---- the summary of a sample file (report.c, report_mv.c), what `sgld-ess summary` prints ---- */

/* What to summarize: the variables of a group shaped [chain, draw, ...] (all of them, or those
 * named, in that order); their elements, in order, are the p components of the mESS. */
typedef struct sgld_diag_report_opts {
    const char *file;
    const char *group;          /* e.g. "posterior" */
    const char *const *vars;    /* n_vars names; n_vars = 0: every variable of the group */
    int n_vars;
    sgld_mess_method method;
    int64_t batch_size;         /* <= 0: the batchSize rule per chain, the floor of their mean */
    int project;                /* k >= 1: instead of the full estimator, the mESS of k random
                                 * orthonormal projections (key {seed, 0}) and of the top k
                                 * principal components (one more pass over the file) */
    uint32_t seed;
    double alpha, eps;          /* of minESS(p, alpha, eps) */
    sgld_mcse_sd_rule mcse_sd_rule;
    int64_t block;              /* elements read at once (>= 1): memory ~ block x chains x draws
                                 * doubles per rank */
    int superchains;            /* K >= 1 dividing the chains: nested R-hat of K superchains of
                                 * consecutive chains; 0: of the group's `superchain` coordinate
                                 * (sgld_samples_chain_coord) when it has one, else none */
    int64_t max_draws;          /* >= 1: only the first max_draws draws of every chain (all when
                                 * the file holds fewer); 0: every draw */
} sgld_diag_report_opts;

/* One variable: shape [n_chains, n_draws, dims[2..n_dims)], elements [first, first + n_elem). */
typedef struct sgld_diag_report_var {
    char *name;
    int n_dims;
    int64_t dims[SGLD_SAMPLES_MAX_DIMS + 2];
    int64_t n_elem, first;
} sgld_diag_report_var;

/* One element. */
typedef struct sgld_diag_report_elem {
    sgld_diag_summary s;
    int64_t first_bad; /* c * n_draws + t of its first NaN or Inf draw (s is then NaN), or -1 */
    int constant;      /* one value in every draw of each chain: left out of the mESS */
    double nrhat;      /* nested R-hat (sgld_diag_nested_rhat); NaN without superchains */
} sgld_diag_report_elem;

#define SGLD_DIAG_REPORT_CHAINS 64 /* chains with a per-chain mESS of their own */

typedef struct sgld_diag_report {
    int n_chains;
    int64_t n_draws, n_elems;     /* draws per chain; p */
    int64_t n_draws_max;          /* the largest draw extent of the group's variables: above
                                   * n_draws, the common draw count every variable is read at,
                                   * when a file still being written has grown some of them */
    int n_vars;
    sgld_diag_report_var *vars;   /* [n_vars] */
    /* On rank 0 only (elems is NULL on the other ranks, the rest zero): */
    sgld_diag_report_elem *elems; /* [n_elems], in variable order */
    double mess;                  /* the verdict's: of the full estimator, or of the k projections;
                                   * NaN when not computed (note says why) */
    sgld_mess_method method;      /* the method that gave it (lugsail may fall back to bm) */
    int have_full, have_proj, have_pca; /* which of full, proj, pca hold a result */
    sgld_mess_result full, proj, pca;
    int n_per_chain;              /* full estimator: min(n_chains, SGLD_DIAG_REPORT_CHAINS) */
    double per_chain[SGLD_DIAG_REPORT_CHAINS]; /* each chain alone, own batch size; NaN if none */
    double mess_diag;   /* geometric mean of the univariate ESS of the non-constant elements */
    double min_ess;     /* minESS(p_eff, alpha, eps); NaN when p_eff = 0 */
    int p_eff;          /* components of the mESS: the non-constant elements, or k */
    int64_t n_constant; /* elements left out as constant */
    char note[512];     /* why the mESS is missing, or "" */
    /* Nested R-hat: K superchains of M chains (K = 0: not computed), whether the grouping is
     * the file's coordinate (else --superchains), and on rank 0 the largest element (NaN and
     * -1 when none is finite) and how many exceed 1 + SGLD_DIAG_NRHAT_DELTA. */
    int n_superchains, chains_per_superchain, superchains_from_file;
    double nrhat_max;
    int64_t nrhat_max_elem, n_nrhat_above;
    /* This rank's share and seconds: */
    int64_t n_mine;
    double seconds_read, seconds_univariate, seconds_pass1, seconds_multivariate;
} sgld_diag_report;

/* Summarizes opt->file: every element's diagnostics (split over the ranks of comm in
 * contiguous ranges, read opt->block elements at a time, the univariate part of a block on
 * every OpenMP thread) and the multivariate ESS (the columns gathered on rank 0, or with
 * opt->project the k-column sketches reduced in rank order).  Every element is computed by the
 * same code whatever rank or thread holds it, so *out does not depend on either.  Non-finite
 * draws are no failure: that element is NaN and the mESS is not computed (note).
 * Every variable is read at the smallest draw extent of the group's variables, which every
 * rank agrees on (see n_draws_max).
 * Returns SGLD_OK and *out (free with sgld_diag_report_destroy); SGLD_ERR_USAGE when the input
 * does not fit (not an HDF5 file, no such group or variable, variables of different chains,
 * fewer than SGLD_DIAG_MIN_DRAWS draws, p too large for the full estimator, k too
 * large, a batch size the estimator refuses); any other status is a runtime failure (reading,
 * memory).  Collective on comm: every rank returns the same status and holds its message. */
sgld_status sgld_diag_report_create(MPI_Comm comm, const sgld_diag_report_opts *opt,
                                    sgld_diag_report **out);
void sgld_diag_report_destroy(sgld_diag_report **r); /* NULL-safe; *r = NULL */

/* The name of element e of v as ArviZ prints it: "b", "w[3]", "w[2,1]" (zero-based). */
void sgld_diag_elem_name(const sgld_diag_report_var *v, int64_t e, char *buf, size_t cap);

#endif
