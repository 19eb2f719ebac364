/* softmax.c - Bayesian multinomial logistic (softmax) regression, K classes.
 *
 *   z_k = sum_j x_j W[j, k] + b_k,  p = softmax(z);  W, b ~ N(0, prior_sd^2)
 *   log p(y | x, theta) = z_y - logsumexp(z)
 *   grad W[j, k] = x_j (1[k = y] - p_k), grad b_k = 1[k = y] - p_k
 * Layout: w [feature, class] (row-major), b [class]. */
#include <math.h>

#include "sgld/model.h"

#define MAX_CLASSES 1024

static sgld_status setup(sgld_model *m, const sgld_config *cfg)
{
    (void)cfg;
    SGLD_CHECK(m->n_classes <= MAX_CLASSES, SGLD_ERR_ARG,
               "model softmax: %d classes, at most %d supported", m->n_classes, MAX_CLASSES);
    int64_t dims[2] = {m->d, m->n_classes};
    const char *names[] = {"feature", "class"};
    SGLD_TRY(sgld_model_add_var(m, "w", 2, dims, names));
    SGLD_TRY(sgld_model_add_var(m, "b", 1, dims + 1, names + 1));
    return SGLD_OK;
}

/* Class probabilities of one row into p[K]; returns logsumexp(z). */
static double probs(const sgld_model *m, const float *theta, const float *x, double *p)
{
    const int d = m->d, K = m->n_classes;
    const float *W = theta, *b = theta + (size_t)d * K;
    double zmax = -INFINITY;
    for (int k = 0; k < K; k++) {
        double z = b[k];
        for (int j = 0; j < d; j++) z += (double)x[j] * W[j * K + k];
        p[k] = z;
        if (z > zmax) zmax = z;
    }
    double s = 0.0;
    for (int k = 0; k < K; k++) s += exp(p[k] - zmax);
    double lse = zmax + log(s);
    for (int k = 0; k < K; k++) p[k] = exp(p[k] - lse);
    return lse;
}

static double loglik_grad(const sgld_model *m, const float *theta, const sgld_dataset *data,
                          const int64_t *rows, size_t n, float *grad)
{
    const int d = m->d, K = m->n_classes;
    double p[MAX_CLASSES], ll = 0.0;
    float *gW = grad, *gb = grad + (size_t)d * K;
    for (size_t i = 0; i < n; i++) {
        const float *x = data->X + rows[i] * d;
        int y = (int)data->y[rows[i]];
        double lse = probs(m, theta, x, p);
        double zy = theta[(size_t)d * K + y];
        for (int j = 0; j < d; j++) zy += (double)x[j] * theta[j * K + y];
        ll += zy - lse;
        for (int k = 0; k < K; k++) {
            double r = (k == y) - p[k];
            for (int j = 0; j < d; j++) gW[j * K + k] += (float)(x[j] * r);
            gb[k] += (float)r;
        }
    }
    return ll;
}

static void predict(const sgld_model *m, const float *theta, const float *x, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++) probs(m, theta, x + i * m->d, out + i * m->n_classes);
}

const sgld_model_type sgld_model_softmax = {
    .name = "softmax",
    .description = "Bayesian softmax (multinomial logistic) regression, K classes",
    .classification = 1,
    .setup = setup,
    .loglik_grad = loglik_grad,
    .predict = predict,
};
