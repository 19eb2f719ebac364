/* linreg.c - Bayesian linear regression with known Gaussian noise.
 *
 *   y = w . x + b + e,  e ~ N(0, noise_sd^2);  w_j, b ~ N(0, prior_sd^2)
 *   log p(y | x, theta) = -(y - w.x - b)^2 / (2 s^2) - log(s sqrt(2 pi))
 *   grad_w = r x / s^2, grad_b = r / s^2 with r = y - w.x - b
 * The posterior is Gaussian in closed form, which the statistical tests use.
 * Layout: w [feature], b (scalar). */
#include <math.h>
#include <stddef.h>

#include "sgld/model.h"

typedef struct linreg_opts {
    double noise_sd; /* --noise-sd */
} linreg_opts;

static const sgld_option options[] = {
    {"noise-sd", SGLD_OPT_DOUBLE, SGLD_OPTION_FIELD(linreg_opts, noise_sd, double), "0.5", "SD", "",
     {SGLD_RANGE_GT, 0, 0}, 1,
     "known standard deviation of the Gaussian noise, y ~ N(x'w, SD^2) for linreg (mlp: of a "
     "fixed-variance regression network)"},
};

/* The linear layout (w, b) and the known noise sd. */
static sgld_status setup(sgld_model *m, const sgld_config *cfg)
{
    const linreg_opts *o = sgld_config_opts(cfg, m->type);
    SGLD_CHECK(o, SGLD_ERR_INTERNAL, "model linreg: no options in the configuration");
    m->noise_sd = o->noise_sd;
    return sgld_model_setup_linear(m, cfg);
}

static double loglik_grad(const sgld_model *m, const float *theta, const sgld_dataset *data,
                          const int64_t *rows, size_t n, float *grad)
{
    const int d = m->d;
    const double prec = 1.0 / (m->noise_sd * m->noise_sd);
    const double lognorm = log(m->noise_sd * 2.5066282746310002);
    double ll = 0.0, gb = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *x = data->X + rows[i] * d;
        double f = theta[d];
        for (int j = 0; j < d; j++) f += (double)theta[j] * x[j];
        double r = data->y[rows[i]] - f;
        ll -= 0.5 * prec * r * r + lognorm;
        double s = prec * r;
        for (int j = 0; j < d; j++) grad[j] += (float)(s * x[j]);
        gb += s;
    }
    grad[d] += (float)gb;
    return ll;
}

static void predict(const sgld_model *m, const float *theta, const float *x, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++) {
        double f = theta[m->d];
        for (int j = 0; j < m->d; j++) f += (double)theta[j] * x[i * m->d + j];
        out[2 * i] = f;
        out[2 * i + 1] = m->noise_sd * m->noise_sd;
    }
}

const sgld_model_type sgld_model_linreg = {
    .name = "linreg",
    .description = "Bayesian linear regression, known noise (--noise-sd)",
    .classification = 0,
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .options_size = sizeof(linreg_opts),
    .setup = setup,
    .loglik_grad = loglik_grad,
    .predict = predict,
};
