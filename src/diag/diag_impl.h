/* diag_impl.h - private workspace and kernels shared by the files of src/diag. */
#ifndef SGLD_DIAG_IMPL_H
#define SGLD_DIAG_IMPL_H

#include <fftw3.h>
#include <stdint.h>

#include "sgld/diag.h"

/* One FFT size: autocovariances of sequences of length len, zero-padded to 2 M with M the
 * next 2^a 3^b 5^c >= len (as Stan and posterior pad). */
typedef struct fft_slot {
    int64_t len, size;
    double *buf;
    fftw_complex *spec;
    fftw_plan fwd, inv;
} fft_slot;

struct sgld_diag_ws {
    int m;            /* chains */
    int64_t n, h;     /* draws per chain; split length n / 2 */
    int64_t n_all;    /* m n */
    int64_t n_split;  /* 2 m h */
    fft_slot slot[2]; /* lengths h and n */
    double *acov;     /* [chains][len] autocovariances */
    double *xs;       /* split draws, first halves then second halves */
    double *work;     /* transformed split draws (z scores, indicators, |x - mean|) */
    double *sorted;   /* split draws ascending */
    double *sorted_all; /* all draws ascending (odd n only) */
    double *fold;     /* folded split draws ascending */
    uint32_t *idx, *fidx;
    uint64_t *key_a, *key_b;
    uint32_t *idx_b;
    double *ztab;     /* normal score of integer rank i + 1 among n_split */
    double *rho;      /* [n]: the autocorrelations of the ESS kernel */
    sgld_mcse_sd_rule mcse_sd_rule;
};

/* ess.c */
double sgld_diag_ess_core(sgld_diag_ws *ws, const double *x, int n_chains, int64_t len);

/* quantile.c: ascending order of x[0..n) into sorted/idx (LSD radix sort on the IEEE bits). */
void sgld_diag_argsort(sgld_diag_ws *ws, const double *x, int64_t n, double *sorted,
                       uint32_t *idx);
/* Rank-normalized scores (average ranks for ties, Blom offsets 3/8) from an ascending order. */
void sgld_diag_zscores(const sgld_diag_ws *ws, const double *sorted, const uint32_t *idx,
                       int64_t n, double *z);

/* rhat.c: classic R-hat of n_chains chains of length len stored contiguously. */
double sgld_diag_rhat_core(const double *x, int n_chains, int64_t len);

/* mcse.c: mcse_sd of x (chain-major, its split draws in ws->xs; clobbers ws->work) by the
 * workspace's rule, and mcse_quantile of probability prob from the S pooled draws ascending
 * and the ESS of the quantile's indicator (NaN when that ESS is not positive). */
double sgld_diag_mcse_sd_core(sgld_diag_ws *ws, const double *x, double mean);
double sgld_diag_mcse_quantile_core(const double *sorted, int64_t S, double prob, double ess);

/* mess.c */
sgld_status sgld_diag_log_det(const double *a, int p, double *logdet);

/* report.c, report_mv.c: the state of one sgld_diag_report_create call. */
typedef struct report_ctx {
    MPI_Comm comm;
    int rank, size;
    const sgld_diag_report_opts *o;
    sgld_diag_report *r;
    sgld_samples_reader *rd;
    sgld_samples_block_reader **br; /* [r->n_vars]: fast reader of a 3-D float variable, or NULL */
    int64_t N;                      /* rows of an element: chains x draws */
    int64_t e_begin, e_end;         /* this rank's elements */
    int kk;                         /* sketch width k + 10 (projections), else 0 */
    double *buf;                    /* [block][N]: one block of elements as read */
    sgld_diag_report_elem *rows;    /* [n_mine] this rank's elements */
    double *cols;                   /* full estimator: [n_mine][N] this rank's draws */
    double *g, *y, *gtg, *mu;       /* projections: G rows of a block [block][kk], Y = X G
                                     * [N][kk], G^T G [kk][kk], element means [n_mine] */
    int n_threads;
    sgld_diag_ws **wss;             /* [n_threads] */
    int *sc_chains;                 /* nested R-hat: the chains superchain by superchain, or NULL */
} report_ctx;

/* report.c: reads the global elements [g0, g0 + n) (which may span variables) into buf [e][N]. */
sgld_status sgld_diag_report_read(const report_ctx *c, int64_t g0, int64_t n, double *buf);

/* nested_rhat.c: the report's superchains, from opt->superchains or the group's `superchain`
 * coordinate (r->n_superchains, c->sc_chains; none when neither applies).  SGLD_ERR_USAGE
 * naming the file when K does not divide the chains or the coordinate is malformed or of
 * unequal superchains.  Local: every rank finds the same. */
sgld_status sgld_diag_report_superchains(report_ctx *c);

/* nested_rhat.c: the largest nested R-hat and the count above the threshold, from the
 * gathered elements (rank 0). */
void sgld_diag_report_nrhat_max(sgld_diag_report *r);

/* report_mv.c: the multivariate part of the report from the gathered elements (rank 0) and
 * this rank's columns or sketch.  Collective; the same status on every rank. */
sgld_status sgld_diag_report_mv(report_ctx *c);

#endif
