/* model.c - the parts every model shares: the task (--task), layout, Gaussian prior,
 * initialization. */
#include "sgld/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Writes "--model a, b, or c --task T" into buf (size > 0): the registered models that do
 * task `want` (1: classification) in registry order, those whose own task it is first, then
 * those that need --task for it. */
static void task_models(int want, char *buf, size_t size)
{
    const sgld_model_type *fit[32];
    size_t n = 0;
    for (int own = 1; own >= 0; own--)
        for (size_t i = 0; i < sgld_model_count() && n < sizeof fit / sizeof fit[0]; i++) {
            const sgld_model_type *t = sgld_model_at(i);
            if ((t->classification == want) == own && (own || t->any_task)) fit[n++] = t;
        }
    size_t used = (size_t)snprintf(buf, size, "--model");
    for (size_t i = 0; i < n && used < size; i++) {
        const char *sep = i == 0 ? "" : n == 2 ? " or" : i + 1 == n ? ", or" : ",";
        const char *task = fit[i]->classification == want ? "" : want ? " --task classification" : " --task regression";
        used += (size_t)snprintf(buf + used, size - used, "%s %s%s", sep, fit[i]->name, task);
    }
}

sgld_status sgld_model_task(const sgld_model_type *t, const sgld_config *cfg, int *classification)
{
    *classification = t->classification;
    if (!cfg->task[0]) return SGLD_OK;
    const int want = strcmp(cfg->task, "classification") == 0;
    SGLD_CHECK(want || strcmp(cfg->task, "regression") == 0, SGLD_ERR_USAGE,
               "--task: must be regression or classification, got '%s'", cfg->task);
    if (want != t->classification && !t->any_task) {
        char others[256];
        task_models(want, others, sizeof others);
        return sgld_error_set(SGLD_ERR_USAGE, "--task %s: model %s is for %s only (%s: %s)", cfg->task,
                              t->name, t->classification ? "classification" : "regression",
                              want ? "class labels" : "a real target", others);
    }
    *classification = want;
    return SGLD_OK;
}

sgld_status sgld_model_init(sgld_model *m, const sgld_model_type *t, int d, int n_classes,
                            const sgld_config *cfg)
{
    return sgld_model_init_rows(m, t, d, n_classes, cfg, (size_t)cfg->batch_size);
}

sgld_status sgld_model_init_rows(sgld_model *m, const sgld_model_type *t, int d, int n_classes,
                                 const sgld_config *cfg, size_t max_rows)
{
    memset(m, 0, sizeof *m);
    m->type = t;
    m->max_rows = max_rows;
    SGLD_TRY(sgld_model_task(t, cfg, &m->classification));
    m->d = d;
    m->n_classes = m->classification ? n_classes : 0;
    m->prior_sd = cfg->prior_sd;
    SGLD_CHECK(d >= 1, SGLD_ERR_ARG, "model %s: the data have no feature columns", t->name);
    SGLD_CHECK(max_rows >= 1, SGLD_ERR_ARG, "model %s: a call of at most %zu rows", t->name, max_rows);
    SGLD_CHECK(!t->n_classes || n_classes == t->n_classes, SGLD_ERR_ARG,
               "model %s needs %d classes, the data have %d", t->name, t->n_classes, n_classes);
    SGLD_CHECK(!m->classification || n_classes >= 2, SGLD_ERR_ARG,
               "model %s needs at least 2 classes, the data have %d", t->name, n_classes);
    sgld_status st = t->setup(m, cfg);
    if (st != SGLD_OK) {
        sgld_error_frame(__FILE__, __LINE__, "t->setup(m, cfg)");
        sgld_model_finalize(m);
    }
    return st;
}

void sgld_model_finalize(sgld_model *m)
{
    if (m && m->type && m->type->destroy && m->impl) m->type->destroy(m);
    if (m) m->impl = NULL;
}

sgld_status sgld_model_add_var(sgld_model *m, const char *name, int n_dims, const int64_t *dims,
                               const char *const *dim_names)
{
    SGLD_CHECK(m->n_vars < SGLD_MODEL_MAX_VARS && n_dims <= SGLD_MODEL_MAX_DIMS, SGLD_ERR_INTERNAL,
               "model %s: too many variables or dimensions", m->type->name);
    sgld_param_var *v = &m->vars[m->n_vars++];
    snprintf(v->name, sizeof v->name, "%s", name);
    v->offset = m->n_params;
    v->size = 1;
    v->n_dims = n_dims;
    v->save = 1;
    for (int k = 0; k < n_dims; k++) {
        v->dims[k] = dims[k];
        v->size *= (size_t)dims[k];
        if (dim_names && dim_names[k])
            snprintf(v->dim_names[k], sizeof v->dim_names[k], "%s", dim_names[k]);
        else
            snprintf(v->dim_names[k], sizeof v->dim_names[k], "%s_dim_%d", name, k);
    }
    m->n_params += v->size;
    return SGLD_OK;
}

sgld_status sgld_model_setup_linear(sgld_model *m, const sgld_config *cfg)
{
    (void)cfg;
    int64_t d = m->d;
    const char *names[] = {"feature"};
    SGLD_TRY(sgld_model_add_var(m, "w", 1, &d, names));
    SGLD_TRY(sgld_model_add_var(m, "b", 0, NULL, NULL));
    return SGLD_OK;
}

/* GCC: AVX-512 and AVX2 clones of the prior's pass over theta (chosen at load time); the
 * baseline x86-64 build would run it in SSE2. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WIDE __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WIDE
#endif

/* One pass over theta: grad[i] = (float)(scale sum[i]) - (float)(prec theta[i]) when sum is
 * given (the gradient's scaling fused with the prior: the bits of the two passes), else
 * grad[i] -= (float)(prec theta[i]) (grad NULL: nothing written).  Returns sum theta[i]^2, added
 * in 16 double lanes by i mod 16 and then the lanes in order: a sum in one chain of adds would
 * cost an add's latency per parameter, this one vectorizes, with the same bits on every path. */
WIDE static double prior_pass(size_t n, const float *theta, double prec, double scale, const float *sum,
                              float *grad)
{
    double lane[16] = {0}, ss = 0.0;
    size_t i = 0;
    if (sum) {
        for (; i + 16 <= n; i += 16)
            for (int k = 0; k < 16; k++) {
                const float t = theta[i + k];
                lane[k] += (double)t * t;
                grad[i + k] = (float)(scale * sum[i + k]) - (float)(prec * t);
            }
        for (size_t k = 0; i + k < n; k++) grad[i + k] = (float)(scale * sum[i + k]) - (float)(prec * theta[i + k]);
    } else if (grad) {
        for (; i + 16 <= n; i += 16)
            for (int k = 0; k < 16; k++) {
                const float t = theta[i + k];
                lane[k] += (double)t * t;
                grad[i + k] -= (float)(prec * t);
            }
        for (size_t k = 0; i + k < n; k++) grad[i + k] -= (float)(prec * theta[i + k]);
    } else {
        for (; i + 16 <= n; i += 16)
            for (int k = 0; k < 16; k++) lane[k] += (double)theta[i + k] * theta[i + k];
    }
    for (size_t k = 0; i + k < n; k++) lane[k] += (double)theta[i + k] * theta[i + k];
    for (int k = 0; k < 16; k++) ss += lane[k];
    return ss;
}

int sgld_model_prior_single(const sgld_model *m, double *prec)
{
    for (int v = 0; v < m->n_vars; v++)
        if (m->vars[v].prior_sd > 0) return 0;
    *prec = 1.0 / (m->prior_sd * m->prior_sd);
    return 1;
}

double sgld_model_log_prior_sumsq(const sgld_model *m, double ss)
{
    const double prec = 1.0 / (m->prior_sd * m->prior_sd);
    return -0.5 * prec * ss - (double)m->n_params * log(m->prior_sd * 2.5066282746310002);
}

/* sgld_model_log_prior and sgld_model_log_prior_scaled (sum NULL: the former). */
static double log_prior(const sgld_model *m, const float *theta, double scale, const float *sum, float *grad)
{
    double prec;
    if (sgld_model_prior_single(m, &prec))
        return sgld_model_log_prior_sumsq(m, prior_pass(m->n_params, theta, prec, scale, sum, grad));
    double lp = 0.0; /* a tensor's own sd (networks: --prior-sd-layers) */
    for (int v = 0; v < m->n_vars; v++) {
        const sgld_param_var *pv = &m->vars[v];
        const double sd = pv->prior_sd > 0 ? pv->prior_sd : m->prior_sd;
        prec = 1.0 / (sd * sd);
        double ss = prior_pass(pv->size, theta + pv->offset, prec, scale, sum ? sum + pv->offset : NULL,
                               grad ? grad + pv->offset : NULL);
        lp -= 0.5 * prec * ss + (double)pv->size * log(sd * 2.5066282746310002);
    }
    return lp;
}

double sgld_model_log_prior(const sgld_model *m, const float *theta, float *grad)
{
    return log_prior(m, theta, 0.0, NULL, grad);
}

double sgld_model_log_prior_scaled(const sgld_model *m, const float *theta, double scale, const float *sum,
                                   float *grad)
{
    return log_prior(m, theta, scale, sum, grad);
}

void sgld_model_init_params(const sgld_model *m, const sgld_rng *r, float *theta)
{
    if (m->type->init_params) {
        m->type->init_params(m, r, theta);
        return;
    }
    sgld_rng_normal_float(r, 0, SGLD_RNG_INIT, 0, m->n_params, theta);
    for (size_t i = 0; i < m->n_params; i++) theta[i] *= 0.1f;
}

int sgld_model_n_outputs(const sgld_model *m)
{
    if (!m->classification) return 2;
    return m->n_classes > 2 ? m->n_classes : 2;
}

void sgld_model_elem_name(const sgld_param_var *v, size_t e, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "%s", v->name);
    if (v->n_dims == 0 || used >= size) return;
    size_t idx[SGLD_MODEL_MAX_DIMS];
    for (int k = v->n_dims - 1; k >= 0; k--) {
        idx[k] = e % (size_t)v->dims[k];
        e /= (size_t)v->dims[k];
    }
    for (int k = 0; k < v->n_dims && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%zu", k ? "," : "[", idx[k]);
    if (used < size) snprintf(buf + used, size - used, "]");
}
