/* poisson.c - Bayesian Poisson regression with a log link, as a plug-in model: a file to copy
 * when writing your own (README.md, "Your own model").
 *
 *   y_i ~ Poisson(mu_i),  mu_i = exp(eta_i),  eta_i = x_i . w + b;  w_j, b ~ N(0, prior_sd^2)
 *   log p(y | x, theta) = y eta - mu - log(y!)
 *   d/d eta = y - mu,  so grad_w = (y - mu) x, grad_b = y - mu
 * Layout: w [feature], b (scalar), as the linear models (sgld_model_setup_linear); the prior is
 * the project's common one, applied by the run (sgld_model_log_prior), not here.
 *
 * exp with care: a user's large step can put eta anywhere, so above ETA_MAX the mean continues
 * along the tangent of exp (mu = e^M (1 + eta - M), M = ETA_MAX): value and slope are
 * continuous, the log-likelihood stays concave, the gradient finite (at most e^M |x| per row),
 * and no exp overflows to inf or NaN.  e^30 = 1.1e13 is far above any count a float target
 * holds exactly (2^24 = 1.7e7).  Below, exp(eta) may underflow to 0, which is harmless.
 *
 * Data: CSV or HDF5 (the data module reads both) whose target (last CSV column, /y) holds
 * counts: check_data refuses a negative, fractional or non-finite target with the file, the
 * row (CSV line or HDF5 /y index) and the value.  predict gives the Poisson mean and variance
 * (both mu); loglik_rows the Poisson log density, which sgld-ess predict and the run's test
 * metrics use for the test log-likelihood.
 *
 * Build as a shared object (tools/examples/meson.build) and load it with
 *   sgld-dist --plugin build/tools/examples/poisson.so --model poisson --data counts.csv ... */
#include <math.h>

#include "sgld/model.h"
#include "sgld/plugin.h"

#define ETA_MAX 30.0

SGLD_PLUGIN_ABI;

/* The mean and d mean / d eta at eta (exp below ETA_MAX, its tangent above). */
static double mean_of(double eta, double *slope)
{
    if (eta <= ETA_MAX) {
        const double mu = exp(eta);
        *slope = mu;
        return mu;
    }
    const double top = exp(ETA_MAX);
    *slope = top;
    return top * (1.0 + (eta - ETA_MAX));
}

static double linear(const float *theta, const float *x, int d)
{
    double eta = theta[d];
    for (int j = 0; j < d; j++) eta += (double)theta[j] * x[j];
    return eta;
}

/* log p(y | eta): y log mu - mu - log y!, with log mu = eta below ETA_MAX (log y! = 0 for the
 * commonest counts, 0 and 1, without calling lgamma). */
static double log_density(double y, double eta)
{
    double slope;
    const double mu = mean_of(eta, &slope);
    const double log_mu = eta <= ETA_MAX ? eta : log(mu);
    return (y > 0 ? y * log_mu : 0.0) - mu - (y > 1 ? lgamma(y + 1.0) : 0.0);
}

static double loglik_grad(const sgld_model *m, const float *theta, const sgld_dataset *data,
                          const int64_t *rows, size_t n, float *grad)
{
    const int d = m->d;
    double ll = 0.0, gb = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *x = data->X + rows[i] * d;
        const double y = data->y[rows[i]], eta = linear(theta, x, d);
        double slope;
        const double mu = mean_of(eta, &slope);
        ll += log_density(y, eta);
        /* d/d eta of y log mu(eta) - mu(eta): y - mu below ETA_MAX, y / (1 + eta - M) - e^M above */
        const double r = eta <= ETA_MAX ? y - mu : y * slope / mu - slope;
        for (int j = 0; j < d; j++) grad[j] += (float)(r * x[j]);
        gb += r;
    }
    grad[d] += (float)gb;
    return ll;
}

static void predict(const sgld_model *m, const float *theta, const float *x, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++) {
        double slope;
        const double mu = mean_of(linear(theta, x + i * m->d, m->d), &slope);
        out[2 * i] = mu;
        out[2 * i + 1] = mu > 1e-300 ? mu : 1e-300; /* a variance > 0 even where exp underflows */
    }
}

static void loglik_rows(const sgld_model *m, const float *theta, const float *x, const float *y, size_t n,
                        double *out)
{
    for (size_t i = 0; i < n; i++) out[i] = log_density(y[i], linear(theta, x + i * m->d, m->d));
}

/* Counts only: the first target of this rank's rows that is not a non-negative whole number. */
static sgld_status check_data(const sgld_model *m, const sgld_dataset *data)
{
    (void)m;
    for (int64_t i = 0; i < data->n_local; i++) {
        const double y = data->y[i];
        if (isfinite(y) && y >= 0 && y == floor(y)) continue;
        char where[512];
        return sgld_error_set(SGLD_ERR_USAGE, "%s: target '%s' = %.9g: the poisson model needs counts "
                              "(non-negative whole numbers)", sgld_data_row_where(data, i, where, sizeof where),
                              data->target_name ? data->target_name : "y", y);
    }
    return SGLD_OK;
}

static const sgld_model_type poisson = {
    .name = "poisson",
    .description = "Bayesian Poisson regression, log link, counts as targets (plug-in example)",
    .classification = 0,
    .setup = sgld_model_setup_linear,
    .loglik_grad = loglik_grad,
    .predict = predict,
    .loglik_rows = loglik_rows,
    .check_data = check_data,
};

sgld_status sgld_plugin_init(void)
{
    return sgld_model_register(&poisson);
}
