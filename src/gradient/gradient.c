/* gradient.c - the estimator registry, the full-data sums and the per-step estimate
 * (include/sgld/gradient.h states the estimators and their contracts).  Adding an estimator:
 * one `const sgld_gradient_type` and one word in ESTIMATORS below. */
#include "sgld/gradient.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sgld/registry.h"

static int64_t svrg_every(int64_t epochs, int64_t steps_per_epoch) { return epochs * steps_per_epoch; }

const sgld_gradient_type sgld_gradient_minibatch = {
    .name = "minibatch",
    .description = "(N / B) times the batch's log-likelihood gradient, plus the prior's",
};

const sgld_gradient_type sgld_gradient_cv = {
    .name = "cv",
    .description = "control variate around the mode found by --init (Baker et al. 2019): the "
                   "full-data gradient there plus (N / B) times the batch's change since",
    .centred = 1,
    .needs_mode = 1,
};

const sgld_gradient_type sgld_gradient_svrg = {
    .name = "svrg",
    .description = "control variate whose centre moves to the chain's point every E epochs, "
                   "the full-data gradient recomputed there (Dubey et al. 2016)",
    .arg = "E: epochs between centres",
    .centred = 1,
    .recentre_every = svrg_every,
};

#define ESTIMATORS(X) X(minibatch) X(cv) X(svrg)
#define ENTRY(name) &sgld_gradient_##name,
static const void *const estimators[] = {ESTIMATORS(ENTRY)};

/* What an estimator registered at run time must be: a description, and recentre_every only
 * for a centred one. */
static sgld_status validate(const sgld_gradient_type *t)
{
    const char *name = t->name ? t->name : "(no name)";
    SGLD_CHECK(t->description, SGLD_ERR_ARG, "registering gradient estimator '%s': no description", name);
    SGLD_CHECK(t->centred || (!t->recentre_every && !t->needs_mode), SGLD_ERR_ARG,
               "registering gradient estimator '%s': recentre_every or needs_mode without a centre", name);
    return SGLD_OK;
}

/* sgld_gradient_find, _names, _count, _at and _register. */
SGLD_REGISTRY_DEFINE(gradient, sgld_gradient_type, estimators, validate)

sgld_status sgld_gradient_parse(const char *spec, const char *where, const sgld_gradient_type **t,
                                int64_t *arg)
{
    char name[64], names[256];
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    SGLD_CHECK(len < sizeof name, SGLD_ERR_USAGE, "%s: unknown gradient estimator '%s'", where, spec);
    memcpy(name, spec, len);
    name[len] = '\0';
    *t = sgld_gradient_find(name);
    *arg = 0;
    if (!*t) {
        sgld_gradient_names(names, sizeof names);
        return sgld_error_set(SGLD_ERR_USAGE, "%s: unknown gradient estimator '%s' (valid: %s)", where, spec,
                              names);
    }
    if (!(*t)->arg) {
        SGLD_CHECK(!colon, SGLD_ERR_USAGE, "%s: estimator %s takes no argument, got '%s'", where, name, spec);
        return SGLD_OK;
    }
    SGLD_CHECK(colon && colon[1], SGLD_ERR_USAGE, "%s: %s needs an argument, %s:%c (%s), got '%s'", where,
               name, name, (*t)->arg[0], (*t)->arg, spec);
    char *end;
    errno = 0;
    long long v = strtoll(colon + 1, &end, 10);
    SGLD_CHECK(*end == '\0' && errno == 0 && v >= 1 && v <= 1000000000, SGLD_ERR_USAGE,
               "%s: %s:%c must be an integer in [1, 1e9] (%s), got '%s'", where, name, (*t)->arg[0],
               (*t)->arg, spec);
    *arg = (int64_t)v;
    return SGLD_OK;
}

sgld_status sgld_init_parse(const char *spec, const char *where, int *kind, int64_t *epochs)
{
    *epochs = 0;
    if (!strcmp(spec, "random") || !strcmp(spec, "map")) {
        *kind = spec[0] == 'r' ? SGLD_INIT_RANDOM : SGLD_INIT_MAP;
        return SGLD_OK;
    }
    char *end;
    errno = 0;
    long long k = strncmp(spec, "sgd:", 4) == 0 && spec[4] ? strtoll(spec + 4, &end, 10) : 0;
    SGLD_CHECK(k >= 1 && k <= 1000000 && errno == 0 && *end == '\0', SGLD_ERR_USAGE,
               "%s: must be random, map or sgd:K (K epochs, an integer in [1, 1e6]), got '%s'", where, spec);
    *kind = SGLD_INIT_SGD;
    *epochs = (int64_t)k;
    return SGLD_OK;
}

void sgld_gradient_local_full(const sgld_model *m, const sgld_dataset *data, const float *theta,
                              double *grad, double *loglik, float *work)
{
    const size_t P = m->n_params;
    size_t block = m->max_rows < SGLD_GRADIENT_BLOCK ? m->max_rows : SGLD_GRADIENT_BLOCK;
    if (block < 1) block = 1;
    int64_t rows[SGLD_GRADIENT_BLOCK];
    memset(grad, 0, P * sizeof *grad);
    *loglik = 0.0;
    for (int64_t first = 0; first < data->n_local; first += (int64_t)block) {
        size_t n = (size_t)(data->n_local - first) < block ? (size_t)(data->n_local - first) : block;
        for (size_t i = 0; i < n; i++) rows[i] = first + (int64_t)i;
        memset(work, 0, P * sizeof *work);
        *loglik += m->type->loglik_grad(m, theta, data, rows, n, work);
        for (size_t j = 0; j < P; j++) grad[j] += work[j];
    }
}

sgld_status sgld_gradient_full(MPI_Comm chain_comm, const sgld_model *m, const sgld_dataset *data,
                               const float *theta, double *grad, double *loglik)
{
    const size_t P = m->n_params;
    double *buf = sgld_malloc((P + 1) * sizeof *buf);
    float *work = sgld_malloc(P * sizeof *work);
    sgld_status st = SGLD_OK;
    if (!buf || !work) {
        st = sgld_error_set(SGLD_ERR_NOMEM, "out of memory for a full-data gradient of %zu parameters", P);
    } else {
        sgld_gradient_local_full(m, data, theta, buf, &buf[P], work);
        int size;
        MPI_Comm_size(chain_comm, &size);
        if (size > 1 && MPI_Allreduce(MPI_IN_PLACE, buf, (int)(P + 1), MPI_DOUBLE, MPI_SUM, chain_comm) != MPI_SUCCESS)
            st = sgld_error_set(SGLD_ERR_MPI, "MPI_Allreduce of a full-data gradient (%zu doubles) failed", P + 1);
        memcpy(grad, buf, P * sizeof *grad);
        *loglik = buf[P];
    }
    sgld_free(buf);
    sgld_free(work);
    return st;
}

sgld_status sgld_gradient_recentre(MPI_Comm chain_comm, const sgld_model *m, const sgld_dataset *data,
                                   const float *theta, float *state)
{
    const size_t P = m->n_params;
    double *g = sgld_malloc(P * sizeof *g), L = 0.0;
    SGLD_CHECK(g, SGLD_ERR_NOMEM, "out of memory for a full-data gradient of %zu parameters", P);
    sgld_status st = sgld_gradient_full(chain_comm, m, data, theta, g, &L);
    if (st == SGLD_OK) {
        memmove(state, theta, P * sizeof(float));
        for (size_t j = 0; j < P; j++) state[P + j] = (float)g[j];
        float hi = (float)L;
        state[2 * P] = hi;
        state[2 * P + 1] = (float)(L - (double)hi);
    }
    sgld_free(g);
    return st;
}

double sgld_gradient_at_centre(const sgld_gradient_type *t, const sgld_model *m, const sgld_dataset *data,
                               const int64_t *rows, size_t n, const float *state, float *centre_sum)
{
    if (!t->centred) return 0.0;
    memset(centre_sum, 0, m->n_params * sizeof *centre_sum);
    return m->type->loglik_grad(m, state, data, rows, n, centre_sum);
}

double sgld_gradient_local(const sgld_gradient_type *t, const sgld_model *m, const sgld_dataset *data,
                           const int64_t *rows, size_t n, const float *theta, const float *centre_sum,
                           double centre_ll, float *acc)
{
    const double at_theta = m->type->loglik_grad(m, theta, data, rows, n, acc);
    if (!t->centred) return at_theta;
    for (size_t j = 0; j < m->n_params; j++) acc[j] -= centre_sum[j];
    return at_theta - centre_ll;
}

void sgld_gradient_combine(const sgld_gradient_type *t, const sgld_model *m, const float *state,
                           double scale, const float *theta, const float *sum, double sum_ll,
                           float *grad, double *lp)
{
    const size_t P = m->n_params;
    if (t->centred) {
        const float *G = state + P;
        for (size_t j = 0; j < P; j++) grad[j] = (float)(scale * sum[j] + G[j]);
        const double L = (double)state[2 * P] + (double)state[2 * P + 1];
        *lp = scale * sum_ll + L + sgld_model_log_prior(m, theta, grad);
        return;
    }
    *lp = scale * sum_ll + sgld_model_log_prior_scaled(m, theta, scale, sum, grad); /* one pass */
}
