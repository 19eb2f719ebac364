/* gradcheck.c - a model's gradients against central differences of its values (sgld-dist
 * --check-gradient): loglik_grad on real rows of the data and sgld_model_log_prior, at a few
 * parameter points, each checked element at the best step of a ladder.
 *
 * The method (include/sgld/model.h states it with its constants): for element j at step h,
 * D(h) = (f(theta + h e_j) - f(theta - h e_j)) / (2 h) in double on the double value the model
 * returns.  No single h serves every element of a float model: truncation (h^2 f''' / 6) spoils
 * the large steps, rounding (~ FLT_EPSILON |f| / h) the small ones, and a ReLU or max-pool kink
 * within h of theta_j spoils every step above its distance (D(h) then drifts like c / h).  So
 * the ladder h0 2^(3 - l) runs from 8 h0 down to h0 / 4096 and an element is judged at the step
 * where the quotient agrees best with the gradient: a correct gradient agrees at some step, a
 * wrong one (a factor, a sign, a missing term) at none.  The deep half of the ladder is only
 * evaluated for the elements the upper half does not clear (kinks are rare).
 *
 * Sharding: each rank adds its own rows' values; one MPI_Allreduce per phase and point sums
 * every evaluation over the chain, so the result does not depend on the number of shards, and
 * rank 0's report is broadcast so that every rank returns the same one. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "sgld/model.h"

#define LEVELS 16               /* the ladder: h0 2^(3 - l), l = 0 .. LEVELS - 1 */
#define UPPER 8                 /* levels of the first phase (8 h0 .. h0 / 16) */
#define H0_LEVEL 3              /* the level of h0 itself */
/* What a float quotient resolves, relative to its tensor's largest gradient (model.h). */
#define RESOLUTION (4.0 * cbrt((double)FLT_EPSILON) * cbrt((double)FLT_EPSILON))
#define N_ELEMS (SGLD_MODEL_MAX_VARS * SGLD_GRADCHECK_ELEMS)

/* The elements checked at one point: offsets in theta, per tensor (first[v] .. first[v + 1]). */
typedef struct picks {
    size_t at[N_ELEMS];
    int first[SGLD_MODEL_MAX_VARS + 1];
} picks;

static void pick_elements(const sgld_model *m, const sgld_rng *key, picks *p)
{
    int n = 0;
    uint64_t i = 0;
    for (int v = 0; v < m->n_vars; v++) {
        const sgld_param_var *pv = &m->vars[v];
        p->first[v] = n;
        if (pv->size <= SGLD_GRADCHECK_ELEMS)
            for (size_t e = 0; e < pv->size; e++) p->at[n++] = pv->offset + e;
        else
            for (int e = 0; e < SGLD_GRADCHECK_ELEMS; e++)
                p->at[n++] = pv->offset + (size_t)sgld_rng_below(key, 1, SGLD_RNG_INIT, i++, pv->size);
    }
    p->first[m->n_vars] = n;
}

/* The ladder's points of an element of value t: x[l][0] = t + h_l, x[l][1] = t - h_l, rounded
 * to float (the values theta can take), so each quotient divides by the step actually taken. */
static void ladder(float t, float x[LEVELS][2])
{
    const double h0 = cbrt((double)FLT_EPSILON) * fmax(1.0, fabs((double)t));
    for (int l = 0; l < LEVELS; l++) {
        const double h = h0 * ldexp(1.0, H0_LEVEL - l);
        x[l][0] = (float)((double)t + h);
        x[l][1] = (float)((double)t - h);
    }
}

/* The quotients of levels [l0, l1) from the values f[l][2] at the ladder x. */
static void quotients(const double (*f)[2], float x[LEVELS][2], int l0, int l1, double *D)
{
    for (int l = l0; l < l1; l++) D[l] = (f[l][0] - f[l][1]) / ((double)x[l][0] - (double)x[l][1]);
}

/* The error of g at the best of levels [0, n) (model.h): the least over l of
 * |g - D_l| / max(|g|, |D_l|, floor); *at_D receives that quotient.  Non-finite: infinite. */
static double rel_error(double g, const double *D, int n, double floor, double *at_D)
{
    double best = INFINITY;
    *at_D = D[H0_LEVEL];
    if (!isfinite(g)) return INFINITY;
    for (int l = 0; l < n; l++) {
        if (!isfinite(D[l])) continue;
        const double diff = fabs(g - D[l]), scale = fmax(fmax(fabs(g), fabs(D[l])), floor);
        const double e = diff == 0.0 ? 0.0 : scale > 0.0 ? diff / scale : INFINITY;
        if (e < best) {
            best = e;
            *at_D = D[l];
        }
    }
    return best;
}

/* Adds one element's check to its row of the table. */
static void note(sgld_gradcheck_row *row, const sgld_param_var *v, size_t at, int k, double err, double g, double D)
{
    if (row->n_checked++ > 0 && !(err > row->worst)) return;
    row->worst = err;
    row->point = k;
    row->analytic = g;
    row->numeric = D;
    sgld_model_elem_name(v, at - v->offset, row->at, sizeof row->at);
}

/* Workspace of a check, allocated once.  buf holds what one allreduce sums: phase 1 [2 +
 * N_ELEMS (1 + 2 UPPER)] (f0, the rows, per element its gradient and its upper levels' values),
 * phase 2 the deep levels' values of every element [N_ELEMS][LEVELS - UPPER][2]. */
typedef struct work {
    float *theta, *scratch;
    int64_t *rows;
    size_t n_local;
    double *buf, *deep;
    unsigned char *again; /* [N_ELEMS]: phase 2 is needed */
    picks *p;             /* the point's elements */
    double (*D)[LEVELS];  /* [N_ELEMS]: their quotients */
} work;

static void work_free(work *w)
{
    sgld_free(w->theta);
    sgld_free(w->scratch);
    sgld_free(w->rows);
    sgld_free(w->buf);
    sgld_free(w->deep);
    sgld_free(w->again);
    sgld_free(w->p);
    sgld_free(w->D);
}

static sgld_status work_alloc(const sgld_model *m, int64_t n_rows, work *w)
{
    SGLD_ALLOC(w->theta, m->n_params);
    SGLD_ALLOC(w->scratch, m->n_params);
    SGLD_ALLOC(w->rows, n_rows);
    SGLD_ALLOC(w->buf, 2 + (size_t)N_ELEMS * (1 + 2 * UPPER));
    SGLD_ALLOC(w->deep, (size_t)N_ELEMS * 2 * (LEVELS - UPPER));
    SGLD_ALLOC(w->again, N_ELEMS);
    SGLD_ALLOC(w->p, 1);
    SGLD_ALLOC(w->D, N_ELEMS);
    return SGLD_OK;
}

/* The sum over this rank's rows of the log-likelihood at w->theta (its gradient into
 * w->scratch, zeroed first). */
static double local_loglik(const sgld_model *m, const sgld_dataset *data, const work *w)
{
    memset(w->scratch, 0, m->n_params * sizeof *w->scratch);
    return w->n_local ? m->type->loglik_grad(m, w->theta, data, w->rows, w->n_local, w->scratch) : 0.0;
}

/* This rank's values of element theta[at] at levels [l0, l1) into f[l][2] (theta restored). */
static void eval_levels(const sgld_model *m, const sgld_dataset *data, work *w, size_t at, int l0, int l1,
                        double (*f)[2])
{
    float x[LEVELS][2];
    const float keep = w->theta[at];
    ladder(keep, x);
    for (int l = l0; l < l1; l++)
        for (int s = 0; s < 2; s++) {
            w->theta[at] = x[l][s];
            f[l - l0][s] = local_loglik(m, data, w);
        }
    w->theta[at] = keep;
}

/* The prior's quotients of element theta[at] at every level (no reduction: every rank holds
 * theta); theta restored. */
static void prior_quotients(const sgld_model *m, float *theta, size_t at, double *D)
{
    float x[LEVELS][2];
    double f[LEVELS][2];
    const float keep = theta[at];
    ladder(keep, x);
    for (int l = 0; l < LEVELS; l++)
        for (int s = 0; s < 2; s++) {
            theta[at] = x[l][s];
            f[l][s] = sgld_model_log_prior(m, theta, NULL);
        }
    theta[at] = keep;
    quotients((const double (*)[2])f, x, 0, LEVELS, D);
}

/* The largest |D at h0| of each tensor's elements: the scale of its floor. */
static void tensor_scales(const sgld_model *m, const picks *p, const double (*D)[LEVELS], double *scale)
{
    for (int v = 0; v < m->n_vars; v++) {
        scale[v] = 0.0;
        for (int e = p->first[v]; e < p->first[v + 1]; e++)
            if (isfinite(D[e][H0_LEVEL])) scale[v] = fmax(scale[v], fabs(D[e][H0_LEVEL]));
    }
}

/* Point k: chain k's initialization, its rows and elements; the two phases of evaluations,
 * each summed over comm; the errors into rep.  Collective over comm. */
static sgld_status check_point(MPI_Comm comm, const sgld_model *m, const sgld_dataset *data,
                               const sgld_gradcheck_options *opt, int k, int64_t B, work *w,
                               sgld_gradcheck_report *rep)
{
    const sgld_rng key = {opt->seed, (uint32_t)k};
    const picks *p = w->p;
    double (*D)[LEVELS] = w->D, scale[SGLD_MODEL_MAX_VARS];
    pick_elements(m, &key, w->p);
    const int n_e = p->first[m->n_vars];
    sgld_model_init_params(m, &key, w->theta);
    w->n_local = 0;
    const int64_t lo = data->row_begin, hi = lo + data->n_local;
    for (int64_t i = 0; i < B; i++) {
        const int64_t g = (int64_t)sgld_rng_below(&key, 1, SGLD_RNG_BATCH, (uint64_t)i, (uint64_t)data->n_total);
        if (g >= lo && g < hi) w->rows[w->n_local++] = g - lo;
    }

    /* phase 1: f0, the gradient and the upper levels */
    double *buf = w->buf, *gv = buf + 2, *up = gv + n_e;
    buf[0] = local_loglik(m, data, w);
    buf[1] = (double)w->n_local;
    for (int e = 0; e < n_e; e++) gv[e] = w->scratch[p->at[e]];
    for (int e = 0; e < n_e; e++) eval_levels(m, data, w, p->at[e], 0, UPPER, (double (*)[2])(up + e * 2 * UPPER));
    SGLD_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, 2 + n_e * (1 + 2 * UPPER), MPI_DOUBLE, MPI_SUM, comm));
    float x[LEVELS][2];
    double at_D;
    for (int e = 0; e < n_e; e++) {
        ladder(w->theta[p->at[e]], x);
        quotients((const double (*)[2])(up + e * 2 * UPPER), x, 0, UPPER, D[e]);
    }
    tensor_scales(m, p, (const double (*)[LEVELS])D, scale);
    const double resolution = RESOLUTION;
    for (int v = 0; v < m->n_vars; v++)
        for (int e = p->first[v]; e < p->first[v + 1]; e++)
            w->again[e] = !(rel_error(gv[e], D[e], UPPER, resolution * scale[v] / opt->tol, &at_D) <= opt->tol / 4);

    /* phase 2: the deep levels of the elements the upper ones did not clear (rank 0 decides, so
     * that every rank evaluates the same ones) */
    SGLD_MPI(MPI_Bcast(w->again, n_e, MPI_UNSIGNED_CHAR, 0, comm));
    double *deep = w->deep;
    const int n_deep = 2 * (LEVELS - UPPER);
    memset(deep, 0, (size_t)n_e * n_deep * sizeof *deep);
    for (int e = 0; e < n_e; e++)
        if (w->again[e]) eval_levels(m, data, w, p->at[e], UPPER, LEVELS, (double (*)[2])(deep + e * n_deep));
    SGLD_MPI(MPI_Allreduce(MPI_IN_PLACE, deep, n_e * n_deep, MPI_DOUBLE, MPI_SUM, comm));

    /* the table: the log-likelihood's rows, then the prior's */
    for (int v = 0; v < m->n_vars; v++)
        for (int e = p->first[v]; e < p->first[v + 1]; e++) {
            const size_t at = p->at[e];
            const int n_levels = w->again[e] ? LEVELS : UPPER;
            if (w->again[e]) {
                ladder(w->theta[at], x);
                double f[LEVELS][2];
                memcpy(f + UPPER, deep + e * n_deep, (size_t)n_deep * sizeof(double));
                quotients((const double (*)[2])f, x, UPPER, LEVELS, D[e]);
            }
            const double err = rel_error(gv[e], D[e], n_levels, resolution * scale[v] / opt->tol, &at_D);
            note(&rep->row[v], &m->vars[v], at, k, err, gv[e], at_D);
        }
    memset(w->scratch, 0, m->n_params * sizeof *w->scratch);
    (void)sgld_model_log_prior(m, w->theta, w->scratch);
    for (int e = 0; e < n_e; e++) prior_quotients(m, w->theta, p->at[e], D[e]);
    tensor_scales(m, p, (const double (*)[LEVELS])D, scale);
    for (int v = 0; v < m->n_vars; v++)
        for (int e = p->first[v]; e < p->first[v + 1]; e++) {
            const double g = w->scratch[p->at[e]];
            const double err = rel_error(g, D[e], LEVELS, resolution * scale[v] / opt->tol, &at_D);
            note(&rep->row[m->n_vars + v], &m->vars[v], p->at[e], k, err, g, at_D);
        }
    rep->n_rows = (int64_t)buf[1];
    return SGLD_OK;
}

sgld_status sgld_model_check_gradient(MPI_Comm comm, const sgld_model *m, const sgld_dataset *data,
                                      const sgld_gradcheck_options *opt, sgld_gradcheck_report *rep)
{
    SGLD_CHECK(m && data && opt && rep && opt->n_points >= 1 && opt->tol > 0 && opt->batch_rows >= 1,
               SGLD_ERR_ARG, "sgld_model_check_gradient: bad arguments");
    memset(rep, 0, sizeof *rep);
    snprintf(rep->model, sizeof rep->model, "%s", m->type->name);
    snprintf(rep->source, sizeof rep->source, "%s", data->source ? data->source : "data");
    rep->n_points = opt->n_points;
    rep->tol = opt->tol;
    rep->n_rows_table = 2 * m->n_vars;
    for (int v = 0; v < m->n_vars; v++)
        for (int t = 0; t < 2; t++) {
            sgld_gradcheck_row *row = &rep->row[t * m->n_vars + v];
            snprintf(row->term, sizeof row->term, "%s", t ? "prior" : "loglik");
            snprintf(row->var, sizeof row->var, "%s", m->vars[v].name);
            row->size = m->vars[v].size;
        }
    size_t drop_units = 0;
    SGLD_CHECK(!m->type->dropout_layers || m->type->dropout_layers(m, &drop_units) == 0, SGLD_ERR_USAGE,
               "--check-gradient: model %s has dropout layers (drop tokens in --net): its log-likelihood draws "
               "a new mask at every call, so differences of it say nothing; check the network without them",
               m->type->name);
    int64_t B = opt->batch_rows;
    if (B > data->n_total) B = data->n_total;
    if ((size_t)B > m->max_rows) B = (int64_t)m->max_rows;
    work w = {0};
    sgld_status st = sgld_status_agree(comm, work_alloc(m, B, &w));
    for (int k = 0; st == SGLD_OK && k < opt->n_points; k++) st = check_point(comm, m, data, opt, k, B, &w, rep);
    work_free(&w);
    SGLD_TRY(st);
    SGLD_MPI(MPI_Bcast(rep, (int)sizeof *rep, MPI_BYTE, 0, comm));
    for (int r = 0; r < rep->n_rows_table; r++) {
        const double e = rep->row[r].worst;
        if (!(e <= opt->tol)) rep->failed = 1;
        if (r == 0 || !(e <= rep->worst)) rep->worst = e;
    }
    return SGLD_OK;
}

void sgld_model_gradcheck_print(FILE *f, const sgld_gradcheck_report *rep)
{
    fprintf(f, "gradient check of model %s on %s: %d point%s x %lld rows, tolerance %g\n", rep->model, rep->source,
            rep->n_points, rep->n_points == 1 ? "" : "s", (long long)rep->n_rows, rep->tol);
    fprintf(f, "%-8s %-16s %10s %8s %18s  %s\n", "term", "variable", "elements", "checks", "worst rel. error",
            "at");
    for (int r = 0; r < rep->n_rows_table; r++) {
        const sgld_gradcheck_row *row = &rep->row[r];
        fprintf(f, "%-8s %-16s %10zu %8lld %18.3g  %s, point %d\n", row->term, row->var, row->size,
                (long long)row->n_checked, row->worst, row->at, row->point);
    }
    if (!rep->failed) {
        fprintf(f, "passed: every relative error <= %g\n", rep->tol);
        return;
    }
    for (int r = 0; r < rep->n_rows_table; r++) {
        const sgld_gradcheck_row *row = &rep->row[r];
        if (row->worst <= rep->tol) continue;
        fprintf(f, "FAILED: %s gradient of %s: relative error %.3g > %g at %s, point %d (analytic %.9g, central "
                "difference %.9g)\n", row->term, row->var, row->worst, rep->tol, row->at, row->point, row->analytic,
                row->numeric);
    }
}
