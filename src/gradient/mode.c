/* mode.c - the posterior mode by L-BFGS and the largest curvature there (gradient.h).
 *
 * L-BFGS comes from liblbfgs (Okazaki's C port of Nocedal's L-BFGS with the More-Thuente
 * line search; Debian liblbfgs-dev): a small, stable C library that works in double on a
 * caller's callback, which is all a chain needs (one full-data gradient, one allreduce, per
 * evaluation), where NLopt would bring a general framework for one algorithm. */
#include <lbfgs.h>
#include <math.h>
#include <string.h>

#include "sgld/gradient.h"
#include "sgld/rng.h"

typedef struct mode_ctx {
    MPI_Comm comm;
    const sgld_model *m;
    const sgld_dataset *data;
    const sgld_mode_options *o;
    sgld_mode_report *rep;
    float *theta;       /* the float point the model evaluates */
    float *prior_grad;
    double *grad;       /* the log-likelihood gradient (P) */
    double threshold;
    double *prev_x, *prev_g; /* the last accepted iterate and its gradient (of -log p) */
    int have_prev, met;
    sgld_status st;     /* the first failure of an evaluation (MPI, memory) */
} mode_ctx;

/* -log p(theta | data) and its gradient at x (rounded to float, as the model computes). */
static lbfgsfloatval_t evaluate(void *instance, const lbfgsfloatval_t *x, lbfgsfloatval_t *g, const int n,
                                const lbfgsfloatval_t step)
{
    (void)step;
    mode_ctx *c = instance;
    const size_t P = (size_t)n;
    for (size_t j = 0; j < P; j++) c->theta[j] = (float)x[j];
    double loglik = 0.0;
    c->rep->evaluations++;
    if (c->st == SGLD_OK) c->st = sgld_gradient_full(c->comm, c->m, c->data, c->theta, c->grad, &loglik);
    if (c->st != SGLD_OK) { /* every rank failed alike (the allreduce): end the search */
        for (size_t j = 0; j < P; j++) g[j] = 0.0;
        return 0.0;
    }
    memset(c->prior_grad, 0, P * sizeof *c->prior_grad);
    double lp = loglik + sgld_model_log_prior(c->m, c->theta, c->prior_grad);
    for (size_t j = 0; j < P; j++) g[j] = -(c->grad[j] + (double)c->prior_grad[j]);
    if (!c->have_prev) { /* the starting point */
        memcpy(c->prev_x, x, P * sizeof *x);
        memcpy(c->prev_g, g, P * sizeof *g);
        c->have_prev = 1;
    }
    return -lp;
}

/* Stops the search once both tests of sgld_gradient_mode hold: max_j |g_j| <= tol sqrt(N), and
 * the Newton decrement g^T H^-1 g <= tol^2 with H taken along the last step s (y the change of
 * the gradient over it): |g|^2 |s|^2 / (s . y). */
static int progress(void *instance, const lbfgsfloatval_t *x, const lbfgsfloatval_t *g, const lbfgsfloatval_t fx,
                    const lbfgsfloatval_t xnorm, const lbfgsfloatval_t gnorm, const lbfgsfloatval_t step, int n,
                    int k, int ls)
{
    (void)x, (void)xnorm, (void)gnorm, (void)step, (void)ls;
    mode_ctx *c = instance;
    double gmax = 0.0;
    for (int j = 0; j < n; j++) gmax = fmax(gmax, fabs(g[j]));
    double ss = 0.0, sy = 0.0, gg = 0.0;
    for (int j = 0; j < n; j++) {
        double sj = x[j] - c->prev_x[j];
        ss += sj * sj;
        sy += sj * (g[j] - c->prev_g[j]);
        gg += g[j] * g[j];
        c->prev_x[j] = x[j];
        c->prev_g[j] = g[j];
    }
    c->rep->iterations = k;
    c->rep->grad_norm = gmax;
    c->rep->decrement = sy > 0.0 ? sqrt(gg * ss / sy) : INFINITY;
    c->rep->log_post = -fx;
    c->met = gmax <= c->threshold && c->rep->decrement <= c->o->tol;
    return c->st != SGLD_OK || c->met;
}

sgld_status sgld_gradient_mode(MPI_Comm chain_comm, const sgld_model *m, const sgld_dataset *data,
                               const sgld_mode_options *o, float *theta, sgld_mode_report *rep)
{
    const size_t P = m->n_params;
    const double t0 = MPI_Wtime();
    memset(rep, 0, sizeof *rep);
    rep->threshold = o->tol * sqrt((double)data->n_total);
    mode_ctx c = {.comm = chain_comm, .m = m, .data = data, .o = o, .rep = rep, .threshold = rep->threshold};
    lbfgsfloatval_t *x = lbfgs_malloc((int)P), fx = 0.0;
    c.theta = sgld_malloc(P * sizeof *c.theta);
    c.prior_grad = sgld_malloc(P * sizeof *c.prior_grad);
    c.grad = sgld_malloc(P * sizeof *c.grad);
    c.prev_x = sgld_malloc(P * sizeof *c.prev_x);
    c.prev_g = sgld_malloc(P * sizeof *c.prev_g);
    sgld_status st = SGLD_OK;
    if (!x || !c.theta || !c.prior_grad || !c.grad || !c.prev_x || !c.prev_g) {
        st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for L-BFGS on %zu parameters", P);
    } else {
        for (size_t j = 0; j < P; j++) x[j] = theta[j];
        lbfgs_parameter_t param;
        lbfgs_parameter_init(&param);
        param.max_iterations = o->max_iterations;
        param.epsilon = 0.0; /* the test is progress()'s, which does not depend on |theta| */
        param.m = 10;
        /* A float model's objective is resolved to ~1e-7 relative: a line search asked for
         * more runs into rounding, which ends the search (rep->converged then says if the
         * gradient test passed). */
        param.xtol = 1e-16;
        rep->lbfgs_status = lbfgs((int)P, x, &fx, evaluate, progress, &c, &param);
        st = c.st;
        if (st == SGLD_OK) { /* the last point the search accepted, and its gradient test */
            for (size_t j = 0; j < P; j++) theta[j] = (float)x[j];
            double loglik;
            st = sgld_gradient_full(chain_comm, m, data, theta, c.grad, &loglik);
            if (st == SGLD_OK) {
                memset(c.prior_grad, 0, P * sizeof *c.prior_grad);
                rep->log_post = loglik + sgld_model_log_prior(m, theta, c.prior_grad);
                double gmax = 0.0;
                for (size_t j = 0; j < P; j++) gmax = fmax(gmax, fabs(c.grad[j] + c.prior_grad[j]));
                rep->grad_norm = gmax;
                rep->converged = c.met && isfinite(gmax);
            }
        }
    }
    rep->seconds = MPI_Wtime() - t0;
    lbfgs_free(x);
    sgld_free(c.theta);
    sgld_free(c.prior_grad);
    sgld_free(c.grad);
    sgld_free(c.prev_x);
    sgld_free(c.prev_g);
    return st;
}

/* H v ~ -(grad(theta + h v) - grad(theta - h v)) / (2 h) of the log posterior into hv. */
static sgld_status hessian_vector(MPI_Comm comm, const sgld_model *m, const sgld_dataset *data, const float *theta,
                                  const double *v, double h, float *tp, double *gp, double *gm, float *pg,
                                  double *hv)
{
    const size_t P = m->n_params;
    double ll, hp = 0.0, hm = 0.0;
    for (int side = 0; side < 2; side++) {
        const double s = side ? -1.0 : 1.0;
        for (size_t j = 0; j < P; j++) tp[j] = (float)(theta[j] + s * h * v[j]);
        double *g = side ? gm : gp;
        SGLD_TRY(sgld_gradient_full(comm, m, data, tp, g, &ll));
        memset(pg, 0, P * sizeof *pg);
        (void)sgld_model_log_prior(m, tp, pg);
        for (size_t j = 0; j < P; j++) g[j] += pg[j];
        /* the float step actually taken along v (theta +- h v rounded) */
        double d = 0.0, vv = 0.0;
        for (size_t j = 0; j < P; j++) {
            d += ((double)tp[j] - theta[j]) * v[j];
            vv += v[j] * v[j];
        }
        *(side ? &hm : &hp) = d / vv;
    }
    for (size_t j = 0; j < P; j++) hv[j] = -(gp[j] - gm[j]) / (hp - hm);
    return SGLD_OK;
}

sgld_status sgld_gradient_curvature(MPI_Comm chain_comm, const sgld_model *m, const sgld_dataset *data,
                                    const float *theta, int iterations, uint32_t seed, double *lambda_max)
{
    const size_t P = m->n_params;
    double *v = sgld_malloc(P * sizeof *v), *hv = sgld_malloc(P * sizeof *hv);
    double *gp = sgld_malloc(P * sizeof *gp), *gm = sgld_malloc(P * sizeof *gm);
    float *tp = sgld_malloc(P * sizeof *tp), *pg = sgld_malloc(P * sizeof *pg);
    sgld_status st = SGLD_OK;
    double lambda = 0.0, tmax = 1.0;
    if (!v || !hv || !gp || !gm || !tp || !pg) {
        st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for the curvature of %zu parameters", P);
        goto out;
    }
    for (size_t j = 0; j < P; j++) tmax = fmax(tmax, fabs(theta[j]));
    const sgld_rng r = {seed, 0};
    sgld_rng_normal(&r, 0, SGLD_RNG_WARMUP, 0, P, v);
    for (int k = 0; k < iterations && st == SGLD_OK; k++) {
        double norm = 0.0;
        for (size_t j = 0; j < P; j++) norm += v[j] * v[j];
        norm = sqrt(norm);
        for (size_t j = 0; j < P; j++) v[j] /= norm;
        st = hessian_vector(chain_comm, m, data, theta, v, 1e-3 * tmax, tp, gp, gm, pg, hv);
        if (st != SGLD_OK) break;
        lambda = 0.0;
        for (size_t j = 0; j < P; j++) lambda += v[j] * hv[j];
        memcpy(v, hv, P * sizeof *v);
    }
    if (st == SGLD_OK && !(lambda > 0.0 && isfinite(lambda)))
        st = sgld_error_set(SGLD_ERR_USAGE, "--step-size auto: the Hessian of -log p(theta | data) has no "
                            "positive curvature at the chain's start (Rayleigh quotient %g): not a mode", lambda);
out:
    *lambda_max = lambda;
    sgld_free(v);
    sgld_free(hv);
    sgld_free(gp);
    sgld_free(gm);
    sgld_free(tp);
    sgld_free(pg);
    return st;
}

double sgld_gradient_auto_step(double lambda_max) { return (double)(float)(SGLD_AUTO_STEP_C / lambda_max); }
