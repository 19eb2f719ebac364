/* logreg.c - Bayesian logistic regression (two classes).
 *
 *   P(y = 1 | x) = sigmoid(z), z = w . x + b;  w_j, b ~ N(0, prior_sd^2)
 *   log p(y | x, theta) = y z - log(1 + e^z)  (computed as y z - softplus(z), stable)
 *   grad_w = (y - sigmoid(z)) x, grad_b = y - sigmoid(z)
 * Layout: w [feature], b (scalar). */
#include <math.h>

#include "sgld/model.h"

static double softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

static double sigmoid(double z)
{
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

static double linear(const float *theta, const float *x, int d)
{
    double z = theta[d];
    for (int j = 0; j < d; j++) z += (double)theta[j] * x[j];
    return z;
}

static double loglik_grad(const sgld_model *m, const float *theta, const sgld_dataset *data,
                          const int64_t *rows, size_t n, float *grad)
{
    const int d = m->d;
    double ll = 0.0, gb = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *x = data->X + rows[i] * d;
        double z = linear(theta, x, d), y = data->y[rows[i]];
        ll += y * z - softplus(z);
        double r = y - sigmoid(z);
        for (int j = 0; j < d; j++) grad[j] += (float)(r * x[j]);
        gb += r;
    }
    grad[d] += (float)gb;
    return ll;
}

static void predict(const sgld_model *m, const float *theta, const float *x, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++) {
        double p = sigmoid(linear(theta, x + i * m->d, m->d));
        out[2 * i] = 1.0 - p;
        out[2 * i + 1] = p;
    }
}

const sgld_model_type sgld_model_logreg = {
    .name = "logreg",
    .description = "Bayesian logistic regression, classes 0/1",
    .classification = 1,
    .n_classes = 2,
    .setup = sgld_model_setup_linear,
    .loglik_grad = loglik_grad,
    .predict = predict,
};
