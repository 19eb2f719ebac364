/* gradient.h - gradient estimators, and the full-data computations a chain makes before it
 * samples: the mode (--init map) and the curvature there (--step-size auto).
 *
 * An estimator says how a step estimates grad log p(theta | data) from its minibatch B of the
 * N training rows; the sampler only sees the estimate, so every sampler works with every
 * estimator (BlackJAX's split).  With l_i(theta) = log p(y_i | x_i, theta):
 *
 *   minibatch  g = grad log p(theta) + (N / B) sum_{i in B} grad l_i(theta)
 *   cv         g = grad log p(theta) + G + (N / B) sum_{i in B} [grad l_i(theta) - grad l_i(theta_hat)],
 *              G = sum_{i = 1..N} grad l_i(theta_hat): the control variate of Baker, Fearnhead,
 *              Fox & Nemeth ("Control variates for stochastic gradient MCMC", Stat. Comput.
 *              2019, eq. (5)) around the centre theta_hat, the chain's point after --init
 *              (the posterior mode with --init map, where its variance is smallest)
 *   svrg:E     cv whose centre moves to the current theta every E epochs (E ceil(N / B)
 *              steps; Dubey et al., "Variance reduction in stochastic gradient Langevin
 *              dynamics", NeurIPS 2016), G recomputed there across the chain's shards
 *
 * Every estimate is unbiased for the full-data gradient (the batch is a uniform draw without
 * replacement).  The centred ones cost a second log-likelihood gradient on the batch per step
 * (at theta_hat), and need a log-likelihood that is a function of theta and the rows: a model
 * with dropout layers draws a new mask per call and is refused.  The minibatch log posterior
 * that a step reports takes the same form (l_i for grad l_i, L = sum_i l_i(theta_hat) for G).
 *
 * A centred estimator's state is the centre, G and L: SGLD_GRADIENT_STATE(P) floats, the same
 * on every rank of a chain (G and L are sums over its shards), kept in the run's state so
 * that a checkpoint carries it and a resumed chain continues bitwise.
 *
 * Full-data sums (G, L, the mode's objective) are taken in blocks of at most
 * SGLD_GRADIENT_BLOCK rows, each block's float sum added in double, so that N = 10^6 rows do
 * not lose the gradient near the mode (where it is a difference of large sums) to float
 * rounding. */
#ifndef SGLD_GRADIENT_H
#define SGLD_GRADIENT_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "sgld/data.h"
#include "sgld/model.h"
#include "sgld/status.h"

#define SGLD_GRADIENT_BLOCK 1024

/* State floats of a centred estimator for P parameters: theta_hat [P], G [P], then L as two
 * floats (hi, lo: L = hi + lo to double precision). */
#define SGLD_GRADIENT_STATE(P) (2 * (size_t)(P) + 2)

typedef struct sgld_gradient_type {
    const char *name;
    const char *description;
    const char *arg;   /* what ARG of NAME:ARG means ("E: epochs between centres"); NULL: none taken */
    int centred;       /* 1: keeps a centre, G and L (cv, svrg) */
    int needs_mode;    /* 1: the centre must be a mode: --init map or sgd:K (cv) */
    /* Steps between two moves of the centre, for ARG and steps_per_epoch = ceil(N / B); 0 =
     * the centre stays where the chain started.  NULL: 0. */
    int64_t (*recentre_every)(int64_t arg, int64_t steps_per_epoch);
} sgld_gradient_type;

/* The registry (sgld/registry.h): minibatch, cv, svrg; sgld_gradient_register adds one
 * after them.  Not collective. */
const sgld_gradient_type *sgld_gradient_find(const char *name);
void sgld_gradient_names(char *buf, size_t size);
size_t sgld_gradient_count(void);
const sgld_gradient_type *sgld_gradient_at(size_t i);
sgld_status sgld_gradient_register(const sgld_gradient_type *t);

/* Parses --gradient's value "NAME" or "NAME:ARG" (ARG an integer >= 1) into *t and *arg (0
 * when none).  where names the value's origin for messages ("--gradient").  Errors:
 * SGLD_ERR_USAGE with one line: an unknown name (the valid ones listed), ARG missing, not an
 * integer >= 1 ("svrg:0"), or given to an estimator that takes none.  Not collective. */
sgld_status sgld_gradient_parse(const char *spec, const char *where, const sgld_gradient_type **t,
                                int64_t *arg);

/* --init: where a chain starts before sampling. */
enum { SGLD_INIT_RANDOM, SGLD_INIT_MAP, SGLD_INIT_SGD };

/* Parses --init's value "random", "map" or "sgd:K" (K epochs, an integer >= 1) into *kind and
 * *epochs (0 unless sgd).  Errors: SGLD_ERR_USAGE with one line naming `where` and the value.
 * Not collective. */
sgld_status sgld_init_parse(const char *spec, const char *where, int *kind, int64_t *epochs);

/* sum over this rank's rows of data of l_i(theta) into *loglik and of grad l_i(theta) into
 * grad (P doubles, overwritten), in blocks (above); work: P floats.  Local. */
void sgld_gradient_local_full(const sgld_model *m, const sgld_dataset *data, const float *theta,
                              double *grad, double *loglik, float *work);

/* The full-data log-likelihood and its gradient at theta: sgld_gradient_local_full on every
 * rank of chain_comm (the chain's shards), summed by one MPI_Allreduce of P + 1 doubles;
 * every rank gets the same bits.  Collective over chain_comm.  Errors: SGLD_ERR_NOMEM,
 * SGLD_ERR_MPI. */
sgld_status sgld_gradient_full(MPI_Comm chain_comm, const sgld_model *m, const sgld_dataset *data,
                               const float *theta, double *grad, double *loglik);

/* Moves a centred estimator's centre to theta: state = theta, G(theta), L(theta).  Collective
 * over chain_comm. */
sgld_status sgld_gradient_recentre(MPI_Comm chain_comm, const sgld_model *m, const sgld_dataset *data,
                                   const float *theta, float *state);

/* This rank's part of a step's estimate on its n batch rows, in two calls (a caller times the
 * centre's extra work apart).  First sgld_gradient_at_centre: for a centred t, centre_sum (P
 * floats, overwritten) = the sum of grad l_i(theta_hat) and the return value the sum of
 * l_i(theta_hat); for another t nothing is written and 0 returned.  Then sgld_gradient_local
 * adds into acc (P floats) the sum of grad l_i(theta), minus centre_sum for a centred t, and
 * returns the sum of l_i(theta) minus centre_ll.  The model is called at theta_hat first and at
 * theta last, so a model's per-call statistics (K-FAC's) are theta's.  Local. */
double sgld_gradient_at_centre(const sgld_gradient_type *t, const sgld_model *m, const sgld_dataset *data,
                               const int64_t *rows, size_t n, const float *state, float *centre_sum);
double sgld_gradient_local(const sgld_gradient_type *t, const sgld_model *m, const sgld_dataset *data,
                           const int64_t *rows, size_t n, const float *theta, const float *centre_sum,
                           double centre_ll, float *acc);

/* The estimate from the batch sums over the chain (sum: P floats, sum_ll): grad = scale sum
 * (+ G) + grad log p(theta), *lp = scale sum_ll (+ L) + log p(theta); scale = N / B.  Local. */
void sgld_gradient_combine(const sgld_gradient_type *t, const sgld_model *m, const float *state,
                           double scale, const float *theta, const float *sum, double sum_ll,
                           float *grad, double *lp);

/* ---- the mode (--init map) ---- */

typedef struct sgld_mode_options {
    int max_iterations;  /* L-BFGS iterations before giving up (>= 1) */
    double tol;          /* converged when max_j |grad_j log p(theta | data)| <= tol sqrt(N) and
                          * the Newton decrement (below) <= tol */
} sgld_mode_options;

typedef struct sgld_mode_report {
    int iterations;      /* L-BFGS iterations */
    int evaluations;     /* full gradients taken (one allreduce each) */
    double grad_norm;    /* max_j |grad_j log p(theta | data)| at the result */
    double threshold;    /* tol sqrt(N): the grad_norm that counts as converged */
    double decrement;    /* sqrt(g^T H^-1 g), H along the last step: the distance to the mode
                          * in posterior sds (INFINITY: no positive curvature along it) */
    double log_post;     /* log p(theta | data) at the result (up to the evidence) */
    double seconds;
    int converged;       /* 1: grad_norm <= threshold */
    int lbfgs_status;    /* liblbfgs's return code (0, or why it stopped) */
} sgld_mode_report;

/* Moves theta (in place) to the posterior mode by L-BFGS (liblbfgs, in double) on
 * -log p(theta | data) = -(sum_i l_i(theta) + log p(theta)), every evaluation one
 * sgld_gradient_full over chain_comm.  Two tests must hold at an iterate.  max_j |grad_j| <=
 * tol sqrt(N) says the mode is reached to about tol / sqrt(h) posterior sds when the
 * posterior's precision is N h (h the curvature per row): N-free, unlike a test on |grad| or
 * on |grad| / |theta|.  The Newton decrement sqrt(g^T H^-1 g) <= tol, with H estimated along
 * the last step s by the secant (s . y / |s|^2, y the gradient's change), measures the same
 * distance where the curvature is not N h: on separable data the gradient fades as theta
 * runs off (there is no mode within reach) but so does the curvature, and the decrement does
 * not fall.  Stops when both hold, at the iteration cap, or when the line search can go no
 * further (float rounding);
 * theta is then the best point found and rep->converged says whether it passed.  Every rank
 * of the chain runs the same iterations on the same bits.  Collective over chain_comm.
 * Errors: SGLD_ERR_NOMEM, SGLD_ERR_MPI (a failed search is rep->converged = 0, not an
 * error). */
sgld_status sgld_gradient_mode(MPI_Comm chain_comm, const sgld_model *m, const sgld_dataset *data,
                               const sgld_mode_options *o, float *theta, sgld_mode_report *rep);

/* The largest eigenvalue of the Hessian of -log p(theta | data) at theta, by `iterations`
 * power iterations from a fixed start vector (seed's stream), each Hessian-vector product a
 * central difference of two sgld_gradient_full calls along the unit vector v, with h = 1e-3
 * max(1, max_j |theta_j|).  Returns the Rayleigh quotient of the last iterate (a lower bound
 * that converges like (lambda_2 / lambda_1)^k).  Collective over chain_comm; every rank gets
 * the same value.  Errors: SGLD_ERR_NOMEM, SGLD_ERR_MPI, SGLD_ERR_USAGE (a Hessian without a
 * positive eigenvalue: theta is not near a mode). */
sgld_status sgld_gradient_curvature(MPI_Comm chain_comm, const sgld_model *m, const sgld_dataset *data,
                                    const float *theta, int iterations, uint32_t seed, double *lambda_max);

/* --step-size auto: c / lambda_max with c = SGLD_AUTO_STEP_C, rounded to float (so that a
 * checkpoint's float holds it exactly).  At eps lambda = 0.1 the stationary variance along the
 * stiffest direction is 2.6% above the posterior's for sgld (1 / (1 - eps lambda / 4)) and
 * 2.7-3.4% for sghmc at friction 0.1-0.5 (the discrete Lyapunov equation): within the
 * accuracy a run is judged at (10% in sd).  Not collective. */
#define SGLD_AUTO_STEP_C 0.1
double sgld_gradient_auto_step(double lambda_max);

#endif
